/* blocks.c - array-wide temporary blocks, the member's side (blocks.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocks.h"
#include "px.h"
#include "vocab.h"
#include "wire.h"

/* A block raised here reaches the other members within this plus the
 * store's immediate publish: well inside the 1 s the array promises. */
#define BLOCKS_TICK_MS 250
/* Tracked sources; a flood of more distinct sources than this in one
 * block-time stays local (each member still blocks what it sees). */
#define BLOCKS_MAX 1024
/* Sources read from one kernel set per tick. */
#define LIST_MAX 256
/* node/ct.c gives half-open blocks 10 s (BLOCK_MS there). */
#define HALFOPEN_MS 10000

struct known {
	char set[24];
	px_entry_t e;
	uint64_t expires_ms; /* wall clock */
	bool from_array;     /* raised by another member, added here */
};

struct px_blocks {
	px_node_t *n;
	uv_timer_t tick;
	struct known k[BLOCKS_MAX];
	size_t nk;
	px_entry_t list[LIST_MAX];
	bool full_logged;
	px_every_t unsent_log; /* "not reported" at most every 10 s */
};

static const char *const bases[] = { PX_SET_TCP_BLOCK, PX_SET_HTTP_BLOCK,
				     PX_SET_HALFOPEN_BLOCK, PX_SET_IDS_BLOCK };
#define NBASES (sizeof(bases) / sizeof(bases[0]))

static struct known *find(struct px_blocks *b, const char *set,
			  const px_entry_t *e)
{
	for (size_t i = 0; i < b->nk; i++)
		if (strcmp(b->k[i].set, set) == 0 &&
		    px_entry_cmp(&b->k[i].e, e) == 0)
			return &b->k[i];
	return NULL;
}

static struct known *remember(struct px_blocks *b, const char *set,
			      const px_entry_t *e, uint64_t expires_ms)
{
	struct known *k;

	if (b->nk == BLOCKS_MAX) {
		if (!b->full_logged)
			px_log(PX_LOG_WARN, "array-wide blocks: %d sources "
			       "tracked; new blocks stay on this member",
			       BLOCKS_MAX);
		b->full_logged = true;
		return NULL;
	}
	k = &b->k[b->nk++];
	snprintf(k->set, sizeof(k->set), "%s", set);
	k->e = *e;
	k->expires_ms = expires_ms;
	k->from_array = false;
	return k;
}

bool px_blocks_from_array(px_node_t *n, const char *set,
			  const px_entry_t *e)
{
	struct known *k;

	if (!n->blocks)
		return false;
	k = find(n->blocks, set, e);
	return k && k->from_array;
}

static void expire(struct px_blocks *b, uint64_t now)
{
	size_t i = 0;

	while (i < b->nk) {
		if (b->k[i].expires_ms <= now)
			b->k[i] = b->k[--b->nk];
		else
			i++;
	}
	if (b->nk < BLOCKS_MAX)
		b->full_logged = false;
}

/* 0, or the failure to send (nothing reached the store). */
static int send_report(struct px_blocks *b, Phalanx__Block *bl, size_t n)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__BlockList l = PHALANX__BLOCK_LIST__INIT;
	Phalanx__Block **p = xcalloc(n, sizeof(*p));
	int rc;

	for (size_t i = 0; i < n; i++)
		p[i] = &bl[i];
	l.blocks = p;
	l.n_blocks = n;
	env.body_case = PHALANX__ENVELOPE__BODY_BLOCK_REPORT;
	env.block_report = &l;
	rc = px_sync_send(b->n, &env);
	if (rc < 0 && px_every(&b->unsent_log, px_mono_ms(), 10000, 1, NULL))
		px_log(PX_LOG_WARN, "array-wide blocks: %zu not reported to the "
		       "store: %s (reported again while they last)", n,
		       px_strerror(rc));
	free(p);
	return rc < 0 ? rc : 0;
}

