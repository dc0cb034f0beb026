/* blocks.c - array-wide temporary blocks, the store's side.
 *
 * Members report the blocks their kernels raise (Envelope.block_report);
 * the store keeps the running ones (at most STORE_BLOCKS_MAX, in memory
 * and in the database's "blocks", read back at the first use after a
 * start: a store restart must not hand a restarted member an array
 * without the blocks still running) and publishes each new one at once and all of
 * them with every heartbeat (Envelope.block_list), so a member that
 * starts or resyncs gets the blocks still running.  node/blocks.c adds
 * them to the other members' sets with the time left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"
#include "store.h"
#include "wire.h"

/* At ~40 bytes a block, the full list stays under 64 KiB a heartbeat. */
#define STORE_BLOCKS_MAX 1536
/* No block outlives the longest block-time (lib/limit.c: 86400 s). */
#define BLOCK_MAX_MS (86400ull * 1000)

struct blk {
	char set[PX_SETNAME_MAX + 1];
	char member[PX_MEMBER_ID_MAX + 1];
	uint8_t entry[PX_ENTRY_WIRE_MAX];
	size_t len;
	uint64_t expires_ms;
};

static struct blk blks[STORE_BLOCKS_MAX];
static size_t nblks;
static bool full_logged, loaded;

static const char *const sets[] = {
	"tcp_block4", "tcp_block6", "http_block4", "http_block6",
	"halfopen_block4", "halfopen_block6",
	"ids_block4", "ids_block6", /* intrusion detection (lib/ids.h) */
};

static void loaded_one(const px_db_block_t *b, void *arg)
{
	struct blk *k;

	(void)arg;
	if (nblks == STORE_BLOCKS_MAX)
		return;
	k = &blks[nblks++];
	snprintf(k->set, sizeof(k->set), "%s", b->set);
	snprintf(k->member, sizeof(k->member), "%s", b->member);
	memcpy(k->entry, b->entry, b->len);
	k->len = b->len;
	k->expires_ms = b->expires_ms;
}

/* The blocks a previous run of the store kept, once. */
static void load(px_store_t *st)
{
	int rc;

	if (loaded)
		return;
	loaded = true;
	rc = px_db_blocks(st->db, px_now_ms(), loaded_one, NULL);
	if (rc < 0)
		px_log(PX_LOG_WARN, "array-wide blocks: cannot read the "
		       "running ones back: %s", px_strerror(rc));
	else if (nblks)
		px_log(PX_LOG_INFO, "array-wide blocks: %zu still running "
		       "from before the start", nblks);
}

static void expire(px_store_t *st, uint64_t now)
{
	size_t i = 0, gone = 0;
	int rc;

	load(st);
	while (i < nblks) {
		if (blks[i].expires_ms <= now) {
			blks[i] = blks[--nblks];
			gone++;
		} else {
			i++;
		}
	}
	if (nblks < STORE_BLOCKS_MAX)
		full_logged = false;
	if (gone && (rc = px_db_blocks_expire(st->db, now)) < 0)
		px_log(PX_LOG_WARN, "array-wide blocks: %zu expired ones not "
		       "deleted from the database (next expiry retries): %s",
		       gone, px_strerror(rc));
}

/* Keep the new or extended blocks v[0..n) in the database. */
static void persist(px_store_t *st, struct blk *const *v, size_t n)
{
	px_db_block_t *d;
	int rc;

	if (!n)
		return;
	d = xcalloc(n, sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		snprintf(d[i].set, sizeof(d[i].set), "%s", v[i]->set);
		snprintf(d[i].member, sizeof(d[i].member), "%s", v[i]->member);
		memcpy(d[i].entry, v[i]->entry, v[i]->len);
		d[i].len = v[i]->len;
		d[i].expires_ms = v[i]->expires_ms;
	}
	rc = px_db_blocks_put(st->db, d, n);
	if (rc < 0)
		px_log(PX_LOG_WARN, "array-wide blocks: %zu not kept in the "
		       "database (a store restart would forget them): %s", n,
		       px_strerror(rc));
	free(d);
}

