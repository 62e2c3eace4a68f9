/*
 * fuzz_status.c: libFuzzer harness for the status socket (status.c,
 * include/sb_status.h), end to end: the daemon's modules are started as
 * main.c starts them (spool, channels, escalations, status socket; no
 * ingress) with three notices accepted, and each input is written by one
 * client over the real socket, then half-closed; the loop runs until the
 * daemon has answered and closed. The commands reach the real spool and
 * channels: "reload" reloads, "pause" pauses, "ack" acks.
 *
 * Beyond not crashing, leaking or hanging (the daemon must close a client
 * whose input has ended, once it has answered it), it checks the
 * protocol's promise: every answer is one whole line holding one JSON
 * object with a boolean "ok".
 *
 * Build and run: make fuzz, or
 *	build-fuzz/tests/fuzz/fuzz_status -dict=tests/fuzz/status.dict \
 *	    tests/fuzz/corpus-work/status tests/fuzz/corpus/status
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yajl/yajl_tree.h>
#include <zmq.h>

#include "accept.h"
#include "adapter.h"
#include "batch.h"
#include "config.h"
#include "dispatch.h"
#include "escalate.h"
#include "ingress.h"
#include "log.h"
#include "metrics.h"
#include "reload.h"
#include "spool.h"
#include "status.h"
#include "tod.h"

/* Loop turns one exchange may take before the daemon counts as hung. */
#define FUZZ_TURNS	200000
/* An answer longer than this is a runaway. */
#define FUZZ_OUT_MAX	(64 * 1024 * 1024)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void	fuzz_setup(void);
static void	fuzz_cleanup(void);
static void	fuzz_publish(const char *);
static int	fuzz_connect(void);
static size_t	fuzz_exchange(int, const uint8_t *, size_t, char *);
static void	fuzz_check_answers(const char *, size_t);

static struct {
	struct event_base	*base;
	void			*zctx;
	struct spool		*spool;
	char			 dir[64];
	char			 sock[108];
	char			*out;
} fz;

static const char *const fuzz_files[] = { "switchboard.conf", "spool.db",
	"spool.db-wal", "spool.db-shm", "feed.jsonl", NULL };

static void
fuzz_setup(void)
{
	struct config_errors errs = { .n = 0 };
	struct config *cf;
	char path[128], err[512];
	FILE *f;

	log_init("fuzz_status", LOG_LEVEL_ERROR);
	strlcpy(fz.dir, "/tmp/sb-fuzz-status-XXXXXX", sizeof(fz.dir));
	if (mkdtemp(fz.dir) == NULL)
		abort();
	atexit(fuzz_cleanup);
	snprintf(fz.sock, sizeof(fz.sock), "%s/s.sock", fz.dir);
	snprintf(path, sizeof(path), "%s/switchboard.conf", fz.dir);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "log_level = \"error\";\n"
	    "ingress = { router = \"ipc://%s/in.ipc\"; };\n"
	    "spool = { path = \"%s/spool.db\"; sync = \"off\"; };\n"
	    "status = { socket = \"%s\"; };\n"
	    "channels = {\n"
	    "  sink = { type = \"discard\"; owner = \"ops\"; };\n"
	    "  feed = { type = \"file\"; path = \"%s/feed.jsonl\"; };\n"
	    "};\n"
	    "escalations = { page = { levels = ( { after = \"1h\"; "
	    "channels = \"sink\"; } ); }; };\n"
	    "policies = { interactive = { escalation = \"page\"; }; };\n"
	    "routes = ( { name = \"all\"; channels = [ \"sink\", \"feed\" ]; "
	    "} );\n", fz.dir, fz.dir, fz.sock, fz.dir);
	if (fclose(f) != 0 || (cf = config_load(path, &errs)) == NULL)
		abort();
	if ((fz.base = event_base_new()) == NULL ||
	    (fz.zctx = zmq_ctx_new()) == NULL)
		abort();
	adapter_init(fz.zctx);
	metrics_init();
	if (tod_set_zone(cf->timezone) == -1 ||
	    (fz.spool = spool_open("sqlite", cf->spool_path, SPOOL_SYNC_OFF,
	    err, sizeof(err))) == NULL ||
	    dispatch_init(fz.base, fz.spool) == -1 ||
	    batch_init(fz.base, fz.spool, NULL) == -1 ||
	    escalate_init(fz.base, fz.spool, cf, NULL) == -1 ||
	    dispatch_start(cf, err, sizeof(err)) == -1)
		abort();
	reload_init(cf, strdup(path));
	accept_init(cf, fz.spool);
	if (status_init(fz.base, fz.spool, err, sizeof(err)) == -1)
		abort();
	fuzz_publish("{\"id\":\"fz-1\",\"source\":\"app\",\"audience\":"
	    "[\"dept:eng\"],\"subject\":\"disk full\",\"respond_within\":"
	    "\"1h\"}");
	fuzz_publish("{\"id\":\"fz-2\",\"source\":\"app\",\"audience\":"
	    "[\"dept:eng\"],\"subject\":\"digest\",\"priority\":\"low\"}");
	fuzz_publish("{\"id\":\"fz-3\",\"source\":\"app\",\"audience\":"
	    "[\"public\"],\"subject\":\"now\",\"priority\":\"urgent\"}");
	event_base_loop(fz.base, EVLOOP_NONBLOCK);
	if ((fz.out = malloc(FUZZ_OUT_MAX)) == NULL)
		abort();
}

