/* db.c - LMDB persistence of the policy. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codec.h"
#include "db.h"
#include "dbfit.h"
#include "px.h"
#include "wire.h"

struct px_db {
	MDB_env *env;
	MDB_dbi meta, sets, entries, members, blocks, history;
	MDB_dbi versions, confirm; /* what each version changed; --confirm */
	uint32_t history_seq; /* orders records of one millisecond */
	/* The last policy commit: µs from the fit check to the writes done,
	 * and in mdb_txn_commit (the write-out and its fsync). */
	uint64_t write_us, sync_us;
	px_db_commit_hook hook;
	void *hook_arg;
};

void px_db_set_commit_hook(px_db_t *db, px_db_commit_hook fn, void *arg)
{
	db->hook = fn;
	db->hook_arg = arg;
}

int px_db_txn_commit(px_db_t *db, MDB_txn *txn)
{
	int rc;

	if (db->hook && (rc = db->hook(db->hook_arg, txn)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return mdb_txn_commit(txn);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void px_db_last_commit_us(const px_db_t *db, uint64_t *write_us,
			  uint64_t *sync_us)
{
	*write_us = db->write_us;
	*sync_us = db->sync_us;
}

/* LMDB returns 0, a positive errno, or its own MDB_* codes (negative,
 * -30799..-30780): this is the one place they become the project's
 * codes, so that no caller can mistake a refused write for success. */
int px_db_error(int mdb_rc)
{
	if (mdb_rc == 0)
		return 0;
	if (mdb_rc > 0)
		return -mdb_rc;
	switch (mdb_rc) {
	case MDB_MAP_FULL:
		return PX_EDBFULL;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INCOMPATIBLE:
	case MDB_VERSION_MISMATCH:
	case MDB_INVALID:
		px_log(PX_LOG_ERR, "lmdb: %s", mdb_strerror(mdb_rc));
		return PX_EDBCORRUPT;
	default:
		/* The project's code says "database error": keep LMDB's
		 * words in the log for whoever reads it. */
		px_log(PX_LOG_ERR, "lmdb: %s", mdb_strerror(mdb_rc));
		return PX_EDB;
	}
}

const char *px_db_strerror(int rc)
{
	return px_strerror(rc);
}

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v);
static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v);

int px_db_open(px_db_t **out, const char *dir, size_t mapsize)
{
	px_db_t *db = xcalloc(1, sizeof(*db));
	MDB_txn *txn = NULL;
	uint64_t epoch;
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	if ((rc = mdb_env_create(&db->env)) != 0 ||
	    /* meta, sets, entries, members, blocks, history, versions,
	     * confirm, alerts (store/alerts.c), keys (store/auth.c), the
	     * Raft FSM's (store/fsm.c), room */
	    (rc = mdb_env_set_maxdbs(db->env, 16)) != 0 ||
	    (rc = mdb_env_set_mapsize(db->env, mapsize)) != 0 ||
	    (rc = mdb_env_open(db->env, dir, 0, 0600)) != 0 ||
	    (rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &db->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "sets", MDB_CREATE, &db->sets)) != 0 ||
	    (rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &db->entries)) != 0 ||
	    (rc = mdb_dbi_open(txn, "members", MDB_CREATE, &db->members)) != 0 ||
	    (rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &db->blocks)) != 0 ||
	    (rc = mdb_dbi_open(txn, "history", MDB_CREATE, &db->history)) != 0 ||
	    (rc = mdb_dbi_open(txn, "versions", MDB_CREATE, &db->versions)) != 0 ||
	    (rc = mdb_dbi_open(txn, "confirm", MDB_CREATE, &db->confirm)) != 0) {
		rc = px_db_error(rc);
		goto fail;
	}
	/* A new database gets its epoch now: a store rebuilt from scratch
	 * must never look like the one its members followed before. */
	rc = get_u64(txn, db->meta, "epoch", &epoch);
	if (rc == 1)
		rc = put_u64(txn, db->meta, "epoch", (uint64_t)time(NULL));
	if (rc < 0)
		goto fail;
	rc = px_db_error(px_db_txn_commit(db, txn));
	txn = NULL;
	if (rc < 0)
		goto fail;
	*out = db;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	if (db->env)
		mdb_env_close(db->env);
	free(db);
	return rc;
}

void *px_db_env(px_db_t *db)
{
	return db->env;
}

int px_db_named(px_db_t *db, const char *name, unsigned *dbi)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0)
		return px_db_error(rc);
	if ((rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	return px_db_error(px_db_txn_commit(db, txn));
}

size_t px_db_map_size(px_db_t *db)
{
	MDB_envinfo info;

	return mdb_env_info(db->env, &info) == 0 ? info.me_mapsize : 0;
}

void px_db_close(px_db_t *db)
{
	if (!db)
		return;
	mdb_env_close(db->env);
	free(db);
}

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v)
{
	MDB_val k = { strlen(key), (void *)key }, d;
	int rc = mdb_get(txn, dbi, &k, &d);

	if (rc == MDB_NOTFOUND)
		return 1;
	if (rc != 0)
		return px_db_error(rc);
	if (d.mv_size != sizeof(*v))
		return PX_EDECODE;
	memcpy(v, d.mv_data, sizeof(*v));
	return 0;
}

