/* test_store_alerts.c - the store's alert tables (store/alerts.c) on a
 * real LMDB environment: active alerts are bounded and pruned together
 * with the history; listing no active alerts is fine. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "../../store/alerts.h"
#include "alert.h"
#include "px.h"
#include "unit.h"

/* n "exceeded" alerts of distinct sources, ids from first. */
static void send_exceeded(px_store_t *st, size_t first, size_t n)
{
	const char *type = px_alert_types(&(size_t){ 0 })[0];
	size_t done = 0;

	while (done < n) {
		Phalanx__Alert av[256], *ap[256];
		char ids[256][32];
		uint8_t src[256][PX_ENTRY_WIRE_MAX];
		Phalanx__AlertBatch b = PHALANX__ALERT_BATCH__INIT;
		size_t k, m = n - done < 256 ? n - done : 256;

		for (k = 0; k < m; k++) {
			size_t i = first + done + k;
			char s[32];
			px_entry_t e;

			phalanx__alert__init(&av[k]);
			snprintf(ids[k], sizeof(ids[k]), "fw1:%zu", i);
			snprintf(s, sizeof(s), "10.%zu.%zu.%zu", (i >> 16) & 255,
				 (i >> 8) & 255, i & 255);
			px_entry_parse(s, &e);
			av[k].id = ids[k];
			av[k].member = "fw1";
			av[k].type = (char *)type;
			av[k].state = "exceeded";
			av[k].text = "";
			av[k].source.data = src[k];
			av[k].source.len = px_entry_encode(&e, src[k]);
			ap[k] = &av[k];
		}
		b.alerts = ap;
		b.n_alerts = m;
		px_store_alerts_in(st, &(px_rid_t){ 0 }, &b);
		done += m;
	}
}

static int active_listed(px_store_t *st, size_t *n)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	char err[200];
	void *mem = NULL;
	int rc;

	req.op = PHALANX__CTL_REQUEST__OP__ALERT_LIST;
	req.active_only = true;
	rc = px_store_alerts_ctl(st, &req, &rep, err, sizeof(err), &mem);
	*n = rep.n_alerts;
	px_store_alerts_reply_free(mem);
	return rc;
}

TEST(store_alerts_active_pruned_with_history_and_capped)
{
	char dir[] = "/tmp/px-unit-alerts.XXXXXX";
	px_store_t st;
	size_t n = 99;
	int rc;

	memset(&st, 0, sizeof(st));
	CHECK(mkdtemp(dir) != NULL);
	rc = px_db_open(&st.db, dir, 256 << 20);
	if (rc == 0)
		rc = px_alerts_open(&st.alerts, st.db, 300);
	if (rc != 0) {
		px_test_fail(__FILE__, __LINE__, "open: %s", px_strerror(rc));
		goto out;
	}
	/* No active alert: an empty list, not an error. */
	rc = active_listed(&st, &n);
	if (rc != 0 || n != 0) {
		px_test_fail(__FILE__, __LINE__, "empty active list: expected 0 "
			     "alerts, saw rc %d, %zu", rc, n);
		goto out;
	}
	/* 1,000 distinct sources over a history of 300: the active alerts
	 * of pruned records go with them. */
	send_exceeded(&st, 0, 1000);
	if (px_alerts_seq(st.alerts) != 1000 ||
	    px_alerts_active(st.alerts) > 300) {
		px_test_fail(__FILE__, __LINE__, "history 300: expected 1000 "
			     "stored and at most 300 active, saw %llu and %llu",
			     (unsigned long long)px_alerts_seq(st.alerts),
			     (unsigned long long)px_alerts_active(st.alerts));
		goto out;
	}
	rc = active_listed(&st, &n);
	if (rc != 0 || n != px_alerts_active(st.alerts)) {
		px_test_fail(__FILE__, __LINE__, "expected %llu listed, saw rc "
			     "%d, %zu", (unsigned long long)
			     px_alerts_active(st.alerts), rc, n);
		goto out;
	}
	/* The count survives a reload from the database. */
	px_alerts_close(st.alerts);
	st.alerts = NULL;
	rc = px_alerts_open(&st.alerts, st.db, 100000);
	if (rc != 0 || px_alerts_active(st.alerts) != n) {
		px_test_fail(__FILE__, __LINE__, "reopen: expected %zu active, "
			     "saw rc %d, %llu", n, rc, (unsigned long long)
			     (st.alerts ? px_alerts_active(st.alerts) : 0));
		goto out;
	}
	/* A long history: the active table still stops at its cap. */
	send_exceeded(&st, 1000, 12000);
	if (px_alerts_active(st.alerts) > 10000 ||
	    px_alerts_active(st.alerts) < 8000) {
		px_test_fail(__FILE__, __LINE__, "expected 8000..10000 active "
			     "after 12300 distinct, saw %llu",
			     (unsigned long long)px_alerts_active(st.alerts));
		goto out;
	}
	rc = active_listed(&st, &n);
	CHECK_INT(rc, 0);
out:
	px_alerts_close(st.alerts);
	px_db_close(st.db);
	px_test_rm_db(dir);
}

/* Members flooding a small map with alerts: the history is pruned to its
 * byte budget and alert writes stop short of the policy's reserve, so a
 * policy write of 2,000 entries still fits afterwards. */
TEST(store_alerts_leave_room_for_policy_writes)
{
	char dir[] = "/tmp/px-unit-alerts.XXXXXX";
	px_store_t st;
	px_entries_t es;
	px_db_op_t ops[2];
	size_t i;
	int rc;

	memset(&st, 0, sizeof(st));
	CHECK(mkdtemp(dir) != NULL);
	rc = px_db_open(&st.db, dir, 2 << 20);
	if (rc == 0)
		rc = px_alerts_open(&st.alerts, st.db, 0);
	if (rc != 0) {
		px_test_fail(__FILE__, __LINE__, "open: %s", px_strerror(rc));
		goto out;
	}
	send_exceeded(&st, 0, 20000);
	px_entries_init(&es);
	for (i = 0; i < 2000; i++) {
		char s[32];
		px_entry_t e;

		snprintf(s, sizeof(s), "192.168.%zu.%zu", i >> 8, i & 255);
		px_entry_parse(s, &e);
		px_entries_push(&es, &e);
	}
	ops[0] = (px_db_op_t){ PX_DB_CREATE, "s1", NULL, 0 };
	ops[1] = (px_db_op_t){ PX_DB_ADD, "s1", &es, 0 };
	rc = px_db_commit(st.db, 1, 1, ops, 2, NULL);
	px_entries_free(&es);
	if (rc != 0)
		px_test_fail(__FILE__, __LINE__, "after 20,000 alerts in a 2 MB "
			     "map: a 2,000-entry policy write: expected 0, saw %s "
			     "(%llu alerts kept)", px_strerror(rc),
			     (unsigned long long)px_alerts_seq(st.alerts));
out:
	px_alerts_close(st.alerts);
	px_db_close(st.db);
	px_test_rm_db(dir);
}
