/* canary.c - which changes a member holds for a canary (canary.h). */
#include <stdio.h>
#include <string.h>

#include "canary.h"

void px_canary_gate_heard(px_canary_gate_t *g, uint64_t version,
			  uint64_t canary_version, const char *canary_member)
{
	g->heard = true;
	g->version = version;
	g->canary_version = canary_version;
	snprintf(g->canary_member, sizeof(g->canary_member), "%s",
		 canary_version && canary_member ? canary_member : "");
}

bool px_canary_holds(const px_canary_gate_t *g, const char *me,
		     uint64_t version, const char *canary)
{
	if (!canary || !canary[0] || strcmp(canary, me) == 0)
		return false;
	/* Released or reverted: a heartbeat that has the version and no
	 * longer names it.  One from before the version (or none yet)
	 * says nothing of it. */
	return g->version < version || g->canary_version == version;
}

bool px_canary_holds_snapshot(const px_canary_gate_t *g, const char *me,
			      uint64_t version)
{
	if (!g->heard)
		return true;
	return g->canary_version && strcmp(g->canary_member, me) != 0 &&
	       version >= g->canary_version;
}

uint64_t px_canary_store_version(const px_canary_gate_t *g, const char *me,
				 uint64_t store_version)
{
	if (g->heard && px_canary_holds_snapshot(g, me, store_version))
		return g->canary_version - 1;
	return store_version;
}

bool px_canary_behind_held(const px_canary_gate_t *g, const char *me,
			   uint64_t applied)
{
	return g->canary_version && strcmp(g->canary_member, me) != 0 &&
	       applied + 1 >= g->canary_version;
}
