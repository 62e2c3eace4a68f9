/*
 * classify.h: a notice's class (SPEC §3): the config's rules, first match
 * wins; then the publisher's hint when trusted; then the defaults.
 */
#ifndef CLASSIFY_H
#define CLASSIFY_H

#include "notice.h"

struct config;

enum notice_class	classify_notice(const struct config *,
			    const struct notice *);

#endif /* CLASSIFY_H */
