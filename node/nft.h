/* nft.h - all nftables I/O of a member (libnftnl + libmnl).
 *
 * The member owns one table (default "inet phalanx") and never touches
 * any other.  Each exception set S becomes four kernel sets, because a
 * one-element change in a 1M-entry interval set costs 130-350 ms per
 * commit while a hash set costs < 1 ms:
 *     S.v4  hash      ipv4_addr   (hosts)
 *     S.n4  interval  ipv4_addr   (prefixes)
 *     S.v6  hash      ipv6_addr
 *     S.n6  interval  ipv6_addr
 * plus the base chains "input" and "forward". */
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

/* Bring the kernel from policy `old` to `new_` in ONE atomic batch.
 * old == NULL rebuilds: the table is deleted (if present) and created
 * again with everything in new_, in the same batch.  Only differences
 * are sent otherwise.  On any error the kernel keeps the old policy
 * (the batch is atomic) and a negative error is returned; PX_EKERNEL
 * means the kernel accepted but a post-load size check failed (the
 * caller should rebuild).  stats may be NULL. */
int px_nft_apply(px_nft_t *nft, const px_policy_t *old,
		 const px_policy_t *new_, px_nft_stats_t *stats);

/* Add or delete one element of a kernel set of the table, in its own
 * small batch: for the watcher's block sets ("halfopen_block4",
 * "halfopen_block6").  addr is 4 or 16 bytes by family (4 or 6);
 * timeout_ms > 0 gives the element that timeout (0: the set's default).
 * EEXIST on add and ENOENT on delete count as success. */
int px_nft_elem(px_nft_t *nft, const char *kset, int family,
		const uint8_t *addr, uint64_t timeout_ms, bool add);

/* Delete the table (member shutdown with --flush-on-exit). */
int px_nft_delete_table(px_nft_t *nft);

/* Count the elements of one kernel set by a netlink dump (ranges count
 * once).  For verification after bulk loads and for tests. */
int px_nft_count(px_nft_t *nft, const char *kset, uint64_t *count);

#endif