static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v)
{
	MDB_val k = { strlen(key), (void *)key }, d = { sizeof(v), &v };

	return px_db_error(mdb_put(txn, dbi, &k, &d, 0));
}

int px_db_meta_apply(px_policy_t *p, const void *buf, size_t len)
{
	Phalanx__SnapshotChunk *c;
	int rc;

	c = phalanx__snapshot_chunk__unpack(NULL, len, buf);
	if (!c)
		return PX_EDECODE;
	/* The record holds every tier: start from none. */
	px_limits_clear_tiers(&p->limits);
	rc = px_policy_apply_limitops(p, c->limits, c->n_limits);
	if (rc == 0)
		rc = px_policy_apply_lists(p, c->rules_set, c->rules, c->n_rules,
					   c->services_set, c->services,
					   c->n_services);
	if (rc == 0)
		rc = px_policy_apply_protection(p, c->protection, NULL, 0);
	phalanx__snapshot_chunk__free_unpacked(c, NULL);
	return rc;
}

static int load_limits(MDB_txn *txn, px_db_t *db, px_policy_t *p)
{
	MDB_val k = { 6, "limits" }, d;
	int rc = mdb_get(txn, db->meta, &k, &d);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return px_db_error(rc);
	return px_db_meta_apply(p, d.mv_data, d.mv_size);
}

void px_db_meta_pack(const px_policy_t *p, uint8_t **buf, size_t *len)
{
	Phalanx__SnapshotChunk c = PHALANX__SNAPSHOT_CHUNK__INIT;
	Phalanx__LimitOp **ops;
	px_lists_t lists;
	size_t n;

	px_limitops_build(&p->limits, &ops, &n);
	px_lists_build(p, &lists);
	c.limits = ops;
	c.n_limits = n;
	c.rules_set = c.services_set = true;
	c.rules = lists.rules;
	c.n_rules = lists.nrules;
	c.services = lists.services;
	c.n_services = lists.nservices;
	c.protection = lists.protection;
	*len = phalanx__snapshot_chunk__get_packed_size(&c);
	*buf = xmalloc(*len ? *len : 1);
	phalanx__snapshot_chunk__pack(&c, *buf);
	px_limitops_free(ops, n);
	px_lists_free(&lists);
}

/* Limits, rules and services are small: one record holding a
 * SnapshotChunk with just those (px_db_meta_pack). */
static int save_limits(MDB_txn *txn, px_db_t *db, const uint8_t *buf,
		       size_t len)
{
	MDB_val k = { 6, "limits" }, d = { len, (void *)buf };

	return px_db_error(mdb_put(txn, db->meta, &k, &d, 0));
}

/* An entry as stored is what px_entry_decode() would have made of its
 * wire form: anything else is corruption. */
static bool entry_valid(const px_entry_t *e)
{
	uint8_t w[PX_ENTRY_WIRE_MAX];
	px_entry_t d;

	if (e->family != 4 && e->family != 6)
		return false;
	return px_entry_decode(w, px_entry_encode(e, w), &d) == 0 &&
	       px_entry_cmp(e, &d) == 0;
}

int px_db_raft_epoch(px_db_t *db, uint64_t proposed, uint64_t *epoch)
{
	MDB_txn *txn;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		return rc;
	rc = get_u64(txn, db->meta, "raft_epoch", epoch);
	if (rc == 1) {
		*epoch = proposed;
		if ((rc = put_u64(txn, db->meta, "raft_epoch", proposed)) < 0 ||
		    (rc = put_u64(txn, db->meta, "epoch", proposed)) < 0) {
			mdb_txn_abort(txn);
			return rc;
		}
		/* Not through the commit hook: this is no entry's write
		 * (applying the entry again finds it and changes nothing). */
		return px_db_error(mdb_txn_commit(txn));
	}
	mdb_txn_abort(txn);
	return rc;
}

