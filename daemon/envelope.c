/*
 * envelope.c: the wire format (SPEC §2). One request's JSON is parsed once,
 * by yajl's streaming parser, straight into a notice (or an ack or a ping):
 * no tree is built, and a value breaking a rule cancels the parse at once,
 * so hostile input (deep nesting, huge strings of numbers) costs nothing
 * past the point where it goes wrong. Replies are written with yajl_gen.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "duration.h"
#include "envelope.h"
#include "jsonbuf.h"
#include "notice.h"

/* What a JSON value is, for "expected a string, got a number". */
enum json_kind {
	JSON_NULL,
	JSON_BOOLEAN,
	JSON_NUMBER,
	JSON_STRING,
	JSON_OBJECT,
	JSON_ARRAY
};

/* Where a field may appear (its in) and where it is required. */
#define IN_NOTICE	0x01
#define IN_ACK		0x02
#define IN_PING		0x04
#define IN_STORED	0x08	/* a stored notice (the spool) only */
#define IN_ANY		(IN_NOTICE | IN_ACK | IN_PING)

/* A decoded string: yajl checked its shape, envelope_utf8_scan the rest. */
struct string_info {
	size_t	chars;		/* code points */
	int	control;	/* a C0, DEL or C1 character */
	int	nul;		/* U+0000 */
};

/* What is wrong with an audience entry. */
enum audience_fault {
	ENTRY_OK,
	ENTRY_TOO_MANY,
	ENTRY_NEEDS_NAME,	/* "staff" */
	ENTRY_NOT_PUBLIC,	/* "everyone" */
	ENTRY_UNKNOWN_KIND,
	ENTRY_EMPTY_NAME,
	ENTRY_LONG_NAME,
	ENTRY_SPACE,
	ENTRY_REPEATED
};

struct parse;

struct envelope_field {
	const char	*name;
	size_t		 len;
	unsigned	 in;
	unsigned	 required;
	enum json_kind	 want;
	/* A scalar value; a boolean comes as len 0 or 1 and s NULL. */
	int		(*set)(struct parse *, const char *s, size_t len);
};

/* The state of one parse, passed to every yajl callback. */
struct parse {
	int			 stored;	/* envelope_parse_stored */
	int			 type;		/* ENVELOPE_x or -1 */
	int			 depth;		/* 1: top object, 2: nested */
	const struct envelope_field *field;	/* whose value comes next */
	uint32_t		 seen;		/* 1 << field index */
	unsigned char		 order[32];	/* fields in the order seen */
	size_t			 nseen;
	struct string_info	 si;		/* of the string being set */
	size_t			 audience_size;	/* allocated entries */
	size_t			 tags_size;
	char			 id[SB_ID_MAX + 1];
	struct notice		*n;
	struct ack		 ack;
	struct envelope_error	*err;
	int			 canceled;	/* a rule, not the syntax */
};

static int	envelope_null_cb(void *);
static int	envelope_boolean_cb(void *, int);
static int	envelope_number_cb(void *, const char *, size_t);
static int	envelope_string_cb(void *, const unsigned char *, size_t);
static int	envelope_start_map_cb(void *);
static int	envelope_map_key_cb(void *, const unsigned char *, size_t);
static int	envelope_end_map_cb(void *);
static int	envelope_start_array_cb(void *);
static int	envelope_end_array_cb(void *);

