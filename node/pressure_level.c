/* pressure_level.c - the pure decision of resource protection (see
 * pressure.h), apart from its I/O so unit tests link it alone. */
#include "pressure.h"

int px_pressure_level(int level, uint64_t count, uint64_t max)
{
	uint64_t pct;

	if (max == 0)
		return level;
	pct = count * 100 / max;
	if (pct >= PX_PRESSURE_EXTREME_PCT)
		return PX_PRESSURE_EXTREME;
	if (pct >= PX_PRESSURE_LOW_PCT)
		return level > PX_PRESSURE_LOW ? level : PX_PRESSURE_LOW;
	if (pct < PX_PRESSURE_OK_PCT)
		return PX_PRESSURE_NONE;
	return level; /* between OK and LOW: keep what we had */
}
