/*
 * sbctl.c: the command-line client of switchboardd. It publishes notices and
 * pings over the wire protocol, and, without a daemon, checks a config and
 * dry-runs the routing of a notice with the daemon's own modules. Commands
 * are rows of one table, so that new ones (the status-socket commands) plug
 * in beside these.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>
#include <zmq.h>

#include "classify.h"
#include "config.h"
#include "duration.h"
#include "envelope.h"
#include "log.h"
#include "notice.h"
#include "report.h"
#include "route.h"
#include "sb_protocol.h"
#include "sb_status.h"

/* Exit codes: documented in docs/sbctl.md. */
#define SBCTL_EXIT_OK		0	/* done; the daemon said ok */
#define SBCTL_EXIT_FAIL		1	/* refused: error reply, bad notice */
#define SBCTL_EXIT_USAGE	2	/* bad usage, or no answer at all */

#define SBCTL_TIMEOUT_MS	5000
/* A notice read for publish; the daemon's own limit is far below. */
#define SBCTL_INPUT_MAX		(16 * 1024 * 1024)
/* A status answer: "pending" of a million notices is about 100 MB. */
#define SBCTL_ANSWER_MAX	((size_t)1024 * 1024 * 1024)
#define SBCTL_READ_CHUNK	65536

struct sbctl_cmd {
	const char	*name;
	const char	*args;		/* usage after the name */
	const char	*summary;
	int		(*run)(const struct sbctl_cmd *, int, char **);
};

/* A notice as given by publish's flags, kept as strings: the daemon judges. */
struct sbctl_notice {
	int		 given;		/* any notice flag at all */
	const char	*id;
	const char	*source;
	const char	**audience;
	size_t		 naudience;
	const char	*subject;
	const char	*body;
	const char	*priority;
	const char	*goal;
	const char	*class;
	const char	*respond_within;
	const char	**tags;		/* "KEY=VALUE" */
	size_t		 ntags;
	int		 anonymous;
};

/* Where and how long to ask the daemon. */
struct sbctl_peer {
	const char	*endpoint;
	int64_t		 timeout_ms;
};

/* The same for the status socket, and how to show its answer. */
struct sbctl_sock {
	const char	*path;		/* -s */
	const char	*config;	/* -c */
	int64_t		 timeout_ms;
	int		 json;
};

struct sbctl_table;

static int	cmd_publish(const struct sbctl_cmd *, int, char **);
static int	cmd_ping(const struct sbctl_cmd *, int, char **);
static int	cmd_route(const struct sbctl_cmd *, int, char **);
static int	cmd_check(const struct sbctl_cmd *, int, char **);
static int	cmd_help(const struct sbctl_cmd *, int, char **);
static int	cmd_report(const struct sbctl_cmd *, int, char **);
static int	cmd_keygen(const struct sbctl_cmd *, int, char **);
static int	sbctl_key_open(const char *, const char *, mode_t, int,
		    char *, size_t);
static int	sbctl_key_write(int, const char *, const char *, const char *,
		    const char *);
static int	sbctl_report(const struct sbctl_cmd *, const char *,
		    const char *, const char *, const char *, const char *,
		    const char *);
static int	cmd_socket(const struct sbctl_cmd *, int, char **);

static const struct sbctl_cmd *sbctl_find(const char *);
static void	sbctl_usage(FILE *);
static int	sbctl_command_help(const struct sbctl_cmd *);
static int	sbctl_usage_error(const struct sbctl_cmd *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	sbctl_bad_option(const struct sbctl_cmd *, int, int, char **);
static void	sbctl_peer_init(struct sbctl_peer *);
static int	sbctl_peer_option(const struct sbctl_cmd *,
		    struct sbctl_peer *, int, const char *);
static int	sbctl_list_add(const char ***, size_t *, const char *);
static int	sbctl_notice_flag(struct sbctl_notice *, int, const char *);
static char	*sbctl_publish_stdin(size_t *, char *, size_t);
static char	*sbctl_read(FILE *, size_t, size_t *, char *, size_t);
static char	*sbctl_notice_json(const struct sbctl_notice *, size_t *,
		    char *, size_t);
static int	sbctl_gen_tags(yajl_gen, const struct sbctl_notice *, char *,
		    size_t);
static int	sbctl_gen_str(yajl_gen, const char *, const char *);
static char	*sbctl_gen_take(yajl_gen, size_t *);
static int64_t	sbctl_now_ms(void);
static int	sbctl_request(const struct sbctl_peer *, const char *, size_t,
		    char **, size_t *, char *, size_t);
static int	sbctl_recv_last(void *, char **, size_t *, char *, size_t);
static int	sbctl_exchange(const struct sbctl_peer *, const char *,
		    size_t);
static int	sbctl_reply_judge(const char *);
static struct config *sbctl_config(const char *);
static int	sbctl_route_print(const struct config *,
		    const struct notice *, const struct route_result *, int);
static int	sbctl_route_refuse(const struct envelope_error *, int);
static int	sbctl_socket_path(const struct sbctl_sock *, char *, size_t,
		    char *, size_t);
static int	sbctl_config_socket(const char *, char *, size_t, char *,
		    size_t);
static int	sbctl_connect(const char *, char *, size_t);
static int	sbctl_wait(int, const char *, int64_t, char *, size_t);
static int	sbctl_ask(const char *, const char *, int64_t, char **,
		    size_t *, char *, size_t);
static int	sbctl_socket_line(const struct sbctl_cmd *,
		    const struct sb_status_command *, int, char **, char *,
		    size_t);
static int	sbctl_socket_exchange(const struct sbctl_sock *,
		    enum sb_status_cmd, const char *, const char *);
static void	sbctl_print_errors(yajl_val);
static void	sbctl_print_lines(const char *, yajl_val);
static yajl_val	jv(yajl_val, const char *);
static const char *js(yajl_val, const char *);
static long long ji(yajl_val, const char *);
static const char *jnum(yajl_val, const char *, char *, size_t);
static const char *jlist(yajl_val, const char *, char *, size_t);
static const char *sbctl_span(long long, char *, size_t);
static const char *sbctl_when(const char *, char *, size_t);
static void	sbctl_table_add(struct sbctl_table *, const char *);
static void	sbctl_table_print(struct sbctl_table *);
static void	sbctl_table_free(struct sbctl_table *);
static const char *sbctl_match(yajl_val, char *, size_t);
static void	sbctl_print_status(yajl_val);
static void	sbctl_print_status_channels(yajl_val);
static void	sbctl_print_status_escalations(yajl_val);
static void	sbctl_print_channels(yajl_val);
static void	sbctl_print_routes(yajl_val);
static void	sbctl_print_pending(yajl_val);
static void	sbctl_print_message(yajl_val);
static void	sbctl_print_message_deliveries(yajl_val);
static void	sbctl_print_ack(yajl_val);
static void	sbctl_print_pause(yajl_val);
static void	sbctl_print_reload(yajl_val);

/* How each status command's answer is shown to people (sb_status.h). */
static void (*const sbctl_printers[SB_STATUS_NCMDS])(yajl_val) = {
	[SB_STATUS_STATUS] = sbctl_print_status,
	[SB_STATUS_CHANNELS] = sbctl_print_channels,
	[SB_STATUS_ROUTES] = sbctl_print_routes,
	[SB_STATUS_PENDING] = sbctl_print_pending,
	[SB_STATUS_MESSAGE] = sbctl_print_message,
	[SB_STATUS_ACK] = sbctl_print_ack,
	[SB_STATUS_PAUSE] = sbctl_print_pause,
	[SB_STATUS_RESUME] = sbctl_print_pause,
	[SB_STATUS_RELOAD] = sbctl_print_reload,
};

/* The options of every status command (cmd_socket). */
#define SBCTL_SOCKET_OPTIONS	"[-s SOCKET | -c FILE] [--json] [--timeout DUR]"

static const struct sbctl_cmd sbctl_cmds[] = {
	{ "publish",
	  "[-e ENDPOINT] [--timeout DUR] [--source S]\n"
	  "\t[--audience A]... [--subject S] [--body B] [--priority P]\n"
	  "\t[--goal G] [--class C] [--respond-within DUR]\n"
	  "\t[--tag KEY=VALUE]... [--id ID] [--anonymous] [-]",
	  "send a notice built from the flags, or read from stdin",
	  cmd_publish },
	{ "ping", "[-e ENDPOINT] [--timeout DUR]",
	  "ask the daemon whether it answers", cmd_ping },
	{ "route", "[-c FILE] [--json]",
	  "dry run: the class and channels of a notice read from stdin",
	  cmd_route },
	{ "check", "[-c FILE]",
	  "validate a config file, as switchboardd -t does", cmd_check },
	{ "status", SBCTL_SOCKET_OPTIONS,
	  "uptime, config, last reload, counts, channels, next escalations",
	  cmd_socket },
	{ "channels", SBCTL_SOCKET_OPTIONS,
	  "every channel: state, queue, counters, last error", cmd_socket },
	{ "routes", SBCTL_SOCKET_OPTIONS,
	  "the routes of the running config", cmd_socket },
	{ "pending", SBCTL_SOCKET_OPTIONS " [N]",
	  "notices with deliveries still pending, oldest first", cmd_socket },
	{ "message", SBCTL_SOCKET_OPTIONS " ID",
	  "one notice: its deliveries, response and escalations",
	  cmd_socket },
	{ "ack", SBCTL_SOCKET_OPTIONS " ID BY...",
	  "acknowledge an interactive notice on behalf of BY (admins)",
	  cmd_socket },
	{ "pause", SBCTL_SOCKET_OPTIONS " CHANNEL",
	  "start no new delivery on a channel (admins)", cmd_socket },
	{ "resume", SBCTL_SOCKET_OPTIONS " CHANNEL",
	  "let a paused channel deliver again (admins)", cmd_socket },
	{ "reload", SBCTL_SOCKET_OPTIONS,
	  "re-read the config; on any error the running one stays (admins)",
	  cmd_socket },
	{ "report", "[-c FILE] [--spool PATH] [--since WHEN] [--until WHEN]\n"
	  "\t[--format text|json|html] [-o FILE]",
	  "figures from the spool: channels, pilots, responses, satisfaction",
	  cmd_report },
	{ "keygen", "[-f] BASE",
	  "a CURVE key pair for ingress: BASE.key (secret) and BASE.pub",
	  cmd_keygen },
	{ "help", "[COMMAND]", "show this help, or one command's",
	  cmd_help },
};
#define SBCTL_NCMDS	(sizeof(sbctl_cmds) / sizeof(sbctl_cmds[0]))

/*
 * Long options without a short form have codes above 127, so that a bad one
 * is told apart from a bad short option (sbctl_bad_option).
 */
#define SBCTL_OPT_TIMEOUT	0x100
#define SBCTL_OPT_HELP		0x101
#define SBCTL_OPT_JSON		0x102
/* Options every daemon-facing command takes. */
#define SBCTL_PEER_OPTIONS \
	{ "endpoint", required_argument, NULL, 'e' }, \
	{ "timeout", required_argument, NULL, SBCTL_OPT_TIMEOUT }, \
	{ "help", no_argument, NULL, SBCTL_OPT_HELP }
/* publish's notice flags. */
enum sbctl_notice_flag {
	O_SOURCE = 0x200, O_AUDIENCE, O_SUBJECT, O_BODY, O_PRIORITY, O_GOAL,
	O_CLASS, O_RESPOND, O_TAG, O_ID, O_ANON
};
/* report's. */
enum sbctl_report_flag {
	O_SPOOL = 0x300, O_SINCE, O_UNTIL, O_FORMAT
};

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, SBCTL_OPT_HELP },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct sbctl_cmd *cmd;
	int ch;

	log_init("sbctl", LOG_LEVEL_WARN);
	opterr = 0;
	/* "+": stop at the command, whose own flags are its own. */
	while ((ch = getopt_long(argc, argv, "+:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
		case SBCTL_OPT_HELP:
			sbctl_usage(stdout);
			return (SBCTL_EXIT_OK);
		case 'V':
			printf("sbctl %s (protocol v%d)\n", SB_VERSION,
			    SB_PROTOCOL_VERSION);
			return (SBCTL_EXIT_OK);
		default:
			return (sbctl_bad_option(NULL, ch, argc, argv));
		}
	}
	if (optind >= argc)
		return (sbctl_usage_error(NULL, "no command given"));
	if ((cmd = sbctl_find(argv[optind])) == NULL)
		return (sbctl_usage_error(NULL, "unknown command '%s'",
		    argv[optind]));
	argc -= optind;
	argv += optind;
	optind = 0;	/* glibc: start afresh on the command's argv */
	return (cmd->run(cmd, argc, argv));
}

