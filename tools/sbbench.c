/*
 * sbbench.c: the load generator of switchboardd.
 *
 * It publishes notices through a DEALER with a window of requests in
 * flight, at full speed or at a set rate, in a mix of classes, and times
 * each one from publish to its "ok" reply and, through a SUB on a zmq_pub
 * channel, from publish to arrival. In the same run it measures what plain
 * ZeroMQ does on the same machine with the same requests (a DEALER→ROUTER
 * echo and a REQ→REP round trip against servers of its own), so that every
 * figure comes with its baseline: on a shared, noisy machine the ratio of
 * the two moves far less than either figure.
 *
 * The send time travels twice: as a routing frame before the JSON (the
 * daemon echoes routing frames in its reply, as it does REQ's delimiter)
 * and as the tag "sbbench.sent" (which the notice carries to its channels).
 * Both are read back in this process, so one monotonic clock serves all.
 */
#include <sys/types.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <zmq.h>

#include "notice.h"
#include "route.h"
#include "sb_protocol.h"

/* Exit codes: documented in docs/sbbench.md. */
#define BENCH_EXIT_OK		0	/* every notice answered ok */
#define BENCH_EXIT_FAIL		1	/* failures, losses, a crash */
#define BENCH_EXIT_USAGE	2	/* bad usage, or no run at all */

#define BENCH_PUB_CHANNEL	"bench-pub"
#define BENCH_SOURCE		"sbbench"
#define BENCH_STAMP_TAG		"sbbench.sent"
/* Stands in for the send time in a request template: 20 digits wide. */
#define BENCH_STAMP_MARK	"SBBENCHSTAMPXXXXXXXX"
#define BENCH_STAMP_LEN		20
#define BENCH_QUEUE_MAX		1000000	/* never the limit */
#define BENCH_WRAPPER_ARGS	30
#define BENCH_ERROR_MAX		400	/* bytes of a failure kept */
#define BENCH_SLOW_JOIN_S	5.0	/* for the SUB's first notice */
#define BENCH_ARRIVAL_GRACE_MS	300	/* quiet this long: done */

/* The routing frame a request carries and its reply brings back. */
struct bench_stamp {
	uint32_t	phase;
	uint32_t	class;
	uint64_t	sent_ns;
};

struct bench_opts {
	const char	*endpoint;	/* -e: a running daemon */
	const char	*sub;		/* --sub: its zmq_pub endpoint */
	uint64_t	 count;		/* -n */
	int		 count_given;
	double		 seconds;	/* -d */
	int		 window;
	double		 rate;		/* -r; 0: full speed */
	double		 paced;		/* of full speed */
	double		 paced_seconds;
	size_t		 body_size;
	unsigned	 mix[CLASS_COUNT];
	char		 mix_text[64];
	int		 sync_off;
	int		 ipc;
	int		 routes;
	int		 channels;
	uint64_t	 warmup;
	double		 raw_seconds;
	int		 baseline;
	int		 json;
	const char	*label;
	const char	*dir;
	const char	*wrapper;
	int		 keep;
	double		 timeout;
};

/* Latencies in nanoseconds; sorted once, when reported. */
struct samples {
	uint64_t	*v;
	size_t		 n;
	size_t		 cap;
};

/* Percentiles of a sample set, in microseconds. */
struct pct {
	size_t		 n;
	double		 p50;
	double		 p99;
	double		 p999;
	double		 max;
};

/* One request of each class, its send time written in place per send. */
struct bench_msg {
	char		*buf;
	size_t		 len;
	size_t		 stamp_off;
};

/* One timed stretch of publishing, and what came of it. */
struct phase {
	const char	*name;
	uint32_t	 id;
	double		 rate;		/* target; 0: full speed */
	uint64_t	 limit;		/* requests; 0: by time */
	double		 seconds;
	int		 check_class;
	uint64_t	 sent;
	uint64_t	 sent_class[CLASS_COUNT];
	uint64_t	 ok;
	uint64_t	 ok_class[CLASS_COUNT];
	uint64_t	 failed;
	uint64_t	 lost;		/* no reply within the timeout */
	uint64_t	 mismatched;	/* ok, but of another class */
	uint64_t	 late;		/* paced sends over 1 ms behind */
	uint64_t	 start_ns;
	uint64_t	 end_ns;	/* the last reply */
	uint64_t	 last_send_ns;
	double		 elapsed;
	struct samples	 ack;
	struct samples	 arrival[CLASS_COUNT];
	char		 error[BENCH_ERROR_MAX + 1];
};

/* What the subscriber saw: one entry an arrival. */
struct arrival {
	uint64_t	 sent_ns;
	uint64_t	 lat_ns;
	int		 class;
};

struct bench_sub {
	pthread_t	 thread;
	void		*zctx;
	void		*sock;
	atomic_int	 stop;
	atomic_ullong	 arrived;
	struct arrival	*v;
	size_t		 n;
	size_t		 cap;
	uint64_t	 unstamped;	/* arrivals without our tag */
	int		 running;
};

/* The plain ZeroMQ servers of the baseline, in a thread of their own. */
struct bench_raw {
	pthread_t	 thread;
	void		*zctx;
	void		*router;
	void		*rep;
	atomic_int	 stop;
	int		 running;
	char		 router_ep[512];
	char		 rep_ep[512];
	const char	*reply;
	size_t		 reply_len;
};

/* How a reply or an arrival is read: a few top-level keys, then stop. */
enum bench_key { KEY_NONE, KEY_OK, KEY_CLASS, KEY_TAGS, KEY_STAMP };

struct bench_parse {
	int		 depth;
	int		 in_tags;	/* in the top-level "tags" */
	enum bench_key	 key;
	int		 need_class;
	int		 need_stamp;
	int		 ok;		/* -1 unknown */
	int		 class;		/* -1 unknown */
	uint64_t	 stamp;
	int		 have_stamp;
};

static struct {
	struct bench_opts	 o;
	uint64_t		 clock_base;
	void			*zctx;
	char			 dir[256];	/* short: ipc paths */
	char			 ingress[512];
	char			 pub[512];
	pid_t			 daemon;
	int			 daemon_status;
	struct rusage		 daemon_usage;	/* its whole life */
	struct rusage		 client_usage;	/* to the baseline */
	int			 daemon_stopped;
	int			 daemon_warnings;
	char			 daemon_warning[256];
	struct bench_msg	 msgs[CLASS_COUNT];
	int			 wrr[CLASS_COUNT];	/* the mix */
	char			*reply;		/* for the raw echo */
	size_t			 reply_len;
	struct bench_sub	 sub;
	struct bench_raw	 raw;
	struct phase		 warm, full, paced, echo;
	struct samples		 reqrep;
	double			 reqrep_elapsed;
	int			 ran_paced;
	int			 ran_raw;
} bb;

static void	bench_usage(FILE *);
static int	bench_usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
static int	bench_options(int, char **);
static int	bench_opt_num(const char *, const char *, double, double,
		    double *);
