/* sync.c - members: heartbeats in, snapshots out, the change stream. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "alerts.h"
#include "auth.h"
#include "codec.h"
#include "logring.h"
#include "px.h"
#include "ratelog.h"
#include "replicate.h"
#include "store.h"

/* A snapshot whose peer takes no chunk for this long loses its slot:
 * a member that is alive asks again after 5 s (node/sync.c
 * SNAPSHOT_RETRY_MS) and its request replaces the stalled one, so only
 * a peer that never reads holds a slot this long. */
#define SNAPSHOT_STALL_MS 30000
/* With every slot taken, a snapshot without a chunk taken for this long
 * gives its slot to a new request: a member that reads takes a chunk
 * every few ms. */
#define SNAPSHOT_EVICT_MS 2000
/* After the peer's queue was full, wait this long before trying again,
 * doubling up to BACKOFF_MAX_MS: each try walks the policy up to the
 * next chunk and builds that one, so a peer that does not read costs
 * little. */
#define BACKOFF_MIN_MS 5
#define BACKOFF_MAX_MS 500

void px_store_sync_sockopts(void *s)
{
	/* Members send small messages (PX_SYNC_MSG_MAX) and take snapshots
	 * a few chunks at a time: with SNDHWM 4, a peer that never reads
	 * holds at most 4 chunks queued (~650 KB at PX_CHUNK_ENTRIES
	 * entries of at most 20 B), and ROUTER_MANDATORY makes a full queue an error
	 * (EAGAIN) instead of a silent drop, so that the rest of a snapshot
	 * is streamed as the peer reads. */
	int hwm = 4, one = 1;
	int64_t max = PX_SYNC_MSG_MAX;

	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof(max));
	zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
}

/* After the store's own loop stood still (px_store_heartbeat() came this
 * much later than its 1 s), members get this long to be heard again:
 * their heartbeats may still be in the kernel's buffers. */
#define STORE_STALL_MS 1500
#define RESUME_GRACE_MS 1500
/* A new Raft leader judges no member down before --member-timeout and
 * this much more: members find it within a few seconds (their store
 * timeout, then two heartbeats naming it, node/sync.c). */
#define LEAD_GRACE_MS 5000

/* The time up to which the store has read every heartbeat that reached
 * it.  While its loop was busy (a large import holds it for seconds),
 * heartbeats wait unread in the sync socket: a member is not down for
 * the store's own silence. */
static uint64_t heard_until(const px_store_t *st, uint64_t now)
{
	uint64_t t = now;
	int events = 0;
	size_t sz = sizeof(events);

	if (st->sync &&
	    (zmq_getsockopt(st->sync, ZMQ_EVENTS, &events, &sz) < 0 ||
	     (events & ZMQ_POLLIN)) && st->sync_read_ms)
		t = st->sync_read_ms < t ? st->sync_read_ms : t;
	if (st->resumed_ms && now - st->resumed_ms < RESUME_GRACE_MS &&
	    st->stalled_from_ms < t)
		t = st->stalled_from_ms;
	return t;
}

bool px_member_up(const px_store_t *st, const px_member_t *m, uint64_t now)
{
	return m->last_hb_ms + st->member_timeout_ms >= heard_until(st, now);
}

/* Deliberately out of service: `--wait` neither waits for it nor counts
 * it as down.  Nothing sets it yet: a drained member (a later issue)
 * will answer true here. */
bool px_member_out_of_service(const px_store_t *st, const px_member_t *m)
{
	(void)st;
	(void)m;
	return false;
}

static bool rid_eq(const px_rid_t *a, const px_rid_t *b)
{
	return a->len == b->len && memcmp(a->id, b->id, a->len) == 0;
}

static px_member_t *member_find(const px_store_t *st, const char *id)
{
	size_t i;

	for (i = 0; i < st->nmembers; i++)
		if (strcmp(st->members[i].id, id) == 0)
			return &st->members[i];
	return NULL;
}

static px_member_t *member_get(px_store_t *st, const char *id)
{
	px_member_t *m = member_find(st, id);

	if (m)
		return m;
	if (st->nmembers >= PX_MEMBERS_MAX)
		return NULL;
	st->members = xrealloc(st->members,
			       (st->nmembers + 1) * sizeof(*st->members));
	memset(&st->members[st->nmembers], 0, sizeof(*st->members));
	strcpy(st->members[st->nmembers].id, id);
	return &st->members[st->nmembers++];
}

