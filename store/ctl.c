/* ctl.c - phalanxctl requests: the reads here; each write is one
 * Operation, run by store/ops.c, answered with the new version, then
 * published. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alerts.h"
#include "auth.h"
#include "canary.h"
#include "codec.h"
#include "logring.h"
#include "px.h"
#include "replicate.h"
#include "config.h"
#include "store.h"
#include "stores.h"
#include "versions.h"

typedef px_ctl_result_t result_t;

static int fail(result_t *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(result_t *r, int status, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return status;
}

/* A read's name for messages: its wire name. */
static const char *op_label(int op)
{
	const ProtobufCEnumValue *v;

	v = protobuf_c_enum_descriptor_get_value(
		&phalanx__ctl_request__op__descriptor, op);
	return v ? v->name : "request";
}

/* Whether req is a write sent the old way: an op of the enum that is
 * now an Operation (ALERT_DEFINE without a definition only lists). */
static bool legacy_write(const Phalanx__CtlRequest *req)
{
	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__SET_ADD:
	case PHALANX__CTL_REQUEST__OP__SET_DEL:
	case PHALANX__CTL_REQUEST__OP__SET_IMPORT:
	case PHALANX__CTL_REQUEST__OP__SET_CREATE:
	case PHALANX__CTL_REQUEST__OP__SET_DESTROY:
	case PHALANX__CTL_REQUEST__OP__LIMIT_SET:
	case PHALANX__CTL_REQUEST__OP__RULE_ADD:
	case PHALANX__CTL_REQUEST__OP__RULE_DEL:
	case PHALANX__CTL_REQUEST__OP__SERVICE_ADD:
	case PHALANX__CTL_REQUEST__OP__SERVICE_DEL:
	case PHALANX__CTL_REQUEST__OP__ALERT_RESET:
	case PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE:
	case PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN:
	case PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN:
	case PHALANX__CTL_REQUEST__OP__ADMIN_ADD:
	case PHALANX__CTL_REQUEST__OP__ADMIN_DEL:
	case PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL:
	case PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE:
	case PHALANX__CTL_REQUEST__OP__ROLLBACK:
	case PHALANX__CTL_REQUEST__OP__CONFIRM:
	case PHALANX__CTL_REQUEST__OP__CONFIG_APPLY:
		return true;
	case PHALANX__CTL_REQUEST__OP__ALERT_DEFINE:
		return req->alert_def != NULL;
	case PHALANX__CTL_REQUEST__OP__PROTECT:
		return !req->protect || req->protect->kind !=
			PHALANX__PROTECT_OP__KIND__SHOW;
	default:
		return false;
	}
}

#define HISTORY_PAGE 1000     /* records a reply holds by default */
#define HISTORY_PAGE_MAX 10000

typedef struct {
	Phalanx__HistoryRecord **v;
	size_t n, max;
	bool more;
} history_reply_t;

static int history_one(const void *rec, size_t len, void *arg)
{
	history_reply_t *h = arg;
	Phalanx__HistoryRecord *r;

	if (h->n == h->max) {
		h->more = true;
		return 1;
	}
	r = phalanx__history_record__unpack(NULL, len, rec);
	if (r)
		h->v[h->n++] = r;
	return 0;
}

static void history_reply(px_store_t *st, const Phalanx__CtlRequest *req,
			  Phalanx__CtlReply *rep, history_reply_t *h,
			  result_t *r)
{
	int rc;

	h->max = req->max ? req->max : HISTORY_PAGE;
	if (h->max > HISTORY_PAGE_MAX)
		h->max = HISTORY_PAGE_MAX;
	h->v = xcalloc(h->max + 1, sizeof(*h->v));
	rc = px_db_history(st->db, req->since_ms, history_one, h);
	if (rc < 0) {
		fail(r, rc, "history: %s", px_db_strerror(rc));
		return;
	}
	rep->history = h->v;
	rep->n_history = h->n;
	rep->history_more = h->more;
}

static void history_reply_free(history_reply_t *h)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		phalanx__history_record__free_unpacked(h->v[i], NULL);
	free(h->v);
}

