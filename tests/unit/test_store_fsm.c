/* test_store_fsm.c - the store's Raft state machine (store/fsm.c) on a
 * real LMDB environment: each entry applied once (an index at or below
 * the recorded one is skipped, across a reopen), and the request ids of
 * the last PX_FSM_REQUESTS entries kept with their first outcome. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lmdb.h>

#include "../../store/db.h"
#include "../../store/fsm.h"
#include "px.h"
#include "unit.h"

typedef struct {
	unsigned applied;   /* handler calls */
} counter_t;

/* The entry's bytes are its request id; the outcome is PX_EEXIST for
 * ids that start with "x", else 0. */
static int handler(void *arg, uint64_t index, const void *op, size_t len,
		   px_fsm_result_t *res)
{
	counter_t *c = arg;

	(void)index;
	c->applied++;
	snprintf(res->request_id, sizeof(res->request_id), "%.*s", (int)len,
		 (const char *)op);
	res->outcome = res->request_id[0] == 'x' ? PX_EEXIST : 0;
	res->version = index * 10;
	snprintf(res->error, sizeof(res->error), "%s",
		 res->outcome ? "already there" : "");
	return 0;
}

TEST(store_fsm_applies_each_index_once_across_reopen)
{
	char dir[] = "/tmp/px-unit-fsm-XXXXXX";
	counter_t c = { 0 };
	px_db_t *db = NULL;
	px_fsm_t *f = NULL;
	px_raft_fsm_t cb;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 16 << 20), 0);
	CHECK_INT(px_fsm_open(&f, db, handler, &c), 0);
	cb = px_fsm_callbacks(f);
	CHECK_INT(cb.apply(cb.arg, 1, "a1", 2), 0);
	CHECK_INT(cb.apply(cb.arg, 2, "x2", 2), PX_EEXIST);
	CHECK_INT(cb.apply(cb.arg, 2, "x2", 2), 0);  /* replayed: skipped */
	CHECK_INT(c.applied, 2);
	CHECK_INT(px_fsm_applied(f), 2);
	px_fsm_close(f);
	CHECK_INT(px_fsm_open(&f, db, handler, &c), 0);
	cb = px_fsm_callbacks(f);
	CHECK_INT(px_fsm_applied(f), 2);
	CHECK_INT(cb.apply(cb.arg, 1, "a1", 2), 0);
	CHECK_INT(cb.apply(cb.arg, 3, "a3", 2), 0);
	CHECK_INT(c.applied, 3);
	px_fsm_close(f);
	px_db_close(db);
	px_test_rm_db(dir);
}

TEST(store_fsm_keeps_the_last_request_ids_with_first_outcome)
{
	char dir[] = "/tmp/px-unit-fsm-XXXXXX", id[32];
	counter_t c = { 0 };
	px_db_t *db = NULL;
	px_fsm_t *f = NULL;
	px_fsm_result_t res;
	px_raft_fsm_t cb;
	uint64_t i, n = PX_FSM_REQUESTS + 10;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 64 << 20), 0);
	CHECK_INT(px_fsm_open(&f, db, handler, &c), 0);
	cb = px_fsm_callbacks(f);
	for (i = 1; i <= n; i++) {
		int len = snprintf(id, sizeof(id), "%c%llu", i == n ? 'x' : 'r',
				   (unsigned long long)i);

		cb.apply(cb.arg, i, id, (size_t)len);
	}
	/* the oldest ten are forgotten, the rest kept */
	memset(&res, 0, sizeof(res));
	CHECK_INT(px_fsm_request_find(f, "r10", &res), 0);
	CHECK_INT(px_fsm_request_find(f, "r11", &res), 1);
	CHECK_INT(res.outcome, 0);
	CHECK_INT(res.version, 110);
	snprintf(id, sizeof(id), "x%llu", (unsigned long long)n);
	memset(&res, 0, sizeof(res));
	CHECK_INT(px_fsm_request_find(f, id, &res), 1);
	CHECK_INT(res.outcome, PX_EEXIST);
	CHECK_STR(res.error, "already there");
	CHECK_INT(px_fsm_request_find(f, "", &res), 0);
	CHECK_INT(px_fsm_request_find(f, "never", &res), 0);
	px_fsm_close(f);
	px_db_close(db);
	px_test_rm_db(dir);
}

static void replaced(void *arg)
{
	(*(unsigned *)arg)++;
}

/* A snapshot at an index above a store's applied one replaces its
 * data.mdb (the copy's applied index raised to the snapshot's: the
 * entries between were Raft's own) and calls the reload; one at or
 * below it is kept. */
