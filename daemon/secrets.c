/*
 * secrets.c: a channel's secret files and their digests (see secrets.h).
 * An HMAC-SHA256 of the contents under a key drawn at random once a
 * process, not the contents nor a plain hash: nothing kept here would
 * help guess a short password from a dump of the daemon's memory.
 */
#include <sys/random.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "log.h"
#include "render.h"
#include "secrets.h"

#define SECRETS_DIGEST	32	/* HMAC-SHA256 */

struct secret_file {
	char		*path;
	unsigned char	 digest[SECRETS_DIGEST];
};

struct channel_secrets {
	struct secret_file	*files;
	size_t			 n;
};

static unsigned char	secrets_key[32];
static int		secrets_keyed;

static int
secrets_digest(const char *buf, size_t len, unsigned char *md)
{
	unsigned int mdlen = 0;

	if (!secrets_keyed) {
		if (getrandom(secrets_key, sizeof(secrets_key), 0) !=
		    (ssize_t)sizeof(secrets_key))
			return (-1);
		secrets_keyed = 1;
	}
	return (HMAC(EVP_sha256(), secrets_key, sizeof(secrets_key),
	    (const unsigned char *)buf, len, md, &mdlen) != NULL &&
	    mdlen == SECRETS_DIGEST ? 0 : -1);
}

int
secrets_read(struct channel *ch, const char *path, char **out, size_t *len,
    char *err, size_t errlen)
{
	struct channel_secrets *s = ch->secrets;
	struct secret_file *grown, *f;

	if (render_secret_read(path, out, len, err, errlen) == -1)
		return (-1);
	if (s == NULL && (s = ch->secrets = calloc(1, sizeof(*s))) == NULL)
		goto nomem;
	if ((grown = reallocarray(s->files, s->n + 1, sizeof(*grown))) ==
	    NULL)
		goto nomem;
	s->files = grown;
	f = &s->files[s->n];
	if ((f->path = strdup(path)) == NULL)
		goto nomem;
	if (secrets_digest(*out, *len, f->digest) == -1) {
		free(f->path);
		snprintf(err, errlen, "secret file %s: cannot take its digest",
		    path);
		goto fail;
	}
	s->n++;
	return (0);
nomem:
	snprintf(err, errlen, "secret file %s: out of memory", path);
fail:
	explicit_bzero(*out, *len);
	free(*out);
	*out = NULL;
	return (-1);
}

const char *
secrets_changed(const struct channel *ch)
{
	const struct channel_secrets *s = ch->secrets;
	unsigned char md[SECRETS_DIGEST];
	char why[512], *buf;
	size_t i, len;
	int same;

	for (i = 0; s != NULL && i < s->n; i++) {
		if (render_secret_read(s->files[i].path, &buf, &len, why,
		    sizeof(why)) == -1) {
			log_warnx("channel %s keeps the secret it read at its "
			    "start: %s", ch->name, why);
			continue;
		}
		same = secrets_digest(buf, len, md) == 0 &&
		    memcmp(md, s->files[i].digest, sizeof(md)) == 0;
		explicit_bzero(buf, len);
		free(buf);
		if (!same)
			return (s->files[i].path);
	}
	return (NULL);
}

void
secrets_free(struct channel *ch)
{
	struct channel_secrets *s = ch->secrets;
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		free(s->files[i].path);
	free(s->files);
	free(s);
	ch->secrets = NULL;
}
