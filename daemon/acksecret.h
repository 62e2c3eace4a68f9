/*
 * acksecret.h: the daemon's ack secrets (SPEC §6): the one ack links are
 * made with (http.ack_secret_file) and, during a rotation, the one before
 * it (http.ack_secret_previous_file), whose links are still honoured. One
 * copy for the whole daemon, read at start and at each reload, so that the
 * channels that write links and the HTTP side that checks them always
 * agree; kept in this process's memory only, never logged.
 */
#ifndef ACKSECRET_H
#define ACKSECRET_H

#include <stddef.h>

#include "acktoken.h"

struct config;

/* At start: read both files, if set. -1 with err naming the file. */
int	acksecret_load(const struct config *, char *err, size_t errlen);
/*
 * At a reload: read them again and take what they hold now. A file that
 * cannot be read keeps the secrets running (warned): a reload must not
 * break the links, nor fail because of them.
 */
void	acksecret_reload(const struct config *);
/* The secret links are made with now; NULL (no ack links) when none. */
const unsigned char *acksecret_current(size_t *len);
/* 1 when token is id's under the current or the previous secret. */
int	acksecret_verify(const char *id, const char *token);
/* At exit: wiped and freed. */
void	acksecret_clear(void);

#endif /* ACKSECRET_H */
