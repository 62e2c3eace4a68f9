/*
 * status.c: the status socket (SPEC §6, include/sb_status.h). Each client
 * is a bufferevent reading lines of at most SB_STATUS_LINE_MAX bytes; each
 * command is a function in a table indexed like sb_status_command(), and
 * every answer is one JSON object on one line, built with yajl_gen. The
 * changing commands need an admin peer, told by SO_PEERCRED.
 *
 * Input a person cannot have meant (control bytes, invalid UTF-8, a line
 * past the limit) is answered once and the client is cut off; a wrong
 * command is answered and the client may go on.
 *
 * "pending" may list a hundred thousand notices. It is written a page at a
 * time from an event callback, and the next page is read from the spool
 * only while the client's output holds less than STATUS_OUTPUT_HIGH bytes:
 * a slow reader costs a bounded buffer, and the loop serves everyone else
 * between pages.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yajl/yajl_gen.h>

#include "accept.h"
#include "adapter.h"
#include "batch.h"
#include "breaker.h"
#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "envelope.h"
#include "escalate.h"
#include "log.h"
#include "notice.h"
#include "reload.h"
#include "sb_status.h"
#include "spool.h"
#include "status.h"

/* Paging of "pending": stop reading pages above HIGH, go on below LOW. */
#define STATUS_OUTPUT_HIGH	(256 * 1024)
#define STATUS_OUTPUT_LOW	(64 * 1024)
#define STATUS_PAGE		512
/* Lines read ahead while a command is still being answered. */
#define STATUS_INPUT_MAX	(2 * SB_STATUS_LINE_MAX)
/* Words of a command line: the command and its arguments. */
#define STATUS_WORDS		4
/* Bytes of a person's input quoted back in a message. */
#define STATUS_QUOTE_MAX	64
/* Escalation deadlines shown by "status". */
#define STATUS_NEAREST		5
#define STATUS_BACKLOG		SB_STATUS_CLIENTS_MAX
/* After accept(2) fails (out of descriptors), wait before trying again. */
#define STATUS_ACCEPT_PAUSE_S	1

/* A "pending" answer being written. */
struct status_listing {
	yajl_gen	 g;
	int64_t		 after_seq;
	size_t		 left;		/* rows still wanted */
	size_t		 count;
	int		 more;		/* stopped at N with more pending */
};

struct status_client {
	struct bufferevent		*bev;
	uid_t				 uid;
	pid_t				 pid;
	int				 closing;	/* when written, close */
	int				 eof;		/* the peer is done */
	struct status_listing		*listing;
	struct event			*page;		/* the next page */
	TAILQ_ENTRY(status_client)	 entry;
};
TAILQ_HEAD(status_clients, status_client);

typedef void	(*status_cmd_fn)(struct status_client *, char **, int);

static struct {
	struct event_base	*base;
	struct spool		*spool;
	struct evconnlistener	*listener;
	struct event		*resume;	/* re-enables the listener */
	char			*path;		/* the socket we made */
	int64_t			 started_ms;	/* wall clock */
	int64_t			 started_mono;
	struct status_clients	 clients;
	size_t			 nclients;
} st = { .clients = TAILQ_HEAD_INITIALIZER(st.clients) };

static int	status_probe(const char *, char *, size_t);
static int	status_listen(const char *, char *, size_t);
static void	status_accept_cb(struct evconnlistener *, evutil_socket_t,
		    struct sockaddr *, int, void *);
static void	status_accept_error_cb(struct evconnlistener *, void *);
static void	status_resume_cb(evutil_socket_t, short, void *);
static void	status_client_free(struct status_client *);
static void	status_read_cb(struct bufferevent *, void *);
static void	status_write_cb(struct bufferevent *, void *);
static void	status_event_cb(struct bufferevent *, short, void *);
static void	status_process(struct status_client *);
static int	status_next_line(struct status_client *);
static void	status_line(struct status_client *, char *, size_t);
static int	status_garbage(const char *, size_t, char *, size_t);
static int	status_split(char *, int, char **, int);
static int	status_admin(const struct status_client *);
static const char *status_quote(const char *, char *, size_t);
static void	status_send(struct status_client *, yajl_gen);
static void	status_send_raw(struct status_client *, const char *, size_t);
static void	status_error(struct status_client *, const char *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static void	status_close_after(struct status_client *, const char *,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
static yajl_gen	status_gen_error_open(const char *, const char *);
static yajl_gen	status_gen_error(const char *, const char *);
static yajl_gen	status_gen_reload_failed(const char *);
static yajl_gen	status_gen_ok(void);
static void	gen_key(yajl_gen, const char *);
static void	gen_str(yajl_gen, const char *, const char *);
static void	gen_int(yajl_gen, const char *, long long);
static void	gen_bool(yajl_gen, const char *, int);
static void	gen_time(yajl_gen, const char *, int64_t);
static void	gen_strings(yajl_gen, const char *, const char *const *,
		    size_t);
static void	gen_channel_names(yajl_gen, const char *,
		    const struct config *, const int *, size_t);
static void	gen_report(yajl_gen);
static void	gen_report_counts(yajl_gen);
static void	gen_report_reload(yajl_gen);
static void	gen_report_channels(yajl_gen);
static void	gen_breaker(yajl_gen, const struct channel *);
static void	gen_report_escalations(yajl_gen);
static const char *status_channel_state(const struct channel *);
static void	gen_channel(yajl_gen, const struct channel *);
static void	gen_route(yajl_gen, const struct config *,
		    const struct route *);
static void	gen_match(yajl_gen, const struct match *);
static void	gen_globs(yajl_gen, const char *, const struct glob_list *);
static void	status_page_cb(evutil_socket_t, short, void *);
static void	status_page(struct status_client *);
static int	status_row_cb(const struct spool_pending_row *, void *);
static void	status_listing_end(struct status_client *, const char *);
static void	cmd_status(struct status_client *, char **, int);
static void	cmd_channels(struct status_client *, char **, int);
static void	cmd_routes(struct status_client *, char **, int);
static void	cmd_pending(struct status_client *, char **, int);
static void	cmd_message(struct status_client *, char **, int);
static void	cmd_ack(struct status_client *, char **, int);
static void	cmd_pause(struct status_client *, char **, int);
static void	cmd_resume(struct status_client *, char **, int);
static void	cmd_pause_resume(struct status_client *, const char *, int);
static void	cmd_reload(struct status_client *, char **, int);
static void	cmd_help(struct status_client *, char **, int);

/* In the order of enum sb_status_cmd. */
static const status_cmd_fn status_cmds[SB_STATUS_NCMDS] = {
	cmd_status, cmd_channels, cmd_routes, cmd_pending, cmd_message,
	cmd_ack, cmd_pause, cmd_resume, cmd_reload, cmd_help,
};

int
status_init(struct event_base *base, struct spool *spool, char *err,
    size_t errlen)
{
	const char *path = reload_current->status_socket;

	st.base = base;
	st.spool = spool;
	st.started_ms = deadline_wall_ms();
	st.started_mono = deadline_monotonic_ms();
	if (strlen(path) >= sizeof(((struct sockaddr_un *)NULL)->sun_path)) {
		snprintf(err, errlen, "status.socket %s: longer than %zu bytes",
		    path, sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1);
		return (-1);
	}
	if (status_probe(path, err, errlen) == -1 ||
	    status_listen(path, err, errlen) == -1)
		return (-1);
	if ((st.path = strdup(path)) == NULL) {
		snprintf(err, errlen, "status socket %s: out of memory", path);
		status_shutdown();
		return (-1);
	}
	log_info("status socket=%s", path);
	return (0);
}

/*
 * Whether the path is free: absent, or a socket nobody answers on (left
 * by a crash: removed). Anything else is refused, and never removed.
 */
static int
status_probe(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat sb;
	int fd, rc, saved;

	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT)
			return (0);
		snprintf(err, errlen, "status socket %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "status socket %s: the path exists and "
		    "is not a socket; not removing it", path);
		return (-1);
	}
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "status socket: %s", strerror(errno));
		return (-1);
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	saved = errno;
	close(fd);
	/* EAGAIN: its backlog is full, so somebody does listen there. */
	if (rc == 0 || saved == EAGAIN) {
		snprintf(err, errlen, "status socket %s: another process (a "
		    "running switchboardd?) answers there; not starting a "
		    "second one", path);
		return (-1);
	}
	if (saved != ECONNREFUSED) {
		snprintf(err, errlen, "status socket %s: %s", path,
		    strerror(saved));
		return (-1);
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "status socket %s: cannot remove the "
		    "stale socket: %s", path, strerror(errno));
		return (-1);
	}
	log_info("status socket %s: removed a stale socket nobody answered "
	    "on", path);
	return (0);
}