static const struct sbctl_cmd *
sbctl_find(const char *name)
{
	size_t i;

	for (i = 0; i < SBCTL_NCMDS; i++)
		if (strcmp(sbctl_cmds[i].name, name) == 0)
			return (&sbctl_cmds[i]);
	return (NULL);
}

static void
sbctl_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: sbctl [-hV] COMMAND [ARGS]\n\ncommands:\n");
	for (i = 0; i < SBCTL_NCMDS; i++)
		fprintf(f, "  %-10s %s\n", sbctl_cmds[i].name,
		    sbctl_cmds[i].summary);
	fprintf(f, "\nThe endpoint is -e, else $SB_ENDPOINT, else %s.\n"
	    "The status socket is -s, else -c FILE's status.socket, else "
	    "$SB_STATUS,\nelse %s's.\n"
	    "Exit: 0 ok; 1 refused (error reply, invalid notice or config);"
	    " 2 usage error\nor no answer. 'sbctl help COMMAND' for one"
	    " command; docs/sbctl.md for all.\n", SB_DEFAULT_ENDPOINT,
	    SB_DEFAULT_CONFIG);
}

/* One line naming what is wrong and where help is; exit code 2. */
static int
sbctl_usage_error(const struct sbctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sbctl%s%s: ", cmd != NULL ? " " : "",
	    cmd != NULL ? cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try 'sbctl help%s%s')\n", cmd != NULL ? " " : "",
	    cmd != NULL ? cmd->name : "");
	return (SBCTL_EXIT_USAGE);
}

/*
 * getopt_long returned '?' or ':' (opterr is off so that the message is
 * ours). A short option is named by optopt; a long one (whose codes are all
 * above 127) by the word getopt just passed.
 */
static int
sbctl_bad_option(const struct sbctl_cmd *cmd, int ch, int argc, char **argv)
{
	const char *word = optind > 0 && optind - 1 < argc ?
	    argv[optind - 1] : "";

	if (ch == ':')
		return (sbctl_usage_error(cmd, "option '%s' needs a value",
		    word));
	if (optopt > 0 && optopt < 128)
		return (sbctl_usage_error(cmd, "unknown option '-%c'",
		    optopt));
	if (strchr(word, '=') != NULL)
		return (sbctl_usage_error(cmd, "'%s': unknown option, or one "
		    "that takes no value", word));
	return (sbctl_usage_error(cmd, "unknown option '%s'", word));
}

static void
sbctl_peer_init(struct sbctl_peer *peer)
{
	const char *env = getenv("SB_ENDPOINT");

	peer->endpoint = env != NULL && *env != '\0' ? env :
	    SB_DEFAULT_ENDPOINT;
	peer->timeout_ms = SBCTL_TIMEOUT_MS;
}

/* -e and --timeout: 0 when taken, 1 when not one of them, else exit code. */
static int
sbctl_peer_option(const struct sbctl_cmd *cmd, struct sbctl_peer *peer,
    int ch, const char *arg)
{
	switch (ch) {
	case 'e':
		if (*arg == '\0')
			return (sbctl_usage_error(cmd, "-e: empty endpoint"));
		peer->endpoint = arg;
		return (0);
	case SBCTL_OPT_TIMEOUT:
		if (duration_parse(arg, &peer->timeout_ms) != 0)
			return (sbctl_usage_error(cmd, "--timeout: '%s' is "
			    "not a duration (such as 500ms, 5s, 2m)", arg));
		return (0);
	}
	return (1);
}

static int
sbctl_list_add(const char ***list, size_t *n, const char *s)
{
	const char **grown;

	if ((grown = reallocarray(*list, *n + 1, sizeof(**list))) == NULL)
		return (-1);
	grown[(*n)++] = s;
	*list = grown;
	return (0);
}

/*
 * All of f, up to max bytes; more than max leaves max + 1 read, so that the
 * caller can tell (the daemon answers too_large without reading further).
 */
