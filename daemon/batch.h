/*
 * batch.h: digests of batch notices (SPEC §5): per channel, items collect
 * until the window passes, max_items is reached, or an `at` time of day
 * comes; then they leave as one delivery. A notice is in exactly one
 * digest per channel: the spool records the membership at the flush, and
 * a restart re-forms the same digest under the same delivery id.
 */
#ifndef BATCH_H
#define BATCH_H

#include <stddef.h>
#include <stdint.h>

struct channel;
struct delivery;
struct event_base;
struct policy;
struct spool;

int	batch_init(struct event_base *, struct spool *,
	    int64_t (*clock)(void));
void	batch_shutdown(void);
/* Collect a batch-class delivery into its channel's open digest. */
void	batch_add(struct channel *, struct delivery *, const struct policy *);
/*
 * A delivery read back from the spool as a member of a flushed digest,
 * with the wall-clock time of the digest's next attempt (0: none planned).
 */
void	batch_restore(struct channel *, const char *digest_id,
	    struct delivery *, int64_t next_ms);
/* Send the digests batch_restore re-formed. */
void	batch_restore_done(void);
/* A reload replaced a channel: its open digest moves to the new one. */
void	batch_move(struct channel *from, struct channel *to);
/* Send a channel's open digest now (the channel is being removed). */
void	batch_flush_now(struct channel *);
/* Let go of a channel's open digest (its items stay pending in the spool). */
void	batch_channel_free(struct channel *);
size_t	batch_items(const struct channel *);
/* When the channel's open digest will be flushed (wall ms), or 0. */
int64_t	batch_next_flush(const struct channel *);
/*
 * Flush every digest due by now_ms; returns how many were. For a heap
 * made without an event base (tests), which has no timer of its own.
 */
size_t	batch_tick(int64_t now_ms);

#endif /* BATCH_H */