int px_db_load(px_db_t *db, px_policy_t *p)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, d;
	int rc, mrc;

	px_policy_free(p);
	px_policy_init(p);
	p->epoch = 0;
	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn))) < 0)
		return rc;
	if ((rc = get_u64(txn, db->meta, "version", &p->version)) < 0 ||
	    (rc = get_u64(txn, db->meta, "epoch", &p->epoch)) < 0)
		goto out;
	if ((rc = px_db_error(mdb_cursor_open(txn, db->sets, &cur))) < 0)
		goto out;
	for (mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		char name[PX_SETNAME_MAX + 1];

		if (k.mv_size > PX_SETNAME_MAX) {
			rc = PX_EDECODE;
			goto out;
		}
		memcpy(name, k.mv_data, k.mv_size);
		name[k.mv_size] = '\0';
		if (!px_setname_valid(name)) {
			rc = PX_EDECODE;
			goto out;
		}
		px_policy_add_set(p, name);
	}
	/* A cursor error is not the end of the data: fail closed rather
	 * than serve a truncated policy. */
	if (mrc != MDB_NOTFOUND) {
		rc = px_db_error(mrc);
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	if ((rc = px_db_error(mdb_cursor_open(txn, db->entries, &cur))) < 0)
		goto out;
	/* Keys sort by set name then entry bytes, so each set's entries
	 * come out sorted and are appended without a merge. */
	for (mrc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		const char *key = k.mv_data;
		size_t nl = strnlen(key, k.mv_size);
		char name[PX_SETNAME_MAX + 1];
		px_entry_t e;
		px_set_t *s;

		if (nl > PX_SETNAME_MAX || k.mv_size != nl + 1 + sizeof(e)) {
			rc = PX_EDECODE;
			goto out;
		}
		memcpy(name, key, nl);
		name[nl] = '\0';
		memcpy(&e, key + nl + 1, sizeof(e));
		s = px_policy_find(p, name);
		if (!s || !entry_valid(&e)) {
			rc = PX_EDECODE;
			goto out;
		}
		px_entries_push(&s->entries, &e);
	}
	if (mrc != MDB_NOTFOUND) {
		rc = px_db_error(mrc);
		goto out;
	}
	mdb_cursor_close(cur);
	cur = NULL;
	rc = load_limits(txn, db, p);
out:
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc < 0 ? rc : 0;
}

static size_t entry_key(uint8_t *buf, const char *set, const px_entry_t *e)
{
	size_t nl = strlen(set);

	memcpy(buf, set, nl + 1);
	memcpy(buf + nl + 1, e, sizeof(*e));
	return nl + 1 + sizeof(*e);
}

static int destroy_set(MDB_txn *txn, px_db_t *db, const char *set)
{
	MDB_val k = { strlen(set), (void *)set }, d;
	MDB_cursor *cur;
	size_t nl = strlen(set) + 1;
	int rc;

	rc = mdb_del(txn, db->sets, &k, NULL);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return px_db_error(rc);
	if ((rc = mdb_cursor_open(txn, db->entries, &cur)) != 0)
		return px_db_error(rc);
	/* After a delete the cursor already sits on the next key, so
	 * search the prefix again each time rather than stepping. */
	for (;;) {
		k.mv_size = nl;
		k.mv_data = (void *)set;
		rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
		if (rc != 0 || k.mv_size < nl || memcmp(k.mv_data, set, nl) != 0)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

/* Pages the map can still give: never used, plus those on LMDB's free
 * list.  The store's own read transactions are short, so the free list
 * is all reusable at the next write.  txn is a read transaction: LMDB
 * opens no cursor on its free list in a write one. */
static int free_pages(MDB_txn *txn, px_db_t *db, size_t *free_out,
		      size_t *total)
{
	MDB_envinfo info;
	MDB_stat st;
	MDB_cursor *cur;
	MDB_val k, d;
	size_t nfree = 0;
	int rc;

	if ((rc = mdb_env_info(db->env, &info)) != 0 ||
	    (rc = mdb_env_stat(db->env, &st)) != 0)
		return px_db_error(rc);
	/* The free list is database 0 of every environment: txn id ->
	 * list of page numbers, its first word the count. */
	if ((rc = mdb_cursor_open(txn, 0, &cur)) != 0)
		return px_db_error(rc);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		size_t n;

		if (d.mv_size < sizeof(n))
			continue;
		memcpy(&n, d.mv_data, sizeof(n));
		nfree += n;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return px_db_error(rc);
	*total = info.me_mapsize / st.ms_psize;
	/* me_last_pgno is the last page in use: pages 0..last are taken. */
	*free_out = info.me_last_pgno + 1 >= *total ? nfree :
		    *total - (info.me_last_pgno + 1) + nfree;
	return 0;
}

int px_db_fits(px_db_t *db, unsigned int dbi, const px_dbfit_t *w,
	       size_t reserve_frac, const char *what)
{
	px_dbfit_t est = *w;
	MDB_txn *txn;
	MDB_stat st, ts;
	size_t nfree = 0, total = 0, need, reserve;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, MDB_RDONLY,
					    &txn))) < 0)
		return rc;
	if ((rc = px_db_error(mdb_env_stat(db->env, &st))) < 0 ||
	    (rc = px_db_error(mdb_stat(txn, dbi, &ts))) < 0 ||
	    (rc = free_pages(txn, db, &nfree, &total)) < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	mdb_txn_abort(txn);
	est.psize = st.ms_psize;
	est.leaves += ts.ms_leaf_pages;
	if (est.depth < ts.ms_depth)
		est.depth = ts.ms_depth;
	need = px_dbfit_pages(&est);
	reserve = reserve_frac ? total / reserve_frac : 0;
	rc = px_dbfit_check(need, nfree, reserve);
	if (rc < 0)
		px_log(PX_LOG_WARN, "%s refused before writing: needs up to %zu "
		       "pages of %u bytes, %zu of %zu free, %zu kept in reserve: "
		       "database full: raise --map-size", what, need,
		       st.ms_psize, nfree, total, reserve);
	return rc;
}

