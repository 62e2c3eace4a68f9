/*
 * auth.c: CURVE on ingress. libzmq does the cryptography; what is ours is
 * the policy: which endpoints ask for CURVE, which client keys may finish
 * the handshake (the ZAP handler, RFC 27, served from the libevent loop
 * like ingress: ZMQ_FD is edge-triggered, so ZMQ_EVENTS is read until
 * ZMQ_POLLIN is gone), and what each key may publish. The handler answers
 * a known key with its Z85 public key as the user id, which libzmq then
 * attaches to every frame the client sends as "User-Id"; accept.c looks
 * the key up again for each notice, so that a reload that narrows or
 * removes a key applies to connections already open.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "auth.h"
#include "config.h"
#include "deadline.h"
#include "envelope.h"
#include "log.h"
#include "notice.h"
#include "reload.h"
#include "zmqio.h"

/* libzmq asks the handler bound here (RFC 27). */
#define AUTH_ZAP_ENDPOINT	"inproc://zeromq.zap.01"
/* Frames of a ZAP request: version ... credentials (one for CURVE). */
#define AUTH_ZAP_FRAMES		7
/* Requests answered per callback before yielding to the loop. */
#define AUTH_ZAP_BATCH		64
/* Refused handshakes logged per window; the rest are counted. */
#define AUTH_LOG_MAX		10
#define AUTH_LOG_WINDOW_MS	10000

/* What the handler makes of one request. */
struct auth_verdict {
	const char	*code;		/* "200", "400", "500" */
	const char	*text;
	char		 user[AUTH_KEY_Z85 + 1];
	char		 address[64];
	const struct auth_key *key;
};

static struct {
	void			*zap;
	struct event		*ev;
	uint8_t			 secret[AUTH_KEY_BYTES];
	char			 public[AUTH_KEY_Z85 + 1];
	int			 have_key;
	int64_t			 log_since;
	unsigned		 logged;
	uint64_t		 unlogged;
	struct auth_stats	 stats;
} auth;

static int	auth_zap_open(void *, char *, size_t);
static void	auth_zap_cb(evutil_socket_t, short, void *);
static void	auth_zap_one(void);
static void	auth_zap_decide(zmq_msg_t *, int, struct auth_verdict *);
static int	auth_frame_is(zmq_msg_t *, const char *);
static void	auth_zap_reply(zmq_msg_t *, int,
		    const struct auth_verdict *);
static void	auth_log_refusal(const struct auth_verdict *);
static void	auth_globs(const struct glob_list *, char *, size_t);

int
auth_key_check(const char *s, char *err, size_t errlen)
{
	uint8_t bin[AUTH_KEY_BYTES];
	size_t len = strlen(s);

	if (len != AUTH_KEY_Z85) {
		snprintf(err, errlen, "'%.48s%s' is not a CURVE key (expected "
		    "%d characters of Z85, as sbctl keygen writes; found %zu)",
		    s, len > 48 ? "..." : "", AUTH_KEY_Z85, len);
		return (-1);
	}
	if (zmq_z85_decode(bin, s) == NULL) {
		snprintf(err, errlen, "'%s' is not a CURVE key: not the "
		    "Z85 of 32 bytes (a character outside Z85's 0-9 a-z A-Z "
		    ".-:+=^!/*?&<>()[]{}@%%$#, or a group of five too large)",
		    s);
		return (-1);
	}
	return (0);
}

