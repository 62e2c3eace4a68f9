/*
 * test_template.c: templates (compile, errors, render, escapers), the
 * placeholder values of a delivery (render.c: anonymous source withheld,
 * audience, items, ack link) and ack tokens (acktoken.c) against a known
 * HMAC-SHA256 vector.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "acktoken.h"
#include "adapter_harness.h"
#include "render.h"
#include "template.h"

/* Render t with values into a static buffer. */
static const char *
render(const struct template *t, const char *const *values,
    template_escape_fn escape)
{
	static char out[4096];
	struct evbuffer *b;
	size_t len;

	assert_non_null(b = evbuffer_new());
	assert_int_equal(template_render(t, values, escape, b), 0);
	len = evbuffer_get_length(b);
	assert_true(len < sizeof(out));
	evbuffer_remove(b, out, len);
	out[len] = '\0';
	evbuffer_free(b);
	return (out);
}

static struct template *
compile_ok(const char *text)
{
	struct template *t;
	char err[512];

	if ((t = template_compile(text, err, sizeof(err))) == NULL)
		fail_msg("'%s' did not compile: %s", text, err);
	return (t);
}

static void
compile_bad(const char *text, const char *want)
{
	char err[512];

	err[0] = '\0';
	assert_null(template_compile(text, err, sizeof(err)));
	if (strstr(err, want) == NULL)
		fail_msg("'%s': error '%s' lacks '%s'", text, err, want);
}

static void
test_render_parts(void **state)
{
	const char *v[TF_COUNT] = { NULL };
	struct template *t;

	(void)state;
	v[TF_SUBJECT] = "Disk full";
	v[TF_BODY] = "at 97%";
	v[TF_LEVEL] = "2";
	t = compile_ok("[{{ level }}] {{subject}}: {{body}}{{source}}.");
	assert_string_equal(render(t, v, template_escape_none),
	    "[2] Disk full: at 97%.");
	assert_true(template_uses(t, TF_SUBJECT));
	assert_true(template_uses(t, TF_LEVEL));
	assert_false(template_uses(t, TF_ACK_URL));
	assert_string_equal(template_source(t),
	    "[{{ level }}] {{subject}}: {{body}}{{source}}.");
	template_free(t);

	t = compile_ok("");
	assert_string_equal(render(t, v, template_escape_none), "");
	template_free(t);
	t = compile_ok("no placeholders } { }}");
	assert_string_equal(render(t, v, template_escape_none),
	    "no placeholders } { }}");
	template_free(t);
	t = compile_ok("a {{{{}} b {{subject}}{{{{}}");
	assert_string_equal(render(t, v, template_escape_none),
	    "a {{ b Disk full{{");
	template_free(t);
}

static void
test_every_placeholder(void **state)
{
	const char *v[TF_COUNT];
	char text[1024] = "", want[1024] = "", one[64];
	struct template *t;
	int i;

	(void)state;
	for (i = 0; i < TF_COUNT; i++) {
		snprintf(one, sizeof(one), "<{{%s}}>", template_field_name(i));
		strlcat(text, one, sizeof(text));
		snprintf(one, sizeof(one), "<v%d>", i);
		strlcat(want, one, sizeof(want));
	}
	for (i = 0; i < TF_COUNT; i++) {
		snprintf(one, sizeof(one), "v%d", i);
		v[i] = strdup(one);
	}
	t = compile_ok(text);
	assert_string_equal(render(t, v, template_escape_none), want);
	template_free(t);
	for (i = 0; i < TF_COUNT; i++)
		free((char *)v[i]);
}

static void
test_compile_errors(void **state)
{
	char big[TEMPLATE_MAX + 2];

	(void)state;
	compile_bad("x {{sujbect}}", "unknown placeholder {{sujbect}} at "
	    "offset 2");
	compile_bad("{{subject}} {{}}", "unknown placeholder {{}} at offset "
	    "12");
	compile_bad("{{sub ject}}", "unknown placeholder");
	compile_bad("{{subject", "'{{' at offset 0 is never closed");
	compile_bad("ok {{", "never closed");
	compile_bad("{{ subjects }}", "known: subject, body, source");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	compile_bad(big, "at most 16384");
}

static void
test_escapers(void **state)
{
	const char *v[TF_COUNT] = { NULL };
	struct template *t;

	(void)state;
	v[TF_SUBJECT] = "<!channel> & <@U1>";
	v[TF_BODY] = "a\r\nBcc: evil@example.org\tx\x01y";
	t = compile_ok("<b>{{subject}}</b>");
	assert_string_equal(render(t, v, template_escape_slack),
	    "<b>&lt;!channel&gt; &amp; &lt;@U1&gt;</b>");
	template_free(t);
	t = compile_ok("Subject: {{body}}");
	assert_string_equal(render(t, v, template_escape_line),
	    "Subject: a  Bcc: evil@example.org x y");
	assert_string_equal(render(t, v, template_escape_none),
	    "Subject: a\r\nBcc: evil@example.org\tx\x01y");
	template_free(t);
}

