/* db.c - LMDB persistence of the policy. */
#include <errno.h>
#include <stdbool.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "codec.h"
#include "db.h"
#include "px.h"

struct px_db {
	MDB_env *env;
	MDB_dbi meta, sets, entries, members;
};

/* LMDB's errors are positive (and MDB_* below -30000): keep them apart
 * from errno by offsetting into our negative space at the call sites. */
const char *px_db_strerror(int rc)
{
	return mdb_strerror(rc < 0 ? -rc : rc);
}

static int get_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *v);
static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v);

int px_db_open(px_db_t **out, const char *dir, size_t mapsize)
{
	px_db_t *db = xcalloc(1, sizeof(*db));
	MDB_txn *txn = NULL;
	int rc;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	if ((rc = mdb_env_create(&db->env)) != 0 ||
	    /* meta, sets, entries, members, alerts (store/alerts.c), room */
	    (rc = mdb_env_set_maxdbs(db->env, 8)) != 0 ||
	    (rc = mdb_env_set_mapsize(db->env, mapsize)) != 0 ||
	    (rc = mdb_env_open(db->env, dir, 0, 0600)) != 0 ||
	    (rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &db->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "sets", MDB_CREATE, &db->sets)) != 0 ||
	    (rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &db->entries)) != 0 ||
	    (rc = mdb_dbi_open(txn, "members", MDB_CREATE, &db->members)) != 0)
		goto fail_lmdb;
	/* A new database gets its epoch now: a store rebuilt from scratch
	 * must never look like the one its members followed before. */
	{
		uint64_t epoch;

		rc = get_u64(txn, db->meta, "epoch", &epoch);
		if (rc == 1)
			rc = put_u64(txn, db->meta, "epoch", (uint64_t)time(NULL));
		if (rc < 0) {
			rc = -rc;
			goto fail_lmdb;
		}
	}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		txn = NULL;
		goto fail_lmdb;
	}
	*out = db;
	return 0;
fail_lmdb:
	if (txn)
		mdb_txn_abort(txn);
	rc = rc < 0 ? rc : -rc;
fail:
	if (db->env)
		mdb_env_close(db->env);
	free(db);
	return rc;
}

void *px_db_env(px_db_t *db)
{
	return db->env;
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
		return -rc;
	if (d.mv_size != sizeof(*v))
		return PX_EDECODE;
	memcpy(v, d.mv_data, sizeof(*v));
	return 0;
}

static int put_u64(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v)
{
	MDB_val k = { strlen(key), (void *)key }, d = { sizeof(v), &v };

	return -mdb_put(txn, dbi, &k, &d, 0);
}

static int load_limits(MDB_txn *txn, px_db_t *db, px_policy_t *p)
{
	MDB_val k = { 6, "limits" }, d;
	Phalanx__SnapshotChunk *c;
	int rc = mdb_get(txn, db->meta, &k, &d);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return -rc;
	c = phalanx__snapshot_chunk__unpack(NULL, d.mv_size, d.mv_data);
	if (!c)
		return PX_EDECODE;
	/* The record holds every tier: start from none. */
	px_limits_clear_tiers(&p->limits);
	rc = px_policy_apply_limitops(p, c->limits, c->n_limits);
	if (rc == 0)
		rc = px_policy_apply_lists(p, c->rules_set, c->rules, c->n_rules,
					   c->services_set, c->services,
					   c->n_services);
	phalanx__snapshot_chunk__free_unpacked(c, NULL);
	return rc;
}

/* Limits, rules and services are small: one record holding a
 * SnapshotChunk with just those. */
