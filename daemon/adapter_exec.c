/*
 * adapter_exec.c: the "exec" channel. Each delivery runs a command in its
 * own process group, with the delivery's JSON on stdin and its fields in the
 * environment; the exit status is the outcome (0 delivered, 75 EX_TEMPFAIL
 * retryable, anything else permanent).
 *
 * Nothing here blocks the loop: stdin is fed from an EV_WRITE event (a child
 * that never reads costs nothing but its timeout), stderr is drained from an
 * EV_READ event, and children are reaped on SIGCHLD with waitpid(pid,
 * WNOHANG) for our own pids only, since other code may own children too.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sysexits.h>
#include <unistd.h>

#include "adapter.h"
#include "config.h"
#include "duration.h"
#include "log.h"
#include "notice.h"

#define EXEC_STDERR_KEEP	512	/* bytes of stderr kept for the error */
#define EXEC_STDERR_DRAIN	16	/* reads of 4k after exit, at most */
#define EXEC_SB_VARS		10	/* SB_* variables set per delivery */

extern char **environ;

struct exec_args {
	char	**argv;		/* NULL-terminated; argv[0] is the path */
	char	**env;		/* "NAME=value", NULL-terminated */
	size_t	  nenv;
};

/*
 * One running command. Once its outcome is reported, ch and d are NULL and
 * only the pid is left, until SIGCHLD lets us reap it (a killed child may
 * take a moment to die, and we never wait for it).
 */
struct exec_child {
	pid_t			 pid;
	int			 reaped;
	int			 status;	/* from waitpid; -1 if lost */
	struct channel		*ch;
	struct delivery		*d;
	int			 stdin_fd;
	int			 stderr_fd;
	struct event		*stdin_ev;
	struct event		*stderr_ev;
	/*
	 * A timer per child rather than a deadline heap: children are few
	 * (bounded by each channel's concurrency) and a heap shared by all
	 * exec channels could be freed from inside its own callback when a
	 * timeout's outcome leads to the last exec channel stopping.
	 */
	struct event		*timer;
	char			*payload;
	size_t			 len;
	size_t			 off;
	char			 err[EXEC_STDERR_KEEP + 1];
	size_t			 errlen;
	TAILQ_ENTRY(exec_child)	 entry;
};
TAILQ_HEAD(exec_children, exec_child);

/* The state every exec channel of the process shares. */
static struct {
	struct event_base	*base;
	struct event		*sigchld;
	int			 nchannels;
	struct exec_children	 children;	/* running or unreaped */
} exec_shared = { .children = TAILQ_HEAD_INITIALIZER(exec_shared.children) };

/* The environment of one delivery: inherited entries, then owned ones. */
struct exec_env {
	char	**vars;
	size_t	  n;
	size_t	  first_owned;
};

static int	exec_check(const config_setting_t *, void **,
		    struct config_errors *);
static int	exec_check_command(const char *, const config_setting_t *,
		    struct exec_args *, struct config_errors *);
static int	exec_check_env(const char *, const config_setting_t *,
		    struct exec_args *, struct config_errors *);
static int	exec_check_env_name(const char *);
static int	exec_option_known(const char *);
static void	exec_args_free(void *);
static int	exec_start(struct channel *, char *, size_t);
static int	exec_shared_start(struct event_base *, char *, size_t);
static void	exec_deliver(struct channel *, struct delivery *);
static int	exec_health(struct channel *);
static void	exec_stop(struct channel *);
static int	exec_env_build(struct exec_env *, const struct channel *,
		    const struct delivery *);
static int	exec_env_inherit(const char *, const struct exec_args *);
static int	exec_env_add(struct exec_env *, const char *, const char *);
static char	*exec_audience_join(const struct notice *);
static void	exec_env_free(struct exec_env *);
static struct exec_child *exec_child_new(struct channel *, struct delivery *);
static int	exec_spawn(struct exec_child *, enum delivery_outcome *,
		    char *, size_t);
static int	exec_spawn_setup(posix_spawn_file_actions_t *,
		    posix_spawnattr_t *, int, int);
static int	exec_pipes(int *, int *);
static int	exec_watch(struct exec_child *);
static void	exec_child_end(struct exec_child *, enum delivery_outcome,
		    const char *);
