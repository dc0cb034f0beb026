/* alerting.c - the member's alerts: observations in, alerts out to the
 * store (see alerting.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "alerting.h"
#include "blocks.h"
#include "ct.h"
#include "ids_syn.h"
#include "outbox.h"
#include "px.h"
#include "vocab.h"
#include "wire.h"

/* Sources read from one kernel set per second.  A set that fills the
 * buffer is a flood of many sources: it is read only every
 * SLOW_TICKS seconds, since a dump costs time on the loop (a 1M-element
 * set takes seconds) and the rate cap could not report them all anyway. */
#define LIST_MAX 1024
#define SLOW_TICKS 10
/* Alerts per AlertBatch and batches per second: bounds each message and
 * the loop's time; a queue left over goes in the next seconds. */
#define BATCH_MAX 256
#define BATCHES_PER_TICK 8
/* An alert not acknowledged this long after it was sent goes again: a
 * bit under the 1 s tick, so every tick resends what is unacknowledged. */
#define RESEND_MS 900

const char px_alerting_usage[] =
"  --alert-window-ms MS   at most one alert per source and quota per MS\n"
"                         while it keeps exceeding; recovered after MS\n"
"                         without excess (60000)\n"
"  --alert-rate N         global cap: alerts per second (20)\n"
"  --ct-rcvbuf BYTES      conntrack event socket buffer to start with\n"
"                         (default 8 MB; small values are for tests)\n";

/* The kernel sets alerts are read from (docs/nft-layout.md). */
static const struct kset {
	const char *name;      /* without the family digit */
	px_limit_id_t quota;
	bool observe;          /* an obs_ set: observe mode */
} ksets[] = {
	{ PX_SET_TCP_BLOCK, PX_LIM_TCP_CONNECT_RATE, false },
	{ PX_SET_HTTP_BLOCK, PX_LIM_HTTP_REQUEST_RATE, false },
	{ PX_SET_HALFOPEN_BLOCK, PX_LIM_TCP_HALF_OPEN, false },
	{ PX_SET_CONN_OVER, PX_LIM_TCP_CONCURRENT, false },
	{ PX_SET_OBS "tcp-connect-rate", PX_LIM_TCP_CONNECT_RATE, true },
	{ PX_SET_OBS "tcp-concurrent", PX_LIM_TCP_CONCURRENT, true },
	{ PX_SET_OBS "http-request-rate", PX_LIM_HTTP_REQUEST_RATE, true },
	{ PX_SET_OBS "nontcp-session-rate", PX_LIM_NONTCP_SESSION_RATE, true },
};
#define NKSETS (sizeof(ksets) / sizeof(ksets[0]))

/* What the watcher had acted on at the last tick. */
struct watched {
	uint64_t acted;       /* blocked + would_block */
	px_entry_t recent[PX_QUOTA_RECENT];
	size_t nrecent;
};

typedef struct px_alerting {
	px_alert_engine_t *eng;
	px_outbox_t *ob;
	px_alerts_t out;
	px_entry_t *list;
	unsigned skip[NKSETS][2];    /* ticks to skip a slow set */
	bool missing_logged[NKSETS][2];
	struct watched wq[PX_Q_COUNT];
	uint64_t events_lost;
	bool store_lost;             /* "store-lost" is exceeding */
	uint64_t dropped_reported;
	uint64_t disabled;           /* bit i: px_alert_types()[i] */
	uint64_t untracked_seen;
	px_every_t untracked_log;
	px_ids_surge_t syn;          /* intrusion detection's syn-attack */
} px_alerting_t;

int px_alerting_option(px_node_opts_t *o, const char *key, const char *value)
{
	if (strcmp(key, "alert-window-ms") == 0)
		return px_parse_u64(value, 100, 86400000, &o->alert_window_ms);
	if (strcmp(key, "alert-rate") == 0)
		return px_parse_u64(value, 1, 1000000, &o->alert_rate);
	/* The kernel's floor is a few KB; 1 GB is past any sane buffer. */
	if (strcmp(key, "ct-rcvbuf") == 0)
		return px_parse_u64(value, 4096, 1u << 30, &o->ct_rcvbuf);
	return PX_EOPTION;
}