/* Bytes of a version record for ops, at most (commit_fits). */
static size_t record_size(const px_db_op_t *ops, size_t nops,
			  size_t meta_bytes)
{
	size_t i, n = 64 + 2 * meta_bytes;

	for (i = 0; i < nops; i++) {
		n += PX_SETNAME_MAX + 8;
		if (ops[i].kind == PX_DB_ADD || ops[i].kind == PX_DB_DEL)
			n += ops[i].entries->n * (PX_ENTRY_WIRE_MAX + 2);
		else if (ops[i].kind == PX_DB_DESTROY)
			n += ops[i].dropped * (PX_ENTRY_WIRE_MAX + 2);
	}
	return n;
}

/* What a commit of ops writes, for px_db_fits. */
static int commit_fits(px_db_t *db, uint64_t version, const px_db_op_t *ops,
		       size_t nops, size_t meta_bytes)
{
	px_dbfit_t w = { 0 };
	char what[64];
	size_t i;

	/* entries, sets, meta, history (its record is counted in
	 * meta_bytes), versions and confirm (the version's record) */
	w.trees = 6;
	w.big = meta_bytes + record_size(ops, nops, meta_bytes);
	w.val_max = 0;
	w.key_max = PX_SETNAME_MAX + 1 + sizeof(px_entry_t);
	for (i = 0; i < nops; i++) {
		if (ops[i].kind == PX_DB_ADD || ops[i].kind == PX_DB_DEL)
			w.keys += ops[i].entries->n;
		else if (ops[i].kind == PX_DB_DESTROY)
			w.dropped += ops[i].dropped;
		w.keys++; /* the set's own key, or a leaf at the range's edge */
	}
	snprintf(what, sizeof(what), "version %llu", (unsigned long long)version);
	return px_db_fits(db, db->entries, &w, 0, what);
}

/* Append one audit record in txn: key time_ms and a sequence number
 * (big-endian: the keys sort by time), the oldest dropped past
 * PX_HISTORY_MAX. */
static int history_put(MDB_txn *txn, px_db_t *db, const px_db_audit_t *a)
{
	uint8_t key[12];
	MDB_stat st;
	MDB_val k = { sizeof(key), key }, d = { a->len, (void *)a->rec };
	uint32_t seq = ++db->history_seq;
	MDB_cursor *cur;
	int i, rc;

	px_be64_put(key, a->time_ms);
	for (i = 0; i < 4; i++)
		key[8 + i] = (uint8_t)(seq >> (24 - 8 * i));
	if ((rc = px_db_error(mdb_stat(txn, db->history, &st))) < 0)
		return rc;
	if (st.ms_entries >= PX_HISTORY_MAX) {
		MDB_val ok, od;

		if ((rc = px_db_error(mdb_cursor_open(txn, db->history, &cur))) < 0)
			return rc;
		rc = mdb_cursor_get(cur, &ok, &od, MDB_FIRST);
		if (rc == 0)
			rc = mdb_cursor_del(cur, 0);
		mdb_cursor_close(cur);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return px_db_error(rc);
	}
	return px_db_error(mdb_put(txn, db->history, &k, &d, 0));
}

int px_db_history_put(px_db_t *db, const px_db_audit_t *a)
{
	px_dbfit_t w = { 0 };
	MDB_txn *txn;
	int rc;

	w.trees = 1;
	w.keys = 2; /* the record, and the oldest one dropped */
	w.key_max = 12;
	w.big = a->len;
	if ((rc = px_db_fits(db, db->history, &w, 0, "history record")) < 0)
		return rc;
	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		return rc;
	if ((rc = history_put(txn, db, a)) < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return px_db_error(px_db_txn_commit(db, txn));
}

int px_db_history(px_db_t *db, uint64_t since_ms, px_db_history_cb cb,
		  void *arg)
{
	uint8_t key[12] = { 0 };
	MDB_val k = { sizeof(key), key }, d;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	px_be64_put(key, since_ms);
	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn))) < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, db->history, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT))
		if (cb(d.mv_data, d.mv_size, arg) != 0)
			break;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

