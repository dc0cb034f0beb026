/* test_store_waiters.c - the store's held requests (store/waiters.c):
 * bounded per connection and in total, run again when their kind is
 * woken or their deadline passed, and only then.  ctl.c and sync.c are
 * not linked: the stubs below stand for them. */
#include <stdlib.h>
#include <string.h>

#include "../../store/replicate.h"
#include "../../store/store.h"
#include "px.h"
#include "unit.h"

/* What px_store_ctl_again was called with, per op. */
static size_t again_calls[64];
static char again_why[128];

void px_store_ctl_again(px_store_t *st, const px_rid_t *peer,
			Phalanx__Envelope *env, uint64_t deadline)
{
	const char *why = px_store_waiters_why(st);

	(void)peer;
	(void)deadline;
	again_calls[env->ctl_request->op % 64]++;
	snprintf(again_why, sizeof(again_why), "%s", why ? why : "(none)");
	px_wire_free(env);
}

/* replicate.c is not linked either: the unit tests' stores run without
 * Raft (st->raft NULL), which never proposes alerts. */
void px_store_stamp(px_store_t *st, Phalanx__Envelope *env)
{
	env->epoch = st->policy.epoch;
}

void px_store_replicate_alerts(px_store_t *st, const px_rid_t *rid,
			       const Phalanx__AlertBatch *b)
{
	(void)st;
	(void)rid;
	(void)b;
	abort();
}

int px_store_replicate_member_down(px_store_t *st, const Phalanx__Alert *al)
{
	(void)st;
	(void)al;
	abort();
}

bool px_member_up(const px_store_t *st, const px_member_t *m, uint64_t now)
{
	(void)st;
	(void)now;
	return m->last_hb_ms != 0;
}

/* members.c's drain of a member not heard: not run in these tests. */
px_member_t *px_store_member_get(px_store_t *st, const char *id)
{
	(void)st;
	(void)id;
	return NULL;
}

bool px_member_out_of_service(const px_store_t *st, const px_member_t *m)
{
	(void)st;
	(void)m;
	return false;
}

/* A request of op with n entries of 18 bytes, decoded as the ctl
 * socket's are (freed with px_wire_free). */
static Phalanx__Envelope *request(int op, size_t n)
{
	Phalanx__Envelope e = PHALANX__ENVELOPE__INIT, *env = NULL;
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	ProtobufCBinaryData *bins = calloc(n + 1, sizeof(*bins));
	static uint8_t entry[18] = { 6, 128 };
	uint8_t *buf;
	size_t len, i;

	for (i = 0; i < n; i++) {
		bins[i].data = entry;
		bins[i].len = sizeof(entry);
	}
	req.op = op;
	req.entries = bins;
	req.n_entries = n;
	e.proto_version = PX_PROTO_VERSION;
	e.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	e.ctl_request = &req;
	len = phalanx__envelope__get_packed_size(&e);
	buf = malloc(len + 1);
	phalanx__envelope__pack(&e, buf);
	if (px_wire_decode(buf, len, "test", &env) < 0)
		env = NULL;
	free(buf);
	free(bins);
	return env;
}

static px_rid_t rid_of(unsigned k)
{
	px_rid_t r;

	memset(&r, 0, sizeof(r));
	r.len = 4;
	memcpy(r.id, &k, sizeof(k));
	snprintf(r.peer, sizeof(r.peer), "test#%u", k);
	return r;
}

static void store_init(px_store_t *st)
{
	memset(st, 0, sizeof(*st));
	memset(again_calls, 0, sizeof(again_calls));
	again_why[0] = '\0';
}

