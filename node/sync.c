/* sync.c - the member's side of the store protocol. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alerting.h"
#include "blocks.h"
#include "codec.h"
#include "nflog.h"
#include "pressure.h"
#include "node.h"
#include "px.h"
#include "vrrp.h"
#include "wire.h"

#define TICK_MS 1000
/* A snapshot that has not finished in this long is asked for again. */
#define SNAPSHOT_RETRY_MS 5000
/* Behind the store's heartbeat version with nothing arriving for this
 * long: a change was lost (PUB drops silently), so resnapshot. */
#define BEHIND_GRACE_MS 1500

static void set_health(px_node_t *n, int health, const char *detail)
{
	if (n->health != health || strcmp(n->detail, detail) != 0)
		px_log(health ? PX_LOG_WARN : PX_LOG_INFO, "health: %s%s%s",
		       health == 0 ? "ok" : health == 1 ? "degraded" : "failed",
		       detail[0] ? ": " : "", detail);
	n->health = health;
	snprintf(n->detail, sizeof(n->detail), "%s", detail);
}

int px_node_apply(px_node_t *n, px_policy_t *target, bool rebuild)
{
	px_nft_stats_t st;
	int rc;

	memset(&st, 0, sizeof(st));
	rc = px_nft_apply(n->nft, rebuild ? NULL : &n->applied, target, &st);
	if (rc == PX_EKERNEL && !rebuild) {
		px_log(PX_LOG_WARN, "version %llu: kernel check failed, "
		       "rebuilding the table", (unsigned long long)target->version);
		rc = px_nft_apply(n->nft, NULL, target, &st);
	}
	if (rc < 0) {
		char d[200];

		snprintf(d, sizeof(d), "apply of version %llu failed: %s",
			 (unsigned long long)target->version, px_strerror(rc));
		px_log(PX_LOG_ERR, "%s; kernel keeps version %llu", d,
		       (unsigned long long)n->applied.version);
		set_health(n, 1, d);
		px_vrrp_applied(n, rc);
		return rc;
	}
	px_log(PX_LOG_INFO, "applied version %llu%s: +%llu -%llu elements, "
	       "%u messages, %zu bytes, %.1f ms",
	       (unsigned long long)target->version, rebuild ? " (rebuild)" : "",
	       (unsigned long long)st.elems_added,
	       (unsigned long long)st.elems_deleted, st.messages,
	       st.batch_bytes, st.usec / 1000.0);
	px_policy_free(&n->applied);
	n->applied = *target;
	memset(target, 0, sizeof(*target));
	n->seq.applied = n->applied.version;
	if (n->watcher)
		px_watcher_policy(n->watcher, &n->applied);
	rc = px_policy_save(n->o.cache, &n->applied);
	if (rc < 0)
		px_log(PX_LOG_ERR, "cache %s not written: %s (kernel holds "
		       "version %llu)", n->o.cache, px_strerror(rc),
		       (unsigned long long)n->applied.version);
	if (n->health && strncmp(n->detail, "apply", 5) == 0)
		set_health(n, n->store_lost ? 1 : 0,
			   n->store_lost ? "store lost" : "");
	px_vrrp_applied(n, 0);
	return 0;
}

static bool send_env(void *sock, Phalanx__Envelope *env)
{
	int rc = px_wire_send(sock, NULL, env);

	/* EAGAIN: ZMQ_IMMEDIATE and no store connected; the next tick
	 * tries again, nothing to queue. */
	if (rc < 0 && rc != -EAGAIN)
		px_log(PX_LOG_WARN, "send to store: %s", px_strerror(rc));
	return rc == 0;
}

static void request_snapshot(px_node_t *n, const char *why);

static void on_snap_retry(uv_timer_t *t)
{
	px_node_t *n = t->data;

	if (n->snapping && !n->snap_sent)
		request_snapshot(n, "store not connected yet, asking again");
}

static void request_snapshot(px_node_t *n, const char *why)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__SnapshotRequest req = PHALANX__SNAPSHOT_REQUEST__INIT;

	if (!n->snapping || n->snap_sent)
		px_log(PX_LOG_INFO, "requesting a snapshot: %s", why);
	else
		px_log(PX_LOG_DEBUG, "requesting a snapshot: %s", why);
	px_policy_free(&n->snap);
	n->snapping = true;
	n->snap_next = 0;
	n->snap_started_ms = px_mono_ms();
	px_policy_free(&n->pending);
	px_seq_done(&n->seq, false);
	req.member = n->o.id;
	env.epoch = n->epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_REQUEST;
	env.snapshot_request = &req;
	n->snap_sent = send_env(n->sync, &env);
	/* Not connected yet (ZMQ_IMMEDIATE): ask again shortly rather than
	 * at the next tick, so a starting member syncs at once. */
	if (!n->snap_sent)
		uv_timer_start(&n->snap_retry, on_snap_retry, 100, 0);
}