static void publish(px_store_t *st, struct blk *const *v, size_t n)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__BlockList l = PHALANX__BLOCK_LIST__INIT;
	Phalanx__Block *bv, **bp;
	int rc;

	if (!n)
		return;
	bv = xcalloc(n, sizeof(*bv));
	bp = xcalloc(n, sizeof(*bp));
	for (size_t i = 0; i < n; i++) {
		phalanx__block__init(&bv[i]);
		bv[i].set = v[i]->set;
		bv[i].member = v[i]->member;
		bv[i].entry.data = v[i]->entry;
		bv[i].entry.len = v[i]->len;
		bv[i].expires_ms = v[i]->expires_ms;
		bp[i] = &bv[i];
	}
	l.blocks = bp;
	l.n_blocks = n;
	px_store_stamp(st, &env);
	env.body_case = PHALANX__ENVELOPE__BODY_BLOCK_LIST;
	env.block_list = &l;
	rc = px_wire_send(st->pub, NULL, &env);
	if (rc < 0)
		px_log(PX_LOG_WARN, "array-wide blocks: publishing %zu: %s", n,
		       px_strerror(rc));
	free(bp);
	free(bv);
}

void px_store_blocks_in(px_store_t *st, const Phalanx__BlockList *l)
{
	uint64_t now = px_now_ms();
	struct blk **fresh = xcalloc(l->n_blocks + 1, sizeof(*fresh));
	struct blk **changed = xcalloc(l->n_blocks + 1, sizeof(*changed));
	size_t nfresh = 0, nchanged = 0;

	expire(st, now);
	for (size_t i = 0; i < l->n_blocks; i++) {
		const Phalanx__Block *b = l->blocks[i];
		px_entry_t e;
		struct blk *k = NULL;
		size_t s;

		for (s = 0; s < sizeof(sets) / sizeof(sets[0]); s++)
			if (strcmp(b->set, sets[s]) == 0)
				break;
		if (s == sizeof(sets) / sizeof(sets[0]) ||
		    !px_member_id_valid(b->member) ||
		    px_entry_decode(b->entry.data, b->entry.len, &e) < 0 ||
		    b->expires_ms <= now || b->expires_ms > now + BLOCK_MAX_MS) {
			px_log(PX_LOG_WARN, "array-wide blocks: refused a block "
			       "(set `%.24s', member `%.64s', expiry %llu)",
			       b->set, b->member,
			       (unsigned long long)b->expires_ms);
			continue;
		}
		for (size_t j = 0; j < nblks && !k; j++)
			if (strcmp(blks[j].set, b->set) == 0 &&
			    blks[j].len == b->entry.len &&
			    memcmp(blks[j].entry, b->entry.data, b->entry.len) == 0)
				k = &blks[j];
		if (k) {
			/* Raised again elsewhere: the later expiry holds. */
			if (b->expires_ms > k->expires_ms) {
				k->expires_ms = b->expires_ms;
				changed[nchanged++] = k;
			}
			continue;
		}
		if (nblks == STORE_BLOCKS_MAX) {
			if (!full_logged)
				px_log(PX_LOG_WARN, "array-wide blocks: %d "
				       "running; new ones stay on the member "
				       "that raised them", STORE_BLOCKS_MAX);
			full_logged = true;
			continue;
		}
		k = &blks[nblks++];
		snprintf(k->set, sizeof(k->set), "%s", b->set);
		snprintf(k->member, sizeof(k->member), "%s", b->member);
		memcpy(k->entry, b->entry.data, b->entry.len);
		k->len = b->entry.len;
		k->expires_ms = b->expires_ms;
		fresh[nfresh++] = k;
		changed[nchanged++] = k;
	}
	persist(st, changed, nchanged);
	publish(st, fresh, nfresh);
	free(changed);
	free(fresh);
}

void px_store_blocks_tick(px_store_t *st)
{
	struct blk *all[STORE_BLOCKS_MAX];

	expire(st, px_now_ms());
	for (size_t i = 0; i < nblks; i++)
		all[i] = &blks[i];
	publish(st, all, nblks);
}