static int
status_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "status socket: %s", strerror(errno));
		return (-1);
	}
	/* Mode 0660 from the start: no moment when others may connect. */
	old = umask(0117);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc == -1) {
		snprintf(err, errlen, "status socket %s: %s%s", path,
		    strerror(errno), errno == ENOENT ? " (does its directory "
		    "exist?)" : "");
		close(fd);
		return (-1);
	}
	st.listener = evconnlistener_new(st.base, status_accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, STATUS_BACKLOG, fd);
	st.resume = event_new(st.base, -1, 0, status_resume_cb, NULL);
	if (st.listener == NULL || st.resume == NULL) {
		snprintf(err, errlen, "status socket %s: cannot listen: %s",
		    path, strerror(errno));
		if (st.listener == NULL)
			close(fd);
		unlink(path);
		status_shutdown();
		return (-1);
	}
	evconnlistener_set_error_cb(st.listener, status_accept_error_cb);
	return (0);
}

/*
 * Before root is given up: the socket becomes the daemon's user's and
 * group's, so that the group's members may use it (mode 0660) and the
 * daemon may remove it at the end.
 */
int
status_chown(uid_t uid, gid_t gid, char *err, size_t errlen)
{
	if (st.path == NULL || geteuid() != 0)
		return (0);
	if (lchown(st.path, uid, gid) == -1) {
		snprintf(err, errlen, "status socket %s: chown to uid %u gid "
		    "%u: %s", st.path, (unsigned)uid, (unsigned)gid,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

void
status_shutdown(void)
{
	struct status_client *c;

	while ((c = TAILQ_FIRST(&st.clients)) != NULL)
		status_client_free(c);
	if (st.listener != NULL)
		evconnlistener_free(st.listener);
	if (st.resume != NULL)
		event_free(st.resume);
	st.listener = NULL;
	st.resume = NULL;
	if (st.path != NULL && unlink(st.path) == -1 && errno != ENOENT)
		log_warn("status socket %s: cannot remove it", st.path);
	free(st.path);
	st.path = NULL;
}

static void
status_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct status_client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct timeval idle = { SB_STATUS_IDLE_S, 0 };

	(void)l;
	(void)sa;
	(void)salen;
	(void)arg;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		log_warn("status socket: SO_PEERCRED");
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(st.base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (c->page = event_new(st.base, -1, 0, status_page_cb, c)) == NULL) {
		log_warnx("status socket: out of memory for a client");
		if (c != NULL && c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		free(c);
		return;
	}
	c->uid = cred.uid;
	c->pid = cred.pid;
	TAILQ_INSERT_TAIL(&st.clients, c, entry);
	st.nclients++;
	bufferevent_setcb(c->bev, status_read_cb, status_write_cb,
	    status_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, STATUS_INPUT_MAX);
	bufferevent_setwatermark(c->bev, EV_WRITE, STATUS_OUTPUT_LOW, 0);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (st.nclients > SB_STATUS_CLIENTS_MAX)
		status_close_after(c, sb_error_name(SB_ERR_UNAVAILABLE),
		    "too many status clients (%d at once); try again later",
		    SB_STATUS_CLIENTS_MAX);
}

/* Out of descriptors, say: pause accepting rather than spin on it. */
static void
status_accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)arg;
	log_warn("status socket: accept");
	evconnlistener_disable(l);
	event_add(st.resume, &(struct timeval){ STATUS_ACCEPT_PAUSE_S, 0 });
}

static void
status_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	if (st.listener != NULL)
		evconnlistener_enable(st.listener);
}