/* CONFIG_SHOW: the meta record's parts and the sets' names (each set's
 * entries come by SET_LIST). */
typedef struct {
	Phalanx__SnapshotChunk c;
	Phalanx__SetOp *ops, **opp;
	px_lists_t lists;
	Phalanx__LimitOp **lops;
	size_t nlops;
} config_reply_t;

static void config_show(px_store_t *st, Phalanx__CtlReply *rep,
			config_reply_t *k)
{
	const px_policy_t *p = &st->policy;
	size_t i;

	phalanx__snapshot_chunk__init(&k->c);
	k->ops = xcalloc(p->nsets + 1, sizeof(*k->ops));
	k->opp = xcalloc(p->nsets + 1, sizeof(*k->opp));
	for (i = 0; i < p->nsets; i++) {
		phalanx__set_op__init(&k->ops[i]);
		k->ops[i].kind = PHALANX__SET_OP__KIND__CREATE;
		k->ops[i].set = (char *)p->sets[i].name;
		k->opp[i] = &k->ops[i];
	}
	px_limitops_build(&p->limits, &k->lops, &k->nlops);
	px_lists_build(p, &k->lists);
	k->c.version = p->version;
	k->c.sets = k->opp;
	k->c.n_sets = p->nsets;
	k->c.limits = k->lops;
	k->c.n_limits = k->nlops;
	k->c.rules_set = k->c.services_set = true;
	k->c.rules = k->lists.rules;
	k->c.n_rules = k->lists.nrules;
	k->c.services = k->lists.services;
	k->c.n_services = k->lists.nservices;
	k->c.protection = k->lists.protection;
	rep->config = &k->c;
}

static void config_reply_free(config_reply_t *k)
{
	if (!k->opp)
		return;
	free(k->ops);
	free(k->opp);
	px_limitops_free(k->lops, k->nlops);
	px_lists_free(&k->lists);
}

static void config_plan(px_store_t *st, const Phalanx__CtlRequest *req,
			Phalanx__CtlReply *rep, result_t *r)
{
	px_vdiff_t d;
	int rc;

	if (!req->config_apply) {
		fail(r, PX_EBADREQ, "config plan: no configuration given");
		return;
	}
	rc = px_config_plan(&st->policy, req->config_apply, &d, r->error,
			    sizeof(r->error));
	if (rc == 0)
		rc = px_vdiff_reply(&d, &rep->diff, r->error, sizeof(r->error));
	r->status = rc;
	px_vdiff_free(&d);
}

/* Quota activity of the members for a status reply: one allocation
 * the caller frees it with quota_reply_free(). */
typedef struct {
	Phalanx__QuotaCount *qv, **qp;
	ProtobufCBinaryData *bins;
	uint8_t *buf;
} quota_reply_t;

static void quota_reply(const px_store_t *st, Phalanx__MemberStatus **ms,
			quota_reply_t *q)
{
	size_t n = st->nmembers * PX_LIM_COUNT, i, k = 0, b = 0;
	uint8_t *p;

	q->qv = xcalloc(n, sizeof(*q->qv));
	q->qp = xcalloc(n, sizeof(*q->qp));
	q->bins = xcalloc(n * PX_QUOTA_SOURCES, sizeof(*q->bins));
	q->buf = p = xmalloc(n * PX_QUOTA_SOURCES * PX_ENTRY_WIRE_MAX + 1);
	for (i = 0; i < st->nmembers; i++) {
		const px_member_t *m = &st->members[i];
		int id;

		ms[i]->quotas = &q->qp[k];
		for (id = 0; id < PX_LIM_COUNT; id++) {
			const px_member_quota_t *mq = &m->quotas[id];
			Phalanx__QuotaCount *c = &q->qv[k];
			size_t j;

			if (!mq->blocked && !mq->would_block)
				continue;
			phalanx__quota_count__init(c);
			c->quota = (char *)px_limit_defs[id].name;
			c->blocked = mq->blocked;
			c->would_block = mq->would_block;
			c->sources = &q->bins[b];
			for (j = 0; j < mq->nsources; j++) {
				q->bins[b].data = p;
				q->bins[b].len = px_entry_encode(&mq->sources[j], p);
				p += q->bins[b++].len;
			}
			c->n_sources = mq->nsources;
			q->qp[k++] = c;
			ms[i]->n_quotas++;
		}
	}
}