px_member_t *px_store_member_get(px_store_t *st, const char *id)
{
	return member_get(st, id);
}

static void member_known(const char *id, uint64_t applied, bool drained,
			 void *arg)
{
	px_store_t *st = arg;
	px_member_t *m;

	if (!px_member_id_valid(id))
		return;
	m = member_get(st, id);
	if (!m)
		return;
	m->applied = applied;
	m->drained = drained; /* members.c keeps it across restarts */
	if (drained)
		px_log(PX_LOG_INFO, "member %s: drained (kept from before "
		       "the restart)", m->id);
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

/* Whether the peer rid may speak as member id: 0, or PX_EIDCLAIMED
 * while another connection holds the id (it heartbeats within the
 * member timeout): the connection that holds an id keeps it while it
 * lives.  With take (a snapshot request: a member process asks for one
 * first when it starts), a new connection with the member's own key
 * takes the id over at once: that is the member restarted, whose old
 * connection the store would otherwise count up until the member
 * timeout, refusing the new one's snapshot and holding its changes
 * meanwhile.  (A second process with the same key takes it over the
 * same way when it starts; the first one's messages are then refused,
 * in the log.) */
static int claim_check(px_store_t *st, const px_rid_t *rid, const char *id,
		       uint64_t now, const char *what, bool take)
{
	px_member_t *m = member_find(st, id);
	const px_ident_t *key = px_auth_find(st->auth, rid->user);

	/* A member's key speaks for its own id only. */
	if (!key || key->role != PX_ROLE_MEMBER || strcmp(key->name, id) != 0) {
		px_refused(rid->peer, "%s as member %s from the key of %s: %s",
			   what, id, key ? key->name : "nobody",
			   px_strerror(PX_EPERM));
		return PX_EPERM;
	}
	if (!m || !m->rid.len || rid_eq(&m->rid, rid) ||
	    !px_member_up(st, m, now))
		return 0;
	if (take) {
		px_log(PX_LOG_INFO, "member %s: %s from peer %s with its key "
		       "while peer %s holds the id (heard %llu ms ago): the "
		       "member restarted, now on peer %s", m->id, what,
		       rid->peer, m->rid.peer,
		       (unsigned long long)(now - m->last_hb_ms), rid->peer);
		m->rid = *rid;
		return 0;
	}
	px_refused(rid->peer, "%s as member %s: %s (peer %s)", what, m->id,
		   px_strerror(PX_EIDCLAIMED), m->rid.peer);
	return PX_EIDCLAIMED;
}

/* What a held WAIT waits for changed: member m's applied version or
 * liveness (what: "heartbeat", "ack"). */
static void waits_wake(px_store_t *st, const px_member_t *m, const char *what)
{
	char why[PX_MEMBER_ID_MAX + 16];

	snprintf(why, sizeof(why), "%s's %s", m->id, what);
	px_store_waiters_wake(st, PX_WAIT_APPLIED, why);
}

static void heartbeat_in(px_store_t *st, const px_rid_t *rid,
			 const Phalanx__Heartbeat *hb)
{
	char *p;
	uint64_t now = px_now_ms();
	px_member_t *m;
	bool was_up;
	uint64_t before;

	if (!px_member_id_valid(hb->member)) {
		px_refused(rid->peer, "a heartbeat with an invalid member id");
		return;
	}
	if (claim_check(st, rid, hb->member, now, "a heartbeat", false) < 0)
		return;
	m = member_get(st, hb->member);
	if (!m) {
		px_refused(rid->peer, "a heartbeat: already %d members",
			   PX_MEMBERS_MAX);
		return;
	}
	if (!rid_eq(&m->rid, rid)) {
		if (m->rid.len)
			px_log(PX_LOG_INFO, "member %s: now on peer %s (was %s, "
			       "silent for %llu ms)", m->id, rid->peer,
			       m->rid.peer, (unsigned long long)(now - m->last_hb_ms));
		m->rid = *rid;
	}
	if (!m->last_hb_ms) {
		int rc = px_db_member_put(st->db, m->id, hb->applied_version);

		px_log(PX_LOG_INFO, "member %s: first heartbeat%s%s", m->id,
		       rc < 0 ? "; not remembered: " : "",
		       rc < 0 ? px_db_strerror(rc) : "");
	}
	was_up = m->last_hb_ms && px_member_up(st, m, now);
	before = m->applied;
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
	if (hb->applying_version != m->applying)
		px_log(PX_LOG_INFO, hb->applying_version ?
		       "member %s: applying version %llu" :
		       "member %s: apply finished, at version %llu", m->id,
		       (unsigned long long)(hb->applying_version ?
					    hb->applying_version :
					    hb->applied_version));
	m->applying = hb->applying_version;
	m->failed_version = hb->failed_version;
	m->last_hb_ms = now;
	/* Only a heartbeat that moves what a WAIT looks at wakes it (the
	 * applied version, the member being up): one that says "applying"
	 * read in the same pass as the ack must not take the ack's place. */
	if (m->applied != before || !was_up)
		waits_wake(st, m, "heartbeat");
	m->health = hb->health > 2 ? 2 : (int)hb->health;
	px_store_member_role(m, hb);
	m->store_lost = hb->store_lost;
	if (m->down_alert != PX_MEMBER_ALERT_UP) {
		char text[160];

		snprintf(text, sizeof(text), "member %s: heard again, applied "
			 "version %llu", m->id,
			 (unsigned long long)hb->applied_version);
		if (px_store_alerts_member_down(st, m->id, false, text) == 0)
			m->down_alert = PX_MEMBER_ALERT_UP;
	}
}

/* A member applied a version (node/sync.c, as soon as it is in its
 * kernel and cache): counted at once, so that a WAIT is answered now
 * rather than at the member's next heartbeat.  Only from the connection
 * the member's heartbeats bound to its id: an ack says nothing of
 * liveness, so it cannot claim an id. */
static void ack_in(px_store_t *st, const px_rid_t *rid, const Phalanx__Ack *a)
{
	px_member_t *m;

	if (!px_member_id_valid(a->member)) {
		px_refused(rid->peer, "an ack with an invalid member id");
		return;
	}
	if (claim_check(st, rid, a->member, px_now_ms(), "an ack", false) < 0)
		return;
	m = member_find(st, a->member);
	if (!m || !rid_eq(&m->rid, rid)) {
		px_refused(rid->peer, "an ack as member %s before its heartbeat "
			   "on this connection", a->member);
		return;
	}
	px_log(PX_LOG_DEBUG, "member %s: ack of version %llu (was at %llu)",
	       m->id, (unsigned long long)a->applied_version,
	       (unsigned long long)m->applied);
	m->applied = a->applied_version;
	if (m->applying && m->applying <= a->applied_version)
		m->applying = 0;
	waits_wake(st, m, "ack");
}

typedef struct {
	px_store_t *st;
	px_snapflight_t *f;
	uint64_t now;
	int sent, err;
	bool done;
} pump_arg_t;

static const char *flight_name(const px_snapflight_t *f)
{
	return f->member[0] ? f->member : "?";
}

/* Chunks before f->next were queued by an earlier pump: skipped. */
static int pump_chunk(Phalanx__SnapshotChunk *c, void *arg)
{
	pump_arg_t *a = arg;
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	int rc;

	if (c->seq < a->f->next)
		return 0;
	px_store_stamp(a->st, &env);
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	rc = px_wire_send(a->st->sync, &a->f->rid, &env);
	if (rc < 0) {
		a->err = rc;
		return rc;
	}
	a->f->next++;
	a->f->progress_ms = a->now;
	a->sent++;
	if (c->last)
		a->done = true;
	return 0;
}

static void flight_end(px_snapflight_t *f)
{
	memset(f, 0, sizeof(*f));
}

/* Queue what the peer's queue takes of one snapshot. */
static void pump_one(px_store_t *st, px_snapflight_t *f, uint64_t now)
{
	pump_arg_t a = { st, f, now, 0, 0, false };

	if (now < f->retry_ms)
		return;
	if (f->version != st->policy.version) {
		/* Chunks of two versions must not mix: start over. */
		px_log(PX_LOG_DEBUG, "snapshot for %s: version %llu is "
		       "replaced by %llu, starting over", flight_name(f),
		       (unsigned long long)f->version,
		       (unsigned long long)st->policy.version);
		f->version = st->policy.version;
		f->next = 0;
	}
	px_policy_settle(&st->policy); /* the index's overlay (ops.c) */
	px_policy_chunks_from(&st->policy, PX_CHUNK_ENTRIES, f->next,
			      pump_chunk, &a);
	if (a.done) {
		px_log(PX_LOG_INFO, "snapshot of version %llu for %s (peer %s): "
		       "%u chunks", (unsigned long long)f->version,
		       flight_name(f), f->rid.peer, f->next);
		flight_end(f);
		return;
	}
	if (a.err == -EAGAIN) {
		/* The peer's queue is full (SNDHWM): it reads slowly or not
		 * at all. */
		f->backoff_ms = a.sent ? BACKOFF_MIN_MS :
			f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
			f->backoff_ms * 2 < BACKOFF_MIN_MS ? BACKOFF_MIN_MS :
			f->backoff_ms * 2;
		f->retry_ms = now + f->backoff_ms;
		if (now - f->progress_ms > SNAPSHOT_STALL_MS) {
			px_log(PX_LOG_WARN, "snapshot of version %llu for %s "
			       "(peer %s): no chunk taken for %d s, dropped "
			       "after %u chunks", (unsigned long long)f->version,
			       flight_name(f), f->rid.peer,
			       SNAPSHOT_STALL_MS / 1000, f->next);
			flight_end(f);
		}
		return;
	}
	px_log(a.err == -EHOSTUNREACH ? PX_LOG_INFO : PX_LOG_WARN,
	       "snapshot of version %llu for %s (peer %s): dropped after %u "
	       "chunks: %s", (unsigned long long)f->version, flight_name(f),
	       f->rid.peer, f->next, a.err == -EHOSTUNREACH ?
	       "the peer is gone" : px_strerror(a.err));
	flight_end(f);
}

bool px_store_snapshots_pump(px_store_t *st)
{
	uint64_t now = px_mono_ms();
	bool any = false;
	size_t i;

	for (i = 0; i < PX_SNAPSHOTS_MAX; i++)
		if (st->snaps[i].used)
			pump_one(st, &st->snaps[i], now);
	for (i = 0; i < PX_SNAPSHOTS_MAX; i++)
		any |= st->snaps[i].used;
	return any;
}

/* With every slot taken, the snapshot that has gone longest without a
 * chunk taken, if that is longer than SNAPSHOT_EVICT_MS: peers that do
 * not read cannot keep members that do from their snapshots. */
static px_snapflight_t *stalled_flight(px_store_t *st, uint64_t now)
{
	px_snapflight_t *v = NULL;
	size_t i;

	for (i = 0; i < PX_SNAPSHOTS_MAX; i++) {
		px_snapflight_t *g = &st->snaps[i];

		if (g->used && now - g->progress_ms > SNAPSHOT_EVICT_MS &&
		    (!v || g->progress_ms < v->progress_ms))
			v = g;
	}
	return v;
}

/* One snapshot in flight per peer and per member: a new request
 * replaces the one in flight (the member starts over at chunk 0 when it
 * asks again), and at most PX_SNAPSHOTS_MAX peers are served at once. */
static void snapshot_request(px_store_t *st, const px_rid_t *rid,
			     const Phalanx__SnapshotRequest *req)
{
	const char *member = px_member_id_valid(req->member) ? req->member : "";
	px_snapflight_t *f = NULL, *spare = NULL;
	uint64_t now = px_mono_ms(), progress = now;
	size_t i;

	if (member[0] && claim_check(st, rid, member, px_now_ms(),
				      "a snapshot request", true) < 0)
		return;
	for (i = 0; i < PX_SNAPSHOTS_MAX && !f; i++) {
		px_snapflight_t *g = &st->snaps[i];

		if (!g->used) {
			if (!spare)
				spare = g;
		} else if (rid_eq(&g->rid, rid) ||
			   (member[0] && strcmp(g->member, member) == 0)) {
			f = g;
		}
	}
	if (f) {
		px_log(PX_LOG_DEBUG, "snapshot for %s (peer %s): a new request "
		       "replaces the one in flight at chunk %u",
		       member[0] ? member : "?", rid->peer, f->next);
		/* Asking again does not make a stalled peer look busy. */
		progress = f->progress_ms;
	} else if (!spare && (f = stalled_flight(st, now)) != NULL) {
		px_peer_warn(f->rid.peer, "snapshot for %s: no chunk taken for "
			     "%d s or more, its slot goes to another peer",
			     flight_name(f), SNAPSHOT_EVICT_MS / 1000);
	} else if (!(f = spare)) {
		px_refused(rid->peer, "a snapshot request: %d snapshots in "
			   "flight already, the most at once (a member asks "
			   "again)", PX_SNAPSHOTS_MAX);
		return;
	}
	memset(f, 0, sizeof(*f));
	f->used = true;
	f->rid = *rid;
	snprintf(f->member, sizeof(f->member), "%s", member);
	f->version = st->policy.version;
	f->progress_ms = progress;
	pump_one(st, f, now);
}

bool px_store_member_heard(const px_store_t *st, const char *id)
{
	const px_member_t *m = px_member_id_valid(id) ? member_find(st, id) :
			       NULL;

	return m && px_member_up(st, m, px_now_ms());
}

int px_store_member_removable(px_store_t *st, const char *id, char *err,
			      size_t errlen)
{
	uint64_t now = px_now_ms();
	px_member_t *m;

	m = px_member_id_valid(id) ? member_find(st, id) : NULL;
	if (!m) {
		snprintf(err, errlen, "no member named %.*s", PX_MEMBER_ID_MAX,
			 px_member_id_valid(id) ? id : "(an invalid id)");
		return PX_ENOMEMBER;
	}
	if (px_member_up(st, m, now)) {
		snprintf(err, errlen, "member %s is up (heartbeat %llu ms ago): "
			 "stop it first, or it comes back with its next "
			 "heartbeat", m->id,
			 (unsigned long long)(now - m->last_hb_ms));
		return PX_EBUSY;
	}
	return 0;
}

int px_store_members_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
			 char *err, size_t errlen)
{
	const char *id = req->member;
	uint64_t now = px_now_ms();
	px_member_t *m;
	size_t i;
	int rc;

	/* Under Raft the leader checked (px_store_member_removable) before
	 * proposing; every store then forgets what it knows of the member
	 * (a member heartbeats to one store: the others may not know it). */
	if (st->raft) {
		m = px_member_id_valid(id) ? member_find(st, id) : NULL;
		if (!m) {
			if (px_member_id_valid(id))
				px_db_member_del(st->db, id);
			return 0;
		}
	} else if ((rc = px_store_member_removable(st, id, err, errlen)) < 0) {
		return rc;
	} else {
		m = member_find(st, id);
	}
	rc = px_db_member_del(st->db, id);
	if (rc < 0 && rc != PX_ENOMEMBER) {
		snprintf(err, errlen, "member %s: not removed: %s", m->id,
			 px_db_strerror(rc));
		return rc;
	}
	for (i = 0; i < PX_SNAPSHOTS_MAX; i++)
		if (st->snaps[i].used && strcmp(st->snaps[i].member, id) == 0)
			flight_end(&st->snaps[i]);
	px_log(PX_LOG_INFO, "member %s: removed (applied version %llu, last "
	       "heartbeat %llu ms ago)", m->id, (unsigned long long)m->applied,
	       (unsigned long long)(now - m->last_hb_ms));
	i = (size_t)(m - st->members);
	memmove(m, m + 1, (st->nmembers - i - 1) * sizeof(*m));
	st->nmembers--;
	return 0;
}

