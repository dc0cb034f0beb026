/* test_every.c - px_every (lib/ratelog.c): at most one line a period,
 * the first at once, and what was held back handed to the next line. */
#include "ratelog.h"
#include "unit.h"

TEST(every_one_line_a_period_with_held_count)
{
	px_every_t e = { 0 };
	uint64_t held = 99;

	CHECK(px_every(&e, 5000, 1000, 1, &held));
	CHECK_INT(held, 0);
	CHECK(!px_every(&e, 5500, 1000, 3, &held));
	CHECK(!px_every(&e, 5999, 1000, 2, NULL));
	CHECK(!px_every_due(&e, 5999));
	CHECK(px_every_due(&e, 6000));
	CHECK(px_every(&e, 6000, 1000, 1, &held));
	CHECK_INT(held, 5);
	CHECK(!px_every(&e, 6001, 1000, 1, &held));
	CHECK_INT(held, 5);
}
