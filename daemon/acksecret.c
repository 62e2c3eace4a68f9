/*
 * acksecret.c: the daemon's ack links (see acksecret.h). A rotation is the
 * admin's to pace: the new secret in http.ack_secret_file, the old one in
 * http.ack_secret_previous_file for as long as links made with it may
 * still be clicked, then the option removed. Nothing is remembered across
 * a reload or a restart but what the two files hold, and a reload that
 * cannot read them fails, so a leaked secret is revoked by one reload
 * that no longer names it, or that reload says why not.
 */
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acksecret.h"
#include "acktoken.h"
#include "config.h"
#include "log.h"
#include "render.h"

struct acksecret_key {
	unsigned char	*bytes;		/* NULL: none */
	size_t		 len;
};

struct acksecret_set {
	struct acksecret_key	 current;
	struct acksecret_key	 previous;
	char			*url;		/* public_url, no final '/' */
	const char		*current_path;	/* the config's, for the log */
	const char		*previous_path;
};

static struct acksecret_set	 acksecret;	/* running */
static struct acksecret_set	 staged;	/* read by a reload */

static int	acksecret_read(const struct config *, struct acksecret_set *,
		    char *, size_t);
static int	acksecret_key_read(const char *, const char *,
		    struct acksecret_key *, char *, size_t);
static int	acksecret_key_same(const struct acksecret_key *,
		    const struct acksecret_key *);
static void	acksecret_key_clear(struct acksecret_key *);
static void	acksecret_set_clear(struct acksecret_set *);
static void	acksecret_log_change(const struct acksecret_set *,
		    const struct acksecret_set *);

int
acksecret_load(const struct config *cf, char *err, size_t errlen)
{
	struct acksecret_set set;

	if (acksecret_read(cf, &set, err, errlen) == -1)
		return (-1);
	acksecret_set_clear(&acksecret);
	acksecret = set;
	return (0);
}

int
acksecret_stage(const struct config *cf, char *err, size_t errlen)
{
	acksecret_unstage();
	return (acksecret_read(cf, &staged, err, errlen));
}

void
acksecret_commit(void)
{
	acksecret_log_change(&acksecret, &staged);
	acksecret_set_clear(&acksecret);
	acksecret = staged;
	memset(&staged, 0, sizeof(staged));
}

void
acksecret_unstage(void)
{
	acksecret_set_clear(&staged);
}

int
acksecret_enabled(void)
{
	return (acksecret.current.bytes != NULL);
}

const char *
acksecret_link(const unsigned char **secret, size_t *len)
{
	*secret = acksecret.current.bytes;
	*len = acksecret.current.len;
	return (*secret != NULL ? acksecret.url : NULL);
}

int
acksecret_verify(const char *id, const char *token)
{
	const struct acksecret_key *k[2] = { &acksecret.current,
	    &acksecret.previous };
	size_t i;

	for (i = 0; i < 2; i++)
		if (k[i]->bytes != NULL &&
		    acktoken_check(k[i]->bytes, k[i]->len, id, token))
			return (1);
	return (0);
}

void
acksecret_clear(void)
{
	acksecret_set_clear(&acksecret);
	acksecret_set_clear(&staged);
}

/* What a reload changed, said without a byte of either secret. */
static void
acksecret_log_change(const struct acksecret_set *was,
    const struct acksecret_set *now)
{
	if (acksecret_key_same(&was->current, &now->current)) {
		if (!acksecret_key_same(&was->previous, &now->previous))
			log_info("ack secret previous=%s", now->previous_path ?
			    now->previous_path : "none");
	} else if (now->current.bytes == NULL)
		log_info("ack links off: http.ack_secret_file is not set");
	else if (was->current.bytes == NULL)
		log_info("ack links on: links are made with %s",
		    now->current_path);
	else
		log_info("ack secret rotated: new links are made with %s; %s",
		    now->current_path, now->previous.bytes != NULL ?
		    "links made with http.ack_secret_previous_file still work" :
		    "links made with any other secret no longer work");
}

/* Both files of cf into set, or -1 with nothing kept. */
static int
acksecret_read(const struct config *cf, struct acksecret_set *set, char *err,
    size_t errlen)
{
	size_t len;

	memset(set, 0, sizeof(*set));
	set->current_path = cf->http_ack_secret_file;
	set->previous_path = cf->http_ack_secret_previous_file;
	if (cf->http_public_url != NULL) {
		if ((set->url = strdup(cf->http_public_url)) == NULL) {
			snprintf(err, errlen, "http.public_url: out of memory");
			return (-1);
		}
		len = strlen(set->url);
		while (len > 0 && set->url[len - 1] == '/')
			set->url[--len] = '\0';
	}
	if (acksecret_key_read("http.ack_secret_file",
	    cf->http_ack_secret_file, &set->current, err, errlen) == -1 ||
	    acksecret_key_read("http.ack_secret_previous_file",
	    cf->http_ack_secret_previous_file, &set->previous, err,
	    errlen) == -1) {
		acksecret_set_clear(set);
		return (-1);
	}
	return (0);
}

/* path NULL: no key, 0. */
static int
acksecret_key_read(const char *option, const char *path,
    struct acksecret_key *k, char *err, size_t errlen)
{
	char *bytes, why[512];
	size_t len;

	if (path == NULL)
		return (0);
	if (render_secret_read(path, &bytes, &len, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "%s: %s", option, why);
		return (-1);
	}
	k->bytes = (unsigned char *)bytes;
	k->len = len;
	return (0);
}

/* Compared in constant time like the tokens themselves. */
static int
acksecret_key_same(const struct acksecret_key *a,
    const struct acksecret_key *b)
{
	if (a->bytes == NULL || b->bytes == NULL)
		return (a->bytes == b->bytes);
	return (a->len == b->len && CRYPTO_memcmp(a->bytes, b->bytes,
	    a->len) == 0);
}

static void
acksecret_key_clear(struct acksecret_key *k)
{
	if (k->bytes != NULL) {
		explicit_bzero(k->bytes, k->len);
		free(k->bytes);
	}
	k->bytes = NULL;
	k->len = 0;
}

static void
acksecret_set_clear(struct acksecret_set *set)
{
	acksecret_key_clear(&set->current);
	acksecret_key_clear(&set->previous);
	free(set->url);
	memset(set, 0, sizeof(*set));
}