int px_db_commit(px_db_t *db, uint64_t version, uint64_t epoch,
		 const px_db_op_t *ops,
		 size_t nops, const px_policy_t *meta)
{
	return px_db_commit_audited(db, version, epoch, ops, nops, meta, NULL);
}

/* The limits record's size, as px_db_meta_pack packs it (0 without
 * meta). */
static size_t meta_size(const px_policy_t *meta)
{
	uint8_t *buf;
	size_t len;

	if (!meta)
		return 0;
	px_db_meta_pack(meta, &buf, &len);
	free(buf);
	return len;
}

int px_db_commit_check(px_db_t *db, uint64_t version, const px_db_op_t *ops,
		       size_t nops, const px_policy_t *meta, size_t audit_len)
{
	return commit_fits(db, version, ops, nops, meta_size(meta) + audit_len);
}

/* A set's entries as stored (for the record of a destroy). */
static int set_entries(MDB_txn *txn, px_db_t *db, const char *set,
		       px_entries_t *out)
{
	MDB_val k = { strlen(set) + 1, (void *)set }, d;
	size_t nl = strlen(set) + 1;
	MDB_cursor *cur;
	px_entry_t e;
	int rc;

	if ((rc = mdb_cursor_open(txn, db->entries, &cur)) != 0)
		return px_db_error(rc);
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		if (k.mv_size != nl + sizeof(e) || memcmp(k.mv_data, set, nl))
			break;
		memcpy(&e, (uint8_t *)k.mv_data + nl, sizeof(e));
		px_entries_push(out, &e);
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

static MDB_val version_key(uint8_t k[8], uint64_t v)
{
	px_be64_put(k, v);
	return (MDB_val){ 8, k };
}

/* Callers check mv_size == 8 first. */
static uint64_t version_of_key(const MDB_val *k)
{
	return px_be64_get(k->mv_data);
}

/* What version changed, read back as px_db_versions gives it: kept in
 * "versions" (the oldest dropped past PX_VERSIONS_KEPT), and in
 * "confirm" while it waits for a confirmation. */
typedef struct {
	Phalanx__VersionRecord r;
	Phalanx__SetDelta *d, **dp;
	ProtobufCBinaryData *bins[PX_DB_OPS_MAX];
	uint8_t *bufs[PX_DB_OPS_MAX];
	px_entries_t dropped[PX_DB_OPS_MAX];
} vrec_t;

static int record_put(MDB_txn *txn, px_db_t *db, uint64_t version,
		      const px_db_op_t *ops, size_t nops,
		      const MDB_val *meta_before, const uint8_t *meta_after,
		      size_t meta_len, const px_db_audit_t *audit)
{
	vrec_t v;
	uint8_t key[8], *buf = NULL;
	MDB_val k = version_key(key, version), d;
	MDB_stat st;
	size_t i;
	int rc = 0;

	if (nops > PX_DB_OPS_MAX)
		return -EINVAL;
	memset(&v, 0, sizeof(v));
	phalanx__version_record__init(&v.r);
	v.d = xcalloc(nops + 1, sizeof(*v.d));
	v.dp = xcalloc(nops + 1, sizeof(*v.dp));
	v.r.version = version;
	v.r.sets = v.dp;
	for (i = 0; i < nops && rc == 0; i++) {
		Phalanx__SetDelta *sd = &v.d[i];
		const px_entries_t *e = ops[i].entries;

		phalanx__set_delta__init(sd);
		sd->set = (char *)ops[i].set;
		v.dp[v.r.n_sets++] = sd;
		px_entries_init(&v.dropped[i]);
		if (ops[i].kind == PX_DB_CREATE) {
			sd->created = true;
			continue;
		}
		if (ops[i].kind == PX_DB_DESTROY) {
			sd->destroyed = true;
			rc = set_entries(txn, db, ops[i].set, &v.dropped[i]);
			e = &v.dropped[i];
		}
		px_wire_pack_entries(e->v, e->n, &v.bins[i], &v.bufs[i]);
		if (ops[i].kind == PX_DB_ADD) {
			sd->added = v.bins[i];
			sd->n_added = e->n;
		} else {
			sd->removed = v.bins[i];
			sd->n_removed = e->n;
		}
	}
	if (meta_after) {
		v.r.meta_changed = true;
		if (meta_before)
			v.r.meta_before = (ProtobufCBinaryData){
				meta_before->mv_size, meta_before->mv_data };
		v.r.meta_after = (ProtobufCBinaryData){ meta_len,
							(uint8_t *)meta_after };
	}
	if (audit) {
		v.r.time_ms = audit->time_ms;
		v.r.who = (char *)(audit->who ? audit->who : "");
		v.r.confirm_by_ms = audit->confirm_by_ms;
		v.r.canary_member = (char *)(audit->canary_member ?
					     audit->canary_member : "");
		v.r.canary_s = audit->canary_s;
	}
	if (rc == 0) {
		d.mv_size = phalanx__version_record__get_packed_size(&v.r);
		buf = xmalloc(d.mv_size ? d.mv_size : 1);
		phalanx__version_record__pack(&v.r, buf);
		d.mv_data = buf;
		rc = px_db_error(mdb_put(txn, db->versions, &k, &d, 0));
	}
	if (rc == 0 && (rc = px_db_error(mdb_stat(txn, db->versions, &st))) == 0 &&
	    st.ms_entries > PX_VERSIONS_KEPT) {
		MDB_cursor *cur;
		MDB_val ok, od;

		if ((rc = px_db_error(mdb_cursor_open(txn, db->versions,
						      &cur))) == 0) {
			int mrc = mdb_cursor_get(cur, &ok, &od, MDB_FIRST);

			if (mrc == 0)
				mrc = mdb_cursor_del(cur, 0);
			mdb_cursor_close(cur);
			rc = mrc == MDB_NOTFOUND ? 0 : px_db_error(mrc);
		}
	}
	if (rc == 0 && audit && audit->confirm_by_ms) {
		uint8_t dl[8];
		MDB_val dv = version_key(dl, audit->confirm_by_ms);

		rc = px_db_error(mdb_put(txn, db->confirm, &k, &dv, 0));
	}
	if (rc == 0 && audit && audit->settles) {
		uint8_t sk[8];
		MDB_val skv = version_key(sk, audit->settles);
		int mrc = mdb_del(txn, db->confirm, &skv, NULL);

		rc = mrc == MDB_NOTFOUND ? 0 : px_db_error(mrc);
	}
	for (i = 0; i < nops; i++) {
		free(v.bins[i]);
		free(v.bufs[i]);
		px_entries_free(&v.dropped[i]);
	}
	free(v.d);
	free(v.dp);
	free(buf);
	return rc;
}

int px_db_commit_audited(px_db_t *db, uint64_t version, uint64_t epoch,
			 const px_db_op_t *ops, size_t nops,
			 const px_policy_t *meta, const px_db_audit_t *audit)
{
	uint8_t key[PX_SETNAME_MAX + 1 + sizeof(px_entry_t)];
	MDB_val mk = { 6, "limits" }, before;
	MDB_txn *txn = NULL;
	uint8_t *meta_buf = NULL;
	size_t i, j, meta_bytes = 0;
	uint64_t t0 = mono_us(), t1;
	bool had_before;
	int rc;

	db->write_us = db->sync_us = 0;
	if (meta)
		px_db_meta_pack(meta, &meta_buf, &meta_bytes);
	/* Refuse before the first write: a write LMDB would stop half way
	 * must not even start, and every store decides it alike.  The
	 * store is the only writer, so nothing changes in between. */
	if ((rc = commit_fits(db, version, ops, nops,
			      meta_bytes + (audit ? audit->len : 0))) < 0)
		goto out;
	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		goto out;
	/* The record of what this version changes, before the writes (a
	 * destroyed set's entries are read from the database). */
	rc = mdb_get(txn, db->meta, &mk, &before);
	had_before = rc == 0;
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = px_db_error(rc);
		goto fail;
	}
	if ((rc = record_put(txn, db, version, ops, nops,
			     had_before ? &before : NULL, meta_buf, meta_bytes,
			     audit)) < 0)
		goto fail;
	for (i = 0; i < nops; i++) {
		const px_db_op_t *op = &ops[i];
		MDB_val k = { strlen(op->set), (void *)op->set }, d = { 0, "" };

		switch (op->kind) {
		case PX_DB_CREATE:
			rc = px_db_error(mdb_put(txn, db->sets, &k, &d, 0));
			break;
		case PX_DB_DESTROY:
			rc = destroy_set(txn, db, op->set);
			break;
		case PX_DB_ADD:
		case PX_DB_DEL:
			for (j = 0; j < op->entries->n && rc == 0; j++) {
				int mrc;

				k.mv_data = key;
				k.mv_size = entry_key(key, op->set,
						      &op->entries->v[j]);
				if (op->kind == PX_DB_ADD)
					mrc = mdb_put(txn, db->entries, &k, &d, 0);
				else if ((mrc = mdb_del(txn, db->entries, &k,
							NULL)) == MDB_NOTFOUND)
					mrc = 0;
				rc = px_db_error(mrc);
			}
			break;
		}
		if (rc < 0)
			goto fail;
	}
	if (meta && (rc = save_limits(txn, db, meta_buf, meta_bytes)) < 0)
		goto fail;
	if (audit && (rc = history_put(txn, db, audit)) < 0)
		goto fail;
	if ((rc = put_u64(txn, db->meta, "version", version)) < 0 ||
	    (rc = put_u64(txn, db->meta, "epoch", epoch)) < 0)
		goto fail;
	/* mdb_txn_commit frees the transaction, failed or not. */
	t1 = mono_us();
	rc = px_db_error(px_db_txn_commit(db, txn));
	db->write_us = t1 - t0;
	db->sync_us = mono_us() - t1;
	goto out;
fail:
	mdb_txn_abort(txn);
out:
	free(meta_buf);
	return rc;
}

