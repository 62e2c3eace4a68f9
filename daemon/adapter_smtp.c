/*
 * adapter_smtp.c: the "smtp" channel, one mail per delivery through a
 * relay (smtp:// with STARTTLS, or smtps://), sent by libcurl's multi
 * interface (curl.c). Recipients come from the channel's mapping of
 * audiences to addresses; the message (mime.c) is plain UTF-8 text with
 * the notice's and the delivery's ids in X-Switchboard-* headers, an ack
 * link for an interactive notice and one line an item for a digest.
 * The relay's 4xx replies are retryable, its 5xx replies permanent.
 */
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "adapter.h"
#include "breaker.h"
#include "config.h"
#include "curl.h"
#include "deadline.h"
#include "log.h"
#include "match.h"
#include "mime.h"
#include "notice.h"
#include "render.h"
#include "sb_protocol.h"
#include "secrets.h"

#define SMTP_RULES_MAX		256
#define SMTP_ADDRS_MAX		64	/* per rule, per kind */
#define SMTP_RCPT_MAX		500	/* per mail */
#define SMTP_REPLY_KEEP		200	/* bytes of a relay's reply */

enum smtp_starttls {
	STARTTLS_TRY = 0,	/* if the relay offers it */
	STARTTLS_REQUIRED,
	STARTTLS_OFF
};

/* recipients = ( { audience = "dept:ops"; to = [...]; bcc = [...]; } ) */
struct smtp_rule {
	struct glob_list	 audiences;
	char			**to;
	size_t			 nto;
	char			**bcc;
	size_t			 nbcc;
};

struct smtp_args {
	char			*url;
	int			 smtps;
	enum smtp_starttls	 starttls;
	char			*auth_file;
	char			*from;
	char			*from_name;
	struct smtp_rule	*rules;
	size_t			 nrules;
	struct render_templates	 tpl;
	struct curl_opts	 curl;
};

/* The addresses of one mail: To (shown) and all (the envelope). */
struct smtp_rcpts {
	const char	*to[SMTP_RCPT_MAX];
	size_t		 nto;
	const char	*all[SMTP_RCPT_MAX];
	size_t		 nall;
};

/* One mail in flight, or a probe (d NULL). */
struct smtp_req {
	struct smtp		*sm;
	struct delivery		*d;
	CURL			*easy;
	struct curl_slist	*rcpt;
	char			*msg;
	size_t			 len;
	size_t			 off;
	char			 reply[SMTP_REPLY_KEEP + 1];
	char			 errbuf[CURL_ERROR_SIZE];
	TAILQ_ENTRY(smtp_req)	 entry;
};
TAILQ_HEAD(smtp_reqs, smtp_req);

struct smtp {
	struct channel		*ch;
	const struct smtp_args	*args;
	struct curl_loop	*loop;
	char			*user;		/* from auth_file */
	char			*password;
	char			 mail_from[300];	/* "<addr>" */
	struct smtp_reqs	 reqs;
	struct smtp_req		*probe;
};

static int	smtp_check(const config_setting_t *, void **,
		    struct config_errors *);
static int	smtp_check_url(const char *, const config_setting_t *,
		    struct smtp_args *, struct config_errors *);
static int	smtp_check_from(const char *, const config_setting_t *,
		    struct smtp_args *, struct config_errors *);
static int	smtp_check_rules(const char *, const config_setting_t *,
		    struct smtp_args *, struct config_errors *);
static int	smtp_check_rule(const char *, const config_setting_t *,
		    struct smtp_rule *, struct config_errors *);
static int	smtp_check_addrs(const char *, const config_setting_t *,
		    const char *, char ***, size_t *,
		    struct config_errors *);
static int	smtp_check_string(const char *, const config_setting_t *,
		    const char *, char **, struct config_errors *);
static int	smtp_option_known(const char *);
static void	smtp_args_free(void *);
static int	smtp_start(struct channel *, char *, size_t);
static int	smtp_start_auth(struct smtp *, char *, size_t);
static void	smtp_free(struct smtp *);
static void	smtp_deliver(struct channel *, struct delivery *);
static int	smtp_probe(struct channel *, char *, size_t);
static void	smtp_stop(struct channel *);
static int	smtp_rcpts(const struct smtp_args *, const struct delivery *,
		    struct smtp_rcpts *, char *, size_t);