static int	bench_opt_mix(const char *);
static int	bench_opts_check(void);
static void	bench_errf(char *, size_t, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static uint64_t	bench_now(void);
static int	bench_setup(char *, size_t);
static int	bench_free_port(int *, char *, size_t);
static int	bench_config_write(const char *, char *, size_t);
static void	bench_config_channels(FILE *);
static void	bench_config_routes(FILE *);
static void	bench_config_targets(FILE *, int);
static void	bench_config_string(FILE *, const char *);
static int	bench_daemon_start(char *, size_t);
static int	bench_daemon_path(char *, size_t);
static int	bench_daemon_alive(void);
static void	bench_daemon_stop(void);
static void	bench_daemon_log_scan(void);
static void	bench_daemon_log_tail(void);
static int	bench_ping(const char *, double, char *, size_t);
static void	bench_cleanup(int);
static int	bench_msgs_build(char *, size_t);
static int	bench_msg_build(int, struct bench_msg *);
static int	bench_next_class(void);
static void	*bench_socket(void *, int, const char *, char *, size_t);
static int	bench_run(void);
static int	bench_warmup(void *);
static void	bench_phase_run(void *, struct phase *, int);
static int	bench_phase_send(void *, struct phase *, uint64_t);
static size_t	bench_phase_recv(void *, struct phase *);
static void	bench_phase_reply(struct phase *, const struct bench_stamp *,
		    const char *, size_t, uint64_t);
static int	bench_wait(void *, uint64_t);
static int	bench_parse(struct bench_parse *, const char *, size_t);
static int	bench_parse_bool_cb(void *, int);
static int	bench_parse_string_cb(void *, const unsigned char *, size_t);
static int	bench_parse_key_cb(void *, const unsigned char *, size_t);
static int	bench_parse_open_cb(void *);
static int	bench_parse_close_cb(void *);
static int	bench_parse_done(const struct bench_parse *);
static int	bench_reply_ok(const char *, size_t, int, int *);
static int	bench_sub_start(char *, size_t);
static void	*bench_sub_main(void *);
static void	bench_sub_record(struct bench_sub *, const char *, size_t,
		    uint64_t);
static void	bench_sub_settle(uint64_t);
static void	bench_sub_stop(void);
static void	bench_arrivals_assign(struct phase *);
static int	bench_raw_start(char *, size_t);
static void	*bench_raw_main(void *);
static void	bench_raw_echo(void *);
static void	bench_raw_stop(void);
static int	bench_raw_run(char *, size_t);
static void	bench_reqrep(void *);
static void	bench_reply_default(void);
static void	samples_add(struct samples *, uint64_t);
static int	samples_cmp(const void *, const void *);
static void	samples_pct(struct samples *, struct pct *);
static double	bench_rate(const struct phase *);
static double	bench_cpu(const struct rusage *, int);
static uint64_t	bench_published(void);
static int	bench_verdict(void);
static void	bench_print(void);
static void	bench_print_phase(struct phase *);
static void	bench_print_pct(const char *, struct samples *, uint64_t);
static void	bench_print_ratios(void);
static int	bench_ratio_arrival(double *);
static int	bench_ratio_ack(double *);
static void	bench_json(void);
static void	bench_json_phase(yajl_gen, struct phase *);
static void	bench_json_pct(yajl_gen, const char *, struct samples *);
static void	bench_json_str(yajl_gen, const char *);
static void	bench_json_num(yajl_gen, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static const yajl_callbacks bench_parse_cbs = {
	.yajl_boolean = bench_parse_bool_cb,
	.yajl_string = bench_parse_string_cb,
	.yajl_map_key = bench_parse_key_cb,
	.yajl_start_map = bench_parse_open_cb,
	.yajl_end_map = bench_parse_close_cb,
	.yajl_start_array = bench_parse_open_cb,
	.yajl_end_array = bench_parse_close_cb,
};

/* Long options without a short form: codes above 127. */
enum {
	OPT_PACED = 0x100, OPT_PACED_SECONDS, OPT_SUB, OPT_SPOOL_SYNC,
	OPT_TRANSPORT, OPT_ROUTES, OPT_CHANNELS, OPT_WARMUP, OPT_RAW_SECONDS,
	OPT_NO_BASELINE, OPT_JSON, OPT_LABEL, OPT_DIR, OPT_WRAPPER, OPT_KEEP,
	OPT_TIMEOUT
};

int
main(int argc, char **argv)
{
	char err[512];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	bb.clock_base = bench_now();
	if ((rc = bench_options(argc, argv)) != -1)
		return (rc);
	if (bench_setup(err, sizeof(err)) == -1) {
		fprintf(stderr, "sbbench: %s\n", err);
		bench_cleanup(1);
		return (BENCH_EXIT_USAGE);
	}
	if (bench_run() == -1) {
		bench_cleanup(1);
		return (BENCH_EXIT_FAIL);
	}
	if (bb.o.json)
		bench_json();
	else
		bench_print();
	rc = bench_verdict();
	bench_cleanup(rc != BENCH_EXIT_OK);
	return (rc);
}

static void
bench_usage(FILE *f)
{
	fprintf(f,
	    "usage: sbbench [-e ENDPOINT] [-n COUNT | -d SECONDS] [-w WINDOW]"
	    " [-r RATE]\n"
	    "\t[-s BYTES] [-m MIX] [--paced FRACTION] [--paced-seconds S]\n"
	    "\t[--sub ENDPOINT] [--spool-sync normal|off] [--transport "
	    "tcp|ipc]\n"
	    "\t[--routes N] [--channels N] [--warmup N] [--raw-seconds S]"
	    " [--no-baseline]\n"
	    "\t[--json] [--label NAME] [--dir DIR] [--keep]"
	    " [--wrapper 'CMD ARGS']\n"
	    "\t[--timeout S]\n"
	    "\n"
	    "  -e ENDPOINT     use a running daemon (default: start one on a "
	    "config\n"
	    "                  written for the run, $SB_BUILD/switchboardd)\n"
	    "  -n COUNT        publish COUNT notices (0: start, ping, stop)\n"
	    "  -d SECONDS      publish for SECONDS (default 3)\n"
	    "  -w WINDOW       requests in flight (default 500)\n"
	    "  -r RATE         notices a second (default: full speed)\n"
	    "  -s BYTES        body size (default 256)\n"
	    "  -m MIX          class mix, e.g. realtime=50,batch=30,"
	    "interactive=20\n"
	    "                  (default realtime=100)\n"
	    "  --paced F       then publish at F x the full-speed rate, for\n"
	    "                  latency (e.g. 0.5)\n"
	    "  --sub ENDPOINT  with -e: time arrivals on this zmq_pub endpoint"
	    "\n"
	    "  --json          one JSON object instead of the text report\n"
	    "See docs/sbbench.md for every option.\n");
}

static int
bench_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sbbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(sbbench -h for usage)\n");
	return (BENCH_EXIT_USAGE);
}

/* Fill bb.o; -1 to go on, or the exit code (help, a usage error). */
static int
bench_options(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "endpoint", required_argument, NULL, 'e' },
		{ "count", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "window", required_argument, NULL, 'w' },
		{ "rate", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "mix", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ "paced", required_argument, NULL, OPT_PACED },
		{ "paced-seconds", required_argument, NULL, OPT_PACED_SECONDS },
		{ "sub", required_argument, NULL, OPT_SUB },
		{ "spool-sync", required_argument, NULL, OPT_SPOOL_SYNC },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "routes", required_argument, NULL, OPT_ROUTES },
		{ "channels", required_argument, NULL, OPT_CHANNELS },
		{ "warmup", required_argument, NULL, OPT_WARMUP },
		{ "raw-seconds", required_argument, NULL, OPT_RAW_SECONDS },
		{ "no-baseline", no_argument, NULL, OPT_NO_BASELINE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "wrapper", required_argument, NULL, OPT_WRAPPER },
		{ "keep", no_argument, NULL, OPT_KEEP },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ NULL, 0, NULL, 0 }
	};
	struct bench_opts *o = &bb.o;
	double v;
	int ch, bad = 0;

	o->window = 500;
	o->body_size = 256;
	o->mix[CLASS_REALTIME] = 100;
	strlcpy(o->mix_text, "realtime=100", sizeof(o->mix_text));
	o->routes = 10;
	o->channels = 1;
	o->warmup = 2000;
	o->raw_seconds = 2;
	o->paced_seconds = 2;
	o->baseline = 1;
	o->timeout = 30;
	o->dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	opterr = 0;
	while (!bad && (ch = getopt_long(argc, argv, ":e:n:d:w:r:s:m:h", opts,
	    NULL)) != -1) {
		v = 0;
		switch (ch) {
		case 'e':
			o->endpoint = optarg;
			break;
		case 'n':
			bad = bench_opt_num("-n", optarg, 0, 1e12, &v);
			o->count = (uint64_t)v;
			o->count_given = 1;
			break;
		case 'd':
			bad = bench_opt_num("-d", optarg, 0.1, 86400,
			    &o->seconds);
			break;
		case 'w':
			bad = bench_opt_num("-w", optarg, 1, 1000000, &v);
			o->window = (int)v;
			break;
		case 'r':
			bad = bench_opt_num("-r", optarg, 1, 1e8, &o->rate);
			break;
		case 's':
			bad = bench_opt_num("-s", optarg, 0, 16777216, &v);
			o->body_size = (size_t)v;
			break;
		case 'm':
			bad = bench_opt_mix(optarg);
			break;
		case 'h':
			bench_usage(stdout);
			return (BENCH_EXIT_OK);
		case OPT_PACED:
			bad = bench_opt_num("--paced", optarg, 0.01, 1,
			    &o->paced);
			break;
		case OPT_PACED_SECONDS:
			bad = bench_opt_num("--paced-seconds", optarg, 0.1,
			    86400, &o->paced_seconds);
			break;
		case OPT_SUB:
			o->sub = optarg;
			break;
		case OPT_SPOOL_SYNC:
			if (strcmp(optarg, "off") != 0 &&
			    strcmp(optarg, "normal") != 0)
				return (bench_usage_error("--spool-sync: '%s' "
				    "is not normal or off", optarg));
			o->sync_off = strcmp(optarg, "off") == 0;
			break;
		case OPT_TRANSPORT:
			if (strcmp(optarg, "tcp") != 0 &&
			    strcmp(optarg, "ipc") != 0)
				return (bench_usage_error("--transport: '%s' "
				    "is not tcp or ipc", optarg));
			o->ipc = strcmp(optarg, "ipc") == 0;
			break;
		case OPT_ROUTES:
			bad = bench_opt_num("--routes", optarg, 1, 1000000, &v);
			o->routes = (int)v;
			break;
		case OPT_CHANNELS:
			bad = bench_opt_num("--channels", optarg, 1, 100000,
			    &v);
			o->channels = (int)v;
			break;
		case OPT_WARMUP:
			bad = bench_opt_num("--warmup", optarg, 0, 1e9, &v);
			o->warmup = (uint64_t)v;
			break;
		case OPT_RAW_SECONDS:
			bad = bench_opt_num("--raw-seconds", optarg, 0.2, 86400,
			    &o->raw_seconds);
			break;
		case OPT_NO_BASELINE:
			o->baseline = 0;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_LABEL:
			o->label = optarg;
			break;
		case OPT_DIR:
			o->dir = optarg;
			break;
		case OPT_WRAPPER:
			o->wrapper = optarg;
			break;
		case OPT_KEEP:
			o->keep = 1;
			break;
		case OPT_TIMEOUT:
			bad = bench_opt_num("--timeout", optarg, 1, 86400,
			    &o->timeout);
			break;
		case ':':
			return (bench_usage_error("%s needs a value",
			    argv[optind - 1]));
		default:
			return (bench_usage_error("unknown option '%s'",
			    argv[optind - 1]));
		}
	}
	if (bad)
		return (BENCH_EXIT_USAGE);
	if (optind != argc)
		return (bench_usage_error("unexpected argument '%s'",
		    argv[optind]));
	return (bench_opts_check());
}

/* A number within [min, max]; prints the error and returns 1 if not. */
static int
bench_opt_num(const char *opt, const char *s, double min, double max,
    double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || isnan(v)) {
		bench_usage_error("%s: '%s' is not a number", opt, s);
		return (1);
	}
	if (v < min || v > max) {
		bench_usage_error("%s: %s is out of range (%.10g to %.10g)",
		    opt, s, min, max);
		return (1);
	}
	*out = v;
	return (0);
}

/* "realtime=50,batch=30,interactive=20"; a bare class name is 100. */
static int
bench_opt_mix(const char *s)
{
	char buf[128], *p, *save = NULL, *eq, *end;
	unsigned long w;
	unsigned total = 0;
	int c;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf)) {
		bench_usage_error("-m: '%.40s...' is too long", s);
		return (1);
	}
	memset(bb.o.mix, 0, sizeof(bb.o.mix));
	for (p = strtok_r(buf, ",", &save); p != NULL;
	    p = strtok_r(NULL, ",", &save)) {
		w = 100;
		if ((eq = strchr(p, '=')) != NULL) {
			*eq = '\0';
			errno = 0;
			w = strtoul(eq + 1, &end, 10);
			if (eq[1] == '\0' || *end != '\0' || errno != 0 ||
			    w > 1000) {
				bench_usage_error("-m: the weight of %s, '%s', "
				    "is not a whole number from 0 to 1000", p,
				    eq + 1);
				return (1);
			}
		}
		if ((c = notice_class_parse(p)) < 0) {
			bench_usage_error("-m: unknown class '%s' (expected "
			    "realtime, batch, interactive)", p);
			return (1);
		}
		bb.o.mix[c] = (unsigned)w;
		total += (unsigned)w;
	}
	if (total == 0) {
		bench_usage_error("-m: '%s' gives no class a weight above 0",
		    s);
		return (1);
	}
	strlcpy(bb.o.mix_text, s, sizeof(bb.o.mix_text));
	return (0);
}

