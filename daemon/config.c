/*
 * config.c: the routing file (libconfig) parsed into an immutable struct
 * config. One table says every option's path, type, range, default, where
 * it is stored and what it means; a single walker applies it to the top
 * level and to each channel, rule and route, so there is no if-chain per
 * key and docs/config.md is printed from the same table. The structured
 * parts (classify rules, channels, routes, channel names) are read by code
 * around the walker. Every error is collected as "file:line: what is wrong"
 * so that an admin fixes a file in one pass. No sockets, no events.
 */
#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "auth.h"
#include "config.h"
#include "duration.h"
#include "http.h"
#include "match.h"
#include "notice.h"
#include "privdrop.h"
#include "route.h"
#include "route_index.h"

enum opt_type {
	OPT_INT,	/* int */
	OPT_NUMBER,	/* double: an integer or a decimal */
	OPT_BOOL,	/* int, 0 or 1 */
	OPT_STRING,	/* char *, not empty */
	OPT_WORD,	/* char *, one of names */
	OPT_ENUM,	/* int, the index in names */
	OPT_DURATION,	/* int64_t ms */
	OPT_STRINGS,	/* char ** and a size_t count at off_n */
	OPT_UIDS,	/* uid_t * and a size_t count at off_n */
	OPT_AUDIENCES,	/* struct glob_list of audience globs */
	OPT_GROUP,	/* a group of further options */
	OPT_SECTION	/* read by code; here for the key check and docs */
};

#define OPT_REQUIRED	0x1

struct option {
	const char		*path;	/* "channels.<name>.retry.max" */
	enum opt_type		 type;
	int			 flags;
	long long		 min;	/* ints; durations in ms */
	long long		 max;	/* also the most list entries */
	const char		*def;	/* as written in a file; NULL: none */
	size_t			 off;
	size_t			 off_n;
	const char *const	*names;	/* OPT_WORD, OPT_ENUM */
	int			(*check)(const char *, char *, size_t);
	const char		*what;	/* the type, for docs (sections) */
	const char		*doc;
};

/* Scopes of the walker: where each table path starts. */
#define SCOPE_TOP	""
#define SCOPE_RULE	"classify.rules[]"
#define SCOPE_CHANNEL	"channels.<name>"
#define SCOPE_ROUTE	"routes[]"
#define SCOPE_ESC	"escalations.<name>"
#define SCOPE_LEVEL	"escalations.<name>.levels[]"
#define SCOPE_LIMIT	"limits[]"
#define SCOPE_KEY	"ingress.authorized_keys[]"

#define SEC		1000LL
#define MIN		(60 * SEC)
#define HOUR		(60 * MIN)
#define DAY		(24 * HOUR)

#define C(f)		offsetof(struct config, f)
#define CH(f)		offsetof(struct channel_conf, f)
#define RT(f)		offsetof(struct route, f)
#define RL(f)		offsetof(struct classify_rule, f)
#define POL(c, f)	offsetof(struct config, policies[c].f)
#define ES(f)		offsetof(struct escalation, f)
#define EL(f)		offsetof(struct esc_level, f)
#define LM(f)		offsetof(struct limit_conf, f)
#define AK(f)		offsetof(struct auth_key, f)

static int	check_endpoint(const char *, char *, size_t);
static int	check_http_url(const char *, char *, size_t);
static int	check_timezone(const char *, char *, size_t);
static int	check_tod(const char *, char *, size_t);
static int	check_window(const char *, char *, size_t);

static const char *const level_names[] = { "error", "warn", "info",
	"debug", NULL };
static const char *const sync_names[] = { "off", "normal", NULL };
static const char *const mode_names[] = { "active", "pilot", "disabled",
	NULL };
static const char *const action_names[] = { "demote", "reject", NULL };
/* In enum notice_class order (the unit test holds notice.c to it). */
static const char *const class_names[] = { "realtime", "batch",
	"interactive", NULL };

