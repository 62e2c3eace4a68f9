/*
 * test_mime.c: the mail an smtp channel sends (mime.c): dates, addresses,
 * RFC 2047 encoded words (decoded back, never splitting a character,
 * lines within 78), 7bit and base64 bodies, CRLF everywhere, and headers
 * that a value cannot break out of.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <openssl/evp.h>

#include "mime.h"

static void
test_date(void **state)
{
	char buf[64];

	(void)state;
	mime_date(0, buf, sizeof(buf));
	assert_string_equal(buf, "Thu, 01 Jan 1970 00:00:00 +0000");
	mime_date(1732649642123LL, buf, sizeof(buf));
	assert_string_equal(buf, "Tue, 26 Nov 2024 19:34:02 +0000");
}

static void
test_address(void **state)
{
	static const char *const good[] = { "ops@example.org",
	    "a.b+tag@mail.example.co.uk", "x@y", "o'brien@example.org", NULL };
	static const char *const bad[] = { "", "ops", "@example.org", "ops@",
	    "ops at example.org", "Ops <ops@example.org>", "a@b@c",
	    ".a@example.org", "a.@example.org", "a..b@example.org",
	    "a@example..org", "a@example.org.", "a@exa_mple.org",
	    "a\r\n@example.org", "\"q\"@example.org", NULL };
	size_t i;

	(void)state;
	for (i = 0; good[i] != NULL; i++)
		if (!mime_address_valid(good[i]))
			fail_msg("'%s' refused", good[i]);
	for (i = 0; bad[i] != NULL; i++)
		if (mime_address_valid(bad[i]))
			fail_msg("'%s' accepted", bad[i]);
}

/* Whether s holds whole UTF-8 characters only. */
static int
utf8_whole(const unsigned char *s, int n)
{
	int i = 0, k;

	while (i < n) {
		k = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 :
		    (s[i] & 0xf0) == 0xe0 ? 3 : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
		if (k == 0 || i + k > n)
			return (0);
		while (--k > 0)
			if ((s[++i] & 0xc0) != 0x80)
				return (0);
		i++;
	}
	return (1);
}

/* The text of a header made by mime_header_encoded, decoded back. */
static void
decode_header(const char *hdr, char *out, size_t outlen)
{
	unsigned char dec[256];
	const char *p, *end;
	size_t len = 0;
	int n;

	out[0] = '\0';
	for (p = hdr; (p = strstr(p, "=?UTF-8?B?")) != NULL; p = end + 2) {
		p += 10;
		assert_non_null(end = strstr(p, "?="));
		n = EVP_DecodeBlock(dec, (const unsigned char *)p,
		    (int)(end - p));
		assert_true(n >= 0);
		/* EVP_DecodeBlock counts the padding as data. */
		n -= (end[-1] == '=') + (end[-2] == '=');
		/* Each word holds whole characters (RFC 2047 section 5). */
		assert_true(utf8_whole(dec, n));
		assert_true(len + (size_t)n < outlen);
		memcpy(out + len, dec, (size_t)n);
		len += (size_t)n;
		out[len] = '\0';
	}
}

static char *
header(const char *name, const char *value)
{
	struct evbuffer *b;
	size_t len;
	char *s;

	assert_non_null(b = evbuffer_new());
	assert_int_equal(mime_header_encoded(b, name, value), 0);
	len = evbuffer_get_length(b);
	assert_non_null(s = calloc(1, len + 1));
	evbuffer_remove(b, s, len);
	evbuffer_free(b);
	return (s);
}

static void
check_lines(const char *s, size_t max)
{
	const char *p = s, *e;

	for (; *p != '\0'; p = e + 2) {
		assert_non_null(e = strstr(p, "\r\n"));
		if ((size_t)(e - p) > max)
			fail_msg("line of %zu: %.*s", (size_t)(e - p),
			    (int)(e - p), p);
		assert_null(memchr(p, '\n', (size_t)(e - p)));
		assert_null(memchr(p, '\r', (size_t)(e - p)));
	}
}

