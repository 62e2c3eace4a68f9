/*
 * reload.c: the live reload (see reload.h). Parse and validate the whole
 * file; on any error keep the running config and report every error; on
 * success hand the new config to each module that holds one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "accept.h"
#include "acksecret.h"
#include "config.h"
#include "deadline.h"
#include "dispatch.h"
#include "escalate.h"
#include "log.h"
#include "reload.h"
#include "tod.h"

struct config		*reload_current;
static const char	*reload_path;
static const char	*reload_blocked;	/* why reloads are refused */
static struct reload_status reload_state;

static void	reload_fail(const char *, char *, size_t);
static int	reload_same_list(char *const *, size_t, char *const *, size_t);

void
reload_init(struct config *conf, const char *path)
{
	reload_current = conf;
	reload_path = path;
}

const struct reload_status *
reload_last(void)
{
	return (&reload_state);
}

void
reload_block(const char *why)
{
	reload_blocked = why;
}

void
reload_shutdown(void)
{
	config_free(reload_current);
	reload_current = NULL;
}

static int
reload_same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return (0);
	for (i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return (0);
	return (1);
}

/* Record and log a failed attempt; msg gets what went wrong. */
static void
reload_fail(const char *errors, char *msg, size_t len)
{
	reload_state.ok = 0;
	reload_state.failures++;
	strlcpy(reload_state.errors, errors, sizeof(reload_state.errors));
	strlcpy(msg, errors, len);
	log_warnx("reload failed; the running config stays: %s", errors);
}

int
reload_run(char *msg, size_t len)
{
	struct config_errors errs = { .n = 0 };
	struct config *conf, *old = reload_current;
	char buf[sizeof(reload_state.errors)], err[512] = "";
	size_t i;
	int level;

	reload_state.at_ms = deadline_wall_ms();
	if (reload_blocked != NULL) {
		snprintf(msg, len, "%s: not reloaded: %s", reload_path,
		    reload_blocked);
		return (-1);
	}
	sd_notify(0, "RELOADING=1");
	if ((conf = config_load(reload_path, &errs)) == NULL) {
		buf[0] = '\0';
		for (i = 0; i < errs.n; i++) {
			if (i > 0)
				strlcat(buf, "\n", sizeof(buf));
			strlcat(buf, errs.msgs[i], sizeof(buf));
		}
		config_errors_clear(&errs);
		reload_fail(buf, msg, len);
		sd_notify(0, "READY=1");
		return (-1);
	}
	/* The ack secrets first: one that cannot be read fails the reload. */
	if (acksecret_stage(conf, err, sizeof(err)) == -1) {
		snprintf(buf, sizeof(buf), "%s: %s", reload_path, err);
		config_free(conf);
		reload_fail(buf, msg, len);
		sd_notify(0, "READY=1");
		return (-1);
	}
	if (tod_set_zone(conf->timezone) == -1 ||
	    dispatch_reconfigure(conf, old, err, sizeof(err)) == -1) {
		if (tod_set_zone(old->timezone) == 0)
			snprintf(buf, sizeof(buf), "%s: %s", reload_path, err);
		else
			snprintf(buf, sizeof(buf), "%s: timezone %s",
			    reload_path, conf->timezone);
		acksecret_unstage();
		config_free(conf);
		reload_fail(buf, msg, len);
		sd_notify(0, "READY=1");
		return (-1);
	}
	if (!reload_same_list(conf->router, conf->nrouter, old->router,
	    old->nrouter) || !reload_same_list(conf->pull, conf->npull,
	    old->pull, old->npull) ||
	    strcmp(conf->spool_path, old->spool_path) != 0 ||
	    !config_same_string(conf->http_listen, old->http_listen))
		log_warnx("reload: ingress endpoints, spool.path or "
		    "http.listen changed: that takes effect at the next "
		    "restart");
	accept_set_config(conf);
	escalate_set_config(conf);
	reload_current = conf;
	if ((level = log_level_parse(conf->log_level)) != -1)
		log_set_level(level);
	acksecret_commit();
	reload_state.ok = 1;
	reload_state.count++;
	reload_state.errors[0] = '\0';
	log_info("reloaded config=%s hash=%s channels=%zu routes=%zu",
	    reload_path, conf->hash, conf->nchannels, conf->nroutes);
	snprintf(msg, len, "reloaded %s (hash %s)", reload_path, conf->hash);
	sd_notify(0, "READY=1");
	return (0);
}
