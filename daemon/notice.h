/*
 * notice.h: a notice as accepted from a publisher, and its vocabulary
 * (classes, priorities, goals, audience kinds).
 */
#ifndef NOTICE_H
#define NOTICE_H

#include <stddef.h>
#include <stdint.h>

#include "sb_protocol.h"

enum notice_class {
	CLASS_NONE = -1,
	CLASS_REALTIME = 0,
	CLASS_BATCH,
	CLASS_INTERACTIVE,
	CLASS_COUNT
};

enum notice_priority {
	PRIORITY_LOW = 0,
	PRIORITY_NORMAL,
	PRIORITY_HIGH,
	PRIORITY_URGENT,
	PRIORITY_COUNT
};

enum notice_goal {
	GOAL_INFORM = 0,
	GOAL_COLLECT,
	GOAL_RESOLVE,
	GOAL_RELATE,
	GOAL_COUNT
};

enum audience_kind {
	AUDIENCE_STAFF = 0,
	AUDIENCE_DEPT,
	AUDIENCE_ROLE,
	AUDIENCE_GROUP,
	AUDIENCE_MGMT,
	AUDIENCE_CUSTOMER,
	AUDIENCE_PARTNER,
	AUDIENCE_PUBLIC,
	AUDIENCE_COUNT
};

struct notice_tag {
	char	*key;
	char	*value;
};

/*
 * A notice owns every string it points to. It is reference counted because
 * each delivery of it to a channel holds it until that delivery ends.
 */
struct notice {
	char			 id[SB_ID_MAX + 1];
	int			 id_assigned;	/* broker made the id */
	char			*source;	/* NULL only when read back
						   anonymous from the spool */
	char			**audience;	/* "kind:name" or "public" */
	size_t			 naudience;
	char			*subject;
	char			*body;		/* NULL when absent */
	enum notice_priority	 priority;
	enum notice_goal	 goal;
	enum notice_class	 class_hint;	/* CLASS_NONE when absent */
	int64_t			 respond_within_ms; /* 0 when absent */
	struct notice_tag	*tags;
	size_t			 ntags;
	int			 anonymous;

	enum notice_class	 class;		/* set by classify */
	int64_t			 received_ms;	/* wall clock, ms since epoch */
	char			*json;		/* canonical form for channels */
	size_t			 json_len;
	int			 refs;
};

struct notice	*notice_new(void);
void		 notice_ref(struct notice *);
void		 notice_unref(struct notice *);	/* frees on last reference */
void		 notice_assign_id(struct notice *);
int		 notice_encode(struct notice *);	/* fills json */
/* What a notice held in memory counts against a queue_max_bytes. */
size_t		 notice_held_bytes(const struct notice *);
/*
 * when_ms as RFC 3339, UTC, with milliseconds (24 bytes, as received_at);
 * a time whose year is not four digits as "N ms".
 */
void		 notice_time_format(int64_t when_ms, char *, size_t);
const char	*notice_tag(const struct notice *, const char *);
struct notice	*notice_new_internal(const char *event, const char *ref,
		    const char *owners, const char *subject, const char *body);

/* Names of the enums above, for the wire, the config and the logs. */
const char	*notice_class_name(enum notice_class);
const char	*notice_priority_name(enum notice_priority);
const char	*notice_goal_name(enum notice_goal);
const char	*notice_audience_kind_name(enum audience_kind);
/* Name lookups: return the value or -1. */
int		 notice_class_parse(const char *);
int		 notice_priority_parse(const char *);
int		 notice_goal_parse(const char *);
int		 notice_audience_kind_parse(const char *, size_t);

#endif /* NOTICE_H */