static char *
sbctl_read(FILE *f, size_t max, size_t *len, char *err, size_t errlen)
{
	char *buf = NULL, *grown;
	size_t size = 0, n = 0, got;

	for (;;) {
		/* Room for at least one byte and the NUL. */
		if (size - n < 2) {
			size = size == 0 ? 4096 : size * 2;
			if (size > max + 2)
				size = max + 2;
			if ((grown = realloc(buf, size)) == NULL) {
				snprintf(err, errlen, "out of memory");
				free(buf);
				return (NULL);
			}
			buf = grown;
		}
		got = fread(buf + n, 1, size - 1 - n, f);
		n += got;
		if (n > max || got == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s", strerror(errno));
		free(buf);
		return (NULL);
	}
	buf[n] = '\0';
	*len = n;
	return (buf);
}

static int
sbctl_gen_str(yajl_gen g, const char *key, const char *value)
{
	if (value == NULL)
		return (0);
	if (yajl_gen_string(g, (const unsigned char *)key,
	    strlen(key)) != yajl_gen_status_ok ||
	    yajl_gen_string(g, (const unsigned char *)value,
	    strlen(value)) != yajl_gen_status_ok)
		return (-1);
	return (0);
}

/* "tags": {...} from KEY=VALUE words; a word without '=' is a usage error. */
static int
sbctl_gen_tags(yajl_gen g, const struct sbctl_notice *sn, char *err,
    size_t errlen)
{
	const char *eq;
	size_t i;

	if (sn->ntags == 0)
		return (0);
	yajl_gen_string(g, (const unsigned char *)"tags", 4);
	yajl_gen_map_open(g);
	for (i = 0; i < sn->ntags; i++) {
		if ((eq = strchr(sn->tags[i], '=')) == NULL) {
			snprintf(err, errlen, "--tag: '%s' is not KEY=VALUE",
			    sn->tags[i]);
			return (-1);
		}
		if (yajl_gen_string(g, (const unsigned char *)sn->tags[i],
		    (size_t)(eq - sn->tags[i])) != yajl_gen_status_ok ||
		    yajl_gen_string(g, (const unsigned char *)eq + 1,
		    strlen(eq + 1)) != yajl_gen_status_ok) {
			snprintf(err, errlen, "--tag: cannot encode '%s'",
			    sn->tags[i]);
			return (-1);
		}
	}
	yajl_gen_map_close(g);
	return (0);
}

/* A copy of what g wrote, as a string; frees g. */
static char *
sbctl_gen_take(yajl_gen g, size_t *len)
{
	const unsigned char *buf;
	char *copy = NULL;

	if (yajl_gen_get_buf(g, &buf, len) == yajl_gen_status_ok &&
	    (copy = malloc(*len + 1)) != NULL) {
		memcpy(copy, buf, *len);
		copy[*len] = '\0';
	}
	yajl_gen_free(g);
	return (copy);
}

/*
 * The request JSON for the flags given, in the field order of SPEC §2.1.
 * Values are passed as written: whether they are valid is the daemon's call.
 */
static char *
sbctl_notice_json(const struct sbctl_notice *sn, size_t *len, char *err,
    size_t errlen)
{
	yajl_gen g;
	size_t i;
	int rc = 0;

	if ((g = yajl_gen_alloc(NULL)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"v", 1);
	yajl_gen_integer(g, SB_PROTOCOL_VERSION);
	rc |= sbctl_gen_str(g, "id", sn->id);
	rc |= sbctl_gen_str(g, "source", sn->source);
	if (sn->naudience > 0) {
		yajl_gen_string(g, (const unsigned char *)"audience", 8);
		yajl_gen_array_open(g);
		for (i = 0; i < sn->naudience; i++)
			rc |= yajl_gen_string(g,
			    (const unsigned char *)sn->audience[i],
			    strlen(sn->audience[i])) != yajl_gen_status_ok;
		yajl_gen_array_close(g);
	}
	rc |= sbctl_gen_str(g, "subject", sn->subject);
	rc |= sbctl_gen_str(g, "body", sn->body);
	rc |= sbctl_gen_str(g, "priority", sn->priority);
	rc |= sbctl_gen_str(g, "goal", sn->goal);
	rc |= sbctl_gen_str(g, "class", sn->class);
	rc |= sbctl_gen_str(g, "respond_within", sn->respond_within);
	if (rc != 0)
		snprintf(err, errlen, "cannot encode the notice as JSON");
	else if (sbctl_gen_tags(g, sn, err, errlen) != 0)
		rc = -1;
	if (rc != 0) {
		yajl_gen_free(g);
		return (NULL);
	}
	if (sn->anonymous) {
		yajl_gen_string(g, (const unsigned char *)"anonymous", 9);
		yajl_gen_bool(g, 1);
	}
	yajl_gen_map_close(g);
	return (sbctl_gen_take(g, len));
}

static int64_t
sbctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Receive one whole message and keep its last frame (the JSON). */
static int
sbctl_recv_last(void *sock, char **reply, size_t *len, char *err,
    size_t errlen)
{
	zmq_msg_t frame;
	int more;

	*reply = NULL;
	do {
		zmq_msg_init(&frame);
		if (zmq_msg_recv(&frame, sock, ZMQ_DONTWAIT) == -1) {
			snprintf(err, errlen, "receive: %s",
			    zmq_strerror(zmq_errno()));
			zmq_msg_close(&frame);
			free(*reply);
			return (-1);
		}
		more = zmq_msg_more(&frame);
		free(*reply);
		*len = zmq_msg_size(&frame);
		if ((*reply = malloc(*len + 1)) != NULL) {
			memcpy(*reply, zmq_msg_data(&frame), *len);
			(*reply)[*len] = '\0';
		}
		zmq_msg_close(&frame);
		if (*reply == NULL) {
			snprintf(err, errlen, "out of memory");
			return (-1);
		}
	} while (more);
	return (0);
}

/*
 * One request, one reply, over a DEALER. Without a peer yet, ZeroMQ queues
 * the request and sends it as soon as the daemon is reachable, so a timeout
 * also covers a daemon that is still starting. Returns 0 with the reply, or
 * -1 with err saying why there is none.
 */
static int
sbctl_request(const struct sbctl_peer *peer, const char *req, size_t len,
    char **reply, size_t *replylen, char *err, size_t errlen)
{
	void *ctx, *sock;
	zmq_pollitem_t item;
	int64_t deadline = sbctl_now_ms() + peer->timeout_ms, left;
	int linger = 0, rc = -1, n = 0;

	if ((ctx = zmq_ctx_new()) == NULL) {
		snprintf(err, errlen, "zmq_ctx_new: %s",
		    zmq_strerror(zmq_errno()));
		return (-1);
	}
	if ((sock = zmq_socket(ctx, ZMQ_DEALER)) == NULL) {
		snprintf(err, errlen, "zmq_socket: %s",
		    zmq_strerror(zmq_errno()));
		goto out;
	}
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof(linger));
	if (zmq_connect(sock, peer->endpoint) != 0) {
		snprintf(err, errlen, "cannot connect to '%s': %s",
		    peer->endpoint, zmq_strerror(zmq_errno()));
		goto out;
	}
	if (zmq_send(sock, req, len, ZMQ_DONTWAIT) == -1) {
		snprintf(err, errlen, "send to %s: %s", peer->endpoint,
		    zmq_strerror(zmq_errno()));
		goto out;
	}
	item.socket = sock;
	item.events = ZMQ_POLLIN;
	while ((left = deadline - sbctl_now_ms()) > 0) {
		item.revents = 0;
		if ((n = zmq_poll(&item, 1, (long)left)) != 0)
			break;
	}
	if (n == -1)
		snprintf(err, errlen, "poll: %s", zmq_strerror(zmq_errno()));
	else if (n == 0) {
		char dur[32];

		duration_format(peer->timeout_ms, dur, sizeof(dur));
		snprintf(err, errlen, "no answer from %s within %s \xe2\x80\x94"
		    " is switchboardd running?", peer->endpoint, dur);
	} else
		rc = sbctl_recv_last(sock, reply, replylen, err, errlen);
out:
	if (sock != NULL)
		zmq_close(sock);
	zmq_ctx_term(ctx);
	return (rc);
}

/*
 * Exit code for a reply: 0 for {"ok":true}. An error reply is also told on
 * stderr in one line, for the person at the terminal.
 */
static int
sbctl_reply_judge(const char *reply)
{
	static const char *ok_path[] = { "ok", NULL };
	static const char *code_path[] = { "error", "code", NULL };
	static const char *field_path[] = { "error", "field", NULL };
	static const char *msg_path[] = { "error", "message", NULL };
	yajl_val tree, code, field, msg;
	char errbuf[256];

	if ((tree = yajl_tree_parse(reply, errbuf, sizeof(errbuf))) == NULL) {
		fprintf(stderr, "sbctl: the reply is not JSON: %s\n", errbuf);
		return (SBCTL_EXIT_FAIL);
	}
	if (yajl_tree_get(tree, ok_path, yajl_t_true) != NULL) {
		yajl_tree_free(tree);
		return (SBCTL_EXIT_OK);
	}
	code = yajl_tree_get(tree, code_path, yajl_t_string);
	field = yajl_tree_get(tree, field_path, yajl_t_string);
	if (field != NULL && *YAJL_GET_STRING(field) == '\0')
		field = NULL;
	msg = yajl_tree_get(tree, msg_path, yajl_t_string);
	fprintf(stderr, "sbctl: refused: %s%s%s%s: %s\n",
	    code != NULL ? YAJL_GET_STRING(code) : "(no code)",
	    field != NULL ? " (field " : "",
	    field != NULL ? YAJL_GET_STRING(field) : "",
	    field != NULL ? ")" : "",
	    msg != NULL ? YAJL_GET_STRING(msg) : "(no message)");
	yajl_tree_free(tree);
	return (SBCTL_EXIT_FAIL);
}

/* Send a request, print the reply on stdout; the exit code. */
static int
sbctl_exchange(const struct sbctl_peer *peer, const char *req, size_t len)
{
	char err[512], *reply;
	size_t replylen;
	int rc;

	if (sbctl_request(peer, req, len, &reply, &replylen, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "sbctl: %s\n", err);
		return (SBCTL_EXIT_USAGE);
	}
	fwrite(reply, 1, replylen, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	rc = sbctl_reply_judge(reply);
	free(reply);
	return (rc);
}

/* Record one notice flag; -1 when out of memory. */
static int
sbctl_notice_flag(struct sbctl_notice *sn, int ch, const char *arg)
{
	sn->given = 1;
	switch (ch) {
	case O_SOURCE:
		sn->source = arg;
		break;
	case O_AUDIENCE:
		return (sbctl_list_add(&sn->audience, &sn->naudience, arg));
	case O_SUBJECT:
		sn->subject = arg;
		break;
	case O_BODY:
		sn->body = arg;
		break;
	case O_PRIORITY:
		sn->priority = arg;
		break;
	case O_GOAL:
		sn->goal = arg;
		break;
	case O_CLASS:
		sn->class = arg;
		break;
	case O_RESPOND:
		sn->respond_within = arg;
		break;
	case O_TAG:
		return (sbctl_list_add(&sn->tags, &sn->ntags, arg));
	case O_ID:
		sn->id = arg;
		break;
	case O_ANON:
		sn->anonymous = 1;
		break;
	}
	return (0);
}

/* The request as written on stdin, byte for byte: the daemon judges it. */
static char *
sbctl_publish_stdin(size_t *len, char *err, size_t errlen)
{
	char readerr[128], *req;

	if (isatty(STDIN_FILENO))
		fprintf(stderr, "sbctl: no notice flags: reading a JSON notice "
		    "from stdin (end with ^D)\n");
	if ((req = sbctl_read(stdin, SBCTL_INPUT_MAX, len, readerr,
	    sizeof(readerr))) == NULL) {
		snprintf(err, errlen, "stdin: %s", readerr);
		return (NULL);
	}
	if (*len > SBCTL_INPUT_MAX) {
		snprintf(err, errlen, "stdin: more than %d bytes",
		    SBCTL_INPUT_MAX);
		free(req);
		return (NULL);
	}
	return (req);
}

/* publish: a notice from the flags, or from stdin when none is given. */
static int
cmd_publish(const struct sbctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		SBCTL_PEER_OPTIONS,
		{ "source", required_argument, NULL, O_SOURCE },
		{ "audience", required_argument, NULL, O_AUDIENCE },
		{ "subject", required_argument, NULL, O_SUBJECT },
		{ "body", required_argument, NULL, O_BODY },
		{ "priority", required_argument, NULL, O_PRIORITY },
		{ "goal", required_argument, NULL, O_GOAL },
		{ "class", required_argument, NULL, O_CLASS },
		{ "respond-within", required_argument, NULL, O_RESPOND },
		{ "tag", required_argument, NULL, O_TAG },
		{ "id", required_argument, NULL, O_ID },
		{ "anonymous", no_argument, NULL, O_ANON },
		{ NULL, 0, NULL, 0 }
	};
	struct sbctl_notice sn;
	struct sbctl_peer peer;
	char err[256], *req = NULL;
	size_t len;
	int ch, rc = -1;

	memset(&sn, 0, sizeof(sn));
	sbctl_peer_init(&peer);
	while ((ch = getopt_long(argc, argv, ":e:h", opts, NULL)) != -1) {
		if (ch == 'h' || ch == SBCTL_OPT_HELP) {
			rc = sbctl_command_help(cmd);
			goto out;
		}
		if (ch == '?' || ch == ':') {
			rc = sbctl_bad_option(cmd, ch, argc, argv);
			goto out;
		}
		if ((rc = sbctl_peer_option(cmd, &peer, ch, optarg)) != 1) {
			if (rc != 0)
				goto out;
			continue;
		}
		if (sbctl_notice_flag(&sn, ch, optarg) != 0) {
			fprintf(stderr, "sbctl: out of memory\n");
			rc = SBCTL_EXIT_USAGE;
			goto out;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 1 || (argc == 1 && strcmp(argv[0], "-") != 0)) {
		rc = sbctl_usage_error(cmd, "unexpected argument '%s'",
		    argv[strcmp(argv[0], "-") == 0 ? 1 : 0]);
		goto out;
	}
	if (argc == 1 && sn.given) {
		rc = sbctl_usage_error(cmd, "'-' reads the notice from stdin; "
		    "it cannot be mixed with notice flags");
		goto out;
	}
	if (sn.given)
		req = sbctl_notice_json(&sn, &len, err, sizeof(err));
	else
		req = sbctl_publish_stdin(&len, err, sizeof(err));
	if (req == NULL) {
		rc = sbctl_usage_error(cmd, "%s", err);
		goto out;
	}
	rc = sbctl_exchange(&peer, req, len);
out:
	free(req);
	free(sn.audience);
	free(sn.tags);
	return (rc);
}

/* ping: whether the daemon answers (the wait of start-up scripts). */
static int
cmd_ping(const struct sbctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		SBCTL_PEER_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	struct sbctl_peer peer;
	char req[64];
	int ch, rc, len;

	sbctl_peer_init(&peer);
	while ((ch = getopt_long(argc, argv, ":e:h", opts, NULL)) != -1) {
		if (ch == 'h' || ch == SBCTL_OPT_HELP)
			return (sbctl_command_help(cmd));
		if (ch == '?' || ch == ':')
			return (sbctl_bad_option(cmd, ch, argc, argv));
		if ((rc = sbctl_peer_option(cmd, &peer, ch, optarg)) != 0)
			return (rc);
	}
	if (optind < argc)
		return (sbctl_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind]));
	len = snprintf(req, sizeof(req), "{\"v\":%d,\"type\":\"ping\"}",
	    SB_PROTOCOL_VERSION);
	return (sbctl_exchange(&peer, req, (size_t)len));
}