/* Every alert of a batch must come from a member the peer may speak
 * for. */
static bool alerts_claim_ok(px_store_t *st, const px_rid_t *rid,
			    const Phalanx__AlertBatch *b)
{
	uint64_t now = px_now_ms();
	size_t i;

	for (i = 0; i < b->n_alerts; i++)
		if (px_member_id_valid(b->alerts[i]->member) &&
		    claim_check(st, rid, b->alerts[i]->member, now,
				"an alert", false) < 0)
			return false;
	return true;
}

void px_store_sync(px_store_t *st)
{
	Phalanx__Envelope *env;
	px_rid_t rid;

	if (px_wire_recv(st->sync, ZMQ_DONTWAIT, &rid, &env) < 0)
		return;
	px_store_sync_in(st, &rid, env);
	/* Read to the end: heartbeats up to now are all in (heard_until). */
	{
		int events = 0;
		size_t sz = sizeof(events);

		if (zmq_getsockopt(st->sync, ZMQ_EVENTS, &events, &sz) == 0 &&
		    !(events & ZMQ_POLLIN))
			st->sync_read_ms = px_now_ms();
	}
}

void px_store_sync_in(px_store_t *st, const px_rid_t *peer,
		      Phalanx__Envelope *env)
{
	px_rid_t rid = *peer;

	const px_ident_t *key;

	/* ZAP admitted the key at the handshake; one revoked since is
	 * refused from its next message on. */
	key = px_auth_find(st->auth, rid.user);
	if (!key || key->role != PX_ROLE_MEMBER) {
		px_refused(rid.peer, "sync socket: a message from a key that is "
			   "not an enrolled member's (revoked?)");
		px_wire_free(env);
		return;
	}
	switch (env->body_case) {
	case PHALANX__ENVELOPE__BODY_HEARTBEAT:
		heartbeat_in(st, &rid, env->heartbeat);
		break;
	case PHALANX__ENVELOPE__BODY_ACK:
		ack_in(st, &rid, env->ack);
		break;
	case PHALANX__ENVELOPE__BODY_SNAPSHOT_REQUEST:
		snapshot_request(st, &rid, env->snapshot_request);
		break;
	case PHALANX__ENVELOPE__BODY_ALERT_BATCH:
		if (alerts_claim_ok(st, &rid, env->alert_batch))
			px_store_alerts_in(st, &rid, env->alert_batch);
		break;
	case PHALANX__ENVELOPE__BODY_LOG_BATCH:
		if (!px_member_id_valid(env->log_batch->member) ||
		    claim_check(st, &rid, env->log_batch->member,
				px_now_ms(), "a log batch", false) == 0)
			px_store_log_in(st, env->log_batch);
		break;
	case PHALANX__ENVELOPE__BODY_BLOCK_REPORT:
		px_store_blocks_in(st, env->block_report);
		break;
	default:
		px_refused(rid.peer, "sync socket: a message of type %d",
			   env->body_case);
	}
	px_wire_free(env);
}

