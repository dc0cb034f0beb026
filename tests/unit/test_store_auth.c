/* test_store_auth.c - identities in the store's LMDB (store/auth.c):
 * the bootstrap admin, roles kept across a reopen, one identity per key,
 * deletion; the permission table's verdicts; the audit trail's records
 * (store/db.c history). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../store/auth.h"
#include "../../store/db.h"
#include "keys.h"
#include "px.h"
#include "unit.h"

static void rm_db(const char *dir)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

static int count_cb(const void *rec, size_t len, void *arg)
{
	(void)rec;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

TEST(store_auth_identities_persist_and_stay_unique)
{
	char dir[128], err[256];
	px_keypair_t admin, viewer, fw1;
	const px_ident_t *id;
	px_auth_t *a = NULL;
	px_db_t *db = NULL;
	size_t n;

	snprintf(dir, sizeof(dir), "/tmp/px-unit-auth-%d", (int)getpid());
	rm_db(dir);
	CHECK_INT(px_key_gen(&admin, NULL, err, sizeof(err)), 0);
	CHECK_INT(px_key_gen(&viewer, NULL, err, sizeof(err)), 0);
	CHECK_INT(px_key_gen(&fw1, NULL, err, sizeof(err)), 0);
	CHECK_INT(px_db_open(&db, dir, 8 << 20), 0);
	CHECK_INT(px_auth_open(&a, db, admin.pub), 0);
	id = px_auth_find(a, admin.pub);
	CHECK(id != NULL);
	CHECK_STR(id->name, "admin");
	CHECK_INT(id->role, PX_ROLE_ADMIN);
	CHECK(px_auth_find(a, viewer.pub) == NULL);
	CHECK_INT(px_auth_put(a, "ops", viewer.pub, PX_ROLE_VIEWER), 0);
	CHECK_INT(px_auth_put(a, "fw1", fw1.pub, PX_ROLE_MEMBER), 0);
	/* One key, one identity: the admin's key cannot become fw1's too. */
	CHECK_INT(px_auth_put(a, "fw2", admin.pub, PX_ROLE_MEMBER), PX_EEXIST);
	CHECK_INT(px_auth_put(a, "bad", "not a key", PX_ROLE_VIEWER), PX_EBADREQ);
	px_auth_close(a);
	a = NULL;
	px_db_close(db);

	/* Reopened: all there, and the bootstrap does not add a second. */
	CHECK_INT(px_db_open(&db, dir, 8 << 20), 0);
	CHECK_INT(px_auth_open(&a, db, admin.pub), 0);
	px_auth_list(a, &n);
	CHECK_INT((int)n, 3);
	id = px_auth_find(a, viewer.pub);
	CHECK(id != NULL && id->role == PX_ROLE_VIEWER);
	CHECK_STR(id->name, "ops");
	id = px_auth_find(a, fw1.pub);
	CHECK(id != NULL && id->role == PX_ROLE_MEMBER);
	/* Revoked: gone at once and after a reopen. */
	CHECK_INT(px_auth_del(a, "fw1", true), 0);
	CHECK(px_auth_find(a, fw1.pub) == NULL);
	CHECK_INT(px_auth_del(a, "fw1", true), PX_ENOMEMBER);
	CHECK_INT(px_auth_del(a, "ops", true), PX_ENOMEMBER); /* an admin */
	px_auth_close(a);
	a = NULL;
	px_db_close(db);
	CHECK_INT(px_db_open(&db, dir, 8 << 20), 0);
	CHECK_INT(px_auth_open(&a, db, NULL), 0);
	CHECK(px_auth_find(a, fw1.pub) == NULL);
	CHECK(px_auth_find(a, viewer.pub) != NULL);
	px_auth_close(a);
	px_db_close(db);
	rm_db(dir);
}

TEST(store_auth_permission_table)
{
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__STATUS), PX_ROLE_VIEWER);
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__SET_LIST), PX_ROLE_VIEWER);
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__SET_ADD), PX_ROLE_OPERATOR);
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__ALERT_RESET), PX_ROLE_OPERATOR);
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__LIMIT_SET), PX_ROLE_ADMIN);
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__RULE_ADD), PX_ROLE_ADMIN);
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE), PX_ROLE_ADMIN);
	CHECK_INT(px_ctl_min_role(PHALANX__CTL_REQUEST__OP__ADMIN_ADD), PX_ROLE_ADMIN);
	/* A request the table does not list is an admin's. */
	CHECK_INT(px_ctl_min_role((Phalanx__CtlRequest__Op)999), PX_ROLE_ADMIN);
}

TEST(store_db_history_in_commit_and_since)
{
	char dir[128];
	px_db_audit_t a1 = { .time_ms = 1000, .rec = "one", .len = 3 },
		      a2 = { .time_ms = 5000, .rec = "two", .len = 3 };
	px_db_t *db = NULL;
	int n = 0;

	snprintf(dir, sizeof(dir), "/tmp/px-unit-hist-%d", (int)getpid());
	rm_db(dir);
	CHECK_INT(px_db_open(&db, dir, 8 << 20), 0);
	CHECK_INT(px_db_commit_audited(db, 1, 1, NULL, 0, NULL, &a1), 0);
	CHECK_INT(px_db_history_put(db, &a2), 0);
	CHECK_INT(px_db_history(db, 0, count_cb, &n), 0);
	CHECK_INT(n, 2);
	n = 0;
	CHECK_INT(px_db_history(db, 2000, count_cb, &n), 0);
	CHECK_INT(n, 1);
	px_db_close(db);
	rm_db(dir);
}
