/* test_deadline.c: the deadline heap, on an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "deadline.h"

static int64_t	fake_now;
static int	fired[64];
static int	nfired;

static int64_t
fake_clock(void)
{
	return (fake_now);
}

static void
record_cb(struct deadline *d, void *arg)
{
	(void)d;
	fired[nfired++] = (int)(intptr_t)arg;
}

static void
test_order(void **state)
{
	struct deadline_heap *h = deadline_heap_new(NULL, fake_clock);
	struct deadline d[5] = { { 0 } };
	int64_t at[5] = { 50, 10, 40, 20, 30 };
	int i;

	(void)state;
	nfired = 0;
	for (i = 0; i < 5; i++)
		deadline_arm(h, &d[i], at[i], record_cb, (void *)(intptr_t)i);
	assert_int_equal(deadline_count(h), 5);
	assert_ptr_equal(deadline_first(h), &d[1]);
	assert_int_equal(deadline_run(h, 25, 100), 2);
	assert_int_equal(fired[0], 1);
	assert_int_equal(fired[1], 3);
	assert_int_equal(deadline_run(h, 100, 100), 3);
	assert_int_equal(fired[2], 4);
	assert_int_equal(fired[3], 2);
	assert_int_equal(fired[4], 0);
	assert_int_equal(deadline_count(h), 0);
	deadline_heap_free(h);
}

static void
test_cancel_and_rearm(void **state)
{
	struct deadline_heap *h = deadline_heap_new(NULL, fake_clock);
	struct deadline d[3] = { { 0 } };
	int i;

	(void)state;
	nfired = 0;
	for (i = 0; i < 3; i++)
		deadline_arm(h, &d[i], 10 * (i + 1), record_cb,
		    (void *)(intptr_t)i);
	deadline_cancel(h, &d[0]);
	deadline_cancel(h, &d[0]);	/* twice is harmless */
	assert_int_equal(d[0].slot, 0);
	deadline_arm(h, &d[2], 5, record_cb, (void *)(intptr_t)2);
	assert_int_equal(deadline_count(h), 2);
	assert_int_equal(deadline_run(h, 5, 100), 1);
	assert_int_equal(fired[0], 2);
	assert_int_equal(deadline_run(h, 15, 100), 0);
	assert_int_equal(deadline_run(h, 20, 100), 1);
	assert_int_equal(fired[1], 1);
	deadline_heap_free(h);
}

static void
test_batch_limit(void **state)
{
	struct deadline_heap *h = deadline_heap_new(NULL, fake_clock);
	struct deadline d[10] = { { 0 } };
	int i;

	(void)state;
	nfired = 0;
	for (i = 0; i < 10; i++)
		deadline_arm(h, &d[i], 1, record_cb, (void *)(intptr_t)i);
	assert_int_equal(deadline_run(h, 1, 4), 4);
	assert_int_equal(deadline_count(h), 6);
	deadline_heap_free(h);
}

/* Random arms and cancels keep the heap ordered. */
static void
test_random_heap_property(void **state)
{
	struct deadline_heap *h = deadline_heap_new(NULL, fake_clock);
	struct deadline *d = calloc(10000, sizeof(*d));
	struct deadline *first;
	int64_t last = -1;
	int i;

	(void)state;
	srand(7);
	for (i = 0; i < 10000; i++)
		deadline_arm(h, &d[i], rand() % 100000, record_cb, NULL);
	for (i = 0; i < 10000; i += 3)
		deadline_cancel(h, &d[i]);
	while ((first = deadline_first(h)) != NULL) {
		assert_true(first->at_ms >= last);
		last = first->at_ms;
		deadline_cancel(h, first);
	}
	free(d);
	deadline_heap_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_cancel_and_rearm),
		cmocka_unit_test(test_batch_limit),
		cmocka_unit_test(test_random_heap_property),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
