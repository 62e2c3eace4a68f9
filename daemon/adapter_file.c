/*
 * adapter_file.c: the "file" channel, a feed or bulletin. Each delivery is
 * one JSON line appended to a file; SIGHUP reopens the path so that log
 * rotation (rename, then signal) works without losing a line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "config.h"
#include "log.h"

#define FILE_MODE	0640

struct file_args {
	char	*path;
};

struct file_state {
	int	 fd;
	int	 failing;	/* the last write failed */
};

static int	file_check(const config_setting_t *, void **,
		    struct config_errors *);
static void	file_args_free(void *);
static int	file_start(struct channel *, char *, size_t);
static void	file_deliver(struct channel *, struct delivery *);
static int	file_health(struct channel *);
static void	file_reopen(struct channel *);
static void	file_stop(struct channel *);
static int	file_open(const char *);
static int	file_write_line(int, const char *, size_t);
static int	file_option_known(const char *);

const struct adapter_ops adapter_file_ops = {
	.name = "file",
	.check = file_check,
	.args_free = file_args_free,
	.start = file_start,
	.deliver = file_deliver,
	.health = file_health,
	.reopen = file_reopen,
	.stop = file_stop,
};

static int
file_option_known(const char *name)
{
	if (strcmp(name, "path") == 0)
		return (1);
	return (config_channel_common(name));
}

/* Validate the options of a file channel: one required string, path. */
static int
file_check(const config_setting_t *group, void **argsp,
    struct config_errors *errs)
{
	const char *name = config_setting_name(group);
	const config_setting_t *s;
	struct file_args *args;
	const char *path;
	int i, rc = 0;

	*argsp = NULL;
	if (name == NULL)
		name = "(unnamed)";
	for (i = 0; (s = config_setting_get_elem(group, i)) != NULL; i++) {
		if (!file_option_known(config_setting_name(s))) {
			config_error(errs, s, "channel %s: unknown option '%s' "
			    "for type file (its only option is path)", name,
			    config_setting_name(s));
			rc = -1;
		}
	}
	if ((s = config_setting_get_member(group, "path")) == NULL) {
		config_error(errs, group, "channel %s: type file needs a "
		    "path (the file to append JSON lines to)", name);
		return (-1);
	}
	if ((path = config_setting_get_string(s)) == NULL || *path == '\0') {
		config_error(errs, s, "channel %s: path must be a non-empty "
		    "string", name);
		return (-1);
	}
	if (rc == -1)
		return (-1);
	if ((args = calloc(1, sizeof(*args))) == NULL ||
	    (args->path = strdup(path)) == NULL) {
		free(args);
		config_error(errs, s, "channel %s: out of memory", name);
		return (-1);
	}
	*argsp = args;
	return (0);
}

static void
file_args_free(void *p)
{
	struct file_args *args = p;

	if (args == NULL)
		return;
	free(args->path);
	free(args);
}

/*
 * O_NONBLOCK changes nothing for a regular file; it keeps a FIFO without a
 * reader from hanging the daemon in open(2).
 */
static int
file_open(const char *path)
{
	return (open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NONBLOCK, FILE_MODE));
}

static int
file_start(struct channel *ch, char *err, size_t errlen)
{
	const struct file_args *args = ch->conf->args;
	struct file_state *st;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		snprintf(err, errlen, "channel %s: out of memory", ch->name);
		return (-1);
	}
	if ((st->fd = file_open(args->path)) == -1) {
		snprintf(err, errlen, "channel %s: cannot open %s: %s",
		    ch->name, args->path, strerror(errno));
		free(st);
		return (-1);
	}
	ch->state = st;
	return (0);
}

/*
 * Append one line with a single write(2), so that a reader never sees two
 * deliveries interleaved. If the disk fills half-way, the partial line is
 * cut off again: a retry must not leave a torn line in the feed.
 */
static int
file_write_line(int fd, const char *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;
	off_t end;
	int saved;

	while (done < len) {
		n = write(fd, buf + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			if (done > 0 && (end = lseek(fd, 0, SEEK_CUR)) != -1)
				(void)ftruncate(fd, end - (off_t)done);
			errno = saved;
			return (-1);
		}
		done += (size_t)n;
	}
	return (0);
}

static void
file_deliver(struct channel *ch, struct delivery *d)
{
	const struct file_args *args = ch->conf->args;
	struct file_state *st = ch->state;
	char error[512], *payload, *line;
	size_t len;

	if ((payload = delivery_json(d, &len)) == NULL) {
		channel_done(ch, d, OUTCOME_RETRYABLE,
		    "cannot encode the delivery (out of memory)");
		return;
	}
	if ((line = realloc(payload, len + 1)) == NULL) {
		free(payload);
		channel_done(ch, d, OUTCOME_RETRYABLE, "out of memory");
		return;
	}
	line[len] = '\n';
	if (file_write_line(st->fd, line, len + 1) == -1) {
		snprintf(error, sizeof(error), "write %s: %s", args->path,
		    strerror(errno));
		free(line);
		st->failing = 1;
		channel_done(ch, d, OUTCOME_RETRYABLE, error);
		return;
	}
	free(line);
	st->failing = 0;
	channel_done(ch, d, OUTCOME_DELIVERED, NULL);
}

static int
file_health(struct channel *ch)
{
	const struct file_state *st = ch->state;

	return (st->failing ? -1 : 0);
}

/* Reopen the path (after rotation); on failure keep writing the old file. */
static void
file_reopen(struct channel *ch)
{
	const struct file_args *args = ch->conf->args;
	struct file_state *st = ch->state;
	int fd;

	if ((fd = file_open(args->path)) == -1) {
		log_warn("reopen channel=%s path=%s: keeping the old file",
		    ch->name, args->path);
		return;
	}
	close(st->fd);
	st->fd = fd;
	st->failing = 0;
	log_debug("reopen channel=%s path=%s", ch->name, args->path);
}

/* Every delivery ends inside deliver: nothing is ever in flight here. */
static void
file_stop(struct channel *ch)
{
	struct file_state *st = ch->state;

	if (st == NULL)
		return;
	close(st->fd);
	free(st);
	ch->state = NULL;
}