/* Load a config, or print each of its errors and return NULL. */
static struct config *
sbctl_config(const char *path)
{
	struct config_errors errs;
	struct config *cf;
	size_t i;

	memset(&errs, 0, sizeof(errs));
	if ((cf = config_load(path, &errs)) != NULL) {
		config_errors_clear(&errs);
		return (cf);
	}
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	if (errs.dropped > 0)
		fprintf(stderr, "%s: %zu more errors not shown\n", path,
		    errs.dropped);
	if (errs.n == 0)
		fprintf(stderr, "%s: cannot load the config\n", path);
	config_errors_clear(&errs);
	return (NULL);
}

/*
 * The error the daemon would reply: a line on stderr and, with --json, the
 * reply object itself on stdout.
 */
static int
sbctl_route_refuse(const struct envelope_error *e, int json)
{
	char *reply;
	size_t len;

	fprintf(stderr, "sbctl: refused: %s%s%s%s: %s\n",
	    sb_error_name(e->code), e->field[0] != '\0' ? " (field " : "",
	    e->field, e->field[0] != '\0' ? ")" : "", e->message);
	if (json && (reply = envelope_reply_error(e, &len)) != NULL) {
		fwrite(reply, 1, len, stdout);
		fputc('\n', stdout);
		free(reply);
	}
	return (SBCTL_EXIT_FAIL);
}

