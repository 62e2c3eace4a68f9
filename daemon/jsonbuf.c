/*
 * jsonbuf.c: JSON written into one growing buffer.
 *
 * yajl_gen costs ~600 instructions a string (a callback for each quote
 * and separator, a switch for each byte): three quarters of what encoding
 * a notice cost (docs/PERFORMANCE.md). Most values hold nothing JSON
 * escapes, and the parser has checked their UTF-8 already, so those are
 * copied as they are; yajl writes every other one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbuf.h"

static void	jsonbuf_print_cb(void *, const char *, size_t);
static int	jsonbuf_plain(const char *, size_t);

/* Every byte of a 64-bit word set to b. */
#define JSONBUF_BYTES(b)	(0x0101010101010101ULL * (uint64_t)(b))

int
jsonbuf_init(struct jsonbuf *jb, size_t size)
{
	memset(jb, 0, sizeof(*jb));
	jb->size = size > 0 ? size : 64;
	if ((jb->buf = malloc(jb->size)) == NULL)
		return (-1);
	jb->buf[0] = '\0';
	return (0);
}

void
jsonbuf_putn(struct jsonbuf *jb, const char *s, size_t len)
{
	size_t size;
	char *buf;

	if (jb->failed)
		return;
	if (jb->len + len + 1 > jb->size) {
		size = jb->size * 2;
		while (size < jb->len + len + 1)
			size *= 2;
		if ((buf = realloc(jb->buf, size)) == NULL) {
			jb->failed = 1;
			return;
		}
		jb->buf = buf;
		jb->size = size;
	}
	memcpy(jb->buf + jb->len, s, len);
	jb->len += len;
	jb->buf[jb->len] = '\0';
}

void
jsonbuf_put(struct jsonbuf *jb, const char *s)
{
	jsonbuf_putn(jb, s, strlen(s));
}

/* Digits by hand: snprintf costs ~800 instructions for a small number. */
void
jsonbuf_int(struct jsonbuf *jb, long long v)
{
	char digits[24], *p = digits + sizeof(digits);
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v :
	    (unsigned long long)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	jsonbuf_putn(jb, p, (size_t)(digits + sizeof(digits) - p));
}

static void
jsonbuf_print_cb(void *arg, const char *s, size_t len)
{
	jsonbuf_putn(arg, s, len);
}

/*
 * Whether s holds nothing yajl escapes: no '"', '\\' or control character.
 * Eight bytes at a time: the scan was 10 instructions a byte, the biggest
 * part of a notice's encoding. A word "has a byte below n" when (v - n) &
 * ~v & 0x80.. is not zero (exact as a yes or no for n <= 128); a byte
 * equal to c is a zero byte of v ^ c.
 */
static int
jsonbuf_plain(const char *s, size_t len)
{
	const uint64_t high = JSONBUF_BYTES(0x80), one = JSONBUF_BYTES(1);
	uint64_t v, q, b;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&v, s + i, 8);
		q = v ^ JSONBUF_BYTES('"');
		b = v ^ JSONBUF_BYTES('\\');
		if ((((v - JSONBUF_BYTES(0x20)) & ~v) | ((q - one) & ~q) |
		    ((b - one) & ~b)) & high)
			return (0);
	}
	for (; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
			return (0);
	return (1);
}

void
jsonbuf_string(struct jsonbuf *jb, const char *s)
{
	size_t len = strlen(s);

	if (jsonbuf_plain(s, len)) {
		jsonbuf_putn(jb, "\"", 1);
		jsonbuf_putn(jb, s, len);
		jsonbuf_putn(jb, "\"", 1);
		return;
	}
	if (jb->gen == NULL) {
		if ((jb->gen = yajl_gen_alloc(NULL)) == NULL) {
			jb->failed = 1;
			return;
		}
		yajl_gen_config(jb->gen, yajl_gen_print_callback,
		    jsonbuf_print_cb, jb);
	}
	/* One value at the top level each time: no separator of yajl's. */
	yajl_gen_reset(jb->gen, NULL);
	if (yajl_gen_string(jb->gen, (const unsigned char *)s, len) !=
	    yajl_gen_status_ok)
		jb->failed = 1;
}

char *
jsonbuf_finish(struct jsonbuf *jb, size_t *len)
{
	char *out = jb->buf;

	if (jb->gen != NULL)
		yajl_gen_free(jb->gen);
	if (jb->failed) {
		free(out);
		out = NULL;
	} else if (len != NULL)
		*len = jb->len;
	memset(jb, 0, sizeof(*jb));
	return (out);
}