/* A line of a key file, without its blanks; NULL-terminated into buf. */
int
auth_key_parse(const char *buf, size_t len, uint8_t out[AUTH_KEY_BYTES],
    char *err, size_t errlen)
{
	char line[AUTH_KEY_Z85 + 1];
	const char *p = buf, *end = buf + len, *eol, *s, *e;
	int lineno = 0, found = 0;

	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "holds a NUL byte: not a key file");
		return (-1);
	}
	for (; p < end; p = eol + 1) {
		lineno++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		for (s = p; s < eol && strchr(" \t\r", *s) != NULL; s++)
			;
		for (e = eol; e > s && strchr(" \t\r", e[-1]) != NULL; e--)
			;
		/* '#' is Z85 too, but a key never begins with it (84 * 85^4
		 * is past 2^32): a line that does is a comment. */
		if (s == e || *s == '#')
			continue;
		if (found) {
			snprintf(err, errlen, "line %d: a second key (a key "
			    "file holds one)", lineno);
			return (-1);
		}
		/* Never quote the line: it may be a secret. */
		if ((size_t)(e - s) != AUTH_KEY_Z85) {
			snprintf(err, errlen, "line %d: expected a CURVE key "
			    "(%d characters of Z85, as sbctl keygen writes), "
			    "found %zu characters", lineno, AUTH_KEY_Z85,
			    (size_t)(e - s));
			return (-1);
		}
		memcpy(line, s, AUTH_KEY_Z85);
		line[AUTH_KEY_Z85] = '\0';
		if (zmq_z85_decode(out, line) == NULL) {
			explicit_bzero(line, sizeof(line));
			snprintf(err, errlen, "line %d: not a Z85 key (a "
			    "character outside Z85's alphabet, or a group of "
			    "five too large)", lineno);
			return (-1);
		}
		explicit_bzero(line, sizeof(line));
		found = 1;
	}
	if (!found) {
		snprintf(err, errlen, "no key in it (expected a line of %d "
		    "Z85 characters, as sbctl keygen writes)", AUTH_KEY_Z85);
		return (-1);
	}
	return (0);
}

int
auth_key_file_read(const char *path, uint8_t out[AUTH_KEY_BYTES], char *err,
    size_t errlen)
{
	char buf[AUTH_KEY_FILE_MAX + 1], why[160];
	struct stat sb;
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return (-1);
	}
	if (sb.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen, "%s: a secret key open to every user "
		    "(mode %04o); chmod 600 it (or 640 with a group of the "
		    "daemon's)", path, (unsigned)(sb.st_mode & 07777));
		close(fd);
		return (-1);
	}
	while (len < sizeof(buf) && (n = read(fd, buf + len,
	    sizeof(buf) - len)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			explicit_bzero(buf, sizeof(buf));
			return (-1);
		}
		len += (size_t)n;
	}
	close(fd);
	if (len > AUTH_KEY_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes: not a key "
		    "file", path, AUTH_KEY_FILE_MAX);
		explicit_bzero(buf, sizeof(buf));
		return (-1);
	}
	rc = auth_key_parse(buf, len, out, why, sizeof(why));
	explicit_bzero(buf, sizeof(buf));
	if (rc == -1)
		snprintf(err, errlen, "%s: %s", path, why);
	return (rc);
}

/* The host of tcp://HOST:PORT is a loopback address (or "localhost"). */
int
auth_endpoint_loopback(const char *endpoint)
{
	char host[256];
	const char *h, *colon;
	struct in6_addr a6;
	struct in_addr a4;
	size_t n;

	if (strncmp(endpoint, "tcp://", 6) != 0)
		return (0);
	h = endpoint + 6;
	if ((colon = strrchr(h, ':')) == NULL)
		return (0);
	n = (size_t)(colon - h);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return (0);
	memcpy(host, h, n);
	host[n] = '\0';
	if (strcmp(host, "localhost") == 0)
		return (1);
	if (inet_pton(AF_INET, host, &a4) == 1)
		return ((ntohl(a4.s_addr) >> 24) == 127);
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return (IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127));
	return (0);
}

int
auth_endpoint_curve(const struct config *cf, const char *endpoint)
{
	if (cf->curve_secret_key_file == NULL ||
	    strncmp(endpoint, "tcp://", 6) != 0)
		return (0);
	return (!(cf->plain_loopback && auth_endpoint_loopback(endpoint)));
}

const struct auth_key *
auth_key_find(const struct config *cf, const char *z85)
{
	size_t i;

	for (i = 0; i < cf->nauth_keys; i++)
		if (strcmp(cf->auth_keys[i].key, z85) == 0)
			return (&cf->auth_keys[i]);
	return (NULL);
}

