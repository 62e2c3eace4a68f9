/*
 * acksecret.c: the daemon's ack secrets (see acksecret.h). A rotation is
 * the admin's to pace: the new secret in http.ack_secret_file, the old
 * one in http.ack_secret_previous_file for as long as links made with it
 * may still be clicked, then the option removed. Nothing is remembered
 * across a reload or a restart but what the two files hold, so a leaked
 * secret is revoked by one reload that no longer names it.
 */
#include <openssl/crypto.h>
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
};

static struct acksecret_set	 acksecret;

static int	acksecret_read(const struct config *, struct acksecret_set *,
		    char *, size_t);
static int	acksecret_key_read(const char *, const char *,
		    struct acksecret_key *, char *, size_t);
static int	acksecret_key_same(const struct acksecret_key *,
		    const struct acksecret_key *);
static void	acksecret_key_clear(struct acksecret_key *);
static void	acksecret_set_clear(struct acksecret_set *);

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

void
acksecret_reload(const struct config *cf)
{
	struct acksecret_set set;
	char err[640];
	int rotated, prev_changed;

	if (acksecret_read(cf, &set, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; ack links keep the secrets they had",
		    err);
		return;
	}
	rotated = !acksecret_key_same(&set.current, &acksecret.current);
	prev_changed = !acksecret_key_same(&set.previous, &acksecret.previous);
	if (rotated && set.current.bytes == NULL)
		log_info("ack links off: http.ack_secret_file is not set");
	else if (rotated && acksecret.current.bytes == NULL)
		log_info("ack links on: links are made with %s",
		    cf->http_ack_secret_file);
	else if (rotated)
		log_info("ack secret rotated: new links are made with %s; %s",
		    cf->http_ack_secret_file, set.previous.bytes != NULL ?
		    "links made with http.ack_secret_previous_file still work" :
		    "links made with any other secret no longer work");
	else if (prev_changed)
		log_info("ack secret previous=%s",
		    set.previous.bytes != NULL ?
		    cf->http_ack_secret_previous_file : "none");
	acksecret_set_clear(&acksecret);
	acksecret = set;
}

const unsigned char *
acksecret_current(size_t *len)
{
	*len = acksecret.current.len;
	return (acksecret.current.bytes);
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
}

/* Both files of cf into set, or -1 with nothing kept. */
static int
acksecret_read(const struct config *cf, struct acksecret_set *set, char *err,
    size_t errlen)
{
	memset(set, 0, sizeof(*set));
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
}
