/* test_store_db.c - the store's database file (store/db.c) on a real
 * LMDB environment in a temporary directory, and its page estimate
 * (store/dbfit.c): a write the map cannot hold is an error in the
 * project's space, and it changes nothing. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../store/db.h"
#include "../../store/dbfit.h"
#include "px.h"
#include "unit.h"

/* n distinct host entries 10.x.y.z starting at first. */
static void entries_make(px_entries_t *es, size_t first, size_t n)
{
	size_t i;

	px_entries_init(es);
	for (i = first; i < first + n; i++) {
		char s[32];
		px_entry_t e;

		snprintf(s, sizeof(s), "10.%zu.%zu.%zu", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		if (px_entry_parse(s, &e) == 0)
			px_entries_push(es, &e);
	}
}

TEST(store_db_error_maps_lmdb_codes_negative)
{
	CHECK_INT(px_db_error(0), 0);
	CHECK_INT(px_db_error(MDB_MAP_FULL), PX_EDBFULL);
	CHECK_INT(px_db_error(MDB_CORRUPTED), PX_EDBCORRUPT);
	CHECK_INT(px_db_error(MDB_VERSION_MISMATCH), PX_EDBCORRUPT);
	CHECK_INT(px_db_error(MDB_INVALID), PX_EDBCORRUPT);
	CHECK_INT(px_db_error(MDB_INCOMPATIBLE), PX_EDBCORRUPT);
	CHECK_INT(px_db_error(MDB_TXN_FULL), PX_EDB);
	CHECK_INT(px_db_error(MDB_BAD_VALSIZE), PX_EDB);
	CHECK_INT(px_db_error(EIO), -EIO);
	CHECK_INT(px_db_error(ENOSPC), -ENOSPC);
	CHECK(strstr(px_db_strerror(PX_EDBFULL), "--map-size") != NULL);
}

TEST(store_dbfit_estimates)
{
	px_dbfit_t one = { .psize = 4096, .keys = 1, .key_max = 52,
			   .leaves = 1, .depth = 1, .trees = 3 };
	px_dbfit_t big = one;
	size_t n1, n100k, nd;

	big.keys = 100000;
	big.leaves = 10;
	n1 = px_dbfit_pages(&one);
	n100k = px_dbfit_pages(&big);
	/* A one-entry write must fit a 2 MB map (512 pages) many times
	 * over; 100,000 keys of 52 bytes (62 bytes a node, 65 a page) need
	 * at least 1,539 full pages. */
	if (n1 > 64) {
		px_test_fail(__FILE__, __LINE__, "one key: expected at most 64 "
			     "pages, saw %zu", n1);
		return;
	}
	if (n100k < 100000 / 65 + 1) {
		px_test_fail(__FILE__, __LINE__, "100k keys: expected at least "
			     "%d pages, saw %zu", 100000 / 65 + 1, n100k);
		return;
	}
	/* Scattered keys copy a leaf each, up to all the tree holds. */
	big.keys = 1000;
	big.leaves = 5000;
	nd = px_dbfit_pages(&big);
	CHECK(nd >= 1000);
	CHECK_INT(px_dbfit_check(10, 20, 5), 0);
	CHECK_INT(px_dbfit_check(10, 14, 5), PX_EDBFULL);
	CHECK_INT(px_dbfit_check(10, 4, 5), PX_EDBFULL);
}

/* Fill a 1 MB map with adds: the first that does not fit is refused as
 * PX_EDBFULL (not a positive "success"), and a reopen shows exactly the
 * versions acknowledged before it. */
TEST(store_db_full_map_refused_and_nothing_changed)
{
	char dir[] = "/tmp/px-unit-db.XXXXXX";
	px_db_t *db = NULL;
	px_policy_t p;
	px_db_op_t op = { PX_DB_CREATE, "s1", NULL, 0 };
	px_entries_t es;
	uint64_t v = 1;
	size_t kept = 0, i;
	int rc;

	CHECK(mkdtemp(dir) != NULL);
	px_policy_init(&p);
	rc = px_db_open(&db, dir, 1 << 20);
	if (rc == 0)
		rc = px_db_commit(db, v, 1, &op, 1, NULL);
	if (rc != 0) {
		px_test_fail(__FILE__, __LINE__, "open/create: %s",
			     px_strerror(rc));
		goto out;
	}
	for (i = 0; i < 100; i++) {
		entries_make(&es, i * 2000, 2000);
		op = (px_db_op_t){ PX_DB_ADD, "s1", &es, 0 };
		rc = px_db_commit(db, v + 1, 1, &op, 1, NULL);
		px_entries_free(&es);
		if (rc != 0)
			break;
		v++;
		kept += 2000;
	}
	if (rc != PX_EDBFULL || kept == 0) {
		px_test_fail(__FILE__, __LINE__, "expected PX_EDBFULL after some "
			     "adds, saw %d (%s) after %zu entries", rc,
			     px_strerror(rc), kept);
		goto out;
	}
	/* Still writable with something small. */
	entries_make(&es, 300000, 1);
	op = (px_db_op_t){ PX_DB_ADD, "s1", &es, 0 };
	rc = px_db_commit(db, v + 1, 1, &op, 1, NULL);
	px_entries_free(&es);
	if (rc != 0) {
		px_test_fail(__FILE__, __LINE__, "a 1-entry add after the full "
			     "one: expected 0, saw %s", px_strerror(rc));
		goto out;
	}
	v++;
	kept++;
	px_db_close(db);
	db = NULL;
	rc = px_db_open(&db, dir, 1 << 20);
	if (rc == 0)
		rc = px_db_load(db, &p);
	if (rc != 0) {
		px_test_fail(__FILE__, __LINE__, "reopen: %s", px_strerror(rc));
		goto out;
	}
	if (p.version != v || !px_policy_find(&p, "s1") ||
	    px_policy_find(&p, "s1")->entries.n != kept)
		px_test_fail(__FILE__, __LINE__, "after reopen expected version "
			     "%llu with %zu entries, saw version %llu with %zu",
			     (unsigned long long)v, kept,
			     (unsigned long long)p.version,
			     px_policy_find(&p, "s1") ?
			     px_policy_find(&p, "s1")->entries.n : 0);
out:
	px_db_close(db);
	px_policy_free(&p);
	px_test_rm_db(dir);
}

/* A write LMDB itself refuses (member records bypass the estimate) comes
 * back as PX_EDBFULL: LMDB's negative code is never negated into a
 * positive one. */
static void count_member(const char *id, uint64_t applied, bool drained,
			 void *arg)
{
	(void)id;
	(void)applied;
	(void)drained;
	(*(size_t *)arg)++;
}

TEST(store_db_lmdb_map_full_is_negative)
{
	char dir[] = "/tmp/px-unit-db.XXXXXX";
	px_db_t *db = NULL;
	size_t i, n = 0;
	int rc = 0;

	CHECK(mkdtemp(dir) != NULL);
	/* 64 KiB: 16 pages, a few hundred member records. */
	rc = px_db_open(&db, dir, 64 << 10);
	if (rc != 0) {
		px_test_fail(__FILE__, __LINE__, "open: %s", px_strerror(rc));
		px_test_rm_db(dir);
		return;
	}
	for (i = 0; i < 100000 && rc == 0; i++) {
		char id[64];

		snprintf(id, sizeof(id), "member-with-a-long-name-%06zu", i);
		rc = px_db_member_put(db, id, i);
	}
	if (rc != PX_EDBFULL)
		px_test_fail(__FILE__, __LINE__, "expected PX_EDBFULL (%d), saw "
			     "%d (%s) after %zu puts", PX_EDBFULL, rc,
			     px_strerror(rc), i);
	else if (px_db_members(db, count_member, &n) != 0 || n != i - 1)
		px_test_fail(__FILE__, __LINE__, "expected %zu members kept, "
			     "saw %zu", i - 1, n);
	px_db_close(db);
	px_test_rm_db(dir);
}