static void	smtp_rcpts_notice(const struct smtp_args *,
		    const struct notice *, struct smtp_rcpts *);
static void	smtp_rcpt_add(const char **, size_t *, const char *);
static char	*smtp_message(struct smtp *, struct delivery *,
		    const struct smtp_rcpts *, size_t *);
static char	*smtp_body(struct smtp *, const struct delivery *,
		    const struct render_values *);
static void	smtp_message_id(const struct smtp_args *,
		    const struct delivery *, char *, size_t);
static struct smtp_req *smtp_req_new(struct smtp *, struct delivery *);
static void	smtp_req_free(struct smtp_req *);
static int	smtp_req_setup(struct smtp_req *);
static size_t	smtp_read_cb(char *, size_t, size_t, void *);
static size_t	smtp_write_cb(char *, size_t, size_t, void *);
static int	smtp_debug_cb(CURL *, curl_infotype, char *, size_t, void *);
static void	smtp_done_cb(CURL *, CURLcode, void *);
static enum delivery_outcome smtp_judge(struct smtp_req *, CURLcode,
		    char *, size_t);

const struct adapter_ops adapter_smtp_ops = {
	.name = "smtp",
	.check = smtp_check,
	.args_free = smtp_args_free,
	.start = smtp_start,
	.deliver = smtp_deliver,
	.probe = smtp_probe,
	.stop = smtp_stop,
};

static int
smtp_option_known(const char *name)
{
	static const char *const own[] = { "url", "starttls", "auth_file",
	    "from", "from_name", "recipients", "template", NULL };
	size_t i;

	for (i = 0; own[i] != NULL; i++)
		if (strcmp(name, own[i]) == 0)
			return (1);
	return (curl_opts_known(name) || config_channel_common(name));
}

/*
 * Options: url, starttls, auth_file, from, from_name, recipients,
 * template, tls_verify, ca_file, connect_timeout.
 */
static int
smtp_check(const config_setting_t *group, void **argsp,
    struct config_errors *errs)
{
	const char *name = config_setting_name(group);
	const config_setting_t *s;
	struct smtp_args *a;
	int i, rc = 0;

	*argsp = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		config_error(errs, group, "channel %s: out of memory", name);
		return (-1);
	}
	for (i = 0; (s = config_setting_get_elem(group, (unsigned)i)) != NULL;
	    i++) {
		if (smtp_option_known(config_setting_name(s)))
			continue;
		config_error(errs, s, "channel %s: unknown option '%s' for "
		    "type smtp (expected url, starttls, auth_file, from, "
		    "from_name, recipients, template, tls_verify, ca_file, "
		    "connect_timeout)", name, config_setting_name(s));
		rc = -1;
	}
	/* Each check on its own, so that every error is reported at once. */
	if (smtp_check_url(name, group, a, errs) == -1)
		rc = -1;
	if (smtp_check_from(name, group, a, errs) == -1)
		rc = -1;
	if (smtp_check_rules(name, group, a, errs) == -1)
		rc = -1;
	if (render_templates_check(name, group, &a->tpl, errs) == -1)
		rc = -1;
	if (curl_opts_check(name, group, &a->curl, errs) == -1)
		rc = -1;
	if (rc == -1) {
		smtp_args_free(a);
		return (-1);
	}
	*argsp = a;
	return (0);
}

static int
smtp_check_string(const char *name, const config_setting_t *group,
    const char *key, char **out, struct config_errors *errs)
{
	const config_setting_t *s;
	const char *v;

	if ((s = config_setting_get_member(group, key)) == NULL)
		return (0);
	if ((v = config_setting_get_string(s)) == NULL || *v == '\0' ||
	    strpbrk(v, "\r\n") != NULL) {
		config_error(errs, s, "channel %s: %s must be a non-empty "
		    "one-line string", name, key);
		return (-1);
	}
	if ((*out = strdup(v)) == NULL) {
		config_error(errs, s, "channel %s: out of memory", name);
		return (-1);
	}
	return (0);
}