/* Quota activity for the heartbeat: the watcher's quotas here, the
 * kernel's from its named counters (quota_kernel). */
typedef struct {
	Phalanx__QuotaCount qv[PX_LIM_COUNT], *qp[PX_LIM_COUNT];
	ProtobufCBinaryData bins[PX_LIM_COUNT][PX_QUOTA_RECENT];
	uint8_t buf[PX_LIM_COUNT][PX_QUOTA_RECENT][PX_ENTRY_WIRE_MAX];
	uint64_t blocked[PX_LIM_COUNT], would[PX_LIM_COUNT];
	px_entry_t src[PX_LIM_COUNT][PX_QUOTA_RECENT];
	size_t nsrc[PX_LIM_COUNT];
} quota_report_t;

static void quota_watcher(px_node_t *n, quota_report_t *r)
{
	px_watcher_stats_t ws;
	int q;

	if (!n->watcher)
		return;
	px_watcher_stats(n->watcher, &ws);
	for (q = 0; q < PX_Q_COUNT; q++) {
		const px_quota_count_t *c = &ws.quota.q[q];
		int id = px_quota_limit_id(q);

		r->blocked[id] += c->blocked;
		r->would[id] += c->would_block;
		r->nsrc[id] = c->nrecent;
		memcpy(r->src[id], c->recent, c->nrecent * sizeof(px_entry_t));
	}
}

static void on_counter(const char *name, uint64_t packets, void *arg)
{
	quota_report_t *r = arg;
	bool would = strncmp(name, "would_", 6) == 0;
	int id;

	if (!would && strncmp(name, "blocked_", 8) != 0)
		return;
	id = px_limit_find(name + (would ? 6 : 8));
	if (id < 0)
		return;
	if (would)
		r->would[id] += packets;
	else
		r->blocked[id] += packets;
}

/* The block set of a kernel quota ("tcp_block"), NULL if it has none. */
static const char *block_set(int id)
{
	switch (id) {
	case PX_LIM_TCP_CONNECT_RATE: return "tcp_block";
	case PX_LIM_HTTP_REQUEST_RATE: return "http_block";
	default: return NULL;
	}
}

static void add_sources(px_node_t *n, quota_report_t *r, int id,
			const char *kset)
{
	size_t got = 0, room = PX_QUOTA_RECENT - r->nsrc[id];

	if (room && px_nft_list_small(n->nft, kset, &r->src[id][r->nsrc[id]],
				      room, &got) == 0)
		r->nsrc[id] += got;
}

/* Counters of the kernel's quotas, and the sources in their block and
 * observe sets (small sets, bounded by the quota's own timeout). */
static void quota_kernel(px_node_t *n, quota_report_t *r)
{
	char kset[64];
	int id, fam;

	px_nft_counters(n->nft, "", on_counter, r);
	for (id = 0; id < PX_LIM_COUNT; id++) {
		if (!r->blocked[id] && !r->would[id])
			continue;
		for (fam = 4; fam <= 6; fam += 2) {
			if (block_set(id)) {
				snprintf(kset, sizeof(kset), "%s%d", block_set(id), fam);
				add_sources(n, r, id, kset);
			}
			snprintf(kset, sizeof(kset), "obs_%s%d",
				 px_limit_defs[id].name, fam);
			add_sources(n, r, id, kset);
		}
	}
}

static void quota_report(px_node_t *n, quota_report_t *r,
			 Phalanx__Heartbeat *hb)
{
	int id;
	size_t j;

	memset(r, 0, sizeof(*r));
	quota_watcher(n, r);
	quota_kernel(n, r);
	for (id = 0; id < PX_LIM_COUNT; id++) {
		Phalanx__QuotaCount *c = &r->qv[hb->n_quotas];

		if (!r->blocked[id] && !r->would[id])
			continue;
		phalanx__quota_count__init(c);
		c->quota = (char *)px_limit_defs[id].name;
		c->blocked = r->blocked[id];
		c->would_block = r->would[id];
		for (j = 0; j < r->nsrc[id]; j++) {
			r->bins[id][j].data = r->buf[id][j];
			r->bins[id][j].len = px_entry_encode(&r->src[id][j],
							     r->buf[id][j]);
		}
		c->sources = r->bins[id];
		c->n_sources = r->nsrc[id];
		r->qp[hb->n_quotas++] = c;
	}
	hb->quotas = r->qp;
}

