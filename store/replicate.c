/* replicate.c - the store's writes through Raft: the leader checks and
 * proposes, every store applies the committed entry through store/ops.c,
 * the leader answers once it is applied here (see replicate.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alerts.h"
#include "auth.h"
#include "fsm.h"
#include "px.h"
#include "raft.h"
#include "ratelog.h"
#include "replicate.h"
#include "store.h"

/* Outcomes of the entries applied last, for the leader's replies: the
 * proposal's callback runs in the same loop turn as the apply (C-Raft
 * calls it right after the FSM), so a few suffice; 64 covers a burst
 * of entries committed together. */
#define RESULTS 64
#define EP_MAX 300

typedef struct pending {
	struct pending *prev, *next;
	px_store_t *st;
	px_rid_t rid;
	bool protect;               /* answer with the protection settings */
	char request_id[PX_FSM_REQID_MAX + 1];
	uint64_t t0;                /* px_mono_ms() when proposed */
	/* A member's alert batch: its packed entry, acknowledged to rid
	 * (the sync socket) once applied; NULL for a ctl write. */
	uint8_t *alerts;
	size_t alerts_len;
	/* The leader's member-down entry: its member, whose alert state is
	 * looked at again if the entry does not commit. */
	char member[PX_MEMBER_ID_MAX + 1];
} pending_t;

struct px_repl {
	px_raft_peer_t peers[PX_RAFT_SERVERS_MAX];
	char endpoints[PX_RAFT_SERVERS_MAX][EP_MAX];
	char *names_v[PX_RAFT_SERVERS_MAX], *eps_v[PX_RAFT_SERVERS_MAX];
	size_t npeers;
	struct {
		uint64_t index;
		px_fsm_result_t res;
	} results[RESULTS];
	pending_t *pending;
	size_t npending;
	struct {                  /* STORE_TRANSFER: the client waiting */
		bool busy;
		px_rid_t rid;
		char from[PX_RAFT_NAME_MAX + 1];
		uint64_t t0;      /* px_mono_ms() when asked */
	} xfer;
	bool first_applied;   /* an entry was applied since the start */
	bool epoch_known;     /* the cluster's epoch is st->policy.epoch */
	bool leads;           /* at the last px_store_replicate_judges */
	uint64_t lead_since;  /* px_mono_ms() when it became the leader */
};

static px_fsm_t *fsm_of(const px_store_t *st)
{
	return st->fsm;
}

/* "tcp://H:P" -> P; 0 if it is not that shape. */
static uint64_t endpoint_port(const char *ep)
{
	const char *c = strrchr(ep, ':');
	uint64_t port = 0;

	if (!c || px_parse_u64(c + 1, 1, 65535, &port) < 0)
		return 0;
	return port;
}

int px_store_replicate_init(px_store_t *st, const px_raft_peer_t *peers,
			    size_t n, const char *ctl_list, const char *listen,
			    char *err, size_t errlen)
{
	struct px_repl *r = xcalloc(1, sizeof(*r));
	uint64_t port = endpoint_port(listen);
	const char *p = ctl_list;
	size_t i;

	memcpy(r->peers, peers, n * sizeof(*peers));
	r->npeers = n;
	for (i = 0; i < n; i++) {
		char host[PX_RAFT_ADDR_MAX + 1];
		const char *colon;

		if (ctl_list[0]) {
			const char *end = strchr(p, ',');
			size_t len = end ? (size_t)(end - p) : strlen(p);

			if (!*p || len >= EP_MAX || len < 7 ||
			    strncmp(p, "tcp://", 6) != 0) {
				snprintf(err, errlen, "--raft-ctl-endpoints: item "
					 "%zu (for %s) is missing or not "
					 "tcp://HOST:PORT", i + 1, peers[i].name);
				free(r);
				return PX_EBADREQ;
			}
			memcpy(r->endpoints[i], p, len);
			r->endpoints[i][len] = '\0';
			p += len + (end ? 1 : 0);
			if (!end && i + 1 < n)
				p = "";
			continue;
		}
		if (!port) {
			snprintf(err, errlen, "--listen `%s': no port to "
				 "derive the stores' ctl endpoints from", listen);
			free(r);
			return PX_EBADREQ;
		}
		colon = strrchr(peers[i].addr, ':');
		snprintf(host, sizeof(host), "%.*s", (int)(colon - peers[i].addr),
			 peers[i].addr);
		snprintf(r->endpoints[i], EP_MAX, "tcp://%s:%llu", host,
			 (unsigned long long)port);
	}
	if (ctl_list[0] && *p) {
		snprintf(err, errlen, "--raft-ctl-endpoints: more endpoints than "
			 "the %zu stores of --raft-peers (`%s' left over)", n, p);
		free(r);
		return PX_EBADREQ;
	}
	for (i = 0; i < n; i++) {
		r->names_v[i] = r->peers[i].name;
		r->eps_v[i] = r->endpoints[i];
	}
	st->repl = r;
	return 0;
}