TEST(store_fsm_restore_replaces_the_database_file)
{
	char a[] = "/tmp/px-unit-fsm-XXXXXX", b[] = "/tmp/px-unit-fsm-XXXXXX";
	counter_t c = { 0 };
	px_db_t *da = NULL, *db = NULL;
	px_fsm_t *fa = NULL, *fb = NULL;
	px_raft_fsm_t ca, cb;
	unsigned calls = 0;
	void *snap = NULL;
	size_t len = 0;

	CHECK(mkdtemp(a) != NULL && mkdtemp(b) != NULL);
	CHECK_INT(px_db_open(&da, a, 16 << 20), 0);
	CHECK_INT(px_fsm_open(&fa, da, handler, &c), 0);
	ca = px_fsm_callbacks(fa);
	CHECK_INT(ca.apply(ca.arg, 1, "a1", 2), 0);
	CHECK_INT(ca.apply(ca.arg, 2, "a2", 2), 0);
	CHECK_INT(ca.snapshot(ca.arg, &snap, &len), 0);
	CHECK(len > 0);

	CHECK_INT(px_db_open(&db, b, 16 << 20), 0);
	CHECK_INT(px_fsm_open(&fb, db, handler, &c), 0);
	px_fsm_on_replaced(fb, replaced, &calls);
	cb = px_fsm_callbacks(fb);
	CHECK_INT(cb.restore(cb.arg, 5, snap, len), 0);
	CHECK_INT(calls, 1);
	CHECK_INT(cb.restore(cb.arg, 5, snap, len), 0); /* at 5 now: kept */
	CHECK_INT(calls, 1);
	px_fsm_close(fb);
	px_db_close(db);
	/* what a restart finds: the snapshot's state, at index 5 */
	CHECK_INT(px_db_open(&db, b, 16 << 20), 0);
	CHECK_INT(px_fsm_open(&fb, db, handler, &c), 0);
	CHECK_INT(px_fsm_applied(fb), 5);
	{
		px_fsm_result_t res;

		memset(&res, 0, sizeof(res));
		CHECK_INT(px_fsm_request_find(fb, "a2", &res), 1);
		CHECK_INT(res.version, 20);
	}
	px_fsm_close(fb);
	px_db_close(db);
	free(snap);
	px_fsm_close(fa);
	px_db_close(da);
	px_test_rm_db(a);
	px_test_rm_db(b);
}

/* The handler's own write (an audit record through db.c) commits the
 * entry's index and request with it: a crash right after it would not
 * apply the entry again at the next start. */
typedef struct {
	px_db_t *db;
	uint64_t seen_applied;
	int seen_request;
	px_fsm_t *f;
} writer_t;

static int writer(void *arg, uint64_t index, const void *op, size_t len,
		  px_fsm_result_t *res)
{
	writer_t *w = arg;
	px_db_audit_t a = { .time_ms = 1000 + index, .rec = "r", .len = 1 };
	px_fsm_result_t found;
	unsigned dbi;
	MDB_txn *txn;
	MDB_val k = { 7, "applied" }, v;

	snprintf(res->request_id, sizeof(res->request_id), "%.*s", (int)len,
		 (const char *)op);
	if (px_db_history_put(w->db, &a) < 0 ||
	    px_db_named(w->db, "raft", &dbi) < 0 ||
	    mdb_txn_begin(px_db_env(w->db), NULL, MDB_RDONLY, &txn) != 0)
		return PX_EDB;
	if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
		memcpy(&w->seen_applied, v.mv_data, 8);
	mdb_txn_abort(txn);
	memset(&found, 0, sizeof(found));
	w->seen_request = px_fsm_request_find(w->f, res->request_id, &found);
	res->version = 7;
	return 0;
}

TEST(store_fsm_index_commits_with_the_entry_writes)
{
	char dir[] = "/tmp/px-unit-fsm-XXXXXX";
	writer_t w = { 0 };
	px_fsm_result_t res;
	px_raft_fsm_t cb;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&w.db, dir, 16 << 20), 0);
	CHECK_INT(px_fsm_open(&w.f, w.db, writer, &w), 0);
	cb = px_fsm_callbacks(w.f);
	CHECK_INT(cb.apply(cb.arg, 3, "req-3", 5), 0);
	CHECK_INT(w.seen_applied, 3);  /* inside the handler, after its write */
	CHECK_INT(w.seen_request, 1);
	memset(&res, 0, sizeof(res));
	CHECK_INT(px_fsm_request_find(w.f, "req-3", &res), 1);
	CHECK_INT(res.version, 7);     /* completed after the handler */
	px_fsm_close(w.f);
	px_db_close(w.db);
	px_test_rm_db(dir);
}
