/* test_canary.c - `--canary': which changes a member holds
 * (node/canary.c) and the store's verdict (store/canary.c). */
#include "../../store/canary.h"
#include "../../node/canary.h"
#include "unit.h"

TEST(canary_hold_until_released)
{
	px_canary_gate_t g;

	memset(&g, 0, sizeof(g));
	/* No heartbeat yet, or one from before the version: held. */
	CHECK(px_canary_holds(&g, "fw2", 7, "fw1"));
	px_canary_gate_heard(&g, 6, 0, "");
	CHECK(px_canary_holds(&g, "fw2", 7, "fw1"));
	/* The store at 7 with 7 the canary in progress: still held. */
	px_canary_gate_heard(&g, 7, 7, "fw1");
	CHECK(px_canary_holds(&g, "fw2", 7, "fw1"));
	CHECK(px_canary_behind_held(&g, "fw2", 6));
	/* The canary member itself applies it at once. */
	CHECK(!px_canary_holds(&g, "fw1", 7, "fw1"));
	CHECK(!px_canary_behind_held(&g, "fw1", 6));
	/* A change without a canary is never held by the gate (it waits
	 * behind a held one in the queue, not here). */
	CHECK(!px_canary_holds(&g, "fw2", 8, ""));
	CHECK(!px_canary_holds(&g, "fw2", 8, NULL));
	/* Released: the store at 7 no longer names it. */
	px_canary_gate_heard(&g, 7, 0, "");
	CHECK(!px_canary_holds(&g, "fw2", 7, "fw1"));
	CHECK(!px_canary_behind_held(&g, "fw2", 6));
}

TEST(canary_hold_snapshot_and_readiness)
{
	px_canary_gate_t g;

	memset(&g, 0, sizeof(g));
	/* Before the first store heartbeat a snapshot waits for it (a
	 * restarted member does not know of a canary yet). */
	CHECK(px_canary_holds_snapshot(&g, "fw2", 7));
	CHECK_INT(px_canary_store_version(&g, "fw2", 7), 7);
	px_canary_gate_heard(&g, 7, 0, "");
	CHECK(!px_canary_holds_snapshot(&g, "fw2", 7));
	px_canary_gate_heard(&g, 8, 7, "fw1");
	/* A snapshot that holds the canary's version waits like it ... */
	CHECK(px_canary_holds_snapshot(&g, "fw2", 7));
	CHECK(px_canary_holds_snapshot(&g, "fw2", 8));
	CHECK(!px_canary_holds_snapshot(&g, "fw2", 6));
	CHECK(!px_canary_holds_snapshot(&g, "fw1", 8));
	/* ... and the readiness gate counts the version before it. */
	CHECK_INT(px_canary_store_version(&g, "fw2", 8), 6);
	CHECK_INT(px_canary_store_version(&g, "fw1", 8), 8);
	px_canary_gate_heard(&g, 8, 0, "");
	CHECK(!px_canary_holds_snapshot(&g, "fw2", 8));
	CHECK_INT(px_canary_store_version(&g, "fw2", 8), 8);
}

TEST(canary_hold_reverted_and_next_canary)
{
	px_canary_gate_t g;

	memset(&g, 0, sizeof(g));
	px_canary_gate_heard(&g, 7, 7, "fw1");
	/* Reverted as 8: the store at 8, no canary: 7 and 8 go on. */
	px_canary_gate_heard(&g, 8, 0, "");
	CHECK(!px_canary_holds(&g, "fw2", 7, "fw1"));
	/* A later canary, 9, is a canary of its own: held while the store
	 * names it, even though 7 was released. */
	px_canary_gate_heard(&g, 9, 9, "fw1");
	CHECK(px_canary_holds(&g, "fw2", 9, "fw1"));
	CHECK(!px_canary_holds(&g, "fw2", 7, "fw1"));
	/* Behind by more than the held version: something was lost. */
	CHECK(!px_canary_behind_held(&g, "fw2", 5));
	CHECK(px_canary_behind_held(&g, "fw2", 8));
}

