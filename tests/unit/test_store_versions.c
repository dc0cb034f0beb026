/* test_store_versions.c - what each version changed (store/db.c's
 * records) composed into the change between two versions, the undo of
 * one version, the pending confirmations (store/versions.c), and a config
 * file's plan (store/config.c), on a real LMDB environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../store/config.h"
#include "../../store/db.h"
#include "../../store/versions.h"
#include "px.h"
#include "unit.h"
#include "wire.h"

static void entries_of(px_entries_t *es, const char *const *addrs)
{
	px_entry_t e;

	px_entries_init(es);
	for (; *addrs; addrs++)
		if (px_entry_parse(*addrs, &e) == 0)
			px_entries_push(es, &e);
	px_entries_normalize(es);
}

/* The entries of es as "a b c" (sorted). */
static const char *text_of(const px_entries_t *es)
{
	static char buf[512];
	char one[PX_ENTRY_STR_MAX];
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < es->n && off < sizeof(buf) - PX_ENTRY_STR_MAX; i++) {
		px_entry_format(&es->v[i], one, sizeof(one));
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s",
					i ? " " : "", one);
	}
	return buf;
}

static const px_vset_t *vset(const px_vdiff_t *d, const char *name)
{
	for (size_t i = 0; i < d->nsets; i++)
		if (strcmp(d->sets[i].name, name) == 0)
			return &d->sets[i];
	return NULL;
}

static int commit_one(px_db_t *db, uint64_t v, px_db_kind_t kind,
		      const char *set, const char *const *addrs, size_t dropped)
{
	px_entries_t es;
	px_db_op_t op;
	int rc;

	entries_of(&es, addrs ? addrs : (const char *const[]){ NULL });
	op = (px_db_op_t){ kind, set, &es, dropped };
	rc = px_db_commit(db, v, 1, &op, 1, NULL);
	px_entries_free(&es);
	return rc;
}

/* v1 create s1; v2 add a b; v3 del a; v4 add a c; v5 destroy s1. */
static px_db_t *history(char *dir)
{
	px_db_t *db = NULL;

	if (!mkdtemp(dir) || px_db_open(&db, dir, 16 << 20) != 0)
		return NULL;
	if (commit_one(db, 1, PX_DB_CREATE, "s1", NULL, 0) ||
	    commit_one(db, 2, PX_DB_ADD, "s1",
		       (const char *const[]){ "192.0.2.1", "192.0.2.2", NULL }, 0) ||
	    commit_one(db, 3, PX_DB_DEL, "s1",
		       (const char *const[]){ "192.0.2.1", NULL }, 0) ||
	    commit_one(db, 4, PX_DB_ADD, "s1",
		       (const char *const[]){ "192.0.2.1", "192.0.2.3", NULL }, 0) ||
	    commit_one(db, 5, PX_DB_DESTROY, "s1", NULL, 3)) {
		px_db_close(db);
		return NULL;
	}
	return db;
}