/* "a, b, c" for a message, cut with "..." when it does not fit. */
static void
auth_globs(const struct glob_list *l, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if ((i > 0 && strlcat(buf, ", ", len) >= len) ||
		    strlcat(buf, l->globs[i].pattern, len) >= len) {
			if (len > 4)
				strlcpy(buf + len - 4, "...", 4);
			return;
		}
	}
}

int
auth_permits(const struct auth_key *k, const struct notice *n,
    struct envelope_error *err)
{
	const char *name = k->name;
	char may[96];
	size_t i;

	if (n->source == NULL || !glob_list_match(&k->sources, n->source)) {
		auth_globs(&k->sources, may, sizeof(may));
		if (n->anonymous || n->source == NULL)
			envelope_error_set(err, SB_ERR_UNAUTHORIZED, "source",
			    "key '%.64s' may publish as source %s only; this "
			    "anonymous notice's source is not one of them",
			    name, may);
		else
			envelope_error_set(err, SB_ERR_UNAUTHORIZED, "source",
			    "key '%.64s' may publish as source %s only; '%s' "
			    "is not one of them", name, may, n->source);
		return (-1);
	}
	for (i = 0; i < n->naudience; i++) {
		if (glob_list_match(&k->audiences, n->audience[i]))
			continue;
		auth_globs(&k->audiences, may, sizeof(may));
		envelope_error_set(err, SB_ERR_UNAUTHORIZED, "audience",
		    "key '%.64s' may reach audiences %s only; audience[%zu] "
		    "'%.64s' is not one of them", name, may, i,
		    n->audience[i]);
		return (-1);
	}
	return (0);
}

int
auth_check(const struct config *cf, const zmq_msg_t *payload,
    const struct notice *n, struct envelope_error *err)
{
	const struct auth_key *k;
	const char *user;

	/* No User-Id: the message came over a plain endpoint. */
	if ((user = zmq_msg_gets(payload, "User-Id")) == NULL)
		return (0);
	if ((k = auth_key_find(cf, user)) == NULL) {
		envelope_error_set(err, SB_ERR_UNAUTHORIZED, NULL, "key "
		    "%.8s... is no longer in ingress.authorized_keys (the "
		    "config was reloaded): it may publish nothing", user);
		auth.stats.notices_refused++;
		return (-1);
	}
	if (auth_permits(k, n, err) == -1) {
		auth.stats.notices_refused++;
		return (-1);
	}
	return (0);
}

const struct auth_stats *
auth_stats(void)
{
	return (&auth.stats);
}

int
auth_init(struct event_base *base, void *zctx, const struct config *cf,
    char *err, size_t errlen)
{
	char secret[AUTH_KEY_Z85 + 1];
	int fd;
	size_t fdlen = sizeof(fd);

	if (cf->curve_secret_key_file == NULL)
		return (0);
	if (!zmq_has("curve")) {
		snprintf(err, errlen, "ingress.curve_secret_key_file is set "
		    "but this libzmq was built without CURVE");
		return (-1);
	}
	if (auth_key_file_read(cf->curve_secret_key_file, auth.secret, err,
	    errlen) == -1)
		return (-1);
	zmq_z85_encode(secret, auth.secret, AUTH_KEY_BYTES);
	if (zmq_curve_public(auth.public, secret) == -1) {
		explicit_bzero(secret, sizeof(secret));
		snprintf(err, errlen, "%s: cannot derive the public key: %s",
		    cf->curve_secret_key_file, zmq_strerror(errno));
		return (-1);
	}
	explicit_bzero(secret, sizeof(secret));
	auth.have_key = 1;
	if (auth_zap_open(zctx, err, errlen) == -1)
		return (-1);
	if (zmq_getsockopt(auth.zap, ZMQ_FD, &fd, &fdlen) == -1 ||
	    (auth.ev = event_new(base, fd, EV_READ | EV_PERSIST, auth_zap_cb,
	    NULL)) == NULL || event_add(auth.ev, NULL) == -1) {
		snprintf(err, errlen, "ZAP handler: cannot watch it: %s",
		    zmq_strerror(errno));
		auth_shutdown();
		return (-1);
	}
	event_active(auth.ev, EV_READ, 0);
	log_info("curve public_key=%s authorized_keys=%zu", auth.public,
	    cf->nauth_keys);
	return (0);
}

