/*
 * secrets.h: the secret files a channel read when it started (a webhook's
 * url_file and header_files, an SMTP auth_file), remembered by a keyed
 * digest of what they held, so that a reload can tell a rotated secret and
 * start the channel anew on it. The secrets themselves are not kept here.
 */
#ifndef SECRETS_H
#define SECRETS_H

#include <stddef.h>

struct channel;

/*
 * Read a secret file for ch (render_secret_read()'s rules: *out is
 * malloc'd, the caller wipes and frees it) and remember its digest.
 */
int		 secrets_read(struct channel *, const char *path, char **out,
		    size_t *len, char *err, size_t errlen);
/*
 * The first of ch's secret files that now holds something else, or NULL.
 * A file that cannot be read now counts as unchanged (logged): the
 * channel keeps the secret it has rather than stop on a reload.
 */
const char	*secrets_changed(const struct channel *);
void		 secrets_free(struct channel *);

#endif
