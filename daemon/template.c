/*
 * template.c: templates compiled into parts. "{{" opens a placeholder that
 * "}}" closes; spaces inside are allowed ("{{ subject }}"). A "{{" that does
 * not open a known placeholder is an error, not literal text, so that a
 * typo surfaces when the config is loaded instead of in a mail to the board.
 * A literal "{{" is written "{{{{}}" — rare enough not to deserve more.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

#define TEMPLATE_NAME_MAX	32

/* A literal run of text (field == -1) or one placeholder. */
struct template_part {
	int		 field;
	const char	*text;		/* into the template's copy */
	size_t		 len;
};

struct template {
	char			*source;
	struct template_part	*parts;
	size_t			 nparts;
	unsigned		 uses;		/* 1 << field */
};

static const char *const template_names[TF_COUNT] = {
	"subject", "body", "source", "audience", "priority", "class", "goal",
	"id", "delivery_id", "channel", "level", "ack_url", "items"
};

static int	template_add(struct template *, int, const char *, size_t);
static int	template_placeholder(struct template *, const char *,
		    size_t *, char *, size_t);
static int	template_lookup(const char *, size_t);

const char *
template_field_name(enum template_field f)
{
	return ((unsigned)f < TF_COUNT ? template_names[f] : "?");
}

const char *
template_field_names(void)
{
	static char names[256];
	size_t i;

	if (names[0] != '\0')
		return (names);
	for (i = 0; i < TF_COUNT; i++) {
		if (i > 0)
			strlcat(names, ", ", sizeof(names));
		strlcat(names, template_names[i], sizeof(names));
	}
	return (names);
}

static int
template_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < TF_COUNT; i++)
		if (strlen(template_names[i]) == len &&
		    memcmp(template_names[i], name, len) == 0)
			return ((int)i);
	return (-1);
}

/* Append a part; adjacent literals are merged. */
static int
template_add(struct template *t, int field, const char *text, size_t len)
{
	struct template_part *p, *last;

	last = t->nparts > 0 ? &t->parts[t->nparts - 1] : NULL;
	if (field == -1 && len == 0)
		return (0);
	if (field == -1 && last != NULL && last->field == -1 &&
	    last->text + last->len == text) {
		last->len += len;
		return (0);
	}
	if ((p = reallocarray(t->parts, t->nparts + 1, sizeof(*p))) == NULL)
		return (-1);
	t->parts = p;
	p[t->nparts].field = field;
	p[t->nparts].text = text;
	p[t->nparts].len = len;
	t->nparts++;
	if (field >= 0)
		t->uses |= 1U << field;
	return (0);
}

/*
 * The placeholder at src + *off (which points at "{{"): add it and move
 * *off past its "}}".
 */
static int
template_placeholder(struct template *t, const char *src, size_t *off,
    char *err, size_t errlen)
{
	const char *open = src + *off, *p = open + 2, *end, *name;
	size_t len;
	int f;

	if (strncmp(open, "{{{{}}", 6) == 0) {
		*off += 6;
		return (template_add(t, -1, open, 2) == -1 ? -2 : 0);
	}
	if ((end = strstr(p, "}}")) == NULL) {
		snprintf(err, errlen, "'{{' at offset %zu is never closed "
		    "with '}}'", *off);
		return (-1);
	}
	while (p < end && *p == ' ')
		p++;
	name = p;
	while (p < end && *p != ' ')
		p++;
	len = (size_t)(p - name);
	while (p < end && *p == ' ')
		p++;
	if (p != end || len == 0 || len > TEMPLATE_NAME_MAX ||
	    (f = template_lookup(name, len)) == -1) {
		snprintf(err, errlen, "unknown placeholder {{%.*s}} at offset "
		    "%zu (known: %s; write {{{{}} for a literal '{{')",
		    (int)(end - (open + 2) > 40 ? 40 : end - (open + 2)),
		    open + 2, *off, template_field_names());
		return (-1);
	}
	*off = (size_t)(end + 2 - src);
	return (template_add(t, f, NULL, 0) == -1 ? -2 : 0);
}

struct template *
template_compile(const char *text, char *err, size_t errlen)
{
	struct template *t;
	size_t off = 0, start = 0, len = strlen(text);
	int rc;

	if (len > TEMPLATE_MAX) {
		snprintf(err, errlen, "%zu bytes long, at most %d", len,
		    TEMPLATE_MAX);
		return (NULL);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->source = strdup(text)) == NULL) {
		free(t);
		snprintf(err, errlen, "out of memory");
		return (NULL);
	}
	while (off < len) {
		if (t->source[off] != '{' || t->source[off + 1] != '{') {
			off++;
			continue;
		}
		if (template_add(t, -1, t->source + start, off - start) == -1)
			rc = -2;
		else
			rc = template_placeholder(t, t->source, &off, err,
			    errlen);
		if (rc != 0) {
			if (rc == -2)
				snprintf(err, errlen, "out of memory");
			template_free(t);
			return (NULL);
		}
		start = off;
	}
	if (template_add(t, -1, t->source + start, off - start) == -1) {
		snprintf(err, errlen, "out of memory");
		template_free(t);
		return (NULL);
	}
	return (t);
}

void
template_free(struct template *t)
{
	if (t == NULL)
		return;
	free(t->parts);
	free(t->source);
	free(t);
}

int
template_uses(const struct template *t, enum template_field f)
{
	return (t != NULL && (unsigned)f < TF_COUNT &&
	    (t->uses & (1U << f)) != 0);
}

const char *
template_source(const struct template *t)
{
	return (t->source);
}

int
template_render(const struct template *t, const char *const values[TF_COUNT],
    template_escape_fn escape, struct evbuffer *out)
{
	const struct template_part *p;
	const char *v;
	size_t i;

	for (i = 0; i < t->nparts; i++) {
		p = &t->parts[i];
		if (p->field == -1) {
			if (evbuffer_add(out, p->text, p->len) == -1)
				return (-1);
			continue;
		}
		v = values[p->field] != NULL ? values[p->field] : "";
		if (escape(out, v, strlen(v)) == -1)
			return (-1);
	}
	return (0);
}

int
template_escape_none(struct evbuffer *out, const char *v, size_t len)
{
	return (evbuffer_add(out, v, len));
}

/*
 * Slack asks for exactly these three to be escaped in message text, so
 * that a value cannot forge a <@U123> mention or a <!channel> ping.
 */
int
template_escape_slack(struct evbuffer *out, const char *v, size_t len)
{
	size_t i, run = 0;
	const char *ent;

	for (i = 0; i < len; i++) {
		switch (v[i]) {
		case '&':
			ent = "&amp;";
			break;
		case '<':
			ent = "&lt;";
			break;
		case '>':
			ent = "&gt;";
			break;
		default:
			continue;
		}
		if (evbuffer_add(out, v + run, i - run) == -1 ||
		    evbuffer_add(out, ent, strlen(ent)) == -1)
			return (-1);
		run = i + 1;
	}
	return (evbuffer_add(out, v + run, len - run));
}

/* A value inside one header line must not start another header. */
int
template_escape_line(struct evbuffer *out, const char *v, size_t len)
{
	size_t i, run = 0;

	for (i = 0; i < len; i++) {
		if ((unsigned char)v[i] >= 0x20 && v[i] != 0x7f)
			continue;
		if (evbuffer_add(out, v + run, i - run) == -1 ||
		    evbuffer_add(out, " ", 1) == -1)
			return (-1);
		run = i + 1;
	}
	return (evbuffer_add(out, v + run, len - run));
}