static void
status_client_free(struct status_client *c)
{
	TAILQ_REMOVE(&st.clients, c, entry);
	st.nclients--;
	if (c->listing != NULL) {
		yajl_gen_free(c->listing->g);
		free(c->listing);
	}
	event_free(c->page);
	bufferevent_free(c->bev);
	free(c);
}

static void
status_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	status_process(arg);
}

/*
 * The output fell to STATUS_OUTPUT_LOW or below: the next page of a
 * listing may go, or a closing client be let go once all is written.
 */
static void
status_write_cb(struct bufferevent *bev, void *arg)
{
	struct status_client *c = arg;

	if (c->listing != NULL) {
		event_active(c->page, 0, 0);
		return;
	}
	if (!c->closing) {
		/* Lines held back while the answers piled up (may free c). */
		status_process(c);
		return;
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		status_client_free(c);
}

static void
status_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct status_client *c = arg;

	/*
	 * No command for a while is idleness only when nothing is being
	 * written to the client: a long answer is read while it says nothing.
	 */
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    (c->listing != NULL ||
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)) {
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		c->eof = 1;
		status_process(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("status client uid=%u pid=%d cut off: idle",
		    (unsigned)c->uid, (int)c->pid);
	status_client_free(c);
}

/*
 * Answer the complete lines read so far, one at a time: while a listing
 * is being written the rest wait. At the end of the input, a last line
 * without its newline counts too.
 */
static void
status_process(struct status_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	/*
	 * While answers wait for a client that does not read them, its
	 * commands wait too: the input fills, reading stops, the client's
	 * writes block, and memory stays bounded. status_write_cb goes on.
	 */
	while (!c->closing && c->listing == NULL &&
	    evbuffer_get_length(out) < STATUS_OUTPUT_HIGH &&
	    status_next_line(c) == 1)
		;
	if (c->closing || c->listing != NULL ||
	    evbuffer_get_length(out) >= STATUS_OUTPUT_HIGH)
		return;
	if (c->eof) {
		c->closing = 1;
		if (evbuffer_get_length(out) == 0)
			status_client_free(c);
	}
}

/* Take and answer one line: 1 when one was there, 0 when none is yet. */
static int
status_next_line(struct status_client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct evbuffer_ptr eol;
	size_t len, avail = evbuffer_get_length(in);
	char line[SB_STATUS_LINE_MAX + 1];

	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		if (avail >= SB_STATUS_LINE_MAX) {
			status_close_after(c, SB_STATUS_ERR_TOO_LARGE, "a "
			    "command line is at most %d bytes, newline "
			    "included; closing", SB_STATUS_LINE_MAX);
			return (0);
		}
		if (!c->eof || avail == 0)
			return (0);
		len = avail;	/* the last line, unterminated */
	} else if ((len = (size_t)eol.pos) + 1 > SB_STATUS_LINE_MAX) {
		status_close_after(c, SB_STATUS_ERR_TOO_LARGE, "a command line "
		    "is at most %d bytes, newline included; closing",
		    SB_STATUS_LINE_MAX);
		return (0);
	}
	evbuffer_remove(in, line, len);
	evbuffer_drain(in, eol.pos == -1 ? 0 : 1);
	line[len] = '\0';
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	status_line(c, line, len);
	return (1);
}

/* One command line: check it, split it, check the peer, run it. */
static void
status_line(struct status_client *c, char *line, size_t len)
{
	const struct sb_status_command *cmd;
	enum sb_status_cmd which;
	char *argv[STATUS_WORDS], why[128], name[16], q[STATUS_QUOTE_MAX + 8];
	const char *p = line + strspn(line, " \t");
	size_t n = strcspn(p, " \t");
	int argc;

	if (status_garbage(line, len, why, sizeof(why))) {
		status_close_after(c, SB_STATUS_ERR_BAD_REQUEST, "%s: not a "
		    "command line; closing", why);
		return;
	}
	if (n == 0)
		return;		/* a blank line: nothing asked */
	snprintf(name, sizeof(name), "%.*s", (int)n, p);
	if (n >= sizeof(name) ||
	    (which = sb_status_command_find(name)) == SB_STATUS_NCMDS) {
		snprintf(q, sizeof(q), "%.*s", (int)n, p);
		status_error(c, SB_STATUS_ERR_UNKNOWN_COMMAND, "unknown command "
		    "'%s' (expected status, channels, routes, pending, message, "
		    "ack, pause, resume, reload or help)",
		    status_quote(q, why, sizeof(why)));
		return;
	}
	cmd = sb_status_command(which);
	/* BY, the last argument of ack, is the rest of the line. */
	if (cmd->max_args == -1)
		argc = status_split(line, cmd->min_args + 1, argv, 1);
	else
		argc = status_split(line, cmd->max_args + 1, argv, 0);
	if (argc - 1 < cmd->min_args || (cmd->max_args != -1 &&
	    argc - 1 > cmd->max_args)) {
		status_error(c, SB_STATUS_ERR_BAD_ARGUMENT, "%s: %s (usage: %s%s"
		    "%s)", cmd->name, argc - 1 < cmd->min_args ? "missing "
		    "argument" : "too many arguments", cmd->name,
		    cmd->args[0] != '\0' ? " " : "", cmd->args);
		return;
	}
	if (cmd->changes && !status_admin(c)) {
		log_info("status refused command=%s uid=%u pid=%d", cmd->name,
		    (unsigned)c->uid, (int)c->pid);
		status_error(c, sb_error_name(SB_ERR_UNAUTHORIZED), "%s changes "
		    "the daemon: uid %u is neither root, the daemon's uid %u, "
		    "nor in status.admin_uids", cmd->name, (unsigned)c->uid,
		    (unsigned)geteuid());
		return;
	}
	if (cmd->changes)
		log_info("status command=%s uid=%u pid=%d", cmd->name,
		    (unsigned)c->uid, (int)c->pid);
	status_cmds[which](c, argv, argc);
}

/*
 * 1 when a line holds what no person types: control characters or bytes
 * that are not UTF-8 (yajl, told to validate, is the judge of that).
 */