static int
sbctl_route_print(const struct config *cf, const struct notice *n,
    const struct route_result *res, int json)
{
	const char *name, *cls = notice_class_name(n->class);
	yajl_gen g;
	char *out;
	size_t i, len;
	int pilot;

	if (!json) {
		printf("class: %s\nchannels: ", cls);
		for (i = 0; i < res->ntargets; i++)
			printf("%s%s%s", i > 0 ? ", " : "",
			    cf->channels[res->targets[i].channel].name,
			    res->targets[i].pilot ? " (pilot)" : "");
		printf("\n");
		return (SBCTL_EXIT_OK);
	}
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (SBCTL_EXIT_FAIL);
	yajl_gen_map_open(g);
	sbctl_gen_str(g, "class", cls);
	/* "channels" is every target, "pilot" those that are shadow copies. */
	for (pilot = 0; pilot <= 1; pilot++) {
		yajl_gen_string(g, (const unsigned char *)(pilot ? "pilot" :
		    "channels"), pilot ? 5 : 8);
		yajl_gen_array_open(g);
		for (i = 0; i < res->ntargets; i++) {
			if (pilot && !res->targets[i].pilot)
				continue;
			name = cf->channels[res->targets[i].channel].name;
			yajl_gen_string(g, (const unsigned char *)name,
			    strlen(name));
		}
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
	if ((out = sbctl_gen_take(g, &len)) == NULL)
		return (SBCTL_EXIT_FAIL);
	printf("%s\n", out);
	free(out);
	return (SBCTL_EXIT_OK);
}

/* route: what the daemon would do with a notice, without a daemon. */
static int
cmd_route(const struct sbctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, SBCTL_OPT_JSON },
		{ "help", no_argument, NULL, SBCTL_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	struct envelope env;
	struct envelope_error e;
	struct route_result res;
	struct config *cf;
	struct timespec now;
	const char *path = SB_DEFAULT_CONFIG;
	char readerr[256], *buf;
	size_t len;
	int ch, json = 0, rc;

	while ((ch = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case SBCTL_OPT_JSON:
			json = 1;
			break;
		case 'h':
		case SBCTL_OPT_HELP:
			return (sbctl_command_help(cmd));
		default:
			return (sbctl_bad_option(cmd, ch, argc, argv));
		}
	}
	if (optind < argc)
		return (sbctl_usage_error(cmd, "unexpected argument '%s' (the "
		    "notice is read from stdin)", argv[optind]));
	if ((cf = sbctl_config(path)) == NULL)
		return (SBCTL_EXIT_FAIL);
	/* One byte past the limit is enough for too_large, as the daemon. */
	if ((buf = sbctl_read(stdin, (size_t)cf->max_message_size, &len,
	    readerr, sizeof(readerr))) == NULL) {
		fprintf(stderr, "sbctl: stdin: %s\n", readerr);
		config_free(cf);
		return (SBCTL_EXIT_FAIL);
	}
	memset(&env, 0, sizeof(env));
	memset(&e, 0, sizeof(e));
	if (envelope_parse(buf, len, (size_t)cf->max_message_size, &env,
	    &e) != 0)
		rc = sbctl_route_refuse(&e, json);
	else if (env.type != ENVELOPE_NOTICE) {
		fprintf(stderr, "sbctl: route: the input is %s, not a "
		    "notice\n", env.type == ENVELOPE_ACK ? "an ack" : "a ping");
		rc = SBCTL_EXIT_FAIL;
	} else {
		/* As the broker would: pilot sampling hashes the id. */
		if (env.notice->id[0] == '\0')
			notice_assign_id(env.notice);
		if (env.notice->received_ms == 0) {
			clock_gettime(CLOCK_REALTIME, &now);
			env.notice->received_ms = (int64_t)now.tv_sec * 1000 +
			    now.tv_nsec / 1000000;
		}
		env.notice->class = classify_notice(cf, env.notice);
		memset(&res, 0, sizeof(res));
		if (route_notice(cf, env.notice, &res) == 0) {
			envelope_error_set(&e, SB_ERR_NO_ROUTE, "", "%s",
			    res.reason);
			snprintf(e.id, sizeof(e.id), "%s", env.notice->id);
			rc = sbctl_route_refuse(&e, json);
		} else
			rc = sbctl_route_print(cf, env.notice, &res, json);
	}
	envelope_clear(&env);
	free(buf);
	config_free(cf);
	return (rc);
}

/* check: validate a config file and say so. */
static int
cmd_check(const struct sbctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, SBCTL_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	struct config *cf;
	const char *path = SB_DEFAULT_CONFIG;
	int ch;

	while ((ch = getopt_long(argc, argv, ":c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
		case SBCTL_OPT_HELP:
			return (sbctl_command_help(cmd));
		default:
			return (sbctl_bad_option(cmd, ch, argc, argv));
		}
	}
	if (optind < argc)
		return (sbctl_usage_error(cmd, "unexpected argument '%s' (the "
		    "file is given with -c)", argv[optind]));
	if ((cf = sbctl_config(path)) == NULL)
		return (SBCTL_EXIT_FAIL);
	printf("%s: ok\n", path);
	config_free(cf);
	return (SBCTL_EXIT_OK);
}

/*
 * The status socket (docs/operations.md): where it is. -s wins, then the
 * status.socket of -c FILE, then $SB_STATUS, then the default config's.
 */
static int
sbctl_socket_path(const struct sbctl_sock *sk, char *buf, size_t len,
    char *err, size_t errlen)
{
	const char *env = getenv("SB_STATUS");

	if (sk->path != NULL) {
		strlcpy(buf, sk->path, len);
		return (0);
	}
	if (sk->config == NULL && env != NULL && *env != '\0') {
		strlcpy(buf, env, len);
		return (0);
	}
	return (sbctl_config_socket(sk->config != NULL ? sk->config :
	    SB_DEFAULT_CONFIG, buf, len, err, errlen));
}

/*
 * status.socket of a config file, read with libconfig alone: a file with
 * a mistake elsewhere still tells where its daemon listens.
 */
static int
sbctl_config_socket(const char *file, char *buf, size_t len, char *err,
    size_t errlen)
{
	const char *s = SB_STATUS_DEFAULT_SOCKET;
	config_t lc;
	int rc = 0;

	config_init(&lc);
	if (config_read_file(&lc, file) == CONFIG_FALSE) {
		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "cannot read %s (%s) to find its "
			    "status.socket; give -s SOCKET", file,
			    strerror(errno));
		else
			snprintf(err, errlen, "%s:%d: %s (looking for "
			    "status.socket; give -s SOCKET)", file,
			    config_error_line(&lc), config_error_text(&lc));
		rc = -1;
	} else {
		(void)config_lookup_string(&lc, "status.socket", &s);
		strlcpy(buf, s, len);
	}
	config_destroy(&lc);
	return (rc);
}

/* Connect, with a message a person can act on when it fails. */
static int
sbctl_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: longer than a socket path may be",
		    path);
		return (-1);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
		return (fd);
	if (errno == ENOENT || errno == ECONNREFUSED)
		snprintf(err, errlen, "no status socket answers at %s (%s) "
		    "\xe2\x80\x94 is switchboardd running?", path,
		    strerror(errno));
	else if (errno == EACCES)
		snprintf(err, errlen, "%s: %s (the socket is mode 0660: run as "
		    "the daemon's user or group)", path, strerror(errno));
	else
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	close(fd);
	return (-1);
}

/* Wait up to timeout_ms for fd to be readable: 0, or -1 with err. */
static int
sbctl_wait(int fd, const char *path, int64_t timeout_ms, char *err,
    size_t errlen)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char dur[32];
	int rc;

	while ((rc = poll(&pfd, 1, (int)timeout_ms)) == -1 && errno == EINTR)
		;
	if (rc == 1)
		return (0);
	if (rc == 0) {
		duration_format(timeout_ms, dur, sizeof(dur));
		snprintf(err, errlen, "no answer on %s within %s", path, dur);
	} else
		snprintf(err, errlen, "%s: poll: %s", path, strerror(errno));
	return (-1);
}

/*
 * Send one command line and read one answer line (without its newline).
 * timeout_ms bounds each wait for more of the answer, not the whole: a
 * long listing takes as long as it takes while it keeps coming.
 */
static int
sbctl_ask(const char *path, const char *line, int64_t timeout_ms,
    char **answer, size_t *len, char *err, size_t errlen)
{
	char *buf = NULL, *grown, *nl = NULL;
	size_t size = 0, n = 0;
	ssize_t got;
	int fd;

	if ((fd = sbctl_connect(path, err, errlen)) == -1)
		return (-1);
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) !=
	    (ssize_t)strlen(line)) {
		snprintf(err, errlen, "%s: cannot send: %s", path,
		    strerror(errno));
		goto fail;
	}
	while (nl == NULL) {
		if (sbctl_wait(fd, path, timeout_ms, err, errlen) == -1)
			goto fail;
		if (size - n < SBCTL_READ_CHUNK) {
			size = size == 0 ? 4 * SBCTL_READ_CHUNK : size * 2;
			if (size > SBCTL_ANSWER_MAX ||
			    (grown = realloc(buf, size)) == NULL) {
				snprintf(err, errlen, "the answer is larger "
				    "than sbctl can hold");
				goto fail;
			}
			buf = grown;
		}
		if ((got = read(fd, buf + n, size - n)) == -1 &&
		    errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(err, errlen, "%s: %s", path, got == -1 ?
			    strerror(errno) : n > 0 ? "the daemon closed the "
			    "connection in the middle of its answer" : "the "
			    "daemon closed the connection without an answer");
			goto fail;
		}
		nl = memchr(buf + n, '\n', (size_t)got);
		n += (size_t)got;
	}
	close(fd);
	*nl = '\0';
	*len = (size_t)(nl - buf);
	*answer = buf;
	return (0);
fail:
	close(fd);
	free(buf);
	return (-1);
}

/*
 * The status commands: one row each in sbctl_cmds, one function for all.
 * The command line is built from the arguments as sb_status.h says each
 * command takes them; the answer is printed for people, or with --json as
 * it came.
 */