static int	envelope_fail(struct parse *, enum sb_error, const char *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static int	envelope_oom(struct parse *);
static void	envelope_quote(char *, size_t, const char *, size_t);
static int	envelope_utf8_scan(const unsigned char *, size_t,
		    struct string_info *, size_t *);
static int	envelope_integer(const char *, size_t, long long *);
static char	*envelope_strndup(struct parse *, const char *, size_t);
static int	envelope_charset(struct parse *, const char *, const char *,
		    size_t, size_t, int);
static int	envelope_name(const char *, size_t, char *, size_t);

static int	envelope_value(struct parse *, enum json_kind, const char *,
		    size_t);
static int	envelope_nested(struct parse *, enum json_kind, const char *,
		    size_t);
static int	envelope_check_string(struct parse *, const char *, size_t);
static void	envelope_where(struct parse *, char *, size_t);
static int	envelope_check_type(struct parse *, const struct envelope_field
		    *);
static int	envelope_finish(struct parse *);
static int	envelope_run(struct parse *, const char *, size_t);
static void	envelope_discard(struct parse *);
static void	envelope_syntax_error(struct parse *, yajl_handle,
		    const char *, size_t, int);

static int	envelope_set_v(struct parse *, const char *, size_t);
static int	envelope_set_type(struct parse *, const char *, size_t);
static int	envelope_set_id(struct parse *, const char *, size_t);
static int	envelope_set_source(struct parse *, const char *, size_t);
static int	envelope_set_nested(struct parse *, const char *, size_t);
static int	envelope_set_subject(struct parse *, const char *, size_t);
static int	envelope_set_body(struct parse *, const char *, size_t);
static int	envelope_set_priority(struct parse *, const char *, size_t);
static int	envelope_set_goal(struct parse *, const char *, size_t);
static int	envelope_set_class(struct parse *, const char *, size_t);
static int	envelope_set_respond_within(struct parse *, const char *,
		    size_t);
static int	envelope_set_anonymous(struct parse *, const char *, size_t);
static int	envelope_set_received_at(struct parse *, const char *,
		    size_t);
static int	envelope_set_ref(struct parse *, const char *, size_t);
static int	envelope_set_by(struct parse *, const char *, size_t);
static int	envelope_set_note(struct parse *, const char *, size_t);
static int	envelope_set_score(struct parse *, const char *, size_t);
static int	envelope_audience_add(struct parse *, const char *, size_t);
static enum audience_fault envelope_audience_check(struct parse *,
		    const char *, size_t, size_t *);
static int	envelope_audience_fail(struct parse *, enum audience_fault,
		    const char *, size_t, size_t);
static int	envelope_tag_key(struct parse *, const char *, size_t);
static int	envelope_tag_value(struct parse *, const char *, size_t);

static size_t	envelope_utf8_whole(const char *, size_t);
static char	*envelope_gen_done(yajl_gen, size_t *);
static void	envelope_gen_string(yajl_gen, const char *);

static const yajl_callbacks envelope_callbacks = {
	.yajl_null = envelope_null_cb,
	.yajl_boolean = envelope_boolean_cb,
	.yajl_number = envelope_number_cb,	/* never a numeric overflow */
	.yajl_string = envelope_string_cb,
	.yajl_start_map = envelope_start_map_cb,
	.yajl_map_key = envelope_map_key_cb,
	.yajl_end_map = envelope_end_map_cb,
	.yajl_start_array = envelope_start_array_cb,
	.yajl_end_array = envelope_end_array_cb,
};

#define F(name)		name, sizeof(name) - 1
/* Every field of SPEC §2.1 and §2.2, in the order missing ones are named. */
static const struct envelope_field envelope_fields[] = {
	{ F("v"), IN_ANY, 0, JSON_NUMBER, envelope_set_v },
	{ F("type"), IN_ANY, 0, JSON_STRING, envelope_set_type },
	{ F("id"), IN_NOTICE | IN_PING, IN_STORED, JSON_STRING,
	    envelope_set_id },
	{ F("source"), IN_NOTICE, IN_NOTICE, JSON_STRING, envelope_set_source },
	{ F("audience"), IN_NOTICE, IN_NOTICE, JSON_ARRAY,
	    envelope_set_nested },
	{ F("subject"), IN_NOTICE, IN_NOTICE, JSON_STRING,
	    envelope_set_subject },
	{ F("body"), IN_NOTICE, 0, JSON_STRING, envelope_set_body },
	{ F("priority"), IN_NOTICE, 0, JSON_STRING, envelope_set_priority },
	{ F("goal"), IN_NOTICE, 0, JSON_STRING, envelope_set_goal },
	{ F("class"), IN_NOTICE, 0, JSON_STRING, envelope_set_class },
	{ F("respond_within"), IN_NOTICE, 0, JSON_STRING,
	    envelope_set_respond_within },
	{ F("tags"), IN_NOTICE, 0, JSON_OBJECT, envelope_set_nested },
	{ F("anonymous"), IN_NOTICE, 0, JSON_BOOLEAN, envelope_set_anonymous },
	{ F("received_at"), IN_STORED, IN_STORED, JSON_STRING,
	    envelope_set_received_at },
	{ F("ref"), IN_ACK, IN_ACK, JSON_STRING, envelope_set_ref },
	{ F("by"), IN_ACK, IN_ACK, JSON_STRING, envelope_set_by },
	{ F("note"), IN_ACK, 0, JSON_STRING, envelope_set_note },
	{ F("score"), IN_ACK, 0, JSON_NUMBER, envelope_set_score },
};
#define ENVELOPE_NFIELDS \
	(sizeof(envelope_fields) / sizeof(envelope_fields[0]))
#undef F
/* Indexes in envelope_fields of the fields named in the code. */
#define FIELD_SOURCE	3
#define FIELD_AUDIENCE	4

static const char *const envelope_kind_names[] = {
	"null", "a boolean", "a number", "a string", "an object", "an array"
};
static const char *const envelope_type_names[] = {
	"a notice", "an ack", "a ping"
};
static const unsigned envelope_type_in[] = { IN_NOTICE, IN_ACK, IN_PING };

#define ID_CHARS	"A-Za-z0-9._:-"
#define SOURCE_CHARS	"A-Za-z0-9._-"
#define NAME_MAX_BYTES	128	/* of an audience name */
#define TAG_KEY_MAX	64
#define TAG_VALUE_MAX	256	/* bytes */
#define QUOTE_MAX	40	/* bytes of input quoted in a message */

void
envelope_error_set(struct envelope_error *err, enum sb_error code,
    const char *field, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	/* The id is the caller's to add: a stale one must not leak in. */
	err->id[0] = '\0';
	strlcpy(err->field, field != NULL ? field : "", sizeof(err->field));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* Record why the parse stops; returns 0, which cancels yajl. */
static int
envelope_fail(struct parse *p, enum sb_error code, const char *field,
    const char *fmt, ...)
{
	struct envelope_error *err = p->err;
	va_list ap;

	err->code = code;
	strlcpy(err->id, p->id, sizeof(err->id));
	strlcpy(err->field, field != NULL ? field : "", sizeof(err->field));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	p->canceled = 1;
	return (0);
}

static int
envelope_oom(struct parse *p)
{
	return (envelope_fail(p, SB_ERR_UNAVAILABLE, NULL,
	    "out of memory while parsing the message"));
}

/*
 * Quote input in a message: printable ASCII as is, anything else as \xNN,
 * cut at QUOTE_MAX bytes. The message stays ASCII, so that a reply is
 * valid JSON whatever the input was.
 */
static void
envelope_quote(char *dst, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	unsigned char c;

	for (i = 0; i < len && i < QUOTE_MAX; i++) {
		c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 2 > size)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 5 > size)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	if (i < len && o + 4 <= size) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
}

/* Whether 8 bytes are all printable ASCII (0x20..0x7e). */
static inline int
envelope_ascii8(const unsigned char *s)
{
	const uint64_t high = 0x8080808080808080ULL;
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	/*
	 * With every high bit clear, adding 0x60 to a byte sets its high
	 * bit exactly when the byte is >= 0x20, adding 0x01 exactly when it
	 * is 0x7f, and neither sum carries into the next byte.
	 */
	return ((w & high) == 0 && ((w + 0x6060606060606060ULL) & high) ==
	    high && ((w + 0x0101010101010101ULL) & high) == 0);
}

/*
 * Check a decoded string is UTF-8 by the Unicode standard's table 3-7 and
 * count its code points. yajl checks only the shape of raw bytes: it lets
 * overlong forms, surrogates and code points past U+10FFFF through, and
 * decodes a lone "\udc00" escape into a surrogate. Returns 0, or -1 with
 * *bad the offset of the first invalid byte.
 */
static int
envelope_utf8_scan(const unsigned char *s, size_t len,
    struct string_info *si, size_t *bad)
{
	size_t i = 0, n, k, chars = 0;
	unsigned char c, lo, hi;
	int control = 0, nul = 0;

	/* Counted in locals: s is char data, which may alias *si. */
	while (i < len) {
		/* Most text is printable ASCII: take it 8 bytes at a time. */
		if (len - i >= 8 && envelope_ascii8(s + i)) {
			i += 8;
			chars += 8;
			continue;
		}
		c = s[i];
		chars++;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				control = 1;
			if (c == 0)
				nul = 1;
			i++;
			continue;
		}
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			if (c == 0xe0)
				lo = 0xa0;	/* overlong */
			else if (c == 0xed)
				hi = 0x9f;	/* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			if (c == 0xf0)
				lo = 0x90;	/* overlong */
			else if (c == 0xf4)
				hi = 0x8f;	/* past U+10FFFF */
		} else
			goto invalid;
		if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
			goto invalid;
		for (k = 2; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				goto invalid;
		/* C1 controls are U+0080..U+009F: 0xc2 0x80..0x9f. */
		if (c == 0xc2 && s[i + 1] <= 0x9f)
			control = 1;
		i += n;
	}
	si->chars = chars;
	si->control = control;
	si->nul = nul;
	return (0);
invalid:
	*bad = i;
	return (-1);
}

