/*
 * adapter_webhook.c: the "webhook" channel, an HTTP POST per delivery
 * through libcurl's multi interface (curl.c). The payload is the generic
 * JSON (format "json") or the incoming-webhook message of a chat service:
 * Slack (text and Block Kit blocks), Mattermost (Markdown text and props)
 * or Microsoft Teams (an Adaptive Card in a message). 2xx is delivered;
 * 408, 429, 5xx and failures to get an answer are retryable, honouring
 * Retry-After; any other status is permanent, with the status and the
 * first bytes of the answer in the error.
 *
 * A URL given by url_file, and every header value given by header_files,
 * is a secret: read from its file at start and never written to a log or
 * an error (errors name the file instead).
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <yajl/yajl_gen.h>

#include "adapter.h"
#include "breaker.h"
#include "config.h"
#include "curl.h"
#include "log.h"
#include "notice.h"
#include "render.h"
#include "sb_protocol.h"
#include "secrets.h"

#define WEBHOOK_BODY_KEEP	256	/* bytes of an answer kept */
#define WEBHOOK_HEADERS_MAX	32
#define WEBHOOK_SLACK_TEXT_MAX	3000	/* Slack's, for a section */
#define WEBHOOK_RETRY_AFTER_MAX	(24 * 3600)	/* seconds */

enum webhook_format {
	WEBHOOK_JSON = 0,
	WEBHOOK_SLACK,
	WEBHOOK_MATTERMOST,
	WEBHOOK_TEAMS
};

static const char *const webhook_formats[] = { "json", "slack",
	"mattermost", "teams", NULL };

/* A header, its value given in the config or read from a file. */
struct webhook_header {
	char	*name;
	char	*value;		/* NULL when from a file */
	char	*file;
};

struct webhook_args {
	char			*url;		/* or url_file */
	char			*url_file;
	enum webhook_format	 format;
	struct webhook_header	 headers[WEBHOOK_HEADERS_MAX];
	size_t			 nheaders;
	char			*health_url;
	int			 health_get;	/* GET instead of HEAD */
	struct render_templates	 tpl;
	struct curl_opts	 curl;
};

/* One request in flight: a delivery, or a probe when d is NULL. */
struct webhook_req {
	struct webhook		*wh;
	struct delivery		*d;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*payload;
	size_t			 len;
	char			 answer[WEBHOOK_BODY_KEEP + 1];
	size_t			 answerlen;
	char			 errbuf[CURL_ERROR_SIZE];
	TAILQ_ENTRY(webhook_req) entry;
};
TAILQ_HEAD(webhook_reqs, webhook_req);

/* A running channel. */
struct webhook {
	struct channel		*ch;
	const struct webhook_args *args;
	struct curl_loop	*loop;
	char			*url;		/* maybe a secret */
	char			**header_lines;	/* "Name: value" */
	size_t			 nheader_lines;
	struct webhook_reqs	 reqs;
	struct webhook_req	*probe;
};

/* What one payload is made of. */
struct webhook_text {
	struct webhook		*wh;
	struct delivery		*d;
	struct render_values	 rv;
	char			*subject;	/* rendered, escaped */
	char			*body;
};

/* A JSON generator whose first failure sticks. */
struct wgen {
	yajl_gen	 g;
	int		 failed;
};

static int	webhook_check(const config_setting_t *, void **,
		    struct config_errors *);
static int	webhook_check_url(const char *, const config_setting_t *,
		    struct webhook_args *, struct config_errors *);
static int	webhook_check_headers(const char *, const config_setting_t *,
		    const char *, struct webhook_args *,
		    struct config_errors *);
static int	webhook_check_health(const char *, const config_setting_t *,
		    struct webhook_args *, struct config_errors *);
static int	webhook_check_string(const char *, const config_setting_t *,
		    const char *, char **, struct config_errors *);
static int	webhook_header_name_ok(const char *);
static int	webhook_option_known(const char *);
static void	webhook_args_free(void *);
static int	webhook_start(struct channel *, char *, size_t);
static int	webhook_start_secrets(struct webhook *, char *, size_t);
static void	webhook_deliver(struct channel *, struct delivery *);
static int	webhook_probe(struct channel *, char *, size_t);
static void	webhook_stop(struct channel *);
static void	webhook_free(struct webhook *);
static struct webhook_req *webhook_req_new(struct webhook *,
		    struct delivery *);
static void	webhook_req_free(struct webhook_req *);
static int	webhook_req_setup(struct webhook_req *, const char *);
static size_t	webhook_write_cb(char *, size_t, size_t, void *);
static void	webhook_done_cb(CURL *, CURLcode, void *);
static void	webhook_probe_done(struct webhook_req *, CURLcode);
static enum delivery_outcome webhook_judge(struct webhook_req *, CURLcode,
		    char *, size_t);
static void	webhook_answer_text(const struct webhook_req *, char *,
		    size_t);
static char	*webhook_payload(struct webhook *, struct delivery *,
		    size_t *);
