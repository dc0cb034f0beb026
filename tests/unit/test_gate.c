/* test_gate.c - the readiness gate's decision (node/gate.c). */
#include "gate.h"
#include "unit.h"

TEST(gate_fresh_member_waits_then_current)
{
	px_gate_t g;

	px_gate_init(&g, 1000, 3000);
	CHECK_INT(px_gate_decide(&g, 1000, 5, false, NULL), PX_GATE_FAULT);
	px_gate_heartbeat(&g, 7);
	/* behind before it was ever current: no grace */
	CHECK_INT(px_gate_decide(&g, 1200, 5, false, NULL), PX_GATE_FAULT);
	CHECK_INT(px_gate_decide(&g, 1400, 7, false, NULL), PX_GATE_READY);
}

TEST(gate_change_in_flight_gets_grace)
{
	px_gate_t g;

	px_gate_init(&g, 0, 3000);
	px_gate_heartbeat(&g, 7);
	CHECK_INT(px_gate_decide(&g, 100, 7, false, NULL), PX_GATE_READY);
	px_gate_heartbeat(&g, 8);
	CHECK_INT(px_gate_decide(&g, 200, 7, false, NULL), PX_GATE_READY);
	CHECK_INT(px_gate_decide(&g, 200 + g.grace_ms + 1, 7, false, NULL),
		  PX_GATE_FAULT);
	CHECK_INT(px_gate_decide(&g, 200 + g.grace_ms + 2, 8, false, NULL),
		  PX_GATE_READY);
}

TEST(gate_store_lost_when_current_stays_eligible)
{
	px_gate_t g;

	px_gate_init(&g, 0, 3000);
	px_gate_heartbeat(&g, 7);
	CHECK_INT(px_gate_decide(&g, 100, 7, false, NULL), PX_GATE_READY);
	CHECK_INT(px_gate_decide(&g, 5000, 7, true, NULL), PX_GATE_READY);
	CHECK_INT(px_gate_decide(&g, 90000, 7, true, NULL), PX_GATE_READY);
}

TEST(gate_no_store_since_start_is_stale_not_fault)
{
	px_gate_t g;
	const char *why = NULL;

	px_gate_init(&g, 0, 3000);
	CHECK_INT(px_gate_decide(&g, 2999, 4, true, NULL), PX_GATE_FAULT);
	CHECK_INT(px_gate_decide(&g, 3000, 4, true, &why), PX_GATE_STALE);
	CHECK(why != NULL);
	/* the store answers, with a newer version: catch up first */
	px_gate_heartbeat(&g, 6);
	CHECK_INT(px_gate_decide(&g, 3100, 4, false, NULL), PX_GATE_FAULT);
	CHECK_INT(px_gate_decide(&g, 3200, 6, false, NULL), PX_GATE_READY);
}

TEST(gate_lost_before_catching_up_is_stale)
{
	px_gate_t g;

	px_gate_init(&g, 0, 3000);
	px_gate_heartbeat(&g, 9);
	CHECK_INT(px_gate_decide(&g, 100, 4, false, NULL), PX_GATE_FAULT);
	CHECK_INT(px_gate_decide(&g, 4000, 4, true, NULL), PX_GATE_STALE);
}

TEST(gate_failed_apply_drain_and_freeze_fault)
{
	px_gate_t g;

	px_gate_init(&g, 0, 3000);
	px_gate_heartbeat(&g, 7);
	CHECK_INT(px_gate_decide(&g, 100, 7, false, NULL), PX_GATE_READY);
	g.apply_failed = true;
	CHECK_INT(px_gate_decide(&g, 200, 7, false, NULL), PX_GATE_FAULT);
	g.apply_failed = false;
	g.drained = true;
	CHECK_INT(px_gate_decide(&g, 300, 7, false, NULL), PX_GATE_FAULT);
	g.drained = false;
	px_gate_resumed(&g, 400);
	CHECK_INT(px_gate_decide(&g, 500, 7, false, NULL), PX_GATE_FAULT);
	CHECK_INT(px_gate_decide(&g, 400 + g.resume_hold_ms, 7, false, NULL),
		  PX_GATE_READY);
}
