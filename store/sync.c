/* sync.c - members: heartbeats in, snapshots out, the change stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alerts.h"
#include "codec.h"
#include "logring.h"
#include "px.h"
#include "store.h"

bool px_member_up(const px_store_t *st, const px_member_t *m, uint64_t now)
{
	return now - m->last_hb_ms <= st->member_timeout_ms;
}

static px_member_t *member_get(px_store_t *st, const char *id)
{
	size_t i;

	for (i = 0; i < st->nmembers; i++)
		if (strcmp(st->members[i].id, id) == 0)
			return &st->members[i];
	if (st->nmembers >= PX_MEMBERS_MAX)
		return NULL;
	st->members = xrealloc(st->members,
			       (st->nmembers + 1) * sizeof(*st->members));
	memset(&st->members[st->nmembers], 0, sizeof(*st->members));
	strcpy(st->members[st->nmembers].id, id);
	return &st->members[st->nmembers++];
}

static void member_known(const char *id, uint64_t applied, void *arg)
{
	px_store_t *st = arg;
	px_member_t *m;

	if (!px_member_id_valid(id))
		return;
	m = member_get(st, id);
	if (!m)
		return;
	m->applied = applied;
	/* Counted as up for one timeout after the store starts: they are
	 * most likely running, and `--wait` must wait for them. */
	m->last_hb_ms = px_now_ms();
}

void px_store_members_load(px_store_t *st)
{
	int rc = px_db_members(st->db, member_known, st);

	if (rc < 0)
		px_log(PX_LOG_WARN, "member list: %s", px_db_strerror(rc));
	else if (st->nmembers)
		px_log(PX_LOG_INFO, "%zu known members, expecting their "
		       "heartbeats", st->nmembers);
}

/* Hostile input: unknown quota names and undecodable sources are
 * skipped, counts are taken as they come. */
static void quotas_in(px_member_t *m, const Phalanx__Heartbeat *hb)
{
	size_t i, j;

	memset(m->quotas, 0, sizeof(m->quotas));
	for (i = 0; i < hb->n_quotas; i++) {
		const Phalanx__QuotaCount *q = hb->quotas[i];
		int id = px_limit_find(q->quota);
		px_member_quota_t *mq;

		if (id < 0)
			continue;
		mq = &m->quotas[id];
		mq->blocked = q->blocked;
		mq->would_block = q->would_block;
		for (j = 0; j < q->n_sources && mq->nsources < PX_QUOTA_SOURCES; j++)
			if (px_entry_decode(q->sources[j].data, q->sources[j].len,
					    &mq->sources[mq->nsources]) == 0)
				mq->nsources++;
	}
}

static void heartbeat_in(px_store_t *st, const Phalanx__Heartbeat *hb)
{
	char *p;
	uint64_t now = px_now_ms();
	px_member_t *m;
	bool was_up;

	if (!px_member_id_valid(hb->member)) {
		px_log(PX_LOG_WARN, "refused a heartbeat with an invalid "
		       "member id");
		return;
	}
	m = member_get(st, hb->member);
	if (!m) {
		px_log(PX_LOG_WARN, "refused a heartbeat: already %d members",
		       PX_MEMBERS_MAX);
		return;
	}
	if (!m->last_hb_ms) {
		int rc = px_db_member_put(st->db, m->id, hb->applied_version);

		px_log(PX_LOG_INFO, "member %s: first heartbeat%s%s", m->id,
		       rc < 0 ? "; not remembered: " : "",
		       rc < 0 ? px_db_strerror(rc) : "");
	}
	was_up = m->last_hb_ms && px_member_up(st, m, now);
	if (m->last_hb_ms && !was_up)
		px_log(PX_LOG_INFO, "member %s: up again, applied version "
		       "%llu", m->id, (unsigned long long)hb->applied_version);
	/* The detail is a peer's text: bounded by the copy, and no
	 * control characters reach the log (no forged lines). */
	snprintf(m->detail, sizeof(m->detail), "%s", hb->detail);
	for (p = m->detail; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if ((int)hb->health != m->health)
		px_log(hb->health ? PX_LOG_WARN : PX_LOG_INFO,
		       "member %s: health %s%s%s", m->id,
		       hb->health == 0 ? "ok" : hb->health == 1 ? "degraded" : "failed",
		       m->detail[0] ? ": " : "", m->detail);
	quotas_in(m, hb);
	m->ct_count = hb->ct_count;
	m->ct_max = hb->ct_max;
	m->applied = hb->applied_version;
	m->last_hb_ms = now;
	m->health = hb->health > 2 ? 2 : (int)hb->health;
	px_store_member_role(m, hb);
	m->store_lost = hb->store_lost;
}

typedef struct {
	px_store_t *st;
	const px_rid_t *rid;
	int sent;
} snap_arg_t;

static int send_chunk(Phalanx__SnapshotChunk *c, void *arg)
{
	snap_arg_t *a = arg;
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	int rc;

	env.epoch = a->st->policy.epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	rc = px_wire_send(a->st->sync, a->rid, &env);
	if (rc == 0)
		a->sent++;
	return rc;
}

static void snapshot_out(px_store_t *st, const px_rid_t *rid,
			 const Phalanx__SnapshotRequest *req)
{
	snap_arg_t a = { st, rid, 0 };
	int rc;

	rc = px_policy_chunks(&st->policy, PX_CHUNK_ENTRIES, send_chunk, &a);
	if (rc < 0)
		px_log(PX_LOG_WARN, "snapshot for %s: sent %d chunks, then: %s",
		       px_member_id_valid(req->member) ? req->member : "?",
		       a.sent, px_strerror(rc));
	else
		px_log(PX_LOG_INFO, "snapshot of version %llu for %s: %d chunks",
		       (unsigned long long)st->policy.version,
		       px_member_id_valid(req->member) ? req->member : "?", a.sent);
}

void px_store_sync(px_store_t *st)
{
	Phalanx__Envelope *env;
	px_rid_t rid;

	if (px_wire_recv(st->sync, ZMQ_DONTWAIT, &rid, &env) < 0)
		return;
	switch (env->body_case) {
	case PHALANX__ENVELOPE__BODY_HEARTBEAT:
		heartbeat_in(st, env->heartbeat);
		break;
	case PHALANX__ENVELOPE__BODY_SNAPSHOT_REQUEST:
		snapshot_out(st, &rid, env->snapshot_request);
		break;
	case PHALANX__ENVELOPE__BODY_ALERT_BATCH:
		px_store_alerts_in(st, &rid, env->alert_batch);
		break;
	case PHALANX__ENVELOPE__BODY_LOG_BATCH:
		px_store_log_in(st, env->log_batch);
		break;
	case PHALANX__ENVELOPE__BODY_BLOCK_REPORT:
		px_store_blocks_in(st, env->block_report);
		break;
	default:
		px_log(PX_LOG_WARN, "sync socket: refused a message of type %d",
		       env->body_case);
	}
	px_wire_free(env);
}

void px_store_heartbeat(px_store_t *st)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__StoreHeartbeat hb = PHALANX__STORE_HEARTBEAT__INIT;
	uint64_t now = px_now_ms();
	char **drained = NULL;
	size_t i;

	hb.version = st->policy.version;
	hb.time_ms = now;
	env.epoch = st->policy.epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_STORE_HEARTBEAT;
	env.store_heartbeat = &hb;
	px_store_alerts_heartbeat(st, &hb);
	px_store_member_drained(st, &hb, &drained);
	px_wire_send(st->pub, NULL, &env);
	free(drained);
	px_store_blocks_tick(st);
	for (i = 0; i < st->nmembers; i++) {
		px_member_t *m = &st->members[i];

		/* Log the transition to down once: last_hb_ms is in the
		 * window (timeout, timeout + 1 s] exactly one tick. */
		if (now - m->last_hb_ms > st->member_timeout_ms &&
		    now - m->last_hb_ms <= st->member_timeout_ms + 1000)
			px_log(PX_LOG_WARN, "member %s: no heartbeat for %llu ms, "
			       "marked down (applied version %llu)", m->id,
			       (unsigned long long)(now - m->last_hb_ms),
			       (unsigned long long)m->applied);
	}
}