void px_store_replicate_free(px_store_t *st)
{
	struct px_repl *r = st->repl;

	if (!r)
		return;
	while (r->pending) {
		pending_t *p = r->pending;

		r->pending = p->next;
		free(p->alerts);
		free(p);
	}
	free(r);
	st->repl = NULL;
}

/* p's ctl endpoint: as configured for the stores of --raft-peers; for
 * a store added at run time (`store add'), its Raft host with this
 * store's ctl port, as `store status' lists it (store/stores.c).  The
 * derived one is in static storage, valid until the next call. */
static const char *endpoint_of(const struct px_repl *r,
			       const px_raft_peer_t *p)
{
	static char derived[EP_MAX];
	const char *colon;
	uint64_t port;

	for (size_t i = 0; p && i < r->npeers; i++)
		if (r->peers[i].id == p->id)
			return r->endpoints[i];
	if (!p || !r->npeers || !(port = endpoint_port(r->endpoints[0])) ||
	    !(colon = strrchr(p->addr, ':')))
		return "";
	snprintf(derived, sizeof(derived), "tcp://%.*s:%llu",
		 (int)(colon - p->addr), p->addr, (unsigned long long)port);
	return derived;
}

const char *px_store_replicate_endpoint(px_store_t *st,
				       const px_raft_peer_t *p)
{
	return st->repl ? endpoint_of(st->repl, p) : "";
}

const char *px_store_replicate_leader_endpoint(px_store_t *st)
{
	const px_raft_peer_t *l;
	px_raft_status_t s;

	if (!st->raft || !st->repl)
		return NULL;
	l = px_raft_leader(st->raft);
	px_raft_status(st->raft, &s);
	if (!l || l == s.self)
		return NULL;
	return endpoint_of(st->repl, l);
}

void px_store_stamp(px_store_t *st, Phalanx__Envelope *env)
{
	env->epoch = st->policy.epoch;
	env->term = st->raft ? px_raft_term(st->raft) : 0;
}

/* ---- applying (every store) ---- */

typedef struct {
	const char *id;
	bool found;
} history_find_t;

static int history_match(const void *rec, size_t len, void *arg)
{
	history_find_t *h = arg;
	Phalanx__HistoryRecord *r = phalanx__history_record__unpack(NULL, len,
								    rec);

	if (r && r->request_id && strcmp(r->request_id, h->id) == 0)
		h->found = true;
	if (r)
		phalanx__history_record__free_unpacked(r, NULL);
	return h->found ? 1 : 0;
}

/* The first entry applied after a start may be one whose writes were
 * committed (ops.c's transaction, its audit record in it) while its
 * index was not (the FSM's own transaction: the process died between
 * the two).  Only that entry can be: each index is recorded before the
 * next entry is applied.  Its audit record, stamped with the leader's
 * clock from the entry, says so. */
static bool applied_before_crash(px_store_t *st, const Phalanx__RaftEntry *e)
{
	history_find_t h = { e->operation->request_id, false };

	if (!h.id || !h.id[0] || !e->time_ms)
		return false;
	if (px_db_history(st->db, e->time_ms, history_match, &h) < 0)
		return false;
	return h.found;
}