/*
 * A JSON number as an integer. Returns 0 with *v set, 1 when it is an
 * integer too large to matter here (past 18 digits), -1 when it has a
 * fraction or an exponent.
 */
static int
envelope_integer(const char *s, size_t len, long long *v)
{
	size_t i = 0;
	int neg = 0;

	if (memchr(s, '.', len) != NULL || memchr(s, 'e', len) != NULL ||
	    memchr(s, 'E', len) != NULL)
		return (-1);
	if (len > 0 && s[0] == '-') {
		neg = 1;
		i++;
	}
	if (len - i > 18)
		return (1);
	for (*v = 0; i < len; i++)
		*v = *v * 10 + (s[i] - '0');
	if (neg)
		*v = -*v;
	return (0);
}

static char *
envelope_strndup(struct parse *p, const char *s, size_t len)
{
	char *copy;

	if ((copy = malloc(len + 1)) == NULL) {
		envelope_oom(p);
		return (NULL);
	}
	memcpy(copy, s, len);
	copy[len] = '\0';
	return (copy);
}

/*
 * An id or a source: 1..max bytes of letters, digits and ".", "_", "-"
 * (and ":" when colon is set). Returns 1 when good, else fails the parse.
 */
static int
envelope_charset(struct parse *p, const char *field, const char *s,
    size_t len, size_t max, int colon)
{
	const char *allowed = colon ? ID_CHARS : SOURCE_CHARS;
	char q[QUOTE_MAX * 4 + 8];
	unsigned char c;
	size_t i;

	if (len == 0)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, field,
		    "%s: must not be empty", field));
	if (len > max)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, field,
		    "%s: %zu bytes; the limit is %zu", field, len, max));
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-' || (colon && c == ':'))
			continue;
		envelope_quote(q, sizeof(q), s + i, 1);
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, field,
		    "%s: character '%s' at byte %zu is not allowed "
		    "(allowed: %s)", field, q, i, allowed));
	}
	return (1);
}

/*
 * A one-word name (priority, goal, class, type) as a C string in buf, for
 * the parse functions of notice.h. A value too long for buf is no name.
 */
static int
envelope_name(const char *s, size_t len, char *buf, size_t size)
{
	if (len >= size) {
		buf[0] = '\0';
		return (-1);
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	return (0);
}

/* The callbacks: each says what kind of value came, then one place acts. */
static int
envelope_null_cb(void *arg)
{
	return (envelope_value(arg, JSON_NULL, NULL, 0));
}

static int
envelope_boolean_cb(void *arg, int b)
{
	return (envelope_value(arg, JSON_BOOLEAN, NULL, b != 0));
}

static int
envelope_number_cb(void *arg, const char *s, size_t len)
{
	return (envelope_value(arg, JSON_NUMBER, s, len));
}

static int
envelope_string_cb(void *arg, const unsigned char *s, size_t len)
{
	return (envelope_value(arg, JSON_STRING, (const char *)s, len));
}

static int
envelope_start_map_cb(void *arg)
{
	struct parse *p = arg;

	if (p->depth == 0) {
		p->depth = 1;
		return (1);
	}
	return (envelope_value(p, JSON_OBJECT, NULL, 0));
}

static int
envelope_start_array_cb(void *arg)
{
	return (envelope_value(arg, JSON_ARRAY, NULL, 0));
}

static int
envelope_end_map_cb(void *arg)
{
	struct parse *p = arg;

	/* yajl pairs these: only tags or the top object can end here. */
	p->depth--;
	return (1);
}

static int
envelope_end_array_cb(void *arg)
{
	struct parse *p = arg;

	/* The only array that gets this far is the audience. */
	p->depth--;
	if (p->n->naudience == 0)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "audience: must have 1 to %d entries, got none",
		    SB_AUDIENCE_MAX));
	return (1);
}