static void quota_reply_free(quota_reply_t *q)
{
	free(q->qv);
	free(q->qp);
	free(q->bins);
	free(q->buf);
}

static void status_reply(px_store_t *st, Phalanx__CtlReply *rep,
			 Phalanx__MemberStatus **ms, Phalanx__SetInfo **si)
{
	uint64_t now = px_now_ms();
	size_t i;

	for (i = 0; i < st->nmembers; i++) {
		const px_member_t *m = &st->members[i];

		phalanx__member_status__init(ms[i]);
		ms[i]->member = (char *)m->id;
		ms[i]->applied_version = m->applied;
		ms[i]->last_heartbeat_ms = m->last_hb_ms;
		ms[i]->up = px_member_up(st, m, now);
		ms[i]->applying_version = m->applying;
		ms[i]->out_of_service = px_member_out_of_service(st, m);
		ms[i]->health = m->health;
		ms[i]->detail = (char *)m->detail;
		ms[i]->vrrp_role = (char *)m->vrrp_role;
		ms[i]->drained = m->drained;
		/* addrp points into the member itself: the members array
		 * moves when it grows (member_get), so point it again now. */
		for (size_t j = 0; j < m->naddrs; j++)
			st->members[i].addrp[j] = st->members[i].addrs[j];
		ms[i]->addresses = (char **)st->members[i].addrp;
		ms[i]->n_addresses = m->naddrs;
	}
	rep->members = ms;
	rep->n_members = st->nmembers;
	for (i = 0; i < st->policy.nsets; i++) {
		phalanx__set_info__init(si[i]);
		si[i]->name = st->policy.sets[i].name;
		si[i]->count = px_set_count(&st->policy.sets[i]);
	}
	rep->sets = si;
	rep->n_sets = st->policy.nsets;
	rep->now_ms = now;
}

/* The permission tables' verdict for the key that sent req: a write's
 * role is store/ops.c's, a read's store/auth.c's.  CURVE and ZAP say
 * which key it is; it may have been deleted since its handshake, and
 * then it may do nothing. */
static bool permitted(const px_store_t *st, const px_rid_t *rid,
		      const Phalanx__CtlRequest *req, result_t *r,
		      const px_ident_t **who)
{
	const px_ident_t *key = px_auth_find(st->auth, rid->user);
	const char *label = op_label(req->op);
	px_role_t need;

	*who = key;
	if (req->operation) {
		if (px_store_op_role(req->operation, &label, &need) < 0) {
			fail(r, PX_EBADREQ, "unknown operation %d",
			     (int)req->operation->op_case);
			px_log(PX_LOG_WARN, "ctl from %s: refused: %s",
			       rid->peer, r->error);
			return false;
		}
	} else {
		need = px_ctl_min_role(req->op);
		if (req->op == PHALANX__CTL_REQUEST__OP__ALERT_DEFINE &&
		    !req->alert_def)
			need = PX_ROLE_VIEWER; /* only lists the definitions */
		if (req->op == PHALANX__CTL_REQUEST__OP__PROTECT)
			need = PX_ROLE_VIEWER; /* protection show, networks
						* list: writes are Operations */
		if (req->op == PHALANX__CTL_REQUEST__OP__STORE_STATUS)
			need = PX_ROLE_VIEWER; /* a read */
	}
	if (key && key->role != PX_ROLE_MEMBER && key->role >= need)
		return true;
	if (!key)
		fail(r, PX_EPERM, "%s: %s: the store no longer knows this key",
		     label, px_strerror(PX_EPERM));
	else
		fail(r, PX_EPERM, "%s: %s: it needs role %s, \"%s\" has %s",
		     label, px_strerror(PX_EPERM),
		     px_role_name(need), key->name, px_role_name(key->role));
	px_log(PX_LOG_WARN, "ctl from %s: refused: %s", rid->peer, r->error);
	return false;
}

