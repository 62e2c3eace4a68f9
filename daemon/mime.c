/*
 * mime.c: building a plain-text mail. Base64 comes from OpenSSL's
 * EVP_EncodeBlock; the rest is the little RFC 5322/2045/2047 needs:
 * headers no longer than 78 characters where we can help it, encoded words
 * of at most 75 that never split a UTF-8 character, CRLF everywhere and no
 * bare CR or LF, since a relay may reject or rewrite a message with either.
 */
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mime.h"
#include "template.h"

/* Bytes of text per encoded word: 52 base64 characters, 64 in all. */
#define MIME_WORD_BYTES		39
#define MIME_LINE_MAX		998	/* RFC 5322 2.1.1 */
#define MIME_B64_LINE		57	/* bytes per 76-character line */

static int	mime_plain(const char *, size_t);
static int	mime_words(struct evbuffer *, const char *, size_t);
static int	mime_b64(struct evbuffer *, const unsigned char *, size_t);
static int	mime_from(struct evbuffer *, const struct mime_message *);
static int	mime_to(struct evbuffer *, const struct mime_message *);
static struct evbuffer *mime_crlf(const char *);
static int	mime_body(struct evbuffer *, const char *);

/* Printable ASCII with no "=?" (which a reader would try to decode). */
static int
mime_plain(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ||
		    (s[i] == '=' && i + 1 < len && s[i + 1] == '?'))
			return (0);
	return (1);
}

static int
mime_b64(struct evbuffer *out, const unsigned char *in, size_t len)
{
	unsigned char enc[4 * ((MIME_B64_LINE + 2) / 3) + 1];
	int n;

	if (len > MIME_B64_LINE)
		return (-1);
	n = EVP_EncodeBlock(enc, in, (int)len);
	return (n < 0 ? -1 : evbuffer_add(out, enc, (size_t)n));
}

/*
 * Encoded words "=?UTF-8?B?...?=" separated by CRLF SP (folding white space
 * between encoded words is not part of the text), each ending on a UTF-8
 * character boundary.
 */
static int
mime_words(struct evbuffer *out, const char *s, size_t len)
{
	size_t off = 0, n;

	while (off < len) {
		n = len - off > MIME_WORD_BYTES ? MIME_WORD_BYTES : len - off;
		while (n > 1 && off + n < len &&
		    ((unsigned char)s[off + n] & 0xc0) == 0x80)
			n--;
		if ((off > 0 && evbuffer_add(out, "\r\n ", 3) == -1) ||
		    evbuffer_add(out, "=?UTF-8?B?", 10) == -1 ||
		    mime_b64(out, (const unsigned char *)s + off, n) == -1 ||
		    evbuffer_add(out, "?=", 2) == -1)
			return (-1);
		off += n;
	}
	return (0);
}

int
mime_header_encoded(struct evbuffer *out, const char *name,
    const char *value)
{
	size_t len = strlen(value);

	if (evbuffer_add_printf(out, "%s: ", name) < 0)
		return (-1);
	if (mime_plain(value, len) && strlen(name) + 2 + len <= 78) {
		if (evbuffer_add(out, value, len) == -1)
			return (-1);
	} else if (len > 0 && mime_words(out, value, len) == -1)
		return (-1);
	return (evbuffer_add(out, "\r\n", 2));
}

void
mime_date(int64_t ms, char *buf, size_t len)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	/* Names by hand: strftime's %a and %b follow the locale. */
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/*
 * An addr-spec as dot-atoms: letters, digits and the RFC 5322 atext
 * specials on the left, a host name on the right. Quoted local parts and
 * address literals are refused: we would rather say so than send them.
 */
int
mime_address_valid(const char *s)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~.";
	const char *at = strchr(s, '@'), *p;

	if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') ||
	    s[0] == '.' || at[-1] == '.' || at[1] == '.' || at - s > 64 ||
	    strlen(at + 1) > 253)
		return (0);
	for (p = s; p < at; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr(atext, *p) != NULL) ||
		    (*p == '.' && p[1] == '.'))
			return (0);
	for (p = at + 1; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.') ||
		    (*p == '.' && (p[1] == '.' || p[1] == '\0')))
			return (0);
	return (1);
}

/* From: "Name" <addr>, or an encoded word for a name that needs one. */
static int
mime_from(struct evbuffer *out, const struct mime_message *m)
{
	const char *name = m->from_name;
	size_t len;

	if (name == NULL || *name == '\0')
		return (evbuffer_add_printf(out, "From: %s\r\n",
		    m->from_addr) < 0 ? -1 : 0);
	len = strlen(name);
	if (mime_plain(name, len) && strpbrk(name, "\"\\") == NULL)
		return (evbuffer_add_printf(out, "From: \"%s\" <%s>\r\n", name,
		    m->from_addr) < 0 ? -1 : 0);
	if (evbuffer_add(out, "From: ", 6) == -1 ||
	    mime_words(out, name, len) == -1)
		return (-1);
	return (evbuffer_add_printf(out, "\r\n <%s>\r\n", m->from_addr) < 0 ?
	    -1 : 0);
}