/* A key of the top object names a field; a key inside tags is a tag. */
static int
envelope_map_key_cb(void *arg, const unsigned char *key, size_t len)
{
	struct parse *p = arg;
	const struct envelope_field *f;
	char q[QUOTE_MAX * 4 + 8];
	unsigned mask;
	size_t i;

	if (p->depth == 2)
		return (envelope_tag_key(p, (const char *)key, len));
	for (i = 0; i < ENVELOPE_NFIELDS; i++) {
		f = &envelope_fields[i];
		if (f->len == len && f->name[0] == key[0] &&
		    memcmp(f->name, key, len) == 0)
			break;
	}
	mask = p->stored ? (IN_NOTICE | IN_STORED) : IN_ANY;
	if (i == ENVELOPE_NFIELDS || (f->in & mask) == 0) {
		envelope_quote(q, sizeof(q), (const char *)key, len);
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, q,
		    "unknown field '%s'", q));
	}
	if (p->seen & (1U << i))
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, f->name,
		    "%s: given twice", f->name));
	p->seen |= 1U << i;
	p->order[p->nseen++] = (unsigned char)i;
	p->field = f;
	if (p->type != -1)
		return (envelope_check_type(p, f));
	return (1);
}

/* Whether a field belongs to the type, once the type is known. */
static int
envelope_check_type(struct parse *p, const struct envelope_field *f)
{
	unsigned in = envelope_type_in[p->type];

	if (p->stored || (f->in & in))
		return (1);
	if (p->type == ENVELOPE_ACK && strcmp(f->name, "id") == 0)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, f->name,
		    "id: not a field of an ack (an ack names its notice in "
		    "'ref')"));
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, f->name,
	    "%s: not a field of %s", f->name, envelope_type_names[p->type]));
}

/* A value: the top object's, a field's, or inside audience or tags. */
static int
envelope_value(struct parse *p, enum json_kind kind, const char *s,
    size_t len)
{
	const struct envelope_field *f = p->field;

	if (p->depth == 0)
		return (envelope_fail(p, SB_ERR_BAD_JSON, NULL,
		    "expected a JSON object, got %s",
		    envelope_kind_names[kind]));
	if (p->depth == 2)
		return (envelope_nested(p, kind, s, len));
	if (kind != f->want)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, f->name,
		    "%s: expected %s, got %s", f->name,
		    envelope_kind_names[f->want], envelope_kind_names[kind]));
	if (kind == JSON_STRING && !envelope_check_string(p, s, len))
		return (0);
	return (f->set(p, s, len));
}

/* Inside audience (strings) or tags (string values): nothing deeper. */
static int
envelope_nested(struct parse *p, enum json_kind kind, const char *s,
    size_t len)
{
	char where[QUOTE_MAX * 4 + 32];

	if (kind != JSON_STRING) {
		envelope_where(p, where, sizeof(where));
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, p->field->name,
		    "%s: expected a string, got %s", where,
		    envelope_kind_names[kind]));
	}
	if (!envelope_check_string(p, s, len))
		return (0);
	if (p->field == &envelope_fields[FIELD_AUDIENCE])
		return (envelope_audience_add(p, s, len));
	return (envelope_tag_value(p, s, len));
}

/* Where the parse is, for a message: "subject", "audience[2]", "tags.k". */
static void
envelope_where(struct parse *p, char *buf, size_t size)
{
	struct notice *n = p->n;

	if (p->depth < 2)
		strlcpy(buf, p->field->name, size);
	else if (p->field == &envelope_fields[FIELD_AUDIENCE])
		snprintf(buf, size, "audience[%zu]", n->naudience);
	else
		snprintf(buf, size, "tags.%s", n->tags[n->ntags - 1].key);
}

/* Every string: valid UTF-8 and no NUL, whatever field it is. */
static int
envelope_check_string(struct parse *p, const char *s, size_t len)
{
	char where[QUOTE_MAX * 4 + 32];
	size_t bad;

	if (envelope_utf8_scan((const unsigned char *)s, len, &p->si,
	    &bad) != 0) {
		envelope_where(p, where, sizeof(where));
		return (envelope_fail(p, SB_ERR_INVALID_FIELD,
		    p->field->name, "%s: invalid UTF-8 at byte %zu of the "
		    "string", where, bad));
	}
	if (p->si.nul) {
		envelope_where(p, where, sizeof(where));
		return (envelope_fail(p, SB_ERR_INVALID_FIELD,
		    p->field->name, "%s: contains a NUL character (\\u0000)",
		    where));
	}
	return (1);
}

static int
envelope_set_v(struct parse *p, const char *s, size_t len)
{
	char q[QUOTE_MAX * 4 + 8];
	long long v;
	int r;

	if ((r = envelope_integer(s, len, &v)) == 0 &&
	    v == SB_PROTOCOL_VERSION)
		return (1);
	envelope_quote(q, sizeof(q), s, len);
	if (r == -1)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "v",
		    "v: expected an integer, got %s", q));
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "v",
	    "v: unsupported protocol version %s (expected %d)", q,
	    SB_PROTOCOL_VERSION));
}

static int
envelope_set_type(struct parse *p, const char *s, size_t len)
{
	static const char *const names[] = { "notice", "ack", "ping" };
	char q[QUOTE_MAX * 4 + 8];
	size_t i;

	for (i = 0; i < 3; i++)
		if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0)
			break;
	if (i == 3 || (p->stored && i != ENVELOPE_NOTICE)) {
		envelope_quote(q, sizeof(q), s, len);
		return (envelope_fail(p, SB_ERR_UNKNOWN_TYPE, "type",
		    "unknown type '%s' (expected %s)", q,
		    p->stored ? "notice in the spool" :
		    "notice, ack or ping"));
	}
	p->type = (int)i;
	/* Fields that came before the type are checked now. */
	for (i = 0; i < p->nseen; i++)
		if (!envelope_check_type(p,
		    &envelope_fields[p->order[i]]))
			return (0);
	return (1);
}

