/*
 * render.h: a delivery as text for people, which the chat and mail channels
 * share: the values of its template placeholders (the source withheld when
 * anonymous, the audience joined, the ack link, a digest's items) and the
 * channel's own subject and body templates.
 */
#ifndef RENDER_H
#define RENDER_H

#include <libconfig.h>
#include <stddef.h>

#include "template.h"

struct channel_conf;
struct config_errors;
struct delivery;

/* A channel's templates: template = { subject = "..."; body = "..."; } */
struct render_templates {
	struct template	*subject;
	struct template	*body;
	int		 custom;	/* the admin gave a template */
};

/*
 * Read the channel group's "template" (absent: "{{subject}}" and
 * "{{body}}"). Errors name the channel, the key and the placeholder.
 */
int	render_templates_check(const char *channel, const config_setting_t *,
	    struct render_templates *, struct config_errors *);
void	render_templates_free(struct render_templates *);

/* What acknowledging by link needs: http.public_url and the secret. */
struct render_ack {
	const char		*public_url;	/* no final '/'; NULL: no links */
	const unsigned char	*secret;
	size_t			 secretlen;
};

/*
 * A view of what the next ack link is made of (acksecret.c's running
 * public_url and secret, borrowed for one render), so that a reload that
 * changes either reaches the next link.
 */
void	render_ack_view(struct render_ack *);

/* The placeholder values of one delivery; strings are owned. */
struct render_values {
	char	*v[TF_COUNT];
};

int	render_values_fill(struct render_values *, const struct delivery *,
	    const struct render_ack *);
void	render_values_clear(struct render_values *);
/* Render into a malloc'd NUL-terminated string; NULL when out of memory. */
char	*render_text(const struct template *, const struct render_values *,
	    template_escape_fn, size_t *len);
/* Read a whole secret file (at most 64k), its last newline cut off. */
int	render_secret_read(const char *path, char **out, size_t *len,
	    char *err, size_t errlen);

#endif /* RENDER_H */