void px_alerting_start(px_node_t *n)
{
	px_alerting_t *a = xcalloc(1, sizeof(*a));
	px_alert_conf_t conf = { n->o.alert_window_ms, (uint32_t)n->o.alert_rate,
				 0 };
	char legacy[sizeof(n->o.cache) + 8];
	px_watcher_stats_t ws;
	int q;

	a->eng = px_alert_new(&conf);
	a->list = xmalloc(LIST_MAX * sizeof(*a->list));
	px_alerts_init(&a->out);
	snprintf(legacy, sizeof(legacy), "%s.alerts", n->o.cache);
	px_outbox_open(&a->ob, n->state, legacy, n->o.id, 0);
	if (n->watcher) {
		/* Counted from here: what happened before is no news. */
		px_watcher_stats(n->watcher, &ws);
		a->events_lost = ws.events_lost;
		for (q = 0; q < PX_Q_COUNT; q++) {
			a->wq[q].acted = ws.quota.q[q].blocked +
					 ws.quota.q[q].would_block;
			a->wq[q].nrecent = ws.quota.q[q].nrecent;
			memcpy(a->wq[q].recent, ws.quota.q[q].recent,
			       sizeof(a->wq[q].recent));
		}
		if (n->o.ct_rcvbuf)
			px_watcher_set_rcvbuf(n->watcher,
					      (uint32_t)n->o.ct_rcvbuf);
	}
	n->alerting = a;
	px_log(PX_LOG_INFO, "alerts: window %" PRIu64 " ms, at most %u a "
	       "second, outbox in %s (boot %" PRIu64 ")",
	       n->o.alert_window_ms ? n->o.alert_window_ms : PX_ALERT_WINDOW_MS,
	       n->o.alert_rate ? (unsigned)n->o.alert_rate : PX_ALERT_RATE,
	       n->o.state_dir, px_outbox_boot(a->ob));
}

/* The limit a source has for quota id. */
static uint64_t limit_of(const px_policy_t *p, int id, const px_entry_t *src)
{
	return px_policy_tier_limit(p, px_policy_tier_of(p, src->family,
							 src->addr), id);
}

static void observe_source(px_node_t *n, px_limit_id_t quota,
			   const px_entry_t *src, const char *text,
			   uint64_t now)
{
	px_alert_obs_t o = { px_limit_defs[quota].name, src, 0,
			     limit_of(&n->applied, quota, src), true, text };

	px_alert_observe(n->alerting->eng, &o, now, &n->alerting->out);
}

static void observe_ksets(px_node_t *n, uint64_t now)
{
	px_alerting_t *a = n->alerting;
	size_t i, j, k;
	int f;

	for (i = 0; i < NKSETS; i++) {
		const struct kset *ks = &ksets[i];

		if (!px_alert_enabled(a->eng, px_limit_defs[ks->quota].name))
			continue;
		for (f = 0; f < 2; f++) {
			char name[64], text[PX_ALERT_TEXT_MAX];
			int rc;

			if (a->skip[i][f]) {
				a->skip[i][f]--;
				continue;
			}
			snprintf(name, sizeof(name), "%s%d", ks->name,
				 f ? 6 : 4);
			rc = px_nft_list_small(n->nft, name, a->list, LIST_MAX,
					       &k);
			if (rc < 0) {
				/* A table of an older layout lacks it. */
				if (!a->missing_logged[i][f])
					px_log(PX_LOG_WARN, "alerts: cannot read "
					       "kernel set %s: %s", name,
					       px_strerror(rc));
				a->missing_logged[i][f] = true;
				continue;
			}
			a->missing_logged[i][f] = false;
			if (k == LIST_MAX) {
				a->skip[i][f] = SLOW_TICKS - 1;
				px_log(PX_LOG_WARN, "alerts: kernel set %s holds "
				       "%d sources or more: reading it every "
				       "%d s", name, LIST_MAX, SLOW_TICKS);
			}
			if (ks->observe)
				snprintf(text, sizeof(text), "observe mode: "
					 "would have been refused (kernel set "
					 "%s)", name);
			else if (ks->quota == PX_LIM_TCP_CONCURRENT)
				snprintf(text, sizeof(text), "new TCP "
					 "connections refused: too many open "
					 "at once (kernel set %s)", name);
			else if (ks->quota == PX_LIM_TCP_HALF_OPEN)
				snprintf(text, sizeof(text), "new TCP "
					 "connections refused while over the "
					 "limit (kernel set %s)", name);
			else
				snprintf(text, sizeof(text), "%s refused for %"
					 PRIu64 " s (kernel set %s)",
					 ks->quota == PX_LIM_HTTP_REQUEST_RATE ?
					 "HTTP requests and new TCP connections" :
					 "new TCP connections",
					 n->applied.limits.value[PX_LIM_BLOCK_TIME],
					 name);
			/* IPv6 sources are keyed by their prefix, as the
			 * watcher keys them: one key for both. */
			for (j = 0; j < k; j++) {
				px_entry_t src;

				if (px_blocks_from_array(n, name, &a->list[j]))
					continue;
				px_quota_source_of(a->list[j].family,
						   a->list[j].addr, (unsigned)
						   n->applied.limits.value[PX_LIM_IPV6_PREFIX],
						   &src);
				observe_source(n, ks->quota, &src, text, now);
			}
		}
	}
}