/* The store heartbeat itself: version, leader, canary, disabled alert
 * types, drained members.  Nothing else is done here. */
static void publish_heartbeat(px_store_t *st, uint64_t now)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__StoreHeartbeat hb = PHALANX__STORE_HEARTBEAT__INIT;
	char **drained = NULL, canary[PX_MEMBER_ID_MAX + 1];

	st->heartbeat_soon = false;
	hb.version = st->policy.version;
	px_store_canary_heartbeat(st, &hb, canary, sizeof(canary));
	hb.time_ms = now;
	if (px_store_replicate_leader_endpoint(st))
		hb.leader_endpoint =
			(char *)px_store_replicate_leader_endpoint(st);
	px_store_stamp(st, &env);
	env.body_case = PHALANX__ENVELOPE__BODY_STORE_HEARTBEAT;
	env.store_heartbeat = &hb;
	px_store_alerts_heartbeat(st, &hb);
	px_store_member_drained(st, &hb, &drained);
	px_wire_send(st->pub, NULL, &env);
	free(drained);
}

void px_store_heartbeat_soon(px_store_t *st)
{
	st->heartbeat_soon = true;
}

void px_store_heartbeat_flush(px_store_t *st)
{
	if (st->heartbeat_soon)
		publish_heartbeat(st, px_now_ms());
}

