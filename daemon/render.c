/*
 * render.c: a delivery as text for people (the chat and mail channels).
 * Templates are compiled when the config is loaded; the values of their
 * placeholders are made per delivery here, so that every channel withholds
 * an anonymous source and builds ack links and digest lists the same way.
 * Secrets (ack secret, webhook URLs, SMTP passwords) are read from files
 * by render_secret_read(), never from the main config, and never logged.
 */
#include <sys/stat.h>

#include <errno.h>
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acksecret.h"
#include "acktoken.h"
#include "adapter.h"
#include "config.h"
#include "log.h"
#include "notice.h"
#include "render.h"

#define RENDER_SECRET_MAX	65536

static int	render_template_one(const char *, const config_setting_t *,
		    const char *, const char *, struct template **,
		    struct config_errors *);
static char	*render_audience(const struct notice *);
static char	*render_items(const struct delivery *);
static int	render_item(struct evbuffer *, const struct notice *);
static char	*render_ack_url(const struct delivery *,
		    const struct render_ack *);

int
render_templates_check(const char *channel, const config_setting_t *group,
    struct render_templates *rt, struct config_errors *errs)
{
	const config_setting_t *t, *s;
	char path[256];
	int i, rc = 0;

	memset(rt, 0, sizeof(*rt));
	if ((t = config_setting_get_member(group, "template")) != NULL) {
		config_setting_path(t, path, sizeof(path));
		if (!config_setting_is_group(t)) {
			config_error(errs, t, "channel %s: template must be a "
			    "group { subject = \"...\"; body = \"...\"; }",
			    channel);
			t = NULL;
			rc = -1;
		}
		for (i = 0; t != NULL &&
		    (s = config_setting_get_elem(t, (unsigned)i)) != NULL;
		    i++) {
			if (strcmp(config_setting_name(s), "subject") == 0 ||
			    strcmp(config_setting_name(s), "body") == 0)
				continue;
			config_error(errs, s, "channel %s: unknown option '%s' "
			    "in template (expected subject, body)", channel,
			    config_setting_name(s));
			rc = -1;
		}
	}
	if (render_template_one(channel, t, "subject", "{{subject}}",
	    &rt->subject, errs) == -1)
		rc = -1;
	if (render_template_one(channel, t, "body", "{{body}}", &rt->body,
	    errs) == -1)
		rc = -1;
	rt->custom = t != NULL;
	return (rc);
}

/* One template of the group, or its default. */
static int
render_template_one(const char *channel, const config_setting_t *t,
    const char *key, const char *def, struct template **out,
    struct config_errors *errs)
{
	const config_setting_t *s = NULL;
	const char *text = def;
	char why[512];

	if (t != NULL && (s = config_setting_get_member(t, key)) != NULL &&
	    (text = config_setting_get_string(s)) == NULL) {
		config_error(errs, s, "channel %s: template.%s must be a "
		    "string", channel, key);
		return (-1);
	}
	if ((*out = template_compile(text, why, sizeof(why))) == NULL) {
		config_error(errs, s != NULL ? s : t, "channel %s: "
		    "template.%s: %s", channel, key, why);
		return (-1);
	}
	return (0);
}

void
render_templates_free(struct render_templates *rt)
{
	template_free(rt->subject);
	template_free(rt->body);
	memset(rt, 0, sizeof(*rt));
}

/*
 * A secret file: a regular file of at most 64k. One readable by others is
 * used but warned about (by path only: the contents are never logged).
 */
int
render_secret_read(const char *path, char **out, size_t *lenp, char *err,
    size_t errlen)
{
	struct stat sb;
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "secret file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(fd, &sb) == -1) {
		snprintf(err, errlen, "secret file %s: %s", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size > RENDER_SECRET_MAX ||
	    sb.st_size == 0) {
		snprintf(err, errlen, "secret file %s: %s", path,
		    !S_ISREG(sb.st_mode) ? "not a regular file" :
		    sb.st_size == 0 ? "empty" : "larger than 64k");
		close(fd);
		return (-1);
	}
	if (sb.st_mode & S_IROTH)
		log_warnx("secret file %s is readable by every user: chmod "
		    "o-r it", path);
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		snprintf(err, errlen, "secret file %s: out of memory", path);
		close(fd);
		return (-1);
	}
	while (len < (size_t)sb.st_size && (n = read(fd, buf + len,
	    (size_t)sb.st_size - len)) > 0)
		len += (size_t)n;
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "secret file %s: empty", path);
		free(buf);
		return (-1);
	}
	*out = buf;
	*lenp = len;
	return (0);
}

void
render_ack_view(struct render_ack *ack)
{
	ack->public_url = acksecret_link(&ack->secret, &ack->secretlen);
}