static void observe_watcher(px_node_t *n, uint64_t now)
{
	px_alerting_t *a = n->alerting;
	px_watcher_stats_t ws;
	int q;

	if (!n->watcher)
		return;
	px_watcher_stats(n->watcher, &ws);
	for (q = 0; q < PX_Q_COUNT; q++) {
		const px_quota_count_t *c = &ws.quota.q[q];
		px_limit_id_t id = (px_limit_id_t)px_quota_limit_id(q);
		uint64_t acted = c->blocked + c->would_block;
		bool observe = n->applied.limits.mode[id] == PX_MODE_OBSERVE;
		size_t k, i;

		if (acted > a->wq[q].acted) {
			const char *text = id == PX_LIM_UDP_CONCURRENT ?
				(observe ? "observe mode: its oldest UDP "
				 "sessions would have been ended" :
				 "its oldest UDP sessions were ended") :
				(observe ? "observe mode: new TCP connections "
				 "would have been refused" : "new TCP "
				 "connections refused while over the limit");

			k = px_alert_recent_new(a->wq[q].recent,
						a->wq[q].nrecent, c->recent,
						c->nrecent);
			for (i = 0; i < k; i++)
				observe_source(n, id, &c->recent[i], text, now);
		}
		a->wq[q].acted = acted;
		a->wq[q].nrecent = c->nrecent;
		memcpy(a->wq[q].recent, c->recent, sizeof(a->wq[q].recent));
	}
	if (ws.events_lost > a->events_lost) {
		char text[PX_ALERT_TEXT_MAX];
		px_alert_obs_t o = { "events-lost", NULL, ws.events_lost, 0,
				     true, text };

		snprintf(text, sizeof(text), "conntrack events lost (ENOBUFS): "
			 "%" PRIu64 " overruns since start (+%" PRIu64 "), "
			 "receive buffer now %u KB; tables resync from a dump",
			 ws.events_lost, ws.events_lost - a->events_lost,
			 ws.rcvbuf >> 10);
		a->events_lost = ws.events_lost;
		px_alert_observe(a->eng, &o, now, &a->out);
	}
}

/* Intrusion detection's syn-attack (ids_syn.h): observed every second
 * the member is over the threshold, so the alert stays exceeded while
 * the surge lasts and recovers a window after. */
static void observe_syn_attack(px_node_t *n, uint64_t now)
{
	px_alerting_t *a = n->alerting;
	px_ids_syn_obs_t so;

	if (px_ids_syn_tick(n, &a->syn, now, &so)) {
		px_alert_obs_t o = { px_ids_defs[PX_IDS_SYN_ATTACK].name, NULL,
				     so.count, so.threshold, true, so.text };

		px_alert_observe(a->eng, &o, now, &a->out);
	}
}

static void observe_store(px_node_t *n, uint64_t now)
{
	px_alerting_t *a = n->alerting;
	char text[PX_ALERT_TEXT_MAX];
	px_alert_obs_t o = { "store-lost", NULL, 0, 0, n->store_lost, text };

	if (!n->store_lost && !a->store_lost)
		return;
	if (n->store_lost)
		snprintf(text, sizeof(text), "store %.120s silent: enforcing "
			 "version %" PRIu64 " until it is back", n->o.store,
			 n->applied.version);
	else
		snprintf(text, sizeof(text), "store %.120s is back",
			 n->o.store);
	a->store_lost = n->store_lost;
	px_alert_observe(a->eng, &o, now, &a->out);
}

static void observe_outbox(px_node_t *n, uint64_t now)
{
	px_alerting_t *a = n->alerting;
	uint64_t d = px_outbox_dropped(a->ob) - a->dropped_reported;
	char text[PX_ALERT_TEXT_MAX];
	size_t before = a->out.n;

	if (!d || px_outbox_len(a->ob) >= PX_OUTBOX_MAX)
		return;
	snprintf(text, sizeof(text), "%" PRIu64 " alerts dropped: the outbox "
		 "was full (%d alerts) while the store was away", d,
		 PX_OUTBOX_MAX);
	px_alert_info(a->eng, "alerts-dropped", NULL, d, PX_OUTBOX_MAX, text,
		      now, &a->out);
	if (a->out.n > before)
		a->dropped_reported += d;
}

static void queue(px_node_t *n)
{
	px_alerting_t *a = n->alerting;
	uint64_t wall = px_now_ms();
	size_t i;

	for (i = 0; i < a->out.n; i++) {
		px_alert_t *al = &a->out.v[i];
		char id[128], src[PX_ENTRY_STR_MAX] = "";

		al->time_ms = wall;
		if (px_outbox_add(a->ob, al, id, sizeof(id)) < 0)
			continue;
		if (al->has_source)
			px_entry_format(&al->source, src, sizeof(src));
		px_log(PX_LOG_INFO, "alert %s %s %s%s%s count %" PRIu64
		       " limit %" PRIu64 " suppressed %" PRIu64 ": %s", id,
		       al->type, px_alert_state_name(al->state),
		       src[0] ? " " : "", src, al->count, al->limit,
		       al->suppressed, al->text);
	}
	px_alerts_clear(&a->out);
}