static const struct option options[] = {
	{ .path = "log_level", .type = OPT_WORD, .def = "info",
	  .off = C(log_level), .names = level_names,
	  .doc = "How much the daemon logs to stderr (journald)." },
	{ .path = "shutdown_timeout", .type = OPT_DURATION, .def = "5s",
	  .min = 100, .max = HOUR, .off = C(shutdown_timeout_ms),
	  .doc = "How long SIGTERM waits for channel queues to drain." },
	{ .path = "user", .type = OPT_STRING, .off = C(user),
	  .check = privdrop_check_user,
	  .doc = "Started as root, the user the daemon becomes for good once "
	  "its sockets are bound and its spool and channels are open. "
	  "Absent: it runs as started (warned when that is root). A change "
	  "takes effect at the next start." },
	{ .path = "group", .type = OPT_STRING, .off = C(group),
	  .check = privdrop_check_group,
	  .doc = "The group it becomes, its only group. Absent: the user's "
	  "login group. Needs user." },
	{ .path = "timezone", .type = OPT_STRING, .def = "UTC",
	  .off = C(timezone), .check = check_timezone,
	  .doc = "The zone of batch `at` times and quiet hours (a name "
	  "under /usr/share/zoneinfo, such as Europe/Berlin)." },
	{ .path = "notify", .type = OPT_GROUP,
	  .doc = "Where the daemon tells people about the daemon's own "
	  "events." },
	{ .path = "notify.owner_channel", .type = OPT_STRING,
	  .off = C(owner_channel_name),
	  .doc = "The channel that tells channel owners of expired notices "
	  "and of channels that fail. Absent: such events are only logged "
	  "and counted." },

	{ .path = "http", .type = OPT_GROUP,
	  .doc = "The HTTP side (SPEC section 6): ack links in mails and "
	  "chat messages." },
	{ .path = "http.listen", .type = OPT_STRING,
	  .off = C(http_listen), .check = http_listen_check,
	  .doc = "HOST:PORT (\"127.0.0.1:8080\", \"[::1]:8080\") of /metrics, "
	  "/healthz, /v1/status and the ack links. Absent: no HTTP." },
	{ .path = "http.public_url", .type = OPT_STRING,
	  .off = C(http_public_url), .check = check_http_url,
	  .doc = "The daemon's HTTP address as people reach it, such as "
	  "\"https://switchboard.example.org\"; ack links are "
	  "URL/v1/ack/ID?t=TOKEN. Needs ack_secret_file. Absent: no links." },
	{ .path = "http.ack_secret_file", .type = OPT_STRING,
	  .off = C(http_ack_secret_file),
	  .doc = "A file holding the secret that ack tokens are made with "
	  "(HMAC-SHA256 of the notice id); read at start and at each reload, "
	  "never logged." },
	{ .path = "http.ack_secret_previous_file", .type = OPT_STRING,
	  .off = C(http_ack_secret_previous_file),
	  .doc = "During a rotation: a file holding the secret before the "
	  "current one, whose links are still accepted (no new link is made "
	  "with it). Remove it, and reload, to revoke them." },

	{ .path = "ingress", .type = OPT_GROUP,
	  .doc = "Where publishers connect (SPEC section 2)." },
	{ .path = "ingress.router", .type = OPT_STRINGS,
	  .max = INGRESS_ENDPOINTS_MAX, .off = C(router), .off_n = C(nrouter),
	  .check = check_endpoint,
	  .doc = "ROUTER endpoints (tcp:// or ipc://): the reliable path, "
	  "one reply a request. At least one of router and pull is needed." },
	{ .path = "ingress.pull", .type = OPT_STRINGS,
	  .max = INGRESS_ENDPOINTS_MAX, .off = C(pull), .off_n = C(npull),
	  .check = check_endpoint,
	  .doc = "PULL endpoints: fire and forget, no reply." },
	{ .path = "ingress.max_message_size", .type = OPT_INT,
	  .def = "65536", .min = 256, .max = 16 * 1024 * 1024,
	  .off = C(max_message_size),
	  .doc = "Bytes; a larger request is refused with too_large "
	  "unparsed." },
	{ .path = "ingress.rcvhwm", .type = OPT_INT, .def = "10000",
	  .min = 1, .max = 10000000, .off = C(rcvhwm),
	  .doc = "ZeroMQ receive high-water mark, in messages." },
	{ .path = "ingress.sndhwm", .type = OPT_INT, .def = "10000",
	  .min = 1, .max = 10000000, .off = C(sndhwm),
	  .doc = "ZeroMQ send high-water mark, in messages." },
	{ .path = "ingress.reply_queue_max", .type = OPT_INT, .def = "10000",
	  .min = 1, .max = 10000000, .off = C(reply_queue_max),
	  .doc = "Replies waiting for a slow client before ingress stops "
	  "reading." },
	{ .path = "ingress.reply_queue_max_bytes", .type = OPT_INT,
	  .def = "8388608", .min = 65536, .max = 1024 * 1024 * 1024,
	  .off = C(reply_queue_max_bytes),
	  .doc = "Bytes those waiting replies may hold; reaching it stops "
	  "reading too." },
	{ .path = "ingress.curve_secret_key_file", .type = OPT_STRING,
	  .off = C(curve_secret_key_file),
	  .doc = "The server's CURVE secret key (made by sbctl keygen; not "
	  "readable by others). Set: every tcp:// endpoint asks for CURVE "
	  "and only authorized_keys may connect; ipc:// stays plain. Read "
	  "at start: a change needs a restart." },
	{ .path = "ingress.plain_loopback", .type = OPT_BOOL, .def = "false",
	  .off = C(plain_loopback),
	  .doc = "With CURVE: tcp:// endpoints on loopback addresses "
	  "(127.0.0.0/8, ::1, localhost) stay plain too." },
	{ .path = "ingress.authorized_keys", .type = OPT_SECTION,
	  .what = "list of keys",
	  .doc = "The CURVE clients that may connect, each with what it may "
	  "publish (docs/security.md). Needs curve_secret_key_file; a "
	  "reload applies to open connections too." },
	{ .path = SCOPE_KEY ".key", .type = OPT_STRING, .flags = OPT_REQUIRED,
	  .off = AK(key), .check = auth_key_check,
	  .doc = "The client's public key: 40 characters of Z85, as sbctl "
	  "keygen writes it." },
	{ .path = SCOPE_KEY ".name", .type = OPT_STRING, .off = AK(name),
	  .doc = "Named in unauthorized replies and in logs. Absent: the "
	  "key's first 8 characters." },
	{ .path = SCOPE_KEY ".sources", .type = OPT_SECTION,
	  .flags = OPT_REQUIRED, .what = "glob or list",
	  .doc = "Sources the key may publish as (\"billing\", "
	  "\"billing-*\"; \"*\": any)." },
	{ .path = SCOPE_KEY ".audiences", .type = OPT_AUDIENCES,
	  .flags = OPT_REQUIRED, .off = AK(audiences),
	  .doc = "Audiences it may reach: every audience entry of its "
	  "notices must match one (\"customer:*\"; \"*\": any)." },

	{ .path = "spool", .type = OPT_GROUP,
	  .doc = "Where accepted notices are kept (SPEC section 7)." },
	{ .path = "spool.path", .type = OPT_STRING, .def = "var/spool.db",
	  .off = C(spool_path),
	  .doc = "The SQLite database (WAL mode)." },
	{ .path = "spool.sync", .type = OPT_ENUM, .def = "normal",
	  .off = C(spool_sync), .names = sync_names,
	  .doc = "normal: an ok reply means the notice is on disk; off: no "
	  "fsync, faster, a crash loses the last notices." },
	{ .path = "spool.dedup_window", .type = OPT_DURATION, .def = "24h",
	  .min = SEC, .max = DURATION_MAX_MS, .off = C(dedup_window_ms),
	  .doc = "How long an accepted id is remembered, so a resent notice "
	  "is answered duplicate and not routed again (and longer while a "
	  "delivery of it is still pending)." },
	{ .path = "spool.retain", .type = OPT_DURATION, .def = "30d",
	  .min = HOUR, .max = DURATION_MAX_MS, .off = C(retain_ms),
	  .doc = "How long outcomes, acks and escalations are kept for "
	  "reports." },

	{ .path = "status", .type = OPT_GROUP,
	  .doc = "The status socket (SPEC section 6)." },
	{ .path = "status.socket", .type = OPT_STRING,
	  .def = "var/switchboard.sock", .off = C(status_socket),
	  .doc = "Path of the Unix socket (mode 0660)." },
	{ .path = "status.admin_uids", .type = OPT_UIDS, .min = 0,
	  .max = UINT32_MAX - 1, .off = C(admin_uids),
	  .off_n = C(nadmin_uids),
	  .doc = "Uids, besides root and the daemon's own, allowed the "
	  "changing commands (ack, pause, resume, reload)." },

	{ .path = "classify", .type = OPT_GROUP,
	  .doc = "How a notice gets its class (SPEC section 3)." },
	{ .path = "classify.trust_hint", .type = OPT_BOOL, .def = "false",
	  .off = C(trust_hint),
	  .doc = "Whether a publisher's class hint is taken when no rule "
	  "matched." },
	{ .path = "classify.rules", .type = OPT_SECTION,
	  .what = "list of rules",
	  .doc = "Tried in order, the first match decides the class." },
	{ .path = SCOPE_RULE ".match", .type = OPT_SECTION,
	  .what = "match group",
	  .doc = "What the rule matches (as a route's match, without "
	  "class); absent: every notice." },
	{ .path = SCOPE_RULE ".class", .type = OPT_ENUM,
	  .flags = OPT_REQUIRED, .off = RL(class), .names = class_names,
	  .doc = "The class a matching notice gets." },

	{ .path = "policies", .type = OPT_GROUP,
	  .doc = "Response-time rules per class (SPEC section 5)." },
	{ .path = "policies.realtime", .type = OPT_GROUP,
	  .doc = "Realtime notices." },
	{ .path = "policies.realtime.deliver_within", .type = OPT_DURATION,
	  .def = "5s", .min = 100, .max = DAY,
	  .off = POL(CLASS_REALTIME, deliver_within_ms),
	  .doc = "A delivery not done by then fails over to the fallback "
	  "channels; the miss is counted." },
	{ .path = "policies.batch", .type = OPT_GROUP,
	  .doc = "Batch notices, sent as digests." },
	{ .path = "policies.batch.window", .type = OPT_DURATION,
	  .def = "15m", .min = SEC, .max = DAY,
	  .off = POL(CLASS_BATCH, window_ms),
	  .doc = "How long a digest collects before it is flushed." },
	{ .path = "policies.batch.max_items", .type = OPT_INT, .def = "100",
	  .min = 1, .max = 100000, .off = POL(CLASS_BATCH, max_items),
	  .doc = "A digest is flushed early when it holds this many." },
	{ .path = "policies.batch.deliver_within", .type = OPT_DURATION,
	  .def = "5m", .min = 100, .max = DAY,
	  .off = POL(CLASS_BATCH, deliver_within_ms),
	  .doc = "Counted from the flush." },
	{ .path = "policies.batch.at", .type = OPT_STRINGS,
	  .max = POLICY_AT_MAX, .off = POL(CLASS_BATCH, at_names),
	  .off_n = POL(CLASS_BATCH, nat_names), .check = check_tod,
	  .doc = "Times of day (\"HH:MM\", in timezone) at which every "
	  "digest is flushed as well." },
	{ .path = "policies.interactive", .type = OPT_GROUP,
	  .doc = "Interactive notices, which expect an ack." },
	{ .path = "policies.interactive.respond_within", .type = OPT_DURATION,
	  .def = "4h", .min = SEC, .max = DURATION_MAX_MS,
	  .off = POL(CLASS_INTERACTIVE, respond_within_ms),
	  .doc = "For a notice that gives no respond_within of its own." },
	{ .path = "policies.interactive.deliver_within", .type = OPT_DURATION,
	  .def = "5s", .min = 100, .max = DAY,
	  .off = POL(CLASS_INTERACTIVE, deliver_within_ms),
	  .doc = "As for realtime: interactive notices go out at once." },
	{ .path = "policies.interactive.escalation", .type = OPT_STRING,
	  .off = POL(CLASS_INTERACTIVE, escalation_name),
	  .doc = "The escalation chain of a notice not acked in time. "
	  "Absent: it expires at its deadline and the owners are told." },

	{ .path = "escalations", .type = OPT_SECTION, .what = "group",
	  .doc = "Escalation chains; the key is the chain's name." },
	{ .path = SCOPE_ESC ".levels", .type = OPT_SECTION,
	  .flags = OPT_REQUIRED, .what = "list of levels",
	  .doc = "Fired in turn while the notice stays unacked." },
	{ .path = SCOPE_ESC ".repeat", .type = OPT_INT, .def = "0",
	  .min = 0, .max = 100, .off = ES(repeat),
	  .doc = "How many more times the chain runs after its first "
	  "round." },
	{ .path = SCOPE_ESC ".expire_after", .type = OPT_DURATION,
	  .min = SEC, .max = DURATION_MAX_MS, .off = ES(expire_after_ms),
	  .doc = "After the last level, how long before the notice expires "
	  "and the owners are told. Absent: the last level's after." },
	{ .path = SCOPE_LEVEL ".after", .type = OPT_DURATION,
	  .min = SEC, .max = DURATION_MAX_MS, .off = EL(after_ms),
	  .doc = "Wait after the previous step (for the first level: after "
	  "the response deadline; absent there: at the deadline)." },
	{ .path = SCOPE_LEVEL ".channels", .type = OPT_SECTION,
	  .flags = OPT_REQUIRED, .what = "string or list",
	  .doc = "Channels that get the escalation notice." },

	{ .path = "limits", .type = OPT_SECTION, .what = "list of limits",
	  .doc = "Frequency caps, checked in order." },
	{ .path = SCOPE_LIMIT ".name", .type = OPT_STRING,
	  .flags = OPT_REQUIRED, .off = LM(name),
	  .doc = "Named in rate_limited replies and logs." },
	{ .path = SCOPE_LIMIT ".match", .type = OPT_SECTION,
	  .what = "match group",
	  .doc = "The notices the cap counts (source, audience, ...)." },
	{ .path = SCOPE_LIMIT ".max", .type = OPT_INT, .flags = OPT_REQUIRED,
	  .min = 1, .max = 1000000, .off = LM(max),
	  .doc = "At most this many notices per period." },
	{ .path = SCOPE_LIMIT ".per", .type = OPT_DURATION,
	  .flags = OPT_REQUIRED, .min = SEC, .max = DURATION_MAX_MS,
	  .off = LM(per_ms), .doc = "The sliding period." },
	{ .path = SCOPE_LIMIT ".action", .type = OPT_ENUM, .def = "demote",
	  .off = LM(action), .names = action_names,
	  .doc = "Over the cap: demote to batch, or reject with "
	  "rate_limited." },
	{ .path = SCOPE_LIMIT ".urgent_bypass", .type = OPT_BOOL,
	  .def = "false", .off = LM(urgent_bypass),
	  .doc = "Whether urgent notices pass a full cap." },

	{ .path = "channels", .type = OPT_SECTION, .what = "group",
	  .doc = "One group per channel; the key is the channel's name." },
	{ .path = SCOPE_CHANNEL ".type", .type = OPT_SECTION,
	  .flags = OPT_REQUIRED, .what = "string",
	  .doc = "The adapter: file, exec, zmq_pub, webhook, smtp or "
	  "discard. Its own options sit beside the common ones (see "
	  "below)." },
	{ .path = SCOPE_CHANNEL ".owner", .type = OPT_STRING,
	  .off = CH(owner),
	  .doc = "Who answers for the channel; told when a notice expires." },
	{ .path = SCOPE_CHANNEL ".audiences", .type = OPT_AUDIENCES,
	  .off = CH(audiences),
	  .doc = "Audience globs the channel may carry; a notice reaches it "
	  "only if every audience entry matches one. Absent: any." },
	{ .path = SCOPE_CHANNEL ".mode", .type = OPT_ENUM, .def = "active",
	  .off = CH(mode), .names = mode_names,
	  .doc = "pilot: a shadow copy of pilot_percent of the traffic; "
	  "disabled: never used." },
	{ .path = SCOPE_CHANNEL ".pilot_percent", .type = OPT_INT,
	  .def = "10", .min = 0, .max = 100, .off = CH(pilot_percent),
	  .doc = "The share of notices a pilot channel takes (by notice id, "
	  "so a rerun agrees)." },
	{ .path = SCOPE_CHANNEL ".timeout", .type = OPT_DURATION,
	  .def = "10s", .min = 100, .max = HOUR, .off = CH(timeout_ms),
	  .doc = "Limit of one delivery attempt." },
	{ .path = SCOPE_CHANNEL ".retry", .type = OPT_GROUP,
	  .doc = "Retries of a failed attempt, with exponential backoff." },
	{ .path = SCOPE_CHANNEL ".retry.max", .type = OPT_INT, .def = "3",
	  .min = 0, .max = 100, .off = CH(retry.max),
	  .doc = "Attempts after the first." },
	{ .path = SCOPE_CHANNEL ".retry.backoff", .type = OPT_DURATION,
	  .def = "1s", .min = 10, .max = HOUR, .off = CH(retry.backoff_ms),
	  .doc = "Wait before the first retry; it grows with each retry "
	  "up to backoff_max." },
	{ .path = SCOPE_CHANNEL ".retry.backoff_max", .type = OPT_DURATION,
	  .def = "5m", .min = 10, .max = DAY,
	  .off = CH(retry.backoff_max_ms),
	  .doc = "The longest wait between retries." },
	{ .path = SCOPE_CHANNEL ".fallback", .type = OPT_SECTION,
	  .what = "string or list",
	  .doc = "Channels that take a notice this one failed to deliver; "
	  "a cycle is an error." },
	{ .path = SCOPE_CHANNEL ".queue_max", .type = OPT_INT,
	  .def = "10000", .min = 1, .max = 10000000, .off = CH(queue_max),
	  .doc = "Deliveries waiting or in flight; beyond it the channel "
	  "takes no more." },
	{ .path = SCOPE_CHANNEL ".queue_max_bytes", .type = OPT_INT,
	  .def = "67108864", .min = 4096, .max = 1024 * 1024 * 1024,
	  .off = CH(queue_max_bytes),
	  .doc = "Bytes of memory its deliveries may hold (queued, in "
	  "flight, waiting to retry or for quiet hours to end, in a "
	  "digest; each counts its notice in full). Beyond it, notices "
	  "routed to it are refused with unavailable naming it." },
	{ .path = SCOPE_CHANNEL ".concurrency", .type = OPT_INT, .def = "4",
	  .min = 1, .max = 1024, .off = CH(concurrency),
	  .doc = "Deliveries in flight at once." },
	{ .path = SCOPE_CHANNEL ".cost", .type = OPT_NUMBER, .def = "0",
	  .min = 0, .max = 1000000, .off = CH(cost),
	  .doc = "What one delivery costs (in any unit the organisation "
	  "counts in); sbctl report multiplies it by the deliveries." },
	{ .path = SCOPE_CHANNEL ".quiet_hours", .type = OPT_STRING,
	  .off = CH(quiet_hours), .check = check_window,
	  .doc = "\"HH:MM-HH:MM\" in timezone: non-urgent deliveries wait "
	  "until the window ends; urgent ones go at once." },
	{ .path = SCOPE_CHANNEL ".health_check", .type = OPT_GROUP,
	  .doc = "Probes and a circuit breaker (docs/channels.md); absent: "
	  "neither." },
	{ .path = SCOPE_CHANNEL ".health_check.interval", .type = OPT_DURATION,
	  .def = "30s", .min = 100, .max = DAY,
	  .off = CH(health.interval_ms),
	  .doc = "How often the channel is probed, and how long its breaker "
	  "stays open before a probe may close it." },
	{ .path = SCOPE_CHANNEL ".health_check.max_failures", .type = OPT_INT,
	  .def = "5", .min = 0, .max = 1000, .off = CH(health.max_failures),
	  .doc = "Consecutive failures (deliveries or probes) that open the "
	  "breaker; 0: it never opens." },

	{ .path = "routes", .type = OPT_SECTION, .what = "list of routes",
	  .flags = OPT_REQUIRED,
	  .doc = "Tried in order; the first match wins unless it says "
	  "continue." },
	{ .path = SCOPE_ROUTE ".name", .type = OPT_STRING, .def = NULL,
	  .off = RT(name),
	  .doc = "For logs and the status socket; default route#N (N from "
	  "1)." },
	{ .path = SCOPE_ROUTE ".match", .type = OPT_SECTION,
	  .what = "match group",
	  .doc = "What the route takes; absent or empty: every notice." },
	{ .path = SCOPE_ROUTE ".channels", .type = OPT_SECTION,
	  .flags = OPT_REQUIRED, .what = "string or list",
	  .doc = "The channels a matching notice goes to." },
	{ .path = SCOPE_ROUTE ".fallback", .type = OPT_SECTION,
	  .what = "string or list",
	  .doc = "Channels that take over when a delivery of this route "
	  "fails." },
	{ .path = SCOPE_ROUTE ".continue", .type = OPT_BOOL, .def = "false",
	  .off = RT(cont),
	  .doc = "Go on matching the next routes; channels add up." },
	{ .path = SCOPE_ROUTE ".policy", .type = OPT_GROUP,
	  .doc = "Overrides of the class policies for this route's "
	  "notices." },
	{ .path = SCOPE_ROUTE ".policy.deliver_within", .type = OPT_DURATION,
	  .min = 100, .max = DAY, .off = RT(policy.deliver_within_ms),
	  .doc = "As policies.realtime.deliver_within." },
	{ .path = SCOPE_ROUTE ".policy.window", .type = OPT_DURATION,
	  .min = SEC, .max = DAY, .off = RT(policy.window_ms),
	  .doc = "As policies.batch.window." },
	{ .path = SCOPE_ROUTE ".policy.max_items", .type = OPT_INT,
	  .min = 1, .max = 100000, .off = RT(policy.max_items),
	  .doc = "As policies.batch.max_items." },
	{ .path = SCOPE_ROUTE ".policy.at", .type = OPT_STRINGS,
	  .max = POLICY_AT_MAX, .off = RT(policy.at_names),
	  .off_n = RT(policy.nat_names), .check = check_tod,
	  .doc = "As policies.batch.at." },
	{ .path = SCOPE_ROUTE ".policy.respond_within", .type = OPT_DURATION,
	  .min = SEC, .max = DURATION_MAX_MS,
	  .off = RT(policy.respond_within_ms),
	  .doc = "As policies.interactive.respond_within." },
	{ .path = SCOPE_ROUTE ".policy.escalation", .type = OPT_STRING,
	  .off = RT(policy.escalation_name),
	  .doc = "As policies.interactive.escalation." },
};
#define NOPTIONS	(sizeof(options) / sizeof(options[0]))