static void cleanup(px_db_t *db, const char *dir)
{
	char cmd[128];

	px_db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

TEST(store_versions_diff_composes_each_entrys_events)
{
	char dir[] = "/tmp/px-unit-ver.XXXXXX", err[256] = "";
	px_db_t *db = history(dir);
	px_vdiff_t d;
	const px_vset_t *s;

	if (!db) {
		px_test_fail(__FILE__, __LINE__, "could not build the history");
		return;
	}
	CHECK_INT(px_versions_diff(db, 1, 4, &d, err, sizeof(err)), 0);
	s = vset(&d, "s1");
	CHECK(s != NULL);
	if (s) {
		/* a: added, deleted, added again: there at 4, not at 1 */
		CHECK_STR(text_of(&s->add), "192.0.2.1 192.0.2.2 192.0.2.3");
		CHECK_INT((int)s->del.n, 0);
		CHECK(!s->created && !s->destroyed);
	}
	px_vdiff_free(&d);
	CHECK_INT(px_versions_diff(db, 2, 3, &d, err, sizeof(err)), 0);
	CHECK((s = vset(&d, "s1")) && strcmp(text_of(&s->del), "192.0.2.1") == 0);
	px_vdiff_free(&d);
	/* backwards: the same change the other way round */
	CHECK_INT(px_versions_diff(db, 4, 1, &d, err, sizeof(err)), 0);
	CHECK((s = vset(&d, "s1")) && s->add.n == 0 &&
	      strcmp(text_of(&s->del), "192.0.2.1 192.0.2.2 192.0.2.3") == 0);
	px_vdiff_free(&d);
	/* the destroy records what the set held */
	CHECK_INT(px_versions_diff(db, 4, 5, &d, err, sizeof(err)), 0);
	CHECK((s = vset(&d, "s1")) && s->destroyed && s->del.n == 3);
	px_vdiff_free(&d);
	/* made and destroyed in between: nothing at either end */
	CHECK_INT(px_versions_diff(db, 0, 5, &d, err, sizeof(err)), 0);
	CHECK((s = vset(&d, "s1")) && !s->created && !s->destroyed &&
	      s->add.n == 0 && s->del.n == 0);
	px_vdiff_free(&d);
	CHECK_INT(px_versions_diff(db, 0, 1, &d, err, sizeof(err)), 0);
	CHECK((s = vset(&d, "s1")) && s->created);
	px_vdiff_free(&d);
	/* a version the store never made */
	CHECK_INT(px_versions_diff(db, 1, 9, &d, err, sizeof(err)), PX_ERANGE);
	CHECK(strstr(err, "oldest") != NULL);
	px_vdiff_free(&d);
	cleanup(db, dir);
}

TEST(store_versions_meta_before_and_after)
{
	char dir[] = "/tmp/px-unit-ver.XXXXXX", err[256] = "";
	px_db_t *db = NULL;
	px_policy_t m;
	px_vdiff_t d;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 16 << 20), 0);
	if (!db)
		return;
	px_policy_init(&m);
	m.limits.value[PX_LIM_TCP_CONNECT_RATE] = 123;
	CHECK_INT(px_db_commit(db, 1, 1, NULL, 0, &m), 0);
	m.limits.value[PX_LIM_TCP_CONNECT_RATE] = 456;
	CHECK_INT(px_db_commit(db, 2, 1, NULL, 0, &m), 0);
	CHECK_INT(px_versions_diff(db, 0, 2, &d, err, sizeof(err)), 0);
	/* before the first meta record: the defaults (length 0) */
	CHECK(d.meta && d.meta_from_len == 0 && d.meta_to_len > 0);
	if (d.meta_to_len) {
		px_policy_t back;

		px_policy_init(&back);
		CHECK_INT(px_db_meta_apply(&back, d.meta_to, d.meta_to_len), 0);
		CHECK_INT((int)back.limits.value[PX_LIM_TCP_CONNECT_RATE], 456);
		px_policy_free(&back);
	}
	px_vdiff_free(&d);
	px_policy_free(&m);
	cleanup(db, dir);
}

TEST(store_versions_undo_leaves_later_changes)
{
	char dir[] = "/tmp/px-unit-ver.XXXXXX", err[256] = "";
	px_db_t *db = NULL;
	px_policy_t p;
	px_entries_t add, none;
	px_set_t *s;
	px_vdiff_t d;
	const px_vset_t *v;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 16 << 20), 0);
	if (!db)
		return;
	/* v1 adds a b c to flood-exceptions; later, c was deleted again */
	CHECK_INT(commit_one(db, 1, PX_DB_ADD, "flood-exceptions",
			     (const char *const[]){ "192.0.2.1", "192.0.2.2",
						    "192.0.2.3", NULL }, 0), 0);
	px_policy_init(&p);
	s = px_policy_find(&p, "flood-exceptions");
	entries_of(&add, (const char *const[]){ "192.0.2.1", "192.0.2.2", NULL });
	px_entries_init(&none);
	px_set_change(s, &add, &none);
	px_entries_free(&add);
	CHECK_INT(px_versions_undo(db, &p, 1, &d, err, sizeof(err)), 0);
	CHECK((v = vset(&d, "flood-exceptions")) != NULL);
	if (v) {
		CHECK_STR(text_of(&v->del), "192.0.2.1 192.0.2.2");
		CHECK_INT((int)v->add.n, 0);
	}
	px_vdiff_free(&d);
	px_policy_free(&p);
	cleanup(db, dir);
}