void px_store_heartbeat(px_store_t *st)
{
	uint64_t now = px_now_ms();
	bool judges;
	size_t i;

	if (st->tick_ms && now - st->tick_ms > STORE_STALL_MS) {
		px_log(PX_LOG_WARN, "store loop stood still for %llu ms: members "
		       "get %d ms to be heard before any is marked down",
		       (unsigned long long)(now - st->tick_ms), RESUME_GRACE_MS);
		st->stalled_from_ms = st->tick_ms;
		st->resumed_ms = now;
	}
	st->tick_ms = now;
	/* With Raft the leader alone raises member-down, and only once its
	 * members had the time to follow it. */
	judges = px_store_replicate_judges(st, px_mono_ms(),
					   st->member_timeout_ms + LEAD_GRACE_MS);
	publish_heartbeat(st, now);
	px_refused_flush();
	px_store_blocks_tick(st);
	/* A member may have gone down: a WAIT no longer waits for it. */
	px_store_waiters_wake(st, PX_WAIT_APPLIED, "the store's tick");
	for (i = 0; i < st->nmembers; i++) {
		px_member_t *m = &st->members[i];

		/* Log the transition to down once: last_hb_ms is in the
		 * window (timeout, timeout + 1 s] exactly one tick. */
		if (!px_member_up(st, m, now) &&
		    now - m->last_hb_ms <= st->member_timeout_ms + 1000)
			px_log(PX_LOG_WARN, "member %s: no heartbeat for %llu ms, "
			       "marked down (applied version %llu)", m->id,
			       (unsigned long long)(now - m->last_hb_ms),
			       (unsigned long long)m->applied);
		/* The central alert: once per transition (down_alert),
		 * tried again next tick if the database refused it. */
		if (judges && !px_member_up(st, m, now) &&
		    m->down_alert != PX_MEMBER_ALERT_DOWN) {
			char text[200];

			snprintf(text, sizeof(text), "member %s: no heartbeat "
				 "for %llu ms (timeout %llu ms), marked down "
				 "(applied version %llu)", m->id,
				 (unsigned long long)(now - m->last_hb_ms),
				 (unsigned long long)st->member_timeout_ms,
				 (unsigned long long)m->applied);
			if (px_store_alerts_member_down(st, m->id, true,
							text) == 0)
				m->down_alert = PX_MEMBER_ALERT_DOWN;
		}
	}
}

