/* nft.h - the nftables I/O of a member (libmnl): the netlink socket,
 * batches sent and acknowledged, dumps and lookups.  What goes into the
 * table is decided by layout.h and encoded by compile.h; names are in
 * vocab.h.
 *
 * The member owns one table (default "inet phalanx") and never touches
 * any other; docs/nft-layout.md is the contract for what is in it.  Each
 * exception set S becomes four kernel sets, because a one-element change
 * in a 1M-entry interval set costs 130-350 ms per commit while a hash set
 * costs < 1 ms:
 *     S.v4  hash      ipv4_addr   (hosts)
 *     S.n4  interval  ipv4_addr   (prefixes)
 *     S.v6  hash      ipv6_addr
 *     S.n6  interval  ipv6_addr
 * Around them, generated from the policy's limits, rules and services:
 * the base chains "input" and "forward", the chain "guard" and one
 * "tier_T" chain per exception tier, the block sets (tcp_block4/6,
 * http_block4/6, halfopen_block4/6), meters, observe sets, the
 * management sets mgmt4/mgmt6 and named counters. */
#ifndef PX_NFT_H
#define PX_NFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

typedef struct px_nft px_nft_t;

typedef struct {
	uint64_t elems_added, elems_deleted;
	uint32_t messages;  /* netlink messages in the batch */
	size_t batch_bytes;
	uint64_t usec;      /* wall time of build + commit */
} px_nft_stats_t;

/* Open the netlink socket for table `name` (family inet).  0 or -errno. */
int px_nft_open(px_nft_t **out, const char *table);
void px_nft_close(px_nft_t *nft); /* NULL is a no-op */

/* Bring the kernel from policy `old` to `new_` in ONE atomic batch:
 * exception sets, limits, rules and services.  old == NULL rebuilds: the
 * table is deleted (if present) and created again with everything in
 * new_, in the same batch.  Only differences are sent otherwise: element
 * diffs of the exception sets; the rules are flushed and added again
 * only when they change (limits, modes, tiers, rules, services, the
 * names of the sets); meters and other dynamic sets are made again only
 * when their definition changes, and the block sets keep their elements
 * unless block-time or ipv6-source-prefix changes.  An exception's hash
 * set is made with a size (px_kset_capacity()) when it is created with
 * PX_KSET_SIZED_MIN entries or more, and made again, whole, when a
 * change loads that many into one without a size, outgrows its size or
 * leaves a quarter of it or less in use (the rules are then added again
 * too).  PX_ENOSET if a rule
 * or service names a set new_ lacks (nothing is sent).  On any error the kernel keeps the old policy
 * (the batch is atomic) and a negative error is returned; PX_EKERNEL
 * means the kernel accepted but a post-load size check failed (the
 * caller should rebuild).  stats may be NULL. */
int px_nft_apply(px_nft_t *nft, const px_policy_t *old,
		 const px_policy_t *new_, px_nft_stats_t *stats);

/* An entry-only change of one exception set: add holds entries the
 * set lacks and del entries it holds (both sorted, checked by the
 * caller: node/delta.c). */
typedef struct {
	const char *set;
	const px_entries_t *add, *del;
} px_nft_elems_t;

/* Send the elements of n entry-only changes as ONE atomic batch (each
 * set's deletions, then its additions): no layout, rules or diff.  For
 * sets that exist in the kernel as px_nft_apply() left them.  0, or a
 * negative error and the kernel unchanged (-ENFILE: a set made with a
 * size would outgrow it; px_nft_apply() makes it again).  stats may be
 * NULL. */
int px_nft_apply_elems(px_nft_t *nft, const px_nft_elems_t *d, size_t n,
		       px_nft_stats_t *stats);
/* Whether the next apply must also rewrite the rules or the management
 * sets (pressure changed, --mgmt not sent yet): px_nft_apply() then. */
bool px_nft_rules_pending(const px_nft_t *nft);