/*
 * url (smtp:// or smtps://), starttls and auth_file: a password never
 * crosses the network in the clear, so AUTH over smtp:// needs
 * starttls = "required".
 */
static int
smtp_check_url(const char *name, const config_setting_t *group,
    struct smtp_args *a, struct config_errors *errs)
{
	static const char *const modes[] = { "try", "required", "off", NULL };
	const config_setting_t *s;
	char *mode = NULL;
	int i;

	if (smtp_check_string(name, group, "url", &a->url, errs) == -1 ||
	    smtp_check_string(name, group, "starttls", &mode, errs) == -1 ||
	    smtp_check_string(name, group, "auth_file", &a->auth_file,
	    errs) == -1) {
		free(mode);
		return (-1);
	}
	if (a->url == NULL || (strncmp(a->url, "smtp://", 7) != 0 &&
	    strncmp(a->url, "smtps://", 8) != 0)) {
		config_error(errs, (s = config_setting_get_member(group,
		    "url")) != NULL ? s : group, "channel %s: type smtp needs "
		    "url = \"smtp://relay.example.org:587\" (or smtps://)",
		    name);
		free(mode);
		return (-1);
	}
	a->smtps = strncmp(a->url, "smtps://", 8) == 0;
	for (i = 0; mode != NULL && modes[i] != NULL; i++)
		if (strcmp(mode, modes[i]) == 0)
			break;
	if (mode != NULL && modes[i] == NULL) {
		config_error(errs, config_setting_get_member(group,
		    "starttls"), "channel %s: starttls must be one of: try, "
		    "required, off", name);
		free(mode);
		return (-1);
	}
	if (mode != NULL)
		a->starttls = (enum smtp_starttls)i;
	free(mode);
	if (a->auth_file != NULL && !a->smtps &&
	    a->starttls != STARTTLS_REQUIRED) {
		config_error(errs, config_setting_get_member(group,
		    "auth_file"), "channel %s: auth_file over smtp:// needs "
		    "starttls = \"required\" (or an smtps:// url), so that the "
		    "password is never sent in the clear", name);
		return (-1);
	}
	return (0);
}

static int
smtp_check_from(const char *name, const config_setting_t *group,
    struct smtp_args *a, struct config_errors *errs)
{
	const config_setting_t *s;

	if (smtp_check_string(name, group, "from", &a->from, errs) == -1 ||
	    smtp_check_string(name, group, "from_name", &a->from_name,
	    errs) == -1)
		return (-1);
	if (a->from == NULL || !mime_address_valid(a->from)) {
		s = config_setting_get_member(group, "from");
		config_error(errs, s != NULL ? s : group, "channel %s: type "
		    "smtp needs from = \"switchboard@example.org\" (a plain "
		    "address; the name goes in from_name)%s%s%s", name,
		    a->from != NULL ? ", not '" : "", a->from != NULL ?
		    a->from : "", a->from != NULL ? "'" : "");
		return (-1);
	}
	return (0);
}

static int
smtp_check_rules(const char *name, const config_setting_t *group,
    struct smtp_args *a, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	int i, n, rc = 0;

	if ((s = config_setting_get_member(group, "recipients")) == NULL ||
	    !config_setting_is_list(s) || (n = config_setting_length(s)) ==
	    0 || n > SMTP_RULES_MAX) {
		config_error(errs, s != NULL ? s : group, "channel %s: type "
		    "smtp needs recipients = ( { audience = \"dept:ops\"; "
		    "to = \"ops@example.org\"; }, ... ), a list of 1 to %d "
		    "rules mapping audiences to addresses", name,
		    SMTP_RULES_MAX);
		return (-1);
	}
	if ((a->rules = calloc((size_t)n, sizeof(*a->rules))) == NULL) {
		config_error(errs, s, "channel %s: out of memory", name);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (smtp_check_rule(name, e, &a->rules[a->nrules++], errs) ==
		    -1)
			rc = -1;
	}
	return (rc);
}

static int
smtp_check_rule(const char *name, const config_setting_t *e,
    struct smtp_rule *r, struct config_errors *errs)
{
	const config_setting_t *s;
	int i, rc = 0;

