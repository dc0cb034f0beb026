/* vrrp.h - phalanx-node's side of keepalived: the readiness gate's
 * track files and the member's VRRP role.  All of its file I/O.
 *
 * Out: --track-file PATH       "0" ready, "1" at fault (keepalived
 *                              track_file, weight 0: non-zero is fault);
 *      --track-stale-file PATH "1" while the member enforces a policy it
 *                              could not check against a store (a
 *                              weighted track_file: lower priority).
 *      Both written by rename, re-asserted every 200 ms (keepalived's
 *      init_file overwrites them when it starts), logged on change.
 * In:  --vrrp-state-file PATH  "STATE PRIORITY" from keepalived's notify
 *                              script (deploy/keepalived/px-vrrp-notify):
 *                              the role in heartbeats and members list.
 * The verdict comes from gate.h.  Without --track-file nothing runs. */
#ifndef PX_VRRP_H
#define PX_VRRP_H

#include "node.h"
#include "phalanx.pb-c.h"

/* VRRP's IP protocol number and conntrackd's sync port (the Group of
 * deploy/keepalived/conntrackd.conf.in): nft.c accepts both ahead of
 * every limit. */
#define PX_IPPROTO_VRRP 112
#define PX_CONNTRACKD_PORT 3780

/* Options of phalanx-node this file owns: "track-file",
 * "track-stale-file", "vrrp-state-file".  0, PX_ERANGE on a bad value,
 * PX_EOPTION for another key. */
int px_vrrp_option(px_node_opts_t *o, const char *key, const char *value);
extern const char px_vrrp_usage[];

/* Start the gate (sets n->vrrp; a no-op without --track-file).  0 or
 * a negative error (a track file that cannot be written). */
int px_vrrp_start(px_node_t *n);
void px_vrrp_stop(px_node_t *n);
/* Feeds from sync.c: a store heartbeat (its version, and whether it
 * lists this member as drained); the result of an apply. */
void px_vrrp_store_heartbeat(px_node_t *n, const Phalanx__StoreHeartbeat *hb);
void px_vrrp_applied(px_node_t *n, int rc);
/* "master", "backup", "fault", "drained" or "" (no keepalived state). */
const char *px_vrrp_role(px_node_t *n);
/* Fill hb->addresses with the member's addresses (virtual ones included
 * while it holds them; loopback and link-local left out; at most 16):
 * pointers into a static buffer, valid until the next call. */
void px_vrrp_addresses(Phalanx__Heartbeat *hb);

#endif