static int
envelope_set_id(struct parse *p, const char *s, size_t len)
{
	if (!envelope_charset(p, "id", s, len, SB_ID_MAX, 1))
		return (0);
	memcpy(p->id, s, len);
	p->id[len] = '\0';
	return (1);
}

static int
envelope_set_source(struct parse *p, const char *s, size_t len)
{
	if (!envelope_charset(p, "source", s, len, SB_SOURCE_MAX, 0))
		return (0);
	return ((p->n->source = envelope_strndup(p, s, len)) != NULL);
}

/* Audience or tags opens: their strings come through envelope_nested. */
static int
envelope_set_nested(struct parse *p, const char *s, size_t len)
{
	(void)s;
	(void)len;
	p->depth = 2;
	return (1);
}

/* One entry: "public" or "kind:name"; no duplicates. */
static int
envelope_audience_add(struct parse *p, const char *s, size_t len)
{
	struct notice *n = p->n;
	enum audience_fault fault;
	size_t idx = n->naudience, other = 0;
	char **grown;

	if ((fault = envelope_audience_check(p, s, len, &other)) !=
	    ENTRY_OK)
		return (envelope_audience_fail(p, fault, s, len, other));
	if (idx == p->audience_size) {
		p->audience_size = p->audience_size ? p->audience_size * 2 : 4;
		grown = reallocarray(n->audience, p->audience_size,
		    sizeof(*n->audience));
		if (grown == NULL)
			return (envelope_oom(p));
		n->audience = grown;
	}
	if ((n->audience[idx] = envelope_strndup(p, s, len)) == NULL)
		return (0);
	n->naudience++;
	return (1);
}

/* The rules of an entry; *other is the entry a repeat repeats. */
static enum audience_fault
envelope_audience_check(struct parse *p, const char *s, size_t len,
    size_t *other)
{
	struct notice *n = p->n;
	const char *colon, *name;
	size_t i, nlen;

	if (n->naudience == SB_AUDIENCE_MAX)
		return (ENTRY_TOO_MANY);
	if ((colon = memchr(s, ':', len)) == NULL) {
		if (len == 6 && memcmp(s, "public", 6) == 0)
			goto unique;
		if (notice_audience_kind_parse(s, len) != -1)
			return (ENTRY_NEEDS_NAME);
		return (ENTRY_NOT_PUBLIC);
	}
	if (notice_audience_kind_parse(s, colon - s) == -1)
		return (ENTRY_UNKNOWN_KIND);
	name = colon + 1;
	nlen = len - (name - s);
	if (nlen == 0)
		return (ENTRY_EMPTY_NAME);
	if (nlen > NAME_MAX_BYTES)
		return (ENTRY_LONG_NAME);
	if (p->si.control || memchr(name, ' ', nlen) != NULL)
		return (ENTRY_SPACE);
unique:
	for (i = 0; i < n->naudience; i++) {
		if (strncmp(n->audience[i], s, len) == 0 &&
		    n->audience[i][len] == '\0') {
			*other = i;
			return (ENTRY_REPEATED);
		}
	}
	return (ENTRY_OK);
}

/* Say what is wrong with an entry; only a failing entry pays for this. */
static int
envelope_audience_fail(struct parse *p, enum audience_fault fault,
    const char *s, size_t len, size_t other)
{
	char q[QUOTE_MAX * 4 + 8], w[32];
	const char *colon;

	snprintf(w, sizeof(w), "audience[%zu]", p->n->naudience);
	envelope_quote(q, sizeof(q), s, len);
	switch (fault) {
	case ENTRY_TOO_MANY:
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "audience: more than %d entries", SB_AUDIENCE_MAX));
	case ENTRY_NEEDS_NAME:
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "%s: '%s' needs a name ('%s:NAME' or '%s:*')", w, q, q,
		    q));
	case ENTRY_NOT_PUBLIC:
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "%s: '%s' is neither 'public' nor 'kind:name'", w, q));
	case ENTRY_UNKNOWN_KIND:
		colon = memchr(s, ':', len);
		envelope_quote(q, sizeof(q), s, colon - s);
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "%s: unknown kind '%s' (expected staff, dept, role, "
		    "group, mgmt, customer, partner, public)", w, q));
	case ENTRY_EMPTY_NAME:
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "%s: '%s' has no name after the ':'", w, q));
	case ENTRY_LONG_NAME:
		colon = memchr(s, ':', len);
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "%s: the name is %zu bytes; the limit is %d", w,
		    len - (colon + 1 - s), NAME_MAX_BYTES));
	case ENTRY_SPACE:
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
		    "%s: '%s' has a space or a control character in its "
		    "name", w, q));
	case ENTRY_REPEATED:
	case ENTRY_OK:
		break;
	}
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "audience",
	    "%s: '%s' repeats audience[%zu]", w, q, other));
}

static int
envelope_set_subject(struct parse *p, const char *s, size_t len)
{
	if (len == 0)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "subject",
		    "subject: must not be empty"));
	if (p->si.chars > SB_SUBJECT_MAX)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "subject",
		    "subject: %zu characters; the limit is %d",
		    p->si.chars, SB_SUBJECT_MAX));
	if (p->si.control)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "subject",
		    "subject: contains a control character (a newline, a "
		    "tab, ...): put those in the body"));
	return ((p->n->subject = envelope_strndup(p, s, len)) != NULL);
}