	if (!config_setting_is_group(e) ||
	    (s = config_setting_get_member(e, "audience")) == NULL) {
		config_error(errs, e, "channel %s: recipients[%d] must be "
		    "{ audience = \"GLOB\" or [...]; to = ...; bcc = ...; }",
		    name, config_setting_index(e));
		return (-1);
	}
	for (i = 0; (s = config_setting_get_elem(e, (unsigned)i)) != NULL;
	    i++) {
		if (strcmp(config_setting_name(s), "audience") == 0 ||
		    strcmp(config_setting_name(s), "to") == 0 ||
		    strcmp(config_setting_name(s), "bcc") == 0)
			continue;
		config_error(errs, s, "channel %s: unknown option '%s' in "
		    "recipients[%d] (expected audience, to, bcc)", name,
		    config_setting_name(s), config_setting_index(e));
		rc = -1;
	}
	if (glob_list_compile_audience(&r->audiences,
	    config_setting_get_member(e, "audience"), errs) == -1 ||
	    smtp_check_addrs(name, e, "to", &r->to, &r->nto, errs) == -1 ||
	    smtp_check_addrs(name, e, "bcc", &r->bcc, &r->nbcc, errs) == -1)
		return (-1);
	if (r->nto + r->nbcc == 0) {
		config_error(errs, e, "channel %s: recipients[%d] has neither "
		    "to nor bcc", name, config_setting_index(e));
		return (-1);
	}
	return (rc);
}

/* An address or a list of them, each a plain addr-spec. */
static int
smtp_check_addrs(const char *name, const config_setting_t *e,
    const char *key, char ***out, size_t *np, struct config_errors *errs)
{
	const config_setting_t *s, *a;
	const char *v;
	int i, n;

	if ((s = config_setting_get_member(e, key)) == NULL)
		return (0);
	n = config_setting_type(s) == CONFIG_TYPE_STRING ? 1 :
	    config_setting_is_array(s) || config_setting_is_list(s) ?
	    config_setting_length(s) : -1;
	if (n < 0 || n > SMTP_ADDRS_MAX ||
	    (*out = calloc((size_t)n + 1, sizeof(char *))) == NULL) {
		config_error(errs, s, "channel %s: %s must be an address or "
		    "a list of at most %d", name, key, SMTP_ADDRS_MAX);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		a = n == 1 && config_setting_type(s) == CONFIG_TYPE_STRING ?
		    s : config_setting_get_elem(s, (unsigned)i);
		if ((v = config_setting_get_string(a)) == NULL ||
		    !mime_address_valid(v)) {
			config_error(errs, a, "channel %s: %s: '%s' is not a "
			    "plain address such as ops@example.org", name, key,
			    v != NULL ? v : "(not a string)");
			return (-1);
		}
		if (((*out)[(*np)++] = strdup(v)) == NULL) {
			config_error(errs, a, "channel %s: out of memory",
			    name);
			return (-1);
		}
	}
	return (0);
}

static void
smtp_args_free(void *p)
{
	struct smtp_args *a = p;
	struct smtp_rule *r;
	size_t i, j;

	if (a == NULL)
		return;
	for (i = 0; i < a->nrules; i++) {
		r = &a->rules[i];
		glob_list_free(&r->audiences);
		for (j = 0; j < r->nto; j++)
			free(r->to[j]);
		for (j = 0; j < r->nbcc; j++)
			free(r->bcc[j]);
		free(r->to);
		free(r->bcc);
	}
	free(a->rules);
	free(a->url);
	free(a->auth_file);
	free(a->from);
	free(a->from_name);
	render_templates_free(&a->tpl);
	curl_opts_free(&a->curl);
	free(a);
}

static int
smtp_start(struct channel *ch, char *err, size_t errlen)
{
	struct smtp *sm;

	if ((sm = calloc(1, sizeof(*sm))) == NULL) {
		snprintf(err, errlen, "channel %s: out of memory", ch->name);
		return (-1);
	}
	sm->ch = ch;
	sm->args = ch->conf->args;
	TAILQ_INIT(&sm->reqs);
	snprintf(sm->mail_from, sizeof(sm->mail_from), "<%s>",
	    sm->args->from);
	if (smtp_start_auth(sm, err, errlen) == -1 ||
	    (sm->loop = curl_loop_new(ch->base, ch->conf->concurrency, err,
	    errlen)) == NULL) {
		smtp_free(sm);
		return (-1);
	}
	curl_opts_warn(ch->name, &sm->args->curl);
	ch->state = sm;
	return (0);
}