static int
auth_zap_open(void *zctx, char *err, size_t errlen)
{
	int linger = 0;

	if ((auth.zap = zmq_socket(zctx, ZMQ_REP)) == NULL) {
		snprintf(err, errlen, "ZAP handler: zmq_socket: %s",
		    zmq_strerror(errno));
		return (-1);
	}
	zmq_setsockopt(auth.zap, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmqio_bind(auth.zap, AUTH_ZAP_ENDPOINT) == -1) {
		snprintf(err, errlen, "ZAP handler: cannot bind %s: %s",
		    AUTH_ZAP_ENDPOINT, zmq_strerror(errno));
		zmq_close(auth.zap);
		auth.zap = NULL;
		return (-1);
	}
	return (0);
}

void
auth_shutdown(void)
{
	if (auth.ev != NULL)
		event_free(auth.ev);
	if (auth.zap != NULL)
		zmq_close(auth.zap);
	auth.ev = NULL;
	auth.zap = NULL;
	explicit_bzero(auth.secret, sizeof(auth.secret));
	auth.have_key = 0;
}

int
auth_socket_prepare(void *zsock, const struct config *cf, const char *kind,
    const char *endpoint, char *err, size_t errlen)
{
	int on = 1, off = 0;

	if (auth_endpoint_curve(cf, endpoint)) {
		if (!auth.have_key) {
			snprintf(err, errlen, "ingress.%s %s: CURVE without a "
			    "server key (auth_init was not run)", kind,
			    endpoint);
			return (-1);
		}
		if (zmq_setsockopt(zsock, ZMQ_CURVE_SECRETKEY, auth.secret,
		    AUTH_KEY_BYTES) == -1 || zmq_setsockopt(zsock,
		    ZMQ_CURVE_SERVER, &on, sizeof(on)) == -1) {
			snprintf(err, errlen, "ingress.%s %s: cannot set up "
			    "CURVE: %s", kind, endpoint, zmq_strerror(errno));
			return (-1);
		}
		log_info("ingress security=curve kind=%s endpoint=%s", kind,
		    endpoint);
		return (0);
	}
	/* The mechanism is taken at bind: the last CURVE one must not stay. */
	if (cf->curve_secret_key_file != NULL && zmq_setsockopt(zsock,
	    ZMQ_CURVE_SERVER, &off, sizeof(off)) == -1) {
		snprintf(err, errlen, "ingress.%s %s: cannot turn CURVE off: "
		    "%s", kind, endpoint, zmq_strerror(errno));
		return (-1);
	}
	if (strncmp(endpoint, "tcp://", 6) == 0 &&
	    !auth_endpoint_loopback(endpoint))
		log_warnx("ingress.%s %s: plain tcp on an address that is not "
		    "loopback: anyone who reaches it may publish as any "
		    "source; set ingress.curve_secret_key_file and "
		    "ingress.authorized_keys (docs/security.md)", kind,
		    endpoint);
	return (0);
}

/* Answer every request waiting, up to a batch. */
static void
auth_zap_cb(evutil_socket_t fd, short what, void *arg)
{
	int n;

	(void)fd;
	(void)what;
	(void)arg;
	for (n = 0; ; n++) {
		if (!(zmqio_events(auth.zap) & ZMQ_POLLIN))
			return;
		if (n == AUTH_ZAP_BATCH) {
			event_active(auth.ev, EV_READ, 0);
			return;
		}
		auth_zap_one();
	}
}