static void result_keep(struct px_repl *r, uint64_t index,
			const px_fsm_result_t *res)
{
	r->results[index % RESULTS].index = index;
	r->results[index % RESULTS].res = *res;
}

int px_store_replicate_apply(void *arg, uint64_t index, const void *buf,
			     size_t len, px_fsm_result_t *res)
{
	px_store_t *st = arg;
	Phalanx__RaftEntry *e = phalanx__raft_entry__unpack(NULL, len, buf);
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	px_ctl_result_t r = { 0, "", 0 };
	px_op_done_t done;
	px_ident_t who;
	int rc = 0;

	memset(&done, 0, sizeof(done));
	memset(&who, 0, sizeof(who));
	if (!e) {
		/* The same bytes on every store: the same outcome. */
		res->outcome = PX_EDECODE;
		snprintf(res->error, sizeof(res->error), "raft entry %llu does "
			 "not decode", (unsigned long long)index);
		px_log(PX_LOG_ERR, "%s: skipped", res->error);
		goto out;
	}
	if (st->repl && !st->repl->epoch_known) {
		uint64_t epoch, was = st->policy.epoch;

		if ((rc = px_db_raft_epoch(st->db, e->time_ms ? e->time_ms :
					    index, &epoch)) < 0)
			goto out; /* the database failed: the FSM stops */
		st->policy.epoch = epoch;
		st->repl->epoch_known = true;
		if (epoch != was)
			px_log(PX_LOG_INFO, "raft entry %llu: the array's epoch is "
			       "%llu from now on (this store's database had %llu)",
			       (unsigned long long)index,
			       (unsigned long long)epoch,
			       (unsigned long long)was);
	}
	if (e->alerts || e->member_down) {
		if (st->repl)
			st->repl->first_applied = true;
		rc = e->alerts ? px_store_alerts_apply(st, e->alerts) :
		     px_store_alerts_member_down_apply(st, e->member_down);
		res->outcome = rc;
		res->version = st->policy.version;
		if (rc)
			snprintf(res->error, sizeof(res->error), "alerts not "
				 "stored: %s", px_strerror(rc));
		/* As for an operation: a failed database stops the FSM. */
		rc = rc == PX_EDB || rc == PX_EDBCORRUPT ? rc : 0;
		goto out;
	}
	if (!e->operation) {
		res->outcome = PX_EDECODE;
		snprintf(res->error, sizeof(res->error), "raft entry %llu is "
			 "neither an operation nor alerts",
			 (unsigned long long)index);
		px_log(PX_LOG_ERR, "%s: skipped", res->error);
		goto out;
	}
	snprintf(res->request_id, sizeof(res->request_id), "%s",
		 e->operation->request_id ? e->operation->request_id : "");
	if (res->request_id[0] &&
	    (rc = px_fsm_request_find(fsm_of(st), res->request_id, res)) != 0) {
		if (rc < 0)
			goto out; /* the database failed: the FSM stops */
		rc = 0;
		res->duplicate = true;
		px_log(PX_LOG_INFO, "raft entry %llu: request %s was applied "
		       "before (outcome %s): not applied again",
		       (unsigned long long)index, res->request_id,
		       res->outcome ? px_strerror(res->outcome) : "ok");
		goto out;
	}
	if (st->repl && !st->repl->first_applied) {
		st->repl->first_applied = true;
		if (applied_before_crash(st, e)) {
			res->outcome = 0;
			res->version = st->policy.version;
			px_log(PX_LOG_WARN, "raft entry %llu: request %s is in the "
			       "history already (the store stopped before it "
			       "recorded the index): not applied again",
			       (unsigned long long)index, res->request_id);
			goto out;
		}
	}
	snprintf(who.name, sizeof(who.name), "%s", e->who ? e->who : "?");
	who.role = (px_role_t)e->role;
	px_store_op_apply(st, e->operation, &who, e->time_ms, &rep, &r, &done);
	res->outcome = r.status;
	res->version = st->policy.version;
	res->bad_entry = r.bad_entry;
	res->overlap_entry = rep.overlap_entry;
	snprintf(res->error, sizeof(res->error), "%.*s", PX_FSM_ERROR_MAX, r.error);
	/* A database that failed under a committed entry is this store's
	 * fault, not the entry's outcome (a full map is refused before
	 * writing, alike on every store of the same size: an outcome). */
	if (r.status == PX_EDB || r.status == PX_EDBCORRUPT)
		rc = r.status;
	/* Committed: every store publishes what it applied to the members
	 * connected to it. */
	px_store_op_done(st, &done);
out:
	if (st->repl)
		result_keep(st->repl, index, res);
	if (e)
		phalanx__raft_entry__free_unpacked(e, NULL);
	return rc;
}