/* auth_file holds one line "user:password". */
static int
smtp_start_auth(struct smtp *sm, char *err, size_t errlen)
{
	char why[512], *secret, *colon;
	size_t len;

	if (sm->args->auth_file == NULL)
		return (0);
	if (secrets_read(sm->ch, sm->args->auth_file, &secret, &len, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "channel %s: auth_file: %s",
		    sm->ch->name, why);
		return (-1);
	}
	if ((colon = strchr(secret, ':')) == NULL || colon == secret ||
	    strpbrk(secret, "\r\n") != NULL) {
		snprintf(err, errlen, "channel %s: auth_file %s must hold one "
		    "line USER:PASSWORD", sm->ch->name, sm->args->auth_file);
		explicit_bzero(secret, len);
		free(secret);
		return (-1);
	}
	*colon = '\0';
	sm->user = strdup(secret);
	sm->password = strdup(colon + 1);
	explicit_bzero(secret, len);
	free(secret);
	if (sm->user == NULL || sm->password == NULL) {
		snprintf(err, errlen, "channel %s: out of memory",
		    sm->ch->name);
		return (-1);
	}
	return (0);
}

static void
smtp_free(struct smtp *sm)
{
	if (sm == NULL)
		return;
	curl_loop_free(sm->loop);
	if (sm->password != NULL)
		explicit_bzero(sm->password, strlen(sm->password));
	free(sm->password);
	free(sm->user);
	free(sm);
}

static void
smtp_deliver(struct channel *ch, struct delivery *d)
{
	struct smtp *sm = ch->state;
	struct smtp_rcpts rc;
	struct smtp_req *r;
	char error[512];
	size_t i;

	if (smtp_rcpts(sm->args, d, &rc, error, sizeof(error)) == -1) {
		channel_done(ch, d, OUTCOME_PERMANENT, error);
		return;
	}
	if ((r = smtp_req_new(sm, d)) == NULL ||
	    (r->msg = smtp_message(sm, d, &rc, &r->len)) == NULL) {
		if (r != NULL)
			smtp_req_free(r);
		channel_done(ch, d, OUTCOME_RETRYABLE, "cannot build the mail "
		    "(out of memory)");
		return;
	}
	for (i = 0; i < rc.nall; i++) {
		snprintf(error, sizeof(error), "<%s>", rc.all[i]);
		r->rcpt = curl_slist_append(r->rcpt, error);
	}
	if (r->rcpt == NULL || smtp_req_setup(r) == -1 ||
	    curl_loop_add(sm->loop, r->easy, smtp_done_cb, r) == -1) {
		smtp_req_free(r);
		channel_done(ch, d, OUTCOME_RETRYABLE, "cannot start the SMTP "
		    "transaction (out of memory)");
		return;
	}
	d->adapter_data = r;
}

static void
smtp_rcpt_add(const char **list, size_t *n, const char *addr)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcasecmp(list[i], addr) == 0)
			return;
	if (*n < SMTP_RCPT_MAX)
		list[(*n)++] = addr;
}

/* Every rule matching an audience entry of n adds its addresses. */
static void
smtp_rcpts_notice(const struct smtp_args *a, const struct notice *n,
    struct smtp_rcpts *rc)
{
	const struct smtp_rule *r;
	size_t i, j, k;

	for (i = 0; i < n->naudience; i++)
		for (j = 0; j < a->nrules; j++) {
			r = &a->rules[j];
			if (!glob_list_match(&r->audiences, n->audience[i]))
				continue;
			for (k = 0; k < r->nto; k++) {
				smtp_rcpt_add(rc->to, &rc->nto, r->to[k]);
				smtp_rcpt_add(rc->all, &rc->nall, r->to[k]);
			}
			for (k = 0; k < r->nbcc; k++)
				smtp_rcpt_add(rc->all, &rc->nall, r->bcc[k]);
		}
}