static void on_tick(uv_timer_t *t)
{
	struct px_blocks *b = t->data;
	px_node_t *n = b->n;
	uint64_t now = px_now_ms();
	uint64_t block_ms = n->applied.limits.value[PX_LIM_BLOCK_TIME] * 1000;
	uint64_t ids_ms = (uint64_t)px_ids_block_max(n->applied.protect.ids) *
			  1000;
	static Phalanx__Block out[LIST_MAX];
	static uint8_t wire[LIST_MAX][PX_ENTRY_WIRE_MAX];
	size_t nout = 0;

	expire(b, now);
	/* n->nft is the apply worker's meanwhile; under a kept table or the
	 * guard the block sets are not the policy's.  Next tick. */
	if (px_node_applying(n) || n->kernel_unknown)
		return;
	for (size_t s = 0; s < NBASES; s++) {
		for (int f = 4; f <= 6; f += 2) {
			char set[24];
			size_t cnt = 0;

			snprintf(set, sizeof(set), "%s%d", bases[s], f);
			if (px_nft_list_small(n->nft, set, b->list, LIST_MAX,
					      &cnt) < 0)
				continue;
			for (size_t i = 0; i < cnt && nout < LIST_MAX; i++) {
				struct known *k;
				/* An intrusion block's own time is its
				 * detection's; the longest one bounds it. */
				uint64_t exp = now + (s == 2 ? HALFOPEN_MS :
						      s == 3 ? ids_ms :
						      block_ms);

				if (find(b, set, &b->list[i]))
					continue;
				k = remember(b, set, &b->list[i], exp);
				if (!k)
					break;
				phalanx__block__init(&out[nout]);
				out[nout].set = k->set;
				out[nout].entry.data = wire[nout];
				out[nout].entry.len = px_entry_encode(&k->e,
								      wire[nout]);
				out[nout].expires_ms = exp;
				out[nout].member = n->o.id;
				nout++;
			}
		}
	}
	/* Not sent: forget them again (remember() appended them), so the
	 * next tick finds them in the kernel's sets and reports them then;
	 * the other members enforce a block only once the store has it. */
	if (nout && send_report(b, out, nout) < 0)
		b->nk -= nout;
}

void px_blocks_in(px_node_t *n, const Phalanx__BlockList *l)
{
	struct px_blocks *b = n->blocks;
	uint64_t now = px_now_ms();

	/* As in on_tick; the store sends the running blocks again with its
	 * next heartbeat. */
	if (!b || px_node_applying(n) || n->kernel_unknown)
		return;
	for (size_t i = 0; i < l->n_blocks; i++) {
		const Phalanx__Block *bl = l->blocks[i];
		struct known *k;
		px_entry_t e;
		size_t s;
		int rc;

		for (s = 0; s < NBASES; s++)
			if (strncmp(bl->set, bases[s], strlen(bases[s])) == 0)
				break;
		if (s == NBASES || bl->expires_ms <= now ||
		    strcmp(bl->member, n->o.id) == 0)
			continue;
		if (px_entry_decode(bl->entry.data, bl->entry.len, &e) < 0 ||
		    strcmp(bl->set + strlen(bases[s]),
			   e.family == 4 ? "4" : "6") != 0 ||
		    find(b, bl->set, &e))
			continue;
		rc = px_nft_elem(n->nft, bl->set, e.family, e.addr,
				 bl->expires_ms - now, true);
		if (rc < 0) {
			char a[PX_ENTRY_STR_MAX];

			px_entry_format(&e, a, sizeof(a));
			px_log(PX_LOG_WARN, "array-wide block of %s in %s from "
			       "%s not applied: %s", a, bl->set, bl->member,
			       px_strerror(rc));
			continue;
		}
		k = remember(b, bl->set, &e, bl->expires_ms);
		if (k)
			k->from_array = true;
	}
}

void px_blocks_start(px_node_t *n)
{
	struct px_blocks *b = xcalloc(1, sizeof(*b));

	b->n = n;
	n->blocks = b;
	uv_timer_init(n->loop, &b->tick);
	b->tick.data = b;
	uv_timer_start(&b->tick, on_tick, BLOCKS_TICK_MS, BLOCKS_TICK_MS);
}

static void free_on_close(uv_handle_t *h)
{
	free(h->data);
}

void px_blocks_stop(px_node_t *n)
{
	if (!n->blocks)
		return;
	uv_close((uv_handle_t *)&n->blocks->tick, free_on_close);
	n->blocks = NULL;
}
