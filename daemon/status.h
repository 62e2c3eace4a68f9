/*
 * status.h: the status socket (SPEC §6; the protocol is
 * include/sb_status.h): a Unix stream socket at status.socket, mode 0660,
 * one command a line and one JSON object a line back. Also what the HTTP
 * side shares with it: the status report and the ack of a notice.
 */
#ifndef STATUS_H
#define STATUS_H

#include <stddef.h>
#include <sys/types.h>

#include "sb_protocol.h"

struct event_base;
struct spool;

/*
 * Listen on the running config's status.socket. Refuses (-1, err) when
 * another process answers there or the path is something else than a
 * socket; a stale socket left by a crash is removed.
 */
int	status_init(struct event_base *, struct spool *, char *err,
	    size_t errlen);
/* Give the socket to the user root is about to become (as root only). */
int	status_chown(uid_t, gid_t, char *err, size_t errlen);
/* Close every client and the socket, and remove the socket file. */
void	status_shutdown(void);
/* The answer to "status" (GET /v1/status): malloc'd JSON, or NULL. */
char	*status_report(size_t *len);
/*
 * Acknowledge a notice on behalf of by, as a wire-protocol ack would, and
 * commit it. Returns the wire reply (malloc'd JSON, or NULL when out of
 * memory); *code says how it went.
 */
char	*status_ack(const char *id, const char *by, enum sb_error *code,
	    size_t *len);
/* Whether id is a notice id as the wire protocol allows one. */
int	status_id_valid(const char *id);

#endif /* STATUS_H */