static px_canary_t canary7(void)
{
	px_canary_t c;

	memset(&c, 0, sizeof(c));
	c.version = 7;
	snprintf(c.member, sizeof(c.member), "fw1");
	c.for_s = 3;
	c.deadline_ms = 100000 + 33000;
	return c;
}

TEST(canary_verdict_released_after_healthy_seconds)
{
	px_canary_t c = canary7();
	px_canary_member_t m = { true, true, false, false, false, 6, 0, 0, "" };
	uint64_t since = 0;
	char why[200] = "";

	CHECK_INT(px_canary_decide(&c, &m, 100000, &since, why, sizeof(why)),
		  PX_CANARY_WAIT);
	CHECK_INT(since, 0);
	m.applied = 7;
	CHECK_INT(px_canary_decide(&c, &m, 101000, &since, why, sizeof(why)),
		  PX_CANARY_WAIT);
	CHECK_INT(since, 101000);
	CHECK_INT(px_canary_decide(&c, &m, 103999, &since, why, sizeof(why)),
		  PX_CANARY_WAIT);
	CHECK_INT(px_canary_decide(&c, &m, 104000, &since, why, sizeof(why)),
		  PX_CANARY_RELEASE);
}

TEST(canary_verdict_reverted)
{
	px_canary_t c = canary7();
	px_canary_member_t m = { true, true, false, false, false, 6, 7, 1,
				 "apply of version 7 failed: not permitted" };
	uint64_t since = 0;
	char why[200] = "";

	/* Its apply of this version failed. */
	CHECK_INT(px_canary_decide(&c, &m, 100500, &since, why, sizeof(why)),
		  PX_CANARY_REVERT);
	CHECK(strstr(why, "fw1 could not apply it: apply of version 7 "
		     "failed") != NULL);
	/* A failure of an older version does not count against it. */
	m.failed_version = 6;
	m.health = 0;
	CHECK_INT(px_canary_decide(&c, &m, 100500, &since, why, sizeof(why)),
		  PX_CANARY_WAIT);
	/* Down, drained. */
	m.up = false;
	CHECK_INT(px_canary_decide(&c, &m, 100500, &since, why, sizeof(why)),
		  PX_CANARY_REVERT);
	CHECK_STR(why, "fw1 is down");
	/* Not while the store (a new leader) has not watched it long
	 * enough to have heard the member. */
	m.fresh = true;
	CHECK_INT(px_canary_decide(&c, &m, 100500, &since, why, sizeof(why)),
		  PX_CANARY_WAIT);
	m.fresh = false;
	m.up = true;
	m.drained = true;
	CHECK_INT(px_canary_decide(&c, &m, 100500, &since, why, sizeof(why)),
		  PX_CANARY_REVERT);
	m.drained = false;
	/* Applied, then unhealthy before its seconds were up. */
	m.applied = 7;
	CHECK_INT(px_canary_decide(&c, &m, 101000, &since, why, sizeof(why)),
		  PX_CANARY_WAIT);
	m.health = 1;
	m.detail = "store lost";
	/* It lost the store (a failover): not the change's fault, but the
	 * healthy seconds count again from its recovery. */
	m.store_lost = true;
	CHECK_INT(px_canary_decide(&c, &m, 102000, &since, why, sizeof(why)),
		  PX_CANARY_WAIT);
	CHECK_INT(since, 0);
	m.store_lost = false;
	m.detail = "apply of version 9 failed";
	CHECK_INT(px_canary_decide(&c, &m, 102000, &since, why, sizeof(why)),
		  PX_CANARY_REVERT);
	CHECK(strstr(why, "degraded: apply of version 9 failed") != NULL);
	/* Stuck below the version past the deadline. */
	m.applied = 6;
	m.health = 0;
	CHECK_INT(px_canary_decide(&c, &m, 133000, &since, why, sizeof(why)),
		  PX_CANARY_REVERT);
	CHECK(strstr(why, "did not apply it") != NULL);
}