static void publish_part(px_store_t *st, Phalanx__Change *c)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	int rc;

	px_store_stamp(st, &env);
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
	char canary[PX_MEMBER_ID_MAX + 1];
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
	/* --canary: every part names its member (node/canary.c) */
	if (px_store_canary_member(st, version, canary, sizeof(canary)) > 0)
		c.canary = canary;
	c.limits = limits;
	c.n_limits = nlimits;
	if (lists) {
		c.rules_set = c.services_set = true;
		c.rules = lists->rules;
		c.n_rules = lists->nrules;
		c.services = lists->services;
		c.n_services = lists->nservices;
		c.protection = lists->protection;
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
			/* An op without entries (a set created empty)
			 * may have v NULL: no offset from it. */
			px_wire_pack_entries(take ? ops[i].v + off : ops[i].v,
					     take, &bins[k], &bufs[k]);
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
		c.protection = NULL;
		part++;
	}
	free(sops);
	free(sptr);
	free(bins);
	free(bufs);
}

void px_store_member_cut(px_store_t *st, const char *id, const char *key)
{
	px_member_t *m = member_find(st, id);
	size_t i;

	if (m)
		m->rid.len = 0;
	for (i = 0; i < PX_SNAPSHOTS_MAX; i++)
		if (st->snaps[i].used &&
		    (strcmp(st->snaps[i].member, id) == 0 ||
		     strcmp(st->snaps[i].rid.user, key) == 0))
			flight_end(&st->snaps[i]);
	/* A PUB socket cannot drop one subscriber: unbinding closes every
	 * connection it accepted.  The others reconnect within their
	 * reconnect interval (200 ms) and resnapshot if they missed a
	 * change (their sequence check); the revoked key is refused by ZAP
	 * at its next handshake. */
	if (zmq_unbind(st->pub, st->pub_ep) < 0)
		px_log(PX_LOG_ERR, "revoking %s: cannot unbind %s: %s", id,
		       st->pub_ep, zmq_strerror(errno));
	/* The unbind completes in ZeroMQ's I/O thread: the port is free
	 * a moment later.  Up to 50 tries 2 ms apart (100 ms of this loop,
	 * for a rare admin request), then once a second from the loop. */
	for (i = 0; i < 50; i++) {
		st->pub_unbound = zmq_bind(st->pub, st->pub_ep) < 0;
		if (!st->pub_unbound || errno != EADDRINUSE)
			break;
		usleep(2000);
	}
	if (st->pub_unbound)
		px_log(PX_LOG_ERR, "revoking %s: cannot listen on %s again: %s; "
		       "trying again every second, members get no changes "
		       "meanwhile", id, st->pub_ep, zmq_strerror(errno));
}

void px_store_pub_rebind(px_store_t *st)
{
	if (!st->pub_unbound || zmq_bind(st->pub, st->pub_ep) < 0)
		return;
	st->pub_unbound = false;
	px_log(PX_LOG_INFO, "listening on %s again", st->pub_ep);
}