/* The recipients of a delivery (a digest: of all its items). */
static int
smtp_rcpts(const struct smtp_args *a, const struct delivery *d,
    struct smtp_rcpts *rc, char *error, size_t errlen)
{
	size_t i;

	memset(rc, 0, sizeof(*rc));
	if (d->items != NULL)
		for (i = 0; i < d->nitems; i++)
			smtp_rcpts_notice(a, d->items[i]->notice, rc);
	else
		smtp_rcpts_notice(a, d->notice, rc);
	if (rc->nall > 0)
		return (0);
	snprintf(error, errlen, "no recipient: no rule of recipients "
	    "matches the audience %s%s", d->notice->naudience > 0 ?
	    d->notice->audience[0] : "(none)", d->notice->naudience > 1 ?
	    ", ..." : "");
	return (-1);
}

/*
 * Stable across retries, so that a receiver that got the mail once
 * (the relay took it but its answer was lost) can see the second copy
 * for what it is: a hash of the delivery id at the sender's domain.
 */
static void
smtp_message_id(const struct smtp_args *a, const struct delivery *d,
    char *buf, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char id[33];

	if (EVP_Digest(d->id, strlen(d->id), md, &mdlen, EVP_sha256(),
	    NULL) != 1 || mdlen < 16)
		memset(md, 0, sizeof(md));
	for (i = 0; i < 16; i++) {
		id[2 * i] = hex[md[i] >> 4];
		id[2 * i + 1] = hex[md[i] & 0xf];
	}
	id[32] = '\0';
	snprintf(buf, len, "%s.switchboard@%s", id, strchr(a->from, '@') + 1);
}

/*
 * The body template, then what it does not place itself: a digest's
 * items, an interactive notice's ack link.
 */
static char *
smtp_body(struct smtp *sm, const struct delivery *d,
    const struct render_values *rv)
{
	const struct template *body = sm->args->tpl.body;
	struct evbuffer *b;
	size_t len;
	char *s = NULL;
	int rc;

	if ((b = evbuffer_new()) == NULL)
		return (NULL);
	rc = template_render(body, (const char *const *)rv->v,
	    template_escape_none, b);
	if (rc == 0 && d->items != NULL && !template_uses(body, TF_ITEMS))
		rc = evbuffer_add_printf(b, "%s%s", evbuffer_get_length(b) > 0 ?
		    "\n\n" : "", rv->v[TF_ITEMS]) < 0 ? -1 : 0;
	if (rc == 0 && rv->v[TF_ACK_URL][0] != '\0' &&
	    !template_uses(body, TF_ACK_URL))
		rc = evbuffer_add_printf(b, "%sAcknowledge: %s\n",
		    evbuffer_get_length(b) > 0 ? "\n\n" : "",
		    rv->v[TF_ACK_URL]) < 0 ? -1 : 0;
	len = evbuffer_get_length(b);
	if (rc == 0 && (s = malloc(len + 1)) != NULL) {
		evbuffer_remove(b, s, len);
		s[len] = '\0';
	}
	evbuffer_free(b);
	return (s);
}

static char *
smtp_message(struct smtp *sm, struct delivery *d,
    const struct smtp_rcpts *rc, size_t *lenp)
{
	struct render_values rv;
	struct render_ack ack;
	struct mime_message m;
	char msgid[128], level[16], *subject, *body, *out = NULL;

	render_ack_view(&ack);
	if (render_values_fill(&rv, d, &ack) == -1)
		return (NULL);
	subject = render_text(sm->args->tpl.subject, &rv,
	    template_escape_line, NULL);
	body = smtp_body(sm, d, &rv);
	if (subject != NULL && body != NULL) {
		memset(&m, 0, sizeof(m));
		m.from_name = sm->args->from_name;
		m.from_addr = sm->args->from;
		m.to = rc->to;
		m.nto = rc->nto;
		/* The admin's literal text may hold a line break too. */
		subject[strcspn(subject, "\r\n")] = '\0';
		m.subject = subject;
		m.body = body;
		m.date_ms = deadline_wall_ms();
		smtp_message_id(sm->args, d, msgid, sizeof(msgid));
		m.message_id = msgid;
		snprintf(level, sizeof(level), "%d", d->level);
		m.hname[m.nheaders] = "X-Switchboard-Id";
		m.hvalue[m.nheaders++] = d->notice->id;
		m.hname[m.nheaders] = "X-Switchboard-Delivery";
		m.hvalue[m.nheaders++] = d->id;
		m.hname[m.nheaders] = "X-Switchboard-Class";
		m.hvalue[m.nheaders++] = rv.v[TF_CLASS];
		m.hname[m.nheaders] = "X-Switchboard-Priority";
		m.hvalue[m.nheaders++] = rv.v[TF_PRIORITY];
		if (d->level > 0) {
			m.hname[m.nheaders] = "X-Switchboard-Level";
			m.hvalue[m.nheaders++] = level;
		}
		/* RFC 3834: no vacation replies to a machine's mail. */
		m.hname[m.nheaders] = "Auto-Submitted";
		m.hvalue[m.nheaders++] = "auto-generated";
		out = mime_build(&m, lenp);
	}
	free(subject);
	free(body);
	render_values_clear(&rv);
	return (out);
}

