/*
 * test_adapter_zmq_pub.c: the zmq_pub channel: two-frame messages [channel,
 * payload] reach subscribers on every bound endpoint (inproc and ipc), a
 * burst arrives whole, a slow subscriber loses messages without ever
 * blocking the channel, and start and option errors name what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>
#include <zmq.h>

#include "adapter_harness.h"
#include "log.h"

static void	*sub_new(const char *, const char *, int);
static int	 sub_recv(void *, char *, size_t, char *, size_t);
static void	 join(struct harness *, struct notice *, void **, int);

static void *zmq_ctx;

static int
group_setup(void **state)
{
	(void)state;
	assert_non_null(zmq_ctx = zmq_ctx_new());
	adapter_init(zmq_ctx);
	return (0);
}

static int
group_teardown(void **state)
{
	(void)state;
	adapter_init(NULL);
	zmq_ctx_term(zmq_ctx);
	return (0);
}

/* A SUB socket connected to endpoint, subscribed to topic. */
static void *
sub_new(const char *endpoint, const char *topic, int rcvhwm)
{
	int linger = 0, timeout = 2000;
	void *s;

	assert_non_null(s = zmq_socket(zmq_ctx, ZMQ_SUB));
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm));
	assert_int_equal(zmq_setsockopt(s, ZMQ_SUBSCRIBE, topic,
	    strlen(topic)), 0);
	assert_int_equal(zmq_connect(s, endpoint), 0);
	return (s);
}

/* One two-frame message, frames as strings; -1 when none came. */
static int
sub_recv(void *s, char *topic, size_t tlen, char *payload, size_t plen)
{
	int more = 0, n;
	size_t len = sizeof(more);

	if ((n = zmq_recv(s, topic, tlen - 1, 0)) == -1)
		return (-1);
	topic[n] = '\0';
	zmq_getsockopt(s, ZMQ_RCVMORE, &more, &len);
	assert_int_equal(more, 1);
	assert_true((n = zmq_recv(s, payload, plen - 1, 0)) >= 0);
	assert_true((size_t)n < plen - 1);
	payload[n] = '\0';
	zmq_getsockopt(s, ZMQ_RCVMORE, &more, &len);
	assert_int_equal(more, 0);
	return (0);
}

/*
 * PUB sends nothing to a subscriber until its subscription has arrived:
 * publish until every subscriber has had a message, draining as we go.
 */
static void
join(struct harness *h, struct notice *n, void **subs, int nsubs)
{
	zmq_pollitem_t item;
	int i, tries, joined = 0;
	char topic[64], payload[4096];

	for (tries = 0; tries < 200 && joined != (1 << nsubs) - 1; tries++) {
		harness_send(h, n);
		harness_run(h, h->ndone + 1, 2000);
		for (i = 0; i < nsubs; i++) {
			item = (zmq_pollitem_t){ subs[i], 0, ZMQ_POLLIN, 0 };
			while (zmq_poll(&item, 1, 10) == 1) {
				sub_recv(subs[i], topic, sizeof(topic),
				    payload, sizeof(payload));
				joined |= 1 << i;
			}
		}
	}
	if (joined != (1 << nsubs) - 1)
		fail_msg("subscribers joined: %#x of %#x", joined,
		    (1 << nsubs) - 1);
	for (i = 0; i < nsubs; i++) {
		item = (zmq_pollitem_t){ subs[i], 0, ZMQ_POLLIN, 0 };
		while (zmq_poll(&item, 1, 50) == 1)
			sub_recv(subs[i], topic, sizeof(topic), payload,
			    sizeof(payload));
	}
}

static void
test_fan_out(void **state)
{
	struct harness *h = *state;
	const char *id_path[] = { "delivery_id", NULL };
	char options[512], ipc[128], topic[64], payload[4096], errbuf[128];
	struct notice *n;
	void *subs[3];
	yajl_val v;
	int i, k, quick = 200;

	snprintf(ipc, sizeof(ipc), "ipc://%s/pub.sock", h->dir);
	snprintf(options, sizeof(options), "type = \"zmq_pub\"; endpoint = "
	    "[\"inproc://fan-out\", \"%s\"];", ipc);
	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    options), 0);
	if (harness_start(h) == NULL)
		fail_msg("start: %s", h->err);
	subs[0] = sub_new("inproc://fan-out", "news", 100000);
	subs[1] = sub_new(ipc, "", 100000);
	subs[2] = sub_new(ipc, "other", 100000);	/* filters it all out */
	n = harness_notice("n-1", "hello", 0);
	join(h, n, subs, 2);

	for (i = 0; i < 2000; i++)
		harness_send(h, n);
	harness_run(h, h->ndone + 2000, 5000);
	assert_int_equal(h->counts[OUTCOME_RETRYABLE] +
	    h->counts[OUTCOME_PERMANENT], 0);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 2000; i++) {
			if (sub_recv(subs[k], topic, sizeof(topic), payload,
			    sizeof(payload)) == -1)
				fail_msg("subscriber %d got %d of 2000", k, i);
			assert_string_equal(topic, "news");
			assert_non_null(v = yajl_tree_parse(payload, errbuf,
			    sizeof(errbuf)));
			assert_string_equal(YAJL_GET_STRING(yajl_tree_get(v,
			    id_path, yajl_t_string)), "n-1/news");
			yajl_tree_free(v);
		}
	}
	zmq_setsockopt(subs[2], ZMQ_RCVTIMEO, &quick, sizeof(quick));
	assert_int_equal(sub_recv(subs[2], topic, sizeof(topic), payload,
	    sizeof(payload)), -1);
	assert_int_equal(h->conf.ops->health(h->ch), 0);
	for (k = 0; k < 3; k++)
		zmq_close(subs[k]);
	notice_unref(n);
}