/* ---- the leader ---- */

void px_store_ctl_reply(px_store_t *st, const px_rid_t *rid,
			Phalanx__CtlReply *rep, const px_ctl_result_t *r)
{
	Phalanx__Envelope out = PHALANX__ENVELOPE__INIT;
	int rc;

	if (!rid->len) {  /* the store's own write: nobody to answer */
		if (r->status)
			px_log(PX_LOG_WARN, "the store's own write: %s",
			       r->error);
		return;
	}
	rep->status = r->status;
	rep->error = (char *)r->error;
	rep->bad_entry = r->bad_entry;
	if (!rep->version)
		rep->version = st->policy.version;
	rep->epoch = st->policy.epoch;
	px_store_stamp(st, &out);
	out.body_case = PHALANX__ENVELOPE__BODY_CTL_REPLY;
	out.ctl_reply = rep;
	if ((rc = px_wire_send(st->ctl, rid, &out)) < 0)
		px_log(PX_LOG_WARN, "ctl reply lost: %s", px_strerror(rc));
}

static void from_result(const px_fsm_result_t *res, Phalanx__CtlReply *rep,
			px_ctl_result_t *r)
{
	r->status = res->outcome;
	r->bad_entry = res->bad_entry;
	rep->version = res->version;
	rep->overlap_entry = res->overlap_entry;
	snprintf(r->error, sizeof(r->error), "%s", res->error);
}

/* A member's alert batch committed (outcome 0: applied here): the
 * member forgets its ids.  Else no ack: it sends the batch again. */
static void alerts_committed(pending_t *p, int status, int outcome)
{
	Phalanx__RaftEntry *e;

	if (status < 0 || outcome) {
		px_peer_warn(p->rid.peer, "alerts: a batch not committed (the "
			     "member sends it again): %s",
			     px_strerror(status < 0 ? status : outcome));
		return;
	}
	e = phalanx__raft_entry__unpack(NULL, p->alerts_len, p->alerts);
	if (e && e->alerts)
		px_store_alerts_ack(p->st, &p->rid, e->alerts);
	if (e)
		phalanx__raft_entry__free_unpacked(e, NULL);
	px_log(PX_LOG_DEBUG, "alerts: a batch of %s committed and applied in "
	       "%llu ms", p->rid.peer,
	       (unsigned long long)(px_mono_ms() - p->t0));
}