static struct smtp_req *
smtp_req_new(struct smtp *sm, struct delivery *d)
{
	struct smtp_req *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return (NULL);
	r->sm = sm;
	r->d = d;
	if ((r->easy = curl_easy_init()) == NULL) {
		free(r);
		return (NULL);
	}
	TAILQ_INSERT_TAIL(&sm->reqs, r, entry);
	return (r);
}

static void
smtp_req_free(struct smtp_req *r)
{
	TAILQ_REMOVE(&r->sm->reqs, r, entry);
	if (r->sm->probe == r)
		r->sm->probe = NULL;
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->rcpt);
	free(r->msg);
	free(r);
}

/* A mail transaction (d set) or a NOOP (a probe). */
static int
smtp_req_setup(struct smtp_req *r)
{
	const struct smtp *sm = r->sm;
	const struct smtp_args *a = sm->args;
	static const long ssl[] = { CURLUSESSL_TRY, CURLUSESSL_ALL,
	    CURLUSESSL_NONE };
	int rc = 0;

	rc |= curl_easy_setopt(r->easy, CURLOPT_URL, a->url);
	rc |= curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	if (!a->smtps)
		rc |= curl_easy_setopt(r->easy, CURLOPT_USE_SSL,
		    ssl[a->starttls]);
	if (sm->user != NULL) {
		rc |= curl_easy_setopt(r->easy, CURLOPT_USERNAME, sm->user);
		rc |= curl_easy_setopt(r->easy, CURLOPT_PASSWORD,
		    sm->password);
	}
	rc |= curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	rc |= curl_easy_setopt(r->easy, CURLOPT_DEBUGFUNCTION, smtp_debug_cb);
	rc |= curl_easy_setopt(r->easy, CURLOPT_DEBUGDATA, r);
	rc |= curl_easy_setopt(r->easy, CURLOPT_VERBOSE, 1L);
	rc |= curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, smtp_write_cb);
	if (r->d != NULL) {
		rc |= curl_easy_setopt(r->easy, CURLOPT_MAIL_FROM,
		    sm->mail_from);
		rc |= curl_easy_setopt(r->easy, CURLOPT_MAIL_RCPT, r->rcpt);
		rc |= curl_easy_setopt(r->easy, CURLOPT_READFUNCTION,
		    smtp_read_cb);
		rc |= curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
		rc |= curl_easy_setopt(r->easy, CURLOPT_UPLOAD, 1L);
		rc |= curl_easy_setopt(r->easy, CURLOPT_INFILESIZE_LARGE,
		    (curl_off_t)r->len);
	} else
		rc |= curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "NOOP");
	if (rc != 0 || curl_opts_apply(r->easy, &a->curl,
	    sm->ch->conf->timeout_ms) == -1)
		return (-1);
	return (0);
}

static size_t
smtp_read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct smtp_req *r = arg;
	size_t len = size * n;

	if (len > r->len - r->off)
		len = r->len - r->off;
	memcpy(buf, r->msg + r->off, len);
	r->off += len;
	return (len);
}

/* What a NOOP answers arrives as data: not needed. */
static size_t
smtp_write_cb(char *buf, size_t size, size_t n, void *arg)
{
	(void)buf;
	(void)arg;
	return (size * n);
}