static int
cmd_socket(const struct sbctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, SBCTL_OPT_JSON },
		{ "timeout", required_argument, NULL, SBCTL_OPT_TIMEOUT },
		{ "help", no_argument, NULL, SBCTL_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	struct sbctl_sock sk = { .timeout_ms = SBCTL_TIMEOUT_MS };
	enum sb_status_cmd which = sb_status_command_find(cmd->name);
	char line[SB_STATUS_LINE_MAX + 1], path[256], err[512];
	int ch;

	while ((ch = getopt_long(argc, argv, ":s:c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			sk.path = optarg;
			break;
		case 'c':
			sk.config = optarg;
			break;
		case SBCTL_OPT_JSON:
			sk.json = 1;
			break;
		case SBCTL_OPT_TIMEOUT:
			if (duration_parse(optarg, &sk.timeout_ms) != 0)
				return (sbctl_usage_error(cmd, "--timeout: "
				    "'%s' is not a duration (such as 500ms, "
				    "5s, 2m)", optarg));
			break;
		case 'h':
		case SBCTL_OPT_HELP:
			return (sbctl_command_help(cmd));
		default:
			return (sbctl_bad_option(cmd, ch, argc, argv));
		}
	}
	if (sbctl_socket_line(cmd, sb_status_command(which), argc - optind,
	    argv + optind, line, sizeof(line)) == -1)
		return (SBCTL_EXIT_USAGE);
	if (sbctl_socket_path(&sk, path, sizeof(path), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sbctl %s: %s\n", cmd->name, err);
		return (SBCTL_EXIT_USAGE);
	}
	return (sbctl_socket_exchange(&sk, which, path, line));
}

/* The command line for the daemon, from the words given to sbctl. */
static int
sbctl_socket_line(const struct sbctl_cmd *cmd,
    const struct sb_status_command *sc, int argc, char **argv, char *line,
    size_t len)
{
	int i;

	if (argc < sc->min_args) {
		sbctl_usage_error(cmd, "missing argument (usage: sbctl %s %s)",
		    sc->name, sc->args);
		return (-1);
	}
	if (sc->max_args != -1 && argc > sc->max_args) {
		sbctl_usage_error(cmd, "unexpected argument '%s'",
		    argv[sc->max_args]);
		return (-1);
	}
	strlcpy(line, sc->name, len);
	for (i = 0; i < argc; i++) {
		/* A line break would be a second command. */
		if (argv[i][0] == '\0' || strpbrk(argv[i], "\r\n") != NULL) {
			sbctl_usage_error(cmd, "argument %d is empty or holds "
			    "a line break", i + 1);
			return (-1);
		}
		strlcat(line, " ", len);
		strlcat(line, argv[i], len);
	}
	if (strlcat(line, "\n", len) >= len) {
		sbctl_usage_error(cmd, "the command is longer than %d bytes",
		    SB_STATUS_LINE_MAX);
		return (-1);
	}
	return (0);
}

/* Ask, judge, print: the exit code. */
static int
sbctl_socket_exchange(const struct sbctl_sock *sk, enum sb_status_cmd which,
    const char *path, const char *line)
{
	static const char *ok_path[] = { "ok", NULL };
	char err[512], *answer;
	yajl_val tree;
	size_t len;
	int rc;

	if (sbctl_ask(path, line, sk->timeout_ms, &answer, &len, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sbctl: %s\n", err);
		return (SBCTL_EXIT_USAGE);
	}
	if ((tree = yajl_tree_parse(answer, err, sizeof(err))) == NULL) {
		fprintf(stderr, "sbctl: the answer is not JSON: %s\n", err);
		free(answer);
		return (SBCTL_EXIT_FAIL);
	}
	if (sk->json) {
		fwrite(answer, 1, len, stdout);
		fputc('\n', stdout);
	}
	if (yajl_tree_get(tree, ok_path, yajl_t_true) != NULL) {
		if (!sk->json && sbctl_printers[which] != NULL)
			sbctl_printers[which](tree);
		rc = SBCTL_EXIT_OK;
	} else {
		rc = sbctl_reply_judge(answer);
		sbctl_print_errors(tree);
	}
	fflush(stdout);
	yajl_tree_free(tree);
	free(answer);
	return (rc);
}

/* A failed reload's "file:line: what" lines, under the refusal. */
static void
sbctl_print_errors(yajl_val tree)
{
	static const char *errors_path[] = { "error", "errors", NULL };
	yajl_val errs = yajl_tree_get(tree, errors_path, yajl_t_array);
	size_t i;

	for (i = 0; errs != NULL && i < errs->u.array.len; i++)
		if (YAJL_IS_STRING(errs->u.array.values[i]))
			fprintf(stderr, "  %s\n",
			    YAJL_GET_STRING(errs->u.array.values[i]));
}

/* Each string of an array on a line of its own, indented. */
static void
sbctl_print_lines(const char *indent, yajl_val a)
{
	size_t i;

	for (i = 0; YAJL_IS_ARRAY(a) && i < a->u.array.len; i++)
		if (YAJL_IS_STRING(a->u.array.values[i]))
			printf("%s%s\n", indent,
			    YAJL_GET_STRING(a->u.array.values[i]));
}

static yajl_val
jv(yajl_val o, const char *key)
{
	const char *path[] = { key, NULL };

	return (o != NULL ? yajl_tree_get(o, path, yajl_t_any) : NULL);
}

/* A string member, or "-" when absent or null. */
static const char *
js(yajl_val o, const char *key)
{
	yajl_val v = jv(o, key);

	return (YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "-");
}

static long long
ji(yajl_val o, const char *key)
{
	yajl_val v = jv(o, key);

	return (YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : 0);
}

/* A number as a table cell (a static buffer per call site is enough). */
static const char *
jnum(yajl_val o, const char *key, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", ji(o, key));
	return (buf);
}

/* An array of strings joined by ", ", or "-" when empty. */
static const char *
jlist(yajl_val o, const char *key, char *buf, size_t len)
{
	yajl_val a = jv(o, key);
	size_t i;

	buf[0] = '\0';
	for (i = 0; YAJL_IS_ARRAY(a) && i < a->u.array.len; i++) {
		if (!YAJL_IS_STRING(a->u.array.values[i]))
			continue;
		if (buf[0] != '\0')
			strlcat(buf, ", ", len);
		strlcat(buf, YAJL_GET_STRING(a->u.array.values[i]), len);
	}
	return (buf[0] != '\0' ? buf : "-");
}

/* Seconds for people: "2d 3h", "4h 5m", "6m 7s", "8s". */
static const char *
sbctl_span(long long s, char *buf, size_t len)
{
	static const struct { long long secs; const char *unit; } u[] = {
		{ 86400, "d" }, { 3600, "h" }, { 60, "m" }, { 1, "s" } };
	size_t i;

	if (s < 0)
		s = -s;
	for (i = 0; i < 3 && s < u[i].secs; i++)
		;
	if (i == 3 || s % u[i].secs == 0 || s / u[i].secs >= 10)
		snprintf(buf, len, "%lld%s", s / u[i].secs, u[i].unit);
	else
		snprintf(buf, len, "%lld%s %lld%s", s / u[i].secs, u[i].unit,
		    s % u[i].secs / u[i + 1].secs, u[i + 1].unit);
	return (buf);
}

/* An RFC 3339 time without its ms, and how far from now it is. */
static const char *
sbctl_when(const char *t, char *buf, size_t len)
{
	struct tm tm;
	char span[32];
	long long d;

	if (t == NULL || strcmp(t, "-") == 0)
		return ("-");
	memset(&tm, 0, sizeof(tm));
	if (strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) == NULL) {
		strlcpy(buf, t, len);
		return (buf);
	}
	d = (long long)timegm(&tm) - (long long)time(NULL);
	snprintf(buf, len, "%.19sZ (%s%s%s)", t, d > 0 ? "in " : "",
	    sbctl_span(d, span, sizeof(span)), d > 0 ? "" : " ago");
	return (buf);
}

/* Rows of cells printed in aligned columns; the first row heads them. */
struct sbctl_table {
	size_t	 ncols;
	char	**cells;
	size_t	 ncells;
	size_t	 size;
};

static void
sbctl_table_add(struct sbctl_table *t, const char *cell)
{
	char **grown;
	size_t size;

	if (t->ncells == t->size) {
		size = t->size == 0 ? 64 : t->size * 2;
		if ((grown = reallocarray(t->cells, size,
		    sizeof(*t->cells))) == NULL)
			return;
		t->cells = grown;
		t->size = size;
	}
	if ((t->cells[t->ncells] = strdup(cell != NULL ? cell : "-")) != NULL)
		t->ncells++;
}

static void
sbctl_table_print(struct sbctl_table *t)
{
	size_t i, c, w[16] = { 0 };

	t->ncells -= t->ncells % t->ncols;	/* a row cut by ENOMEM */
	for (i = 0; i < t->ncells; i++)
		if (strlen(t->cells[i]) > w[i % t->ncols])
			w[i % t->ncols] = strlen(t->cells[i]);
	for (i = 0; i < t->ncells; i++) {
		c = i % t->ncols;
		if (c + 1 == t->ncols)
			printf("%s\n", t->cells[i]);
		else
			printf("%-*s  ", (int)w[c], t->cells[i]);
	}
	sbctl_table_free(t);
}

static void
sbctl_table_free(struct sbctl_table *t)
{
	size_t i;

	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->ncells = t->size = 0;
}

static void
sbctl_print_status(yajl_val t)
{
	yajl_val n = jv(t, "notices"), d = jv(t, "deliveries"),
	    a = jv(t, "acks"), sp = jv(t, "spool"), rl = jv(t, "reload");
	char span[32], when[64];

	printf("switchboardd %s, pid %lld, up %s (since %.19sZ)\n",
	    js(t, "version"), ji(t, "pid"), sbctl_span(ji(t, "uptime_s"), span,
	    sizeof(span)), js(t, "started_at"));
	printf("config       %s (hash %s)\n", js(jv(t, "config"), "path"),
	    js(jv(t, "config"), "hash"));
	if (!YAJL_IS_STRING(jv(rl, "at")))
		printf("last reload  none since the start\n");
	else {
		printf("last reload  %s at %s; %lld ok, %lld failed in all\n",
		    YAJL_IS_TRUE(jv(rl, "ok")) ? "ok" : "FAILED",
		    sbctl_when(js(rl, "at"), when, sizeof(when)),
		    ji(rl, "count"), ji(rl, "failures"));
		sbctl_print_lines("             ", jv(rl, "errors"));
	}
	printf("notices      realtime %lld, batch %lld, interactive %lld; "
	    "rejected %lld, duplicates %lld\n", ji(n, "realtime"),
	    ji(n, "batch"), ji(n, "interactive"), ji(n, "rejected"),
	    ji(n, "duplicates"));
	printf("deliveries   %lld pending; %lld delivered, %lld retried, "
	    "%lld failed over, %lld dead, %lld late\n", ji(d, "pending"),
	    ji(d, "delivered"), ji(d, "retried"), ji(d, "failed_over"),
	    ji(d, "dead"), ji(d, "missed"));
	printf("acks         %lld waiting, %lld acked, %lld expired\n",
	    ji(a, "waiting"), ji(a, "acked"), ji(a, "expired"));
	if (YAJL_IS_TRUE(jv(sp, "failing")))
		printf("spool        FAILING: %s\n", js(sp, "last_error"));
	else
		printf("spool        ok (%lld commits, %lld failures)\n",
		    ji(sp, "commits"), ji(sp, "failures"));
	sbctl_print_status_channels(jv(t, "channels"));
	sbctl_print_status_escalations(jv(t, "escalations"));
}

static void
sbctl_print_status_channels(yajl_val chans)
{
	struct sbctl_table tb = { .ncols = 5 };
	const char *head[] = { "CHANNEL", "STATE", "QUEUED", "IN FLIGHT",
	    "LAST ERROR" };
	char q[24], f[24];
	yajl_val c;
	size_t i;

	if (!YAJL_IS_ARRAY(chans))
		return;
	printf("\n");
	for (i = 0; i < 5; i++)
		sbctl_table_add(&tb, head[i]);
	for (i = 0; i < chans->u.array.len; i++) {
		c = chans->u.array.values[i];
		sbctl_table_add(&tb, js(c, "name"));
		sbctl_table_add(&tb, js(c, "state"));
		sbctl_table_add(&tb, jnum(c, "queued", q, sizeof(q)));
		sbctl_table_add(&tb, jnum(c, "inflight", f, sizeof(f)));
		sbctl_table_add(&tb, js(c, "last_error"));
	}
	sbctl_table_print(&tb);
}

static void
sbctl_print_status_escalations(yajl_val escs)
{
	struct sbctl_table tb = { .ncols = 5 };
	const char *head[] = { "NEXT STEP", "NOTICE", "DOES", "LEVEL",
	    "CHAIN" };
	char when[64], lv[24];
	yajl_val e;
	size_t i;

	if (!YAJL_IS_ARRAY(escs) || escs->u.array.len == 0) {
		printf("\nno notice is waiting for an ack\n");
		return;
	}
	printf("\n");
	for (i = 0; i < 5; i++)
		sbctl_table_add(&tb, head[i]);
	for (i = 0; i < escs->u.array.len; i++) {
		e = escs->u.array.values[i];
		sbctl_table_add(&tb, sbctl_when(js(e, "at"), when,
		    sizeof(when)));
		sbctl_table_add(&tb, js(e, "id"));
		sbctl_table_add(&tb, js(e, "next"));
		sbctl_table_add(&tb, jnum(e, "level", lv, sizeof(lv)));
		sbctl_table_add(&tb, js(e, "chain"));
	}
	sbctl_table_print(&tb);
}

static void
sbctl_print_channels(yajl_val t)
{
	struct sbctl_table tb = { .ncols = 10 };
	const char *head[] = { "CHANNEL", "TYPE", "MODE", "STATE", "QUEUED",
	    "IN FLIGHT", "BATCHED", "DELIVERED", "FAILED", "LAST ERROR" };
	yajl_val chans = jv(t, "channels"), c;
	char n[4][24];
	size_t i;

	for (i = 0; i < 10; i++)
		sbctl_table_add(&tb, head[i]);
	for (i = 0; YAJL_IS_ARRAY(chans) && i < chans->u.array.len; i++) {
		c = chans->u.array.values[i];
		sbctl_table_add(&tb, js(c, "name"));
		sbctl_table_add(&tb, js(c, "type"));
		sbctl_table_add(&tb, js(c, "mode"));
		sbctl_table_add(&tb, js(c, "state"));
		sbctl_table_add(&tb, jnum(c, "queued", n[0], sizeof(n[0])));
		sbctl_table_add(&tb, jnum(c, "inflight", n[1], sizeof(n[1])));
		sbctl_table_add(&tb, jnum(c, "batched", n[2], sizeof(n[2])));
		sbctl_table_add(&tb, jnum(c, "delivered", n[3],
		    sizeof(n[3])));
		snprintf(n[0], sizeof(n[0]), "%lld", ji(c, "retryable") +
		    ji(c, "permanent"));
		sbctl_table_add(&tb, n[0]);
		sbctl_table_add(&tb, js(c, "last_error"));
	}
	sbctl_table_print(&tb);
}

/* A route's match as key=value words ("-" when it takes every notice). */
static const char *
sbctl_match(yajl_val m, char *buf, size_t len)
{
	const char *pre;
	char list[512];
	yajl_val tags;
	size_t i, j;

	buf[0] = '\0';
	for (i = 0; YAJL_IS_OBJECT(m) && i < m->u.object.len; i++) {
		if (buf[0] != '\0')
			strlcat(buf, " ", len);
		pre = strcmp(m->u.object.keys[i], "priority") == 0 ? ">=" :
		    "=";
		if (strcmp(m->u.object.keys[i], "tags") != 0) {
			strlcat(buf, m->u.object.keys[i], len);
			strlcat(buf, pre, len);
			strlcat(buf, YAJL_IS_STRING(m->u.object.values[i]) ?
			    YAJL_GET_STRING(m->u.object.values[i]) :
			    jlist(m, m->u.object.keys[i], list, sizeof(list)),
			    len);
			continue;
		}
		tags = m->u.object.values[i];
		for (j = 0; YAJL_IS_OBJECT(tags) &&
		    j < tags->u.object.len; j++)
			snprintf(buf + strlen(buf), len - strlen(buf),
			    "%stag.%s=%s", j > 0 ? " " : "",
			    tags->u.object.keys[j],
			    YAJL_IS_STRING(tags->u.object.values[j]) ?
			    YAJL_GET_STRING(tags->u.object.values[j]) : "?");
	}
	return (buf[0] != '\0' ? buf : "(every notice)");
}

static void
sbctl_print_routes(yajl_val t)
{
	struct sbctl_table tb = { .ncols = 5 };
	const char *head[] = { "ROUTE", "CHANNELS", "FALLBACK", "CONTINUE",
	    "MATCH" };
	yajl_val routes = jv(t, "routes"), r;
	char ch[512], fb[512], m[1024];
	size_t i;

	for (i = 0; i < 5; i++)
		sbctl_table_add(&tb, head[i]);
	for (i = 0; YAJL_IS_ARRAY(routes) && i < routes->u.array.len; i++) {
		r = routes->u.array.values[i];
		sbctl_table_add(&tb, js(r, "name"));
		sbctl_table_add(&tb, jlist(r, "channels", ch, sizeof(ch)));
		sbctl_table_add(&tb, jlist(r, "fallback", fb, sizeof(fb)));
		sbctl_table_add(&tb, YAJL_IS_TRUE(jv(r, "continue")) ? "yes" :
		    "no");
		sbctl_table_add(&tb, sbctl_match(jv(r, "match"), m,
		    sizeof(m)));
	}
	sbctl_table_print(&tb);
}

static void
sbctl_print_pending(yajl_val t)
{
	struct sbctl_table tb = { .ncols = 5 };
	const char *head[] = { "NOTICE", "CLASS", "RECEIVED", "PENDING",
	    "CHANNELS" };
	yajl_val rows = jv(t, "notices"), r;
	char when[64], np[24], ch[1024];
	size_t i;

	for (i = 0; i < 5; i++)
		sbctl_table_add(&tb, head[i]);
	for (i = 0; YAJL_IS_ARRAY(rows) && i < rows->u.array.len; i++) {
		r = rows->u.array.values[i];
		sbctl_table_add(&tb, js(r, "id"));
		sbctl_table_add(&tb, js(r, "class"));
		sbctl_table_add(&tb, sbctl_when(js(r, "received_at"), when,
		    sizeof(when)));
		sbctl_table_add(&tb, jnum(r, "pending", np, sizeof(np)));
		sbctl_table_add(&tb, jlist(r, "channels", ch, sizeof(ch)));
	}
	if (ji(t, "count") > 0)
		sbctl_table_print(&tb);
	else
		sbctl_table_free(&tb);
	printf("%lld notice%s with pending deliveries%s\n", ji(t, "count"),
	    ji(t, "count") == 1 ? "" : "s", YAJL_IS_TRUE(jv(t, "more")) ?
	    " shown; there are more" : "");
}

static void
sbctl_print_message(yajl_val t)
{
	yajl_val m = jv(t, "message"), n = jv(m, "notice");
	char when[64], list[1024];

	printf("notice       %s (%s)\n", js(m, "id"), js(m, "class"));
	printf("received     %s\n", sbctl_when(js(m, "received_at"), when,
	    sizeof(when)));
	printf("source       %s\n", js(n, "source"));
	printf("audience     %s\n", jlist(n, "audience", list, sizeof(list)));
	printf("subject      %s\n", js(n, "subject"));
	printf("priority     %s, goal %s\n", js(n, "priority"), js(n, "goal"));
	if (YAJL_IS_STRING(jv(m, "respond_by"))) {
		printf("respond by   %s\n", sbctl_when(js(m, "respond_by"),
		    when, sizeof(when)));
		if (YAJL_IS_STRING(jv(m, "acked_at")))
			printf("acked        %s by %s\n", sbctl_when(js(m,
			    "acked_at"), when, sizeof(when)), js(m, "ack_by"));
		else if (YAJL_IS_STRING(jv(m, "expired_at")))
			printf("expired      %s\n", sbctl_when(js(m,
			    "expired_at"), when, sizeof(when)));
		else
			printf("acked        not yet\n");
	}
	sbctl_print_message_deliveries(jv(m, "deliveries"));
}

static void
sbctl_print_message_deliveries(yajl_val ds)
{
	struct sbctl_table tb = { .ncols = 6 };
	const char *head[] = { "CHANNEL", "STATE", "ATTEMPTS", "LEVEL",
	    "UPDATED", "LAST ERROR" };
	char at[24], lv[24], when[64];
	yajl_val d;
	size_t i;

	printf("\n");
	for (i = 0; i < 6; i++)
		sbctl_table_add(&tb, head[i]);
	for (i = 0; YAJL_IS_ARRAY(ds) && i < ds->u.array.len; i++) {
		d = ds->u.array.values[i];
		sbctl_table_add(&tb, js(d, "channel"));
		sbctl_table_add(&tb, js(d, "state"));
		sbctl_table_add(&tb, jnum(d, "attempts", at, sizeof(at)));
		sbctl_table_add(&tb, jnum(d, "level", lv, sizeof(lv)));
		sbctl_table_add(&tb, sbctl_when(js(d, "updated_at"), when,
		    sizeof(when)));
		sbctl_table_add(&tb, js(d, "last_error"));
	}
	sbctl_table_print(&tb);
}

static void
sbctl_print_ack(yajl_val t)
{
	char span[32];
	long long ms = ji(t, "response_ms");

	if (ms < 60000)
		printf("acked %s, %lld.%03llds after it was sent\n",
		    js(t, "ref"), ms / 1000, ms % 1000);
	else
		printf("acked %s, %s after it was sent\n", js(t, "ref"),
		    sbctl_span(ms / 1000, span, sizeof(span)));
}

static void
sbctl_print_pause(yajl_val t)
{
	printf("%s: %s -> %s (%lld queued, %lld in flight)\n",
	    js(t, "channel"), js(t, "was"), js(t, "state"), ji(t, "queued"),
	    ji(t, "inflight"));
}

static void
sbctl_print_reload(yajl_val t)
{
	printf("%s\n", js(t, "message"));
}

/* help [COMMAND] */
static int
cmd_help(const struct sbctl_cmd *self, int argc, char **argv)
{
	const struct sbctl_cmd *cmd;

	if (argc > 2)
		return (sbctl_usage_error(self, "one command at most"));
	if (argc < 2) {
		sbctl_usage(stdout);
		return (SBCTL_EXIT_OK);
	}
	if ((cmd = sbctl_find(argv[1])) == NULL)
		return (sbctl_usage_error(self, "unknown command '%s'",
		    argv[1]));
	return (sbctl_command_help(cmd));
}

static int
sbctl_command_help(const struct sbctl_cmd *cmd)
{
	printf("usage: sbctl %s %s\n  %s\n", cmd->name, cmd->args,
	    cmd->summary);
	return (SBCTL_EXIT_OK);
}

/* report: figures read from the spool, without the daemon (docs/report.md). */
static int
cmd_report(const struct sbctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "spool", required_argument, NULL, O_SPOOL },
		{ "since", required_argument, NULL, O_SINCE },
		{ "until", required_argument, NULL, O_UNTIL },
		{ "format", required_argument, NULL, O_FORMAT },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, SBCTL_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	const char *path = SB_DEFAULT_CONFIG, *spool = NULL, *out = NULL;
	const char *since = "7d", *until = "now", *format = "text";
	int ch;

	while ((ch = getopt_long(argc, argv, ":c:o:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case O_SPOOL:
			spool = optarg;
			break;
		case O_SINCE:
			since = optarg;
			break;
		case O_UNTIL:
			until = optarg;
			break;
		case O_FORMAT:
			format = optarg;
			break;
		case 'h':
		case SBCTL_OPT_HELP:
			return (sbctl_command_help(cmd));
		default:
			return (sbctl_bad_option(cmd, ch, argc, argv));
		}
	}
	if (optind < argc)
		return (sbctl_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind]));
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 &&
	    strcmp(format, "html") != 0)
		return (sbctl_usage_error(cmd, "--format: '%s' is not text, "
		    "json or html", format));
	return (sbctl_report(cmd, path, spool, since, until, format, out));
}

