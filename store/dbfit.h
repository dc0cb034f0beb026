/* dbfit.h - how many LMDB pages a write may need, decided before the
 * write starts.  Plain arithmetic over counts (no I/O), so that every
 * store of an array refuses the same write the same way, and so that it
 * is unit-tested (tests/unit/test_store_db.c). */
#ifndef PX_DBFIT_H
#define PX_DBFIT_H

#include <stddef.h>

typedef struct {
	size_t psize;    /* the environment's page size */
	size_t keys;     /* keys put or deleted one by one */
	size_t key_max;  /* longest of those keys, bytes */
	size_t val_max;  /* longest value stored inline with them, bytes */
	size_t leaves;   /* leaf pages the touched trees hold now */
	size_t depth;    /* deepest of the touched trees now */
	size_t trees;    /* B-trees the write touches */
	size_t dropped;  /* keys removed as a range (a destroyed set) */
	size_t big;      /* bytes of values kept on overflow pages */
} px_dbfit_t;

/* An upper estimate of the pages the write w allocates, margin included.
 * Copy-on-write makes every touched page a new one: each key may touch a
 * leaf of its own, new leaves may be left half full by splits, every
 * touched leaf copies its path of branch pages, and the pages freed are
 * recorded in LMDB's free list in the same commit. */
size_t px_dbfit_pages(const px_dbfit_t *w);

/* 0 if need pages fit in free_pages with reserve pages left over, else
 * PX_EDBFULL. */
int px_dbfit_check(size_t need, size_t free_pages, size_t reserve);

#endif