int px_db_versions(px_db_t *db, uint64_t from, uint64_t to,
		   px_db_version_cb cb, void *arg)
{
	uint8_t key[8];
	MDB_val k = version_key(key, from), d;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc, crc = 0;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn))) < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, db->versions, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		Phalanx__VersionRecord *r;

		if (k.mv_size != 8 || version_of_key(&k) > to)
			break;
		r = phalanx__version_record__unpack(NULL, d.mv_size, d.mv_data);
		if (!r || r->version != version_of_key(&k)) {
			if (r)
				phalanx__version_record__free_unpacked(r, NULL);
			crc = PX_EDBCORRUPT;
			break;
		}
		crc = cb(r, arg);
		phalanx__version_record__free_unpacked(r, NULL);
		if (crc != 0)
			break;
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (crc != 0)
		return crc;
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

int px_db_confirm_list(px_db_t *db, px_db_confirm_cb cb, void *arg)
{
	MDB_val k, d;
	MDB_cursor *cur;
	MDB_txn *txn;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn))) < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, db->confirm, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT))
		if (k.mv_size == 8 && d.mv_size == 8 &&
		    cb(version_of_key(&k), version_of_key(&d), arg) != 0)
			break;
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

int px_db_confirm_del(px_db_t *db, uint64_t version,
		      const px_db_audit_t *audit)
{
	uint8_t key[8];
	MDB_val k = version_key(key, version);
	MDB_txn *txn;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		return rc;
	rc = mdb_del(txn, db->confirm, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return -ENOENT;
	}
	if ((rc = px_db_error(rc)) == 0 && audit)
		rc = history_put(txn, db, audit);
	if (rc < 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return px_db_error(px_db_txn_commit(db, txn));
}

/* A member record: the u64 version it last reported, then one byte of
 * flags (MEMBER_DRAINED).  Records of 8 bytes (before the drain flag
 * was kept) read as flags 0. */
#define MEMBER_REC 9
#define MEMBER_DRAINED 0x01

/* A member record fits: one key of at most 63 bytes and its 9 bytes. */
static int member_fits(px_db_t *db, const char *what)
{
	px_dbfit_t w = { 0 };

	w.trees = 1;
	w.keys = 1;
	w.key_max = PX_MEMBER_ID_MAX;
	w.val_max = MEMBER_REC;
	return px_db_fits(db, db->members, &w, 0, what);
}

/* Read-modify-write of id's record in one transaction: applied if
 * set_applied, the drain flag if drained >= 0. */
static int member_update(px_db_t *db, const char *id, bool set_applied,
			 uint64_t applied, int drained)
{
	uint8_t rec[MEMBER_REC] = { 0 };
	MDB_val k = { strlen(id), (void *)id }, d;
	MDB_txn *txn;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		return rc;
	rc = mdb_get(txn, db->members, &k, &d);
	if (rc == 0 && (d.mv_size == 8 || d.mv_size == MEMBER_REC))
		memcpy(rec, d.mv_data, d.mv_size);
	else if (rc != 0 && rc != MDB_NOTFOUND)
		goto fail;
	if (set_applied)
		memcpy(rec, &applied, sizeof(applied));
	if (drained >= 0)
		rec[8] = drained ? MEMBER_DRAINED : 0;
	d = (MDB_val){ sizeof(rec), rec };
	if ((rc = mdb_put(txn, db->members, &k, &d, 0)) != 0)
		goto fail;
	/* mdb_txn_commit frees the transaction, failed or not. */
	return px_db_error(px_db_txn_commit(db, txn));
fail:
	mdb_txn_abort(txn);
	return px_db_error(rc);
}

/* A member's first heartbeat is recorded without the estimate: LMDB's
 * own refusal is mapped (tests/unit/test_store_db.c relies on it). */
int px_db_member_put(px_db_t *db, const char *id, uint64_t applied)
{
	return member_update(db, id, true, applied, -1);
}

/* An operator's drain is checked first: refused whole, with the numbers
 * in the log, rather than by LMDB half way. */
int px_db_member_drain(px_db_t *db, const char *id, bool drained)
{
	int rc = member_fits(db, "member drain flag");

	return rc < 0 ? rc : member_update(db, id, false, 0, drained);
}

int px_db_members(px_db_t *db, px_db_member_cb cb, void *arg)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, d;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn))) < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, db->members, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		char id[64];
		uint64_t v;
		bool drained;

		/* Skip what this version could not have written. */
		if (k.mv_size == 0 || k.mv_size >= sizeof(id) ||
		    (d.mv_size != sizeof(v) && d.mv_size != MEMBER_REC))
			continue;
		memcpy(id, k.mv_data, k.mv_size);
		id[k.mv_size] = '\0';
		memcpy(&v, d.mv_data, sizeof(v));
		drained = d.mv_size == MEMBER_REC &&
			  (((const uint8_t *)d.mv_data)[8] & MEMBER_DRAINED);
		cb(id, v, drained, arg);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : px_db_error(rc);
}