static void	exec_child_exited(struct exec_child *);
static struct exec_child *exec_child_of(const struct channel *);
static void	exec_reap(void);
static void	exec_close_stdin(struct exec_child *);
static void	exec_close_stderr(struct exec_child *);
static void	exec_drain_stderr(struct exec_child *);
static void	exec_keep_stderr(struct exec_child *, const char *, size_t);
static void	exec_stderr_line(const struct exec_child *, char *, size_t);
static ssize_t	exec_write_pipe(int, const void *, size_t);
static void	exec_stdin_cb(evutil_socket_t, short, void *);
static void	exec_stderr_cb(evutil_socket_t, short, void *);
static void	exec_timeout_cb(evutil_socket_t, short, void *);
static void	exec_sigchld_cb(evutil_socket_t, short, void *);

const struct adapter_ops adapter_exec_ops = {
	.name = "exec",
	.check = exec_check,
	.args_free = exec_args_free,
	.start = exec_start,
	.deliver = exec_deliver,
	.health = exec_health,
	.stop = exec_stop,
};

static int
exec_option_known(const char *name)
{
	if (strcmp(name, "command") == 0 || strcmp(name, "env") == 0)
		return (1);
	return (config_channel_common(name));
}

/* Options: command (a path, or a list [path, args...]), env (a group). */
static int
exec_check(const config_setting_t *group, void **argsp,
    struct config_errors *errs)
{
	const char *name = config_setting_name(group);
	const config_setting_t *s;
	struct exec_args *args;
	int i, rc = 0;

	*argsp = NULL;
	if (name == NULL)
		name = "(unnamed)";
	if ((args = calloc(1, sizeof(*args))) == NULL) {
		config_error(errs, group, "channel %s: out of memory", name);
		return (-1);
	}
	for (i = 0; (s = config_setting_get_elem(group, i)) != NULL; i++) {
		if (!exec_option_known(config_setting_name(s))) {
			config_error(errs, s, "channel %s: unknown option '%s' "
			    "for type exec (expected command, env)", name,
			    config_setting_name(s));
			rc = -1;
		}
	}
	if (exec_check_command(name, group, args, errs) == -1)
		rc = -1;
	if (exec_check_env(name, group, args, errs) == -1)
		rc = -1;
	if (rc == -1) {
		exec_args_free(args);
		return (-1);
	}
	*argsp = args;
	return (0);
}

static int
exec_check_command(const char *name, const config_setting_t *group,
    struct exec_args *args, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	const char *v;
	int i, n, single;

	if ((s = config_setting_get_member(group, "command")) == NULL) {
		config_error(errs, group, "channel %s: type exec needs a "
		    "command (a path, or a list [path, args...])", name);
		return (-1);
	}
	single = config_setting_type(s) == CONFIG_TYPE_STRING;
	if (single)
		n = 1;
	else if (config_setting_is_array(s) || config_setting_is_list(s))
		n = config_setting_length(s);
	else
		n = 0;
	if (n == 0) {
		config_error(errs, s, "channel %s: command must be a string "
		    "or a non-empty list of strings", name);
		return (-1);
	}
	if ((args->argv = calloc((size_t)n + 1, sizeof(char *))) == NULL) {
		config_error(errs, s, "channel %s: out of memory", name);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		e = single ? s : config_setting_get_elem(s, i);
		if ((v = config_setting_get_string(e)) == NULL ||
		    (i == 0 && *v == '\0')) {
			config_error(errs, e, "channel %s: command[%d] must be "
			    "a %sstring", name, i, i == 0 ? "non-empty " : "");
			return (-1);
		}
		if ((args->argv[i] = strdup(v)) == NULL) {
			config_error(errs, e, "channel %s: out of memory",
			    name);
			return (-1);
		}
	}
	return (0);
}

static int
exec_check_env(const char *name, const config_setting_t *group,
    struct exec_args *args, struct config_errors *errs)
{
	const config_setting_t *s, *e;
	const char *var, *value;
	int i, n, rc = 0;

