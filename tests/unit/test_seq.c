/* test_seq.c - version/gap logic of the change stream. */
#include "seq.h"
#include "unit.h"

TEST(seq_in_order_single_parts)
{
	px_seq_t s = { 5, 0, 0, 0 };

	CHECK_INT(px_seq_check(&s, 6, 1, 1), PX_SEQ_START);
	CHECK(px_seq_complete(&s));
	px_seq_done(&s, true);
	CHECK_INT(s.applied, 6);
	CHECK_INT(px_seq_check(&s, 6, 1, 1), PX_SEQ_IGNORE);
	CHECK_INT(px_seq_check(&s, 3, 1, 1), PX_SEQ_IGNORE);
	CHECK_INT(px_seq_check(&s, 7, 1, 1), PX_SEQ_START);
}

TEST(seq_gap_on_skipped_version)
{
	px_seq_t s = { 5, 0, 0, 0 };

	CHECK_INT(px_seq_check(&s, 7, 1, 1), PX_SEQ_GAP);
	CHECK_INT(px_seq_check(&s, 6, 2, 2), PX_SEQ_GAP); /* part 1 lost */
}

TEST(seq_parts)
{
	px_seq_t s = { 9, 0, 0, 0 };

	CHECK_INT(px_seq_check(&s, 10, 1, 3), PX_SEQ_START);
	CHECK(!px_seq_complete(&s));
	CHECK_INT(px_seq_check(&s, 10, 2, 3), PX_SEQ_CONTINUE);
	CHECK_INT(px_seq_check(&s, 10, 2, 3), PX_SEQ_IGNORE); /* duplicate */
	CHECK(!px_seq_complete(&s));
	CHECK_INT(px_seq_check(&s, 10, 3, 3), PX_SEQ_CONTINUE);
	CHECK(px_seq_complete(&s));
	px_seq_done(&s, true);
	CHECK_INT(s.applied, 10);
}

TEST(seq_gap_inside_parts_and_next_version)
{
	px_seq_t s = { 9, 0, 0, 0 };

	CHECK_INT(px_seq_check(&s, 10, 1, 3), PX_SEQ_START);
	CHECK_INT(px_seq_check(&s, 10, 3, 3), PX_SEQ_GAP);
	px_seq_done(&s, false);
	CHECK_INT(s.applied, 9);
	CHECK_INT(px_seq_check(&s, 10, 1, 2), PX_SEQ_START);
	CHECK_INT(px_seq_check(&s, 11, 1, 1), PX_SEQ_GAP);
}

TEST(seq_rejects_bad_part_numbers)
{
	px_seq_t s = { 1, 0, 0, 0 };

	CHECK_INT(px_seq_check(&s, 2, 0, 1), PX_SEQ_GAP);
	CHECK_INT(px_seq_check(&s, 2, 2, 1), PX_SEQ_GAP);
	CHECK_INT(px_seq_check(&s, 2, 1, 0), PX_SEQ_GAP);
}

TEST(seq_behind_store)
{
	px_seq_t s = { 4, 0, 0, 0 };

	CHECK(!px_seq_behind(&s, 4));
	CHECK(px_seq_behind(&s, 5));
	CHECK_INT(px_seq_check(&s, 5, 1, 2), PX_SEQ_START);
	/* still behind while parts are on their way: a lost part is only
	 * noticed this way (the member waits a grace period first) */
	CHECK(px_seq_behind(&s, 5));
	CHECK(!px_seq_behind(&s, 4));
}

#include "pressure.h"

TEST(pressure_levels_with_hysteresis)
{
	CHECK_INT(px_pressure_level(PX_PRESSURE_NONE, 700, 1000), PX_PRESSURE_NONE);
	CHECK_INT(px_pressure_level(PX_PRESSURE_NONE, 799, 1000), PX_PRESSURE_NONE);
	CHECK_INT(px_pressure_level(PX_PRESSURE_NONE, 800, 1000), PX_PRESSURE_LOW);
	CHECK_INT(px_pressure_level(PX_PRESSURE_LOW, 950, 1000), PX_PRESSURE_EXTREME);
	/* falls back only below 70% */
	CHECK_INT(px_pressure_level(PX_PRESSURE_EXTREME, 900, 1000), PX_PRESSURE_EXTREME);
	CHECK_INT(px_pressure_level(PX_PRESSURE_EXTREME, 750, 1000), PX_PRESSURE_EXTREME);
	CHECK_INT(px_pressure_level(PX_PRESSURE_LOW, 750, 1000), PX_PRESSURE_LOW);
	CHECK_INT(px_pressure_level(PX_PRESSURE_EXTREME, 699, 1000), PX_PRESSURE_NONE);
	CHECK_INT(px_pressure_level(PX_PRESSURE_LOW, 10, 0), PX_PRESSURE_LOW);
}
