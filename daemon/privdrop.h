/*
 * privdrop.h: giving up root. Started as root with `user` (and `group`)
 * set, switchboardd binds its sockets and opens the spool and the channels
 * first, then becomes that user and group for good: setgroups, setgid and
 * setuid, each checked, and a check that root cannot be had back.
 */
#ifndef PRIVDROP_H
#define PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

struct privdrop {
	int	 wanted;	/* user is set */
	uid_t	 uid;
	gid_t	 gid;
	char	 user[64];
	char	 group[64];
};

/* Config checks: the user or group exists on this host; 0, or -1 and err. */
int	privdrop_check_user(const char *, char *err, size_t errlen);
int	privdrop_check_group(const char *, char *err, size_t errlen);
/*
 * Look the user (and group; NULL: the user's login group) up now, before
 * anything is opened, so that a typo stops the start. user NULL: nothing
 * is wanted. 0, or -1 with err.
 */
int	privdrop_resolve(const char *user, const char *group,
	    struct privdrop *, char *err, size_t errlen);
/*
 * Become pd's user and group for good. Not root: nothing changes and 1 is
 * returned (the caller warns). 0 when done and verified; -1 with err when
 * any step failed or could be undone (the caller must not go on).
 */
int	privdrop_apply(const struct privdrop *, char *err, size_t errlen);

#endif /* PRIVDROP_H */