static void on_committed(void *arg, int status, int outcome, uint64_t index)
{
	pending_t *p = arg;
	px_store_t *st = p->st;
	struct px_repl *rp = st->repl;
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	px_ctl_result_t r = { 0, "", 0 };
	px_lists_t lists;

	memset(&lists, 0, sizeof(lists));
	if (p->alerts) {
		alerts_committed(p, status, status < 0 ? status :
				 rp && rp->results[index % RESULTS].index == index ?
				 rp->results[index % RESULTS].res.outcome : outcome);
		goto done;
	}
	if (status < 0) {
		r.status = status;
		if (status == PX_ENOQUORUM)
			snprintf(r.error, sizeof(r.error), "request %s: %s: "
				 "leadership lost before it committed; outcome "
				 "unknown (it may still commit under the next "
				 "leader): retry with the same request id",
				 p->request_id, px_strerror(status));
		else
			snprintf(r.error, sizeof(r.error), "request %s: not "
				 "committed: %s; retry with the same request id",
				 p->request_id, px_strerror(status));
		px_log(PX_LOG_WARN, "raft: %s", r.error);
	} else if (rp && rp->results[index % RESULTS].index == index) {
		from_result(&rp->results[index % RESULTS].res, &rep, &r);
	} else {
		r.status = outcome;
		if (outcome)
			snprintf(r.error, sizeof(r.error), "%s",
				 px_strerror(outcome));
	}
	if (status == 0)
		px_log(PX_LOG_DEBUG, "raft entry %llu (request %s): committed "
		       "and applied in %llu ms", (unsigned long long)index,
		       p->request_id,
		       (unsigned long long)(px_mono_ms() - p->t0));
	if (r.status == 0 && p->protect) {
		px_lists_build(&st->policy, &lists);
		rep.protection = lists.protection;
	}
	px_store_ctl_reply(st, &p->rid, &rep, &r);
	px_lists_free(&lists);
	if (p->member[0] && r.status) {
		px_member_t *m = px_store_member_get(st, p->member);

		/* Not kept: the next tick or heartbeat proposes it again. */
		if (m)
			m->down_alert = PX_MEMBER_ALERT_UNKNOWN;
	}
done:
	if (rp) {
		if (p->prev)
			p->prev->next = p->next;
		else
			rp->pending = p->next;
		if (p->next)
			p->next->prev = p->prev;
		rp->npending--;
	}
	free(p->alerts);
	free(p);
}

static void leader_hint(px_store_t *st, Phalanx__CtlReply *rep,
			px_ctl_result_t *r)
{
	const px_raft_peer_t *l = px_raft_leader(st->raft);
	px_raft_status_t s;

	px_raft_status(st->raft, &s);
	if (l && l != s.self) {
		rep->leader_name = (char *)l->name;
		rep->leader_endpoint = (char *)endpoint_of(st->repl, l);
		r->status = PX_ENOTLEADER;
		snprintf(r->error, sizeof(r->error), "%s is not the leader "
			 "(term %llu): the leader is %s at %s", s.self->name,
			 (unsigned long long)s.term, l->name,
			 rep->leader_endpoint);
		return;
	}
	r->status = PX_ENOQUORUM;
	snprintf(r->error, sizeof(r->error), "no quorum: %s (a %s in term "
		 "%llu) knows no leader: an election is on, or this store is "
		 "cut off from the majority", s.self->name, s.role,
		 (unsigned long long)s.term);
}

/* Reads any store answers: its own Raft view, and the waits on the
 * members that heartbeat to it (phalanxctl asks each store for those
 * and merges: a member moving to a new leader reports to one or the
 * other meanwhile; ctl/client.c, ctl/cmd_members.c).  Every other read
 * must be current, the leader's: the policy, the members' status (they
 * follow the leader: --follow-leader), the alerts it commits and the
 * firewall logs the members send it. */
static bool store_local_read(int op)
{
	switch (op) {
	case PHALANX__CTL_REQUEST__OP__STORE_STATUS:
	case PHALANX__CTL_REQUEST__OP__WAIT:
	case PHALANX__CTL_REQUEST__OP__DRAINED_WAIT:
	case PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT:
		return true;
	default:
		return false;
	}
}

bool px_store_replicate_refuse(px_store_t *st, const Phalanx__CtlRequest *req,
			       Phalanx__CtlReply *rep, px_ctl_result_t *r)
{
	px_raft_status_t s;

	if (!st->raft ||
	    (!req->operation && (req->local || store_local_read(req->op))))
		return false;
	px_raft_status(st->raft, &s);
	if (strcmp(s.role, "leader") == 0)
		return false;
	leader_hint(st, rep, r);
	return true;
}