TEST(store_waiters_capped_per_connection_and_in_total)
{
	px_store_t st;
	char err[300];
	uint64_t far = px_mono_ms() + 60000;
	unsigned k, i;
	size_t held;
	int rc = 0;

	store_init(&st);
	for (i = 0; i < PX_WAITERS_PER_PEER; i++) {
		px_rid_t r = rid_of(0);

		CHECK_INT(px_store_waiter_hold(&st, &r, request(60, 0),
					       PX_WAIT_APPLIED, far, err,
					       sizeof(err)), 0);
	}
	{
		px_rid_t r = rid_of(0);
		Phalanx__Envelope *env = request(60, 0);

		CHECK_INT(px_store_waiter_hold(&st, &r, env, PX_WAIT_APPLIED,
					       far, err, sizeof(err)), PX_EBUSY);
		CHECK(strstr(err, "from this connection") != NULL);
		px_wire_free(env); /* refused: still ours */
	}
	/* Other connections fill the rest, up to the total. */
	held = PX_WAITERS_PER_PEER;
	for (k = 1; rc == 0; k++) {
		for (i = 0; i < PX_WAITERS_PER_PEER && rc == 0; i++) {
			px_rid_t r = rid_of(k);
			Phalanx__Envelope *env = request(60, 0);

			rc = px_store_waiter_hold(&st, &r, env, PX_WAIT_APPLIED,
						  far, err, sizeof(err));
			if (rc < 0)
				px_wire_free(env);
			else
				held++;
		}
	}
	CHECK_INT(rc, PX_EBUSY);
	CHECK_INT(held, PX_WAITERS_MAX);
	/* Nothing woken, nothing due: none is run again. */
	CHECK(px_store_waiters_run(&st, 1000) > 0);
	CHECK_INT(again_calls[60], 0);
	px_store_waiters_free(&st);
	CHECK(st.waiters == NULL);
}

TEST(store_waiters_refuse_a_large_request)
{
	px_store_t st;
	px_rid_t r = rid_of(1);
	char err[300];
	/* 5000 entries of 18 bytes: ~100 KB, over the 64 KiB kept. */
	Phalanx__Envelope *env = request(15, 5000);

	store_init(&st);
	CHECK_INT(px_store_waiter_hold(&st, &r, env, PX_WAIT_ALERTS,
				       px_mono_ms() + 1000, err, sizeof(err)),
		  PX_ETOOBIG);
	px_wire_free(env);
	px_store_waiters_free(&st);
}

TEST(store_waiters_run_the_woken_kind_and_the_expired)
{
	px_store_t st;
	px_rid_t r = rid_of(2);
	char err[300];
	uint64_t now = px_mono_ms();
	long left;

	store_init(&st);
	CHECK_INT(px_store_waiter_hold(&st, &r, request(60, 0), PX_WAIT_APPLIED,
				       now + 60000, err, sizeof(err)), 0);
	CHECK_INT(px_store_waiter_hold(&st, &r, request(15, 0), PX_WAIT_ALERTS,
				       now + 30000, err, sizeof(err)), 0);
	CHECK_INT(px_store_waiter_hold(&st, &r, request(30, 0), PX_WAIT_LOG,
				       now + 40000, err, sizeof(err)), 0);
	/* The next deadline is the alert list's, 30 s away. */
	left = px_store_waiters_run(&st, 100000);
	CHECK(left > 25000 && left <= 30000);
	CHECK_INT(again_calls[60] + again_calls[15] + again_calls[30], 0);
	/* An ack wakes the WAIT only, and says so. */
	px_store_waiters_wake(&st, PX_WAIT_APPLIED, "fw3's ack");
	px_store_waiters_wake(&st, PX_WAIT_APPLIED, "fw4's heartbeat");
	px_store_waiters_run(&st, 1000);
	CHECK_INT(again_calls[60], 1);
	CHECK_INT(again_calls[15] + again_calls[30], 0);
	CHECK_STR(again_why, "fw3's ack");
	/* Woken again with no WAIT held: nothing to run. */
	px_store_waiters_wake(&st, PX_WAIT_APPLIED, "fw3's ack");
	px_store_waiters_run(&st, 1000);
	CHECK_INT(again_calls[60], 1);
	/* A deadline that passed: answered, on "its deadline". */
	CHECK_INT(px_store_waiter_hold(&st, &r, request(60, 0), PX_WAIT_APPLIED,
				       now, err, sizeof(err)), 0);
	CHECK_INT(px_store_waiters_run(&st, 1000) > 0, 1);
	CHECK_INT(again_calls[60], 2);
	CHECK_STR(again_why, "its deadline");
	CHECK(px_store_waiters_why(&st) == NULL);
	px_store_waiters_free(&st);
}
