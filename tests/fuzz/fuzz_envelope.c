/* fuzz_envelope - every message a daemon decodes: an Envelope, then what
 * the member does with a change or a snapshot chunk, and what the store
 * does with a heartbeat's quota list. */
#include <stdint.h>

#include "codec.h"
#include "phalanx.pb-c.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Phalanx__Envelope *env = phalanx__envelope__unpack(NULL, size, data);
	px_policy_t p;
	size_t bad;

	if (!env)
		return 0;
	px_policy_init(&p);
	switch (env->body_case) {
	case PHALANX__ENVELOPE__BODY_CHANGE:
		px_policy_apply_setops(&p, env->change->sets,
				       env->change->n_sets, &bad);
		px_policy_apply_limitops(&p, env->change->limits,
					 env->change->n_limits);
		px_policy_apply_lists(&p, env->change->rules_set,
				      env->change->rules, env->change->n_rules,
				      env->change->services_set,
				      env->change->services,
				      env->change->n_services);
		break;
	case PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK:
		px_policy_apply_chunk(&p, env->snapshot_chunk);
		break;
	default:
		break;
	}
	px_policy_free(&p);
	phalanx__envelope__free_unpacked(env, NULL);
	return 0;
}