void px_store_ctl(px_store_t *st)
{
	Phalanx__Envelope *env = NULL;
	px_rid_t rid;
	int rc;

	rc = px_wire_recv(st->ctl, ZMQ_DONTWAIT, &rid, &env);
	if (rc == -EAGAIN)
		return;
	px_store_ctl_in(st, &rid, env, rc);
}

/* The longest a WAIT may be held: phalanxctl's --wait takes at most a
 * day (ctl/main.c); a list, a minute (phalanxctl asks for seconds). */
#define WAIT_MAX_MS 86400000u
#define LIST_WAIT_MAX_MS 60000u

/* Whether req, answered by rep, waits for something: a PX_WAIT_* kind
 * and for how long (*ms), or -1. */
static int hold_kind(const Phalanx__CtlRequest *req,
		     const Phalanx__CtlReply *rep, const px_store_t *st,
		     uint32_t *ms)
{
	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__WAIT:
		*ms = req->timeout_ms;
		return px_store_wait_pending(st, req->version) ?
			PX_WAIT_APPLIED : -1;
	case PHALANX__CTL_REQUEST__OP__ALERT_LIST:
		*ms = req->wait_ms;
		return req->wait_ms && req->after_seq != UINT64_MAX &&
			!rep->n_alerts ? PX_WAIT_ALERTS : -1;
	case PHALANX__CTL_REQUEST__OP__LOG_LIST:
		*ms = req->wait_ms;
		return req->wait_ms && req->after_seq != UINT64_MAX &&
			!req->newest && !rep->n_log_records ? PX_WAIT_LOG : -1;
	case PHALANX__CTL_REQUEST__OP__DRAINED_WAIT:
	case PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT:
		*ms = req->timeout_ms;
		return px_store_member_settled(st, req->member, req->op) ? -1 :
			PX_WAIT_ROLES;
	case PHALANX__CTL_REQUEST__OP__CANARY_WAIT:
		*ms = req->timeout_ms;
		return rep->status == PX_EBUSY ? PX_WAIT_CANARY : -1;
	default:
		return -1;
	}
}

/* The line a WAIT's answer leaves in the log: how long it took, who
 * had the version and who did not. */
static void wait_answered(const px_store_t *st, const px_rid_t *rid,
			  const Phalanx__CtlRequest *req, uint64_t deadline,
			  int status)
{
	char late[256] = "", down[256] = "";
	const char *why = px_store_waiters_why(st);
	uint64_t now = px_now_ms(), held = 0;
	size_t i;

	if (deadline) {
		uint64_t start = deadline - req->timeout_ms, mono = px_mono_ms();

		held = mono > start ? mono - start : 0;
	}
	for (i = 0; i < st->nmembers; i++) {
		const px_member_t *m = &st->members[i];
		char *b;

		if (px_member_out_of_service(st, m) || m->applied >= req->version)
			continue;
		b = px_member_up(st, m, now) ? late : down;
		if (strlen(b) + strlen(m->id) + 3 < sizeof(late))
			snprintf(b + strlen(b), sizeof(late) - strlen(b), "%s%s",
				 b[0] ? ", " : "", m->id);
	}
	px_log(status ? PX_LOG_WARN : PX_LOG_INFO, "wait for version %llu "
	       "from %s: answered after %llu ms, on %s: %s%s%s%s%s",
	       (unsigned long long)req->version, rid->peer,
	       (unsigned long long)held, why ? why : "arrival",
	       status ? px_strerror(status) : late[0] ? "timed out" :
	       "every member in service has it", late[0] ? "; pending: " : "",
	       late, down[0] ? "; down: " : "", down);
}

static void ctl_run(px_store_t *st, const px_rid_t *peer,
		    Phalanx__Envelope *env, int rc, uint64_t deadline);

/* CANARY_WAIT: the verdict on the canary of version v.  While it is in
 * progress, rep->status is PX_EBUSY (held by ctl_run: answered so only
 * at its deadline); released: 0, the why in error; reverted: PX_ECANARY
 * and the revert's version. */