static char	*webhook_payload_json(struct webhook_text *, struct wgen *,
		    size_t *);
static int	webhook_texts(struct webhook_text *, template_escape_fn,
		    const char *);
static void	webhook_texts_free(struct webhook_text *);
static int	webhook_para(struct evbuffer *);
static void	webhook_meta(const struct render_values *, char *, size_t);
static void	webhook_cut(char *, size_t);
static void	webhook_gen_slack(struct webhook_text *, struct wgen *);
static void	webhook_gen_mattermost(struct webhook_text *, struct wgen *);
static void	webhook_gen_teams(struct webhook_text *, struct wgen *);
static void	webhook_gen_teams_text(struct wgen *, const char *, int);
static void	wg_ok(struct wgen *, yajl_gen_status);
static void	wg_str(struct wgen *, const char *);
static void	wg_kv(struct wgen *, const char *, const char *);
static void	wg_map(struct wgen *, int);
static void	wg_array(struct wgen *, int);
static char	*wg_take(struct wgen *, size_t *);

const struct adapter_ops adapter_webhook_ops = {
	.name = "webhook",
	.check = webhook_check,
	.args_free = webhook_args_free,
	.start = webhook_start,
	.deliver = webhook_deliver,
	.probe = webhook_probe,
	.stop = webhook_stop,
};

static int
webhook_option_known(const char *name)
{
	static const char *const own[] = { "url", "url_file", "format",
	    "headers", "header_files", "health_url", "health_method",
	    "template", NULL };
	size_t i;

	for (i = 0; own[i] != NULL; i++)
		if (strcmp(name, own[i]) == 0)
			return (1);
	return (curl_opts_known(name) || config_channel_common(name));
}

/*
 * Options: url or url_file, format, headers, header_files, health_url,
 * health_method, template, tls_verify, ca_file, connect_timeout.
 */
static int
webhook_check(const config_setting_t *group, void **argsp,
    struct config_errors *errs)
{
	const char *name = config_setting_name(group);
	const config_setting_t *s;
	struct webhook_args *a;
	const char *v;
	int i, rc = 0;

	*argsp = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		config_error(errs, group, "channel %s: out of memory", name);
		return (-1);
	}
	for (i = 0; (s = config_setting_get_elem(group, (unsigned)i)) != NULL;
	    i++) {
		if (webhook_option_known(config_setting_name(s)))
			continue;
		config_error(errs, s, "channel %s: unknown option '%s' for "
		    "type webhook (expected url, url_file, format, headers, "
		    "header_files, health_url, health_method, template, "
		    "tls_verify, ca_file, connect_timeout)", name,
		    config_setting_name(s));
		rc = -1;
	}
	if ((s = config_setting_get_member(group, "format")) != NULL) {
		for (i = 0; (v = config_setting_get_string(s)) != NULL &&
		    webhook_formats[i] != NULL; i++)
			if (strcmp(v, webhook_formats[i]) == 0)
				break;
		if (v == NULL || webhook_formats[i] == NULL) {
			config_error(errs, s, "channel %s: format must be one "
			    "of: json, slack, mattermost, teams", name);
			rc = -1;
		} else
			a->format = (enum webhook_format)i;
	}
	/* Each check on its own, so that every error is reported at once. */
	if (webhook_check_url(name, group, a, errs) == -1)
		rc = -1;
	if (webhook_check_headers(name, group, "headers", a, errs) == -1)
		rc = -1;
	if (webhook_check_headers(name, group, "header_files", a, errs) == -1)
		rc = -1;
	if (webhook_check_health(name, group, a, errs) == -1)
		rc = -1;
	if (render_templates_check(name, group, &a->tpl, errs) == -1)
		rc = -1;
	if (curl_opts_check(name, group, &a->curl, errs) == -1)
		rc = -1;
	if (rc == -1) {
		webhook_args_free(a);
		return (-1);
	}
	*argsp = a;
	return (0);
}

/* An optional non-empty string option. */
static int
webhook_check_string(const char *name, const config_setting_t *group,
    const char *key, char **out, struct config_errors *errs)
{
	const config_setting_t *s;
	const char *v;

	if ((s = config_setting_get_member(group, key)) == NULL)
		return (0);
	if ((v = config_setting_get_string(s)) == NULL || *v == '\0') {
		config_error(errs, s, "channel %s: %s must be a non-empty "
		    "string", name, key);
		return (-1);
	}
	if ((*out = strdup(v)) == NULL) {
		config_error(errs, s, "channel %s: out of memory", name);
		return (-1);
	}
	return (0);
}