/* Options that only make sense together; -1 to go on. */
static int
bench_opts_check(void)
{
	struct bench_opts *o = &bb.o;

	if (o->count_given && o->seconds > 0)
		return (bench_usage_error("-n and -d cannot both be given: "
		    "publish a count or for a time"));
	if (!o->count_given && o->seconds == 0)
		o->seconds = 3;
	if (o->paced > 0 && o->rate > 0)
		return (bench_usage_error("--paced runs at a fraction of the "
		    "full-speed rate, so it cannot be combined with -r"));
	if (o->sub != NULL && o->endpoint == NULL)
		return (bench_usage_error("--sub is for a running daemon (-e);"
		    " a daemon sbbench starts is always subscribed to"));
	if (o->wrapper != NULL && o->endpoint != NULL)
		return (bench_usage_error("--wrapper wraps the daemon sbbench "
		    "starts; it cannot be combined with -e"));
	return (-1);
}

/* An error message for a person; cut to the buffer, which is fine. */
static void
bench_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static uint64_t
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec -
	    bb.clock_base);
}

/* The temp dir; the daemon (started or found); the subscriber. */
static int
bench_setup(char *err, size_t errlen)
{
	if ((size_t)snprintf(bb.dir, sizeof(bb.dir), "%s/sbb-XXXXXX",
	    bb.o.dir) >= sizeof(bb.dir) || mkdtemp(bb.dir) == NULL) {
		bench_errf(err, errlen, "--dir %s: cannot make a directory "
		    "there: %s", bb.o.dir, strerror(errno));
		bb.dir[0] = '\0';
		return (-1);
	}
	/* sun_path holds 107 bytes; the longest name is "/raw-1.ipc". */
	if (bb.o.ipc && strlen(bb.dir) + sizeof("/raw-1.ipc") > 108) {
		bench_errf(err, errlen, "--dir %s: too long for ipc:// paths "
		    "(%zu bytes; at most %zu with the directory sbbench makes "
		    "there)", bb.o.dir, strlen(bb.o.dir), 108 -
		    sizeof("/raw-1.ipc") - sizeof("/sbb-XXXXXX") + 1);
		return (-1);
	}
	if (bench_msgs_build(err, errlen) == -1)
		return (-1);
	if (bb.o.endpoint != NULL) {
		strlcpy(bb.ingress, bb.o.endpoint, sizeof(bb.ingress));
		if (bb.o.sub != NULL)
			strlcpy(bb.pub, bb.o.sub, sizeof(bb.pub));
	} else if (bench_daemon_start(err, errlen) == -1)
		return (-1);
	if ((bb.zctx = zmq_ctx_new()) == NULL) {
		bench_errf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		return (-1);
	}
	if (bench_ping(bb.ingress, bb.o.wrapper != NULL ? bb.o.timeout * 4 :
	    bb.o.timeout, err, errlen) == -1)
		return (-1);
	if (bb.pub[0] != '\0' && bench_sub_start(err, errlen) == -1)
		return (-1);
	return (0);
}

/* A loopback tcp port nothing listens on now (bind port 0). */
static int
bench_free_port(int *port, char *err, size_t errlen)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
		bench_errf(err, errlen, "cannot find a free tcp port on "
		    "127.0.0.1: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	close(fd);
	*port = ntohs(sin.sin_port);
	return (0);
}

/* The scenario's config: see docs/sbbench.md for its shape. */
static int
bench_config_write(const char *path, char *err, size_t errlen)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL) {
		bench_errf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	fprintf(f, "# Written by sbbench for one run.\n"
	    "log_level = \"warn\";\nshutdown_timeout = \"5s\";\n"
	    "ingress = {\n\trouter = ");
	bench_config_string(f, bb.ingress);
	fprintf(f, ";\n};\nspool = {\n\tpath = \"spool.db\";\n"
	    "\tsync = \"%s\";\n};\n", bb.o.sync_off ? "off" : "normal");
	fprintf(f, "status = { socket = \"status.sock\"; };\n");
	bench_config_channels(f);
	bench_config_routes(f);
	if (fflush(f) == EOF || ferror(f)) {
		bench_errf(err, errlen, "%s: %s", path, strerror(errno));
		fclose(f);
		return (-1);
	}
	fclose(f);
	return (0);
}

/* The zmq_pub channel the arrivals are timed on, then the discards. */
static void
bench_config_channels(FILE *f)
{
	int i;

	fprintf(f, "channels = {\n\t%s = {\n\t\ttype = \"zmq_pub\";\n"
	    "\t\tendpoint = ", BENCH_PUB_CHANNEL);
	bench_config_string(f, bb.pub);
	fprintf(f, ";\n\t\tsndhwm = %d;\n\t\tqueue_max = %d;\n\t};\n",
	    BENCH_QUEUE_MAX, BENCH_QUEUE_MAX);
	for (i = 1; i < bb.o.channels; i++)
		fprintf(f, "\tbench-d%d = { type = \"discard\"; "
		    "queue_max = %d; };\n", i, BENCH_QUEUE_MAX);
	fprintf(f, "};\n");
}

/*
 * Routes that never match the bench's notices (four kinds of test, in
 * turn), then one route per class that does: realtime last, so that a
 * realtime notice is tested against every route.
 */
static void
bench_config_routes(FILE *f)
{
	static const char *const last[] = { "batch", "interactive",
	    "realtime" };
	int i, nmatch = bb.o.routes >= 3 ? 3 : 1;

	fprintf(f, "routes = (\n");
	for (i = 1; i <= bb.o.routes - nmatch; i++) {
		fprintf(f, "\t{ name = \"miss-%d\"; match = { ", i);
		switch (i % 4) {
		case 0:
			fprintf(f, "source = \"%s-%d*\";", BENCH_SOURCE, i);
			break;
		case 1:
			fprintf(f, "audience = \"dept:bench-%d\";", i);
			break;
		case 2:
			fprintf(f, "tags = { sbbench-route = \"r%d\"; };", i);
			break;
		default:
			fprintf(f, "priority = \"high\"; source = "
			    "[ \"svc-%d\", \"svc-%d.*\" ];", i, i);
			break;
		}
		fprintf(f, " }; channels = \"%s\"; },\n", BENCH_PUB_CHANNEL);
	}
	for (i = 0; i < nmatch; i++) {
		if (nmatch == 1)
			fprintf(f, "\t{ name = \"bench-all\"; match = { "
			    "source = \"%s\"; };\n\t  channels = ",
			    BENCH_SOURCE);
		else
			fprintf(f, "\t{ name = \"bench-%s\"; match = { "
			    "source = \"%s\"; class = \"%s\"; };\n"
			    "\t  channels = ", last[i], BENCH_SOURCE, last[i]);
		bench_config_targets(f, i);
		fprintf(f, "; }%s\n", i + 1 < nmatch ? "," : "");
	}
	fprintf(f, ");\n");
}

/*
 * The channels of matching route k: the zmq_pub and as many discards as
 * one notice may reach (ROUTE_TARGETS_MAX in all), each route starting
 * at another third of the discards so that all of them are used.
 */
static void
bench_config_targets(FILE *f, int k)
{
	int j, ndisc = bb.o.channels - 1, fan, start;

	fan = ndisc < ROUTE_TARGETS_MAX - 1 ? ndisc : ROUTE_TARGETS_MAX - 1;
	start = k * ndisc / 3;
	fprintf(f, "[ \"%s\"", BENCH_PUB_CHANNEL);
	for (j = 0; j < fan; j++)
		fprintf(f, ", \"bench-d%d\"", (start + j) % ndisc + 1);
	fprintf(f, " ]");
}

/* A libconfig string literal. */
static void
bench_config_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Endpoints, config, then fork and exec [wrapper...] switchboardd -f. */
static int
bench_daemon_start(char *err, size_t errlen)
{
	char path[PATH_MAX], conf[PATH_MAX + 32], log[PATH_MAX + 32];
	char wrap[1024], *argv[BENCH_WRAPPER_ARGS + 5], *p, *save = NULL;
	int in_port, pub_port, fd, n = 0;

	if (bb.o.ipc) {
		snprintf(bb.ingress, sizeof(bb.ingress), "ipc://%s/in.ipc",
		    bb.dir);
		snprintf(bb.pub, sizeof(bb.pub), "ipc://%s/pub.ipc", bb.dir);
	} else {
		if (bench_free_port(&in_port, err, errlen) == -1 ||
		    bench_free_port(&pub_port, err, errlen) == -1)
			return (-1);
		snprintf(bb.ingress, sizeof(bb.ingress),
		    "tcp://127.0.0.1:%d", in_port);
		snprintf(bb.pub, sizeof(bb.pub), "tcp://127.0.0.1:%d",
		    pub_port);
	}
	snprintf(conf, sizeof(conf), "%s/switchboard.conf", bb.dir);
	snprintf(log, sizeof(log), "%s/switchboardd.log", bb.dir);
	if (bench_config_write(conf, err, errlen) == -1)
		return (-1);
	if (bench_daemon_path(path, sizeof(path)) == -1) {
		bench_errf(err, errlen, "cannot find switchboardd: set "
		    "SB_BUILD to the directory it was built in");
		return (-1);
	}
	if (access(path, X_OK) == -1) {
		bench_errf(err, errlen, "%s: %s (set SB_BUILD to the directory "
		    "switchboardd was built in)", path, strerror(errno));
		return (-1);
	}
	if (bb.o.wrapper != NULL) {
		strlcpy(wrap, bb.o.wrapper, sizeof(wrap));
		for (p = strtok_r(wrap, " \t", &save); p != NULL &&
		    n < BENCH_WRAPPER_ARGS; p = strtok_r(NULL, " \t", &save))
			argv[n++] = p;
	}
	argv[n++] = path;
	argv[n++] = "-f";
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n] = NULL;
	if ((bb.daemon = fork()) == -1) {
		bench_errf(err, errlen, "fork: %s", strerror(errno));
		return (-1);
	}
	if (bb.daemon == 0) {
		if (chdir(bb.dir) == -1 || (fd = open(log, O_WRONLY | O_CREAT |
		    O_TRUNC, 0644)) == -1)
			_exit(126);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
		execvp(argv[0], argv);
		fprintf(stderr, "sbbench: exec %s: %s\n", argv[0],
		    strerror(errno));
		_exit(127);
	}
	return (0);
}