/* Load the config, read the period, write the report where asked. */
static int
sbctl_report(const struct sbctl_cmd *cmd, const char *path,
    const char *spool, const char *since, const char *until,
    const char *format, const char *out)
{
	struct report r;
	struct config *cf;
	struct timespec now;
	int64_t now_ms, since_ms, until_ms;
	char err[1024];
	FILE *f = stdout;
	int rc = SBCTL_EXIT_FAIL, wrc;

	if ((cf = sbctl_config(path)) == NULL)
		return (SBCTL_EXIT_FAIL);
	clock_gettime(CLOCK_REALTIME, &now);
	now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (report_when(cf, since, now_ms, &since_ms, err, sizeof(err)) ==
	    -1 || report_when(cf, until, now_ms, &until_ms, err,
	    sizeof(err)) == -1) {
		config_free(cf);
		return (sbctl_usage_error(cmd, "%s", err));
	}
	if (since_ms >= until_ms) {
		config_free(cf);
		return (sbctl_usage_error(cmd, "--since %s is not before "
		    "--until %s", since, until));
	}
	if (report_build(&r, cf, spool != NULL ? spool : cf->spool_path,
	    since_ms, until_ms, err, sizeof(err)) == -1) {
		fprintf(stderr, "sbctl: report: %s\n", err);
		goto done;
	}
	if (out != NULL && strcmp(out, "-") != 0 &&
	    (f = fopen(out, "w")) == NULL) {
		fprintf(stderr, "sbctl: report: cannot write %s: %s\n", out,
		    strerror(errno));
		goto done;
	}
	if (strcmp(format, "json") == 0)
		wrc = report_write_json(f, &r);
	else if (strcmp(format, "html") == 0)
		wrc = report_write_html(f, &r);
	else
		wrc = report_write_text(f, &r);
	if (f != stdout ? fclose(f) != 0 || wrc != 0 : fflush(f) != 0 ||
	    wrc != 0)
		fprintf(stderr, "sbctl: report: cannot write %s: %s\n",
		    out != NULL ? out : "stdout", strerror(errno));
	else
		rc = SBCTL_EXIT_OK;
done:
	report_free(&r);
	config_free(cf);
	return (rc);
}

