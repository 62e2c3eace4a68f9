/*
 * adapter_discard.c: the "discard" channel. Every delivery succeeds at once
 * and goes nowhere: a sink for trials, benchmarks and routes whose notices
 * are only to be counted.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "config.h"

static int	discard_check(const config_setting_t *, void **,
		    struct config_errors *);
static int	discard_start(struct channel *, char *, size_t);
static void	discard_deliver(struct channel *, struct delivery *);
static void	discard_stop(struct channel *);
static int	discard_option_known(const char *);

const struct adapter_ops adapter_discard_ops = {
	.name = "discard",
	.check = discard_check,
	.args_free = free,
	.start = discard_start,
	.deliver = discard_deliver,
	.stop = discard_stop,
};

static int
discard_option_known(const char *name)
{
	return (config_channel_common(name));
}

/* A discard channel has no options of its own: any other key is a typo. */
static int
discard_check(const config_setting_t *group, void **argsp,
    struct config_errors *errs)
{
	const char *name = config_setting_name(group);
	const config_setting_t *s;
	int i, rc = 0;

	*argsp = NULL;
	for (i = 0; (s = config_setting_get_elem(group, i)) != NULL; i++) {
		if (!discard_option_known(config_setting_name(s))) {
			config_error(errs, s, "channel %s: unknown option '%s' "
			    "(type discard has no options of its own)",
			    name != NULL ? name : "(unnamed)",
			    config_setting_name(s));
			rc = -1;
		}
	}
	return (rc);
}

static int
discard_start(struct channel *ch, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	ch->state = NULL;
	return (0);
}

static void
discard_deliver(struct channel *ch, struct delivery *d)
{
	channel_done(ch, d, OUTCOME_DELIVERED, NULL);
}

static void
discard_stop(struct channel *ch)
{
	ch->state = NULL;
}
