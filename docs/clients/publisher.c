/*
 * publisher.c: publish one notice to switchboardd from C, with libzmq and
 * yajl, the reliable way: a DEALER socket, a reply awaited for a bounded
 * time, and on silence the same notice sent again on a new socket. The
 * notice carries an id made once, before the first try, so a resend after
 * a lost reply is answered "duplicate" and never delivered twice.
 *
 *	cc -o publisher publisher.c $(pkg-config --cflags --libs libzmq yajl)
 *	./publisher -e tcp://127.0.0.1:7450 -p high monitoring dept:ops \
 *	    "Database failover in progress"
 *
 * Exit 0 when the daemon accepted the notice, 1 when it refused it (the
 * reply's message says why), 2 on a usage error or when nobody answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>
#include <zmq.h>

#define PUB_ENDPOINT	"tcp://127.0.0.1:7450"
#define PUB_TIMEOUT_MS	5000
#define PUB_TRIES	3

struct notice {
	char		 id[64];
	const char	*source;
	const char	*audience;	/* "dept:ops,role:oncall" */
	const char	*subject;
	const char	*body;		/* NULL: none */
	const char	*priority;	/* NULL: the daemon's default */
};

static void	usage(void) __attribute__((noreturn));
static char	*notice_json(const struct notice *, size_t *);
static int	gen_str(yajl_gen, const char *, const char *);
static int	publish(void *, const char *, const char *, size_t, long,
		    int);
static int	exchange(void *, const char *, const char *, size_t, long,
		    char *, size_t);
static int	judge(const char *);

