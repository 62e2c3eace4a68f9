/*
 * log.c: logging. One line an event with key=value fields, written to
 * stderr so that journald (or a terminal) takes it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

static const char	*log_progname = "switchboardd";
static int		 log_level = LOG_LEVEL_INFO;
static int		 log_syslog;

static void	log_vwrite(int, const char *, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

void
log_init(const char *progname, int level)
{
	log_progname = progname;
	log_level = level;
}

/* Once detached from the terminal, stderr goes nowhere: use syslog. */
void
log_use_syslog(void)
{
	openlog(log_progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = 1;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_level_parse(const char *s)
{
	static const char *const names[] = { "error", "warn", "info",
	    "debug" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i]) == 0)
			return ((int)i);
	return (-1);
}

/* Write one line; errstr, when not NULL, is appended as error="...". */
static void
log_vwrite(int level, const char *errstr, const char *fmt, va_list ap)
{
	static const char *const tags[] = { "error", "warn", "info",
	    "debug" };
	char line[2048];
	int n;

	if (level > log_level)
		return;
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	if (log_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
		    LOG_DEBUG };

		if (errstr != NULL)
			syslog(prio[level], "%s error=\"%s\"", line, errstr);
		else
			syslog(prio[level], "%s", line);
	} else if (errstr != NULL)
		fprintf(stderr, "%s: level=%s %s error=\"%s\"\n",
		    log_progname, tags[level], line, errstr);
	else
		fprintf(stderr, "%s: level=%s %s\n", log_progname,
		    tags[level], line);
}

void
log_warn(const char *fmt, ...)
{
	char errbuf[128];
	va_list ap;
	int saved = errno;

	strerror_r(saved, errbuf, sizeof(errbuf));
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, errbuf, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char errbuf[128];
	va_list ap;

	strerror_r(errno, errbuf, sizeof(errbuf));
	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, errbuf, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