static int
status_garbage(const char *line, size_t len, char *why, size_t whylen)
{
	yajl_gen g;
	size_t i;
	int bad;

	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    line[i] == 0x7f) {
			snprintf(why, whylen, "control byte 0x%02x at byte %zu",
			    (unsigned char)line[i], i + 1);
			return (1);
		}
	if ((g = yajl_gen_alloc(NULL)) == NULL) {
		snprintf(why, whylen, "out of memory");
		return (1);
	}
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	bad = yajl_gen_string(g, (const unsigned char *)line, len) !=
	    yajl_gen_status_ok;
	yajl_gen_free(g);
	if (bad)
		snprintf(why, whylen, "invalid UTF-8");
	return (bad);
}

/*
 * Split line into at most max words, in place. With rest, the last word
 * is the rest of the line, its inner blanks kept.
 */
static int
status_split(char *line, int max, char **argv, int rest)
{
	char *p = line, *end;
	int n = 0;

	for (;;) {
		p += strspn(p, " \t");
		if (*p == '\0' || n == max)
			break;
		argv[n++] = p;
		if (rest && n == max) {
			end = p + strlen(p);
			while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			*end = '\0';
			break;
		}
		p += strcspn(p, " \t");
		if (*p != '\0')
			*p++ = '\0';
	}
	/* One word too many shows as max + 1 to the argument check. */
	if (!rest && n == max && *(p + strspn(p, " \t")) != '\0')
		n++;
	return (n);
}

/* Root, the daemon's own uid, or one of status.admin_uids. */
static int
status_admin(const struct status_client *c)
{
	const struct config *cf = reload_current;
	size_t i;

	if (c->uid == 0 || c->uid == geteuid())
		return (1);
	for (i = 0; i < cf->nadmin_uids; i++)
		if (cf->admin_uids[i] == c->uid)
			return (1);
	return (0);
}

/* A person's input quoted back: cut on a character boundary. */
static const char *
status_quote(const char *s, char *buf, size_t len)
{
	size_t n = strlen(s);

	if (n <= STATUS_QUOTE_MAX) {
		strlcpy(buf, s, len);
		return (buf);
	}
	n = STATUS_QUOTE_MAX;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	snprintf(buf, len, "%.*s...", (int)n, s);
	return (buf);
}

/* Write what g holds as one line, and free g. */
static void
status_send(struct status_client *c, yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	if (g == NULL || yajl_gen_get_buf(g, &buf, &len) !=
	    yajl_gen_status_ok) {
		log_warnx("status socket: out of memory for an answer");
		c->closing = 1;
	} else
		status_send_raw(c, (const char *)buf, len);
	if (g != NULL)
		yajl_gen_free(g);
}

static void
status_send_raw(struct status_client *c, const char *s, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_add(out, s, len) == -1 || evbuffer_add(out, "\n", 1) ==
	    -1) {
		log_warnx("status socket: out of memory for an answer");
		c->closing = 1;
	}
}

/* {"ok":false,"error":{"code":...,"message":... left open for more. */
static yajl_gen
status_gen_error_open(const char *code, const char *message)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (NULL);
	yajl_gen_map_open(g);
	gen_bool(g, "ok", 0);
	gen_key(g, "error");
	yajl_gen_map_open(g);
	gen_str(g, "code", code);
	gen_str(g, "message", message);
	return (g);
}

static yajl_gen
status_gen_error(const char *code, const char *message)
{
	yajl_gen g;

	if ((g = status_gen_error_open(code, message)) != NULL) {
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
	}
	return (g);
}

static void
status_error(struct status_client *c, const char *code, const char *fmt,
    ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	status_send(c, status_gen_error(code, msg));
}

/* Answer an error, read no more, and close once it is written. */
static void
status_close_after(struct status_client *c, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("status client uid=%u pid=%d cut off: %s", (unsigned)c->uid,
	    (int)c->pid, msg);
	status_send(c, status_gen_error(code, msg));
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
}

/* {"ok":true, ... the caller goes on and closes the map. */
static yajl_gen
status_gen_ok(void)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (NULL);
	yajl_gen_map_open(g);
	gen_bool(g, "ok", 1);
	return (g);
}

static void
gen_key(yajl_gen g, const char *key)
{
	yajl_gen_string(g, (const unsigned char *)key, strlen(key));
}

static void
gen_str(yajl_gen g, const char *key, const char *value)
{
	gen_key(g, key);
	if (value == NULL)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)value,
		    strlen(value));
}

static void
gen_int(yajl_gen g, const char *key, long long n)
{
	gen_key(g, key);
	yajl_gen_integer(g, n);
}

static void
gen_bool(yajl_gen g, const char *key, int b)
{
	gen_key(g, key);
	yajl_gen_bool(g, b);
}

/* "key": RFC 3339; null for 0 (never). */
static void
gen_time(yajl_gen g, const char *key, int64_t ms)
{
	char when[40];

	if (ms == 0) {
		gen_str(g, key, NULL);
		return;
	}
	notice_time_format(ms, when, sizeof(when));
	gen_str(g, key, when);
}

static void
gen_strings(yajl_gen g, const char *key, const char *const *v, size_t n)
{
	size_t i;

	gen_key(g, key);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		yajl_gen_string(g, (const unsigned char *)v[i], strlen(v[i]));
	yajl_gen_array_close(g);
}

/* Channel indices of a config as their names. */
static void
gen_channel_names(yajl_gen g, const char *key, const struct config *cf,
    const int *idx, size_t n)
{
	const char *name;
	size_t i;

	gen_key(g, key);
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		name = cf->channels[idx[i]].name;
		yajl_gen_string(g, (const unsigned char *)name, strlen(name));
	}
	yajl_gen_array_close(g);
}

char *
status_report(size_t *len)
{
	const unsigned char *buf;
	char *out = NULL;
	yajl_gen g;

	if ((g = status_gen_ok()) == NULL)
		return (NULL);
	gen_report(g);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, len) == yajl_gen_status_ok &&
	    (out = malloc(*len + 1)) != NULL) {
		memcpy(out, buf, *len);
		out[*len] = '\0';
	}
	yajl_gen_free(g);
	return (out);
}