	if ((s = config_setting_get_member(group, "env")) == NULL)
		return (0);
	if (!config_setting_is_group(s)) {
		config_error(errs, s, "channel %s: env must be a group of "
		    "NAME = \"value\" settings", name);
		return (-1);
	}
	n = config_setting_length(s);
	if ((args->env = calloc((size_t)n + 1, sizeof(char *))) == NULL) {
		config_error(errs, s, "channel %s: out of memory", name);
		return (-1);
	}
	for (i = 0; (e = config_setting_get_elem(s, i)) != NULL; i++) {
		var = config_setting_name(e);
		if ((value = config_setting_get_string(e)) == NULL) {
			config_error(errs, e, "channel %s: env.%s must be a "
			    "string", name, var);
			rc = -1;
		} else if (exec_check_env_name(var) == -1) {
			config_error(errs, e, "channel %s: env.%s is not a "
			    "usable variable name (letters, digits and _; "
			    "SB_* is reserved for the delivery's own)", name,
			    var);
			rc = -1;
		} else if (asprintf(&args->env[args->nenv], "%s=%s", var,
		    value) == -1) {
			args->env[args->nenv] = NULL;
			config_error(errs, e, "channel %s: out of memory",
			    name);
			rc = -1;
		} else
			args->nenv++;
	}
	return (rc);
}

/* A portable variable name, and not one of the delivery's SB_* names. */
static int
exec_check_env_name(const char *var)
{
	const char *p;

	if (strncmp(var, "SB_", 3) == 0)
		return (-1);
	for (p = var; *p != '\0'; p++) {
		if (*p == '_' || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= 'a' && *p <= 'z'))
			continue;
		if (p != var && *p >= '0' && *p <= '9')
			continue;
		return (-1);
	}
	return (0);
}

static void
exec_args_free(void *p)
{
	struct exec_args *args = p;
	size_t i;

	if (args == NULL)
		return;
	for (i = 0; args->argv != NULL && args->argv[i] != NULL; i++)
		free(args->argv[i]);
	free(args->argv);
	for (i = 0; i < args->nenv; i++)
		free(args->env[i]);
	free(args->env);
	free(args);
}

/* The command must be an executable file now: say so at start, not later. */
static int
exec_start(struct channel *ch, char *err, size_t errlen)
{
	const struct exec_args *args = ch->conf->args;
	const char *path = args->argv[0];
	struct stat sb;

	if (stat(path, &sb) == -1 || access(path, X_OK) == -1) {
		snprintf(err, errlen, "channel %s: command %s: %s", ch->name,
		    path, strerror(errno));
		return (-1);
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "channel %s: command %s is not a "
		    "regular file", ch->name, path);
		return (-1);
	}
	if (exec_shared_start(ch->base, err, errlen) == -1)
		return (-1);
	ch->state = NULL;
	return (0);
}

/* The first exec channel sets up the SIGCHLD event that all of them use. */
static int
exec_shared_start(struct event_base *base, char *err, size_t errlen)
{
	if (exec_shared.nchannels > 0) {
		if (base != exec_shared.base) {
			snprintf(err, errlen, "exec channels must all run on "
			    "one event base");
			return (-1);
		}
		exec_shared.nchannels++;
		return (0);
	}
	exec_shared.sigchld = evsignal_new(base, SIGCHLD, exec_sigchld_cb,
	    NULL);
	if (exec_shared.sigchld == NULL ||
	    event_add(exec_shared.sigchld, NULL) == -1) {
		if (exec_shared.sigchld != NULL)
			event_free(exec_shared.sigchld);
		exec_shared.sigchld = NULL;
		snprintf(err, errlen, "cannot watch SIGCHLD for exec channels");
		return (-1);
	}
	exec_shared.base = base;
	exec_shared.nchannels = 1;
	/* Children killed while no exec channel ran may be waiting. */
	exec_reap();
	return (0);
}

static int
exec_health(struct channel *ch)
{
	const struct exec_args *args = ch->conf->args;

	return (access(args->argv[0], X_OK));
}

static void
exec_deliver(struct channel *ch, struct delivery *d)
{
	struct exec_child *c;
	enum delivery_outcome fail;
	char error[512];

	if ((c = exec_child_new(ch, d)) == NULL) {
		channel_done(ch, d, OUTCOME_RETRYABLE, "out of memory");
		return;
	}
	if (exec_spawn(c, &fail, error, sizeof(error)) == -1) {
		exec_child_end(c, fail, error);
		return;
	}
	d->adapter_data = c;
	if (exec_watch(c) == -1) {
		kill(-c->pid, SIGKILL);
		exec_child_end(c, OUTCOME_RETRYABLE,
		    "cannot watch the command's pipes (out of memory)");
	}
}

