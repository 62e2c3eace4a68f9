/*
 * acksecret.h: the daemon's ack links (SPEC §6): the secret they are made
 * with (http.ack_secret_file), during a rotation the one before it
 * (http.ack_secret_previous_file), whose links are still honoured, and the
 * address they point at (http.public_url). One copy for the whole daemon,
 * read at start and at each reload, so that the channels that write links
 * and the HTTP side that checks them always agree; the secrets are kept in
 * this process's memory only, never logged.
 */
#ifndef ACKSECRET_H
#define ACKSECRET_H

#include <stddef.h>

struct config;

/* At start: read both files, if set. -1 with err naming the file. */
int	acksecret_load(const struct config *, char *err, size_t errlen);
/*
 * A reload reads them first (-1 with err: the reload fails, nothing
 * changes), then either takes what it read, once nothing else can fail,
 * or drops it.
 */
int	acksecret_stage(const struct config *, char *err, size_t errlen);
void	acksecret_commit(void);
void	acksecret_unstage(void);
/* Whether ack links are checked at all (a secret file is set). */
int	acksecret_enabled(void);
/*
 * What the next link is made of: http.public_url without its trailing
 * '/' and the current secret; NULL (no links) unless both are set.
 * Borrowed until the next commit.
 */
const char *acksecret_link(const unsigned char **secret, size_t *len);
/* 1 when token is id's under the current or the previous secret. */
int	acksecret_verify(const char *id, const char *token);
/* At exit: wiped and freed. */
void	acksecret_clear(void);

#endif /* ACKSECRET_H */
