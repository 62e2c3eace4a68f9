/*
 * sb_status.h: the status protocol (SPEC §6), shared by switchboardd's
 * status socket and sbctl so that they cannot disagree: the commands, what
 * each takes, which ones change something (and so are for admins only),
 * the error codes beyond the wire protocol's, and the limits.
 *
 * One command a line (LF, an optional CR before it); one JSON object a line
 * back, {"ok":true,...} or {"ok":false,"error":{"code":...,"message":...}}.
 */
#ifndef SB_STATUS_H
#define SB_STATUS_H

#include <string.h>

/* status.socket's default, relative to the daemon's working directory. */
#define SB_STATUS_DEFAULT_SOCKET	"var/switchboard.sock"
/* A command line, its newline included; a longer one closes the client. */
#define SB_STATUS_LINE_MAX		4096
/* Clients connected at once; one more is answered "unavailable". */
#define SB_STATUS_CLIENTS_MAX		64
/* Silence (no command, or an answer not read) before a client is cut off. */
#define SB_STATUS_IDLE_S		60

/*
 * Error codes of the status protocol. unauthorized, unknown_ref,
 * already_acked, invalid_field and unavailable are the wire protocol's
 * (sb_error_name) and mean the same here.
 */
#define SB_STATUS_ERR_UNKNOWN_COMMAND	"unknown_command"
#define SB_STATUS_ERR_BAD_ARGUMENT	"bad_argument"
#define SB_STATUS_ERR_UNKNOWN_CHANNEL	"unknown_channel"
#define SB_STATUS_ERR_INVALID_CONFIG	"invalid_config"
#define SB_STATUS_ERR_BAD_REQUEST	"bad_request"	/* then closed */
#define SB_STATUS_ERR_TOO_LARGE		"too_large"	/* then closed */

enum sb_status_cmd {
	SB_STATUS_STATUS = 0,
	SB_STATUS_CHANNELS,
	SB_STATUS_ROUTES,
	SB_STATUS_PENDING,
	SB_STATUS_MESSAGE,
	SB_STATUS_ACK,
	SB_STATUS_PAUSE,
	SB_STATUS_RESUME,
	SB_STATUS_RELOAD,
	SB_STATUS_HELP,
	SB_STATUS_NCMDS
};

struct sb_status_command {
	const char	*name;
	const char	*args;		/* usage after the name */
	int		 min_args;
	int		 max_args;	/* -1: the last one takes the rest */
	int		 changes;	/* admins only (SO_PEERCRED) */
	const char	*summary;
};

static inline const struct sb_status_command *
sb_status_command(enum sb_status_cmd c)
{
	static const struct sb_status_command cmds[SB_STATUS_NCMDS] = {
		{ "status", "", 0, 0, 0, "uptime, config, reload, counts, "
		  "channel states, nearest escalations" },
		{ "channels", "", 0, 0, 0, "every channel: state, queue, "
		  "counters, last error" },
		{ "routes", "", 0, 0, 0, "the routes of the running config" },
		{ "pending", "[N]", 0, 1, 0, "notices with pending deliveries, "
		  "oldest first (at most N)" },
		{ "message", "ID", 1, 1, 0, "one notice: its deliveries, "
		  "response and escalations" },
		{ "ack", "ID BY", 2, -1, 1, "acknowledge an interactive "
		  "notice on behalf of BY (the rest of the line)" },
		{ "pause", "CHANNEL", 1, 1, 1, "start nothing new on a "
		  "channel; its queue waits" },
		{ "resume", "CHANNEL", 1, 1, 1, "let a paused channel work "
		  "again" },
		{ "reload", "", 0, 0, 1, "re-read the config file; on any "
		  "error keep the running one" },
		{ "help", "", 0, 0, 0, "the commands" },
	};

	return ((unsigned)c < SB_STATUS_NCMDS ? &cmds[c] : NULL);
}

/* SB_STATUS_NCMDS when name is no command. */
static inline enum sb_status_cmd
sb_status_command_find(const char *name)
{
	int c;

	for (c = 0; c < SB_STATUS_NCMDS; c++)
		if (strcmp(sb_status_command(c)->name, name) == 0)
			return ((enum sb_status_cmd)c);
	return (SB_STATUS_NCMDS);
}

#endif /* SB_STATUS_H */