/* To: one address a line after the first, or the empty group. */
static int
mime_to(struct evbuffer *out, const struct mime_message *m)
{
	size_t i;

	if (m->nto == 0)
		return (evbuffer_add_printf(out, "To: undisclosed-recipients:;"
		    "\r\n") < 0 ? -1 : 0);
	if (evbuffer_add(out, "To: ", 4) == -1)
		return (-1);
	for (i = 0; i < m->nto; i++)
		if (evbuffer_add_printf(out, "%s%s", i > 0 ? ",\r\n " : "",
		    m->to[i]) < 0)
			return (-1);
	return (evbuffer_add(out, "\r\n", 2));
}

/* The text with every line ending made CRLF, ending in one. */
static struct evbuffer *
mime_crlf(const char *s)
{
	struct evbuffer *b;
	size_t run;

	if ((b = evbuffer_new()) == NULL)
		return (NULL);
	while (*s != '\0') {
		run = strcspn(s, "\r\n");
		if (evbuffer_add(b, s, run) == -1 ||
		    evbuffer_add(b, "\r\n", 2) == -1) {
			evbuffer_free(b);
			return (NULL);
		}
		s += run;
		if (s[0] == '\r' && s[1] == '\n')
			s += 2;
		else if (*s != '\0')
			s++;
	}
	return (b);
}

/*
 * The body and its Content-Transfer-Encoding: 7bit when every byte is
 * ASCII and every line short enough, else base64 (a relay without
 * 8BITMIME must not be handed 8bit).
 */
static int
mime_body(struct evbuffer *out, const char *body)
{
	struct evbuffer *b;
	unsigned char *p;
	size_t len, i, line = 0;
	int seven = 1, rc = 0;

	if ((b = mime_crlf(body)) == NULL)
		return (-1);
	len = evbuffer_get_length(b);
	if ((p = evbuffer_pullup(b, -1)) == NULL && len > 0) {
		evbuffer_free(b);
		return (-1);
	}
	for (i = 0; i < len && seven; i++) {
		if (p[i] >= 0x80 || p[i] == '\0' ||
		    (p[i] != '\r' && p[i] != '\n' && ++line > MIME_LINE_MAX))
			seven = 0;
		if (p[i] == '\n')
			line = 0;
	}
	if (evbuffer_add_printf(out, "Content-Transfer-Encoding: %s\r\n\r\n",
	    seven ? "7bit" : "base64") < 0)
		rc = -1;
	else if (seven)
		rc = evbuffer_add(out, p, len);
	for (i = 0; !seven && rc == 0 && i < len; i += MIME_B64_LINE)
		if (mime_b64(out, p + i, len - i > MIME_B64_LINE ?
		    MIME_B64_LINE : len - i) == -1 ||
		    evbuffer_add(out, "\r\n", 2) == -1)
			rc = -1;
	evbuffer_free(b);
	return (rc);
}

char *
mime_build(const struct mime_message *m, size_t *lenp)
{
	struct evbuffer *out, *v;
	char date[64], *s = NULL;
	size_t i, len;
	int rc;

	if ((out = evbuffer_new()) == NULL)
		return (NULL);
	mime_date(m->date_ms, date, sizeof(date));
	rc = mime_from(out, m) == 0 && mime_to(out, m) == 0 &&
	    mime_header_encoded(out, "Subject", m->subject) == 0 &&
	    evbuffer_add_printf(out, "Date: %s\r\nMessage-ID: <%s>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n",
	    date, m->message_id) > 0 ? 0 : -1;
	for (i = 0; rc == 0 && i < m->nheaders; i++) {
		if ((v = evbuffer_new()) == NULL ||
		    template_escape_line(v, m->hvalue[i],
		    strlen(m->hvalue[i])) == -1 ||
		    evbuffer_add_printf(out, "%s: ", m->hname[i]) < 0 ||
		    evbuffer_add_buffer(out, v) == -1 ||
		    evbuffer_add(out, "\r\n", 2) == -1)
			rc = -1;
		if (v != NULL)
			evbuffer_free(v);
	}
	if (rc == 0)
		rc = mime_body(out, m->body);
	len = evbuffer_get_length(out);
	if (rc == 0 && (s = malloc(len + 1)) != NULL) {
		evbuffer_remove(out, s, len);
		s[len] = '\0';
		*lenp = len;
	}
	evbuffer_free(out);
	return (s);
}