/* Read one request whole, answer it. */
static void
auth_zap_one(void)
{
	zmq_msg_t f[AUTH_ZAP_FRAMES], part;
	struct auth_verdict v;
	int i, n = 0, more;

	for (;;) {
		zmq_msg_init(&part);
		if (zmqio_recv(auth.zap, &part) == -1) {
			zmq_msg_close(&part);
			break;
		}
		more = zmq_msg_more(&part);
		if (n < AUTH_ZAP_FRAMES) {
			zmq_msg_init(&f[n]);
			zmq_msg_move(&f[n++], &part);
		} else
			n = AUTH_ZAP_FRAMES + 1;	/* too many: refused */
		zmq_msg_close(&part);
		if (!more)
			break;
	}
	if (n == 0)
		return;
	i = n > AUTH_ZAP_FRAMES ? AUTH_ZAP_FRAMES : n;
	auth_zap_decide(f, n, &v);
	auth_zap_reply(f, i, &v);
	if (v.key != NULL) {
		auth.stats.handshakes_allowed++;
		log_info("curve client allowed key=%s name=%s address=%s",
		    v.user, v.key->name, v.address);
	} else {
		auth.stats.handshakes_refused++;
		auth_log_refusal(&v);
	}
	while (i-- > 0)
		zmq_msg_close(&f[i]);
}

static int
auth_frame_is(zmq_msg_t *m, const char *s)
{
	size_t len = strlen(s);

	return (zmq_msg_size(m) == len && memcmp(zmq_msg_data(m), s, len) ==
	    0);
}

/*
 * version, request id, domain, address, routing id, mechanism, and for
 * CURVE one credential: the client's 32-byte public key.
 */
static void
auth_zap_decide(zmq_msg_t *f, int n, struct auth_verdict *v)
{
	const struct config *cf = reload_current;
	size_t alen;

	memset(v, 0, sizeof(*v));
	v->code = "400";
	strlcpy(v->address, "?", sizeof(v->address));
	if (n != AUTH_ZAP_FRAMES || !auth_frame_is(&f[0], "1.0")) {
		v->code = "500";
		v->text = "malformed ZAP request";
		return;
	}
	alen = zmq_msg_size(&f[3]);
	if (alen >= sizeof(v->address))
		alen = sizeof(v->address) - 1;
	memcpy(v->address, zmq_msg_data(&f[3]), alen);
	v->address[alen] = '\0';
	if (!auth_frame_is(&f[5], "CURVE") ||
	    zmq_msg_size(&f[6]) != AUTH_KEY_BYTES) {
		v->text = "only CURVE clients are authenticated here";
		return;
	}
	zmq_z85_encode(v->user, zmq_msg_data(&f[6]), AUTH_KEY_BYTES);
	if (cf == NULL || (v->key = auth_key_find(cf, v->user)) == NULL) {
		v->text = "key not in ingress.authorized_keys";
		return;
	}
	v->code = "200";
	v->text = "OK";
}

/* The six frames of a ZAP reply; the user id is the key, in Z85. */
static void
auth_zap_reply(zmq_msg_t *f, int n, const struct auth_verdict *v)
{
	const char *user = v->key != NULL ? v->user : "";

	if (zmqio_send(auth.zap, "1.0", 3, 1) == -1 ||
	    zmqio_send(auth.zap, n > 1 ? zmq_msg_data(&f[1]) : "",
	    n > 1 ? zmq_msg_size(&f[1]) : 0, 1) == -1 ||
	    zmqio_send(auth.zap, v->code, strlen(v->code), 1) == -1 ||
	    zmqio_send(auth.zap, v->text, strlen(v->text), 1) == -1 ||
	    zmqio_send(auth.zap, user, strlen(user), 1) == -1 ||
	    zmqio_send(auth.zap, "", 0, 0) == -1)
		log_warnx("ZAP handler: reply not sent: %s",
		    zmq_strerror(errno));
}

/*
 * A stranger retries every 100 ms: log the first few refusals of a
 * window and count the rest, so that nobody can fill the journal.
 */
static void
auth_log_refusal(const struct auth_verdict *v)
{
	int64_t now = deadline_monotonic_ms();

	if (now - auth.log_since >= AUTH_LOG_WINDOW_MS) {
		if (auth.unlogged > 0)
			log_info("curve clients refused, not logged: %llu",
			    (unsigned long long)auth.unlogged);
		auth.log_since = now;
		auth.logged = 0;
		auth.unlogged = 0;
	}
	if (auth.logged >= AUTH_LOG_MAX) {
		auth.unlogged++;
		return;
	}
	auth.logged++;
	log_info("curve client refused key=%s address=%s reason=\"%s\"",
	    v->user[0] != '\0' ? v->user : "-", v->address, v->text);
}
