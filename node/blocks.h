/* blocks.h - array-wide temporary blocks, the member's side.
 *
 * Every BLOCKS_TICK_MS the member reads its kernel block sets
 * (tcp_block4/6, http_block4/6, halfopen_block4/6, and intrusion
 * detection's ids_block4/6: its expiry is the longest --block of the
 * detections that are on).  A source it did not
 * know is a block this member raised: its expiry is now + the set's
 * timeout (block-time, or the watcher's 10 s for half-open), and it goes
 * to the store in a BlockList (block_report).  The store publishes the
 * running blocks (block_list): each one this member does not hold is
 * added to its own set with the time left, so a source blocked on fw1 is
 * refused by fw2 until the same moment, failover or not.  At most
 * BLOCKS_MAX sources are tracked; past that new ones stay local. */
#ifndef PX_BLOCKS_H
#define PX_BLOCKS_H

#include "node.h"
#include "phalanx.pb-c.h"

void px_blocks_start(px_node_t *n);
void px_blocks_stop(px_node_t *n);
/* The store's running blocks (Envelope.block_list). */
void px_blocks_in(px_node_t *n, const Phalanx__BlockList *l);
/* Whether e in kernel set `set' is a block another member raised (added
 * here by px_blocks_in): its alert is that member's, not this one's. */
bool px_blocks_from_array(px_node_t *n, const char *set,
			  const px_entry_t *e);

#endif