/* $SB_BUILD/switchboardd, else beside sbbench itself. */
static int
bench_daemon_path(char *buf, size_t len)
{
	char self[PATH_MAX], *slash;
	const char *build = getenv("SB_BUILD");
	ssize_t n;

	if (build != NULL && *build != '\0') {
		if (realpath(build, self) == NULL)
			return (-1);
	} else {
		if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) ==
		    -1)
			return (-1);
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
	}
	if ((size_t)snprintf(buf, len, "%s/switchboardd", self) >= len)
		return (-1);
	return (0);
}

/* 1 while the daemon we started runs; reaps it when it has stopped. */
static int
bench_daemon_alive(void)
{
	if (bb.daemon <= 0 || bb.daemon_stopped)
		return (0);
	if (wait4(bb.daemon, &bb.daemon_status, WNOHANG, &bb.daemon_usage) ==
	    bb.daemon) {
		bb.daemon_stopped = 1;
		return (0);
	}
	return (1);
}

/* SIGTERM, then wait for it (a drain may take shutdown_timeout). */
static void
bench_daemon_stop(void)
{
	uint64_t until;

	if (!bench_daemon_alive())
		return;
	kill(bb.daemon, SIGTERM);
	until = bench_now() + (uint64_t)((bb.o.wrapper != NULL ? 4 : 1) *
	    bb.o.timeout * 1e9);
	while (bench_daemon_alive() && bench_now() < until)
		usleep(10000);
	if (bench_daemon_alive()) {
		fprintf(stderr, "sbbench: the daemon (pid %d) did not stop on "
		    "SIGTERM within %.0f s: killed\n", (int)bb.daemon,
		    bb.o.timeout);
		kill(bb.daemon, SIGKILL);
		wait4(bb.daemon, &bb.daemon_status, 0, &bb.daemon_usage);
		bb.daemon_stopped = 1;
	}
	bench_daemon_log_scan();
}

/* Count the warnings the daemon logged (log_level is warn). */
static void
bench_daemon_log_scan(void)
{
	char path[PATH_MAX + 32], line[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/switchboardd.log", bb.dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "level=warn") == NULL &&
		    strstr(line, "level=error") == NULL)
			continue;
		if (bb.daemon_warnings++ == 0) {
			line[strcspn(line, "\n")] = '\0';
			strlcpy(bb.daemon_warning, line,
			    sizeof(bb.daemon_warning));
		}
	}
	fclose(f);
}

/* The end of the daemon's log, when it failed to start or died. */
static void
bench_daemon_log_tail(void)
{
	char path[PATH_MAX + 32], line[1024], lines[20][1024];
	size_t n = 0, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/switchboardd.log", bb.dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		strlcpy(lines[n++ % 20], line, sizeof(lines[0]));
	fclose(f);
	fprintf(stderr, "sbbench: the end of %s:\n", path);
	for (i = n > 20 ? n - 20 : 0; i < n; i++)
		fprintf(stderr, "  %s", lines[i % 20]);
}

/* Ask until the daemon answers a ping, it dies, or the time is up. */
static int
bench_ping(const char *endpoint, double timeout_s, char *err, size_t errlen)
{
	static const char ping[] = "{\"type\":\"ping\"}";
	zmq_pollitem_t pi;
	char reply[256];
	uint64_t until = bench_now() + (uint64_t)(timeout_s * 1e9);
	void *s;
	int n;

	if ((s = bench_socket(bb.zctx, ZMQ_DEALER, endpoint, err, errlen)) ==
	    NULL)
		return (-1);
	pi = (zmq_pollitem_t){ .socket = s, .events = ZMQ_POLLIN };
	while (bench_now() < until) {
		if (bb.daemon > 0 && !bench_daemon_alive()) {
			bench_errf(err, errlen, "the daemon exited before it "
			    "answered a ping (status %d)", bb.daemon_status);
			bench_daemon_log_tail();
			zmq_close(s);
			return (-1);
		}
		zmq_send(s, ping, sizeof(ping) - 1, ZMQ_DONTWAIT);
		if (zmq_poll(&pi, 1, 250) < 1)
			continue;
		n = zmq_recv(s, reply, sizeof(reply) - 1, 0);
		zmq_close(s);
		if (n < 0 || !bench_reply_ok(reply, (size_t)n, -1, NULL)) {
			bench_errf(err, errlen, "%s: the ping was not answered "
			    "ok: %.*s", endpoint, n < 0 ? 0 : n, reply);
			return (-1);
		}
		return (0);
	}
	zmq_close(s);
	bench_errf(err, errlen, "%s: no answer to a ping within %.0f s",
	    endpoint, timeout_s);
	if (bb.daemon > 0)
		bench_daemon_log_tail();
	return (-1);
}

/* Stop what runs; remove the temp dir unless it should be kept. */
static void
bench_cleanup(int failed)
{
	struct dirent *de;
	DIR *d;
	int fd;

	bench_sub_stop();
	bench_raw_stop();
	bench_daemon_stop();
	if (bb.zctx != NULL)
		zmq_ctx_term(bb.zctx);
	bb.zctx = NULL;
	if (bb.dir[0] == '\0')
		return;
	if (bb.o.keep || (failed && bb.daemon > 0)) {
		fprintf(stderr, "sbbench: kept %s\n", bb.dir);
		return;
	}
	if ((d = opendir(bb.dir)) == NULL)
		return;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	rmdir(bb.dir);
}

/* One request template per class, with yajl_gen. */
static int
bench_msgs_build(char *err, size_t errlen)
{
	int c;

	for (c = 0; c < CLASS_COUNT; c++) {
		if (bench_msg_build(c, &bb.msgs[c]) == -1) {
			bench_errf(err, errlen, "cannot build a %zu-byte %s "
			    "notice (out of memory)", bb.o.body_size,
			    notice_class_name(c));
			return (-1);
		}
	}
	return (0);
}

/*
 * The default classification decides the class (SPEC §3): respond_within
 * makes a notice interactive, priority high realtime, anything else batch.
 */
static int
bench_msg_build(int class, struct bench_msg *m)
{
	const unsigned char *out;
	char subject[64], *body = NULL, *at;
	size_t len, i;
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL ||
	    (body = malloc(bb.o.body_size + 1)) == NULL)
		goto fail;
	for (i = 0; i < bb.o.body_size; i++)
		body[i] = "abcdefghijklmnopqrstuvwxyz "[i % 27];
	body[bb.o.body_size] = '\0';
	snprintf(subject, sizeof(subject), "sbbench %s notice",
	    notice_class_name(class));
	yajl_gen_map_open(g);
	bench_json_str(g, "source");
	bench_json_str(g, BENCH_SOURCE);
	bench_json_str(g, "audience");
	yajl_gen_array_open(g);
	bench_json_str(g, "dept:bench");
	yajl_gen_array_close(g);
	bench_json_str(g, "subject");
	bench_json_str(g, subject);
	if (bb.o.body_size > 0) {
		bench_json_str(g, "body");
		bench_json_str(g, body);
	}
	bench_json_str(g, "priority");
	bench_json_str(g, class == CLASS_REALTIME ? "high" : "normal");
	if (class == CLASS_INTERACTIVE) {
		bench_json_str(g, "respond_within");
		bench_json_str(g, "4h");
	}
	bench_json_str(g, "tags");
	yajl_gen_map_open(g);
	bench_json_str(g, BENCH_STAMP_TAG);
	bench_json_str(g, BENCH_STAMP_MARK);
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok ||
	    (m->buf = malloc(len)) == NULL)
		goto fail;
	memcpy(m->buf, out, len);
	m->len = len;
	at = memmem(m->buf, len, BENCH_STAMP_MARK, BENCH_STAMP_LEN);
	m->stamp_off = (size_t)(at - m->buf);
	yajl_gen_free(g);
	free(body);
	return (0);
fail:
	if (g != NULL)
		yajl_gen_free(g);
	free(body);
	return (-1);
}

/* Smooth weighted round robin: the mix, exactly and evenly spread. */
static int
bench_next_class(void)
{
	int c, best = -1;
	int total = 0;

	for (c = 0; c < CLASS_COUNT; c++) {
		bb.wrr[c] += (int)bb.o.mix[c];
		total += (int)bb.o.mix[c];
		if (bb.o.mix[c] > 0 && (best == -1 || bb.wrr[c] > bb.wrr[best]))
			best = c;
	}
	bb.wrr[best] -= total;
	return (best);
}

/* A connected socket with unlimited queues: the window is the limit. */
static void *
bench_socket(void *zctx, int type, const char *endpoint, char *err,
    size_t errlen)
{
	int zero = 0;
	void *s;

	if ((s = zmq_socket(zctx, type)) == NULL) {
		bench_errf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		return (NULL);
	}
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof(zero));
	if (zmq_connect(s, endpoint) == -1) {
		bench_errf(err, errlen, "connect %s: %s", endpoint,
		    zmq_strerror(errno));
		zmq_close(s);
		return (NULL);
	}
	return (s);
}