static void
test_header_encoding(void **state)
{
	const char *subject = "Stromausfall in Halle 3 – bitte prüfen ✓ "
	    "日本語のテキストも大丈夫です 🚨🚨🚨 and a long ASCII tail too";
	char back[1024], *h;

	(void)state;
	h = header("Subject", "Plain ASCII subject");
	assert_string_equal(h, "Subject: Plain ASCII subject\r\n");
	free(h);
	/* "=?" would be read as an encoded word: encode it. */
	h = header("Subject", "a =?x?= b");
	assert_non_null(strstr(h, "=?UTF-8?B?"));
	decode_header(h, back, sizeof(back));
	assert_string_equal(back, "a =?x?= b");
	free(h);
	h = header("Subject", subject);
	check_lines(h, 78);
	assert_int_equal(strncmp(h, "Subject: =?UTF-8?B?", 19), 0);
	decode_header(h, back, sizeof(back));
	assert_string_equal(back, subject);
	free(h);
	h = header("Subject", "");
	assert_string_equal(h, "Subject: \r\n");
	free(h);
}

static char *
build(struct mime_message *m, size_t *len)
{
	char *s;

	assert_non_null(s = mime_build(m, len));
	assert_int_equal(strlen(s), *len);
	check_lines(s, 998);
	return (s);
}

static void
test_build_7bit(void **state)
{
	const char *to[] = { "ops@example.org", "team@example.org" };
	struct mime_message m;
	char *s, *body;
	size_t len;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.from_name = "Switchboard";
	m.from_addr = "sb@example.org";
	m.to = to;
	m.nto = 2;
	m.subject = "Hello";
	m.body = "line one\nline two\r\nline three\rend";
	m.date_ms = 0;
	m.message_id = "abc.switchboard@example.org";
	m.hname[0] = "X-Switchboard-Id";
	m.hvalue[0] = "n-1\r\nBcc: evil@example.org";
	m.nheaders = 1;
	s = build(&m, &len);
	assert_non_null(strstr(s, "From: \"Switchboard\" <sb@example.org>\r\n"
	    "To: ops@example.org,\r\n team@example.org\r\nSubject: Hello\r\n"
	    "Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"
	    "Message-ID: <abc.switchboard@example.org>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=UTF-8\r\n"));
	assert_non_null(strstr(s, "X-Switchboard-Id: n-1  Bcc: "
	    "evil@example.org\r\n"));
	assert_null(strstr(s, "\r\nBcc:"));
	assert_non_null(body = strstr(s, "Content-Transfer-Encoding: 7bit"
	    "\r\n\r\n"));
	assert_string_equal(body + 35, "line one\r\nline two\r\nline three"
	    "\r\nend\r\n");
	free(s);
}

static void
test_build_base64(void **state)
{
	struct mime_message m;
	char *s, *b64, *p, dec[4096], body[3000];
	size_t len, i, dlen = 0;
	unsigned char chunk[64];
	int n;

	(void)state;
	/* Non-ASCII, and a line longer than 998: both need base64. */
	snprintf(body, sizeof(body), "Grüße\n");
	for (i = strlen(body); i < sizeof(body) - 2; i++)
		body[i] = 'x';
	body[i] = '\0';
	memset(&m, 0, sizeof(m));
	m.from_name = "Störungsdienst";
	m.from_addr = "sb@example.org";
	m.subject = "x";
	m.body = body;
	m.message_id = "id@example.org";
	s = build(&m, &len);
	assert_non_null(strstr(s, "To: undisclosed-recipients:;\r\n"));
	assert_non_null(strstr(s, "From: =?UTF-8?B?"));
	assert_non_null(strstr(s, "\r\n <sb@example.org>\r\n"));
	assert_non_null(b64 = strstr(s, "Content-Transfer-Encoding: base64"
	    "\r\n\r\n"));
	for (p = b64 + 37; *p != '\0'; p = strstr(p, "\r\n") + 2) {
		len = strcspn(p, "\r");
		assert_true(len <= 76);
		n = EVP_DecodeBlock(chunk, (unsigned char *)p, (int)len);
		assert_true(n >= 0);
		n -= (p[len - 1] == '=') + (p[len - 2] == '=');
		memcpy(dec + dlen, chunk, (size_t)n);
		dlen += (size_t)n;
	}
	dec[dlen] = '\0';
	assert_int_equal(strncmp(dec, "Grüße\r\nxxx", 11), 0);
	assert_int_equal(dlen, strlen(body) + 3);	/* two CRs, a CRLF */
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_address),
		cmocka_unit_test(test_header_encoding),
		cmocka_unit_test(test_build_7bit),
		cmocka_unit_test(test_build_base64),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