static int
envelope_set_body(struct parse *p, const char *s, size_t len)
{
	return ((p->n->body = envelope_strndup(p, s, len)) != NULL);
}

static int
envelope_set_priority(struct parse *p, const char *s, size_t len)
{
	char buf[16], q[QUOTE_MAX * 4 + 8];
	int v;

	if (envelope_name(s, len, buf, sizeof(buf)) == 0 &&
	    (v = notice_priority_parse(buf)) != -1) {
		p->n->priority = v;
		return (1);
	}
	envelope_quote(q, sizeof(q), s, len);
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "priority",
	    "priority: unknown '%s' (expected low, normal, high, urgent)",
	    q));
}

static int
envelope_set_goal(struct parse *p, const char *s, size_t len)
{
	char buf[16], q[QUOTE_MAX * 4 + 8];
	int v;

	if (envelope_name(s, len, buf, sizeof(buf)) == 0 &&
	    (v = notice_goal_parse(buf)) != -1) {
		p->n->goal = v;
		return (1);
	}
	envelope_quote(q, sizeof(q), s, len);
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "goal",
	    "goal: unknown '%s' (expected inform, collect, resolve, relate)",
	    q));
}

/* On the wire a hint; in the spool the class the broker gave. */
static int
envelope_set_class(struct parse *p, const char *s, size_t len)
{
	char buf[16], q[QUOTE_MAX * 4 + 8];
	int v;

	if (envelope_name(s, len, buf, sizeof(buf)) == 0 &&
	    (v = notice_class_parse(buf)) != -1) {
		if (p->stored)
			p->n->class = v;
		else
			p->n->class_hint = v;
		return (1);
	}
	envelope_quote(q, sizeof(q), s, len);
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "class",
	    "class: unknown '%s' (expected realtime, batch, interactive)",
	    q));
}

static int
envelope_set_respond_within(struct parse *p, const char *s, size_t len)
{
	char buf[32], q[QUOTE_MAX * 4 + 8];
	int64_t ms;

	if (envelope_name(s, len, buf, sizeof(buf)) == 0 &&
	    duration_parse(buf, &ms) == 0) {
		p->n->respond_within_ms = ms;
		return (1);
	}
	envelope_quote(q, sizeof(q), s, len);
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "respond_within",
	    "respond_within: '%s' is not a duration (a whole number above "
	    "0 and a unit ms, s, m, h or d, such as 90s or 4h; at most 366d)",
	    q));
}

/* A tag's key: the value comes next, through envelope_tag_value. */
static int
envelope_tag_key(struct parse *p, const char *s, size_t len)
{
	struct notice *n = p->n;
	struct notice_tag *grown;
	char q[QUOTE_MAX * 4 + 8];
	size_t i;

	if (n->ntags == SB_TAGS_MAX)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "tags",
		    "tags: more than %d pairs", SB_TAGS_MAX));
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '.' || s[i] == '_' || s[i] == '-')
			continue;
		envelope_quote(q, sizeof(q), s, len);
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "tags",
		    "tags: key '%s' has a character outside %s", q,
		    SOURCE_CHARS));
	}
	if (len == 0 || len > TAG_KEY_MAX) {
		envelope_quote(q, sizeof(q), s, len);
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "tags",
		    "tags: key '%s' is %zu bytes; keys are 1 to %d", q, len,
		    TAG_KEY_MAX));
	}
	for (i = 0; i < n->ntags; i++) {
		if (strncmp(n->tags[i].key, s, len) == 0 &&
		    n->tags[i].key[len] == '\0') {
			envelope_quote(q, sizeof(q), s, len);
			return (envelope_fail(p, SB_ERR_INVALID_FIELD, "tags",
			    "tags: key '%s' given twice", q));
		}
	}
	if (n->ntags == p->tags_size) {
		p->tags_size = p->tags_size ? p->tags_size * 2 : 4;
		grown = reallocarray(n->tags, p->tags_size, sizeof(*n->tags));
		if (grown == NULL)
			return (envelope_oom(p));
		n->tags = grown;
	}
	if ((n->tags[n->ntags].key = envelope_strndup(p, s, len)) == NULL)
		return (0);
	n->tags[n->ntags++].value = NULL;
	return (1);
}

static int
envelope_tag_value(struct parse *p, const char *s, size_t len)
{
	struct notice_tag *t = &p->n->tags[p->n->ntags - 1];

	if (len > TAG_VALUE_MAX)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "tags",
		    "tags.%s: the value is %zu bytes; the limit is %d",
		    t->key, len, TAG_VALUE_MAX));
	return ((t->value = envelope_strndup(p, s, len)) != NULL);
}

static int
envelope_set_anonymous(struct parse *p, const char *s, size_t len)
{
	(void)s;
	p->n->anonymous = (int)len;
	return (1);
}

/* Exactly what notice_encode() writes: 2024-05-01T12:34:56.789Z. */
static int
envelope_set_received_at(struct parse *p, const char *s, size_t len)
{
	char buf[32], again[32], q[QUOTE_MAX * 4 + 8];
	const char *rest;
	struct tm tm;
	time_t sec;

	if (envelope_name(s, len, buf, sizeof(buf)) != 0 || len != 24)
		goto bad;
	memset(&tm, 0, sizeof(tm));
	rest = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest != buf + 19 || rest[0] != '.' || rest[4] != 'Z' ||
	    rest[1] < '0' || rest[1] > '9' || rest[2] < '0' ||
	    rest[2] > '9' || rest[3] < '0' || rest[3] > '9')
		goto bad;
	sec = timegm(&tm);
	/* Printed back the same, or it named a day that does not exist. */
	gmtime_r(&sec, &tm);
	strftime(again, sizeof(again), "%Y-%m-%dT%H:%M:%S", &tm);
	if (strncmp(again, buf, 19) != 0)
		goto bad;
	p->n->received_ms = (int64_t)sec * 1000 + (rest[1] - '0') * 100 +
	    (rest[2] - '0') * 10 + (rest[3] - '0');
	return (1);