static void canary_wait(px_store_t *st, uint64_t v, Phalanx__CtlReply *rep,
			result_t *r)
{
	px_canary_t c;
	uint64_t rv = 0;
	const char *why = "";
	bool reverted = false;

	if (px_store_canary_current(st, &c) > 0 && c.version == v) {
		rep->status = PX_EBUSY;
		snprintf(r->error, sizeof(r->error), "version %llu: canary %s "
			 "still in progress", (unsigned long long)v, c.member);
		return;
	}
	if (!px_store_canary_verdict(st, v, &reverted, &rv, &why)) {
		fail(r, -ENOENT, "version %llu: no canary in progress, and "
		     "this store does not know its verdict: see phalanxctl "
		     "history", (unsigned long long)v);
		return;
	}
	if (reverted) {
		fail(r, PX_ECANARY, "%s; reverted as version %llu", why,
		     (unsigned long long)rv);
		rep->version = rv;
		return;
	}
	snprintf(r->error, sizeof(r->error), "%s", why);
}

void px_store_ctl_in(px_store_t *st, const px_rid_t *peer,
		     Phalanx__Envelope *env, int rc)
{
	ctl_run(st, peer, env, rc, 0);
}

void px_store_ctl_again(px_store_t *st, const px_rid_t *peer,
			Phalanx__Envelope *env, uint64_t deadline)
{
	ctl_run(st, peer, env, 0, deadline);
}

/* deadline: 0 for a request just in, else the px_mono_ms() up to which
 * a held one may wait (waiters.c). */
