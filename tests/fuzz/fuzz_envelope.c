/* fuzz_envelope - every message a daemon receives, as it arrives: one
 * packed Envelope (phalanx__envelope__unpack, as px_wire_recv does; the
 * proto_version check is not repeated), then per body the pure checks
 * its receiver applies before acting, with the library functions the
 * handlers call:
 *   change, snapshot_chunk (member, node/sync.c): applied to a policy
 *     (px_policy_apply_setops/_limitops/_lists, px_policy_apply_chunk);
 *   heartbeat (store, store/sync.c heartbeat_in/quotas_in): member id,
 *     each QuotaCount's quota name (px_limit_find) and sources
 *     (px_entry_decode);
 *   alert_batch (store, store/alerts.c invalid()): id, member, type
 *     (px_alert_type_valid), state (px_alert_state_parse), source;
 *   log_batch (store, store/logring.c add_record): member, source, dest;
 *   ctl_request (store, store/ctl.c): set name, entries
 *     (px_wire_unpack_entries, then normalize and px_entries_check_overlap
 *     as an import does), limit name and mode (px_limit_find,
 *     px_mode_parse), rule and service (px_rule_from_proto,
 *     px_service_from_proto against a default policy);
 *   store_heartbeat, alert_ack, snapshot_request, ctl_reply: decode only.
 * The store's handlers themselves run in fuzz_store; the member's
 * (node/sync.c's apply worker) need its kernel table: what they do with a
 * change or chunk before any batch, apply and validate, is fuzz_codec's.
 */
#include <stdint.h>

#include "alert.h"
#include "codec.h"
#include "phalanx.pb-c.h"
#include "policy.h"
#include "px.h"
#include "wire.h"

static void entry_of(const ProtobufCBinaryData *b)
{
	px_entry_t e;

	if (b->len)
		(void)px_entry_decode(b->data, b->len, &e);
}

static void heartbeat(const Phalanx__Heartbeat *hb)
{
	size_t i, j;

	if (!px_member_id_valid(hb->member))
		return;
	for (i = 0; i < hb->n_quotas; i++) {
		if (px_limit_find(hb->quotas[i]->quota) < 0)
			continue;
		for (j = 0; j < hb->quotas[i]->n_sources; j++)
			entry_of(&hb->quotas[i]->sources[j]);
	}
}

static void alert_batch(const Phalanx__AlertBatch *b)
{
	size_t i;

	for (i = 0; i < b->n_alerts; i++) {
		const Phalanx__Alert *al = b->alerts[i];

		if (!al->id[0] || !px_member_id_valid(al->member) ||
		    !px_alert_type_valid(al->type) ||
		    px_alert_state_parse(al->state) < 0)
			continue;
		entry_of(&al->source);
	}
}

static void log_batch(const Phalanx__LogBatch *b)
{
	size_t i;

	(void)px_member_id_valid(b->member);
	for (i = 0; i < b->n_records; i++) {
		if (!px_member_id_valid(b->records[i]->member))
			continue;
		entry_of(&b->records[i]->source);
		entry_of(&b->records[i]->dest);
	}
}

static void ctl_request(const Phalanx__CtlRequest *req)
{
	const px_entry_t *a, *b;
	px_entries_t in;
	px_policy_t p;
	px_rule_t r;
	px_service_t s;
	px_mode_t mode;
	size_t bad;

	(void)px_setname_valid(req->set);
	px_entries_init(&in);
	if (px_wire_unpack_entries(req->entries, req->n_entries, &in,
				   &bad) == 0) {
		px_entries_normalize(&in);
		(void)px_entries_check_overlap(&in, &a, &b);
	} else if (bad == 0 || bad > req->n_entries) {
		__builtin_trap(); /* the offending entry is named */
	}
	px_entries_free(&in);
	if (req->limit) {
		(void)px_limit_find(req->limit->name);
		(void)px_mode_parse(req->limit->mode, &mode);
	}
	px_policy_init(&p);
	if (req->rule)
		(void)px_rule_from_proto(&p, req->rule, &r);
	if (req->service)
		(void)px_service_from_proto(&p, req->service, &s);
	px_policy_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Phalanx__Envelope *env = phalanx__envelope__unpack(NULL, size, data);
	px_policy_t p;
	size_t bad;

	if (!env)
		return 0;
	switch (env->body_case) {
	case PHALANX__ENVELOPE__BODY_CHANGE:
		px_policy_init(&p);
		if (px_policy_apply_setops(&p, env->change->sets,
					   env->change->n_sets, &bad) == 0 &&
		    px_policy_apply_limitops(&p, env->change->limits,
					     env->change->n_limits) == 0)
			(void)px_policy_apply_lists(&p, env->change->rules_set,
					env->change->rules, env->change->n_rules,
					env->change->services_set,
					env->change->services,
					env->change->n_services);
		px_policy_free(&p);
		break;
	case PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK:
		px_policy_init(&p);
		(void)px_policy_apply_chunk(&p, env->snapshot_chunk);
		px_policy_free(&p);
		break;
	case PHALANX__ENVELOPE__BODY_HEARTBEAT:
		heartbeat(env->heartbeat);
		break;
	case PHALANX__ENVELOPE__BODY_ALERT_BATCH:
		alert_batch(env->alert_batch);
		break;
	case PHALANX__ENVELOPE__BODY_LOG_BATCH:
		log_batch(env->log_batch);
		break;
	case PHALANX__ENVELOPE__BODY_CTL_REQUEST:
		ctl_request(env->ctl_request);
		break;
	default:
		break;
	}
	phalanx__envelope__free_unpacked(env, NULL);
	return 0;
}