bad:
	envelope_quote(q, sizeof(q), s, len);
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "received_at",
	    "received_at: '%s' is not a UTC time such as "
	    "2024-05-01T12:34:56.789Z", q));
}

static int
envelope_set_ref(struct parse *p, const char *s, size_t len)
{
	if (!envelope_charset(p, "ref", s, len, SB_ID_MAX, 1))
		return (0);
	memcpy(p->ack.ref, s, len);
	p->ack.ref[len] = '\0';
	return (1);
}

static int
envelope_set_by(struct parse *p, const char *s, size_t len)
{
	if (len == 0)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "by",
		    "by: must not be empty"));
	/* 64 code points are at most 256 bytes: ack.by holds them. */
	if (p->si.chars > SB_BY_MAX)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "by",
		    "by: %zu characters; the limit is %d", p->si.chars,
		    SB_BY_MAX));
	if (p->si.control)
		return (envelope_fail(p, SB_ERR_INVALID_FIELD, "by",
		    "by: contains a control character"));
	memcpy(p->ack.by, s, len);
	p->ack.by[len] = '\0';
	return (1);
}

static int
envelope_set_note(struct parse *p, const char *s, size_t len)
{
	return ((p->ack.note = envelope_strndup(p, s, len)) != NULL);
}

static int
envelope_set_score(struct parse *p, const char *s, size_t len)
{
	char q[QUOTE_MAX * 4 + 8];
	long long v;

	if (envelope_integer(s, len, &v) == 0 && v >= 1 && v <= 5) {
		p->ack.score = (int)v;
		return (1);
	}
	envelope_quote(q, sizeof(q), s, len);
	return (envelope_fail(p, SB_ERR_INVALID_FIELD, "score",
	    "score: expected an integer from 1 to 5, got %s", q));
}

/* The rules that need the whole object: the type's fields, required. */
static int
envelope_finish(struct parse *p)
{
	const struct envelope_field *f;
	unsigned in;
	size_t i;

	if (p->type == -1) {
		p->type = ENVELOPE_NOTICE;
		for (i = 0; i < p->nseen; i++)
			if (!envelope_check_type(p,
			    &envelope_fields[p->order[i]]))
				return (-1);
	}
	in = p->stored ? IN_NOTICE | IN_STORED : envelope_type_in[p->type];
	for (i = 0; i < ENVELOPE_NFIELDS; i++) {
		f = &envelope_fields[i];
		if ((f->required & in) == 0 || (p->seen & (1U << i)))
			continue;
		/* Stored, an anonymous notice has no source: never kept. */
		if (p->stored && i == FIELD_SOURCE && p->n->anonymous)
			continue;
		envelope_fail(p, SB_ERR_MISSING_FIELD, f->name,
		    "missing field '%s' (required in %s)", f->name,
		    p->stored ? "a stored notice" :
		    envelope_type_names[p->type]);
		return (-1);
	}
	return (0);
}

/* Turn yajl's error into a bad_json a person can act on. */
static void
envelope_syntax_error(struct parse *p, yajl_handle h, const char *buf,
    size_t len, int at_end)
{
	unsigned char *text;
	size_t off, tlen;
	char msg[128];

	off = at_end ? len : yajl_get_bytes_consumed(h);
	text = yajl_get_error(h, 0, (const unsigned char *)buf, len);
	strlcpy(msg, text != NULL ? (char *)text : "unknown error",
	    sizeof(msg));
	if (text != NULL)
		yajl_free_error(h, text);
	tlen = strlen(msg);
	while (tlen > 0 && (msg[tlen - 1] == '\n' || msg[tlen - 1] == '.'))
		msg[--tlen] = '\0';
	envelope_fail(p, SB_ERR_BAD_JSON, NULL,
	    "not valid JSON at byte %zu: %s", off, msg);
}

/*
 * Run yajl over buf. A handle costs about 35ns to make and free, less than
 * the bookkeeping needed to reuse one (yajl 2.1 has no reset), so each
 * parse has its own.
 */
static int
envelope_run(struct parse *p, const char *buf, size_t len)
{
	yajl_status st;
	yajl_handle h;
	int at_end = 0;

	if ((p->n = notice_new()) == NULL)
		return (envelope_oom(p), -1);
	if ((h = yajl_alloc(&envelope_callbacks, NULL, p)) == NULL)
		return (envelope_oom(p), -1);
	st = yajl_parse(h, (const unsigned char *)buf, len);
	if (st == yajl_status_ok) {
		at_end = 1;
		st = yajl_complete_parse(h);
	}
	if (st == yajl_status_error ||
	    (st == yajl_status_client_canceled && !p->canceled))
		envelope_syntax_error(p, h, buf, len, at_end);
	yajl_free(h);
	if (st != yajl_status_ok)
		return (-1);
	return (envelope_finish(p));
}

/* Keep nothing of a failed parse. */
static void
envelope_discard(struct parse *p)
{
	notice_unref(p->n);
	p->n = NULL;
	free(p->ack.note);
	p->ack.note = NULL;
}

static void
envelope_parse_init(struct parse *p, int stored, struct envelope_error *err)
{
	memset(p, 0, sizeof(*p));
	p->stored = stored;
	p->type = -1;
	p->err = err;
	err->code = SB_OK;
	err->id[0] = '\0';
	err->field[0] = '\0';
	err->message[0] = '\0';
}

int
envelope_parse(const char *buf, size_t len, size_t max_size,
    struct envelope *env, struct envelope_error *err)
{
	struct parse p;
	struct timespec ts;