static int save_limits(MDB_txn *txn, px_db_t *db, const px_policy_t *p)
{
	Phalanx__SnapshotChunk c = PHALANX__SNAPSHOT_CHUNK__INIT;
	MDB_val k = { 6, "limits" }, d;
	Phalanx__LimitOp **ops;
	px_lists_t lists;
	size_t n;
	int rc;

	px_limitops_build(&p->limits, &ops, &n);
	px_lists_build(p, &lists);
	c.limits = ops;
	c.n_limits = n;
	c.rules_set = c.services_set = true;
	c.rules = lists.rules;
	c.n_rules = lists.nrules;
	c.services = lists.services;
	c.n_services = lists.nservices;
	d.mv_size = phalanx__snapshot_chunk__get_packed_size(&c);
	d.mv_data = xmalloc(d.mv_size);
	phalanx__snapshot_chunk__pack(&c, d.mv_data);
	rc = -mdb_put(txn, db->meta, &k, &d, 0);
	free(d.mv_data);
	px_limitops_free(ops, n);
	px_lists_free(&lists);
	return rc;
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

int px_db_load(px_db_t *db, px_policy_t *p)
{
	MDB_cursor *cur = NULL;
	MDB_txn *txn = NULL;
	MDB_val k, d;
	int rc;

	px_policy_free(p);
	px_policy_init(p);
	p->epoch = 0;
	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0)
		return -rc;
	if ((rc = get_u64(txn, db->meta, "version", &p->version)) < 0 ||
	    (rc = get_u64(txn, db->meta, "epoch", &p->epoch)) < 0)
		goto out;
	if ((rc = -mdb_cursor_open(txn, db->sets, &cur)) != 0)
		goto out;
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
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
	if (rc != MDB_NOTFOUND)
		goto out;
	mdb_cursor_close(cur);
	cur = NULL;
	if ((rc = -mdb_cursor_open(txn, db->entries, &cur)) != 0)
		goto out;
	/* Keys sort by set name then entry bytes, so each set's entries
	 * come out sorted and are appended without a merge. */
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
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
	if (rc != MDB_NOTFOUND)
		goto out;
	mdb_cursor_close(cur);
	cur = NULL;
	rc = load_limits(txn, db, p);
out:
	if (rc == MDB_NOTFOUND)
		rc = 0;
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc > 0 ? -rc : rc;
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
		return -rc;
	if ((rc = mdb_cursor_open(txn, db->entries, &cur)) != 0)
		return -rc;
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
	return rc == 0 || rc == MDB_NOTFOUND ? 0 : -rc;
}

int px_db_commit(px_db_t *db, uint64_t version, uint64_t epoch,
		 const px_db_op_t *ops,
		 size_t nops, const px_policy_t *meta)
{
	uint8_t key[PX_SETNAME_MAX + 1 + sizeof(px_entry_t)];
	MDB_txn *txn = NULL;
	size_t i, j;
	int rc;

	if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0)
		return -rc;
	for (i = 0; i < nops; i++) {
		const px_db_op_t *op = &ops[i];
		MDB_val k = { strlen(op->set), (void *)op->set }, d = { 0, "" };

		switch (op->kind) {
		case PX_DB_CREATE:
			rc = -mdb_put(txn, db->sets, &k, &d, 0);
			break;
		case PX_DB_DESTROY:
			rc = destroy_set(txn, db, op->set);
			break;
		case PX_DB_ADD:
		case PX_DB_DEL:
			for (j = 0; j < op->entries->n && rc == 0; j++) {
				k.mv_data = key;
				k.mv_size = entry_key(key, op->set,
						      &op->entries->v[j]);
				if (op->kind == PX_DB_ADD)
					rc = -mdb_put(txn, db->entries, &k, &d, 0);
				else if ((rc = mdb_del(txn, db->entries, &k, NULL)) == MDB_NOTFOUND)
					rc = 0;
				else
					rc = -rc;
			}
			break;
		}
		if (rc != 0)
			goto fail;
	}
	if (meta && (rc = save_limits(txn, db, meta)) != 0)
		goto fail;
	if ((rc = put_u64(txn, db->meta, "version", version)) != 0 ||
	    (rc = put_u64(txn, db->meta, "epoch", epoch)) != 0)
		goto fail;
	if ((rc = mdb_txn_commit(txn)) != 0)
		return -rc;
	return 0;
fail:
	mdb_txn_abort(txn);
	return rc;
}

int px_db_member_put(px_db_t *db, const char *id, uint64_t applied)
{
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0)
		return -rc;
	if ((rc = put_u64(txn, db->members, id, applied)) != 0) {
		mdb_txn_abort(txn);
		return rc;
	}
	return -mdb_txn_commit(txn);
}

int px_db_members(px_db_t *db, px_db_member_cb cb, void *arg)
{
	MDB_cursor *cur;
	MDB_txn *txn;
	MDB_val k, d;
	int rc;

	if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) != 0)
		return -rc;
	if ((rc = mdb_cursor_open(txn, db->members, &cur)) != 0) {
		mdb_txn_abort(txn);
		return -rc;
	}
	for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
		char id[64];
		uint64_t v;

		/* Skip what this version could not have written. */
		if (k.mv_size == 0 || k.mv_size >= sizeof(id) ||
		    d.mv_size != sizeof(v))
			continue;
		memcpy(id, k.mv_data, k.mv_size);
		id[k.mv_size] = '\0';
		memcpy(&v, d.mv_data, sizeof(v));
		cb(id, v, arg);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	return rc == MDB_NOTFOUND ? 0 : -rc;
}

int px_db_member_del(px_db_t *db, const char *id)
{
	MDB_txn *txn;
	MDB_val k;
	int rc;

	if ((rc = mdb_txn_begin(db->env, NULL, 0, &txn)) != 0)
		return -rc;
	k.mv_data = (void *)id;
	k.mv_size = strlen(id);
	rc = mdb_del(txn, db->members, &k, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return PX_ENOMEMBER;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return -rc;
	}
	return -mdb_txn_commit(txn);
}
