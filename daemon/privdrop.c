/*
 * privdrop.c: root is needed only to bind (a low port, a socket in a
 * directory of root's) and to open the spool and channel files; after
 * that the daemon runs as an ordinary user. The drop is the classic one of
 * the OpenBSD daemons: the group list first (only the new group stays),
 * then the gid, then the uid, every id (real, effective, saved) at once so
 * that none is left to climb back through. glibc applies each of these to
 * every thread, libzmq's I/O threads included. Then each is read back, and
 * root must be out of reach: a drop that cannot be verified stops the
 * daemon rather than let it run half-privileged.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privdrop.h"

static int	privdrop_verify(const struct privdrop *, char *, size_t);

int
privdrop_check_user(const char *name, char *err, size_t errlen)
{
	errno = 0;
	if (getpwnam(name) != NULL)
		return (0);
	snprintf(err, errlen, "no user '%s' on this host%s%s", name,
	    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
	return (-1);
}

int
privdrop_check_group(const char *name, char *err, size_t errlen)
{
	errno = 0;
	if (getgrnam(name) != NULL)
		return (0);
	snprintf(err, errlen, "no group '%s' on this host%s%s", name,
	    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
	return (-1);
}

int
privdrop_resolve(const char *user, const char *group, struct privdrop *pd,
    char *err, size_t errlen)
{
	struct passwd *pw;
	struct group *gr;

	memset(pd, 0, sizeof(*pd));
	if (user == NULL)
		return (0);
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user %s: no such user on this host",
		    user);
		return (-1);
	}
	pd->uid = pw->pw_uid;
	pd->gid = pw->pw_gid;
	if (strlcpy(pd->user, user, sizeof(pd->user)) >= sizeof(pd->user)) {
		snprintf(err, errlen, "user %s: name too long", user);
		return (-1);
	}
	if (group == NULL) {
		if ((gr = getgrgid(pd->gid)) != NULL)
			strlcpy(pd->group, gr->gr_name, sizeof(pd->group));
		else
			snprintf(pd->group, sizeof(pd->group), "%u",
			    (unsigned)pd->gid);
	} else {
		if ((gr = getgrnam(group)) == NULL) {
			snprintf(err, errlen, "group %s: no such group on "
			    "this host", group);
			return (-1);
		}
		pd->gid = gr->gr_gid;
		if (strlcpy(pd->group, group, sizeof(pd->group)) >=
		    sizeof(pd->group)) {
			snprintf(err, errlen, "group %s: name too long", group);
			return (-1);
		}
	}
	pd->wanted = 1;
	return (0);
}

int
privdrop_apply(const struct privdrop *pd, char *err, size_t errlen)
{
	if (geteuid() != 0)
		return (1);
	if (setgroups(1, &pd->gid) == -1) {
		snprintf(err, errlen, "setgroups(%u): %s", (unsigned)pd->gid,
		    strerror(errno));
		return (-1);
	}
	if (setresgid(pd->gid, pd->gid, pd->gid) == -1) {
		snprintf(err, errlen, "setresgid(%u): %s", (unsigned)pd->gid,
		    strerror(errno));
		return (-1);
	}
	if (setresuid(pd->uid, pd->uid, pd->uid) == -1) {
		snprintf(err, errlen, "setresuid(%u): %s", (unsigned)pd->uid,
		    strerror(errno));
		return (-1);
	}
	return (privdrop_verify(pd, err, errlen));
}

/* Every id is the new one, and root cannot be taken back. */
static int
privdrop_verify(const struct privdrop *pd, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[2];
	int n;

	if (getresuid(&ru, &eu, &su) == -1 || ru != pd->uid ||
	    eu != pd->uid || su != pd->uid) {
		snprintf(err, errlen, "after setresuid(%u) the uids are "
		    "%u/%u/%u", (unsigned)pd->uid, (unsigned)ru, (unsigned)eu,
		    (unsigned)su);
		return (-1);
	}
	if (getresgid(&rg, &eg, &sg) == -1 || rg != pd->gid ||
	    eg != pd->gid || sg != pd->gid) {
		snprintf(err, errlen, "after setresgid(%u) the gids are "
		    "%u/%u/%u", (unsigned)pd->gid, (unsigned)rg, (unsigned)eg,
		    (unsigned)sg);
		return (-1);
	}
	if ((n = getgroups(2, groups)) != 1 || groups[0] != pd->gid) {
		snprintf(err, errlen, "after setgroups(%u) the process is in "
		    "%d groups", (unsigned)pd->gid, n);
		return (-1);
	}
	if (pd->uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		snprintf(err, errlen, "uid 0 could be taken back after "
		    "dropping to uid %u", (unsigned)pd->uid);
		return (-1);
	}
	if (pd->uid != 0 && pd->gid != 0 && (setgid(0) != -1 ||
	    setegid(0) != -1)) {
		snprintf(err, errlen, "gid 0 could be taken back after "
		    "dropping to gid %u", (unsigned)pd->gid);
		return (-1);
	}
	return (0);
}