/* Exactly one of url (http:// or https://) and url_file. */
static int
webhook_check_url(const char *name, const config_setting_t *group,
    struct webhook_args *a, struct config_errors *errs)
{
	if (webhook_check_string(name, group, "url", &a->url, errs) == -1 ||
	    webhook_check_string(name, group, "url_file", &a->url_file,
	    errs) == -1)
		return (-1);
	if ((a->url == NULL) == (a->url_file == NULL)) {
		config_error(errs, group, "channel %s: type webhook needs "
		    "exactly one of url (\"https://...\") and url_file (a file "
		    "holding a URL that is a secret, as Slack's are)", name);
		return (-1);
	}
	if (a->url != NULL && strncmp(a->url, "https://", 8) != 0 &&
	    strncmp(a->url, "http://", 7) != 0) {
		config_error(errs, config_setting_get_member(group, "url"),
		    "channel %s: url '%s' is not an http:// or https:// URL",
		    name, a->url);
		return (-1);
	}
	return (0);
}

/* An HTTP token (RFC 9110 tchar), for header names. */
static int
webhook_header_name_ok(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";

	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(tchar, *s) != NULL))
			return (0);
	return (1);
}

/*
 * headers = { Name = "value"; } or header_files = { Name = "/path"; }:
 * the second kind's values are read from the files at start.
 */
static int
webhook_check_headers(const char *name, const config_setting_t *group,
    const char *key, struct webhook_args *a, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	struct webhook_header *h;
	const char *hname, *v;
	int i, files = strcmp(key, "header_files") == 0;

	if ((s = config_setting_get_member(group, key)) == NULL)
		return (0);
	if (!config_setting_is_group(s)) {
		config_error(errs, s, "channel %s: %s must be a group "
		    "{ Name = \"%s\"; ... }", name, key, files ? "/path" :
		    "value");
		return (-1);
	}
	for (i = 0; (e = config_setting_get_elem(s, (unsigned)i)) != NULL;
	    i++) {
		hname = config_setting_name(e);
		v = config_setting_get_string(e);
		if (v == NULL || (files && *v == '\0') ||
		    strpbrk(v, "\r\n") != NULL ||
		    !webhook_header_name_ok(hname)) {
			config_error(errs, e, "channel %s: %s.%s must be a "
			    "one-line string%s", name, key, hname, files ?
			    " naming a file" : "");
			return (-1);
		}
		if (a->nheaders == WEBHOOK_HEADERS_MAX) {
			config_error(errs, e, "channel %s: more than %d "
			    "headers", name, WEBHOOK_HEADERS_MAX);
			return (-1);
		}
		h = &a->headers[a->nheaders++];
		if ((h->name = strdup(hname)) == NULL ||
		    (files ? (h->file = strdup(v)) : (h->value = strdup(v))) ==
		    NULL) {
			config_error(errs, e, "channel %s: out of memory",
			    name);
			return (-1);
		}
	}
	return (0);
}

static int
webhook_check_health(const char *name, const config_setting_t *group,
    struct webhook_args *a, struct config_errors *errs)
{
	char *method = NULL;

	if (webhook_check_string(name, group, "health_url", &a->health_url,
	    errs) == -1 || webhook_check_string(name, group, "health_method",
	    &method, errs) == -1)
		return (-1);
	if (a->health_url != NULL && strncmp(a->health_url, "https://", 8) &&
	    strncmp(a->health_url, "http://", 7)) {
		config_error(errs, config_setting_get_member(group,
		    "health_url"), "channel %s: health_url '%s' is not an "
		    "http:// or https:// URL", name, a->health_url);
		free(method);
		return (-1);
	}
	if (method != NULL && strcmp(method, "HEAD") != 0 &&
	    strcmp(method, "GET") != 0) {
		config_error(errs, config_setting_get_member(group,
		    "health_method"), "channel %s: health_method must be "
		    "\"HEAD\" or \"GET\"", name);
		free(method);
		return (-1);
	}
	a->health_get = method != NULL && strcmp(method, "GET") == 0;
	free(method);
	return (0);
}

static void
webhook_args_free(void *p)
{
	struct webhook_args *a = p;
	size_t i;

	if (a == NULL)
		return;
	free(a->url);
	free(a->url_file);
	for (i = 0; i < a->nheaders; i++) {
		free(a->headers[i].name);
		free(a->headers[i].value);
		free(a->headers[i].file);
	}
	free(a->health_url);
	render_templates_free(&a->tpl);
	curl_opts_free(&a->curl);
	free(a);
}

static int
webhook_start(struct channel *ch, char *err, size_t errlen)
{
	struct webhook *wh;

	if ((wh = calloc(1, sizeof(*wh))) == NULL) {
		snprintf(err, errlen, "channel %s: out of memory", ch->name);
		return (-1);
	}
	wh->ch = ch;
	wh->args = ch->conf->args;
	TAILQ_INIT(&wh->reqs);
	if (webhook_start_secrets(wh, err, errlen) == -1) {
		webhook_free(wh);
		return (-1);
	}
	if ((wh->loop = curl_loop_new(ch->base, ch->conf->concurrency, err,
	    errlen)) == NULL) {
		webhook_free(wh);
		return (-1);
	}
	curl_opts_warn(ch->name, &wh->args->curl);
	ch->state = wh;
	return (0);
}