static void publish_part(px_store_t *st, Phalanx__Change *c)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	int rc;

	env.epoch = st->policy.epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_CHANGE;
	env.change = c;
	rc = px_wire_send(st->pub, NULL, &env);
	if (rc < 0)
		px_log(PX_LOG_WARN, "publish version %llu part %u: %s "
		       "(members will resnapshot)",
		       (unsigned long long)c->version, c->part, px_strerror(rc));
}

void px_store_publish(px_store_t *st, uint64_t version, const px_pubop_t *ops,
		      size_t nops, Phalanx__LimitOp **limits, size_t nlimits,
		      const px_lists_t *lists)
{
	Phalanx__Change c = PHALANX__CHANGE__INIT;
	Phalanx__SetOp *sops = xcalloc(nops ? nops : 1, sizeof(*sops));
	Phalanx__SetOp **sptr = xcalloc(nops ? nops : 1, sizeof(*sptr));
	ProtobufCBinaryData **bins = xcalloc(nops ? nops : 1, sizeof(*bins));
	uint8_t **bufs = xcalloc(nops ? nops : 1, sizeof(*bufs));
	size_t total = 0, i, off, room;
	uint32_t nparts, part = 1;

	for (i = 0; i < nops; i++)
		total += ops[i].n;
	nparts = (uint32_t)((total + PX_CHUNK_ENTRIES - 1) / PX_CHUNK_ENTRIES);
	if (nparts == 0)
		nparts = 1;
	c.version = version;
	c.nparts = nparts;
	c.limits = limits;
	c.n_limits = nlimits;
	if (lists) {
		c.rules_set = c.services_set = true;
		c.rules = lists->rules;
		c.n_rules = lists->nrules;
		c.services = lists->services;
		c.n_services = lists->nservices;
	}
	i = 0;
	off = 0;
	/* Fill each part with up to PX_CHUNK_ENTRIES entries, splitting an
	 * operation across parts where it does not fit. */
	while (part <= nparts) {
		size_t k = 0, j;

		room = PX_CHUNK_ENTRIES;
		while (i < nops) {
			size_t take = ops[i].n - off < room ? ops[i].n - off : room;

			if (take == 0 && ops[i].n != 0)
				break;
			phalanx__set_op__init(&sops[k]);
			sops[k].kind = ops[i].kind;
			sops[k].set = (char *)ops[i].set;
			px_wire_pack_entries(ops[i].v + off, take, &bins[k],
					     &bufs[k]);
			sops[k].entries = bins[k];
			sops[k].n_entries = take;
			sptr[k] = &sops[k];
			k++;
			room -= take;
			off += take;
			if (off == ops[i].n) {
				i++;
				off = 0;
			}
		}
		c.part = part;
		c.sets = sptr;
		c.n_sets = k;
		publish_part(st, &c);
		for (j = 0; j < k; j++) {
			free(bins[j]);
			free(bufs[j]);
		}
		c.limits = NULL;
		c.n_limits = 0;
		c.rules_set = c.services_set = false;
		c.n_rules = c.n_services = 0;
		part++;
	}
	free(sops);
	free(sptr);
	free(bins);
	free(bufs);
}