static void send_due(px_node_t *n, uint64_t now)
{
	px_alerting_t *a = n->alerting;
	Phalanx__Alert *v[BATCH_MAX];
	int b;

	for (b = 0; b < BATCHES_PER_TICK; b++) {
		Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
		Phalanx__AlertBatch batch = PHALANX__ALERT_BATCH__INIT;
		size_t k = px_outbox_due(a->ob, now, RESEND_MS, v, BATCH_MAX);
		int rc;

		if (!k)
			return;
		batch.alerts = v;
		batch.n_alerts = k;
		env.body_case = PHALANX__ENVELOPE__BODY_ALERT_BATCH;
		env.alert_batch = &batch;
		rc = px_sync_send(n, &env);
		/* -EAGAIN: no store connected (ZMQ_IMMEDIATE); they stay
		 * queued and go again next second. */
		if (rc < 0) {
			if (rc != -EAGAIN)
				px_log(PX_LOG_WARN, "alerts to the store: %s",
				       px_strerror(rc));
			return;
		}
	}
}

void px_alerting_observe(px_node_t *n, const char *type,
			 const px_entry_t *source, uint64_t count,
			 uint64_t limit, bool exceeding, const char *text)
{
	px_alert_obs_t o = { type, source, count, limit, exceeding, text };

	if (n->alerting)
		px_alert_observe(n->alerting->eng, &o, px_mono_ms(),
				 &n->alerting->out);
}

void px_alerting_tick(px_node_t *n)
{
	px_alerting_t *a = n->alerting;
	uint64_t now = px_mono_ms();
	px_alert_stats_t st;

	if (!a)
		return;
	/* While applying, n->nft is the apply worker's; under a kept table
	 * or the guard (main.c) the sets are not the policy's. */
	if (!px_node_applying(n) && !n->kernel_unknown)
		observe_ksets(n, now);
	observe_watcher(n, now);
	observe_syn_attack(n, now);
	observe_store(n, now);
	observe_outbox(n, now);
	px_alert_tick(a->eng, now, &a->out);
	queue(n);
	px_alert_stats(a->eng, &st);
	if (st.untracked > a->untracked_seen &&
	    px_every(&a->untracked_log, now, PX_ALERT_WINDOW_MS, 1, NULL)) {
		px_log(PX_LOG_WARN, "alerts: table full (%" PRIu64 " keys "
		       "exceeding): %" PRIu64 " excesses of new sources not "
		       "alerted", st.keys, st.untracked - a->untracked_seen);
		a->untracked_seen = st.untracked;
	}
	/* An apply's state transaction may take seconds (a 2M-entry
	 * snapshot): the loop does not wait for it; the alerts go out
	 * meanwhile and are written after. */
	if (!px_node_applying(n))
		px_outbox_flush(a->ob);
	send_due(n, now);
}

void px_alerting_ack(px_node_t *n, const Phalanx__AlertAck *ack)
{
	px_alerting_t *a = n->alerting;

	if (!a)
		return;
	if (px_outbox_ack(a->ob, ack->ids, ack->n_ids))
		px_log(PX_LOG_DEBUG, "alerts: store acknowledged %zu, %zu "
		       "waiting", ack->n_ids, px_outbox_len(a->ob));
}

void px_alerting_store_heartbeat(px_node_t *n,
				 const Phalanx__StoreHeartbeat *hb)
{
	px_alerting_t *a = n->alerting;
	const char *const *types;
	char names[512] = "";
	uint64_t mask = 0;
	size_t nt, i, j, o = 0;

	if (!a)
		return;
	types = px_alert_types(&nt);
	for (i = 0; i < nt && i < 64; i++)
		for (j = 0; j < hb->n_alerts_disabled; j++)
			if (strcmp(types[i], hb->alerts_disabled[j]) == 0)
				mask |= 1ull << i;
	if (mask == a->disabled)
		return;
	for (i = 0; i < nt && i < 64; i++) {
		bool off = mask & (1ull << i);

		px_alert_set_enabled(a->eng, types[i], !off);
		if (off && o < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o,
					      "%s%s", o ? ", " : "", types[i]);
	}
	a->disabled = mask;
	px_log(PX_LOG_INFO, "alerts: types disabled by the store: %s",
	       o ? names : "none");
}

void px_alerting_stop(px_node_t *n)
{
	px_alerting_t *a = n->alerting;

	if (!a)
		return;
	px_outbox_flush(a->ob);
	px_outbox_close(a->ob);
	px_alert_free(a->eng);
	px_alerts_free(&a->out);
	free(a->list);
	free(a);
	n->alerting = NULL;
}
