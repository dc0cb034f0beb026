/* ids_syn.h - intrusion detection's syn-attack on a member (issue 12
 * item 6, docs/protection.md): the conntrack watcher's count of
 * half-open TCP connections against the detection's threshold, once a
 * second.  The decision is lib/ids.c's px_ids_surge; this file acts on
 * it: the member's log line with TMG's code, the `syn-attack' alert
 * (the store gathers every member's), and with --block the top sources
 * into ids_block4, which node/blocks.c reports array-wide. */
#ifndef PX_IDS_SYN_H
#define PX_IDS_SYN_H

#include "alert.h"
#include "ids.h"
#include "node.h"

/* What the alert engine is to observe: the member's count, the
 * threshold and the alert's text. */
typedef struct {
	uint32_t count, threshold;
	char text[PX_ALERT_TEXT_MAX];
} px_ids_syn_obs_t;

/* One second of syn-attack on member n at now_ms (monotonic); st is the
 * caller's, zeroed before the first call.  True while the member is over
 * the threshold: *out is the `syn-attack' observation (the engine keeps
 * it to one alert a window).  Once a window of a surge it logs the line
 * with TMG's code and, with --block, blocks the top sources.  False
 * without a watcher or with the detection off. */
bool px_ids_syn_tick(px_node_t *n, px_ids_surge_t *st, uint64_t now_ms,
		     px_ids_syn_obs_t *out);

#endif