static void ctl_run(px_store_t *st, const px_rid_t *peer,
		    Phalanx__Envelope *env, int rc, uint64_t deadline)
{
	Phalanx__Envelope out = PHALANX__ENVELOPE__INIT;
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	Phalanx__MemberStatus *msv = NULL, **ms = NULL;
	Phalanx__SetInfo *siv = NULL, **si = NULL;
	Phalanx__LimitInfo *liv = NULL, **li = NULL;
	Phalanx__LimitOp **tiers = NULL, **ltiers = NULL;
	ProtobufCBinaryData *bins = NULL;
	uint8_t *buf = NULL;
	void *alerts_mem = NULL, *log_mem = NULL, *keys_mem = NULL;
	result_t r = { 0, "", 0 };
	px_op_done_t done;
	px_lists_t lists;
	Phalanx__StoreStatus ss;
	quota_reply_t quotas;
	const px_ident_t *who = NULL;
	history_reply_t hist = { 0 };
	config_reply_t cfg = { .opp = NULL };
	px_rid_t rid = *peer;
	size_t i, ntiers = 0;

	memset(&done, 0, sizeof(done));
	memset(&quotas, 0, sizeof(quotas));
	memset(&lists, 0, sizeof(lists));
	if (rc < 0) {
		fail(&r, rc, "request refused: %s", px_strerror(rc));
		goto reply;
	}
	if (env->body_case != PHALANX__ENVELOPE__BODY_CTL_REQUEST) {
		fail(&r, PX_EBADREQ, "expected a ctl request");
		goto reply;
	}
	if (!permitted(st, &rid, env->ctl_request, &r, &who))
		goto reply;
	if (!deadline)
		px_log(PX_LOG_DEBUG, "ctl from %s: %s", rid.peer,
		       op_label(env->ctl_request->op));
	/* Raft: a follower sends the client to the leader. */
	if (px_store_replicate_refuse(st, env->ctl_request, &rep, &r))
		goto reply;
	ms = xcalloc(st->nmembers + 1, sizeof(*ms));
	msv = xcalloc(st->nmembers + 1, sizeof(*msv));
	for (i = 0; i < st->nmembers; i++)
		ms[i] = &msv[i];
	si = xcalloc(st->policy.nsets + 1, sizeof(*si));
	siv = xcalloc(st->policy.nsets + 1, sizeof(*siv));
	for (i = 0; i < st->policy.nsets; i++)
		si[i] = &siv[i];
	/* The revert of an unconfirmed version is the store's own. */
	if (env->ctl_request->operation && env->ctl_request->operation->op_case
	    == PHALANX__OPERATION__OP_REVERT) {
		fail(&r, PX_EPERM, "revert is proposed by the store itself "
		     "when a --confirm runs out: use rollback");
		goto reply;
	}
	if (env->ctl_request->operation && env->ctl_request->operation->op_case
	    == PHALANX__OPERATION__OP_CANARY_RELEASE) {
		fail(&r, PX_EPERM, "a canary is released by the store itself "
		     "once its member stayed healthy");
		goto reply;
	}
	if (env->ctl_request->operation && st->raft) {
		/* proposed: answered once committed (the entry holds a
		 * copy of the operation: env is freed here as ever) */
		if (px_store_replicate_write(st, &rid, env, who, &rep, &r) == 0)
			rid.len = 0;
		goto reply;
	}
	if (env->ctl_request->operation) {
		px_store_op(st, env->ctl_request->operation, who, &rep, &r,
			    &done);
		/* protection writes answer with the settings after them */
		if (r.status == 0 && env->ctl_request->operation->op_case ==
		    PHALANX__OPERATION__OP_PROTECT) {
			px_lists_build(&st->policy, &lists);
			rep.protection = lists.protection;
		}
		goto reply;
	}
	if (legacy_write(env->ctl_request)) {
		fail(&r, PX_EBADREQ, "%s: a write is an Operation now: this "
		     "phalanxctl is older than the store",
		     op_label(env->ctl_request->op));
		goto reply;
	}
	switch (env->ctl_request->op) {
	case PHALANX__CTL_REQUEST__OP__STATUS:
		status_reply(st, &rep, ms, si);
		quota_reply(st, ms, &quotas);
		break;
	case PHALANX__CTL_REQUEST__OP__SET_LIST: {
		const char *name = env->ctl_request->set;
		px_set_t *s;

		status_reply(st, &rep, ms, si);
		rep.n_members = 0;
		if (!name[0])
			break;
		s = px_policy_find(&st->policy, name);
		if (!s) {
			fail(&r, PX_ENOSET, "no set named %.40s", name);
			break;
		}
		px_set_settle(s);
		px_wire_pack_entries(s->entries.v, s->entries.n, &bins, &buf);
		rep.entries = bins;
		rep.n_entries = s->entries.n;
		rep.sets = &si[s - st->policy.sets];
		rep.n_sets = 1;
		break;
	}
	case PHALANX__CTL_REQUEST__OP__LIMIT_SHOW: {
		const px_limits_t *l = &st->policy.limits;

		li = xcalloc(PX_LIM_COUNT, sizeof(*li));
		liv = xcalloc(PX_LIM_COUNT, sizeof(*liv));
		px_limitops_build(l, &tiers, &ntiers);
		ltiers = xcalloc(ntiers + 1, sizeof(*ltiers));
		for (i = 0; i < PX_LIM_COUNT; i++) {
			size_t t, k = 0;

			li[i] = &liv[i];
			phalanx__limit_info__init(li[i]);
			li[i]->name = (char *)px_limit_defs[i].name;
			li[i]->value = l->value[i];
			li[i]->mode = (char *)px_mode_name(l->mode[i]);
			li[i]->tiers = ltiers;
			/* tiers[] lists the defaults first, then tier ops:
			 * hand each limit its own slice of ltiers. */
			for (t = PX_LIM_COUNT; t < ntiers; t++)
				if (strcmp(tiers[t]->name, li[i]->name) == 0)
					ltiers[k++] = tiers[t];
			li[i]->n_tiers = k;
			ltiers += k;
		}
		ltiers -= ntiers - PX_LIM_COUNT;
		rep.limits = li;
		rep.n_limits = PX_LIM_COUNT;
		break;
	}
	case PHALANX__CTL_REQUEST__OP__RULE_LIST:
	case PHALANX__CTL_REQUEST__OP__SERVICE_LIST:
		px_lists_build(&st->policy, &lists);
		rep.rules = lists.rules;
		rep.n_rules = lists.nrules;
		rep.services = lists.services;
		rep.n_services = lists.nservices;
		break;
	case PHALANX__CTL_REQUEST__OP__PROTECT: /* show; writes: ops.c */
		px_lists_build(&st->policy, &lists);
		rep.protection = lists.protection;
		break;
	case PHALANX__CTL_REQUEST__OP__ALERT_LIST:
	case PHALANX__CTL_REQUEST__OP__ALERT_DEFINE:
		r.status = px_store_alerts_ctl(st, env->ctl_request, &rep,
					       r.error, sizeof(r.error),
					       &alerts_mem);
		break;
	case PHALANX__CTL_REQUEST__OP__LOG_LIST:
	case PHALANX__CTL_REQUEST__OP__TOP:
		r.status = px_store_log_ctl(st, env->ctl_request, &rep, r.error,
					    sizeof(r.error), &log_mem);
		break;
	case PHALANX__CTL_REQUEST__OP__ADMIN_LIST:
		r.status = px_store_keys_ctl(st, env->ctl_request, &rep, r.error,
					     sizeof(r.error), &keys_mem);
		break;
	case PHALANX__CTL_REQUEST__OP__HISTORY:
		history_reply(st, env->ctl_request, &rep, &hist, &r);
		break;
	case PHALANX__CTL_REQUEST__OP__DIFF:
		r.status = px_versions_diff_reply(st->db,
						  env->ctl_request->version_from,
						  env->ctl_request->version,
						  &rep.diff, r.error,
						  sizeof(r.error));
		break;
	case PHALANX__CTL_REQUEST__OP__CONFIG_SHOW:
		config_show(st, &rep, &cfg);
		break;
	case PHALANX__CTL_REQUEST__OP__CONFIG_PLAN:
		config_plan(st, env->ctl_request, &rep, &r);
		break;
	case PHALANX__CTL_REQUEST__OP__PENDING:
		r.status = px_versions_pending_list(st->db, &rep.pending,
						    &rep.n_pending);
		rep.now_ms = px_now_ms();
		if (r.status < 0)
			fail(&r, r.status, "pending: %s",
			     px_db_strerror(r.status));
		break;
	case PHALANX__CTL_REQUEST__OP__STORE_STATUS:
		px_store_replicate_status(st, &rep, &ss);
		px_store_stores_status(st, &ss);
		break;
	case PHALANX__CTL_REQUEST__OP__STORE_ADD:
	case PHALANX__CTL_REQUEST__OP__STORE_REMOVE:
		if (px_store_stores_change(st, &rid, env->ctl_request, &rep,
					   &r) == 0)
			rid.len = 0;  /* answered when the change committed */
		break;
	case PHALANX__CTL_REQUEST__OP__STORE_TRANSFER:
		if (px_store_replicate_transfer(st, &rid, env->ctl_request,
						&rep, &r) == 0)
			rid.len = 0;  /* answered when leadership moved */
		break;
	case PHALANX__CTL_REQUEST__OP__WAIT:
		if (env->ctl_request->timeout_ms > WAIT_MAX_MS) {
			fail(&r, PX_EBADREQ, "WAIT: timeout_ms %u is over the "
			     "most, %u", env->ctl_request->timeout_ms,
			     WAIT_MAX_MS);
			break;
		}
		status_reply(st, &rep, ms, si);
		rep.n_sets = 0;
		break;
	case PHALANX__CTL_REQUEST__OP__CANARY_WAIT:
		if (env->ctl_request->timeout_ms > WAIT_MAX_MS) {
			fail(&r, PX_EBADREQ, "CANARY_WAIT: timeout_ms %u is "
			     "over the most, %u", env->ctl_request->timeout_ms,
			     WAIT_MAX_MS);
			break;
		}
		canary_wait(st, env->ctl_request->version, &rep, &r);
		break;
	case PHALANX__CTL_REQUEST__OP__DRAINED_WAIT:
	case PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT:
		if (px_store_member_wait_check(env->ctl_request, WAIT_MAX_MS,
					       r.error, sizeof(r.error)) < 0) {
			r.status = PX_EBADREQ;
			break;
		}
		/* With several stores the one the member reports to answers
		 * (phalanxctl asks each): a follower's view of a member that
		 * does not report to it is old.  The leader holds the wait,
		 * heard or not (members come to it: an agent restarting). */
		if (st->raft && !px_store_replicate_leads(st) &&
		    !px_store_member_heard(st, env->ctl_request->member)) {
			fail(&r, PX_ENOMEMBER, "member %.64s does not report to "
			     "this store now", env->ctl_request->member);
			break;
		}
		status_reply(st, &rep, ms, si);
		rep.n_sets = 0;
		break;
	default:
		fail(&r, PX_EBADREQ, "unknown request %d", env->ctl_request->op);
	}
	/* Nothing yet for a request that waits (waiters.c): held, and
	 * answered when something comes or its time is up. */
	if (r.status == 0) {
		const Phalanx__CtlRequest *req = env->ctl_request;
		uint32_t ms = 0;
		int kind = hold_kind(req, &rep, st, &ms);
		bool is_wait = req->op == PHALANX__CTL_REQUEST__OP__WAIT;
		bool roles =
			req->op == PHALANX__CTL_REQUEST__OP__DRAINED_WAIT ||
			req->op == PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT;
		bool canary = req->op == PHALANX__CTL_REQUEST__OP__CANARY_WAIT;

		if (kind >= 0 && !deadline)
			deadline = px_mono_ms() + (ms < LIST_WAIT_MAX_MS ||
				   is_wait || roles || canary ? ms :
				   LIST_WAIT_MAX_MS);
		if (kind >= 0 && px_mono_ms() < deadline) {
			int hr = px_store_waiter_hold(st, &rid, env, kind,
						      deadline, r.error,
						      sizeof(r.error));

			if (hr == 0 && !px_store_waiters_why(st))
				px_log(PX_LOG_DEBUG, "%s from %s: held for up "
				       "to %u ms", op_label(req->op), rid.peer,
				       ms);
			if (hr == 0) {
				env = NULL; /* the waiters' now */
				rid.len = 0; /* no reply yet */
			} else if (is_wait || roles || canary) {
				r.status = hr;
			} else {
				r.error[0] = '\0'; /* a list: answered now */
			}
		}
		if (env && is_wait)
			wait_answered(st, &rid, req, deadline, r.status);
		/* a canary still in progress at the wait's deadline */
		if (env && canary && rep.status == PX_EBUSY)
			r.status = PX_ETIMEOUT;
		if (env && roles)
			px_store_member_wait_answered(st, &rid, req, deadline,
						      r.status);
	}
reply:
	rep.status = r.status;
	rep.error = r.error;
	rep.bad_entry = r.bad_entry;
	/* A retried write answered with its first outcome carries the
	 * version it made then (replicate.c). */
	if (!rep.version)
		rep.version = st->policy.version;
	rep.epoch = st->policy.epoch;
	px_store_stamp(st, &out);
	out.body_case = PHALANX__ENVELOPE__BODY_CTL_REPLY;
	out.ctl_reply = &rep;
	if (rc != -EAGAIN && rid.len) {
		rc = px_wire_send(st->ctl, &rid, &out);
		if (rc < 0)
			px_log(PX_LOG_WARN, "ctl reply lost: %s", px_strerror(rc));
	}
	px_store_op_done(st, &done);
	px_store_alerts_reply_free(alerts_mem);
	px_store_log_reply_free(log_mem);
	free(keys_mem);
	history_reply_free(&hist);
	px_versions_diff_reply_free(rep.diff);
	config_reply_free(&cfg);
	if (rep.pending)
		px_versions_pending_free(rep.pending, rep.n_pending);
	px_lists_free(&lists);
	quota_reply_free(&quotas);
	px_limitops_free(tiers, ntiers);
	free(ltiers);
	free(li);
	free(liv);
	free(bins);
	free(buf);
	free(ms);
	free(msv);
	free(si);
	free(siv);
	px_wire_free(env);
}
