/* dbfit.c - page estimates of LMDB writes (see dbfit.h). */
#include "dbfit.h"
#include "px.h"

/* LMDB's page header, leaf node header and node index slot (mdb.c:
 * PAGEHDRSZ, NODESIZE, sizeof(indx_t)), and its branch nodes' value, a
 * page number. */
#define PAGE_HDR 16
#define NODE_HDR 8
#define NODE_SLOT 2

static size_t div_up(size_t a, size_t b)
{
	return (a + b - 1) / b;
}

static size_t per_page(size_t psize, size_t node)
{
	size_t n = (psize - PAGE_HDR) / (node + NODE_SLOT);

	return n ? n : 1;
}

size_t px_dbfit_pages(const px_dbfit_t *w)
{
	size_t psize = w->psize < 512 ? 512 : w->psize;
	/* Nodes are 2-byte aligned. */
	size_t leaf_node = (NODE_HDR + w->key_max + w->val_max + 1) & ~(size_t)1;
	size_t branch_node = (NODE_HDR + w->key_max + 1) & ~(size_t)1;
	size_t per_leaf = per_page(psize, leaf_node);
	size_t fanout = per_page(psize, branch_node) / 2;
	size_t touched, fresh, branches, freed, need;

	/* Existing leaves copied: one per key at worst, never more than
	 * the trees hold.  New leaves: splits leave them half full. */
	touched = w->keys < w->leaves ? w->keys : w->leaves;
	fresh = 2 * div_up(w->keys, per_leaf);
	/* Each level above holds at most a 1/fanout of the one below, and
	 * every tree copies one root-to-leaf path at least. */
	branches = div_up(touched + fresh, fanout < 2 ? 2 : fanout - 1) +
		   w->trees * (w->depth + 2);
	/* A dropped range frees its leaves and copies its two edges. */
	freed = touched + div_up(w->dropped, per_leaf) + branches;
	need = touched + fresh + branches + 2 * div_up(w->big, psize) +
	       /* the free list records 8 bytes a freed page */
	       div_up(freed * 8, psize - PAGE_HDR) + 1 +
	       w->trees * (w->depth + 2);
	/* One eighth on top for what the model does not see (rebalancing
	 * merges, the free list saving itself), and the two meta-related
	 * pages of the main tree. */
	return need + need / 8 + 4;
}

int px_dbfit_check(size_t need, size_t free_pages, size_t reserve)
{
	if (free_pages < reserve || free_pages - reserve < need)
		return PX_EDBFULL;
	return 0;
}