static pending_t *pending_new(px_store_t *st, const px_rid_t *rid,
			      const char *request_id)
{
	pending_t *p = xcalloc(1, sizeof(*p));

	p->st = st;
	p->rid = *rid;
	snprintf(p->request_id, sizeof(p->request_id), "%s", request_id);
	p->t0 = px_mono_ms();
	return p;
}

/* Propose e (stamped with the leader's clock) for p, which is the
 * callback's (freed here if it is not proposed).  A member's alert
 * batch (e->alerts) keeps the packed entry in p for its ack. */
static int propose(px_store_t *st, Phalanx__RaftEntry *e, pending_t *p)
{
	struct px_repl *rp = st->repl;
	uint8_t *buf;
	size_t len;
	int rc;

	e->time_ms = px_now_ms();
	len = phalanx__raft_entry__get_packed_size(e);
	buf = xmalloc(len ? len : 1);
	phalanx__raft_entry__pack(e, buf);
	rc = px_raft_propose(st->raft, buf, len, on_committed, p);
	if (rc < 0) {
		free(buf);
		free(p);
		return rc;
	}
	if (e->alerts) {
		p->alerts = buf;
		p->alerts_len = len;
	} else {
		free(buf);
	}
	p->next = rp->pending;
	if (p->next)
		p->next->prev = p;
	rp->pending = p;
	rp->npending++;
	return 0;
}

int px_store_replicate_write(px_store_t *st, const px_rid_t *rid,
			     Phalanx__Envelope *env, const px_ident_t *who,
			     Phalanx__CtlReply *rep, px_ctl_result_t *r)
{
	struct px_repl *rp = st->repl;
	const Phalanx__Operation *op = env->ctl_request->operation;
	Phalanx__RaftEntry e = PHALANX__RAFT_ENTRY__INIT;
	const char *id = op->request_id ? op->request_id : "";
	px_fsm_result_t prev;
	pending_t *p;
	int rc;

	memset(&prev, 0, sizeof(prev));
	if (strlen(id) > PX_FSM_REQID_MAX) {
		r->status = PX_EBADREQ;
		snprintf(r->error, sizeof(r->error), "request id of %zu "
			 "characters, at most %d", strlen(id), PX_FSM_REQID_MAX);
		return r->status;
	}
	/* A retry of a request applied before: its first outcome, before
	 * the checks (which would now see its own effect). */
	if ((rc = px_fsm_request_find(fsm_of(st), id, &prev)) > 0) {
		from_result(&prev, rep, r);
		px_log(PX_LOG_INFO, "request %s: applied before (outcome %s): "
		       "answered with that", id,
		       prev.outcome ? px_strerror(prev.outcome) : "ok");
		return r->status ? r->status : 1;
	}
	if (rp->npending >= PX_REPL_PENDING_MAX) {
		r->status = PX_EBUSY;
		snprintf(r->error, sizeof(r->error), "%zu writes are waiting "
			 "for the quorum already: try again", rp->npending);
		return r->status;
	}
	/* The checks before the log: a write that would be refused is not
	 * proposed (nothing to replicate).  One that would change nothing
	 * is: "no change" from this store's state alone could come from a
	 * leader already deposed, whose state is behind the cluster's. */
	rc = px_store_op_check(st, op, who, rep, r);
	if (rc < 0 || (rc == 0 && r->status != 0))
		return rc < 0 ? rc : 1;
	e.operation = (Phalanx__Operation *)op;
	e.who = (char *)(who ? who->name : "?");
	e.role = who ? (uint32_t)who->role : 0;
	p = pending_new(st, rid, id[0] ? id : "-");
	p->protect = op->op_case == PHALANX__OPERATION__OP_PROTECT;
	if ((rc = propose(st, &e, p)) < 0) {
		if (rc == PX_ENOTLEADER) {
			leader_hint(st, rep, r);
			return r->status;
		}
		r->status = rc;
		snprintf(r->error, sizeof(r->error), "not proposed: %s",
			 px_strerror(rc));
		return rc;
	}
	return 0;
}