#define FIELD(base, off, type)	((type *)(void *)((char *)(base) + (off)))

static const char	*opt_leaf(const struct option *);
static int		 opt_in(const struct option *, const char *);
static const char	*opt_type_name(int);
static void		 opt_names(const struct option *, char *, size_t);
static void		 opt_default(const struct option *, void *,
			    struct config_errors *);
static const char	*opt_string(const struct option *,
			    const config_setting_t *, struct config_errors *);
static void		 opt_number(const struct option *,
			    const config_setting_t *, void *,
			    struct config_errors *);
static void		 opt_int(const struct option *,
			    const config_setting_t *, void *,
			    struct config_errors *);
static void		 opt_choice(const struct option *,
			    const config_setting_t *, void *,
			    struct config_errors *);
static void		 opt_duration(const struct option *,
			    const config_setting_t *, void *,
			    struct config_errors *);
static int		 opt_list(const config_setting_t *, const char *,
			    struct config_errors *);
static void		 opt_strings(const struct option *,
			    const config_setting_t *, void *,
			    struct config_errors *);
static void		 opt_uids(const struct option *,
			    const config_setting_t *, void *,
			    struct config_errors *);
static void		 opt_value(const struct option *,
			    const config_setting_t *, void *,
			    struct config_errors *);
static void		 opt_unknown(const config_setting_t *, const char *,
			    struct config_errors *);
static void		 opt_missing(const struct option *,
			    const config_setting_t *, struct config_errors *);
static void		 opt_load_group(const config_setting_t *,
			    const char *, void *, int, struct config_errors *);
static void		 opt_free_group(const char *, void *);
static void		 opt_dump_row(FILE *, const struct option *);
static size_t		 errs_count(const struct config_errors *);
static int		 config_hash_file(struct config *,
			    struct config_errors *);
static int		 config_parse(struct config *, struct config_errors *);
static void		 config_check_ingress(struct config *,
			    struct config_errors *);
static void		 config_load_rules(struct config *,
			    struct config_errors *);
static void		 config_load_channel(struct config *,
			    struct channel_conf *, const config_setting_t *,
			    struct config_errors *);
static void		 config_load_channels(struct config *,
			    struct config_errors *);
static void		 config_known_channels(const struct config *, char *,
			    size_t);
static int		 config_names(const struct config *,
			    const config_setting_t *, int **, size_t *,
			    struct config_errors *);
static void		 config_load_fallbacks(struct config *,
			    struct config_errors *);
static void		 config_fallback_visit(struct config *, int, char *,
			    int *, int, struct config_errors *);
static void		 config_load_route(struct config *, struct route *,
			    const config_setting_t *, size_t,
			    struct config_errors *);
static void		 config_load_routes(struct config *,
			    struct config_errors *);
static void		 config_free_rules(struct config *);
static void		 config_check_route_names(struct config *,
			    const config_setting_t *, struct config_errors *);
static void		 config_check_reach(struct config *,
			    struct config_errors *);
static void		 config_check_http(struct config *,
			    struct config_errors *);
static void		 config_check_user(struct config *,
			    struct config_errors *);
static void		 config_load_auth(struct config *,
			    struct config_errors *);
static void		 config_load_key(struct config *, struct auth_key *,
			    const config_setting_t *, int,
			    struct config_errors *);

/* An ack link starts with the daemon's public http(s) address. */
static int
check_http_url(const char *s, char *err, size_t len)
{
	if ((strncmp(s, "https://", 8) == 0 && s[8] != '\0') ||
	    (strncmp(s, "http://", 7) == 0 && s[7] != '\0'))
		return (0);
	snprintf(err, len, "'%s' is not an http:// or https:// URL", s);
	return (-1);
}

/* Endpoints as ZeroMQ takes them; only tcp and ipc are supported. */
static int
check_endpoint(const char *s, char *err, size_t len)
{
	if ((strncmp(s, "tcp://", 6) == 0 || strncmp(s, "ipc://", 6) == 0) &&
	    s[6] != '\0')
		return (0);
	snprintf(err, len, "'%s' is not a tcp:// or ipc:// endpoint", s);
	return (-1);
}

/*
 * A zone must exist: glibc takes an unknown TZ for UTC without a word,
 * which would shift every quiet hour and batch time in silence.
 */
static int
check_timezone(const char *s, char *err, size_t len)
{
	if (tod_zone_check(s) == 0)
		return (0);
	snprintf(err, len, "unknown time zone '%s' (expected a zone name "
	    "under /usr/share/zoneinfo, such as Europe/Berlin, or UTC, or "
	    "localtime)", s);
	return (-1);
}

static int
check_tod(const char *s, char *err, size_t len)
{
	if (tod_parse(s) != -1)
		return (0);
	snprintf(err, len, "'%s' is not a time of day (expected HH:MM, "
	    "00:00 to 23:59)", s);
	return (-1);
}

static int
check_window(const char *s, char *err, size_t len)
{
	struct tod_window w;

	if (tod_window_parse(s, &w) == 0)
		return (0);
	snprintf(err, len, "'%s' is not a daily window (expected "
	    "HH:MM-HH:MM with two different times, such as 22:00-07:00)", s);
	return (-1);
}

/*
 * Record one error as "file:line: message", the place taken from the
 * setting (none when s is NULL: the message names its file itself).
 */
void
config_error(struct config_errors *errs, const config_setting_t *s,
    const char *fmt, ...)
{
	const config_setting_t *p;
	const char *file = NULL;
	unsigned line = 0;
	char msg[768], *out;
	va_list ap;
	int n;

	if (errs == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (p = s; p != NULL && (file == NULL || line == 0); p = p->parent) {
		if (file == NULL)
			file = config_setting_source_file(p);
		if (line == 0)
			line = config_setting_source_line(p);
	}
	if (s == NULL)
		n = asprintf(&out, "%s", msg);
	else if (line == 0)
		n = asprintf(&out, "%s: %s", file ? file : "(config)", msg);
	else
		n = asprintf(&out, "%s:%u: %s", file ? file : "(config)", line,
		    msg);
	if (n == -1 || errs->n == CONFIG_ERRORS_MAX) {
		if (n != -1)
			free(out);
		errs->dropped++;
		return;
	}
	errs->msgs[errs->n++] = out;
}

void
config_errors_clear(struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	errs->n = 0;
	errs->dropped = 0;
}

static size_t
errs_count(const struct config_errors *errs)
{
	return (errs->n + errs->dropped);
}

/* The setting's place in the file: "channels.bulletin.retry.max". */
const char *
config_setting_path(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *parent;
	char idx[24];

	if (len == 0)
		return (buf);
	buf[0] = '\0';
	if (s == NULL || (parent = config_setting_parent(s)) == NULL)
		return (buf);
	config_setting_path(parent, buf, len);
	if (config_setting_name(s) != NULL) {
		if (buf[0] != '\0')
			strlcat(buf, ".", len);
		strlcat(buf, config_setting_name(s), len);
	} else {
		snprintf(idx, sizeof(idx), "[%d]", config_setting_index(s));
		strlcat(buf, idx, len);
	}
	return (buf);
}

static const char *
opt_leaf(const struct option *o)
{
	const char *dot = strrchr(o->path, '.');

	return (dot != NULL ? dot + 1 : o->path);
}

/*
 * Whether an option is a direct member of the group at prefix. It runs for
 * every option of the table at every route loaded and freed, so most
 * options are ruled out at their first character.
 */
static int
opt_in(const struct option *o, const char *prefix)
{
	const char *leaf = o->path, *p = prefix;

	while (*p != '\0' && *leaf == *p) {
		leaf++;
		p++;
	}
	if (*p != '\0')
		return (0);
	if (p != prefix && *leaf++ != '.')
		return (0);
	return (strchr(leaf, '.') == NULL);
}

static const char *
opt_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_GROUP:
		return ("a group");
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return ("an integer");
	case CONFIG_TYPE_FLOAT:
		return ("a decimal number");
	case CONFIG_TYPE_STRING:
		return ("a string");
	case CONFIG_TYPE_BOOL:
		return ("a boolean");
	case CONFIG_TYPE_ARRAY:
		return ("an array");
	case CONFIG_TYPE_LIST:
		return ("a list");
	}
	return ("nothing");
}