static void send_heartbeat(px_node_t *n)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__Heartbeat hb = PHALANX__HEARTBEAT__INIT;
	static quota_report_t report;

	hb.member = n->o.id;
	hb.applied_version = n->applied.version;
	hb.vrrp_role = (char *)px_vrrp_role(n);
	px_vrrp_addresses(&hb);
	hb.health = n->health;
	hb.detail = n->detail;
	hb.store_lost = n->store_lost;
	quota_report(n, &report, &hb);
	hb.ct_count = n->ct_count;
	hb.ct_max = n->ct_max;
	env.epoch = n->epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	send_env(n->sync, &env);
}

static void store_seen(px_node_t *n)
{
	n->store_seen_ms = px_mono_ms();
	if (n->store_lost) {
		n->store_lost = false;
		px_log(PX_LOG_INFO, "store is back; resyncing from version %llu",
		       (unsigned long long)n->applied.version);
		set_health(n, 0, "");
		/* A request sent while it was away went nowhere. */
		if (n->snapping)
			request_snapshot(n, "store is back");
	}
}

static void drop_held(px_node_t *n)
{
	size_t i;

	for (i = 0; i < n->nheld; i++)
		px_wire_free(n->held[i]);
	n->nheld = 0;
}

static void on_change(px_node_t *n, const Phalanx__Change *c)
{
	size_t bad = 0;
	int rc;
	switch (px_seq_check(&n->seq, c->version, c->part, c->nparts)) {
	case PX_SEQ_IGNORE:
		return;
	case PX_SEQ_GAP:
		{
			char why[128];

			snprintf(why, sizeof(why), "gap: at version %llu, got "
				 "version %llu part %u/%u",
				 (unsigned long long)n->applied.version,
				 (unsigned long long)c->version, c->part,
				 c->nparts);
			request_snapshot(n, why);
		}
		return;
	case PX_SEQ_START:
		px_policy_free(&n->pending);
		px_policy_copy(&n->pending, &n->applied);
		break;
	case PX_SEQ_CONTINUE:
		break;
	}
	rc = px_policy_apply_setops(&n->pending, c->sets, c->n_sets, &bad);
	if (rc == 0)
		rc = px_policy_apply_limitops(&n->pending, c->limits, c->n_limits);
	if (rc == 0)
		rc = px_policy_apply_lists(&n->pending, c->rules_set, c->rules,
					   c->n_rules, c->services_set,
					   c->services, c->n_services);
	if (rc < 0) {
		char why[160];

		snprintf(why, sizeof(why), "version %llu part %u refused: %s",
			 (unsigned long long)c->version, c->part, px_strerror(rc));
		request_snapshot(n, why);
		return;
	}
	if (!px_seq_complete(&n->seq))
		return;
	n->pending.version = c->version;
	rc = px_node_apply(n, &n->pending, false);
	px_seq_done(&n->seq, rc == 0);
	px_policy_free(&n->pending);
}

/* Changes held during a snapshot: those it already covers are ignored
 * by the sequencing, the rest apply on top. */
static void replay_held(px_node_t *n)
{
	size_t i, k = n->nheld;

	n->nheld = 0;
	for (i = 0; i < k; i++) {
		if (!n->snapping)
			on_change(n, n->held[i]->change);
		px_wire_free(n->held[i]);
	}
}

static void on_chunk(px_node_t *n, const Phalanx__SnapshotChunk *c)
{
	int rc;

	if (!n->snapping || c->seq != n->snap_next) {
		/* Before chunk 0, other chunks are the tail of an earlier
		 * stream: ignore them rather than ask again for each. */
		if (n->snapping && n->snap_next > 0)
			request_snapshot(n, "snapshot chunk missing");
		return;
	}
	rc = px_policy_apply_chunk(&n->snap, c);
	if (rc < 0) {
		char d[128];

		snprintf(d, sizeof(d), "snapshot of version %llu refused: %s",
			 (unsigned long long)c->version, px_strerror(rc));
		px_log(PX_LOG_ERR, "%s (chunk %u); kernel keeps version %llu",
		       d, c->seq, (unsigned long long)n->applied.version);
		set_health(n, 1, d);
		n->snapping = false;
		px_policy_free(&n->snap);
		drop_held(n);
		return;
	}
	n->snap_next++;
	if (!c->last)
		return;
	n->snapping = false;
	n->snap.epoch = n->epoch;
	if (n->snap.version < n->applied.version)
		px_log(PX_LOG_WARN, "snapshot version %llu is older than the "
		       "applied %llu: taking the store's word",
		       (unsigned long long)n->snap.version,
		       (unsigned long long)n->applied.version);
	px_node_apply(n, &n->snap, false);
	px_policy_free(&n->snap);
	replay_held(n);
}