/* A subscriber that does not keep up loses messages; PUB never blocks. */
static void
test_slow_subscriber_drops(void **state)
{
	struct harness *h = *state;
	char topic[64], payload[4096];
	struct notice *n;
	void *sub;
	int i, got = 0, timeout = 100;

	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    "type = \"zmq_pub\"; endpoint = \"inproc://slow\"; sndhwm = 10;"),
	    0);
	if (harness_start(h) == NULL)
		fail_msg("start: %s", h->err);
	sub = sub_new("inproc://slow", "", 10);
	n = harness_notice("n-2", NULL, 0);
	join(h, n, &sub, 1);
	for (i = 0; i < 5000; i++)
		harness_send(h, n);
	harness_run(h, h->ndone + 5000, 5000);
	assert_int_equal(h->counts[OUTCOME_RETRYABLE], 0);
	zmq_setsockopt(sub, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	while (sub_recv(sub, topic, sizeof(topic), payload,
	    sizeof(payload)) == 0 && got <= 5000)
		got++;
	assert_true(got > 0);
	assert_true(got < 5000);
	zmq_close(sub);
	notice_unref(n);
}

static void
test_start_failures(void **state)
{
	struct harness *h = *state;
	struct harness second;

	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    "type = \"zmq_pub\"; endpoint = \"inproc://taken\";"), 0);
	if (harness_start(h) == NULL)
		fail_msg("start: %s", h->err);
	harness_init(&second);
	assert_int_equal(harness_options(&second, &adapter_zmq_pub_ops,
	    "news2", "type = \"zmq_pub\"; endpoint = \"inproc://taken\";"), 0);
	assert_null(harness_start(&second));
	assert_string_equal(second.err, "channel news2: bind inproc://taken: "
	    "Address already in use");
	harness_free(&second);

	harness_reset(h);
	adapter_init(NULL);
	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    "type = \"zmq_pub\"; endpoint = \"inproc://x\";"), 0);
	assert_null(harness_start(h));
	adapter_init(zmq_ctx);
	assert_string_equal(h->err, "channel news: no ZeroMQ context "
	    "(adapter_init was not called)");
}

static void
test_check(void **state)
{
	struct harness *h = *state;

	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    "type = \"zmq_pub\"; endpiont = \"tcp://*:7451\"; "
	    "sndhwm = -1;"), -1);
	assert_null(h->conf.args);
	assert_true(harness_error_has(h, "channel news: unknown option "
	    "'endpiont' for type zmq_pub (expected endpoint, sndhwm)"));
	assert_true(harness_error_has(h, "channel news: type zmq_pub needs "
	    "an endpoint"));
	assert_true(harness_error_has(h, "sndhwm -1 is out of range"));
	assert_int_equal(h->errs.n, 3);

	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    "type = \"zmq_pub\"; endpoint = [\"tcp://*:7451\", "
	    "\"localhost:7452\"]; sndhwm = \"many\";"), -1);
	assert_true(harness_error_has(h, "endpoint 'localhost:7452' has no "
	    "transport"));
	assert_true(harness_error_has(h, "sndhwm must be an integer"));
	assert_int_equal(h->errs.n, 2);

	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    "type = \"zmq_pub\"; endpoint = [];"), -1);
	assert_true(harness_error_has(h, "endpoint must be a string or a "
	    "non-empty list of strings"));

	harness_reset(h);
	assert_int_equal(harness_options(h, &adapter_zmq_pub_ops, "news",
	    "type = \"zmq_pub\"; endpoint = \"tcp://*:7451\"; sndhwm = 0;"),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		HARNESS_TEST(test_fan_out),
		HARNESS_TEST(test_slow_subscriber_drops),
		HARNESS_TEST(test_start_failures),
		HARNESS_TEST(test_check),
	};

	log_init("test_adapter_zmq_pub", LOG_LEVEL_ERROR);
	return (cmocka_run_group_tests(tests, group_setup, group_teardown));
}