/* "a, b, c" from an option's names. */
static void
opt_names(const struct option *o, char *buf, size_t len)
{
	size_t i;

	buf[0] = '\0';
	for (i = 0; o->names[i] != NULL; i++) {
		if (i > 0)
			strlcat(buf, ", ", len);
		strlcat(buf, o->names[i], len);
	}
}

/* Store an option's default, as its table entry writes it. */
static void
opt_default(const struct option *o, void *base, struct config_errors *errs)
{
	char **sp = FIELD(base, o->off, char *);
	int64_t ms;
	int i;

	if (o->def == NULL)
		return;
	switch (o->type) {
	case OPT_INT:
		*FIELD(base, o->off, int) = (int)strtol(o->def, NULL, 10);
		return;
	case OPT_NUMBER:
		*FIELD(base, o->off, double) = strtod(o->def, NULL);
		return;
	case OPT_BOOL:
		*FIELD(base, o->off, int) = strcmp(o->def, "true") == 0;
		return;
	case OPT_STRING:
	case OPT_WORD:
		free(*sp);
		if ((*sp = strdup(o->def)) == NULL)
			config_error(errs, NULL, "%s: out of memory", o->path);
		return;
	case OPT_ENUM:
		for (i = 0; o->names[i] != NULL; i++)
			if (strcmp(o->names[i], o->def) == 0)
				*FIELD(base, o->off, int) = i;
		return;
	case OPT_DURATION:
		if (duration_parse(o->def, &ms) == -1)
			config_error(errs, NULL, "%s: bad built-in default "
			    "'%s'", o->path, o->def);
		else
			*FIELD(base, o->off, int64_t) = ms;
		return;
	default:
		return;
	}
}

/* The string value of an option, or NULL (reported). */
static const char *
opt_string(const struct option *o, const config_setting_t *s,
    struct config_errors *errs)
{
	char path[256];
	const char *v;

	/* The path is made only for a message: it costs a walk up the file. */
	if ((v = config_setting_get_string(s)) == NULL) {
		config_setting_path(s, path, sizeof(path));
		if (o->type == OPT_DURATION)
			config_error(errs, s, "%s: expected a duration string "
			    "such as \"%s\", not %s", path,
			    o->def != NULL ? o->def : "10s",
			    opt_type_name(config_setting_type(s)));
		else
			config_error(errs, s, "%s: expected a string, not %s",
			    path, opt_type_name(config_setting_type(s)));
		return (NULL);
	}
	if (*v == '\0') {
		config_error(errs, s, "%s: must not be empty",
		    config_setting_path(s, path, sizeof(path)));
		return (NULL);
	}
	return (v);
}

/* An integer within the option's range. */
static void
opt_int(const struct option *o, const config_setting_t *s, void *base,
    struct config_errors *errs)
{
	char path[256];
	long long v;

	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		config_error(errs, s, "%s: expected an integer, not %s",
		    config_setting_path(s, path, sizeof(path)),
		    opt_type_name(config_setting_type(s)));
		return;
	}
	v = config_setting_get_int64(s);
	if (v < o->min || v > o->max) {
		config_error(errs, s, "%s: %lld is out of range (%lld .. %lld)",
		    config_setting_path(s, path, sizeof(path)), v, o->min,
		    o->max);
		return;
	}
	*FIELD(base, o->off, int) = (int)v;
}

static void
opt_number(const struct option *o, const config_setting_t *s, void *base,
    struct config_errors *errs)
{
	char path[256];
	double v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = (double)config_setting_get_int64(s);
		break;
	case CONFIG_TYPE_FLOAT:
		v = config_setting_get_float(s);
		break;
	default:
		config_error(errs, s, "%s: expected a number, not %s",
		    config_setting_path(s, path, sizeof(path)),
		    opt_type_name(config_setting_type(s)));
		return;
	}
	if (!(v >= (double)o->min && v <= (double)o->max)) {
		config_error(errs, s, "%s: %g is out of range (%lld .. %lld)",
		    config_setting_path(s, path, sizeof(path)), v, o->min,
		    o->max);
		return;
	}
	*FIELD(base, o->off, double) = v;
}

/* OPT_WORD and OPT_ENUM: one of a fixed set of names. */
static void
opt_choice(const struct option *o, const config_setting_t *s, void *base,
    struct config_errors *errs)
{
	char path[256], expected[128];
	char **sp = FIELD(base, o->off, char *);
	const char *v;
	int i;

	if ((v = opt_string(o, s, errs)) == NULL)
		return;
	for (i = 0; o->names[i] != NULL; i++)
		if (strcmp(o->names[i], v) == 0)
			break;
	if (o->names[i] == NULL) {
		config_setting_path(s, path, sizeof(path));
		opt_names(o, expected, sizeof(expected));
		config_error(errs, s, "%s: '%s' is not one of: %s", path, v,
		    expected);
		return;
	}
	if (o->type == OPT_ENUM) {
		*FIELD(base, o->off, int) = i;
		return;
	}
	free(*sp);
	if ((*sp = strdup(o->names[i])) == NULL)
		config_error(errs, s, "%s: out of memory", o->path);
}

/* A duration string within the option's range, stored in ms. */
static void
opt_duration(const struct option *o, const config_setting_t *s, void *base,
    struct config_errors *errs)
{
	char path[256], lo[32], hi[32];
	const char *v;
	int64_t ms;

	if ((v = opt_string(o, s, errs)) == NULL)
		return;
	if (duration_parse(v, &ms) == -1) {
		config_setting_path(s, path, sizeof(path));
		config_error(errs, s, "%s: '%s' is not a duration (a whole "
		    "number and a unit, ms, s, m, h or d, such as \"%s\")",
		    path, v, o->def != NULL ? o->def : "10s");
		return;
	}
	if (ms < o->min || ms > o->max) {
		duration_format(o->min, lo, sizeof(lo));
		duration_format(o->max, hi, sizeof(hi));
		config_error(errs, s, "%s: %s is out of range (%s .. %s)",
		    config_setting_path(s, path, sizeof(path)), v, lo, hi);
		return;
	}
	*FIELD(base, o->off, int64_t) = ms;
}

/* How many values a scalar-or-list setting holds, or -1 (reported). */
static int
opt_list(const config_setting_t *s, const char *what,
    struct config_errors *errs)
{
	char path[256];

	if (config_setting_is_list(s) || config_setting_is_array(s))
		return (config_setting_length(s));
	if (!config_setting_is_group(s) && config_setting_is_scalar(s))
		return (1);
	config_setting_path(s, path, sizeof(path));
	config_error(errs, s, "%s: expected %s or a list of them, not %s",
	    path, what, opt_type_name(config_setting_type(s)));
	return (-1);
}

/* A string or a list of them, each checked by the option's check. */
static void
opt_strings(const struct option *o, const config_setting_t *s, void *base,
    struct config_errors *errs)
{
	char path[256], why[256];
	char ***arrp = FIELD(base, o->off, char **);
	size_t *np = FIELD(base, o->off_n, size_t);
	const config_setting_t *e;
	const char *v;
	int i, n;

	if ((n = opt_list(s, "a string", errs)) == -1)
		return;
	if (o->max > 0 && n > o->max) {
		config_error(errs, s, "%s: %d entries, at most %lld",
		    config_setting_path(s, path, sizeof(path)), n, o->max);
		return;
	}
	if ((*arrp = calloc((size_t)n + 1, sizeof(**arrp))) == NULL) {
		config_error(errs, s, "%s: out of memory",
		    config_setting_path(s, path, sizeof(path)));
		return;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_is_scalar(s) ? s :
		    config_setting_get_elem(s, (unsigned)i);
		if ((v = opt_string(o, e, errs)) == NULL)
			continue;
		if (o->check != NULL && o->check(v, why, sizeof(why)) == -1) {
			config_error(errs, e, "%s: %s",
			    config_setting_path(e, path, sizeof(path)), why);
			continue;
		}
		if (((*arrp)[*np] = strdup(v)) == NULL) {
			config_error(errs, e, "%s: out of memory",
			    config_setting_path(e, path, sizeof(path)));
			continue;
		}
		(*np)++;
	}
}

/* A uid or a list of them. */
static void
opt_uids(const struct option *o, const config_setting_t *s, void *base,
    struct config_errors *errs)
{
	uid_t **arrp = FIELD(base, o->off, uid_t *);
	size_t *np = FIELD(base, o->off_n, size_t);
	const config_setting_t *e;
	char path[256];
	long long v;
	int i, n;

	if ((n = opt_list(s, "a uid", errs)) == -1)
		return;
	if ((*arrp = calloc((size_t)n + 1, sizeof(**arrp))) == NULL) {
		config_error(errs, s, "%s: out of memory", o->path);
		return;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_is_scalar(s) ? s :
		    config_setting_get_elem(s, (unsigned)i);
		config_setting_path(e, path, sizeof(path));
		if (config_setting_type(e) != CONFIG_TYPE_INT &&
		    config_setting_type(e) != CONFIG_TYPE_INT64) {
			config_error(errs, e, "%s: expected a numeric uid, "
			    "not %s", path,
			    opt_type_name(config_setting_type(e)));
			continue;
		}
		v = config_setting_get_int64(e);
		if (v < o->min || v > o->max) {
			config_error(errs, e, "%s: %lld is not a uid", path, v);
			continue;
		}
		(*arrp)[(*np)++] = (uid_t)v;
	}
}

/* Check a value against its table entry and store it. */
static void
opt_value(const struct option *o, const config_setting_t *s, void *base,
    struct config_errors *errs)
{
	char **sp = FIELD(base, o->off, char *);
	char path[256], why[256];
	const char *v;