/* The body of "status", after "ok". */
static void
gen_report(yajl_gen g)
{
	const struct config *cf = reload_current;

	gen_str(g, "version", SB_VERSION);
	gen_int(g, "pid", (long long)getpid());
	gen_time(g, "started_at", st.started_ms);
	gen_int(g, "uptime_s", (deadline_monotonic_ms() - st.started_mono) /
	    1000);
	gen_key(g, "config");
	yajl_gen_map_open(g);
	gen_str(g, "path", cf->path);
	gen_str(g, "hash", cf->hash);
	yajl_gen_map_close(g);
	gen_report_reload(g);
	gen_report_counts(g);
	gen_report_channels(g);
	gen_report_escalations(g);
}

static void
gen_report_reload(yajl_gen g)
{
	const struct reload_status *rs = reload_last();
	const char *p, *nl;

	gen_key(g, "reload");
	yajl_gen_map_open(g);
	gen_time(g, "at", rs->at_ms);
	if (rs->at_ms == 0)
		gen_str(g, "ok", NULL);
	else
		gen_bool(g, "ok", rs->ok);
	gen_int(g, "count", (long long)rs->count);
	gen_int(g, "failures", (long long)rs->failures);
	gen_key(g, "errors");
	yajl_gen_array_open(g);
	for (p = rs->errors; !rs->ok && *p != '\0'; p = nl + (*nl != '\0')) {
		nl = p + strcspn(p, "\n");
		yajl_gen_string(g, (const unsigned char *)p, (size_t)(nl - p));
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}

/* Notices by class and outcome, deliveries, acks, the spool. */
static void
gen_report_counts(yajl_gen g)
{
	const struct accept_stats *as = accept_stats();
	const struct dispatch_stats *ds = dispatch_stats();
	const struct escalate_stats *es = escalate_stats();
	unsigned long long rejected = 0;
	int i;

	for (i = 1; i < SB_ERR_COUNT; i++)
		rejected += as->rejected[i];
	gen_key(g, "notices");
	yajl_gen_map_open(g);
	for (i = 0; i < CLASS_COUNT; i++)
		gen_int(g, notice_class_name(i), (long long)as->accepted[i]);
	gen_int(g, "rejected", (long long)rejected);
	gen_int(g, "duplicates", (long long)as->duplicates);
	yajl_gen_map_close(g);
	gen_key(g, "deliveries");
	yajl_gen_map_open(g);
	gen_int(g, "pending", (long long)dispatch_pending());
	gen_int(g, "delivered", (long long)ds->delivered);
	gen_int(g, "retried", (long long)ds->retried);
	gen_int(g, "failed_over", (long long)ds->failed);
	gen_int(g, "dead", (long long)ds->dead);
	gen_int(g, "missed", (long long)ds->missed);
	yajl_gen_map_close(g);
	gen_key(g, "acks");
	yajl_gen_map_open(g);
	gen_int(g, "waiting", (long long)escalate_waiting());
	gen_int(g, "acked", (long long)(es->acked + es->late_acks));
	gen_int(g, "expired", (long long)es->expired);
	yajl_gen_map_close(g);
	gen_key(g, "spool");
	yajl_gen_map_open(g);
	gen_int(g, "commits", (long long)st.spool->commits);
	gen_int(g, "failures", (long long)st.spool->failures);
	gen_bool(g, "failing", as->spool_failing);
	gen_str(g, "last_error", st.spool->failures > 0 ? st.spool->error :
	    NULL);
	yajl_gen_map_close(g);
}

/* Each running channel in brief: what an operator looks at first. */
static void
gen_report_channels(yajl_gen g)
{
	struct channel *ch;
	size_t i;

	gen_key(g, "channels");
	yajl_gen_array_open(g);
	for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++) {
		yajl_gen_map_open(g);
		gen_str(g, "name", ch->name);
		gen_str(g, "state", status_channel_state(ch));
		gen_int(g, "queued", ch->queued);
		gen_int(g, "inflight", ch->inflight);
		gen_int(g, "delivered", (long long)ch->stats.outcomes[
		    OUTCOME_DELIVERED]);
		gen_str(g, "last_error", ch->last_error[0] != '\0' ?
		    ch->last_error : NULL);
		gen_breaker(g, ch);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static void
gen_report_escalations(yajl_gen g)
{
	struct escalate_view v[STATUS_NEAREST];
	size_t i, n = escalate_nearest(v, STATUS_NEAREST);

	gen_key(g, "escalations");
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		gen_str(g, "id", v[i].id);
		gen_time(g, "at", v[i].next_ms);
		gen_str(g, "next", v[i].chain != NULL ? "escalate" :
		    "expire");
		gen_int(g, "level", v[i].level);
		gen_int(g, "round", v[i].round);
		gen_str(g, "chain", v[i].chain);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

static const char *
status_channel_state(const struct channel *ch)
{
	switch (channel_state(ch)) {
	case CHANNEL_UP:
		return ("up");
	case CHANNEL_DOWN:
		return ("down");
	case CHANNEL_PAUSED:
		return ("paused");
	}
	return ("unknown");
}

static void
cmd_status(struct status_client *c, char **argv, int argc)
{
	yajl_gen g;

	(void)argv;
	(void)argc;
	if ((g = status_gen_ok()) != NULL) {
		gen_report(g);
		yajl_gen_map_close(g);
	}
	status_send(c, g);
}

static void
cmd_channels(struct status_client *c, char **argv, int argc)
{
	struct channel *ch;
	yajl_gen g;
	size_t i;

	(void)argv;
	(void)argc;
	if ((g = status_gen_ok()) != NULL) {
		gen_key(g, "channels");
		yajl_gen_array_open(g);
		for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++)
			gen_channel(g, ch);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	status_send(c, g);
}

static void
gen_channel(yajl_gen g, const struct channel *ch)
{
	static const char *const modes[] = { "active", "pilot", "disabled" };
	const struct channel_conf *cc = ch->conf;

	yajl_gen_map_open(g);
	gen_str(g, "name", ch->name);
	gen_str(g, "type", cc->ops->name);
	gen_str(g, "mode", (unsigned)cc->mode < 3 ? modes[cc->mode] : "?");
	gen_str(g, "state", status_channel_state(ch));
	gen_str(g, "owner", cc->owner);
	gen_int(g, "queued", ch->queued);
	gen_int(g, "inflight", ch->inflight);
	gen_int(g, "queue_max", cc->queue_max);
	gen_int(g, "concurrency", cc->concurrency);
	gen_int(g, "batched", (long long)batch_items(ch));
	gen_time(g, "next_flush_at", batch_next_flush(ch));
	gen_int(g, "delivered", (long long)ch->stats.outcomes[
	    OUTCOME_DELIVERED]);
	gen_int(g, "retryable", (long long)ch->stats.outcomes[
	    OUTCOME_RETRYABLE]);
	gen_int(g, "permanent", (long long)ch->stats.outcomes[
	    OUTCOME_PERMANENT]);
	gen_int(g, "missed", (long long)ch->stats.missed);
	gen_int(g, "digests", (long long)ch->stats.digests);
	gen_int(g, "held", (long long)ch->stats.held);
	gen_str(g, "last_error", ch->last_error[0] != '\0' ? ch->last_error :
	    NULL);
	gen_breaker(g, ch);
	yajl_gen_map_close(g);
}

/* A channel's circuit breaker, when it has one (health_check). */
static void
gen_breaker(yajl_gen g, const struct channel *ch)
{
	const struct breaker *b = ch->breaker;

	if (b == NULL)
		return;
	gen_str(g, "breaker", breaker_state_name(breaker_state(b)));
	gen_int(g, "breaker_failures", breaker_failures(b));
	gen_time(g, "breaker_since", breaker_since_ms(b));
	gen_str(g, "breaker_reason", breaker_reason(b));
}

static void
cmd_routes(struct status_client *c, char **argv, int argc)
{
	const struct config *cf = reload_current;
	yajl_gen g;
	size_t i;

	(void)argv;
	(void)argc;
	if ((g = status_gen_ok()) != NULL) {
		gen_key(g, "routes");
		yajl_gen_array_open(g);
		for (i = 0; i < cf->nroutes; i++)
			gen_route(g, cf, &cf->routes[i]);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	status_send(c, g);
}

static void
gen_route(yajl_gen g, const struct config *cf, const struct route *r)
{
	const struct policy *p = &r->policy;

	yajl_gen_map_open(g);
	gen_str(g, "name", r->name);
	gen_int(g, "line", r->line);
	gen_match(g, &r->match);
	gen_channel_names(g, "channels", cf, r->channels, r->nchannels);
	gen_channel_names(g, "fallback", cf, r->fallback, r->nfallback);
	gen_bool(g, "continue", r->cont);
	/* Only what the route overrides; the rest is the class's policy. */
	gen_key(g, "policy");
	yajl_gen_map_open(g);
	if (p->deliver_within_ms != 0)
		gen_int(g, "deliver_within_ms", (long long)p->deliver_within_ms);
	if (p->window_ms != 0)
		gen_int(g, "window_ms", (long long)p->window_ms);
	if (p->max_items != 0)
		gen_int(g, "max_items", p->max_items);
	if (p->nat_names != 0)
		gen_strings(g, "at", (const char *const *)p->at_names,
		    p->nat_names);
	if (p->respond_within_ms != 0)
		gen_int(g, "respond_within_ms",
		    (long long)p->respond_within_ms);
	if (p->escalation_name != NULL)
		gen_str(g, "escalation", p->escalation_name);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
}

/* "match": only the keys the route sets. */
static void
gen_match(yajl_gen g, const struct match *m)
{
	size_t i;
	int v;

	gen_key(g, "match");
	yajl_gen_map_open(g);
	gen_globs(g, "source", &m->sources);
	gen_globs(g, "audience", &m->audiences);
	if (m->class_mask != 0) {
		gen_key(g, "class");
		yajl_gen_array_open(g);
		for (v = 0; v < CLASS_COUNT; v++)
			if (m->class_mask & (1u << v))
				yajl_gen_string(g, (const unsigned char *)
				    notice_class_name(v),
				    strlen(notice_class_name(v)));
		yajl_gen_array_close(g);
	}
	if (m->min_priority != -1)
		gen_str(g, "priority", notice_priority_name(m->min_priority));
	if (m->goal_mask != 0) {
		gen_key(g, "goal");
		yajl_gen_array_open(g);
		for (v = 0; v < GOAL_COUNT; v++)
			if (m->goal_mask & (1u << v))
				yajl_gen_string(g, (const unsigned char *)
				    notice_goal_name(v),
				    strlen(notice_goal_name(v)));
		yajl_gen_array_close(g);
	}
	if (m->ntags != 0) {
		gen_key(g, "tags");
		yajl_gen_map_open(g);
		for (i = 0; i < m->ntags; i++)
			gen_str(g, m->tags[i].key, m->tags[i].value.pattern);
		yajl_gen_map_close(g);
	}
	yajl_gen_map_close(g);
}

static void
gen_globs(yajl_gen g, const char *key, const struct glob_list *gl)
{
	size_t i;

	if (gl->n == 0)
		return;
	gen_key(g, key);
	yajl_gen_array_open(g);
	for (i = 0; i < gl->n; i++)
		yajl_gen_string(g, (const unsigned char *)gl->globs[i].pattern,
		    strlen(gl->globs[i].pattern));
	yajl_gen_array_close(g);
}

/*
 * pending [N]: {"notices":[...],"count":C,"more":B,"ok":true}. "ok" comes
 * last because the listing is written before it is known to end well: a
 * spool failure in the middle ends it {...,"ok":false,"error":{...}}.
 */
static void
cmd_pending(struct status_client *c, char **argv, int argc)
{
	struct status_listing *l;
	char *end, q[STATUS_QUOTE_MAX + 8];
	long long n = -1;

	if (argc > 1) {
		errno = 0;
		n = strtoll(argv[1], &end, 10);
		if (*end != '\0' || errno != 0 || n < 1 || argv[1][0] == '+' ||
		    argv[1][0] == '-') {
			status_error(c, SB_STATUS_ERR_BAD_ARGUMENT, "pending: "
			    "'%s' is not a count (expected a whole number, 1 "
			    "or more)", status_quote(argv[1], q, sizeof(q)));
			return;
		}
	}
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->g = yajl_gen_alloc(NULL)) == NULL) {
		free(l);
		status_error(c, sb_error_name(SB_ERR_UNAVAILABLE), "out of "
		    "memory");
		return;
	}
	l->left = n == -1 ? SIZE_MAX : (size_t)n;
	yajl_gen_map_open(l->g);
	gen_key(l->g, "notices");
	yajl_gen_array_open(l->g);
	c->listing = l;
	status_page(c);
}

/* The next page; or, the listing done, the commands that waited for it. */
static void
status_page_cb(evutil_socket_t fd, short what, void *arg)
{
	struct status_client *c = arg;

	(void)fd;
	(void)what;
	if (c->listing != NULL)
		status_page(c);
	else
		status_process(c);
}

/*
 * One page of the listing into the output; then the next page on the
 * next pass of the loop, or, when the output is full, once it drained.
 */
static void
status_page(struct status_client *c)
{
	struct status_listing *l = c->listing;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const unsigned char *buf;
	size_t want, len;
	int n;

	if (evbuffer_get_length(out) >= STATUS_OUTPUT_HIGH)
		return;		/* status_write_cb comes back */
	/* One row past N tells whether there are more. */
	want = l->left < STATUS_PAGE ? l->left + 1 : STATUS_PAGE;
	n = spool_list_pending(st.spool, l->after_seq, want, status_row_cb, c);
	if (n == -1) {
		status_listing_end(c, st.spool->error);
		return;
	}
	yajl_gen_get_buf(l->g, &buf, &len);
	if (evbuffer_add(out, buf, len) == -1) {
		status_listing_end(c, "out of memory");
		return;
	}
	yajl_gen_clear(l->g);
	if ((size_t)n < want || l->left == 0 || l->more)
		status_listing_end(c, NULL);
	else if (evbuffer_get_length(out) < STATUS_OUTPUT_HIGH)
		event_active(c->page, 0, 0);
}

static int
status_row_cb(const struct spool_pending_row *row, void *arg)
{
	struct status_client *c = arg;
	struct status_listing *l = c->listing;
	yajl_gen g = l->g;
	const char *p, *comma;

	if (l->left == 0) {
		l->more = 1;
		return (0);
	}
	yajl_gen_map_open(g);
	gen_str(g, "id", row->id);
	gen_str(g, "class", row->class_name);
	gen_time(g, "received_at", row->received_ms);
	gen_int(g, "pending", row->npending);
	gen_key(g, "channels");
	yajl_gen_array_open(g);
	for (p = row->channels; p != NULL && *p != '\0'; p = comma + 1) {
		comma = p + strcspn(p, ",");
		yajl_gen_string(g, (const unsigned char *)p,
		    (size_t)(comma - p));
		if (*comma == '\0')
			break;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	l->after_seq = row->seq;
	l->left--;
	l->count++;
	return (0);
}

/* Close the listing's line, ok or with error; then the next command. */
static void
status_listing_end(struct status_client *c, const char *error)
{
	struct status_listing *l = c->listing;
	const unsigned char *buf;
	size_t len;

	yajl_gen_array_close(l->g);
	gen_int(l->g, "count", (long long)l->count);
	gen_bool(l->g, "more", l->more);
	gen_bool(l->g, "ok", error == NULL);
	if (error != NULL) {
		log_warnx("status pending: stopped after %zu notices: %s",
		    l->count, error);
		gen_key(l->g, "error");
		yajl_gen_map_open(l->g);
		gen_str(l->g, "code", sb_error_name(SB_ERR_UNAVAILABLE));
		gen_str(l->g, "message", error);
		yajl_gen_map_close(l->g);
	}
	yajl_gen_map_close(l->g);
	yajl_gen_get_buf(l->g, &buf, &len);
	status_send_raw(c, (const char *)buf, len);
	yajl_gen_free(l->g);
	free(l);
	c->listing = NULL;
	/* From the loop, not from here: no recursion over queued commands. */
	event_active(c->page, 0, 0);
}

/* The wire protocol's id: 1..128 of [A-Za-z0-9._:-]. */
int
status_id_valid(const char *id)
{
	size_t n = strlen(id);

	return (n >= 1 && n <= SB_ID_MAX && strspn(id, "abcdefghijklmnopqrstu"
	    "vwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n);
}

static void
cmd_message(struct status_client *c, char **argv, int argc)
{
	char *json, q[STATUS_QUOTE_MAX + 8];
	static const char head[] = "{\"ok\":true,\"message\":";
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc;

	(void)argc;
	if (!status_id_valid(argv[1])) {
		status_error(c, SB_STATUS_ERR_BAD_ARGUMENT, "message: '%s' is "
		    "not a notice id (1 to %d of A-Z a-z 0-9 . _ : -)",
		    status_quote(argv[1], q, sizeof(q)), SB_ID_MAX);
		return;
	}
	rc = spool_describe(st.spool, argv[1], &json);
	if (rc == 0) {
		status_error(c, sb_error_name(SB_ERR_UNKNOWN_REF), "no notice "
		    "'%s' is known (it may never have been accepted, or be "
		    "older than spool.retain)", argv[1]);
		return;
	}
	if (rc == -1) {
		status_error(c, sb_error_name(SB_ERR_UNAVAILABLE), "the spool "
		    "cannot be read: %s", st.spool->error);
		return;
	}
	/* The spool's JSON is whole and valid: put in as it is. */
	evbuffer_add(out, head, sizeof(head) - 1);
	evbuffer_add(out, json, strlen(json));
	evbuffer_add(out, "}\n", 2);
	free(json);
}

static void
cmd_ack(struct status_client *c, char **argv, int argc)
{
	enum sb_error code;
	char *reply;
	size_t len;

	(void)argc;
	if ((reply = status_ack(argv[1], argv[2], &code, &len)) == NULL) {
		status_error(c, sb_error_name(SB_ERR_UNAVAILABLE), "out of "
		    "memory");
		return;
	}
	status_send_raw(c, reply, len);
	free(reply);
}

/*
 * An ack through the wire protocol's own parser, so that ref and by obey
 * exactly the rules an ack from an application does.
 */
char *
status_ack(const char *id, const char *by, enum sb_error *code, size_t *len)
{
	struct envelope env;
	struct envelope_error err;
	const unsigned char *req;
	size_t reqlen;
	int64_t ms = 0;
	char why[512];
	yajl_gen g;
	char *reply;

	memset(&env, 0, sizeof(env));
	memset(&err, 0, sizeof(err));
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (NULL);
	yajl_gen_map_open(g);
	gen_str(g, "type", "ack");
	gen_str(g, "ref", id);
	gen_str(g, "by", by);
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &req, &reqlen);
	if (envelope_parse((const char *)req, reqlen, reqlen, &env, &err) ==
	    -1) {
		yajl_gen_free(g);
		*code = err.code;
		return (envelope_reply_error(&err, len));
	}
	yajl_gen_free(g);
	*code = escalate_ack(&env.ack, &ms, why, sizeof(why));
	if (*code == SB_OK && spool_commit(st.spool) == -1) {
		*code = SB_ERR_UNAVAILABLE;
		snprintf(why, sizeof(why), "the spool cannot be written (%s); "
		    "the ack was not kept, try again later", st.spool->error);
		escalate_ack_done(env.ack.ref, 0);
	} else if (*code == SB_OK)
		escalate_ack_done(env.ack.ref, 1);
	if (*code == SB_OK)
		reply = envelope_reply_ack(env.ack.ref, ms, len);
	else {
		envelope_error_set(&err, *code, *code == SB_ERR_UNAVAILABLE ?
		    NULL : "ref", "%s", why);
		strlcpy(err.id, env.ack.ref, sizeof(err.id));
		reply = envelope_reply_error(&err, len);
	}
	envelope_clear(&env);
	return (reply);
}

static void
cmd_pause(struct status_client *c, char **argv, int argc)
{
	(void)argc;
	cmd_pause_resume(c, argv[1], 1);
}

static void
cmd_resume(struct status_client *c, char **argv, int argc)
{
	(void)argc;
	cmd_pause_resume(c, argv[1], 0);
}

static void
cmd_pause_resume(struct status_client *c, const char *name, int pause)
{
	struct channel *ch;
	const char *was;
	char known[512], q[STATUS_QUOTE_MAX + 8];
	yajl_gen g;
	size_t i;

	if ((ch = dispatch_channel(name)) == NULL) {
		known[0] = '\0';
		for (i = 0; (ch = dispatch_channel_at(i)) != NULL; i++) {
			if (i > 0)
				strlcat(known, ", ", sizeof(known));
			strlcat(known, ch->name, sizeof(known));
		}
		status_error(c, SB_STATUS_ERR_UNKNOWN_CHANNEL, "no channel '%s' "
		    "is running (channels: %s)", status_quote(name, q,
		    sizeof(q)), known[0] != '\0' ? known : "none");
		return;
	}
	was = status_channel_state(ch);
	if (pause)
		channel_pause(ch);
	else
		channel_resume(ch);
	if ((g = status_gen_ok()) != NULL) {
		gen_str(g, "channel", ch->name);
		gen_str(g, "was", was);
		gen_str(g, "state", status_channel_state(ch));
		gen_int(g, "queued", ch->queued);
		gen_int(g, "inflight", ch->inflight);
		yajl_gen_map_close(g);
	}
	status_send(c, g);
}

static void
cmd_reload(struct status_client *c, char **argv, int argc)
{
	char msg[sizeof(((struct reload_status *)NULL)->errors)];
	yajl_gen g;

	(void)argv;
	(void)argc;
	if (reload_run(msg, sizeof(msg)) == -1) {
		status_send(c, status_gen_reload_failed(msg));
		return;
	}
	if (st.path != NULL && strcmp(reload_current->status_socket,
	    st.path) != 0)
		log_warnx("reload: status.socket changed to %s; it takes "
		    "effect at the next restart", reload_current->status_socket);
	if ((g = status_gen_ok()) != NULL) {
		gen_str(g, "message", msg);
		gen_str(g, "hash", reload_current->hash);
		yajl_gen_map_close(g);
	}
	status_send(c, g);
}

/* invalid_config: a summary, and each "file:line: what" in "errors". */
static yajl_gen
status_gen_reload_failed(const char *errors)
{
	const char *p, *nl;
	char head[256];
	yajl_gen g;
	size_t n = 0;

	for (p = errors; *p != '\0'; p = nl + (*nl != '\0')) {
		nl = p + strcspn(p, "\n");
		n++;
	}
	snprintf(head, sizeof(head), "%s was not reloaded (%zu error%s); the "
	    "running config stays", reload_current->path, n, n == 1 ? "" :
	    "s");
	if ((g = status_gen_error_open(SB_STATUS_ERR_INVALID_CONFIG,
	    head)) == NULL)
		return (NULL);
	gen_key(g, "errors");
	yajl_gen_array_open(g);
	for (p = errors; *p != '\0'; p = nl + (*nl != '\0')) {
		nl = p + strcspn(p, "\n");
		yajl_gen_string(g, (const unsigned char *)p, (size_t)(nl - p));
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	return (g);
}

static void
cmd_help(struct status_client *c, char **argv, int argc)
{
	const struct sb_status_command *cmd;
	yajl_gen g;
	int i;

	(void)argv;
	(void)argc;
	if ((g = status_gen_ok()) != NULL) {
		gen_key(g, "commands");
		yajl_gen_array_open(g);
		for (i = 0; i < SB_STATUS_NCMDS; i++) {
			cmd = sb_status_command(i);
			yajl_gen_map_open(g);
			gen_str(g, "name", cmd->name);
			gen_str(g, "args", cmd->args);
			gen_bool(g, "admin", cmd->changes);
			gen_str(g, "summary", cmd->summary);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
	}
	status_send(c, g);
}