/* Add or delete one element of a kernel set of the table, in its own
 * small batch: for the watcher's block sets ("halfopen_block4",
 * "halfopen_block6").  addr is 4 or 16 bytes by family (4 or 6);
 * timeout_ms > 0 gives the element that timeout (0: the set's default).
 * EEXIST on add and ENOENT on delete count as success. */
int px_nft_elem(px_nft_t *nft, const char *kset, int family,
		const uint8_t *addr, uint64_t timeout_ms, bool add);

/* The management prefixes (--mgmt): sources in them are never limited.
 * Copied (hosts become /32 and /128, a prefix inside another is dropped);
 * they go into mgmt4/mgmt6 with the next px_nft_apply(), so call it once
 * before the first apply.  mgmt may be NULL (none).  0 or -EINVAL on an
 * entry of no family. */
int px_nft_set_mgmt(px_nft_t *nft, const px_entries_t *mgmt);

/* Named counters of the table whose name starts with prefix ("" for
 * all): "blocked_Q" (packets quota Q refused), "would_Q" (packets it
 * would have refused in observe mode), "blocked_service-NAME",
 * "rule_NAME" (packets of new sessions that matched rule NAME).  cb is
 * called once per counter after the whole dump was read.  0 or a
 * negative errno (-ENOENT: no table). */
typedef void (*px_nft_counter_cb)(const char *name, uint64_t packets,
				  void *arg);
int px_nft_counters(px_nft_t *nft, const char *prefix, px_nft_counter_cb cb,
		    void *arg);

/* Up to max elements of kernel set kset as hosts (family from the key
 * length; interval ends skipped) into out, their number in *n.  For the
 * small sets (tcp_block4, obs_tcp-connect-rate6, ...): it dumps the whole
 * set, which takes seconds for a 1M-element one.  0 or a negative errno
 * (-ENOENT: no such set). */
int px_nft_list_small(px_nft_t *nft, const char *kset, px_entry_t *out,
		      size_t max, size_t *n);

/* Resource protection at its extreme: with on, new connections are
 * dropped except from members of exception sets (and what is never
 * limited: loopback, the member itself, management prefixes).  Takes
 * effect with the next px_nft_apply(). */
int px_nft_set_pressure(px_nft_t *nft, bool on);

/* Delete the table (member shutdown with --flush-on-exit). */
int px_nft_delete_table(px_nft_t *nft);

/* Count the elements of one kernel set by a netlink dump (ranges count
 * once).  For verification after bulk loads and for tests. */
int px_nft_count(px_nft_t *nft, const char *kset, uint64_t *count);

/* Whether kernel set kset of the table holds entry e, by one lookup in
 * the kernel (NFT_MSG_GETSETELEM with the key; never a dump, so it costs
 * the same in a 1M-element set as in a small one).
 *   - a host in a hash set: that exact element;
 *   - a host in an interval set: a range of the set covers it;
 *   - a prefix in an interval set: a range starts exactly at its first
 *     address and ends exactly at its last (two lookups).
 * Elements whose timeout has passed are absent.  *present is set on
 * success; 0, or -ENOENT if the table or set does not exist, -EINVAL on
 * a bad family, name or a prefix asked of a hash set, or another
 * negative errno from netlink. */
int px_nft_has(px_nft_t *nft, const char *kset, const px_entry_t *e,
	       bool *present);

/* Whether table inet <table> is in the kernel: *exists set on 0, else
 * a negative errno from netlink. */
int px_nft_table_exists(px_nft_t *nft, bool *exists);

/* The fail-closed guard, for a member that has no policy it can trust
 * and no table to keep: replaces table inet <table> in one batch with
 * base chains input and forward of policy drop that accept only
 * loopback, replies to the member's own connections, ICMPv6 to the
 * member (neighbour discovery), and traffic from (and, forwarded, to)
 * the management prefixes (px_nft_set_mgmt) and the entries of extra
 * (may be NULL; e.g. the store's address).  The next px_nft_apply()
 * must rebuild (old NULL).  0 or a negative errno. */
int px_nft_install_guard(px_nft_t *nft, const px_entries_t *extra);

#endif