/* Warm-up, full speed (or the set rate), paced; then the baseline. */
static int
bench_run(void)
{
	char err[512];
	void *s;

	if ((s = bench_socket(bb.zctx, ZMQ_DEALER, bb.ingress, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "sbbench: %s\n", err);
		return (-1);
	}
	if (bench_warmup(s) == -1) {
		zmq_close(s);
		return (-1);
	}
	bb.full = (struct phase){ .name = bb.o.rate > 0 ? "rate" : "full",
	    .id = 2, .rate = bb.o.rate, .limit = bb.o.count,
	    .seconds = bb.o.count_given ? 0 : bb.o.seconds,
	    .check_class = 1 };
	if (!bb.o.count_given || bb.o.count > 0)
		bench_phase_run(s, &bb.full, bb.o.window);
	if (bb.o.paced > 0 && bb.full.ok > 0 && bb.full.lost == 0) {
		bb.paced = (struct phase){ .name = "paced", .id = 3,
		    .rate = bb.o.paced * bench_rate(&bb.full),
		    .seconds = bb.o.paced_seconds, .check_class = 1 };
		bench_phase_run(s, &bb.paced, bb.o.window);
		bb.ran_paced = 1;
	}
	zmq_close(s);
	bench_sub_settle(bb.paced.sent + bb.full.sent + bb.warm.sent);
	bench_sub_stop();
	bench_arrivals_assign(&bb.full);
	bench_arrivals_assign(&bb.paced);
	getrusage(RUSAGE_SELF, &bb.client_usage);
	bench_daemon_stop();
	if (bb.daemon > 0 && (!WIFEXITED(bb.daemon_status) ||
	    WEXITSTATUS(bb.daemon_status) != 0))
		bench_daemon_log_tail();
	if (bb.o.baseline && bench_raw_run(err, sizeof(err)) == -1) {
		fprintf(stderr, "sbbench: baseline: %s\n", err);
		return (-1);
	}
	return (0);
}

/*
 * Warm the daemon up (SQLite pages, allocator), and wait for the SUB to
 * be joined: a PUB drops what it sends before the subscription is in.
 */
static int
bench_warmup(void *s)
{
	uint64_t until = bench_now() + (uint64_t)(BENCH_SLOW_JOIN_S * 1e9);
	uint64_t chunk = bb.o.warmup > 0 && bb.o.warmup < 100 ? bb.o.warmup :
	    100;

	bb.warm = (struct phase){ .name = "warmup", .id = 1, .check_class = 1 };
	if (bb.sub.running) {
		while (atomic_load(&bb.sub.arrived) == 0 && bench_now() <
		    until) {
			bb.warm.limit += chunk > 0 ? chunk : 1;
			bench_phase_run(s, &bb.warm, bb.o.window);
			if (bb.warm.failed > 0 || bb.warm.lost > 0)
				break;
			usleep(20000);
		}
		if (atomic_load(&bb.sub.arrived) == 0)
			fprintf(stderr, "sbbench: the subscriber on %s saw no "
			    "notice during the warm-up: arrival times will be"
			    " missing\n", bb.pub);
	}
	if (bb.warm.limit < bb.o.warmup) {
		bb.warm.limit = bb.o.warmup;
		bench_phase_run(s, &bb.warm, bb.o.window);
	}
	if (bb.warm.failed > 0 || bb.warm.lost > 0) {
		fprintf(stderr, "sbbench: the warm-up failed: %llu of %llu "
		    "notices failed, %llu unanswered%s%s\n",
		    (unsigned long long)bb.warm.failed,
		    (unsigned long long)bb.warm.sent,
		    (unsigned long long)bb.warm.lost,
		    bb.warm.error[0] ? "; first reply: " : "", bb.warm.error);
		return (-1);
	}
	return (0);
}

/*
 * Publish with at most `window` in flight until the count or the time is
 * reached (at ph->rate when set), then wait for the replies still due.
 * A phase may be run again to send more (the warm-up does).
 */
static void
bench_phase_run(void *s, struct phase *ph, int window)
{
	uint64_t now, due = 0, drain_until = 0, period = 0;
	uint64_t inflight = 0, start_sent = ph->sent;
	int sending;

	if (ph->start_ns == 0)
		ph->start_ns = bench_now();
	if (ph->rate > 0)
		period = (uint64_t)(1e9 / ph->rate);
	for (;;) {
		now = bench_now();
		sending = ph->limit > 0 ? ph->sent < ph->limit :
		    now - ph->start_ns < (uint64_t)(ph->seconds * 1e9);
		while (sending && inflight < (uint64_t)window) {
			due = ph->start_ns + (ph->sent - start_sent) * period;
			if (period > 0 && due > now)
				break;
			if (period > 0 && now - due > 1000000)
				ph->late++;
			if (bench_phase_send(s, ph, now) == -1)
				break;
			inflight++;
			if (ph->limit > 0 && ph->sent >= ph->limit)
				sending = 0;
		}
		inflight -= bench_phase_recv(s, ph);
		if (!sending && inflight == 0)
			break;
		now = bench_now();
		if (!sending && drain_until == 0)
			drain_until = now + (uint64_t)(bb.o.timeout * 1e9);
		if (!sending && now > drain_until) {
			ph->lost += inflight;
			break;
		}
		if (bb.daemon > 0 && !sending && !bench_daemon_alive()) {
			ph->lost += inflight;
			break;
		}
		if (sending && inflight < (uint64_t)window && period > 0)
			bench_wait(s, due > now ? due - now : 0);
		else if (inflight >= (uint64_t)window || !sending)
			bench_wait(s, 100000000);
	}
	ph->elapsed = (double)((ph->end_ns > ph->start_ns ? ph->end_ns :
	    bench_now()) - ph->start_ns) / 1e9;
}

/* One request: the stamp frame, then the JSON with its tag stamped. */
static int
bench_phase_send(void *s, struct phase *ph, uint64_t now)
{
	struct bench_stamp st;
	struct bench_msg *m;
	char digits[BENCH_STAMP_LEN + 1];
	int c = bench_next_class();

	m = &bb.msgs[c];
	st = (struct bench_stamp){ .phase = ph->id, .class = (uint32_t)c,
	    .sent_ns = now };
	snprintf(digits, sizeof(digits), "%020llu", (unsigned long long)now);
	memcpy(m->buf + m->stamp_off, digits, BENCH_STAMP_LEN);
	if (zmq_send(s, &st, sizeof(st), ZMQ_SNDMORE) == -1 ||
	    zmq_send(s, m->buf, m->len, 0) == -1)
		return (-1);
	ph->sent++;
	ph->sent_class[c]++;
	ph->last_send_ns = now;
	return (0);
}

/* Take every reply that is there now; returns how many. */
static size_t
bench_phase_recv(void *s, struct phase *ph)
{
	struct bench_stamp st;
	zmq_msg_t frame;
	size_t n = 0;
	int have_stamp;

	for (;;) {
		zmq_msg_init(&frame);
		if (zmq_msg_recv(&frame, s, ZMQ_DONTWAIT) == -1) {
			zmq_msg_close(&frame);
			return (n);
		}
		have_stamp = zmq_msg_size(&frame) == sizeof(st);
		if (have_stamp)
			memcpy(&st, zmq_msg_data(&frame), sizeof(st));
		while (zmq_msg_more(&frame)) {
			zmq_msg_close(&frame);
			zmq_msg_init(&frame);
			if (zmq_msg_recv(&frame, s, 0) == -1)
				break;
		}
		if (have_stamp && st.phase == ph->id) {
			bench_phase_reply(ph, &st, zmq_msg_data(&frame),
			    zmq_msg_size(&frame), bench_now());
			n++;
		}
		zmq_msg_close(&frame);
	}
}

static void
bench_phase_reply(struct phase *ph, const struct bench_stamp *st,
    const char *body, size_t len, uint64_t now)
{
	int class = -1;

	ph->end_ns = now;
	samples_add(&ph->ack, now - st->sent_ns);
	if (!bench_reply_ok(body, len, ph->check_class ? 1 : -1, &class)) {
		if (ph->failed++ == 0)
			snprintf(ph->error, sizeof(ph->error), "%.*s",
			    (int)(len < BENCH_ERROR_MAX ? len :
			    BENCH_ERROR_MAX), body);
		return;
	}
	ph->ok++;
	if (st->class < CLASS_COUNT)
		ph->ok_class[st->class]++;
	if (ph->check_class && class != (int)st->class)
		ph->mismatched++;
	if (bb.reply == NULL && ph->check_class &&
	    (bb.reply = malloc(len)) != NULL) {
		memcpy(bb.reply, body, len);
		bb.reply_len = len;
	}
}

/*
 * Wait up to ns for input on s, to the nanosecond (zmq_poll counts in
 * milliseconds, too coarse for a paced send). ZMQ_FD only says that
 * ZMQ_EVENTS may have changed, so ZMQ_EVENTS is read first.
 */
static int
bench_wait(void *s, uint64_t ns)
{
	struct timespec ts;
	struct pollfd pfd;
	size_t len = sizeof(int);
	int fd, events;

	if (zmq_getsockopt(s, ZMQ_EVENTS, &events, &len) == 0 &&
	    (events & ZMQ_POLLIN))
		return (1);
	len = sizeof(fd);
	if (ns == 0 || zmq_getsockopt(s, ZMQ_FD, &fd, &len) == -1)
		return (0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	ts.tv_sec = (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	return (ppoll(&pfd, 1, &ts, NULL));
}

/* Parse until the callbacks have what they need; 0 on bad JSON. */
static int
bench_parse(struct bench_parse *p, const char *buf, size_t len)
{
	yajl_handle h;
	yajl_status st;

	p->ok = -1;
	p->class = -1;
	if ((h = yajl_alloc(&bench_parse_cbs, NULL, p)) == NULL)
		return (0);
	st = yajl_parse(h, (const unsigned char *)buf, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	yajl_free(h);
	return (st != yajl_status_error);
}

static int
bench_parse_bool_cb(void *ctx, int b)
{
	struct bench_parse *p = ctx;

	if (p->depth == 1 && p->key == KEY_OK)
		p->ok = b;
	p->key = KEY_NONE;
	return (!bench_parse_done(p));
}

static int
bench_parse_string_cb(void *ctx, const unsigned char *s, size_t len)
{
	struct bench_parse *p = ctx;
	char buf[BENCH_STAMP_LEN + 1];

	if (p->depth == 1 && p->key == KEY_CLASS && len < sizeof(buf)) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		p->class = notice_class_parse(buf);
	} else if (p->depth == 2 && p->in_tags && p->key == KEY_STAMP &&
	    len == BENCH_STAMP_LEN) {
		memcpy(buf, s, len);
		buf[len] = '\0';
		p->stamp = strtoull(buf, NULL, 10);
		p->have_stamp = 1;
	}
	p->key = KEY_NONE;
	return (!bench_parse_done(p));
}

static int
bench_parse_key_cb(void *ctx, const unsigned char *s, size_t len)
{
	struct bench_parse *p = ctx;

#define KEY_IS(k)	(len == sizeof(k) - 1 && memcmp(s, k, len) == 0)
	p->key = KEY_NONE;
	if (p->depth == 1 && KEY_IS("ok"))
		p->key = KEY_OK;
	else if (p->depth == 1 && KEY_IS("class"))
		p->key = KEY_CLASS;
	else if (p->depth == 1 && KEY_IS("tags"))
		p->key = KEY_TAGS;
	else if (p->depth == 2 && p->in_tags && KEY_IS(BENCH_STAMP_TAG))
		p->key = KEY_STAMP;
#undef KEY_IS
	return (1);
}

static int
bench_parse_open_cb(void *ctx)
{
	struct bench_parse *p = ctx;

	if (p->depth == 1 && p->key == KEY_TAGS)
		p->in_tags = 1;
	p->key = KEY_NONE;
	p->depth++;
	return (1);
}

static int
bench_parse_close_cb(void *ctx)
{
	struct bench_parse *p = ctx;

	if (--p->depth == 1)
		p->in_tags = 0;
	p->key = KEY_NONE;
	return (!bench_parse_done(p));
}

/* Whether parsing may stop: a reply's verdict, an arrival's stamp. */
static int
bench_parse_done(const struct bench_parse *p)
{
	if (p->need_stamp)
		return (p->have_stamp && p->class != -1);
	if (p->ok == 0)
		return (1);
	return (p->ok == 1 && (!p->need_class || p->class != -1));
}

/*
 * Whether a reply says ok (with its class when need_class is 1; -1: the
 * class is not asked for). The same work for the daemon's replies and the
 * baseline's echo of one, so the client costs the same in both.
 */
static int
bench_reply_ok(const char *buf, size_t len, int need_class, int *class)
{
	struct bench_parse p;

	memset(&p, 0, sizeof(p));
	p.need_class = need_class == 1;
	if (!bench_parse(&p, buf, len) || p.ok != 1)
		return (0);
	if (class != NULL)
		*class = p.class;
	return (1);
}

/* A SUB on the zmq_pub endpoint, read by a thread of its own. */
static int
bench_sub_start(char *err, size_t errlen)
{
	struct bench_sub *sb = &bb.sub;
	int timeout = 100;
	const char *topic = bb.o.endpoint != NULL ? "" : BENCH_PUB_CHANNEL;

	if ((sb->zctx = zmq_ctx_new()) == NULL ||
	    (sb->sock = bench_socket(sb->zctx, ZMQ_SUB, bb.pub, err,
	    errlen)) == NULL)
		return (-1);
	zmq_setsockopt(sb->sock, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(sb->sock, ZMQ_SUBSCRIBE, topic, strlen(topic));
	if (pthread_create(&sb->thread, NULL, bench_sub_main, sb) != 0) {
		bench_errf(err, errlen, "cannot start the subscriber thread");
		return (-1);
	}
	sb->running = 1;
	return (0);
}

static void *
bench_sub_main(void *arg)
{
	struct bench_sub *sb = arg;
	zmq_msg_t frame;
	uint64_t now;

	while (!atomic_load(&sb->stop)) {
		zmq_msg_init(&frame);
		if (zmq_msg_recv(&frame, sb->sock, 0) == -1) {
			zmq_msg_close(&frame);
			continue;
		}
		now = bench_now();
		/* [channel, delivery JSON]: the JSON is the last frame. */
		while (zmq_msg_more(&frame)) {
			zmq_msg_close(&frame);
			zmq_msg_init(&frame);
			if (zmq_msg_recv(&frame, sb->sock, 0) == -1)
				break;
		}
		bench_sub_record(sb, zmq_msg_data(&frame), zmq_msg_size(&frame),
		    now);
		zmq_msg_close(&frame);
	}
	return (NULL);
}

static void
bench_sub_record(struct bench_sub *sb, const char *buf, size_t len,
    uint64_t now)
{
	struct bench_parse p;
	struct arrival *nv;
	size_t cap;

	memset(&p, 0, sizeof(p));
	p.need_stamp = 1;
	if (!bench_parse(&p, buf, len) || !p.have_stamp || p.stamp > now) {
		sb->unstamped++;
		return;
	}
	if (sb->n == sb->cap) {
		cap = sb->cap ? sb->cap * 2 : 65536;
		if ((nv = realloc(sb->v, cap * sizeof(*nv))) == NULL) {
			sb->unstamped++;
			return;
		}
		sb->v = nv;
		sb->cap = cap;
	}
	sb->v[sb->n++] = (struct arrival){ .sent_ns = p.stamp,
	    .lat_ns = now - p.stamp, .class = p.class };
	atomic_fetch_add(&sb->arrived, 1);
}

/* Wait for arrivals still under way: until all or quiet for a while. */
static void
bench_sub_settle(uint64_t expected)
{
	unsigned long long last = 0, now;
	uint64_t quiet_since = bench_now();
	uint64_t until = quiet_since + (uint64_t)(bb.o.timeout * 1e9);

	if (!bb.sub.running)
		return;
	while (bench_now() < until) {
		now = atomic_load(&bb.sub.arrived);
		if (now >= expected)
			return;
		if (now != last) {
			last = now;
			quiet_since = bench_now();
		} else if (bench_now() - quiet_since >
		    BENCH_ARRIVAL_GRACE_MS * 1000000ull)
			return;
		usleep(10000);
	}
}

static void
bench_sub_stop(void)
{
	struct bench_sub *sb = &bb.sub;

	if (sb->running) {
		atomic_store(&sb->stop, 1);
		pthread_join(sb->thread, NULL);
		sb->running = 0;
	}
	if (sb->sock != NULL)
		zmq_close(sb->sock);
	sb->sock = NULL;
	if (sb->zctx != NULL)
		zmq_ctx_term(sb->zctx);
	sb->zctx = NULL;
}

/* The arrivals of notices sent during a phase, by class. */
static void
bench_arrivals_assign(struct phase *ph)
{
	const struct arrival *a;
	size_t i;

	if (ph->sent == 0)
		return;
	for (i = 0; i < bb.sub.n; i++) {
		a = &bb.sub.v[i];
		if (a->sent_ns < ph->start_ns || a->sent_ns > ph->last_send_ns)
			continue;
		if (a->class >= 0 && a->class < CLASS_COUNT)
			samples_add(&ph->arrival[a->class], a->lat_ns);
	}
}

/* The echo at full speed, then the REQ/REP round trip, then stop. */
static int
bench_raw_run(char *err, size_t errlen)
{
	void *s;

	bench_reply_default();
	if (bench_raw_start(err, errlen) == -1)
		return (-1);
	if ((s = bench_socket(bb.zctx, ZMQ_DEALER, bb.raw.router_ep, err,
	    errlen)) == NULL)
		return (-1);
	bench_raw_echo(s);
	zmq_close(s);
	if ((s = bench_socket(bb.zctx, ZMQ_REQ, bb.raw.rep_ep, err,
	    errlen)) == NULL)
		return (-1);
	bench_reqrep(s);
	zmq_close(s);
	bench_raw_stop();
	bb.ran_raw = 1;
	return (0);
}

/*
 * The reply the servers send back: a real one of the daemon's when there
 * was one (same size, same parse), else one of the same shape.
 */
static void
bench_reply_default(void)
{
	static const char *const chans[] = { BENCH_PUB_CHANNEL };
	const unsigned char *out;
	size_t len;
	yajl_gen g;

	if (bb.reply != NULL || (g = yajl_gen_alloc(NULL)) == NULL)
		return;
	yajl_gen_map_open(g);
	bench_json_str(g, "ok");
	yajl_gen_bool(g, 1);
	bench_json_str(g, "id");
	bench_json_str(g, "n-01HZX3J8Q9W4T0V6B2N5M7K1PA");
	bench_json_str(g, "class");
	bench_json_str(g, "realtime");
	bench_json_str(g, "channels");
	yajl_gen_array_open(g);
	bench_json_str(g, chans[0]);
	yajl_gen_array_close(g);
	bench_json_str(g, "duplicate");
	yajl_gen_bool(g, 0);
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &len) == yajl_gen_status_ok &&
	    (bb.reply = malloc(len)) != NULL) {
		memcpy(bb.reply, out, len);
		bb.reply_len = len;
	}
	yajl_gen_free(g);
}

/* A ROUTER and a REP on the scenario's transport, in their own context. */
static int
bench_raw_start(char *err, size_t errlen)
{
	struct bench_raw *r = &bb.raw;
	char ep[600];
	size_t len;
	int zero = 0, i;
	void **socks[2] = { &r->router, &r->rep };
	char *eps[2] = { r->router_ep, r->rep_ep };
	const int types[2] = { ZMQ_ROUTER, ZMQ_REP };

	r->reply = bb.reply;
	r->reply_len = bb.reply_len;
	if ((r->zctx = zmq_ctx_new()) == NULL) {
		bench_errf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		return (-1);
	}
	for (i = 0; i < 2; i++) {
		if (bb.o.ipc)
			snprintf(ep, sizeof(ep), "ipc://%s/raw-%d.ipc", bb.dir,
			    i);
		else
			strlcpy(ep, "tcp://127.0.0.1:*", sizeof(ep));
		if ((*socks[i] = zmq_socket(r->zctx, types[i])) == NULL)
			goto fail;
		zmq_setsockopt(*socks[i], ZMQ_LINGER, &zero, sizeof(zero));
		zmq_setsockopt(*socks[i], ZMQ_SNDHWM, &zero, sizeof(zero));
		zmq_setsockopt(*socks[i], ZMQ_RCVHWM, &zero, sizeof(zero));
		len = sizeof(r->router_ep);
		if (zmq_bind(*socks[i], ep) == -1 || zmq_getsockopt(*socks[i],
		    ZMQ_LAST_ENDPOINT, eps[i], &len) == -1)
			goto fail;
	}
	if (pthread_create(&r->thread, NULL, bench_raw_main, r) != 0) {
		bench_errf(err, errlen, "cannot start the server thread");
		return (-1);
	}
	r->running = 1;
	return (0);
fail:
	bench_errf(err, errlen, "raw server on %s: %s", ep,
	    zmq_strerror(errno));
	return (-1);
}

/* Echo every request's routing frames with the reply; answer REQs. */
static void *
bench_raw_main(void *arg)
{
	struct bench_raw *r = arg;
	zmq_pollitem_t pi[2] = { { .socket = r->router, .events = ZMQ_POLLIN },
	    { .socket = r->rep, .events = ZMQ_POLLIN } };
	zmq_msg_t frame;
	char buf[256];

	while (!atomic_load(&r->stop)) {
		if (zmq_poll(pi, 2, 100) < 1)
			continue;
		zmq_msg_init(&frame);
		while (zmq_msg_recv(&frame, r->router, ZMQ_DONTWAIT) != -1) {
			/* Routing frames go back as they came; the body not. */
			if (zmq_msg_more(&frame)) {
				zmq_msg_send(&frame, r->router, ZMQ_SNDMORE);
				continue;
			}
			zmq_send(r->router, r->reply, r->reply_len, 0);
		}
		zmq_msg_close(&frame);
		while (zmq_recv(r->rep, buf, sizeof(buf), ZMQ_DONTWAIT) != -1)
			zmq_send(r->rep, r->reply, r->reply_len, 0);
	}
	return (NULL);
}

/* The daemon's full-speed phase again, against the plain echo. */
static void
bench_raw_echo(void *s)
{
	memset(bb.wrr, 0, sizeof(bb.wrr));
	bb.echo = (struct phase){ .name = "raw-echo", .id = 4,
	    .seconds = bb.o.raw_seconds };
	bench_phase_run(s, &bb.echo, bb.o.window);
}

/* One request at a time, for the round trip; half the echo's time. */
static void
bench_reqrep(void *s)
{
	const struct bench_msg *m = &bb.msgs[CLASS_REALTIME];
	uint64_t start = bench_now(), t, until;
	char buf[8192];
	int n;

	until = start + (uint64_t)(bb.o.raw_seconds / 2 * 1e9);
	while ((t = bench_now()) < until) {
		if (zmq_send(s, m->buf, m->len, 0) == -1 ||
		    (n = zmq_recv(s, buf, sizeof(buf), 0)) == -1)
			break;
		samples_add(&bb.reqrep, bench_now() - t);
		(void)bench_reply_ok(buf, (size_t)n < sizeof(buf) ? (size_t)n :
		    sizeof(buf), -1, NULL);
	}
	bb.reqrep_elapsed = (double)(bench_now() - start) / 1e9;
}

static void
bench_raw_stop(void)
{
	struct bench_raw *r = &bb.raw;

	if (r->zctx == NULL)
		return;
	atomic_store(&r->stop, 1);
	if (r->running)
		pthread_join(r->thread, NULL);
	r->running = 0;
	if (r->router != NULL)
		zmq_close(r->router);
	if (r->rep != NULL)
		zmq_close(r->rep);
	zmq_ctx_term(r->zctx);
	r->zctx = NULL;
}

static void
samples_add(struct samples *s, uint64_t v)
{
	uint64_t *nv;
	size_t cap;

	if (s->n == s->cap) {
		cap = s->cap ? s->cap * 2 : 65536;
		if ((nv = realloc(s->v, cap * sizeof(*nv))) == NULL)
			return;	/* percentiles on fewer samples */
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->n++] = v;
}

static int
samples_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

/* Nearest-rank percentiles, in microseconds. */
static void
samples_pct(struct samples *s, struct pct *p)
{
	static const double q[3] = { 0.50, 0.99, 0.999 };
	double *out[3] = { &p->p50, &p->p99, &p->p999 };
	size_t i, k;

	memset(p, 0, sizeof(*p));
	if ((p->n = s->n) == 0)
		return;
	qsort(s->v, s->n, sizeof(*s->v), samples_cmp);
	for (i = 0; i < 3; i++) {
		k = (size_t)ceil(q[i] * (double)s->n);
		*out[i] = (double)s->v[k > 0 ? k - 1 : 0] / 1e3;
	}
	p->max = (double)s->v[s->n - 1] / 1e3;
}

/* Answered ok, a second. */
static double
bench_rate(const struct phase *ph)
{
	return (ph->elapsed > 0 ? (double)ph->ok / ph->elapsed : 0);
}

/* Seconds of CPU: user (0) or system (1). */
static double
bench_cpu(const struct rusage *ru, int sys)
{
	const struct timeval *tv = sys ? &ru->ru_stime : &ru->ru_utime;

	return ((double)tv->tv_sec + (double)tv->tv_usec / 1e6);
}

/* Notices sent to the daemon in every phase. */
static uint64_t
bench_published(void)
{
	return (bb.warm.sent + bb.full.sent + bb.paced.sent);
}

/* Exit 0 only when every notice was answered ok and the daemon was fine. */
static int
bench_verdict(void)
{
	const struct phase *ph[] = { &bb.warm, &bb.full, &bb.paced };
	size_t i;

	for (i = 0; i < 3; i++)
		if (ph[i]->failed > 0 || ph[i]->lost > 0 ||
		    ph[i]->mismatched > 0)
			return (BENCH_EXIT_FAIL);
	if (bb.daemon > 0 && (!WIFEXITED(bb.daemon_status) ||
	    WEXITSTATUS(bb.daemon_status) != 0))
		return (BENCH_EXIT_FAIL);
	return (BENCH_EXIT_OK);
}

static void
bench_print(void)
{
	const struct bench_msg *m = bb.msgs;

	printf("sbbench%s%s: %s, ", bb.o.label ? " " : "",
	    bb.o.label ? bb.o.label : "", bb.o.ipc ? "ipc" : "tcp");
	if (bb.o.endpoint != NULL)
		printf("daemon at %s, ", bb.o.endpoint);
	else
		printf("spool %s, %d routes, %d channels, ",
		    bb.o.sync_off ? "off" : "normal", bb.o.routes,
		    bb.o.channels);
	printf("mix %s, body %zu B (requests %zu/%zu/%zu B), window %d\n",
	    bb.o.mix_text, bb.o.body_size, m[CLASS_REALTIME].len,
	    m[CLASS_BATCH].len, m[CLASS_INTERACTIVE].len, bb.o.window);
	if (bb.full.sent > 0)
		bench_print_phase(&bb.full);
	if (bb.ran_paced)
		bench_print_phase(&bb.paced);
	if (bb.ran_raw) {
		printf("  raw echo   DEALER->ROUTER, same requests and window: "
		    "%llu in %.2f s: %.0f msgs/s\n",
		    (unsigned long long)bb.echo.ok, bb.echo.elapsed,
		    bench_rate(&bb.echo));
		bench_print_pct("echo ack", &bb.echo.ack, 0);
		bench_print_pct("REQ/REP rtt", &bb.reqrep, 0);
	}
	bench_print_ratios();
	if (bb.daemon <= 0)
		return;
	printf("  daemon     %s %d; %d warnings logged%s%s\n",
	    WIFEXITED(bb.daemon_status) ? "exited" : "killed by signal",
	    WIFEXITED(bb.daemon_status) ? WEXITSTATUS(bb.daemon_status) :
	    WTERMSIG(bb.daemon_status), bb.daemon_warnings,
	    bb.daemon_warnings ? ", first: " : "", bb.daemon_warning);
	printf("  cpu        daemon %.2f s user + %.2f s sys for %llu notices "
	    "(%.1f us a notice, start and stop included); sbbench %.2f s + "
	    "%.2f s\n", bench_cpu(&bb.daemon_usage, 0),
	    bench_cpu(&bb.daemon_usage, 1),
	    (unsigned long long)bench_published(),
	    bench_published() > 0 ? (bench_cpu(&bb.daemon_usage, 0) +
	    bench_cpu(&bb.daemon_usage, 1)) * 1e6 / (double)bench_published() :
	    0, bench_cpu(&bb.client_usage, 0), bench_cpu(&bb.client_usage, 1));
	printf("  memory     daemon peak RSS %.1f MB, %ld minor page faults\n",
	    (double)bb.daemon_usage.ru_maxrss / 1024.0,
	    bb.daemon_usage.ru_minflt);
}

static void
bench_print_phase(struct phase *ph)
{
	uint64_t ok_rt = ph->ok_class[CLASS_REALTIME];
	uint64_t ok_all = ph->ok;

	printf("  %-10s %llu sent, %llu ok, %llu failed, %llu lost in %.2f s: "
	    "%.0f acked/s", ph->name, (unsigned long long)ph->sent,
	    (unsigned long long)ph->ok, (unsigned long long)ph->failed,
	    (unsigned long long)ph->lost, ph->elapsed, bench_rate(ph));
	if (ph->rate > 0)
		printf(" (target %.0f/s, %llu sends late)", ph->rate,
		    (unsigned long long)ph->late);
	printf("\n");
	if (ph->mismatched > 0)
		printf("  %-10s %llu replies of another class than asked\n", "",
		    (unsigned long long)ph->mismatched);
	if (ph->error[0] != '\0')
		printf("  %-10s first failure: %s\n", "", ph->error);
	bench_print_pct("ack", &ph->ack, 0);
	if (bb.pub[0] == '\0')
		return;
	bench_print_pct("arr. realt.", &ph->arrival[CLASS_REALTIME], ok_rt);
	if (ok_all != ok_rt) {
		bench_print_pct("arr. batch", &ph->arrival[CLASS_BATCH],
		    ph->ok_class[CLASS_BATCH]);
		bench_print_pct("arr. inter.", &ph->arrival[CLASS_INTERACTIVE],
		    ph->ok_class[CLASS_INTERACTIVE]);
	}
}

/* One latency line; of: how many were expected (0: not said). */
static void
bench_print_pct(const char *what, struct samples *s, uint64_t of)
{
	struct pct p;

	samples_pct(s, &p);
	printf("  %-11s", what);
	if (p.n == 0) {
		printf(" no samples%s\n", of == 0 ? "" : strcmp(what,
		    "arr. batch") == 0 ? " (batch notices go out in digests)" :
		    " (none arrived)");
		return;
	}
	printf(" p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  "
	    "n=%zu", p.p50, p.p99, p.p999, p.max, p.n);
	if (of > 0)
		printf(" of %llu", (unsigned long long)of);
	printf("\n");
}

static void
bench_print_ratios(void)
{
	double v, target = bb.o.sync_off ? 0.7 : 0.5;

	if (!bb.ran_raw || bb.full.sent == 0)
		return;
	v = bench_rate(&bb.echo) > 0 ? bench_rate(&bb.full) /
	    bench_rate(&bb.echo) : 0;
	printf("  ratios    ");
	if (bb.o.rate == 0) {
		/* A set rate is not the daemon's throughput. */
		printf(" throughput %.2f x raw echo", v);
		if (bb.o.endpoint == NULL)
			printf(" (target >= %.1f with spool %s: %s)", target,
			    bb.o.sync_off ? "off" : "normal", v >= target ?
			    "met" : "missed");
		printf("\n%-12s", "");
	}
	if (bench_ratio_ack(&v) == 0)
		printf(" ack p99 (%s) = %.2f x raw REQ/REP p99\n",
		    bb.ran_paced ? "paced" : bb.full.name, v);
	if (bench_ratio_arrival(&v) == 0)
		printf("%-12s realtime arrival p99 (%s) = %.2f x raw REQ/REP "
		    "p99 (target <= 3: %s)\n", "", bb.ran_paced ? "paced" :
		    bb.full.name, v, v <= 3 ? "met" : "missed");
}

/* Realtime arrival p99 over the raw round trip p99; -1 if unknown. */
static int
bench_ratio_arrival(double *v)
{
	struct phase *ph = bb.ran_paced ? &bb.paced : &bb.full;
	struct pct a, r;

	samples_pct(&ph->arrival[CLASS_REALTIME], &a);
	samples_pct(&bb.reqrep, &r);
	if (a.n == 0 || r.n == 0 || r.p99 <= 0)
		return (-1);
	*v = a.p99 / r.p99;
	return (0);
}

static int
bench_ratio_ack(double *v)
{
	struct phase *ph = bb.ran_paced ? &bb.paced : &bb.full;
	struct pct a, r;

	samples_pct(&ph->ack, &a);
	samples_pct(&bb.reqrep, &r);
	if (a.n == 0 || r.n == 0 || r.p99 <= 0)
		return (-1);
	*v = a.p99 / r.p99;
	return (0);
}

/* The run as one JSON object on one line (docs/sbbench.md). */
static void
bench_json(void)
{
	const unsigned char *out;
	size_t len;
	double v;
	yajl_gen g;
	int c;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return;
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	yajl_gen_map_open(g);
	bench_json_str(g, "label");
	bench_json_str(g, bb.o.label != NULL ? bb.o.label : "");
	bench_json_str(g, "endpoint");
	bench_json_str(g, bb.o.endpoint != NULL ? bb.o.endpoint : "");
	bench_json_str(g, "transport");
	bench_json_str(g, bb.o.ipc ? "ipc" : "tcp");
	if (bb.o.endpoint == NULL) {
		/* The scenario's own config: unknown for a running daemon. */
		bench_json_str(g, "spool_sync");
		bench_json_str(g, bb.o.sync_off ? "off" : "normal");
		bench_json_str(g, "routes");
		bench_json_num(g, "%d", bb.o.routes);
		bench_json_str(g, "channels");
		bench_json_num(g, "%d", bb.o.channels);
	}
	bench_json_str(g, "mix");
	yajl_gen_map_open(g);
	for (c = 0; c < CLASS_COUNT; c++) {
		bench_json_str(g, notice_class_name(c));
		bench_json_num(g, "%u", bb.o.mix[c]);
	}
	yajl_gen_map_close(g);
	bench_json_str(g, "body_size");
	bench_json_num(g, "%zu", bb.o.body_size);
	bench_json_str(g, "request_size");
	bench_json_num(g, "%zu", bb.msgs[CLASS_REALTIME].len);
	bench_json_str(g, "reply_size");
	bench_json_num(g, "%zu", bb.reply_len);
	bench_json_str(g, "window");
	bench_json_num(g, "%d", bb.o.window);
	bench_json_str(g, "warmup_sent");
	bench_json_num(g, "%llu", (unsigned long long)bb.warm.sent);
	if (bb.full.sent > 0) {
		bench_json_str(g, bb.full.name);
		bench_json_phase(g, &bb.full);
	}
	if (bb.ran_paced) {
		bench_json_str(g, "paced");
		bench_json_phase(g, &bb.paced);
	}
	if (bb.ran_raw) {
		bench_json_str(g, "raw");
		yajl_gen_map_open(g);
		bench_json_str(g, "echo_per_s");
		bench_json_num(g, "%.1f", bench_rate(&bb.echo));
		bench_json_pct(g, "echo_ack_us", &bb.echo.ack);
		bench_json_pct(g, "reqrep_us", &bb.reqrep);
		yajl_gen_map_close(g);
		bench_json_str(g, "ratios");
		yajl_gen_map_open(g);
		if (bb.full.sent > 0 && bb.o.rate == 0 &&
		    bench_rate(&bb.echo) > 0) {
			bench_json_str(g, "throughput");
			bench_json_num(g, "%.4f", bench_rate(&bb.full) /
			    bench_rate(&bb.echo));
		}
		if (bench_ratio_arrival(&v) == 0) {
			bench_json_str(g, "arrival_p99");
			bench_json_num(g, "%.4f", v);
		}
		if (bench_ratio_ack(&v) == 0) {
			bench_json_str(g, "ack_p99");
			bench_json_num(g, "%.4f", v);
		}
		yajl_gen_map_close(g);
	}
	bench_json_str(g, "daemon_exit");
	bench_json_num(g, "%d", bb.daemon <= 0 ? -1 :
	    WIFEXITED(bb.daemon_status) ? WEXITSTATUS(bb.daemon_status) :
	    128 + WTERMSIG(bb.daemon_status));
	if (bb.daemon > 0) {
		bench_json_str(g, "daemon_cpu_s");
		bench_json_num(g, "%.3f", bench_cpu(&bb.daemon_usage, 0) +
		    bench_cpu(&bb.daemon_usage, 1));
		bench_json_str(g, "daemon_sys_s");
		bench_json_num(g, "%.3f", bench_cpu(&bb.daemon_usage, 1));
		/* Its peak: with interactive notices, all of them pending. */
		bench_json_str(g, "daemon_max_rss_kb");
		bench_json_num(g, "%ld", bb.daemon_usage.ru_maxrss);
		bench_json_str(g, "daemon_minor_faults");
		bench_json_num(g, "%ld", bb.daemon_usage.ru_minflt);
		bench_json_str(g, "published");
		bench_json_num(g, "%llu",
		    (unsigned long long)bench_published());
	}
	bench_json_str(g, "client_cpu_s");
	bench_json_num(g, "%.3f", bench_cpu(&bb.client_usage, 0) +
	    bench_cpu(&bb.client_usage, 1));
	bench_json_str(g, "daemon_warnings");
	bench_json_num(g, "%d", bb.daemon_warnings);
	bench_json_str(g, "daemon_first_warning");
	if (yajl_gen_string(g, (const unsigned char *)bb.daemon_warning,
	    strlen(bb.daemon_warning)) != yajl_gen_status_ok)
		bench_json_str(g, "(not UTF-8)");
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &out, &len) == yajl_gen_status_ok)
		printf("%.*s\n", (int)len, out);
	yajl_gen_free(g);
}