int
render_values_fill(struct render_values *rv, const struct delivery *d,
    const struct render_ack *ack)
{
	const struct notice *n = d->notice;
	char level[16];
	int i, rc = 0;

	memset(rv, 0, sizeof(*rv));
	snprintf(level, sizeof(level), "%d", d->level);
	/* A digest speaks for its items: they are listed in {{items}}. */
	if (d->items != NULL) {
		if (asprintf(&rv->v[TF_SUBJECT], "Digest of %zu notice%s",
		    d->nitems, d->nitems == 1 ? "" : "s") == -1)
			rv->v[TF_SUBJECT] = NULL;
		rv->v[TF_BODY] = strdup("");
	} else {
		rv->v[TF_SUBJECT] = strdup(n->subject != NULL ? n->subject :
		    "");
		rv->v[TF_BODY] = strdup(n->body != NULL ? n->body : "");
	}
	rv->v[TF_SOURCE] = strdup(n->anonymous || n->source == NULL ?
	    "anonymous" : n->source);
	rv->v[TF_AUDIENCE] = render_audience(n);
	rv->v[TF_PRIORITY] = strdup(notice_priority_name(n->priority));
	rv->v[TF_CLASS] = strdup(n->class == CLASS_NONE ? "" :
	    notice_class_name(n->class));
	rv->v[TF_GOAL] = strdup(notice_goal_name(n->goal));
	rv->v[TF_ID] = strdup(n->id);
	rv->v[TF_DELIVERY_ID] = strdup(d->id);
	rv->v[TF_CHANNEL] = strdup(d->channel != NULL ? d->channel->name :
	    "");
	rv->v[TF_LEVEL] = strdup(level);
	rv->v[TF_ACK_URL] = render_ack_url(d, ack);
	rv->v[TF_ITEMS] = render_items(d);
	for (i = 0; i < TF_COUNT; i++)
		if (rv->v[i] == NULL)
			rc = -1;
	if (rc == -1)
		render_values_clear(rv);
	return (rc);
}

void
render_values_clear(struct render_values *rv)
{
	int i;

	for (i = 0; i < TF_COUNT; i++)
		free(rv->v[i]);
	memset(rv, 0, sizeof(*rv));
}

static char *
render_audience(const struct notice *n)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < n->naudience; i++)
		len += strlen(n->audience[i]) + 2;
	if ((s = calloc(1, len)) == NULL)
		return (NULL);
	for (i = 0; i < n->naudience; i++) {
		if (i > 0)
			strlcat(s, ", ", len);
		strlcat(s, n->audience[i], len);
	}
	return (s);
}

/* One line an item: "- [high] Disk almost full (billing)". */
static int
render_item(struct evbuffer *b, const struct notice *n)
{
	const char *src = n->anonymous || n->source == NULL ? NULL : n->source;

	return (evbuffer_add_printf(b, "- [%s] %s%s%s%s\n",
	    notice_priority_name(n->priority), n->subject ? n->subject : "",
	    src ? " (" : "", src ? src : "", src ? ")" : "") < 0 ? -1 : 0);
}

/* A digest's items; a delivery of one notice lists that notice. */
static char *
render_items(const struct delivery *d)
{
	struct evbuffer *b;
	size_t i, len;
	char *s = NULL;
	int rc = 0;

	if ((b = evbuffer_new()) == NULL)
		return (NULL);
	if (d->items != NULL)
		for (i = 0; i < d->nitems && rc == 0; i++)
			rc = render_item(b, d->items[i]->notice);
	else
		rc = render_item(b, d->notice);
	len = evbuffer_get_length(b);
	if (rc == 0 && (s = malloc(len + 1)) != NULL) {
		evbuffer_remove(b, s, len);
		s[len] = '\0';
	}
	evbuffer_free(b);
	return (s);
}

/* Only an interactive notice is acknowledged; others get "". */
static char *
render_ack_url(const struct delivery *d, const struct render_ack *ack)
{
	char token[ACKTOKEN_LEN + 1], *url;

	if (ack == NULL || ack->public_url == NULL || ack->secret == NULL ||
	    d->notice->class != CLASS_INTERACTIVE)
		return (strdup(""));
	if (acktoken_make(ack->secret, ack->secretlen, d->notice->id,
	    token) == -1)
		return (strdup(""));
	if (asprintf(&url, "%s/v1/ack/%s?t=%s", ack->public_url,
	    d->notice->id, token) == -1)
		return (NULL);
	return (url);
}

char *
render_text(const struct template *t, const struct render_values *rv,
    template_escape_fn escape, size_t *lenp)
{
	struct evbuffer *b;
	char *s = NULL;
	size_t len;

	if ((b = evbuffer_new()) == NULL)
		return (NULL);
	if (template_render(t, (const char *const *)rv->v, escape, b) == 0) {
		len = evbuffer_get_length(b);
		if ((s = malloc(len + 1)) != NULL) {
			evbuffer_remove(b, s, len);
			s[len] = '\0';
			if (lenp != NULL)
				*lenp = len;
		}
	}
	evbuffer_free(b);
	return (s);
}