static void
fuzz_cleanup(void)
{
	char path[128];
	size_t i;

	status_shutdown();
	for (i = 0; fuzz_files[i] != NULL; i++) {
		snprintf(path, sizeof(path), "%s/%s", fz.dir, fuzz_files[i]);
		unlink(path);
	}
	rmdir(fz.dir);
}

/* A notice through the acceptor, as ingress would hand it over. */
static void
fuzz_publish(const char *json)
{
	struct ingress_msg m, *mp = &m;

	memset(&m, 0, sizeof(m));
	m.fire_and_forget = 1;
	if (zmq_msg_init_size(&m.payload, strlen(json)) == -1)
		abort();
	memcpy(zmq_msg_data(&m.payload), json, strlen(json));
	accept_batch(&mp, 1, NULL);
	zmq_msg_close(&m.payload);
	free(m.reply);
}

static int
fuzz_connect(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	strlcpy(sun.sun_path, fz.sock, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || connect(fd, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1)
		abort();
	return (fd);
}

/* Write the input, half-close, read until the daemon closes. */
static size_t
fuzz_exchange(int fd, const uint8_t *data, size_t size, char *out)
{
	size_t written = 0, got = 0;
	ssize_t n;
	int turn, shut = 0;

	for (turn = 0; turn < FUZZ_TURNS; turn++) {
		event_base_loop(fz.base, EVLOOP_NONBLOCK);
		if (written < size) {
			n = send(fd, data + written, size - written,
			    MSG_NOSIGNAL);
			if (n > 0)
				written += (size_t)n;
			else if (n == -1 && errno != EAGAIN)
				written = size;	/* cut off */
		} else if (!shut) {
			shutdown(fd, SHUT_WR);
			shut = 1;
		}
		n = read(fd, out + got, FUZZ_OUT_MAX - got);
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return (got);
		if (n > 0 && (got += (size_t)n) == FUZZ_OUT_MAX)
			abort();
		if (n == -1 && errno != EAGAIN)
			abort();
	}
	abort();	/* the daemon neither answered nor let go */
}

/* One JSON object a line, each with a boolean "ok"; no partial line. */
static void
fuzz_check_answers(const char *out, size_t len)
{
	static const char *ok_path[] = { "ok", NULL };
	const char *p = out, *end = out + len, *eol;
	char *line, err[128];
	yajl_val v, ok;

	if (len > 0 && out[len - 1] != '\n')
		abort();
	for (; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if ((line = strndup(p, (size_t)(eol - p))) == NULL)
			abort();
		if ((v = yajl_tree_parse(line, err, sizeof(err))) == NULL ||
		    !YAJL_IS_OBJECT(v) ||
		    (ok = yajl_tree_get(v, ok_path, yajl_t_any)) == NULL ||
		    !(YAJL_IS_TRUE(ok) || YAJL_IS_FALSE(ok)))
			abort();
		yajl_tree_free(v);
		free(line);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len;
	int fd;

	if (fz.base == NULL)
		fuzz_setup();
	fd = fuzz_connect();
	len = fuzz_exchange(fd, data, size, fz.out);
	close(fd);
	/* A closed client may still have its free pending in the loop. */
	event_base_loop(fz.base, EVLOOP_NONBLOCK);
	fuzz_check_answers(fz.out, len);
	return (0);
}