	switch (o->type) {
	case OPT_INT:
		opt_int(o, s, base, errs);
		break;
	case OPT_NUMBER:
		opt_number(o, s, base, errs);
		break;
	case OPT_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			config_error(errs, s, "%s: expected true or false, "
			    "not %s", config_setting_path(s, path,
			    sizeof(path)),
			    opt_type_name(config_setting_type(s)));
		else
			*FIELD(base, o->off, int) = config_setting_get_bool(s);
		break;
	case OPT_STRING:
		if ((v = opt_string(o, s, errs)) == NULL)
			break;
		if (o->check != NULL && o->check(v, why, sizeof(why)) == -1) {
			config_error(errs, s, "%s: %s",
			    config_setting_path(s, path, sizeof(path)), why);
			break;
		}
		free(*sp);
		if ((*sp = strdup(v)) == NULL)
			config_error(errs, s, "%s: out of memory",
			    config_setting_path(s, path, sizeof(path)));
		break;
	case OPT_WORD:
	case OPT_ENUM:
		opt_choice(o, s, base, errs);
		break;
	case OPT_DURATION:
		opt_duration(o, s, base, errs);
		break;
	case OPT_STRINGS:
		opt_strings(o, s, base, errs);
		break;
	case OPT_UIDS:
		opt_uids(o, s, base, errs);
		break;
	case OPT_AUDIENCES:
		glob_list_free(FIELD(base, o->off, struct glob_list));
		glob_list_compile_audience(FIELD(base, o->off,
		    struct glob_list), s, errs);
		break;
	case OPT_GROUP:
	case OPT_SECTION:
		break;
	}
}

/* A key no table entry knows: a typo, named with what was expected. */
static void
opt_unknown(const config_setting_t *s, const char *prefix,
    struct config_errors *errs)
{
	char where[256], expected[512];
	size_t i;

	expected[0] = '\0';
	for (i = 0; i < NOPTIONS; i++) {
		if (!opt_in(&options[i], prefix))
			continue;
		if (expected[0] != '\0')
			strlcat(expected, ", ", sizeof(expected));
		strlcat(expected, opt_leaf(&options[i]), sizeof(expected));
	}
	config_setting_path(config_setting_parent(s), where, sizeof(where));
	if (where[0] == '\0')
		config_error(errs, s, "unknown option '%s' (expected one of: "
		    "%s)", config_setting_name(s), expected);
	else
		config_error(errs, s, "unknown option '%s' in %s (expected "
		    "one of: %s)", config_setting_name(s), where, expected);
}

/* A required option the group lacks, with what it could be. */
static void
opt_missing(const struct option *o, const config_setting_t *group,
    struct config_errors *errs)
{
	char path[256], expected[128];

	config_setting_path(group, path, sizeof(path));
	if (o->names != NULL) {
		opt_names(o, expected, sizeof(expected));
		config_error(errs, group, "%s: missing '%s' (one of: %s)",
		    path, opt_leaf(o), expected);
	} else
		config_error(errs, group, "%s: missing '%s'", path,
		    opt_leaf(o));
}

/*
 * Apply the table to one group: defaults first, then the file's keys in
 * the file's order. group may be NULL (absent: defaults only). Unknown
 * keys are errors when strict; a channel leaves them to its adapter.
 */
static void
opt_load_group(const config_setting_t *group, const char *prefix,
    void *base, int strict, struct config_errors *errs)
{
	const struct option *o;
	const config_setting_t *s;
	char path[256];
	int i, n;

	for (o = options; o < options + NOPTIONS; o++) {
		if (!opt_in(o, prefix))
			continue;
		s = group != NULL ? config_setting_get_member(group,
		    opt_leaf(o)) : NULL;
		if (s != NULL)
			continue;
		if (o->type == OPT_GROUP)
			opt_load_group(NULL, o->path, base, 1, errs);
		else if ((o->flags & OPT_REQUIRED) && group != NULL &&
		    o->type != OPT_SECTION)
			opt_missing(o, group, errs);
		else
			opt_default(o, base, errs);
	}
	n = group != NULL ? config_setting_length(group) : 0;
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(group, (unsigned)i);
		for (o = options; o < options + NOPTIONS; o++)
			if (opt_in(o, prefix) &&
			    strcmp(opt_leaf(o), config_setting_name(s)) == 0)
				break;
		if (o == options + NOPTIONS) {
			if (strict)
				opt_unknown(s, prefix, errs);
			continue;
		}
		if (o->type != OPT_GROUP) {
			opt_value(o, s, base, errs);
			continue;
		}
		if (config_setting_is_group(s)) {
			opt_load_group(s, o->path, base, 1, errs);
			continue;
		}
		config_setting_path(s, path, sizeof(path));
		config_error(errs, s, "%s: expected a group { ... }, not %s",
		    path, opt_type_name(config_setting_type(s)));
		opt_load_group(NULL, o->path, base, 1, errs);
	}
}

/* Free what the table's options of one scope allocated. */
static void
opt_free_group(const char *prefix, void *base)
{
	const struct option *o;
	char **strs;
	size_t i, *np;

	for (o = options; o < options + NOPTIONS; o++) {
		if (!opt_in(o, prefix))
			continue;
		switch (o->type) {
		case OPT_GROUP:
			opt_free_group(o->path, base);
			break;
		case OPT_STRING:
		case OPT_WORD:
			free(*FIELD(base, o->off, char *));
			*FIELD(base, o->off, char *) = NULL;
			break;
		case OPT_STRINGS:
			strs = *FIELD(base, o->off, char **);
			np = FIELD(base, o->off_n, size_t);
			for (i = 0; strs != NULL && i < *np; i++)
				free(strs[i]);
			free(strs);
			*FIELD(base, o->off, char **) = NULL;
			*np = 0;
			break;
		case OPT_UIDS:
			free(*FIELD(base, o->off, uid_t *));
			*FIELD(base, o->off, uid_t *) = NULL;
			*FIELD(base, o->off_n, size_t) = 0;
			break;
		case OPT_AUDIENCES:
			glob_list_free(FIELD(base, o->off, struct glob_list));
			break;
		default:
			break;
		}
	}
}

int
config_channel_common(const char *key)
{
	size_t i;

	for (i = 0; i < NOPTIONS; i++)
		if (opt_in(&options[i], SCOPE_CHANNEL) &&
		    strcmp(opt_leaf(&options[i]), key) == 0)
			return (1);
	return (0);
}

/* FNV-1a (64 bits) of the file's bytes: which file a daemon runs. */
static int
config_hash_file(struct config *cf, struct config_errors *errs)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	unsigned char buf[8192];
	size_t n, i;
	FILE *f;

	if ((f = fopen(cf->path, "r")) == NULL) {
		config_error(errs, NULL, "%s: cannot open: %s", cf->path,
		    strerror(errno));
		return (-1);
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		for (i = 0; i < n; i++) {
			h ^= buf[i];
			h *= 0x100000001b3ULL;
		}
	if (ferror(f)) {
		config_error(errs, NULL, "%s: cannot read: %s", cf->path,
		    strerror(errno));
		fclose(f);
		return (-1);
	}
	fclose(f);
	snprintf(cf->hash, sizeof(cf->hash), "%016llx", (unsigned long long)h);
	return (0);
}

/* libconfig's parse; a syntax error is one "file:line: what" error. */
static int
config_parse(struct config *cf, struct config_errors *errs)
{
	const char *file;

	if (config_read_file(&cf->lc, cf->path) == CONFIG_TRUE)
		return (0);
	if ((file = config_error_file(&cf->lc)) == NULL)
		file = cf->path;
	if (config_error_type(&cf->lc) == CONFIG_ERR_FILE_IO)
		config_error(errs, NULL, "%s: %s", file,
		    config_error_text(&cf->lc));
	else
		config_error(errs, NULL, "%s:%d: %s", file,
		    config_error_line(&cf->lc), config_error_text(&cf->lc));
	return (-1);
}

/* A broker nobody can publish to is a mistake, not a configuration. */
static void
config_check_ingress(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *s;

	if (cf->nrouter + cf->npull != 0)
		return;
	s = config_lookup(&cf->lc, "ingress");
	if (s == NULL)
		s = config_root_setting(&cf->lc);
	config_error(errs, s, "ingress: at least one of router and pull "
	    "must name an endpoint, such as \"tcp://127.0.0.1:7450\"");
}

/* An ack link cannot be made without the secret its token needs. */
static void
config_check_http(struct config *cf, struct config_errors *errs)
{
	if (cf->http_public_url != NULL && cf->http_ack_secret_file == NULL)
		config_error(errs, config_lookup(&cf->lc, "http.public_url"),
		    "http.public_url is set but http.ack_secret_file is not: "
		    "ack links need the secret their tokens are made with");
	if (cf->http_ack_secret_previous_file != NULL &&
	    cf->http_ack_secret_file == NULL)
		config_error(errs, config_lookup(&cf->lc,
		    "http.ack_secret_previous_file"), "http.ack_secret_previous_"
		    "file is set but http.ack_secret_file is not: the previous "
		    "secret is honoured only beside a current one");
}

/* A group alone would be taken as the user's login group in silence. */
static void
config_check_user(struct config *cf, struct config_errors *errs)
{
	if (cf->group != NULL && cf->user == NULL)
		config_error(errs, config_lookup(&cf->lc, "group"), "group is "
		    "set but user is not: privileges are dropped to a user "
		    "(and its group), never to a group alone");
}

/*
 * ingress.authorized_keys: the CURVE clients and what each may publish.
 * It and curve_secret_key_file come together: either alone would leave
 * every client out, or ask no client for a key.
 */