int
main(int argc, char *argv[])
{
	struct notice n = { .priority = NULL };
	const char *endpoint = PUB_ENDPOINT;
	long timeout_ms = PUB_TIMEOUT_MS;
	int ch, tries = PUB_TRIES, rc;
	struct timespec now;
	size_t len;
	char *json;
	void *ctx;

	while ((ch = getopt(argc, argv, "e:p:t:r:")) != -1) {
		switch (ch) {
		case 'e':
			endpoint = optarg;
			break;
		case 'p':
			n.priority = optarg;
			break;
		case 't':
			timeout_ms = strtol(optarg, NULL, 10);
			break;
		case 'r':
			tries = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 3 || argc > 4 || timeout_ms <= 0 || tries < 1)
		usage();
	n.source = argv[0];
	n.audience = argv[1];
	n.subject = argv[2];
	n.body = argc == 4 ? argv[3] : NULL;
	/* Made once: every try sends the same id. */
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(n.id, sizeof(n.id), "%.40s-%lld%09ld-%ld", n.source,
	    (long long)now.tv_sec, now.tv_nsec, (long)getpid());
	if ((json = notice_json(&n, &len)) == NULL) {
		fprintf(stderr, "publisher: cannot build the notice\n");
		return (2);
	}
	if ((ctx = zmq_ctx_new()) == NULL) {
		fprintf(stderr, "publisher: zmq_ctx_new: %s\n",
		    zmq_strerror(errno));
		return (2);
	}
	rc = publish(ctx, endpoint, json, len, timeout_ms, tries);
	zmq_ctx_term(ctx);
	free(json);
	return (rc);
}

static void
usage(void)
{
	fprintf(stderr, "usage: publisher [-e endpoint] [-p priority] "
	    "[-t timeout_ms] [-r tries]\n"
	    "                 source audience[,audience...] subject "
	    "[body]\n");
	exit(2);
}

/* The notice as JSON: yajl escapes whatever the strings hold. */
static char *
notice_json(const struct notice *n, size_t *len)
{
	const unsigned char *buf;
	const char *a, *comma;
	char *out = NULL;
	yajl_gen g;
	size_t blen;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (NULL);
	if (yajl_gen_map_open(g) != yajl_gen_status_ok ||
	    yajl_gen_string(g, (const unsigned char *)"v", 1) !=
	    yajl_gen_status_ok || yajl_gen_integer(g, 1) !=
	    yajl_gen_status_ok || gen_str(g, "id", n->id) == -1 ||
	    gen_str(g, "source", n->source) == -1 ||
	    yajl_gen_string(g, (const unsigned char *)"audience", 8) !=
	    yajl_gen_status_ok || yajl_gen_array_open(g) != yajl_gen_status_ok)
		goto done;
	for (a = n->audience; a != NULL; a = comma != NULL ? comma + 1 :
	    NULL) {
		comma = strchr(a, ',');
		blen = comma != NULL ? (size_t)(comma - a) : strlen(a);
		if (yajl_gen_string(g, (const unsigned char *)a, blen) !=
		    yajl_gen_status_ok)
			goto done;
	}
	if (yajl_gen_array_close(g) != yajl_gen_status_ok ||
	    gen_str(g, "subject", n->subject) == -1 ||
	    (n->body != NULL && gen_str(g, "body", n->body) == -1) ||
	    (n->priority != NULL && gen_str(g, "priority", n->priority) ==
	    -1) || yajl_gen_map_close(g) != yajl_gen_status_ok ||
	    yajl_gen_get_buf(g, &buf, &blen) != yajl_gen_status_ok)
		goto done;
	if ((out = malloc(blen + 1)) != NULL) {
		memcpy(out, buf, blen);
		out[blen] = '\0';
		*len = blen;
	}
done:
	yajl_gen_free(g);
	return (out);
}

static int
gen_str(yajl_gen g, const char *key, const char *value)
{
	if (yajl_gen_string(g, (const unsigned char *)key, strlen(key)) !=
	    yajl_gen_status_ok || yajl_gen_string(g,
	    (const unsigned char *)value, strlen(value)) != yajl_gen_status_ok)
		return (-1);
	return (0);
}

/*
 * Send and wait; on silence, close the socket (dropping what it queued)
 * and try again on a new one. Returns the exit code.
 */
static int
publish(void *ctx, const char *endpoint, const char *json, size_t len,
    long timeout_ms, int tries)
{
	char reply[65536];
	int try, rc;

	for (try = 1; try <= tries; try++) {
		rc = exchange(ctx, endpoint, json, len, timeout_ms, reply,
		    sizeof(reply));
		if (rc == 0) {
			printf("%s\n", reply);
			return (judge(reply));
		}
		if (rc == -1)
			return (2);
		fprintf(stderr, "publisher: no reply from %s within %ld ms "
		    "(try %d of %d)\n", endpoint, timeout_ms, try, tries);
	}
	return (2);
}

/* One try: 0 with the reply, 1 on silence, -1 on an error. */
static int
exchange(void *ctx, const char *endpoint, const char *json, size_t len,
    long timeout_ms, char *reply, size_t size)
{
	zmq_pollitem_t item = { .events = ZMQ_POLLIN };
	int linger = 0, n, rc = -1;
	void *s;

	if ((s = zmq_socket(ctx, ZMQ_DEALER)) == NULL) {
		fprintf(stderr, "publisher: zmq_socket: %s\n",
		    zmq_strerror(errno));
		return (-1);
	}
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(s, endpoint) == -1) {
		fprintf(stderr, "publisher: connect %s: %s\n", endpoint,
		    zmq_strerror(errno));
		goto out;
	}
	if (zmq_send(s, json, len, 0) == -1) {
		fprintf(stderr, "publisher: send: %s\n", zmq_strerror(errno));
		goto out;
	}
	item.socket = s;
	if ((n = zmq_poll(&item, 1, timeout_ms)) == -1) {
		fprintf(stderr, "publisher: poll: %s\n", zmq_strerror(errno));
		goto out;
	}
	if (n == 0) {
		rc = 1;
		goto out;
	}
	if ((n = zmq_recv(s, reply, size - 1, 0)) == -1) {
		fprintf(stderr, "publisher: recv: %s\n", zmq_strerror(errno));
		goto out;
	}
	reply[(size_t)n < size - 1 ? (size_t)n : size - 1] = '\0';
	rc = 0;
out:
	zmq_close(s);
	return (rc);
}

/* 0 for {"ok":true,...}; else the error on stderr and 1. */
static int
judge(const char *reply)
{
	const char *ok_path[] = { "ok", NULL };
	const char *code_path[] = { "error", "code", NULL };
	const char *msg_path[] = { "error", "message", NULL };
	yajl_val tree, ok, code, msg;
	char err[256];

	if ((tree = yajl_tree_parse(reply, err, sizeof(err))) == NULL) {
		fprintf(stderr, "publisher: the reply is not JSON: %s\n", err);
		return (1);
	}
	ok = yajl_tree_get(tree, ok_path, yajl_t_true);
	if (ok == NULL) {
		code = yajl_tree_get(tree, code_path, yajl_t_string);
		msg = yajl_tree_get(tree, msg_path, yajl_t_string);
		fprintf(stderr, "publisher: refused: %s: %s\n",
		    code != NULL ? YAJL_GET_STRING(code) : "?",
		    msg != NULL ? YAJL_GET_STRING(msg) : "?");
	}
	yajl_tree_free(tree);
	return (ok != NULL ? 0 : 1);
}