	memset(env, 0, sizeof(*env));
	envelope_parse_init(&p, 0, err);
	if (len > max_size) {
		envelope_error_set(err, SB_ERR_TOO_LARGE, NULL,
		    "message is %zu bytes; the limit is %zu bytes "
		    "(ingress.max_message_size)", len, max_size);
		return (-1);
	}
	if (envelope_run(&p, buf, len) != 0) {
		envelope_discard(&p);
		return (-1);
	}
	env->type = p.type;
	if (p.type == ENVELOPE_NOTICE) {
		strlcpy(p.n->id, p.id, sizeof(p.n->id));
		clock_gettime(CLOCK_REALTIME, &ts);
		p.n->received_ms = (int64_t)ts.tv_sec * 1000 +
		    ts.tv_nsec / 1000000;
		env->notice = p.n;
	} else
		notice_unref(p.n);
	if (p.type == ENVELOPE_ACK)
		env->ack = p.ack;
	return (0);
}

void
envelope_clear(struct envelope *env)
{
	notice_unref(env->notice);
	free(env->ack.note);
	memset(env, 0, sizeof(*env));
}

struct notice *
envelope_parse_stored(const char *buf, size_t len,
    struct envelope_error *err)
{
	struct parse p;
	struct notice *n;

	envelope_parse_init(&p, 1, err);
	if (envelope_run(&p, buf, len) != 0) {
		envelope_discard(&p);
		return (NULL);
	}
	n = p.n;
	strlcpy(n->id, p.id, sizeof(n->id));
	/* The bytes as stored: what channels were given, unchanged. */
	if ((n->json = malloc(len + 1)) == NULL) {
		envelope_oom(&p);
		envelope_discard(&p);
		return (NULL);
	}
	memcpy(n->json, buf, len);
	n->json[len] = '\0';
	n->json_len = len;
	return (n);
}

static void
envelope_gen_string(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* Close a reply: a malloc'd copy of yajl's buffer, or NULL. */
static char *
envelope_gen_done(yajl_gen g, size_t *len)
{
	const unsigned char *buf;
	size_t blen;
	char *out = NULL;

	if (yajl_gen_get_buf(g, &buf, &blen) == yajl_gen_status_ok &&
	    (out = malloc(blen + 1)) != NULL) {
		memcpy(out, buf, blen);
		out[blen] = '\0';
		*len = blen;
	}
	yajl_gen_free(g);
	return (out);
}

char *
envelope_reply_notice(const struct notice *n, const char **channels,
    size_t nchannels, int duplicate, size_t *len)
{
	struct jsonbuf jb;
	size_t i;

	/* One a notice: written straight, not through yajl_gen's callbacks. */
	if (jsonbuf_init(&jb, 256) == -1)
		return (NULL);
	jsonbuf_put(&jb, "{\"ok\":true,\"id\":");
	jsonbuf_string(&jb, n->id);
	jsonbuf_put(&jb, ",\"class\":");
	jsonbuf_string(&jb, notice_class_name(n->class));
	jsonbuf_put(&jb, ",\"channels\":[");
	for (i = 0; i < nchannels; i++) {
		if (i > 0)
			jsonbuf_put(&jb, ",");
		jsonbuf_string(&jb, channels[i]);
	}
	jsonbuf_put(&jb, duplicate ? "],\"duplicate\":true}" :
	    "],\"duplicate\":false}");
	return (jsonbuf_finish(&jb, len));
}

char *
envelope_reply_ack(const char *ref, long long response_ms, size_t *len)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (NULL);
	yajl_gen_map_open(g);
	envelope_gen_string(g, "ok");
	yajl_gen_bool(g, 1);
	envelope_gen_string(g, "ref");
	envelope_gen_string(g, ref);
	envelope_gen_string(g, "response_ms");
	yajl_gen_integer(g, response_ms);
	yajl_gen_map_close(g);
	return (envelope_gen_done(g, len));
}

char *
envelope_reply_pong(size_t *len)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (NULL);
	yajl_gen_map_open(g);
	envelope_gen_string(g, "ok");
	yajl_gen_bool(g, 1);
	envelope_gen_string(g, "pong");
	yajl_gen_bool(g, 1);
	yajl_gen_map_close(g);
	return (envelope_gen_done(g, len));
}

/*
 * The length of s without a multibyte character cut short at its end, as
 * vsnprintf() or strlcpy() leave when a message that quotes UTF-8 input
 * (an audience name, say) is truncated: a reply must stay valid UTF-8.
 */
static size_t
envelope_utf8_whole(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t start = len, need;

	while (start > 0 && len - start < 4 && (u[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0 || u[start - 1] < 0xc0)
		return (len);	/* ends in ASCII or in a stray byte */
	start--;
	need = u[start] >= 0xf0 ? 4 : u[start] >= 0xe0 ? 3 : 2;
	return (len - start < need ? start : len);
}

char *
envelope_reply_error(const struct envelope_error *err, size_t *len)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return (NULL);
	yajl_gen_map_open(g);
	envelope_gen_string(g, "ok");
	yajl_gen_bool(g, 0);
	if (err->id[0] != '\0') {
		envelope_gen_string(g, "id");
		envelope_gen_string(g, err->id);
	}
	envelope_gen_string(g, "error");
	yajl_gen_map_open(g);
	envelope_gen_string(g, "code");
	envelope_gen_string(g, sb_error_name(err->code));
	if (err->field[0] != '\0') {
		envelope_gen_string(g, "field");
		envelope_gen_string(g, err->field);
	}
	envelope_gen_string(g, "message");
	yajl_gen_string(g, (const unsigned char *)err->message,
	    envelope_utf8_whole(err->message, strnlen(err->message,
	    sizeof(err->message))));
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	return (envelope_gen_done(g, len));
}