int px_db_member_del(px_db_t *db, const char *id)
{
	MDB_txn *txn;
	MDB_val k;
	int rc;

	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		return rc;
	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	rc = mdb_del(txn, db->members, &k, NULL);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return rc == MDB_NOTFOUND ? PX_ENOMEMBER : px_db_error(rc);
	}
	return px_db_error(px_db_txn_commit(db, txn));
}

/* A block record: key set NUL entry bytes; value the u64 expiry (wall
 * clock, ms) then the member id that raised it (no NUL). */
#define BLOCK_KEY_MAX (PX_SETNAME_MAX + 1 + PX_ENTRY_WIRE_MAX)

static MDB_val block_key(uint8_t *k, const px_db_block_t *b)
{
	size_t n = strlen(b->set);

	memcpy(k, b->set, n + 1);
	memcpy(k + n + 1, b->entry, b->len);
	return (MDB_val){ n + 1 + b->len, k };
}

int px_db_blocks_put(px_db_t *db, const px_db_block_t *v, size_t n)
{
	px_dbfit_t w = { 0 };
	MDB_txn *txn;
	size_t i;
	int rc = 0;

	if (!n)
		return 0;
	w.trees = 1;
	w.keys = n;
	w.key_max = BLOCK_KEY_MAX;
	w.val_max = 8 + PX_MEMBER_ID_MAX;
	if ((rc = px_db_fits(db, db->blocks, &w, 0, "array-wide blocks")) < 0)
		return rc;
	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		return rc;
	for (i = 0; i < n && rc == 0; i++) {
		uint8_t kb[BLOCK_KEY_MAX], vb[8 + PX_MEMBER_ID_MAX];
		size_t ml = strlen(v[i].member);
		MDB_val k, d;

		if (strlen(v[i].set) > PX_SETNAME_MAX ||
		    v[i].len > PX_ENTRY_WIRE_MAX || ml > PX_MEMBER_ID_MAX) {
			rc = EINVAL;
			break;
		}
		k = block_key(kb, &v[i]);
		memcpy(vb, &v[i].expires_ms, 8);
		memcpy(vb + 8, v[i].member, ml);
		d = (MDB_val){ 8 + ml, vb };
		rc = mdb_put(txn, db->blocks, &k, &d, 0);
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	return px_db_error(px_db_txn_commit(db, txn));
}

int px_db_blocks(px_db_t *db, uint64_t now_ms, px_db_block_cb cb, void *arg)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, d;
	size_t gone = 0;
	int rc;

	/* A write transaction: the expired ones go as they are read. */
	if ((rc = px_db_error(mdb_txn_begin(db->env, NULL, 0, &txn))) < 0)
		return rc;
	if ((rc = mdb_cursor_open(txn, db->blocks, &cur)) != 0) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		px_db_block_t b;
		const uint8_t *kp = k.mv_data, *nul;
		size_t sl;

		memset(&b, 0, sizeof(b));
		nul = k.mv_size ? memchr(kp, 0, k.mv_size) : NULL;
		sl = nul ? (size_t)(nul - kp) : 0;
		if (d.mv_size >= 8)
			memcpy(&b.expires_ms, d.mv_data, 8);
		/* What this version could not have written, and what has
		 * run out, goes. */
		if (!nul || sl == 0 || sl > PX_SETNAME_MAX ||
		    k.mv_size - sl - 1 > PX_ENTRY_WIRE_MAX ||
		    d.mv_size < 9 || d.mv_size > 8 + PX_MEMBER_ID_MAX ||
		    b.expires_ms <= now_ms) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			gone++;
			continue;
		}
		memcpy(b.set, kp, sl);
		b.len = k.mv_size - sl - 1;
		memcpy(b.entry, kp + sl + 1, b.len);
		memcpy(b.member, (const uint8_t *)d.mv_data + 8, d.mv_size - 8);
		if (cb)
			cb(&b, arg);
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return px_db_error(rc);
	}
	if (!gone) {
		mdb_txn_abort(txn);
		return 0;
	}
	rc = px_db_error(px_db_txn_commit(db, txn));
	return rc < 0 ? rc : (int)gone;
}

int px_db_blocks_expire(px_db_t *db, uint64_t now_ms)
{
	return px_db_blocks(db, now_ms, NULL, NULL);
}