static void
config_load_auth(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *s;
	int i, n;

	if ((s = config_lookup(&cf->lc, "ingress.authorized_keys")) == NULL) {
		if (cf->curve_secret_key_file != NULL)
			config_error(errs, config_lookup(&cf->lc,
			    "ingress.curve_secret_key_file"),
			    "ingress.curve_secret_key_file is set but "
			    "ingress.authorized_keys is not: no client could "
			    "connect over tcp");
		return;
	}
	if (cf->curve_secret_key_file == NULL)
		config_error(errs, s, "ingress.authorized_keys is set but "
		    "ingress.curve_secret_key_file is not: without CURVE no "
		    "client is asked for its key");
	if (!config_setting_is_list(s) || (n = config_setting_length(s)) ==
	    0) {
		config_error(errs, s, "ingress.authorized_keys: expected a "
		    "non-empty list ( { key = \"...\"; sources = [ ... ]; "
		    "audiences = [ ... ]; }, ... )");
		return;
	}
	if ((cf->auth_keys = calloc((size_t)n, sizeof(*cf->auth_keys))) ==
	    NULL) {
		config_error(errs, s, "ingress.authorized_keys: out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		config_load_key(cf, &cf->auth_keys[cf->nauth_keys++],
		    config_setting_get_elem(s, (unsigned)i), i, errs);
}

/* One authorized key; keys and names are each listed once. */
static void
config_load_key(struct config *cf, struct auth_key *k,
    const config_setting_t *e, int i, struct config_errors *errs)
{
	const config_setting_t *s;
	size_t j;

	k->line = (int)config_setting_source_line(e);
	if (!config_setting_is_group(e)) {
		config_error(errs, e, "ingress.authorized_keys[%d]: expected "
		    "{ key = \"...\"; sources = [ ... ]; audiences = "
		    "[ ... ]; }", i);
		return;
	}
	opt_load_group(e, SCOPE_KEY, k, 1, errs);
	if ((s = config_setting_get_member(e, "sources")) == NULL)
		config_error(errs, e, "ingress.authorized_keys[%d]: missing "
		    "'sources' (the sources the key may publish as; \"*\" "
		    "for any)", i);
	else
		glob_list_compile(&k->sources, s, errs);
	if (k->key == NULL)
		return;
	if (k->name == NULL && (k->name = strndup(k->key,
	    AUTH_NAME_DEFAULT_LEN)) == NULL)
		config_error(errs, e, "ingress.authorized_keys: out of memory");
	for (j = 0; j + 1 < cf->nauth_keys; j++) {
		if (cf->auth_keys[j].key != NULL &&
		    strcmp(cf->auth_keys[j].key, k->key) == 0)
			config_error(errs, e, "ingress.authorized_keys[%d]: "
			    "key %s is already listed at line %d", i, k->key,
			    cf->auth_keys[j].line);
		else if (k->name != NULL && cf->auth_keys[j].name != NULL &&
		    strcmp(cf->auth_keys[j].name, k->name) == 0)
			config_error(errs, e, "ingress.authorized_keys[%d]: "
			    "name '%s' is already used by the key at line %d",
			    i, k->name, cf->auth_keys[j].line);
	}
}

/* classify.rules: a list of { match; class; }, kept in order. */
static void
config_load_rules(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	struct classify_rule *rule;
	int i, n;

	if ((s = config_lookup(&cf->lc, "classify.rules")) == NULL)
		return;
	if (!config_setting_is_list(s)) {
		config_error(errs, s, "classify.rules: expected a list of "
		    "rules ( { match = { ... }; class = \"batch\"; }, ... ), "
		    "not %s", opt_type_name(config_setting_type(s)));
		return;
	}
	n = config_setting_length(s);
	if (n == 0)
		return;
	if ((cf->rules = calloc((size_t)n, sizeof(*cf->rules))) == NULL) {
		config_error(errs, s, "classify.rules: out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		rule = &cf->rules[cf->nrules++];
		rule->line = (int)config_setting_source_line(e);
		match_compile(&rule->match, NULL, 0, errs);
		if (!config_setting_is_group(e)) {
			config_error(errs, e, "classify.rules[%d]: expected a "
			    "rule { match = { ... }; class = \"batch\"; }", i);
			continue;
		}
		opt_load_group(e, SCOPE_RULE, rule, 1, errs);
		match_compile(&rule->match, config_setting_get_member(e,
		    "match"), 0, errs);
	}
}

/* One channel: common options, then its adapter's own. */
static void
config_load_channel(struct config *cf, struct channel_conf *ch,
    const config_setting_t *g, struct config_errors *errs)
{
	const config_setting_t *s;
	char path[256], min[32], max[32];
	const char *type;
	size_t before;

	(void)cf;
	opt_load_group(g, SCOPE_CHANNEL, ch, 0, errs);
	if (ch->retry.backoff_max_ms < ch->retry.backoff_ms) {
		duration_format(ch->retry.backoff_max_ms, max, sizeof(max));
		duration_format(ch->retry.backoff_ms, min, sizeof(min));
		config_error(errs, config_setting_get_member(g, "retry"),
		    "channel %s: retry.backoff_max (%s) is shorter than "
		    "retry.backoff (%s)", ch->name, max, min);
	}
	if ((s = config_setting_get_member(g, "type")) == NULL) {
		config_error(errs, g, "channel %s has no type (expected one "
		    "of: %s)", ch->name, adapter_names());
		return;
	}
	config_setting_path(s, path, sizeof(path));
	if ((type = config_setting_get_string(s)) == NULL) {
		config_error(errs, s, "%s: expected a string (one of: %s)",
		    path, adapter_names());
		return;
	}
	if ((ch->ops = adapter_find(type)) == NULL) {
		config_error(errs, s, "%s: unknown channel type '%s' (expected "
		    "one of: %s)", path, type, adapter_names());
		return;
	}
	before = errs_count(errs);
	if (ch->ops->check(g, &ch->args, errs) == -1 &&
	    errs_count(errs) == before)
		config_error(errs, g, "channel %s: its %s options were "
		    "rejected", ch->name, type);
}

/* The channels group, then the fallbacks between its channels. */
static void
config_load_channels(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *s, *g;
	struct channel_conf *ch;
	int i, n;

	if ((s = config_lookup(&cf->lc, "channels")) == NULL)
		return;
	if (!config_setting_is_group(s)) {
		config_error(errs, s, "channels: expected a group of channels "
		    "{ name = { type = \"file\"; ... }; ... }, not %s",
		    opt_type_name(config_setting_type(s)));
		return;
	}
	if ((n = config_setting_length(s)) == 0)
		return;
	if ((cf->channels = calloc((size_t)n, sizeof(*cf->channels))) ==
	    NULL) {
		config_error(errs, s, "channels: out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		g = config_setting_get_elem(s, (unsigned)i);
		ch = &cf->channels[cf->nchannels++];
		ch->setting = g;
		ch->config = cf;
		ch->line = (int)config_setting_source_line(g);
		ch->health.enabled = config_setting_is_group(g) &&
		    config_setting_get_member(g, "health_check") != NULL;
		if ((ch->name = strdup(config_setting_name(g))) == NULL) {
			config_error(errs, g, "channels: out of memory");
			continue;
		}
		if (strlen(ch->name) > CONFIG_NAME_MAX)
			config_error(errs, g, "channel name '%s' is %zu "
			    "characters long; at most %d", ch->name,
			    strlen(ch->name), CONFIG_NAME_MAX);
		if (!config_setting_is_group(g)) {
			config_error(errs, g, "channel %s: expected a group "
			    "{ type = \"file\"; ... }, not %s", ch->name,
			    opt_type_name(config_setting_type(g)));
			continue;
		}
		config_load_channel(cf, ch, g, errs);
	}
	config_load_fallbacks(cf, errs);
}

int
config_channel_index(const struct config *cf, const char *name)
{
	size_t i;

	for (i = 0; i < cf->nchannels; i++)
		if (cf->channels[i].name != NULL &&
		    strcmp(cf->channels[i].name, name) == 0)
			return ((int)i);
	return (-1);
}

/* The channel names for a message, or how many there are if too many. */
static void
config_known_channels(const struct config *cf, char *buf, size_t len)
{
	size_t i;

	if (cf->nchannels == 0) {
		snprintf(buf, len, "no channels are defined");
		return;
	}
	strlcpy(buf, "channels: ", len);
	for (i = 0; i < cf->nchannels; i++) {
		if (i > 0)
			strlcat(buf, ", ", len);
		if (strlcat(buf, cf->channels[i].name, len) >= len || i >= 12) {
			snprintf(buf, len, "%zu channels are defined",
			    cf->nchannels);
			return;
		}
	}
}

/*
 * Channel names (a string or a list) as indices into cf->channels. Every
 * name must be a channel, named once. *out is NULL when the list is empty.
 */
static int
config_names(const struct config *cf, const config_setting_t *s, int **out,
    size_t *np, struct config_errors *errs)
{
	const config_setting_t *e;
	char path[256], known[256];
	const char *name;
	int i, n, idx, rc = 0;
	size_t j;

	*out = NULL;
	*np = 0;
	if ((n = opt_list(s, "a channel name", errs)) <= 0)
		return (n);
	if ((*out = calloc((size_t)n, sizeof(**out))) == NULL) {
		config_error(errs, s, "out of memory");
		return (-1);
	}
	for (i = 0; i < n; i++) {
		e = config_setting_is_scalar(s) ? s :
		    config_setting_get_elem(s, (unsigned)i);
		if ((name = config_setting_get_string(e)) == NULL) {
			config_error(errs, e, "%s: expected a channel name (a "
			    "string), not %s", config_setting_path(e, path,
			    sizeof(path)),
			    opt_type_name(config_setting_type(e)));
			rc = -1;
			continue;
		}
		if ((idx = config_channel_index(cf, name)) == -1) {
			config_known_channels(cf, known, sizeof(known));
			config_error(errs, e, "%s: unknown channel '%s' (%s)",
			    config_setting_path(e, path, sizeof(path)), name,
			    known);
			rc = -1;
			continue;
		}
		for (j = 0; j < *np; j++)
			if ((*out)[j] == idx)
				break;
		if (j < *np) {
			config_error(errs, e, "%s: channel '%s' is named twice",
			    config_setting_path(e, path, sizeof(path)), name);
			rc = -1;
			continue;
		}
		(*out)[(*np)++] = idx;
	}
	return (rc);
}

/*
 * Depth-first walk of the fallback graph: reaching a channel still on the
 * walk's stack is a cycle, in which a failing notice would go round
 * forever. state: 0 unseen, 1 on the stack, 2 done.
 */
static void
config_fallback_visit(struct config *cf, int c, char *state, int *stack,
    int depth, struct config_errors *errs)
{
	const struct channel_conf *ch = &cf->channels[c];
	char cycle[256];
	int f, k, from;
	size_t i;

	state[c] = 1;
	stack[depth] = c;
	for (i = 0; i < ch->nfallback; i++) {
		f = ch->fallback[i];
		if (state[f] == 0) {
			config_fallback_visit(cf, f, state, stack, depth + 1,
			    errs);
			continue;
		}
		if (state[f] != 1)
			continue;
		if (f == c) {
			config_error(errs, config_setting_get_member(
			    ch->setting, "fallback"), "channel %s falls back "
			    "to itself", ch->name);
			continue;
		}
		for (from = depth; stack[from] != f; from--)
			;
		cycle[0] = '\0';
		for (k = from; k <= depth; k++) {
			strlcat(cycle, cf->channels[stack[k]].name,
			    sizeof(cycle));
			strlcat(cycle, " -> ", sizeof(cycle));
		}
		strlcat(cycle, cf->channels[f].name, sizeof(cycle));
		config_error(errs, config_setting_get_member(ch->setting,
		    "fallback"), "channel %s: fallback cycle %s", ch->name,
		    cycle);
	}
	state[c] = 2;
}

/* Resolve each channel's fallback names, then look for cycles. */
static void
config_load_fallbacks(struct config *cf, struct config_errors *errs)
{
	struct channel_conf *ch;
	const config_setting_t *s;
	char *state;
	int *stack;
	size_t i;

	for (i = 0; i < cf->nchannels; i++) {
		ch = &cf->channels[i];
		if (!config_setting_is_group(ch->setting) ||
		    (s = config_setting_get_member(ch->setting, "fallback")) ==
		    NULL)
			continue;
		config_names(cf, s, &ch->fallback, &ch->nfallback, errs);
	}
	state = calloc(cf->nchannels, 1);
	stack = calloc(cf->nchannels, sizeof(*stack));
	if (state == NULL || stack == NULL)
		config_error(errs, NULL, "%s: out of memory", cf->path);
	else
		for (i = 0; i < cf->nchannels; i++)
			if (state[i] == 0)
				config_fallback_visit(cf, (int)i, state, stack,
				    0, errs);
	free(state);
	free(stack);
}

/* One route: its scalar keys, its match, its channels and fallback. */
static void
config_load_route(struct config *cf, struct route *r,
    const config_setting_t *e, size_t pos, struct config_errors *errs)
{
	const config_setting_t *s;
	size_t i, j;

	opt_load_group(e, SCOPE_ROUTE, r, 1, errs);
	if (r->name == NULL && asprintf(&r->name, "route#%zu", pos + 1) == -1)
		r->name = NULL;
	if (r->name != NULL && strlen(r->name) > CONFIG_NAME_MAX)
		config_error(errs, e, "route name '%s' is %zu characters long; "
		    "at most %d", r->name, strlen(r->name), CONFIG_NAME_MAX);
	match_compile(&r->match, config_setting_get_member(e, "match"), 1,
	    errs);
	if ((s = config_setting_get_member(e, "channels")) == NULL) {
		config_error(errs, e, "route '%s' has no channels", r->name);
		return;
	}
	if (config_names(cf, s, &r->channels, &r->nchannels, errs) == 0 &&
	    r->nchannels == 0)
		config_error(errs, s, "route '%s' has no channels", r->name);
	if ((s = config_setting_get_member(e, "fallback")) == NULL)
		return;
	if (config_names(cf, s, &r->fallback, &r->nfallback, errs) == -1)
		return;
	for (i = 0; i < r->nfallback; i++)
		for (j = 0; j < r->nchannels; j++)
			if (r->fallback[i] == r->channels[j])
				config_error(errs, s, "route '%s': channel %s "
				    "is both a channel and a fallback", r->name,
				    cf->channels[r->channels[j]].name);
}

/* The routes list, in order; route names must be unique. */
static void
config_load_routes(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	struct route *r;
	int i, n;

	if ((s = config_lookup(&cf->lc, "routes")) == NULL) {
		config_error(errs, config_root_setting(&cf->lc), "no routes: "
		    "every notice would be refused with no_route");
		return;
	}
	if (!config_setting_is_list(s)) {
		config_error(errs, s, "routes: expected a list of routes "
		    "( { match = { ... }; channels = [ ... ]; }, ... ), not %s",
		    opt_type_name(config_setting_type(s)));
		return;
	}
	if ((n = config_setting_length(s)) == 0) {
		config_error(errs, s, "routes: the list is empty: every notice "
		    "would be refused with no_route");
		return;
	}
	if ((cf->routes = calloc((size_t)n, sizeof(*cf->routes))) == NULL) {
		config_error(errs, s, "routes: out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		r = &cf->routes[cf->nroutes++];
		r->line = (int)config_setting_source_line(e);
		match_compile(&r->match, NULL, 1, errs);
		if (!config_setting_is_group(e)) {
			config_error(errs, e, "routes[%d]: expected a route "
			    "{ match = { ... }; channels = [ ... ]; }", i);
			continue;
		}
		config_load_route(cf, r, e, (size_t)i, errs);
	}
	config_check_route_names(cf, s, errs);
}

static int
config_route_cmp(const void *a, const void *b)
{
	const struct route *ra = *(const struct route *const *)a;
	const struct route *rb = *(const struct route *const *)b;
	int c = strcmp(ra->name, rb->name);

	return (c != 0 ? c : ra->line - rb->line);
}

/*
 * Route names must be unique. Sorted, a repeat sits next to its first use:
 * O(n log n), so that 10,000 routes load (and reload) quickly.
 */
static void
config_check_route_names(struct config *cf, const config_setting_t *list,
    struct config_errors *errs)
{
	const struct route **sorted;
	size_t i, n = 0;

	if ((sorted = calloc(cf->nroutes, sizeof(*sorted))) == NULL)
		return;
	for (i = 0; i < cf->nroutes; i++)
		if (cf->routes[i].name != NULL)
			sorted[n++] = &cf->routes[i];
	qsort(sorted, n, sizeof(*sorted), config_route_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(sorted[i]->name, sorted[i - 1]->name) == 0)
			config_error(errs, config_setting_get_elem(list,
			    (unsigned)(sorted[i] - cf->routes)), "route name "
			    "'%s' is already used by the route at line %d",
			    sorted[i]->name, sorted[i - 1]->line);
	free(sorted);
}

/*
 * A notice can go to at most ROUTE_TARGETS_MAX channels. The most it can
 * reach is what a run of routes joined by continue names, from the run's
 * first route on; refuse here what route_notice() would have to drop.
 */
static void
config_check_reach(struct config *cf, struct config_errors *errs)
{
	const struct route *r;
	size_t i, j, k, reach;
	char *seen;

	if (cf->nchannels <= ROUTE_TARGETS_MAX)
		return;
	if ((seen = calloc(cf->nchannels, 1)) == NULL) {
		config_error(errs, NULL, "%s: out of memory", cf->path);
		return;
	}
	for (i = 0; i < cf->nroutes; i = j + 1) {
		memset(seen, 0, cf->nchannels);
		reach = 0;
		for (j = i; j < cf->nroutes; j++) {
			r = &cf->routes[j];
			for (k = 0; k < r->nchannels; k++)
				if (!seen[r->channels[k]]++)
					reach++;
			if (!r->cont)
				break;
		}
		if (reach > ROUTE_TARGETS_MAX)
			config_error(errs, config_setting_get_elem(
			    config_lookup(&cf->lc, "routes"), (unsigned)i),
			    "route '%s' and the routes it continues into name "
			    "%zu channels; one notice can go to at most %d",
			    cf->routes[i].name, reach, ROUTE_TARGETS_MAX);
	}
	free(seen);
}

/* A policy's "HH:MM" strings as sorted minutes (checked by the table). */
static void
config_policy_times(struct policy *p)
{
	size_t i, j;
	int m;

	p->nat = 0;
	for (i = 0; i < p->nat_names && p->nat < POLICY_AT_MAX; i++) {
		if ((m = tod_parse(p->at_names[i])) == -1)
			continue;
		for (j = p->nat; j > 0 && p->at[j - 1] > m; j--)
			p->at[j] = p->at[j - 1];
		p->at[j] = m;
		p->nat++;
	}
}

int
config_escalation_index(const struct config *cf, const char *name)
{
	size_t i;

	for (i = 0; i < cf->nescalations; i++)
		if (cf->escalations[i].name != NULL &&
		    strcmp(cf->escalations[i].name, name) == 0)
			return ((int)i);
	return (-1);
}

/* One level of a chain: when it fires and whom it tells. */
static void
config_load_level(struct config *cf, struct escalation *esc, size_t i,
    const config_setting_t *e, struct config_errors *errs)
{
	struct esc_level *lv = &esc->levels[i];
	const config_setting_t *s;

	lv->line = (int)config_setting_source_line(e);
	if (!config_setting_is_group(e)) {
		config_error(errs, e, "escalation '%s': level %zu: expected "
		    "{ after = \"15m\"; channels = [ ... ]; }", esc->name,
		    i + 1);
		return;
	}
	opt_load_group(e, SCOPE_LEVEL, lv, 1, errs);
	if ((s = config_setting_get_member(e, "channels")) == NULL)
		config_error(errs, e, "escalation '%s': level %zu has no "
		    "channels: it would tell no one", esc->name, i + 1);
	else if (config_names(cf, s, &lv->channels, &lv->nchannels,
	    errs) == 0 && lv->nchannels == 0)
		config_error(errs, s, "escalation '%s': level %zu has no "
		    "channels: it would tell no one", esc->name, i + 1);
	if (i > 0 && lv->after_ms == 0)
		config_error(errs, e, "escalation '%s': level %zu has no "
		    "'after', so it can never fire on its own: it would go "
		    "off together with level %zu (merge their channels, or "
		    "give it an after)", esc->name, i + 1, i);
}

static void
config_load_escalation(struct config *cf, struct escalation *esc,
    const config_setting_t *g, struct config_errors *errs)
{
	const config_setting_t *s;
	int i, n;

	opt_load_group(g, SCOPE_ESC, esc, 1, errs);
	if ((s = config_setting_get_member(g, "levels")) == NULL) {
		config_error(errs, g, "escalation '%s' has no levels",
		    esc->name);
		return;
	}
	if (!config_setting_is_list(s) || (n = config_setting_length(s)) ==
	    0) {
		config_error(errs, s, "escalation '%s': levels: expected a "
		    "non-empty list ( { after = \"15m\"; channels = [ ... ]; "
		    "}, ... )", esc->name);
		return;
	}
	if ((esc->levels = calloc((size_t)n, sizeof(*esc->levels))) == NULL) {
		config_error(errs, s, "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		config_load_level(cf, esc, esc->nlevels++,
		    config_setting_get_elem(s, (unsigned)i), errs);
}

/* The escalations group: named chains. */
static void
config_load_escalations(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *s, *g;
	struct escalation *esc;
	int i, n;

	if ((s = config_lookup(&cf->lc, "escalations")) == NULL)
		return;
	if (!config_setting_is_group(s)) {
		config_error(errs, s, "escalations: expected a group of chains "
		    "{ name = { levels = ( ... ); }; }, not %s",
		    opt_type_name(config_setting_type(s)));
		return;
	}
	if ((n = config_setting_length(s)) == 0)
		return;
	if ((cf->escalations = calloc((size_t)n, sizeof(*cf->escalations))) ==
	    NULL) {
		config_error(errs, s, "escalations: out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		g = config_setting_get_elem(s, (unsigned)i);
		esc = &cf->escalations[cf->nescalations++];
		esc->line = (int)config_setting_source_line(g);
		if ((esc->name = strdup(config_setting_name(g))) == NULL) {
			config_error(errs, g, "escalations: out of memory");
			continue;
		}
		if (!config_setting_is_group(g)) {
			config_error(errs, g, "escalation '%s': expected a "
			    "group { levels = ( ... ); }", esc->name);
			continue;
		}
		config_load_escalation(cf, esc, g, errs);
	}
}

/* A chain named by a policy must exist. */
static void
config_resolve_escalation(struct config *cf, struct policy *p,
    const config_setting_t *where, struct config_errors *errs)
{
	char known[256];
	size_t i;

	p->escalation = -1;
	if (p->escalation_name == NULL)
		return;
	p->escalation = config_escalation_index(cf, p->escalation_name);
	if (p->escalation != -1)
		return;
	known[0] = '\0';
	for (i = 0; i < cf->nescalations; i++) {
		strlcat(known, i ? ", " : "known: ", sizeof(known));
		strlcat(known, cf->escalations[i].name, sizeof(known));
	}
	config_error(errs, where, "unknown escalation chain '%s' (%s)",
	    p->escalation_name, known[0] ? known : "none is defined");
}

/* Times of day and chain names of the class policies and route overrides. */
static void
config_load_policies(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *routes, *e;
	size_t i;
	int c;

	for (c = 0; c < CLASS_COUNT; c++) {
		config_policy_times(&cf->policies[c]);
		config_resolve_escalation(cf, &cf->policies[c],
		    config_lookup(&cf->lc, "policies.interactive.escalation"),
		    errs);
	}
	routes = config_lookup(&cf->lc, "routes");
	for (i = 0; i < cf->nroutes; i++) {
		e = routes ? config_setting_get_elem(routes, (unsigned)i) :
		    NULL;
		config_policy_times(&cf->routes[i].policy);
		config_resolve_escalation(cf, &cf->routes[i].policy,
		    e ? config_setting_lookup((config_setting_t *)e,
		    "policy.escalation") : NULL,
		    errs);
	}
}

/* The limits list: frequency caps, in order; names unique. */
static void
config_load_limits(struct config *cf, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	struct limit_conf *lm;
	int i, n;
	size_t j;

	if ((s = config_lookup(&cf->lc, "limits")) == NULL)
		return;
	if (!config_setting_is_list(s)) {
		config_error(errs, s, "limits: expected a list ( { name = "
		    "\"...\"; match = { ... }; max = 3; per = \"1d\"; }, ... )");
		return;
	}
	if ((n = config_setting_length(s)) == 0)
		return;
	if ((cf->limits = calloc((size_t)n, sizeof(*cf->limits))) == NULL) {
		config_error(errs, s, "limits: out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		lm = &cf->limits[cf->nlimits++];
		lm->line = (int)config_setting_source_line(e);
		match_compile(&lm->match, NULL, 1, errs);
		if (!config_setting_is_group(e)) {
			config_error(errs, e, "limits[%d]: expected a group "
			    "{ name = ...; max = ...; per = ...; }", i);
			continue;
		}
		opt_load_group(e, SCOPE_LIMIT, lm, 1, errs);
		match_free(&lm->match);
		match_compile(&lm->match, config_setting_get_member(e,
		    "match"), 1, errs);
		for (j = 0; lm->name != NULL && j + 1 < cf->nlimits; j++)
			if (cf->limits[j].name != NULL &&
			    strcmp(cf->limits[j].name, lm->name) == 0)
				config_error(errs, e, "limit name '%s' is "
				    "already used by the limit at line %d",
				    lm->name, cf->limits[j].line);
	}
}

/* notify.owner_channel and each channel's quiet hours. */
static void
config_load_notify(struct config *cf, struct config_errors *errs)
{
	char known[256];
	size_t i;

	cf->owner_channel = -1;
	if (cf->owner_channel_name != NULL &&
	    (cf->owner_channel = config_channel_index(cf,
	    cf->owner_channel_name)) == -1) {
		config_known_channels(cf, known, sizeof(known));
		config_error(errs, config_lookup(&cf->lc,
		    "notify.owner_channel"), "notify.owner_channel: unknown "
		    "channel '%s' (%s)", cf->owner_channel_name, known);
	}
	for (i = 0; i < cf->nchannels; i++)
		if (cf->channels[i].quiet_hours != NULL)
			(void)tod_window_parse(cf->channels[i].quiet_hours,
			    &cf->channels[i].quiet);
}

/* Two settings with the same names, types and values, recursively. */
static int
config_setting_same(const config_setting_t *a, const config_setting_t *b)
{
	const char *na, *nb;
	int i, n, type;

	if ((type = config_setting_type(a)) != config_setting_type(b))
		return (0);
	na = config_setting_name(a);
	nb = config_setting_name(b);
	if ((na == NULL) != (nb == NULL) || (na && strcmp(na, nb) != 0))
		return (0);
	switch (type) {
	case CONFIG_TYPE_INT:
		return (config_setting_get_int(a) == config_setting_get_int(b));
	case CONFIG_TYPE_INT64:
		return (config_setting_get_int64(a) ==
		    config_setting_get_int64(b));
	case CONFIG_TYPE_FLOAT:
		return (config_setting_get_float(a) ==
		    config_setting_get_float(b));
	case CONFIG_TYPE_BOOL:
		return (config_setting_get_bool(a) ==
		    config_setting_get_bool(b));
	case CONFIG_TYPE_STRING:
		return (strcmp(config_setting_get_string(a),
		    config_setting_get_string(b)) == 0);
	default:
		if ((n = config_setting_length(a)) != config_setting_length(b))
			return (0);
		for (i = 0; i < n; i++)
			if (!config_setting_same(config_setting_get_elem(a,
			    (unsigned)i), config_setting_get_elem(b,
			    (unsigned)i)))
				return (0);
		return (1);
	}
}

/*
 * Whether a member decides what the running adapter holds: its own options,
 * its type and its health check. The other common options (owner, mode,
 * retry, timeout, queue limits, ...) are read from the channel's conf each
 * time, so a new value needs no new instance.
 */
static int
config_channel_member_binds(const char *name)
{
	return (!config_channel_common(name) || strcmp(name, "type") == 0 ||
	    strcmp(name, "health_check") == 0);
}

/* Every binding member of a is in b, the same. */
static int
config_channel_covers(const config_setting_t *a, const config_setting_t *b)
{
	const config_setting_t *m, *o;
	const char *name;
	int i, n = config_setting_length(a);

	for (i = 0; i < n; i++) {
		m = config_setting_get_elem(a, (unsigned)i);
		name = config_setting_name(m);
		if (!config_channel_member_binds(name))
			continue;
		if ((o = config_setting_get_member(b, name)) == NULL ||
		    !config_setting_same(m, o))
			return (0);
	}
	return (1);
}

int
config_same_string(const char *a, const char *b)
{
	return (a == b || (a != NULL && b != NULL && strcmp(a, b) == 0));
}

int
config_channel_same(const struct channel_conf *a, const struct channel_conf *b)
{
	return (a->ops == b->ops && a->setting != NULL && b->setting != NULL &&
	    config_channel_covers(a->setting, b->setting) &&
	    config_channel_covers(b->setting, a->setting));
}

void
config_policy(const struct config *cf, const struct route *r,
    enum notice_class class, struct policy *out)
{
	const struct policy *p;

	*out = cf->policies[class];
	if (r == NULL)
		return;
	p = &r->policy;
	if (p->deliver_within_ms != 0)
		out->deliver_within_ms = p->deliver_within_ms;
	if (p->window_ms != 0)
		out->window_ms = p->window_ms;
	if (p->max_items != 0)
		out->max_items = p->max_items;
	if (p->nat != 0) {
		memcpy(out->at, p->at, sizeof(out->at));
		out->nat = p->nat;
	}
	if (p->respond_within_ms != 0)
		out->respond_within_ms = p->respond_within_ms;
	if (p->escalation_name != NULL) {
		out->escalation_name = p->escalation_name;
		out->escalation = p->escalation;
	}
}

struct config *
config_load(const char *path, struct config_errors *errs)
{
	struct config *cf;
	size_t before = errs_count(errs);

	if ((cf = calloc(1, sizeof(*cf))) == NULL) {
		config_error(errs, NULL, "%s: out of memory", path);
		return (NULL);
	}
	config_init(&cf->lc);
	if ((cf->path = strdup(path)) == NULL) {
		config_error(errs, NULL, "%s: out of memory", path);
		config_free(cf);
		return (NULL);
	}
	if (config_hash_file(cf, errs) == 0 && config_parse(cf, errs) == 0) {
		opt_load_group(config_root_setting(&cf->lc), SCOPE_TOP, cf, 1,
		    errs);
		config_check_ingress(cf, errs);
		config_check_http(cf, errs);
		config_check_user(cf, errs);
		config_load_auth(cf, errs);
		config_load_rules(cf, errs);
		config_load_channels(cf, errs);
		config_load_routes(cf, errs);
		config_check_reach(cf, errs);
		config_load_escalations(cf, errs);
		config_load_policies(cf, errs);
		config_load_limits(cf, errs);
		config_load_notify(cf, errs);
	}
	if (errs_count(errs) == before && (cf->route_index =
	    route_index_new(cf->routes, cf->nroutes)) == NULL)
		config_error(errs, NULL, "%s: out of memory indexing %zu "
		    "routes", path, cf->nroutes);
	if (errs_count(errs) != before) {
		config_free(cf);
		return (NULL);
	}
	return (cf);
}

/* Escalation chains, limits and authorized keys. */
static void
config_free_rules(struct config *cf)
{
	struct escalation *esc;
	size_t i, j;

	for (i = 0; i < cf->nescalations; i++) {
		esc = &cf->escalations[i];
		opt_free_group(SCOPE_ESC, esc);
		for (j = 0; j < esc->nlevels; j++) {
			opt_free_group(SCOPE_LEVEL, &esc->levels[j]);
			free(esc->levels[j].channels);
		}
		free(esc->levels);
		free(esc->name);
	}
	free(cf->escalations);
	for (i = 0; i < cf->nlimits; i++) {
		opt_free_group(SCOPE_LIMIT, &cf->limits[i]);
		match_free(&cf->limits[i].match);
	}
	free(cf->limits);
	for (i = 0; i < cf->nauth_keys; i++) {
		opt_free_group(SCOPE_KEY, &cf->auth_keys[i]);
		glob_list_free(&cf->auth_keys[i].sources);
	}
	free(cf->auth_keys);
}

/* Free a config and what its adapters parsed (ops->args_free). */
void
config_free(struct config *cf)
{
	struct channel_conf *ch;
	size_t i;

	if (cf == NULL)
		return;
	opt_free_group(SCOPE_TOP, cf);
	for (i = 0; i < cf->nrules; i++)
		match_free(&cf->rules[i].match);
	free(cf->rules);
	for (i = 0; i < cf->nchannels; i++) {
		ch = &cf->channels[i];
		opt_free_group(SCOPE_CHANNEL, ch);
		if (ch->ops != NULL && ch->ops->args_free != NULL &&
		    ch->args != NULL)
			ch->ops->args_free(ch->args);
		free(ch->fallback);
		free(ch->name);
	}
	free(cf->channels);
	route_index_free(cf->route_index);	/* it points into the routes */
	for (i = 0; i < cf->nroutes; i++) {
		opt_free_group(SCOPE_ROUTE, &cf->routes[i]);
		match_free(&cf->routes[i].match);
		free(cf->routes[i].channels);
		free(cf->routes[i].fallback);
	}
	free(cf->routes);
	config_free_rules(cf);
	config_destroy(&cf->lc);
	free(cf->path);
	free(cf);
}

/* One row of the options table in docs/config.md. */
static void
opt_dump_row(FILE *f, const struct option *o)
{
	char type[128], range[96], lo[32], hi[32];

	range[0] = '\0';
	switch (o->type) {
	case OPT_INT:
		snprintf(type, sizeof(type), "integer");
		snprintf(range, sizeof(range), "%lld .. %lld", o->min, o->max);
		break;
	case OPT_NUMBER:
		snprintf(type, sizeof(type), "number");
		snprintf(range, sizeof(range), "%lld .. %lld", o->min, o->max);
		break;
	case OPT_BOOL:
		snprintf(type, sizeof(type), "boolean");
		break;
	case OPT_STRING:
		snprintf(type, sizeof(type), "string");
		break;
	case OPT_WORD:
	case OPT_ENUM:
		strlcpy(type, "one of ", sizeof(type));
		opt_names(o, type + 7, sizeof(type) - 7);
		break;
	case OPT_DURATION:
		snprintf(type, sizeof(type), "duration");
		duration_format(o->min, lo, sizeof(lo));
		duration_format(o->max, hi, sizeof(hi));
		snprintf(range, sizeof(range), "%s .. %s", lo, hi);
		break;
	case OPT_STRINGS:
		snprintf(type, sizeof(type), "string or list");
		if (o->max > 0)
			snprintf(range, sizeof(range), "at most %lld", o->max);
		break;
	case OPT_UIDS:
		snprintf(type, sizeof(type), "integer or list");
		break;
	case OPT_AUDIENCES:
		snprintf(type, sizeof(type), "audience glob or list");
		break;
	case OPT_GROUP:
		snprintf(type, sizeof(type), "group");
		break;
	case OPT_SECTION:
		snprintf(type, sizeof(type), "%s", o->what);
		break;
	}
	fprintf(f, "| `%s` | %s | %s%s%s | %s | %s |\n", o->path, type,
	    o->def != NULL ? "`" : "",
	    o->def != NULL ? o->def :
	    (o->flags & OPT_REQUIRED) ? "required" : "",
	    o->def != NULL ? "`" : "", range, o->doc);
}

void
config_dump_options(FILE *f)
{
	size_t i;

	fprintf(f, "| option | type | default | range | meaning |\n");
	fprintf(f, "|---|---|---|---|---|\n");
	for (i = 0; i < NOPTIONS; i++)
		opt_dump_row(f, &options[i]);
}