/* The URL and header lines, secrets read from their files. */
static int
webhook_start_secrets(struct webhook *wh, char *err, size_t errlen)
{
	const struct webhook_args *a = wh->args;
	const struct webhook_header *h;
	char why[512], *v;
	size_t i, len;

	if (a->url_file != NULL) {
		if (secrets_read(wh->ch, a->url_file, &wh->url, &len, why,
		    sizeof(why)) == -1) {
			snprintf(err, errlen, "channel %s: url_file: %s",
			    wh->ch->name, why);
			return (-1);
		}
		if (strncmp(wh->url, "https://", 8) != 0 &&
		    strncmp(wh->url, "http://", 7) != 0) {
			snprintf(err, errlen, "channel %s: url_file %s does "
			    "not hold an http:// or https:// URL",
			    wh->ch->name, a->url_file);
			return (-1);
		}
	} else if ((wh->url = strdup(a->url)) == NULL)
		goto nomem;
	if ((wh->header_lines = calloc(a->nheaders + 1, sizeof(char *))) ==
	    NULL)
		goto nomem;
	for (i = 0; i < a->nheaders; i++) {
		h = &a->headers[i];
		v = h->value;
		if (h->file != NULL && secrets_read(wh->ch, h->file, &v, &len,
		    why, sizeof(why)) == -1) {
			snprintf(err, errlen, "channel %s: header_files.%s: %s",
			    wh->ch->name, h->name, why);
			return (-1);
		}
		if (h->file != NULL && strpbrk(v, "\r\n") != NULL) {
			snprintf(err, errlen, "channel %s: header_files.%s: %s "
			    "holds more than one line", wh->ch->name, h->name,
			    h->file);
			free(v);
			return (-1);
		}
		if (asprintf(&wh->header_lines[i], "%s: %s", h->name, v) ==
		    -1)
			wh->header_lines[i] = NULL;
		if (h->file != NULL) {
			explicit_bzero(v, strlen(v));
			free(v);
		}
		if (wh->header_lines[i] == NULL)
			goto nomem;
		wh->nheader_lines++;
	}
	return (0);
nomem:
	snprintf(err, errlen, "channel %s: out of memory", wh->ch->name);
	return (-1);
}

static void
webhook_free(struct webhook *wh)
{
	size_t i;

	if (wh == NULL)
		return;
	curl_loop_free(wh->loop);
	if (wh->url != NULL)
		explicit_bzero(wh->url, strlen(wh->url));
	free(wh->url);
	for (i = 0; i < wh->nheader_lines; i++) {
		explicit_bzero(wh->header_lines[i],
		    strlen(wh->header_lines[i]));
		free(wh->header_lines[i]);
	}
	free(wh->header_lines);
	free(wh);
}

static void
webhook_deliver(struct channel *ch, struct delivery *d)
{
	struct webhook *wh = ch->state;
	struct webhook_req *r;

	if ((r = webhook_req_new(wh, d)) == NULL) {
		channel_done(ch, d, OUTCOME_RETRYABLE, "out of memory");
		return;
	}
	if ((r->payload = webhook_payload(wh, d, &r->len)) == NULL) {
		webhook_req_free(r);
		channel_done(ch, d, OUTCOME_PERMANENT, "cannot make the "
		    "payload: the rendered text is not valid UTF-8, or out "
		    "of memory");
		return;
	}
	if (webhook_req_setup(r, wh->url) == -1 ||
	    curl_loop_add(wh->loop, r->easy, webhook_done_cb, r) == -1) {
		webhook_req_free(r);
		channel_done(ch, d, OUTCOME_RETRYABLE, "cannot start the HTTP "
		    "request (out of memory)");
		return;
	}
	d->adapter_data = r;
}

static struct webhook_req *
webhook_req_new(struct webhook *wh, struct delivery *d)
{
	struct webhook_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->wh = wh;
	r->d = d;
	if ((r->easy = curl_easy_init()) == NULL) {
		free(r);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&wh->reqs, r, entry);
	return (r);
}

static void
webhook_req_free(struct webhook_req *r)
{
	TAILQ_REMOVE(&r->wh->reqs, r, entry);
	if (r->wh->probe == r)
		r->wh->probe = NULL;
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	free(r->payload);
	free(r);
}