TEST(store_versions_confirm_pending_due_settled)
{
	char dir[] = "/tmp/px-unit-ver.XXXXXX";
	px_db_t *db = NULL;
	px_db_audit_t a;
	px_entries_t es;
	px_db_op_t op;

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 16 << 20), 0);
	if (!db)
		return;
	memset(&a, 0, sizeof(a));
	a.time_ms = 1000;
	a.rec = "x";
	a.len = 1;
	a.confirm_by_ms = 5000;
	entries_of(&es, (const char *const[]){ "192.0.2.9", NULL });
	op = (px_db_op_t){ PX_DB_ADD, "flood-exceptions", &es, 0 };
	CHECK_INT(px_db_commit_audited(db, 1, 1, &op, 1, NULL, &a), 0);
	CHECK(px_versions_pending(db, 1));
	CHECK_INT((int)px_versions_due(db, 4999, 0), 0);
	CHECK_INT((int)px_versions_due(db, 5000, 0), 1);
	CHECK_INT((int)px_versions_due(db, 5000, 1), 0);
	/* a later commit that settles it (the revert) ends the wait */
	a.confirm_by_ms = 0;
	a.settles = 1;
	op.kind = PX_DB_DEL;
	CHECK_INT(px_db_commit_audited(db, 2, 1, &op, 1, NULL, &a), 0);
	CHECK(!px_versions_pending(db, 1));
	CHECK_INT(px_db_confirm_del(db, 1, NULL), -ENOENT);
	px_entries_free(&es);
	cleanup(db, dir);
}

TEST(store_config_plan_checks_the_file_whole)
{
	Phalanx__ConfigApply ca = PHALANX__CONFIG_APPLY__INIT;
	Phalanx__SetEntries a = PHALANX__SET_ENTRIES__INIT,
			    b = PHALANX__SET_ENTRIES__INIT, *sets[2];
	ProtobufCBinaryData *bins;
	uint8_t *buf;
	px_entries_t es;
	px_policy_t p;
	px_vdiff_t d;
	char err[512];

	px_policy_init(&p);
	p.version = 7;
	entries_of(&es, (const char *const[]){ "192.0.2.1", "198.51.100.0/24",
					       NULL });
	px_wire_pack_entries(es.v, es.n, &bins, &buf);
	a.set = "flood-exceptions";
	a.entries = bins;
	a.n_entries = es.n;
	b.set = "new";
	sets[0] = &a;
	sets[1] = &b;
	ca.sets = sets;
	ca.n_sets = 2;
	CHECK_INT(px_config_plan(&p, &ca, &d, err, sizeof(err)), 0);
	CHECK(vset(&d, "new") && vset(&d, "new")->created);
	CHECK(vset(&d, "flood-exceptions") &&
	      vset(&d, "flood-exceptions")->add.n == 2);
	CHECK(!d.meta); /* no meta given: the defaults, as p has */
	px_vdiff_free(&d);
	/* a set named twice, no flood-exceptions, a bad name */
	b.set = "flood-exceptions";
	CHECK_INT(px_config_plan(&p, &ca, &d, err, sizeof(err)), PX_EBADREQ);
	px_vdiff_free(&d);
	ca.n_sets = 1;
	ca.sets = &sets[1];
	b.set = "other";
	CHECK_INT(px_config_plan(&p, &ca, &d, err, sizeof(err)), PX_EPROTECTED);
	px_vdiff_free(&d);
	b.set = "bad name!";
	CHECK_INT(px_config_plan(&p, &ca, &d, err, sizeof(err)), PX_ESETNAME);
	px_vdiff_free(&d);
	/* overlapping entries in one set */
	px_entries_free(&es);
	entries_of(&es, (const char *const[]){ "192.0.2.128/25", "192.0.2.0/24",
					       NULL });
	free(bins);
	free(buf);
	px_wire_pack_entries(es.v, es.n, &bins, &buf);
	a.entries = bins;
	a.n_entries = es.n;
	ca.sets = sets;
	CHECK_INT(px_config_plan(&p, &ca, &d, err, sizeof(err)), PX_EOVERLAP);
	CHECK(strstr(err, "overlaps") != NULL);
	px_vdiff_free(&d);
	free(bins);
	free(buf);
	px_entries_free(&es);
	px_policy_free(&p);
}