/* A child record with its payload: the delivery's JSON as one line. */
static struct exec_child *
exec_child_new(struct channel *ch, struct delivery *d)
{
	struct exec_child *c;
	char *line;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	c->ch = ch;
	c->d = d;
	c->pid = -1;
	c->reaped = 1;		/* nothing to reap until spawned */
	c->stdin_fd = c->stderr_fd = -1;
	if ((c->payload = delivery_json(d, &c->len)) == NULL ||
	    (line = realloc(c->payload, c->len + 1)) == NULL) {
		free(c->payload);
		free(c);
		return (NULL);
	}
	c->payload = line;
	c->payload[c->len++] = '\n';
	TAILQ_INSERT_TAIL(&exec_shared.children, c, entry);
	return (c);
}

/*
 * Start the command. On failure say why, and whether it is the command
 * that cannot run (permanent) or the moment (out of memory, of fds).
 */
static int
exec_spawn(struct exec_child *c, enum delivery_outcome *fail, char *error,
    size_t errlen)
{
	const struct exec_args *args = c->ch->conf->args;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct exec_env env;
	int in[2], errp[2], rc;

	*fail = OUTCOME_RETRYABLE;
	if (exec_env_build(&env, c->ch, c->d) == -1) {
		snprintf(error, errlen, "cannot build the environment: %s",
		    strerror(errno));
		return (-1);
	}
	if (exec_pipes(in, errp) == -1) {
		snprintf(error, errlen, "pipe: %s", strerror(errno));
		exec_env_free(&env);
		return (-1);
	}
	rc = exec_spawn_setup(&fa, &attr, in[0], errp[1]);
	if (rc == 0) {
		rc = posix_spawn(&c->pid, args->argv[0], &fa, &attr,
		    args->argv, env.vars);
		posix_spawn_file_actions_destroy(&fa);
		posix_spawnattr_destroy(&attr);
	}
	exec_env_free(&env);
	close(in[0]);
	close(errp[1]);
	c->stdin_fd = in[1];
	c->stderr_fd = errp[0];
	if (rc != 0) {
		snprintf(error, errlen, "cannot run %s: %s", args->argv[0],
		    strerror(rc));
		if (rc == ENOENT || rc == EACCES || rc == ENOEXEC ||
		    rc == ENOTDIR || rc == ELOOP)
			*fail = OUTCOME_PERMANENT;
		return (-1);
	}
	c->reaped = 0;
	return (0);
}

/*
 * The child gets stdin and stderr from our pipes, stdout on /dev/null, no
 * other descriptor, default signal dispositions (we may ignore SIGPIPE, and
 * ignored signals survive exec) and its own process group, so that a
 * timeout kills whatever it started too.
 */