/* The easy handle of a POST (a delivery) or a HEAD/GET (a probe). */
static int
webhook_req_setup(struct webhook_req *r, const char *url)
{
	struct webhook *wh = r->wh;
	const struct channel_conf *cc = wh->ch->conf;
	struct curl_slist *l;
	char line[300];
	size_t i;
	int rc = 0;

	r->headers = curl_slist_append(NULL, "User-Agent: switchboard/"
	    SB_VERSION);
	if (r->d != NULL) {
		r->headers = curl_slist_append(r->headers,
		    "Content-Type: application/json; charset=utf-8");
		/* No "Expect: 100-continue" round trip before the body. */
		r->headers = curl_slist_append(r->headers, "Expect:");
		snprintf(line, sizeof(line), "X-Switchboard-Delivery: %s",
		    r->d->id);
		r->headers = curl_slist_append(r->headers, line);
		snprintf(line, sizeof(line), "X-Switchboard-Attempt: %d",
		    r->d->attempts);
		r->headers = curl_slist_append(r->headers, line);
	}
	for (i = 0; r->headers != NULL && i < wh->nheader_lines; i++)
		if ((l = curl_slist_append(r->headers,
		    wh->header_lines[i])) != NULL)
			r->headers = l;
		else
			rc = -1;
	if (r->headers == NULL || rc == -1)
		return (-1);
	rc |= curl_easy_setopt(r->easy, CURLOPT_URL, url);
	rc |= curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	rc |= curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	rc |= curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION,
	    webhook_write_cb);
	rc |= curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	rc |= curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	if (r->d != NULL) {
		rc |= curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		rc |= curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE,
		    (long)r->len);
		rc |= curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS,
		    r->payload);
	} else if (!wh->args->health_get)
		rc |= curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
	if (rc != 0 || curl_opts_apply(r->easy, &wh->args->curl,
	    cc->timeout_ms) == -1)
		return (-1);
	return (0);
}

/* Keep the first bytes of the answer, for an error; drop the rest. */
static size_t
webhook_write_cb(char *ptr, size_t size, size_t n, void *arg)
{
	struct webhook_req *r = arg;
	size_t len = size * n, room = WEBHOOK_BODY_KEEP - r->answerlen;

	memcpy(r->answer + r->answerlen, ptr, len < room ? len : room);
	r->answerlen += len < room ? len : room;
	r->answer[r->answerlen] = '\0';
	return (len);
}

static void
webhook_done_cb(CURL *easy, CURLcode result, void *arg)
{
	struct webhook_req *r = arg;
	struct channel *ch = r->wh->ch;
	struct delivery *d = r->d;
	enum delivery_outcome outcome;
	char error[512];

	(void)easy;
	if (d == NULL) {
		webhook_probe_done(r, result);
		return;
	}
	outcome = webhook_judge(r, result, error, sizeof(error));
	webhook_req_free(r);
	channel_done(ch, d, outcome, outcome == OUTCOME_DELIVERED ? NULL :
	    error);
}

/* The answer's first bytes, one printable line. */
static void
webhook_answer_text(const struct webhook_req *r, char *buf, size_t len)
{
	size_t i, j = 0;

	for (i = 0; i < r->answerlen && j + 1 < len; i++)
		buf[j++] = (unsigned char)r->answer[i] < 0x20 ||
		    r->answer[i] == 0x7f ? ' ' : r->answer[i];
	buf[j] = '\0';
}

/*
 * What the answer means. A Retry-After of a retryable answer is passed
 * to the dispatcher, which waits at least that long before the retry.
 */
static enum delivery_outcome
webhook_judge(struct webhook_req *r, CURLcode result, char *error,
    size_t errlen)
{
	char text[WEBHOOK_BODY_KEEP + 1], after[64];
	curl_off_t retry_after = 0;
	long status = 0;

	if (result != CURLE_OK) {
		snprintf(error, errlen, "%s%s%s", curl_easy_strerror(result),
		    r->errbuf[0] != '\0' ? ": " : "", r->errbuf);
		return (curl_result_retryable(result) ? OUTCOME_RETRYABLE :
		    OUTCOME_PERMANENT);
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status <= 299)
		return (OUTCOME_DELIVERED);
	webhook_answer_text(r, text, sizeof(text));
	after[0] = '\0';
	if (status == 408 || status == 429 || status >= 500) {
		if (curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER,
		    &retry_after) == CURLE_OK && retry_after > 0) {
			if (retry_after > WEBHOOK_RETRY_AFTER_MAX)
				retry_after = WEBHOOK_RETRY_AFTER_MAX;
			r->d->retry_after_ms = (int64_t)retry_after * 1000;
			snprintf(after, sizeof(after), " (Retry-After %llds)",
			    (long long)retry_after);
		}
		snprintf(error, errlen, "HTTP %ld%s%s%s", status, after,
		    text[0] != '\0' ? ": " : "", text);
		return (OUTCOME_RETRYABLE);
	}
	snprintf(error, errlen, "HTTP %ld%s%s", status, text[0] != '\0' ?
	    ": " : "", text);
	return (OUTCOME_PERMANENT);
}

/*
 * A probe: HEAD (or GET) of health_url, else of the URL. Any answer but
 * 429 or 5xx shows the service is there (a POST-only hook may well say
 * 405 to a HEAD).
 */
static int
webhook_probe(struct channel *ch, char *err, size_t errlen)
{
	struct webhook *wh = ch->state;
	struct webhook_req *r;

	if (wh->probe != NULL) {
		snprintf(err, errlen, "the previous probe has not ended");
		return (-1);
	}
	if ((r = webhook_req_new(wh, NULL)) == NULL ||
	    webhook_req_setup(r, wh->args->health_url != NULL ?
	    wh->args->health_url : wh->url) == -1 ||
	    curl_loop_add(wh->loop, r->easy, webhook_done_cb, r) == -1) {
		if (r != NULL)
			webhook_req_free(r);
		snprintf(err, errlen, "cannot start the probe (out of "
		    "memory)");
		return (-1);
	}
	wh->probe = r;
	return (0);
}