/*
 * keygen: a CURVE key pair (docs/security.md). BASE.key holds the secret
 * key, mode 0600, for ingress.curve_secret_key_file or a client; BASE.pub
 * the public key, for the other side (ingress.authorized_keys, or a
 * client's server key). The public key is printed too. Nothing is
 * overwritten without -f, and both files are opened before either is
 * written, so that a refusal leaves no half pair.
 */
static int
cmd_keygen(const struct sbctl_cmd *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, SBCTL_OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	char pub[41], sec[41], spath[4096], ppath[4096];
	int ch, force = 0, sfd, pfd, rc;

	while ((ch = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			force = 1;
			break;
		case 'h':
		case SBCTL_OPT_HELP:
			return (sbctl_command_help(cmd));
		default:
			return (sbctl_bad_option(cmd, ch, argc, argv));
		}
	}
	if (optind == argc)
		return (sbctl_usage_error(cmd, "no BASE given (the key pair "
		    "goes to BASE.key and BASE.pub)"));
	if (optind + 1 < argc)
		return (sbctl_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind + 1]));
	if ((sfd = sbctl_key_open(argv[optind], ".key", 0600, force, spath,
	    sizeof(spath))) == -1)
		return (SBCTL_EXIT_FAIL);
	if ((pfd = sbctl_key_open(argv[optind], ".pub", 0644, force, ppath,
	    sizeof(ppath))) == -1) {
		close(sfd);
		if (!force)
			unlink(spath);
		return (SBCTL_EXIT_FAIL);
	}
	if (zmq_curve_keypair(pub, sec) == -1) {
		fprintf(stderr, "sbctl keygen: %s (libzmq without CURVE?)\n",
		    zmq_strerror(errno));
		close(sfd);
		close(pfd);
		return (SBCTL_EXIT_FAIL);
	}
	rc = sbctl_key_write(sfd, spath, "secret", sec, pub);
	if (sbctl_key_write(pfd, ppath, "public", pub, NULL) == -1)
		rc = -1;
	explicit_bzero(sec, sizeof(sec));
	if (rc == -1)
		return (SBCTL_EXIT_FAIL);
	printf("%s\n", pub);
	return (SBCTL_EXIT_OK);
}

/* BASE+suffix, created with mode (refused when it exists, unless force). */
static int
sbctl_key_open(const char *base, const char *suffix, mode_t mode, int force,
    char *path, size_t len)
{
	int fd;

	if ((size_t)snprintf(path, len, "%s%s", base, suffix) >= len) {
		fprintf(stderr, "sbctl keygen: %s%s: path too long\n", base,
		    suffix);
		return (-1);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    (force ? O_TRUNC : O_EXCL), mode);
	if (fd == -1) {
		fprintf(stderr, "sbctl keygen: %s: %s%s\n", path,
		    strerror(errno), errno == EEXIST ? " (-f replaces it)" :
		    "");
		return (-1);
	}
	/* An old file keeps its mode under O_TRUNC; the umask may widen. */
	if (fchmod(fd, mode) == -1) {
		fprintf(stderr, "sbctl keygen: %s: chmod %o: %s\n", path,
		    (unsigned)mode, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/* A key file: what it is, then the key on a line of its own. */
static int
sbctl_key_write(int fd, const char *path, const char *what, const char *key,
    const char *pub)
{
	FILE *f;
	int rc = 0;

	if ((f = fdopen(fd, "w")) == NULL) {
		fprintf(stderr, "sbctl keygen: %s: %s\n", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	fprintf(f, "# switchboard CURVE %s key, made by sbctl keygen\n", what);
	if (pub != NULL)
		fprintf(f, "# Keep it private. Its public key: %s\n", pub);
	fprintf(f, "%s\n", key);
	if (fflush(f) != 0 || fsync(fd) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	if (rc == -1)
		fprintf(stderr, "sbctl keygen: %s: %s\n", path,
		    strerror(errno));
	return (rc);
}
