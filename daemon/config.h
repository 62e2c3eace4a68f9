/*
 * config.h: the routing file (libconfig) parsed into an immutable config
 * object. No sockets and no events here: loading a config touches nothing,
 * so that a reload can be validated completely before it replaces the
 * running one.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <libconfig.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "limit.h"
#include "match.h"
#include "notice.h"
#include "tod.h"

struct adapter_ops;
struct auth_key;
struct route_index;

/* Every error of a load, each "file:line: what is wrong". */
#define CONFIG_ERRORS_MAX	64
struct config_errors {
	char	*msgs[CONFIG_ERRORS_MAX];
	size_t	 n;
	size_t	 dropped;	/* past CONFIG_ERRORS_MAX */
};

void	config_error(struct config_errors *, const config_setting_t *,
	    const char *, ...) __attribute__((format(printf, 3, 4)));
void	config_errors_clear(struct config_errors *);
/* Where a setting is, for messages: "channels.bulletin.retry.max". */
const char *config_setting_path(const config_setting_t *, char *, size_t);

enum channel_mode {
	MODE_ACTIVE = 0,
	MODE_PILOT,
	MODE_DISABLED
};

struct retry_policy {
	int	max;		/* attempts after the first */
	int64_t	backoff_ms;
	int64_t	backoff_max_ms;
};

/* health_check { interval; max_failures; }: probes and circuit breaker. */
struct health_policy {
	int	enabled;		/* the channel has health_check */
	int64_t	interval_ms;
	int	max_failures;		/* 0: never opens */
};

struct channel_conf {
	char			*name;
	int			 line;
	const struct adapter_ops *ops;
	void			*args;		/* from ops->check, ops-owned */
	char			*owner;
	struct glob_list	 audiences;	/* empty: any audience */
	enum channel_mode	 mode;
	int			 pilot_percent;
	int64_t			 timeout_ms;
	struct retry_policy	 retry;
	int			*fallback;	/* channel indices */
	size_t			 nfallback;
	int			 queue_max;
	int			 queue_max_bytes; /* memory its deliveries hold */
	int			 concurrency;
	double			 cost;		/* per delivery */
	char			*quiet_hours;	/* as written, or NULL */
	struct tod_window	 quiet;		/* valid when quiet_hours */
	struct health_policy	 health;
	const struct config	*config;	/* the config it is part of */
	const config_setting_t	*setting;	/* valid while config lives */
};

/*
 * Response-time rules (SPEC §5). The config holds one per class; a route
 * may override any field (0 / NULL there: inherit the class's).
 */
#define POLICY_AT_MAX	24
struct policy {
	int64_t	deliver_within_ms;	/* realtime, interactive; batch from
					   the flush */
	int64_t	window_ms;		/* batch */
	int	max_items;		/* batch */
	char	**at_names;		/* batch: "HH:MM" as written */
	size_t	 nat_names;
	int	 at[POLICY_AT_MAX];	/* minutes after local midnight */
	size_t	 nat;
	int64_t	respond_within_ms;	/* interactive */
	char	*escalation_name;	/* interactive */
	int	 escalation;		/* index in config, or -1 */
};

/* One level of an escalation chain. */
struct esc_level {
	int		 line;
	int64_t		 after_ms;	/* after the previous step */
	int		*channels;
	size_t		 nchannels;
};

struct escalation {
	char		*name;
	int		 line;
	struct esc_level *levels;
	size_t		 nlevels;
	int		 repeat;	/* further rounds after the first */
	int64_t		 expire_after_ms; /* after the last level; 0: its
					     own after */
};

struct route {
	char			*name;
	int			 line;
	struct match		 match;
	int			*channels;	/* indices into config.channels */
	size_t			 nchannels;
	int			*fallback;
	size_t			 nfallback;
	int			 cont;		/* "continue" */
	struct policy		 policy;	/* overrides; 0 = inherit */
};

struct classify_rule {
	int			 line;
	struct match		 match;
	enum notice_class	 class;
};


#define INGRESS_ENDPOINTS_MAX	16
struct config {
	char			*path;
	char			 hash[17];	/* of the file's bytes, hex */
	config_t		 lc;		/* options of adapters point here */

	char			*log_level;
	int64_t			 shutdown_timeout_ms;
	char			*user;		/* privileges dropped to */
	char			*group;

	char			**router;	/* endpoints */
	size_t			 nrouter;
	char			**pull;
	size_t			 npull;
	int			 max_message_size;
	int			 rcvhwm;
	int			 sndhwm;
	int			 reply_queue_max;
	int			 reply_queue_max_bytes;
	char			*curve_secret_key_file;	/* NULL: no CURVE */
	int			 plain_loopback;
	struct auth_key		*auth_keys;	/* ingress.authorized_keys */
	size_t			 nauth_keys;

	char			*spool_path;
	int			 spool_sync;	/* 1 normal, 0 off */
	int64_t			 dedup_window_ms;
	int64_t			 retain_ms;

	char			*status_socket;
	uid_t			*admin_uids;
	size_t			 nadmin_uids;

	int			 trust_hint;
	struct classify_rule	*rules;
	size_t			 nrules;

	char			*timezone;
	struct policy		 policies[CLASS_COUNT];
	struct escalation	*escalations;
	size_t			 nescalations;
	struct limit_conf	*limits;
	size_t			 nlimits;
	char			*owner_channel_name;
	char			*http_public_url;	/* for ack links */
	char			*http_ack_secret_file;
	char			*http_ack_secret_previous_file;
	char			*http_listen;		/* NULL: no HTTP */
	int			 owner_channel;	/* index, or -1 */

	struct channel_conf	*channels;
	size_t			 nchannels;
	struct route		*routes;
	size_t			 nroutes;
	struct route_index	*route_index;	/* NULL: every route tried */
};

/*
 * Load and validate a whole file. Returns a new config, or NULL with every
 * error in errs. The caller owns the result (config_free).
 */
struct config	*config_load(const char *path, struct config_errors *errs);
void		 config_free(struct config *);
int		 config_channel_index(const struct config *, const char *);
/*
 * Whether a key of a channel group is a common option, checked by config.c
 * (adapters' check skips these and rejects any other key of its own).
 */
int		 config_channel_common(const char *key);
/* The rules for a notice of a class sent by a route (NULL: none). */
void		 config_policy(const struct config *, const struct route *,
		    enum notice_class, struct policy *out);
int		 config_escalation_index(const struct config *, const char *);
/* Two optional strings of a config: both NULL, or equal. */
int		 config_same_string(const char *, const char *);
/*
 * Whether a reload can keep a channel's running instance: its adapter
 * options, type and health check are as they were (other common options
 * may differ: they are read from the conf at each use).
 */
int		 config_channel_same(const struct channel_conf *,
		    const struct channel_conf *);
/* The option table as a Markdown table: docs/config.md is made from it. */
void		 config_dump_options(FILE *);

#endif /* CONFIG_H */
