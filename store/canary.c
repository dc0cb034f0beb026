/* canary.c - the store's verdict on a canary (canary.h): plain C over
 * what the member's heartbeats said, unit-tested without a store. */
#include <stdio.h>

#include "canary.h"

px_canary_verdict_t px_canary_decide(const px_canary_t *c,
				     const px_canary_member_t *m,
				     uint64_t now_ms, uint64_t *ok_since_ms,
				     char *why, size_t len)
{
	if ((!m->known || !m->up) && m->fresh)
		return PX_CANARY_WAIT;
	if (!m->known || !m->up) {
		snprintf(why, len, "%s is down", c->member);
		return PX_CANARY_REVERT;
	}
	if (m->drained) {
		snprintf(why, len, "%s was drained", c->member);
		return PX_CANARY_REVERT;
	}
	/* The member says its apply of this version failed (kernel or
	 * validation), whatever it applied since. */
	if (m->failed_version == c->version) {
		snprintf(why, len, "%s could not apply it: %s", c->member,
			 m->detail && m->detail[0] ? m->detail : "apply failed");
		return PX_CANARY_REVERT;
	}
	if (m->applied >= c->version && m->health != 0 && m->store_lost) {
		*ok_since_ms = 0;
	} else if (m->applied >= c->version && m->health != 0) {
		snprintf(why, len, "%s applied it, then its health went "
			 "%s: %s", c->member, m->health == 1 ? "degraded" :
			 "failed", m->detail && m->detail[0] ? m->detail : "?");
		*ok_since_ms = 0;
		return PX_CANARY_REVERT;
	}
	if (m->applied >= c->version && m->health == 0) {
		if (!*ok_since_ms)
			*ok_since_ms = now_ms;
		if (now_ms - *ok_since_ms >= (uint64_t)c->for_s * 1000)
			return PX_CANARY_RELEASE;
	}
	if (now_ms >= c->deadline_ms) {
		snprintf(why, len, "%s did not apply it and stay healthy for "
			 "%u s within %u s (applied version %llu)", c->member,
			 c->for_s, c->for_s + PX_CANARY_GRACE_S,
			 (unsigned long long)m->applied);
		return PX_CANARY_REVERT;
	}
	return PX_CANARY_WAIT;
}