/* Returns true if it kept env (the caller must not free it). */
static bool on_message(px_node_t *n, Phalanx__Envelope *env)
{
	if (env->epoch < n->epoch) {
		px_log(PX_LOG_WARN, "refused a message of store epoch %llu "
		       "(current epoch %llu)", (unsigned long long)env->epoch,
		       (unsigned long long)n->epoch);
		return false;
	}
	if (n->epoch && env->epoch > n->epoch) {
		/* A store with a new database: its versions say nothing
		 * about ours.  Take its snapshot, whatever its version. */
		px_log(PX_LOG_WARN, "store epoch changed from %llu to %llu: a "
		       "new store database; resyncing from a snapshot",
		       (unsigned long long)n->epoch,
		       (unsigned long long)env->epoch);
		n->epoch = env->epoch;
		n->seq.applied = 0;
		store_seen(n);
		request_snapshot(n, "new store epoch");
		return false;
	}
	n->epoch = env->epoch;
	store_seen(n);
	switch (env->body_case) {
	case PHALANX__ENVELOPE__BODY_CHANGE:
		n->behind_since_ms = 0;
		if (!n->snapping) {
			on_change(n, env->change);
			break;
		}
		if (n->nheld == sizeof(n->held) / sizeof(n->held[0])) {
			/* Bounded: past this the heartbeat check resyncs. */
			px_log(PX_LOG_WARN, "more than %zu changes during a "
			       "snapshot: dropping them", n->nheld);
			drop_held(n);
		}
		n->held[n->nheld++] = env;
		return true;
	case PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK:
		on_chunk(n, env->snapshot_chunk);
		break;
	case PHALANX__ENVELOPE__BODY_ALERT_ACK:
		px_alerting_ack(n, env->alert_ack);
		break;
	case PHALANX__ENVELOPE__BODY_BLOCK_LIST:
		px_blocks_in(n, env->block_list);
		break;
	case PHALANX__ENVELOPE__BODY_STORE_HEARTBEAT:
		px_alerting_store_heartbeat(n, env->store_heartbeat);
		px_vrrp_store_heartbeat(n, env->store_heartbeat);
		if (env->store_heartbeat->version < n->applied.version &&
		    !n->snapping) {
			char why[96];

			/* Same epoch, yet the store is behind us: it lost
			 * data.  Its word is the policy. */
			snprintf(why, sizeof(why), "store is at version %llu, "
				 "below the applied %llu",
				 (unsigned long long)env->store_heartbeat->version,
				 (unsigned long long)n->applied.version);
			n->seq.applied = 0;
			request_snapshot(n, why);
		} else if (!px_seq_behind(&n->seq, env->store_heartbeat->version) ||
		    n->snapping) {
			n->behind_since_ms = 0;
		} else if (!n->behind_since_ms) {
			n->behind_since_ms = px_mono_ms();
		} else if (px_mono_ms() - n->behind_since_ms > BEHIND_GRACE_MS) {
			char why[96];

			snprintf(why, sizeof(why), "store is at version %llu, "
				 "member at %llu",
				 (unsigned long long)env->store_heartbeat->version,
				 (unsigned long long)n->applied.version);
			n->behind_since_ms = 0;
			request_snapshot(n, why);
		}
		break;
	default:
		px_log(PX_LOG_WARN, "refused a message of type %d from the store",
		       env->body_case);
	}
	return false;
}

/* ZMQ_FD is edge-triggered: on every wake, read until ZMQ_EVENTS says
 * there is nothing more, or the next edge may never come. */
static void drain(px_node_t *n, void *sock)
{
	for (;;) {
		Phalanx__Envelope *env;
		int events = 0;
		size_t sz = sizeof(events);
		int rc;

		if (zmq_getsockopt(sock, ZMQ_EVENTS, &events, &sz) < 0 ||
		    !(events & ZMQ_POLLIN))
			return;
		rc = px_wire_recv(sock, ZMQ_DONTWAIT, NULL, &env);
		if (rc == -EAGAIN)
			return;
		if (rc < 0)
			continue; /* refused and logged by px_wire_recv */
		if (!on_message(n, env))
			px_wire_free(env);
	}
}