void px_store_replicate_alerts(px_store_t *st, const px_rid_t *rid,
			       const Phalanx__AlertBatch *b)
{
	Phalanx__RaftEntry e = PHALANX__RAFT_ENTRY__INIT;
	px_raft_status_t s;
	pending_t *p;
	int rc;

	if (!px_store_replicate_leads(st)) {
		/* No ack: the member keeps the batch and sends it again, to
		 * the leader once it follows it. */
		px_raft_status(st->raft, &s);
		px_peer_warn(rid->peer, "alerts: %s is a %s: the member's "
			     "batch waits until it reaches the leader (%s)",
			     s.self->name, s.role,
			     s.leader ? s.leader->name : "none known");
		return;
	}
	if (st->repl->npending >= PX_REPL_PENDING_MAX)
		rc = PX_EBUSY;
	else
		rc = px_store_alerts_fit(st, b); /* the limit before the log */
	if (rc < 0) {
		px_peer_warn(rid->peer, "alerts: a batch not proposed (the "
			     "member keeps it and sends it again): %s",
			     px_strerror(rc));
		return;
	}
	e.alerts = (Phalanx__AlertBatch *)b;
	e.who = (char *)rid->peer;
	p = pending_new(st, rid, "-");
	if ((rc = propose(st, &e, p)) < 0)
		px_peer_warn(rid->peer, "alerts: a batch not proposed (the "
			     "member sends it again): %s", px_strerror(rc));
}

int px_store_replicate_member_down(px_store_t *st, const Phalanx__Alert *al)
{
	Phalanx__RaftEntry e = PHALANX__RAFT_ENTRY__INIT;
	px_rid_t none;
	pending_t *p;
	int rc;

	if (!px_store_replicate_judges(st, px_mono_ms(), 0))
		return PX_ENOTLEADER;
	if (st->repl->npending >= PX_REPL_PENDING_MAX)
		return PX_EBUSY;
	memset(&none, 0, sizeof(none));
	e.member_down = (Phalanx__Alert *)al;
	e.who = (char *)"store";
	p = pending_new(st, &none, "-");
	snprintf(p->member, sizeof(p->member), "%.*s", PX_MEMBER_ID_MAX,
		 al->member);
	rc = propose(st, &e, p);
	if (rc < 0)
		px_log(PX_LOG_WARN, "alerts: member-down %s of member %s not "
		       "proposed: %s", al->state, al->member, px_strerror(rc));
	return rc < 0 ? rc : 0;
}

bool px_store_replicate_leads(px_store_t *st)
{
	px_raft_status_t s;

	if (!st->raft)
		return true;
	px_raft_status(st->raft, &s);
	return strcmp(s.role, "leader") == 0;
}

bool px_store_replicate_judges(px_store_t *st, uint64_t now, uint64_t grace)
{
	struct px_repl *rp = st->repl;
	bool leads;
	size_t i;

	if (!st->raft || !rp)
		return true;
	leads = px_store_replicate_leads(st);
	if (leads && !rp->leads) {
		/* What an earlier term left in memory says nothing now: the
		 * replicated active alerts decide each member's next entry. */
		rp->lead_since = now;
		for (i = 0; i < st->nmembers; i++)
			st->members[i].down_alert = PX_MEMBER_ALERT_UNKNOWN;
		px_log(PX_LOG_INFO, "raft: this store leads (term %llu): it "
		       "judges members down after %llu ms", (unsigned long long)
		       px_raft_term(st->raft), (unsigned long long)grace);
	}
	rp->leads = leads;
	return leads && now - rp->lead_since >= grace;
}

int px_store_replicate_self(px_store_t *st, const Phalanx__Operation *op,
			    const px_ident_t *who)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	px_ctl_result_t r = { 0, "", 0 };
	px_rid_t rid;
	int rc;

	memset(&rid, 0, sizeof(rid));
	req.operation = (Phalanx__Operation *)op;
	env.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &req;
	rc = px_store_replicate_write(st, &rid, &env, who, &rep, &r);
	if (rc != 0 && r.status)
		px_log(PX_LOG_WARN, "%s: not proposed: %s", who->name, r.error);
	return rc < 0 ? rc : r.status;
}