static void
bench_json_phase(yajl_gen g, struct phase *ph)
{
	static const char *const arr[CLASS_COUNT] = { "arrival_realtime_us",
	    "arrival_batch_us", "arrival_interactive_us" };
	int c;

	yajl_gen_map_open(g);
	bench_json_str(g, "sent");
	bench_json_num(g, "%llu", (unsigned long long)ph->sent);
	bench_json_str(g, "ok");
	bench_json_num(g, "%llu", (unsigned long long)ph->ok);
	bench_json_str(g, "failed");
	bench_json_num(g, "%llu", (unsigned long long)ph->failed);
	bench_json_str(g, "lost");
	bench_json_num(g, "%llu", (unsigned long long)ph->lost);
	bench_json_str(g, "mismatched");
	bench_json_num(g, "%llu", (unsigned long long)ph->mismatched);
	bench_json_str(g, "seconds");
	bench_json_num(g, "%.3f", ph->elapsed);
	bench_json_str(g, "acked_per_s");
	bench_json_num(g, "%.1f", bench_rate(ph));
	if (ph->rate > 0) {
		bench_json_str(g, "target_rate");
		bench_json_num(g, "%.1f", ph->rate);
		bench_json_str(g, "late_sends");
		bench_json_num(g, "%llu", (unsigned long long)ph->late);
	}
	bench_json_pct(g, "ack_us", &ph->ack);
	for (c = 0; c < CLASS_COUNT && bb.pub[0] != '\0'; c++)
		if (ph->ok_class[c] > 0)
			bench_json_pct(g, arr[c], &ph->arrival[c]);
	if (ph->error[0] != '\0') {
		bench_json_str(g, "first_failure");
		if (yajl_gen_string(g, (const unsigned char *)ph->error,
		    strlen(ph->error)) != yajl_gen_status_ok)
			bench_json_str(g, "(not UTF-8)");
	}
	yajl_gen_map_close(g);
}

static void
bench_json_pct(yajl_gen g, const char *key, struct samples *s)
{
	struct pct p;

	samples_pct(s, &p);
	bench_json_str(g, key);
	yajl_gen_map_open(g);
	bench_json_str(g, "n");
	bench_json_num(g, "%zu", p.n);
	if (p.n > 0) {
		bench_json_str(g, "p50");
		bench_json_num(g, "%.1f", p.p50);
		bench_json_str(g, "p99");
		bench_json_num(g, "%.1f", p.p99);
		bench_json_str(g, "p999");
		bench_json_num(g, "%.1f", p.p999);
		bench_json_str(g, "max");
		bench_json_num(g, "%.1f", p.max);
	}
	yajl_gen_map_close(g);
}

static void
bench_json_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* A number formatted with printf: yajl's own doubles print 17 digits. */
static void
bench_json_num(yajl_gen g, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < sizeof(buf))
		yajl_gen_number(g, buf, (size_t)n);
}
