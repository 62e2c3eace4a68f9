/*
 * sbctl.c: the command-line client of switchboardd. It publishes notices and
 * pings over the wire protocol, and, without a daemon, checks a config and
 * dry-runs the routing of a notice with the daemon's own modules. Commands
 * are rows of one table, so that new ones (the status-socket commands) plug
 * in beside these.
 */
#include <errno.h>
#include <getopt.h>
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
#include "route.h"
#include "sb_protocol.h"

/* Exit codes: documented in docs/sbctl.md. */
#define SBCTL_EXIT_OK		0	/* done; the daemon said ok */
#define SBCTL_EXIT_FAIL		1	/* refused: error reply, bad notice */
#define SBCTL_EXIT_USAGE	2	/* bad usage, or no answer at all */

#define SBCTL_TIMEOUT_MS	5000
/* A notice read for publish; the daemon's own limit is far below. */
#define SBCTL_INPUT_MAX		(16 * 1024 * 1024)

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

static int	cmd_publish(const struct sbctl_cmd *, int, char **);
static int	cmd_ping(const struct sbctl_cmd *, int, char **);
static int	cmd_route(const struct sbctl_cmd *, int, char **);
static int	cmd_check(const struct sbctl_cmd *, int, char **);
static int	cmd_help(const struct sbctl_cmd *, int, char **);

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
	    "Exit: 0 ok; 1 refused (error reply, invalid notice or config);"
	    " 2 usage error\nor no answer. 'sbctl help COMMAND' for one"
	    " command; docs/sbctl.md for all.\n", SB_DEFAULT_ENDPOINT);
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
