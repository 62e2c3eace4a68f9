/*
 * acktoken.h: the token of an ack link (SPEC §6, GET|POST /v1/ack/ID?t=T):
 * HMAC-SHA256 of the notice id under the daemon's ack secret, in lower-case
 * hex, so that a link in a mail acknowledges exactly its own notice and
 * nobody can make one without the secret.
 */
#ifndef ACKTOKEN_H
#define ACKTOKEN_H

#include <stddef.h>

#define ACKTOKEN_LEN	64	/* hex digits */

/* out gets ACKTOKEN_LEN digits and a NUL. Returns 0, or -1. */
int	acktoken_make(const unsigned char *secret, size_t secretlen,
	    const char *id, char out[ACKTOKEN_LEN + 1]);
/* 1 when token is the id's, compared in constant time; else 0. */
int	acktoken_check(const unsigned char *secret, size_t secretlen,
	    const char *id, const char *token);

#endif /* ACKTOKEN_H */