static void on_sync(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	drain(h->data, ((px_node_t *)h->data)->sync);
}

static void on_sub(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	drain(h->data, ((px_node_t *)h->data)->sub);
}

static void on_tick(uv_timer_t *t)
{
	px_node_t *n = t->data;
	uint64_t now = px_mono_ms();

	if (!n->store_lost && now - n->store_seen_ms > n->o.store_timeout_ms) {
		n->store_lost = true;
		px_log(PX_LOG_WARN, "store %s silent for %llu ms: enforcing "
		       "version %llu until it is back", n->o.store,
		       (unsigned long long)(now - n->store_seen_ms),
		       (unsigned long long)n->applied.version);
		set_health(n, 1, "store lost");
	}
	if (n->snapping && !n->snap_sent)
		request_snapshot(n, "store not connected yet, asking again");
	else if (n->snapping && now - n->snap_started_ms > SNAPSHOT_RETRY_MS)
		request_snapshot(n, "previous snapshot did not complete");
	send_heartbeat(n);
	px_pressure_tick(n);
	px_alerting_tick(n);
	px_nflog_tick(n);
	/* Edges can be consumed by zmq_send on the same socket; a periodic
	 * drain makes sure nothing waits for a wake that already passed. */
	drain(n, n->sync);
	drain(n, n->sub);
}

static void *open_socket(px_node_t *n, int type, int which)
{
	char ep[300];
	void *s = zmq_socket(n->zctx, type);
	int zero = 0, one = 1, ivl = 200;
	int64_t max = PX_MSG_MAX;

	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	/* Reconnect fast: a store that restarts is back within a second. */
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof(ivl));
	if (type == ZMQ_DEALER)
		zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof(one));
	if (type == ZMQ_SUB)
		zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
	px_endpoint(n->o.store, which, ep, sizeof(ep));
	if (zmq_connect(s, ep) < 0) {
		px_log(PX_LOG_ERR, "connect %s: %s", ep, zmq_strerror(errno));
		zmq_close(s);
		return NULL;
	}
	return s;
}

static int poll_socket(px_node_t *n, void *sock, uv_poll_t *p, uv_poll_cb cb)
{
	int fd;
	size_t sz = sizeof(fd);

	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &sz) < 0)
		return -errno;
	uv_poll_init(n->loop, p, fd);
	p->data = n;
	return uv_poll_start(p, UV_READABLE, cb);
}

int px_node_sync_start(px_node_t *n)
{
	n->zctx = zmq_ctx_new();
	n->sync = open_socket(n, ZMQ_DEALER, PX_EP_SYNC);
	n->sub = open_socket(n, ZMQ_SUB, PX_EP_PUB);
	if (!n->sync || !n->sub)
		return -EINVAL;
	poll_socket(n, n->sync, &n->sync_poll, on_sync);
	poll_socket(n, n->sub, &n->sub_poll, on_sub);
	uv_timer_init(n->loop, &n->snap_retry);
	n->snap_retry.data = n;
	uv_timer_init(n->loop, &n->tick);
	n->tick.data = n;
	uv_timer_start(&n->tick, on_tick, TICK_MS, TICK_MS);
	n->store_seen_ms = px_mono_ms();
	n->seq.applied = n->applied.version;
	/* Subscribe first, then ask: changes that arrive while the snapshot
	 * streams are covered by it or caught by the heartbeat check. */
	px_alerting_start(n);
	request_snapshot(n, "startup");
	return 0;
}

void px_node_sync_stop(px_node_t *n)
{
	if (!n->zctx)
		return;
	uv_poll_stop(&n->sync_poll);
	uv_poll_stop(&n->sub_poll);
	uv_timer_stop(&n->tick);
	px_alerting_stop(n);
	uv_timer_stop(&n->snap_retry);
	uv_close((uv_handle_t *)&n->snap_retry, NULL);
	drop_held(n);
	uv_close((uv_handle_t *)&n->sync_poll, NULL);
	uv_close((uv_handle_t *)&n->sub_poll, NULL);
	uv_close((uv_handle_t *)&n->tick, NULL);
	zmq_close(n->sync);
	zmq_close(n->sub);
	zmq_ctx_term(n->zctx);
	n->zctx = NULL;
}