/*
 * libcurl's protocol trace, used only to keep the relay's first error
 * reply ("550 5.1.1 <bob@example.org>: no such user") for the error: the
 * last reply is the QUIT's "221 Bye". Nothing we send (AUTH included) is
 * looked at or logged.
 */
static int
smtp_debug_cb(CURL *easy, curl_infotype type, char *data, size_t len,
    void *arg)
{
	struct smtp_req *r = arg;
	size_t i;

	(void)easy;
	if (type != CURLINFO_HEADER_IN || len < 3 || r->reply[0] != '\0' ||
	    (data[0] != '4' && data[0] != '5'))
		return (0);
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len > SMTP_REPLY_KEEP)
		len = SMTP_REPLY_KEEP;
	for (i = 0; i < len; i++)
		r->reply[i] = (unsigned char)data[i] < 0x20 ? ' ' : data[i];
	r->reply[len] = '\0';
	return (0);
}

static enum delivery_outcome
smtp_judge(struct smtp_req *r, CURLcode result, char *error, size_t errlen)
{
	long code = 0;

	if (result == CURLE_OK)
		return (OUTCOME_DELIVERED);
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code >= 400 && code <= 599) {
		snprintf(error, errlen, "SMTP %ld: %s (%s)", code,
		    r->reply[0] != '\0' ? r->reply : "(no text)",
		    r->errbuf[0] != '\0' ? r->errbuf :
		    curl_easy_strerror(result));
		return (code < 500 ? OUTCOME_RETRYABLE : OUTCOME_PERMANENT);
	}
	snprintf(error, errlen, "%s%s%s", curl_easy_strerror(result),
	    r->errbuf[0] != '\0' ? ": " : "", r->errbuf);
	return (curl_result_retryable(result) ? OUTCOME_RETRYABLE :
	    OUTCOME_PERMANENT);
}

static void
smtp_done_cb(CURL *easy, CURLcode result, void *arg)
{
	struct smtp_req *r = arg;
	struct channel *ch = r->sm->ch;
	struct delivery *d = r->d;
	enum delivery_outcome outcome;
	char error[700];
	long code = 0;
	int ok;

	(void)easy;
	if (d == NULL) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		ok = result == CURLE_OK && code >= 200 && code <= 399;
		snprintf(error, sizeof(error), "probe: NOOP: %s%s%s",
		    result != CURLE_OK ? curl_easy_strerror(result) : "",
		    result != CURLE_OK && r->reply[0] ? ": " : "", r->reply);
		smtp_req_free(r);
		breaker_probe_done(ch, ok, ok ? NULL : error);
		return;
	}
	outcome = smtp_judge(r, result, error, sizeof(error));
	smtp_req_free(r);
	channel_done(ch, d, outcome, outcome == OUTCOME_DELIVERED ? NULL :
	    error);
}

/* A probe: connect, EHLO, NOOP, QUIT. */
static int
smtp_probe(struct channel *ch, char *err, size_t errlen)
{
	struct smtp *sm = ch->state;
	struct smtp_req *r;

	if (sm->probe != NULL) {
		snprintf(err, errlen, "the previous probe has not ended");
		return (-1);
	}
	if ((r = smtp_req_new(sm, NULL)) == NULL || smtp_req_setup(r) == -1 ||
	    curl_loop_add(sm->loop, r->easy, smtp_done_cb, r) == -1) {
		if (r != NULL)
			smtp_req_free(r);
		snprintf(err, errlen, "cannot start the probe (out of "
		    "memory)");
		return (-1);
	}
	sm->probe = r;
	return (0);
}

static void
smtp_stop(struct channel *ch)
{
	struct smtp *sm = ch->state;
	struct smtp_req *r;
	struct delivery *d;

	while ((r = TAILQ_FIRST(&sm->reqs)) != NULL) {
		curl_loop_cancel(sm->loop, r->easy);
		d = r->d;
		smtp_req_free(r);
		if (d != NULL)
			channel_done(ch, d, OUTCOME_RETRYABLE,
			    "channel stopped");
	}
	smtp_free(sm);
	ch->state = NULL;
}
