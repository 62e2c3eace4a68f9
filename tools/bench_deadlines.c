/*
 * bench_deadlines.c: the cost of pending interactive deadlines (issue 4's
 * benchmark): memory per waiting notice beyond the notice itself, and the
 * time of arm and cancel, over N waiters (default 1,000,000).
 *
 *   build/bench_deadlines [N]
 *
 * Waiters are made through escalate_restore (the path a restart takes:
 * no spool write) and cancelled through escalate_forget (the path an ack
 * takes, less its spool write); the heap alone is timed too.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "deadline.h"
#include "escalate.h"
#include "notice.h"
#include "spool.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static int64_t
fixed_clock(void)
{
	return (1700000000000LL);
}

static void
bench_heap(size_t n)
{
	struct deadline_heap *h = deadline_heap_new(NULL, fixed_clock);
	struct deadline *d = calloc(n, sizeof(*d));
	double t0, t1, t2;
	size_t i;

	srand(1);
	t0 = now_s();
	for (i = 0; i < n; i++)
		deadline_arm(h, &d[i], rand() % 86400000, NULL, NULL);
	t1 = now_s();
	for (i = 0; i < n; i++)
		deadline_cancel(h, &d[i]);
	t2 = now_s();
	printf("heap:    arm %.0f ns, cancel %.0f ns (%zu deadlines)\n",
	    (t1 - t0) / n * 1e9, (t2 - t1) / n * 1e9, n);
	deadline_heap_free(h);
	free(d);
}

int
main(int argc, char *argv[])
{
	struct config_errors errs = { .n = 0 };
	struct spool_waiting sw;
	struct notice *n;
	struct config *conf;
	struct mallinfo2 m0, m1;
	const char *path = "conf/switchboard.conf";
	size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000, i;
	double t0, t1, t2;
	char id[32];

	if ((conf = config_load(path, &errs)) == NULL) {
		fprintf(stderr, "%s: invalid\n", path);
		return (1);
	}
	bench_heap(count);
	escalate_init(NULL, NULL, conf, fixed_clock);
	memset(&sw, 0, sizeof(sw));
	n = notice_new();
	n->received_ms = fixed_clock();
	m0 = mallinfo2();
	t0 = now_s();
	for (i = 0; i < count; i++) {
		snprintf(n->id, sizeof(n->id), "n-01KB%020zu", i);
		sw.respond_by_ms = fixed_clock() + (int64_t)(i % 86400) * 1000;
		sw.next_ms = sw.respond_by_ms;
		escalate_restore(n, &sw);
	}
	t1 = now_s();
	m1 = mallinfo2();
	printf("waiters: %zu pending, %.0f bytes each (heap slot included), "
	    "arm %.0f ns\n", escalate_waiting(),
	    (double)(m1.uordblks - m0.uordblks) / count,
	    (t1 - t0) / count * 1e9);
	for (i = 0; i < count; i++) {
		snprintf(id, sizeof(id), "n-01KB%020zu", i);
		escalate_forget(id);
	}
	t2 = now_s();
	printf("waiters: cancel (find + unlink) %.0f ns, %zu left\n",
	    (t2 - t1) / count * 1e9, escalate_waiting());
	escalate_shutdown();
	notice_unref(n);
	config_free(conf);
	return (0);
}