static void on_transferred(void *arg, int status, const px_raft_peer_t *leader,
			   const px_raft_peer_t *target)
{
	px_store_t *st = arg;
	struct px_repl *rp = st->repl;
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	Phalanx__StoreStatus ss;
	px_ctl_result_t r = { 0, "", 0 };
	uint64_t ms = px_mono_ms() - rp->xfer.t0;

	px_store_replicate_status(st, &rep, &ss);
	if (status == 0) {
		px_log(PX_LOG_INFO, "raft: leadership moved from %s to %s in "
		       "%llu ms (term %llu)", rp->xfer.from, leader->name,
		       (unsigned long long)ms, (unsigned long long)ss.term);
	} else {
		r.status = status;
		snprintf(r.error, sizeof(r.error), "leadership did not move "
			 "to %s within %llu ms: %s%s (term %llu); is %s up "
			 "and connected to %s?", target ? target->name : "?",
			 (unsigned long long)ms,
			 leader ? leader->name : "no leader known",
			 leader ? " leads still" : " yet",
			 (unsigned long long)ss.term,
			 target ? target->name : "it", rp->xfer.from);
		px_log(PX_LOG_WARN, "raft: %s", r.error);
	}
	rp->xfer.busy = false;
	px_store_ctl_reply(st, &rp->xfer.rid, &rep, &r);
}

int px_store_replicate_transfer(px_store_t *st, const px_rid_t *rid,
				const Phalanx__CtlRequest *req,
				Phalanx__CtlReply *rep, px_ctl_result_t *r)
{
	struct px_repl *rp = st->repl;
	px_raft_status_t s;
	int rc;

	if (!st->raft) {
		r->status = PX_EBADREQ;
		snprintf(r->error, sizeof(r->error), "one store without Raft "
			 "(no --raft-peers): there is no leadership to hand "
			 "over");
		return r->status;
	}
	if (rp->xfer.busy) {
		r->status = PX_EBUSY;
		snprintf(r->error, sizeof(r->error), "a leadership transfer "
			 "is under way already");
		return r->status;
	}
	rc = px_raft_transfer(st->raft, req->name, on_transferred, st,
			      r->error, sizeof(r->error));
	if (rc == PX_ENOTLEADER) {
		leader_hint(st, rep, r);  /* lost it since the request came */
		return r->status;
	}
	if (rc < 0) {
		r->status = rc;
		return rc;
	}
	px_raft_status(st->raft, &s);
	rp->xfer.busy = true;
	rp->xfer.rid = *rid;
	rp->xfer.t0 = px_mono_ms();
	snprintf(rp->xfer.from, sizeof(rp->xfer.from), "%s", s.self->name);
	return 0;
}

void px_store_replicate_status(px_store_t *st, Phalanx__CtlReply *rep,
			       Phalanx__StoreStatus *ss)
{
	uint64_t now = px_now_ms();
	px_raft_status_t s;
	size_t i;

	phalanx__store_status__init(ss);
	rep->store = ss;
	for (i = 0; i < st->nmembers; i++)
		ss->members_heard += px_member_up(st, &st->members[i], now);
	if (!st->raft) {
		ss->name = "store";
		ss->role = "leader";  /* one store, no Raft: it decides */
		return;
	}
	px_raft_status(st->raft, &s);
	ss->name = (char *)s.self->name;
	ss->endpoint = (char *)endpoint_of(st->repl, s.self);
	ss->role = (char *)s.role;
	ss->term = s.term;
	ss->commit_index = s.commit;
	ss->applied_index = s.applied;
	ss->last_contact_ms = s.last_contact_ms;
	ss->leader = (char *)(s.leader ? s.leader->name : "");
	ss->peers = st->repl->names_v;
	ss->n_peers = st->repl->npeers;
	ss->peer_endpoints = st->repl->eps_v;
	ss->n_peer_endpoints = st->repl->npeers;
}
