/*
 * template.h: a channel's subject and body templates, "Disk {{subject}}
 * on {{source}}", compiled once at config load into a list of literal and
 * placeholder parts, and rendered per delivery with an escaper chosen by
 * the target format. Values are plain strings; nothing here knows about
 * notices (see render.h), so that the parser can be fuzzed on its own.
 */
#ifndef TEMPLATE_H
#define TEMPLATE_H

#include <stddef.h>

struct evbuffer;

/* The placeholders, in the order template_field_name() names them. */
enum template_field {
	TF_SUBJECT = 0,
	TF_BODY,
	TF_SOURCE,	/* "anonymous" when the notice is anonymous */
	TF_AUDIENCE,	/* entries joined by ", " */
	TF_PRIORITY,
	TF_CLASS,
	TF_GOAL,
	TF_ID,		/* the notice id */
	TF_DELIVERY_ID,
	TF_CHANNEL,
	TF_LEVEL,	/* escalation level, "0" for the first delivery */
	TF_ACK_URL,	/* "" when the daemon has no ack link to give */
	TF_ITEMS,	/* a digest's items, one line each */
	TF_COUNT
};

/* Longest template source accepted, in bytes. */
#define TEMPLATE_MAX	16384

struct template;

/*
 * Writes value (len bytes) to out, escaped for a target format. Literal
 * text of a template is the admin's own and is copied as written.
 */
typedef int	(*template_escape_fn)(struct evbuffer *out,
		    const char *value, size_t len);

/*
 * Compile text. Returns NULL with err saying what and where ("unknown
 * placeholder {{sujbect}} at offset 5 (known: subject, body, ...)").
 */
struct template	*template_compile(const char *text, char *err,
		    size_t errlen);
void		 template_free(struct template *);
/* Whether the template has the placeholder somewhere. */
int		 template_uses(const struct template *, enum template_field);
const char	*template_source(const struct template *);
/*
 * Append the rendering to out: literals as written, values[f] (NULL is
 * taken as "") through escape. Returns 0, or -1 when out of memory.
 */
int		 template_render(const struct template *,
		    const char *const values[TF_COUNT], template_escape_fn,
		    struct evbuffer *out);
const char	*template_field_name(enum template_field);
/* "subject, body, ..." */
const char	*template_field_names(void);

/* Escapers. */
int	template_escape_none(struct evbuffer *, const char *, size_t);
/* Slack's mrkdwn: &, < and > as entities, nothing else. */
int	template_escape_slack(struct evbuffer *, const char *, size_t);
/* One header line: CR, LF, TAB and other controls become spaces. */
int	template_escape_line(struct evbuffer *, const char *, size_t);

#endif /* TEMPLATE_H */
