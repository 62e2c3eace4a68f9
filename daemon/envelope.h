/*
 * envelope.h: the wire format (SPEC §2). Parses one request's JSON, once and
 * straight into a notice (or an ack or a ping), enforcing every rule of the
 * field table; encodes replies.
 */
#ifndef ENVELOPE_H
#define ENVELOPE_H

#include <stddef.h>

#include "notice.h"
#include "sb_protocol.h"

enum envelope_type {
	ENVELOPE_NOTICE = 0,
	ENVELOPE_ACK,
	ENVELOPE_PING
};

struct envelope_error {
	enum sb_error	code;
	char		id[SB_ID_MAX + 1];	/* "" when not known */
	char		field[64];		/* "" when none */
	char		message[256];
};

struct ack {
	char	ref[SB_ID_MAX + 1];
	char	by[4 * SB_BY_MAX + 1];		/* UTF-8 */
	char	*note;				/* NULL when absent */
	int	score;				/* 0 when absent */
};

struct envelope {
	enum envelope_type	 type;
	struct notice		*notice;	/* ENVELOPE_NOTICE; owned */
	struct ack		 ack;		/* ENVELOPE_ACK */
};

/*
 * Parse one request. max_size is ingress.max_message_size: larger input is
 * too_large without being parsed. On success returns 0 and fills env (the
 * caller owns env->notice and env->ack.note: envelope_clear). On failure
 * returns -1, fills err and keeps nothing.
 */
int	envelope_parse(const char *buf, size_t len, size_t max_size,
	    struct envelope *env, struct envelope_error *err);
void	envelope_clear(struct envelope *);
/*
 * Parse what notice_encode() wrote (read back from the spool): the wire
 * rules plus the fields the broker adds (id, class, received_at; source is
 * absent when anonymous). Returns a new notice with json set, or NULL.
 */
struct notice	*envelope_parse_stored(const char *buf, size_t len,
		    struct envelope_error *err);

/* Replies, as malloc'd JSON strings (length in *len). */
char	*envelope_reply_notice(const struct notice *, const char **channels,
	    size_t nchannels, int duplicate, size_t *len);
char	*envelope_reply_ack(const char *ref, long long response_ms,
	    size_t *len);
char	*envelope_reply_pong(size_t *len);
char	*envelope_reply_error(const struct envelope_error *, size_t *len);
/* Fill an error from a code and a printf-style message. */
void	envelope_error_set(struct envelope_error *, enum sb_error,
	    const char *field, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

#endif /* ENVELOPE_H */
