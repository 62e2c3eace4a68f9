/*
 * classify.c: a notice's class (SPEC §3). The config's rules come first,
 * the first match wins; then the publisher's hint, when the config trusts
 * it; then the defaults, which read what the notice asks of its readers:
 * a response (interactive), haste (realtime), or neither (batch).
 */
#include "classify.h"
#include "config.h"
#include "match.h"
#include "notice.h"

enum notice_class
classify_notice(const struct config *cf, const struct notice *n)
{
	size_t i;

	for (i = 0; i < cf->nrules; i++)
		if (match_notice(&cf->rules[i].match, n))
			return (cf->rules[i].class);
	if (cf->trust_hint && n->class_hint > CLASS_NONE &&
	    n->class_hint < CLASS_COUNT)
		return (n->class_hint);
	if (n->respond_within_ms > 0 || n->goal == GOAL_COLLECT ||
	    n->goal == GOAL_RESOLVE)
		return (CLASS_INTERACTIVE);
	if (n->priority >= PRIORITY_HIGH)
		return (CLASS_REALTIME);
	return (CLASS_BATCH);
}