static int
exec_spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *attr,
    int stdin_fd, int stderr_fd)
{
	sigset_t all, none;
	int rc;

	sigfillset(&all);
	sigemptyset(&none);
	if ((rc = posix_spawn_file_actions_init(fa)) != 0)
		return (rc);
	if ((rc = posix_spawnattr_init(attr)) != 0) {
		posix_spawn_file_actions_destroy(fa);
		return (rc);
	}
	if ((rc = posix_spawn_file_actions_adddup2(fa, stdin_fd, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_addopen(fa, 1, "/dev/null",
	    O_WRONLY, 0)) != 0 ||
	    (rc = posix_spawn_file_actions_adddup2(fa, stderr_fd, 2)) != 0 ||
	    (rc = posix_spawn_file_actions_addclosefrom_np(fa, 3)) != 0 ||
	    (rc = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) != 0 ||
	    (rc = posix_spawnattr_setpgroup(attr, 0)) != 0 ||
	    (rc = posix_spawnattr_setsigmask(attr, &none)) != 0 ||
	    (rc = posix_spawnattr_setsigdefault(attr, &all)) != 0) {
		posix_spawn_file_actions_destroy(fa);
		posix_spawnattr_destroy(attr);
		return (rc);
	}
	return (0);
}

/*
 * Two pipes, close-on-exec; our ends (in[1], errp[0]) non-blocking, the
 * child's ends blocking as a program expects of its stdin and stderr.
 */
static int
exec_pipes(int *in, int *errp)
{
	if (pipe2(in, O_CLOEXEC) == -1)
		return (-1);
	if (pipe2(errp, O_CLOEXEC) == -1) {
		close(in[0]);
		close(in[1]);
		return (-1);
	}
	if (fcntl(in[1], F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(errp[0], F_SETFL, O_NONBLOCK) == -1) {
		close(in[0]);
		close(in[1]);
		close(errp[0]);
		close(errp[1]);
		return (-1);
	}
	return (0);
}

/* Feed stdin, drain stderr and arm the timeout from the loop. */
static int
exec_watch(struct exec_child *c)
{
	struct event_base *base = c->ch->base;
	int64_t ms = c->ch->conf->timeout_ms;
	struct timeval tv;

	c->stdin_ev = event_new(base, c->stdin_fd, EV_WRITE | EV_PERSIST,
	    exec_stdin_cb, c);
	c->stderr_ev = event_new(base, c->stderr_fd, EV_READ | EV_PERSIST,
	    exec_stderr_cb, c);
	if (c->stdin_ev == NULL || c->stderr_ev == NULL ||
	    event_add(c->stdin_ev, NULL) == -1 ||
	    event_add(c->stderr_ev, NULL) == -1)
		return (-1);
	if (ms <= 0)
		return (0);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if ((c->timer = evtimer_new(base, exec_timeout_cb, c)) == NULL ||
	    evtimer_add(c->timer, &tv) == -1)
		return (-1);
	return (0);
}

/*
 * The daemon's environment without any SB_* variable (a stale SB_SOURCE
 * must never reach the command of an anonymous notice) and without what the
 * channel's env overrides; then the channel's env; then the delivery's.
 */
static int
exec_env_build(struct exec_env *env, const struct channel *ch,
    const struct delivery *d)
{
	const struct exec_args *args = ch->conf->args;
	const struct notice *n = d->notice;
	char attempt[16], *audience;
	size_t i, cap = args->nenv + EXEC_SB_VARS + 1;
	int rc = 0;

	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		cap++;
	memset(env, 0, sizeof(*env));
	if ((env->vars = calloc(cap, sizeof(char *))) == NULL)
		return (-1);
	for (i = 0; environ != NULL && environ[i] != NULL; i++)
		if (exec_env_inherit(environ[i], args))
			env->vars[env->n++] = environ[i];
	for (i = 0; i < args->nenv; i++)
		env->vars[env->n++] = args->env[i];
	env->first_owned = env->n;
	if ((audience = exec_audience_join(n)) == NULL) {
		exec_env_free(env);
		return (-1);
	}
	snprintf(attempt, sizeof(attempt), "%d", d->attempts);
	rc |= exec_env_add(env, "SB_ID", n->id);
	rc |= exec_env_add(env, "SB_DELIVERY_ID", d->id);
	rc |= exec_env_add(env, "SB_CHANNEL", ch->name);
	rc |= exec_env_add(env, "SB_CLASS", notice_class_name(n->class));
	rc |= exec_env_add(env, "SB_PRIORITY",
	    notice_priority_name(n->priority));
	rc |= exec_env_add(env, "SB_GOAL", notice_goal_name(n->goal));
	rc |= exec_env_add(env, "SB_SUBJECT", n->subject ? n->subject : "");
	rc |= exec_env_add(env, "SB_AUDIENCE", audience);
	rc |= exec_env_add(env, "SB_ATTEMPT", attempt);
	if (!n->anonymous && n->source != NULL)
		rc |= exec_env_add(env, "SB_SOURCE", n->source);
	free(audience);
	if (rc != 0) {
		exec_env_free(env);
		return (-1);
	}
	return (0);
}

/* Whether an inherited "NAME=value" passes on to the command. */
static int
exec_env_inherit(const char *var, const struct exec_args *args)
{
	size_t i, len;

	if (strncmp(var, "SB_", 3) == 0)
		return (0);
	len = strcspn(var, "=");
	for (i = 0; i < args->nenv; i++)
		if (strncmp(args->env[i], var, len) == 0 &&
		    args->env[i][len] == '=')
			return (0);
	return (1);
}

static int
exec_env_add(struct exec_env *env, const char *name, const char *value)
{
	if (asprintf(&env->vars[env->n], "%s=%s", name, value) == -1) {
		env->vars[env->n] = NULL;
		return (-1);
	}
	env->n++;
	return (0);
}

/* The audience as one comma-separated string. */
static char *
exec_audience_join(const struct notice *n)
{
	size_t i, len = 1;
	char *s;

	for (i = 0; i < n->naudience; i++)
		len += strlen(n->audience[i]) + 1;
	if ((s = calloc(1, len)) == NULL)
		return (NULL);
	for (i = 0; i < n->naudience; i++) {
		if (i > 0)
			strlcat(s, ",", len);
		strlcat(s, n->audience[i], len);
	}
	return (s);
}

static void
exec_env_free(struct exec_env *env)
{
	size_t i;

	for (i = env->first_owned; i < env->n; i++)
		free(env->vars[i]);
	free(env->vars);
	memset(env, 0, sizeof(*env));
}

/*
 * Report a child's outcome and let go of everything but its pid: an
 * unreaped child stays listed until SIGCHLD. error may not point into c.
 */
static void
exec_child_end(struct exec_child *c, enum delivery_outcome outcome,
    const char *error)
{
	struct channel *ch = c->ch;
	struct delivery *d = c->d;

	if (c->timer != NULL)
		event_free(c->timer);
	c->timer = NULL;
	exec_close_stdin(c);
	exec_close_stderr(c);
	free(c->payload);
	c->payload = NULL;
	c->ch = NULL;
	c->d = NULL;
	if (c->reaped) {
		TAILQ_REMOVE(&exec_shared.children, c, entry);
		free(c);
	}
	/* Last: done_cb may start or stop other children. */
	channel_done(ch, d, outcome, error);
}

/* A reaped child whose outcome is still to be reported: say what it was. */
static void
exec_child_exited(struct exec_child *c)
{
	char error[EXEC_STDERR_KEEP + 128], line[EXEC_STDERR_KEEP + 1];
	const char *sig, *sep;
	int st = c->status, code;

	exec_close_stdin(c);
	exec_drain_stderr(c);
	exec_close_stderr(c);
	exec_stderr_line(c, line, sizeof(line));
	sep = line[0] != '\0' ? ": " : "";
	if (st == -1) {
		exec_child_end(c, OUTCOME_RETRYABLE, "the command's exit "
		    "status was lost (reaped by other code)");
	} else if (WIFEXITED(st) && (code = WEXITSTATUS(st)) == 0) {
		exec_child_end(c, OUTCOME_DELIVERED, NULL);
	} else if (WIFEXITED(st)) {
		snprintf(error, sizeof(error), "exited with status %d%s%s%s",
		    code, code == EX_TEMPFAIL ? " (temporary failure)" : "",
		    sep, line);
		exec_child_end(c, code == EX_TEMPFAIL ? OUTCOME_RETRYABLE :
		    OUTCOME_PERMANENT, error);
	} else {
		sig = sigabbrev_np(WTERMSIG(st));
		snprintf(error, sizeof(error), "killed by signal %d "
		    "(SIG%s)%s%s", WTERMSIG(st), sig != NULL ? sig : "?", sep,
		    line);
		exec_child_end(c, OUTCOME_RETRYABLE, error);
	}
}

static struct exec_child *
exec_child_of(const struct channel *ch)
{
	struct exec_child *c;

	TAILQ_FOREACH(c, &exec_shared.children, entry)
		if (c->ch == ch)
			return (c);
	return (NULL);
}

/*
 * Reap our children that have ended, then report them. Collecting first
 * and reporting after keeps the walk safe from what done_cb may do.
 */
static void
exec_reap(void)
{
	struct exec_child *c, *next;
	pid_t r;

	TAILQ_FOREACH_SAFE(c, &exec_shared.children, entry, next) {
		if (c->reaped)
			continue;
		while ((r = waitpid(c->pid, &c->status, WNOHANG)) == -1 &&
		    errno == EINTR)
			;
		if (r == 0)
			continue;
		if (r == -1)
			c->status = -1;
		c->reaped = 1;
		if (c->ch == NULL) {
			TAILQ_REMOVE(&exec_shared.children, c, entry);
			free(c);
		}
	}
	for (;;) {
		TAILQ_FOREACH(c, &exec_shared.children, entry)
			if (c->reaped && c->ch != NULL)
				break;
		if (c == NULL)
			break;
		exec_child_exited(c);
	}
}

static void
exec_close_stdin(struct exec_child *c)
{
	if (c->stdin_ev != NULL)
		event_free(c->stdin_ev);
	c->stdin_ev = NULL;
	if (c->stdin_fd != -1)
		close(c->stdin_fd);
	c->stdin_fd = -1;
}

static void
exec_close_stderr(struct exec_child *c)
{
	if (c->stderr_ev != NULL)
		event_free(c->stderr_ev);
	c->stderr_ev = NULL;
	if (c->stderr_fd != -1)
		close(c->stderr_fd);
	c->stderr_fd = -1;
}

/*
 * After the exit, take what the child left in the pipe (bounded: a
 * grandchild may still be writing) before the event loop saw it.
 */
static void
exec_drain_stderr(struct exec_child *c)
{
	char buf[4096];
	ssize_t n;
	int i;

	if (c->stderr_fd == -1)
		return;
	for (i = 0; i < EXEC_STDERR_DRAIN; i++) {
		if ((n = read(c->stderr_fd, buf, sizeof(buf))) <= 0)
			break;
		exec_keep_stderr(c, buf, (size_t)n);
	}
}

static void
exec_keep_stderr(struct exec_child *c, const char *buf, size_t len)
{
	size_t room = EXEC_STDERR_KEEP - c->errlen;

	if (len > room)
		len = room;
	memcpy(c->err + c->errlen, buf, len);
	c->errlen += len;
	c->err[c->errlen] = '\0';
}

/* The first non-empty line of stderr, printable, for the error text. */
static void
exec_stderr_line(const struct exec_child *c, char *line, size_t len)
{
	const char *p = c->err;
	size_t i = 0;

	while (*p == '\n' || *p == '\r')
		p++;
	for (; *p != '\0' && *p != '\n' && *p != '\r' && i + 1 < len; p++)
		line[i++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ?
		    ' ' : *p;
	line[i] = '\0';
}

/*
 * write(2) to a pipe whose reader may be gone, without dying of SIGPIPE
 * whatever the daemon's disposition: SIGPIPE is blocked for the call and a
 * pending one is taken back before unblocking.
 */
static ssize_t
exec_write_pipe(int fd, const void *buf, size_t len)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old;
	ssize_t n;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	saved = errno;
	if (n == -1 && saved == EPIPE && !sigismember(&old, SIGPIPE))
		while (sigtimedwait(&pipe_set, NULL, &zero) == -1 &&
		    errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return (n);
}

/*
 * Feed the payload as the pipe takes it: a child that never reads costs
 * nothing but its timeout, one that closes stdin early just ends it.
 */
static void
exec_stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_child *c = arg;
	ssize_t n;

	(void)what;
	n = exec_write_pipe(fd, c->payload + c->off, c->len - c->off);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		c->off += (size_t)n;
		if (c->off < c->len)
			return;
	}
	/* All written (the child sees EOF), or EPIPE: no more to say. */
	exec_close_stdin(c);
}

static void
exec_stderr_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_child *c = arg;
	char buf[4096];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		exec_close_stderr(c);
		return;
	}
	exec_keep_stderr(c, buf, (size_t)n);
}

/* Too long: kill the whole process group; SIGCHLD reaps it later. */
static void
exec_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_child *c = arg;
	char error[128], took[32];

	(void)fd;
	(void)what;
	duration_format(c->ch->conf->timeout_ms, took, sizeof(took));
	snprintf(error, sizeof(error), "timed out after %s", took);
	kill(-c->pid, SIGKILL);
	exec_child_end(c, OUTCOME_RETRYABLE, error);
}

static void
exec_sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	(void)arg;
	exec_reap();
}

/*
 * Kill and report what this channel has in flight. A killed child is
 * reaped on a later SIGCHLD (or when an exec channel next starts) rather
 * than waited for here.
 */
static void
exec_stop(struct channel *ch)
{
	struct exec_child *c;

	while ((c = exec_child_of(ch)) != NULL) {
		if (!c->reaped)
			kill(-c->pid, SIGKILL);
		exec_child_end(c, OUTCOME_RETRYABLE, "channel stopped");
	}
	ch->state = NULL;
	if (--exec_shared.nchannels > 0)
		return;
	event_free(exec_shared.sigchld);
	exec_shared.sigchld = NULL;
	exec_shared.base = NULL;
}