/* RFC 4231 test case 2 and the well-known "quick brown fox" vector. */
static void
test_acktoken(void **state)
{
	char tok[ACKTOKEN_LEN + 1];

	(void)state;
	assert_int_equal(acktoken_make((const unsigned char *)"key", 3,
	    "The quick brown fox jumps over the lazy dog", tok), 0);
	assert_string_equal(tok, "f7bc83f430538424b13298e6aa6fb143ef4d59a1494"
	    "6175997479dbc2d1a3cd8");
	assert_int_equal(acktoken_make((const unsigned char *)"Jefe", 4,
	    "what do ya want for nothing?", tok), 0);
	assert_string_equal(tok, "5bdcc146bf60754e6a042426089575c75a003f089d2"
	    "739839dec58b964ec3843");
	assert_true(acktoken_check((const unsigned char *)"Jefe", 4,
	    "what do ya want for nothing?", tok));
	tok[0] = '6';
	assert_false(acktoken_check((const unsigned char *)"Jefe", 4,
	    "what do ya want for nothing?", tok));
	assert_false(acktoken_check((const unsigned char *)"Jefe", 4,
	    "what do ya want for nothing?", "5bdc"));
	assert_false(acktoken_check((const unsigned char *)"Jefe", 4,
	    "what do ya want for nothing?", NULL));
	assert_int_equal(acktoken_make(NULL, 0, "x", tok), -1);
}

static struct delivery *
delivery_of(struct notice *n, struct channel *ch)
{
	static struct delivery d;

	memset(&d, 0, sizeof(d));
	d.notice = n;
	d.channel = ch;
	d.fallback = 0;
	snprintf(d.id, sizeof(d.id), "%s/%s", n->id, ch->name);
	return (&d);
}

static void
test_values(void **state)
{
	struct render_ack ack = { .public_url = (char *)"https://sb.example",
	    .secret = (unsigned char *)"Jefe", .secretlen = 4 };
	struct channel ch = { .name = (char *)"mail" };
	struct render_values rv;
	struct notice *n, *m;
	struct delivery *d, *items[2];
	char want[256], tok[ACKTOKEN_LEN + 1];

	(void)state;
	n = harness_notice("n-1", "the body", 1);
	d = delivery_of(n, &ch);
	d->level = 3;
	assert_int_equal(render_values_fill(&rv, d, &ack), 0);
	assert_string_equal(rv.v[TF_SUBJECT], "Disk almost full");
	assert_string_equal(rv.v[TF_BODY], "the body");
	assert_string_equal(rv.v[TF_SOURCE], "anonymous");
	assert_string_equal(rv.v[TF_AUDIENCE], "dept:ops, staff:alice");
	assert_string_equal(rv.v[TF_PRIORITY], "high");
	assert_string_equal(rv.v[TF_CLASS], "realtime");
	assert_string_equal(rv.v[TF_GOAL], "resolve");
	assert_string_equal(rv.v[TF_ID], "n-1");
	assert_string_equal(rv.v[TF_DELIVERY_ID], "n-1/mail");
	assert_string_equal(rv.v[TF_CHANNEL], "mail");
	assert_string_equal(rv.v[TF_LEVEL], "3");
	assert_string_equal(rv.v[TF_ACK_URL], "");
	assert_string_equal(rv.v[TF_ITEMS],
	    "- [high] Disk almost full\n");
	render_values_clear(&rv);

	/* Interactive: an ack link with the id's token. */
	n->class = CLASS_INTERACTIVE;
	n->anonymous = 0;
	assert_int_equal(render_values_fill(&rv, d, &ack), 0);
	assert_int_equal(acktoken_make(ack.secret, 4, "n-1", tok), 0);
	snprintf(want, sizeof(want), "https://sb.example/v1/ack/n-1?t=%s",
	    tok);
	assert_string_equal(rv.v[TF_ACK_URL], want);
	assert_string_equal(rv.v[TF_SOURCE], "billing");
	render_values_clear(&rv);
	assert_int_equal(render_values_fill(&rv, d, NULL), 0);
	assert_string_equal(rv.v[TF_ACK_URL], "");
	render_values_clear(&rv);

	/* A digest lists its items and speaks for them in its subject. */
	m = harness_notice("n-2", NULL, 0);
	free(m->subject);
	m->subject = strdup("Second");
	m->priority = PRIORITY_LOW;
	assert_non_null(items[0] = calloc(1, sizeof(**items)));
	assert_non_null(items[1] = calloc(1, sizeof(**items)));
	items[0]->notice = n;
	items[1]->notice = m;
	d->items = items;
	d->nitems = 2;
	assert_int_equal(render_values_fill(&rv, d, NULL), 0);
	assert_string_equal(rv.v[TF_SUBJECT], "Digest of 2 notices");
	assert_string_equal(rv.v[TF_BODY], "");
	assert_string_equal(rv.v[TF_ITEMS], "- [high] Disk almost full "
	    "(billing)\n- [low] Second (billing)\n");
	render_values_clear(&rv);
	free(items[0]);
	free(items[1]);
	notice_unref(m);
	notice_unref(n);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_parts),
		cmocka_unit_test(test_every_placeholder),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_escapers),
		cmocka_unit_test(test_acktoken),
		cmocka_unit_test(test_values),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
