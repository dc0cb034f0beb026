/* test_store_roles.c - members drain --wait on the store's side
 * (store/members.c, store/waiters.c): when a member counts as drained
 * or back, and a held DRAINED_WAIT is run again when a role moves, not
 * before.  The stubs of px_member_up (up: a heartbeat was heard) and
 * px_store_ctl_again (frees the request) are test_store_waiters.c's. */
#include <string.h>

#include "../../store/store.h"
#include "px.h"
#include "unit.h"

static void member(px_member_t *m, const char *id, const char *role,
		   bool drained, bool up)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->id, sizeof(m->id), "%s", id);
	snprintf(m->vrrp_role, sizeof(m->vrrp_role), "%s", role);
	m->drained = drained;
	m->last_hb_ms = up ? 1 : 0;
}

static Phalanx__Envelope *wait_request(int op, const char *id)
{
	Phalanx__Envelope e = PHALANX__ENVELOPE__INIT, *env = NULL;
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	uint8_t buf[256];
	size_t len;

	req.op = op;
	req.member = (char *)id;
	req.timeout_ms = 60000;
	e.proto_version = PX_PROTO_VERSION;
	e.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	e.ctl_request = &req;
	len = phalanx__envelope__get_packed_size(&e);
	if (len > sizeof(buf))
		return NULL;
	phalanx__envelope__pack(&e, buf);
	if (px_wire_decode(buf, len, "test", &env) < 0)
		return NULL;
	return env;
}

TEST(store_member_settled_drained_needs_fault_and_another_master)
{
	px_store_t st;
	px_member_t m[3];
	const int drained = PHALANX__CTL_REQUEST__OP__DRAINED_WAIT;
	const int back = PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT;

	memset(&st, 0, sizeof(st));
	st.members = m;
	st.nmembers = 3;
	member(&m[0], "fw1", "master", true, true);
	member(&m[1], "fw2", "backup", false, true);
	member(&m[2], "fw3", "backup", false, true);
	/* Flagged, but keepalived has not faulted yet. */
	CHECK(!px_store_member_settled(&st, "fw1", drained));
	member(&m[0], "fw1", "fault", true, true);
	/* Faulted, but nobody else took the addresses yet. */
	CHECK(!px_store_member_settled(&st, "fw1", drained));
	member(&m[1], "fw2", "master", false, true);
	CHECK(px_store_member_settled(&st, "fw1", drained));
	/* A master that is down holds nothing. */
	m[1].last_hb_ms = 0;
	CHECK(!px_store_member_settled(&st, "fw1", drained));
	m[1].last_hb_ms = 1;
	/* Back: backup or master, and up. */
	CHECK(!px_store_member_settled(&st, "fw1", back));
	member(&m[0], "fw1", "backup", false, true);
	CHECK(px_store_member_settled(&st, "fw1", back));
	m[0].last_hb_ms = 0;
	CHECK(!px_store_member_settled(&st, "fw1", back));
	/* A member the store never heard of is neither. */
	CHECK(!px_store_member_settled(&st, "fw9", drained));
	CHECK(!px_store_member_settled(&st, "fw9", back));
}

TEST(store_drained_wait_runs_again_when_a_role_moves_only)
{
	px_store_t st;
	px_member_t m[2];
	px_rid_t r;
	char err[300];
	uint64_t digest;
	long left;

	memset(&st, 0, sizeof(st));
	memset(&r, 0, sizeof(r));
	r.len = 1;
	snprintf(r.peer, sizeof(r.peer), "test#roles");
	st.members = m;
	st.nmembers = 2;
	member(&m[0], "fw1", "master", true, true);
	member(&m[1], "fw2", "backup", false, true);
	digest = px_store_member_roles_digest(&st);
	CHECK_INT(px_store_waiter_hold(&st, &r, wait_request(
		PHALANX__CTL_REQUEST__OP__DRAINED_WAIT, "fw1"), PX_WAIT_ROLES,
		px_mono_ms() + 60000, err, sizeof(err)), 0);
	/* Nothing moved: still held, its deadline ~60 s away. */
	left = px_store_waiters_run(&st, 100000);
	CHECK(left > 50000 && left <= 60000);
	/* An applied version or a heartbeat that changes no role: held. */
	px_store_waiters_wake(&st, PX_WAIT_APPLIED, "fw2's ack");
	left = px_store_waiters_run(&st, 100000);
	CHECK(left > 50000 && left <= 60000);
	CHECK(px_store_member_roles_digest(&st) == digest);
	/* fw1's keepalived faulted: the digest moves, the wait runs again
	 * (the stub answers it: nothing is held, the loop may sleep max). */
	member(&m[0], "fw1", "fault", true, true);
	CHECK(px_store_member_roles_digest(&st) != digest);
	CHECK_INT(px_store_waiters_run(&st, 100000), 100000);
	/* A member going down moves it too. */
	digest = px_store_member_roles_digest(&st);
	m[1].last_hb_ms = 0;
	CHECK(px_store_member_roles_digest(&st) != digest);
	px_store_waiters_free(&st);
}
