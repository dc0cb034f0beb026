/* pressure.h - resource protection: the conntrack table's fill.
 *
 * ISA's "low non-paged pool" answer, for conntrack: once a second the
 * member reads the table's fill (nf_conntrack_count against
 * nf_conntrack_max, or --ct-max).  At PX_PRESSURE_LOW_PCT it alerts
 * "conntrack-headroom", lowers the idle time-out of established TCP
 * connections to six minutes and ends those idle six minutes or more;
 * at PX_PRESSURE_EXTREME_PCT new connections are refused except from
 * exception sets (px_nft_set_pressure).  Below PX_PRESSURE_OK_PCT it
 * undoes all that and the alert recovers. */
#ifndef PX_PRESSURE_H
#define PX_PRESSURE_H

#include <stdint.h>

#include "node.h"

#define PX_PRESSURE_LOW_PCT 80
#define PX_PRESSURE_EXTREME_PCT 95
/* Hysteresis: levels only fall back below this, so a table hovering at
 * a threshold does not flap. */
#define PX_PRESSURE_OK_PCT 70
/* ISA ends sessions idle six minutes or more (--pressure-idle-s). */
#define PX_PRESSURE_IDLE_S 360

enum { PX_PRESSURE_NONE = 0, PX_PRESSURE_LOW = 1, PX_PRESSURE_EXTREME = 2 };

/* Pure: the level after `level' for a table holding count of max. */
int px_pressure_level(int level, uint64_t count, uint64_t max);

/* Once a second from the node's tick. */
void px_pressure_tick(px_node_t *n);
/* Undo what pressure changed (time-outs) on stop. */
void px_pressure_stop(px_node_t *n);

#endif