static void
webhook_probe_done(struct webhook_req *r, CURLcode result)
{
	struct channel *ch = r->wh->ch;
	char error[512];
	long status = 0;
	int ok;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	ok = result == CURLE_OK && status != 429 && status < 500;
	if (result != CURLE_OK)
		snprintf(error, sizeof(error), "probe: %s%s%s",
		    curl_easy_strerror(result), r->errbuf[0] ? ": " : "",
		    r->errbuf);
	else
		snprintf(error, sizeof(error), "probe: HTTP %ld", status);
	webhook_req_free(r);
	breaker_probe_done(ch, ok, ok ? NULL : error);
}

/* Cancel what is in flight: deliveries come back retryable. */
static void
webhook_stop(struct channel *ch)
{
	struct webhook *wh = ch->state;
	struct webhook_req *r;
	struct delivery *d;

	while ((r = TAILQ_FIRST(&wh->reqs)) != NULL) {
		curl_loop_cancel(wh->loop, r->easy);
		d = r->d;
		webhook_req_free(r);
		if (d != NULL)
			channel_done(ch, d, OUTCOME_RETRYABLE,
			    "channel stopped");
	}
	webhook_free(wh);
	ch->state = NULL;
}

/* --- payloads ------------------------------------------------------- */

/*
 * yajl with a sticky failure: a string that is not UTF-8 (a template's
 * literal may not be) or an allocation failure fails the whole payload
 * rather than leaving a key without its value.
 */
static void
wg_ok(struct wgen *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok)
		w->failed = 1;
}

static void
wg_str(struct wgen *w, const char *s)
{
	if (s == NULL) {
		w->failed = 1;
		return;
	}
	wg_ok(w, yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
}

static void
wg_kv(struct wgen *w, const char *k, const char *v)
{
	wg_str(w, k);
	wg_str(w, v);
}

static void
wg_map(struct wgen *w, int open)
{
	wg_ok(w, open ? yajl_gen_map_open(w->g) : yajl_gen_map_close(w->g));
}

static void
wg_array(struct wgen *w, int open)
{
	wg_ok(w, open ? yajl_gen_array_open(w->g) :
	    yajl_gen_array_close(w->g));
}

/* The generator's text as a malloc'd string, or NULL on any failure. */
static char *
wg_take(struct wgen *w, size_t *lenp)
{
	const unsigned char *buf;
	size_t len;
	char *s;

	if (w->failed || yajl_gen_get_buf(w->g, &buf, &len) !=
	    yajl_gen_status_ok || (s = malloc(len + 1)) == NULL)
		return (NULL);
	memcpy(s, buf, len);
	s[len] = '\0';
	*lenp = len;
	return (s);
}

static char *
webhook_payload(struct webhook *wh, struct delivery *d, size_t *lenp)
{
	struct webhook_text t;
	struct render_ack ack;
	struct wgen w;
	char *out = NULL;

	memset(&t, 0, sizeof(t));
	t.wh = wh;
	t.d = d;
	w.failed = 0;
	render_ack_view(&ack);
	if (render_values_fill(&t.rv, d, &ack) == -1)
		return (NULL);
	if ((w.g = yajl_gen_alloc(NULL)) == NULL) {
		render_values_clear(&t.rv);
		return (NULL);
	}
	yajl_gen_config(w.g, yajl_gen_validate_utf8, 1);
	if (wh->args->format == WEBHOOK_JSON)
		out = webhook_payload_json(&t, &w, lenp);
	else {
		wg_map(&w, 1);
		if (wh->args->format == WEBHOOK_SLACK)
			webhook_gen_slack(&t, &w);
		else if (wh->args->format == WEBHOOK_MATTERMOST)
			webhook_gen_mattermost(&t, &w);
		else
			webhook_gen_teams(&t, &w);
		wg_map(&w, 0);
		out = wg_take(&w, lenp);
	}
	yajl_gen_free(w.g);
	render_values_clear(&t.rv);
	return (out);
}

/*
 * "json": the generic payload (delivery_json) after the escalation level,
 * the ack link and, when the channel has a template, the rendered text.
 */
static char *
webhook_payload_json(struct webhook_text *t, struct wgen *w, size_t *lenp)
{
	const struct render_templates *tpl = &t->wh->args->tpl;
	char *generic, *head = NULL, *out = NULL, *text;
	size_t glen, hlen;

	if ((generic = delivery_json(t->d, &glen)) == NULL || glen < 2) {
		free(generic);
		return (NULL);
	}
	wg_map(w, 1);
	wg_str(w, "level");
	wg_ok(w, yajl_gen_integer(w->g, t->d->level));
	if (t->rv.v[TF_ACK_URL][0] != '\0')
		wg_kv(w, "ack_url", t->rv.v[TF_ACK_URL]);
	if (tpl->custom) {
		text = render_text(tpl->subject, &t->rv, template_escape_none,
		    NULL);
		wg_kv(w, "title", text);
		free(text);
		text = render_text(tpl->body, &t->rv, template_escape_none,
		    NULL);
		wg_kv(w, "text", text);
		free(text);
	}
	wg_map(w, 0);
	/* Our object without its closing brace, a comma, generic's rest. */
	if ((head = wg_take(w, &hlen)) != NULL && hlen >= 2 &&
	    (out = malloc(hlen + glen)) != NULL) {
		memcpy(out, head, hlen - 1);
		out[hlen - 1] = ',';
		memcpy(out + hlen, generic + 1, glen - 1);
		out[hlen + glen - 1] = '\0';
		*lenp = hlen + glen - 1;
	}
	free(head);
	free(generic);
	return (out);
}

/* A blank line before what follows, unless nothing went before. */
static int
webhook_para(struct evbuffer *b)
{
	return (evbuffer_get_length(b) > 0 ? evbuffer_add(b, "\n\n", 2) : 0);
}

/*
 * The subject and body templates rendered with escape, the body followed
 * by what the template does not place itself: a digest's items and, in
 * link_fmt (printf, one %s), an interactive notice's ack link.
 */
static int
webhook_texts(struct webhook_text *t, template_escape_fn escape,
    const char *link_fmt)
{
	const struct render_templates *tpl = &t->wh->args->tpl;
	const char *items = t->rv.v[TF_ITEMS], *ack = t->rv.v[TF_ACK_URL];
	struct evbuffer *b;
	size_t len;
	int rc = 0;

	t->subject = render_text(tpl->subject, &t->rv, escape, NULL);
	if ((b = evbuffer_new()) == NULL || t->subject == NULL ||
	    template_render(tpl->body, (const char *const *)t->rv.v, escape,
	    b) == -1)
		rc = -1;
	if (rc == 0 && t->d->items != NULL &&
	    !template_uses(tpl->body, TF_ITEMS))
		rc = webhook_para(b) == -1 ||
		    escape(b, items, strlen(items)) == -1 ? -1 : 0;
	if (rc == 0 && link_fmt != NULL && ack[0] != '\0' &&
	    !template_uses(tpl->body, TF_ACK_URL))
		rc = webhook_para(b) == -1 ||
		    evbuffer_add_printf(b, link_fmt, ack) < 0 ? -1 : 0;
	len = b != NULL ? evbuffer_get_length(b) : 0;
	if (rc == 0 && (t->body = malloc(len + 1)) != NULL) {
		evbuffer_remove(b, t->body, len);
		t->body[len] = '\0';
	}
	if (b != NULL)
		evbuffer_free(b);
	return (t->body != NULL ? 0 : -1);
}

static void
webhook_texts_free(struct webhook_text *t)
{
	free(t->subject);
	free(t->body);
	t->subject = t->body = NULL;
}

/* A one-line summary of the notice's fields. */
static void
webhook_meta(const struct render_values *rv, char *buf, size_t len)
{
	int level = strcmp(rv->v[TF_LEVEL], "0") != 0;

	snprintf(buf, len, "%s · %s · from %s · to %s · id %s%s%s",
	    rv->v[TF_PRIORITY], rv->v[TF_CLASS], rv->v[TF_SOURCE],
	    rv->v[TF_AUDIENCE], rv->v[TF_ID],
	    level ? " · escalation level " : "", level ? rv->v[TF_LEVEL] : "");
}

/* Cut s to at most max bytes, on a UTF-8 character boundary. */
static void
webhook_cut(char *s, size_t max)
{
	if (strlen(s) <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

/*
 * Slack: "text" (the notification, and what clients without blocks show)
 * and Block Kit blocks: a mrkdwn section with the subject in bold and the
 * body, then a context line with the notice's fields.
 */
static void
webhook_gen_slack(struct webhook_text *t, struct wgen *w)
{
	char meta[1024], *text = NULL;
	struct evbuffer *b;

	if (webhook_texts(t, template_escape_slack, "<%s|Acknowledge>") ==
	    -1 || asprintf(&text, "*%s*%s%s", t->subject,
	    t->body[0] != '\0' ? "\n" : "", t->body) == -1) {
		webhook_texts_free(t);
		w->failed = 1;
		return;
	}
	webhook_cut(text, WEBHOOK_SLACK_TEXT_MAX);
	wg_kv(w, "text", t->subject);
	wg_str(w, "blocks");
	wg_array(w, 1);
	wg_map(w, 1);
	wg_kv(w, "type", "section");
	wg_str(w, "text");
	wg_map(w, 1);
	wg_kv(w, "type", "mrkdwn");
	wg_kv(w, "text", text);
	wg_map(w, 0);
	wg_map(w, 0);
	wg_map(w, 1);
	wg_kv(w, "type", "context");
	wg_str(w, "elements");
	wg_array(w, 1);
	wg_map(w, 1);
	wg_kv(w, "type", "mrkdwn");
	webhook_meta(&t->rv, meta, sizeof(meta));
	if ((b = evbuffer_new()) == NULL ||
	    template_escape_slack(b, meta, strlen(meta)) == -1 ||
	    evbuffer_add(b, "", 1) == -1)
		w->failed = 1;
	else
		wg_kv(w, "text", (char *)evbuffer_pullup(b, -1));
	if (b != NULL)
		evbuffer_free(b);
	wg_map(w, 0);
	wg_array(w, 0);
	wg_map(w, 0);
	wg_array(w, 0);
	free(text);
	webhook_texts_free(t);
}

/* Mattermost: Markdown "text"; the ids in "props" for integrations. */
static void
webhook_gen_mattermost(struct webhook_text *t, struct wgen *w)
{
	char meta[1024], *text = NULL;

	webhook_meta(&t->rv, meta, sizeof(meta));
	if (webhook_texts(t, template_escape_none, "[Acknowledge](%s)") ==
	    -1 || asprintf(&text, "#### %s\n%s%s_%s_", t->subject, t->body,
	    t->body[0] != '\0' ? "\n\n" : "", meta) == -1) {
		webhook_texts_free(t);
		w->failed = 1;
		return;
	}
	wg_kv(w, "text", text);
	wg_str(w, "props");
	wg_map(w, 1);
	wg_kv(w, "switchboard_id", t->rv.v[TF_ID]);
	wg_kv(w, "delivery_id", t->rv.v[TF_DELIVERY_ID]);
	wg_kv(w, "class", t->rv.v[TF_CLASS]);
	wg_kv(w, "priority", t->rv.v[TF_PRIORITY]);
	wg_kv(w, "level", t->rv.v[TF_LEVEL]);
	wg_map(w, 0);
	free(text);
	webhook_texts_free(t);
}

/* One Adaptive Card TextBlock. */
static void
webhook_gen_teams_text(struct wgen *w, const char *text, int title)
{
	wg_map(w, 1);
	wg_kv(w, "type", "TextBlock");
	if (title) {
		wg_kv(w, "size", "Medium");
		wg_kv(w, "weight", "Bolder");
	}
	wg_kv(w, "text", text);
	wg_str(w, "wrap");
	wg_ok(w, yajl_gen_bool(w->g, 1));
	wg_map(w, 0);
}

/*
 * Teams: a message with one Adaptive Card attachment, as Microsoft's
 * incoming-webhook documentation shows it: the subject, the body, the
 * fields as a FactSet, and an "Acknowledge" button for an ack link.
 */
static void
webhook_gen_teams(struct webhook_text *t, struct wgen *w)
{
	static const enum template_field facts[] = { TF_PRIORITY, TF_CLASS,
	    TF_SOURCE, TF_AUDIENCE, TF_ID, TF_LEVEL };
	const char *ack = t->rv.v[TF_ACK_URL];
	size_t i;

	if (webhook_texts(t, template_escape_none, NULL) == -1) {
		w->failed = 1;
		return;
	}
	wg_kv(w, "type", "message");
	wg_str(w, "attachments");
	wg_array(w, 1);
	wg_map(w, 1);
	wg_kv(w, "contentType", "application/vnd.microsoft.card.adaptive");
	wg_str(w, "contentUrl");
	wg_ok(w, yajl_gen_null(w->g));
	wg_str(w, "content");
	wg_map(w, 1);
	wg_kv(w, "$schema",
	    "http://adaptivecards.io/schemas/adaptive-card.json");
	wg_kv(w, "type", "AdaptiveCard");
	wg_kv(w, "version", "1.4");
	wg_str(w, "body");
	wg_array(w, 1);
	webhook_gen_teams_text(w, t->subject, 1);
	if (t->body[0] != '\0')
		webhook_gen_teams_text(w, t->body, 0);
	wg_map(w, 1);
	wg_kv(w, "type", "FactSet");
	wg_str(w, "facts");
	wg_array(w, 1);
	for (i = 0; i < sizeof(facts) / sizeof(facts[0]); i++) {
		wg_map(w, 1);
		wg_kv(w, "title", template_field_name(facts[i]));
		wg_kv(w, "value", t->rv.v[facts[i]]);
		wg_map(w, 0);
	}
	wg_array(w, 0);
	wg_map(w, 0);
	wg_array(w, 0);
	if (ack[0] != '\0') {
		wg_str(w, "actions");
		wg_array(w, 1);
		wg_map(w, 1);
		wg_kv(w, "type", "Action.OpenUrl");
		wg_kv(w, "title", "Acknowledge");
		wg_kv(w, "url", ack);
		wg_map(w, 0);
		wg_array(w, 0);
	}
	wg_map(w, 0);
	wg_map(w, 0);
	wg_array(w, 0);
	webhook_texts_free(t);
}
