/* ctl.c - phalanxctl requests: validate against a copy of the policy,
 * commit to LMDB, answer with the new version, then publish. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "alerts.h"
#include "auth.h"
#include "codec.h"
#include "logring.h"
#include "px.h"
#include "store.h"

#define FLOOD_EXCEPTIONS "flood-exceptions"

/* What a request did, for the reply and the log. */
typedef struct {
	int status;
	char error[512];
	uint64_t bad_entry;
} result_t;

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

static const char *op_name(int op)
{
	switch (op) {
	case PHALANX__CTL_REQUEST__OP__SET_ADD: return "exceptions add";
	case PHALANX__CTL_REQUEST__OP__SET_DEL: return "exceptions del";
	case PHALANX__CTL_REQUEST__OP__SET_IMPORT: return "exceptions import";
	case PHALANX__CTL_REQUEST__OP__SET_CREATE: return "exceptions create";
	case PHALANX__CTL_REQUEST__OP__SET_DESTROY: return "exceptions destroy";
	case PHALANX__CTL_REQUEST__OP__LIMIT_SET: return "limits set";
	case PHALANX__CTL_REQUEST__OP__RULE_ADD: return "rules add";
	case PHALANX__CTL_REQUEST__OP__RULE_DEL: return "rules del";
	case PHALANX__CTL_REQUEST__OP__SERVICE_ADD: return "services add";
	case PHALANX__CTL_REQUEST__OP__SERVICE_DEL: return "services del";
	case PHALANX__CTL_REQUEST__OP__PROTECT: return "protection";
	default: return "request";
	}
}

/* op's name for messages: its command for writes, else its wire name. */
static const char *op_label(int op)
{
	const ProtobufCEnumValue *v;

	if (strcmp(op_name(op), "request") != 0)
		return op_name(op);
	v = protobuf_c_enum_descriptor_get_value(
		&phalanx__ctl_request__op__descriptor, op);
	return v ? v->name : "request";
}

/* Index (1-based) in the request of an entry equal to e, else 0. */
static uint64_t request_index(const px_entries_t *req, const px_entry_t *e)
{
	size_t i;

	for (i = 0; i < req->n; i++)
		if (px_entry_cmp(&req->v[i], e) == 0)
			return i + 1;
	return 0;
}

static int check_overlap(result_t *r, const char *set, const px_entries_t *s,
			 const px_entries_t *req)
{
	const px_entry_t *a, *b;
	char as[PX_ENTRY_STR_MAX], bs[PX_ENTRY_STR_MAX];

	if (px_entries_check_overlap(s, &a, &b) == 0)
		return 0;
	px_entry_format(a, as, sizeof(as));
	px_entry_format(b, bs, sizeof(bs));
	r->bad_entry = request_index(req, b);
	if (!r->bad_entry) {
		const px_entry_t *t = a;

		a = b;
		b = t;
		r->bad_entry = request_index(req, b);
		return fail(r, PX_EOVERLAP, "%s overlaps %s in set %s", as, bs,
			    set);
	}
	return fail(r, PX_EOVERLAP, "%s overlaps %s in set %s", bs, as, set);
}

/* Apply a set request to next; ops/no-op detection is done by diffing. */
static int set_request(result_t *r, px_policy_t *next,
		       const Phalanx__CtlRequest *req)
{
	px_entries_t in, none;
	px_set_t *s;
	size_t bad = 0, i;
	int rc = 0;

	if (!px_setname_valid(req->set))
		return fail(r, PX_ESETNAME, "invalid set name `%.40s'", req->set);
	s = px_policy_find(next, req->set);
	if (req->op == PHALANX__CTL_REQUEST__OP__SET_CREATE) {
		if (s)
			return fail(r, PX_EEXIST, "set %s already exists", req->set);
		if (next->nsets >= PX_SETS_MAX)
			return fail(r, PX_ERANGE, "at most %d sets", PX_SETS_MAX);
		px_policy_add_set(next, req->set);
		return 0;
	}
	if (!s)
		return fail(r, PX_ENOSET, "no set named %s", req->set);
	if (req->op == PHALANX__CTL_REQUEST__OP__SET_DESTROY) {
		if (strcmp(req->set, FLOOD_EXCEPTIONS) == 0)
			return fail(r, PX_EPROTECTED, "set %s always exists",
				    req->set);
		if (px_policy_set_in_use(next, req->set))
			return fail(r, -EBUSY, "set %s is used by a rule or "
				    "service", req->set);
		px_policy_del_set(next, req->set);
		return 0;
	}
	px_entries_init(&in);
	px_entries_init(&none);
	rc = px_wire_unpack_entries(req->entries, req->n_entries, &in, &bad);
	if (rc < 0) {
		r->bad_entry = bad;
		fail(r, rc, "entry %zu: %s", bad, px_strerror(rc));
		goto out;
	}
	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__SET_ADD:
	case PHALANX__CTL_REQUEST__OP__SET_IMPORT: {
		px_entries_t sorted;

		px_entries_copy(&sorted, &in);
		px_entries_normalize(&sorted);
		if (req->op == PHALANX__CTL_REQUEST__OP__SET_ADD) {
			px_entries_apply(&s->entries, &sorted, &none);
			px_entries_free(&sorted);
		} else {
			px_entries_free(&s->entries);
			s->entries = sorted;
		}
		rc = check_overlap(r, req->set, &s->entries, &in);
		if (rc == 0 && s->entries.n > PX_SET_ENTRIES_MAX)
			rc = fail(r, PX_ERANGE, "set %s would hold %zu entries, "
				  "at most %d", req->set, s->entries.n,
				  PX_SET_ENTRIES_MAX);
		break;
	}
	case PHALANX__CTL_REQUEST__OP__SET_DEL:
		for (i = 0; i < in.n; i++) {
			char es[PX_ENTRY_STR_MAX];

			if (px_entries_contains(&s->entries, &in.v[i]))
				continue;
			px_entry_format(&in.v[i], es, sizeof(es));
			r->bad_entry = i + 1;
			rc = fail(r, -ENOENT, "%s is not in set %s", es, req->set);
			goto out;
		}
		px_entries_normalize(&in);
		px_entries_apply(&s->entries, &none, &in);
		break;
	default:
		rc = fail(r, PX_EBADREQ, "unknown operation %d", req->op);
	}
out:
	px_entries_free(&in);
	return rc;
}

static int limit_request(result_t *r, px_policy_t *next,
			 const Phalanx__CtlRequest *req)
{
	Phalanx__LimitOp *op = req->limit;
	int rc;

	if (!op)
		return fail(r, PX_EBADREQ, "limits set: no limit given");
	rc = px_policy_apply_limitops(next, &op, 1);
	if (rc < 0)
		return fail(r, rc, "limits set %.40s%s%.40s %llu: %s", op->name,
			    op->tier[0] ? " --set " : "", op->tier,
			    (unsigned long long)op->value, px_strerror(rc));
	return 0;
}

/* The diff between the live policy and next, as db ops and pub ops.
 * It owns everything its ops point to: it is published after the live
 * policy it was built from has been freed. */
typedef struct {
	px_db_op_t *db;
	px_pubop_t *pub;
	px_entries_t *lists; /* owned add/del lists */
	char (*names)[PX_SETNAME_MAX + 1]; /* owned set names, one an op */
	size_t n, nlists;
	uint64_t added, deleted;
} diff_t;

static void diff_push(diff_t *d, int kind, const char *set,
		      px_entries_t *list, size_t dropped)
{
	static const int pubkind[] = {
		[PX_DB_CREATE] = PHALANX__SET_OP__KIND__CREATE,
		[PX_DB_DESTROY] = PHALANX__SET_OP__KIND__DESTROY,
		[PX_DB_ADD] = PHALANX__SET_OP__KIND__ADD,
		[PX_DB_DEL] = PHALANX__SET_OP__KIND__DEL,
	};

	d->db = xrealloc(d->db, (d->n + 1) * sizeof(*d->db));
	d->pub = xrealloc(d->pub, (d->n + 1) * sizeof(*d->pub));
	snprintf(d->names[d->n], sizeof(d->names[d->n]), "%s", set);
	set = d->names[d->n];
	d->db[d->n] = (px_db_op_t){ kind, set, list, dropped };
	d->pub[d->n] = (px_pubop_t){ pubkind[kind], set, list ? list->v : NULL,
				     list ? list->n : 0 };
	d->n++;
}

static void diff_build(diff_t *d, const px_policy_t *cur,
		       const px_policy_t *next)
{
	size_t i;

	memset(d, 0, sizeof(*d));
	/* Two lists per set at most; allocate up front so pointers into
	 * d->lists stay valid. */
	d->lists = xcalloc(2 * (cur->nsets + next->nsets) + 1,
			   sizeof(*d->lists));
	/* One op per destroyed set, three (create, del, add) per set of
	 * next at most. */
	d->names = xcalloc(cur->nsets + 3 * next->nsets + 1,
			   sizeof(*d->names));
	for (i = 0; i < cur->nsets; i++)
		if (!px_policy_find(next, cur->sets[i].name))
			diff_push(d, PX_DB_DESTROY, cur->sets[i].name, NULL,
				  cur->sets[i].entries.n);
	for (i = 0; i < next->nsets; i++) {
		const px_set_t *ns = &next->sets[i];
		const px_set_t *cs = px_policy_find(cur, ns->name);
		static const px_entries_t empty;
		px_entries_t *add = &d->lists[d->nlists++];
		px_entries_t *del = &d->lists[d->nlists++];

		if (!cs)
			diff_push(d, PX_DB_CREATE, ns->name, NULL, 0);
		px_entries_diff(cs ? &cs->entries : &empty, &ns->entries, add, del);
		if (del->n)
			diff_push(d, PX_DB_DEL, ns->name, del, 0);
		if (add->n)
			diff_push(d, PX_DB_ADD, ns->name, add, 0);
		d->added += add->n;
		d->deleted += del->n;
	}
}

static void diff_free(diff_t *d)
{
	size_t i;

	for (i = 0; i < d->nlists; i++)
		px_entries_free(&d->lists[i]);
	free(d->lists);
	free(d->names);
	free(d->db);
	free(d->pub);
}

static int rule_request(result_t *r, px_policy_t *next,
			const Phalanx__CtlRequest *req)
{
	bool is_rule = req->op == PHALANX__CTL_REQUEST__OP__RULE_ADD ||
		       req->op == PHALANX__CTL_REQUEST__OP__RULE_DEL;
	size_t n = is_rule ? next->nrules : next->nservices, i, at = n;
	const char *what = is_rule ? "rule" : "service";
	int rc;

	if (req->op == PHALANX__CTL_REQUEST__OP__RULE_DEL ||
	    req->op == PHALANX__CTL_REQUEST__OP__SERVICE_DEL) {
		for (i = 0; i < n; i++) {
			const char *name = is_rule ? next->rules[i].name
						   : next->services[i].name;

			if (strcmp(name, req->name) == 0)
				break;
		}
		if (i == n)
			return fail(r, -ENOENT, "no %s named %.40s", what,
				    req->name);
		if (is_rule)
			memmove(&next->rules[i], &next->rules[i + 1],
				(n - i - 1) * sizeof(*next->rules));
		else
			memmove(&next->services[i], &next->services[i + 1],
				(n - i - 1) * sizeof(*next->services));
		if (is_rule)
			next->nrules--;
		else
			next->nservices--;
		return 0;
	}
	if (n >= (is_rule ? PX_RULES_MAX : PX_SERVICES_MAX))
		return fail(r, PX_ERANGE, "at most %d %ss", is_rule ?
			    PX_RULES_MAX : PX_SERVICES_MAX, what);
	if (is_rule) {
		px_rule_t nr;

		if (!req->rule)
			return fail(r, PX_EBADREQ, "rules add: no rule given");
		rc = px_rule_from_proto(next, req->rule, &nr);
		if (rc < 0)
			return fail(r, rc, "rule %.40s: %s", req->rule->name,
				    px_strerror(rc));
		for (i = 0; i < n; i++) {
			if (strcmp(next->rules[i].name, nr.name) == 0)
				return fail(r, PX_EEXIST, "rule %s already "
					    "exists", nr.name);
			if (req->before[0] && at == n &&
			    strcmp(next->rules[i].name, req->before) == 0)
				at = i;
		}
		if (req->before[0] && at == n)
			return fail(r, -ENOENT, "no rule named %.40s to insert "
				    "before", req->before);
		next->rules = xrealloc(next->rules, (n + 1) * sizeof(nr));
		memmove(&next->rules[at + 1], &next->rules[at],
			(n - at) * sizeof(nr));
		next->rules[at] = nr;
		next->nrules++;
	} else {
		px_service_t ns;

		if (!req->service)
			return fail(r, PX_EBADREQ, "services add: no service");
		rc = px_service_from_proto(next, req->service, &ns);
		if (rc < 0)
			return fail(r, rc, "service %.40s: %s",
				    req->service->name, px_strerror(rc));
		for (i = 0; i < n; i++)
			if (strcmp(next->services[i].name, ns.name) == 0)
				return fail(r, PX_EEXIST, "service %s already "
					    "exists", ns.name);
		next->services = xrealloc(next->services, (n + 1) * sizeof(ns));
		next->services[n] = ns;
		next->nservices++;
	}
	return 0;
}

/* A committed change waiting to be published once the reply is out. */
typedef struct {
	bool ready;
	uint64_t version;
	diff_t d;
	Phalanx__LimitOp *limit;
	bool lists;
} publish_t;

/* ---- the audit trail ---- */

/* Pack one record of who did what into *buf (the caller frees it). */
static void audit_pack(px_db_audit_t *a, uint8_t **buf, const px_ident_t *who,
		       const char *what, uint64_t before, uint64_t after)
{
	Phalanx__HistoryRecord h = PHALANX__HISTORY_RECORD__INIT;

	h.time_ms = px_now_ms();
	h.who = who ? (char *)who->name : "?";
	h.role = (char *)px_role_name(who ? who->role : PX_ROLE_NONE);
	h.what = (char *)what;
	h.version_before = before;
	h.version_after = after;
	a->len = phalanx__history_record__get_packed_size(&h);
	*buf = xmalloc(a->len ? a->len : 1);
	phalanx__history_record__pack(&h, *buf);
	a->rec = *buf;
	a->time_ms = h.time_ms;
}

/* Changes outside the policy's versions (keys, alerts, members) are
 * recorded after they succeed, in a transaction of their own. */
static void audit_other(px_store_t *st, const Phalanx__CtlRequest *req,
			const px_ident_t *who)
{
	const char *label = NULL, *arg = req->name;
	char what[256];
	uint8_t *rec;
	px_db_audit_t a;
	int rc;

	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__ALERT_RESET:
		label = "alerts reset";
		arg = req->all ? "--all" : req->alert_id;
		break;
	case PHALANX__CTL_REQUEST__OP__ALERT_DEFINE:
		if (!req->alert_def)
			return;
		label = "alerts define";
		arg = req->alert_def->type;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN:
		label = "members drain";
		arg = req->member;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN:
		label = "members undrain";
		arg = req->member;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE:
		label = "members remove";
		arg = req->member;
		break;
	case PHALANX__CTL_REQUEST__OP__ADMIN_ADD:
		snprintf(what, sizeof(what), "admins add %s --role %s",
			 req->name, req->role);
		break;
	case PHALANX__CTL_REQUEST__OP__ADMIN_DEL:
		label = "admins del";
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL:
		label = "members enroll";
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE:
		label = "members revoke";
		break;
	default:
		return; /* reads, and policy writes (recorded with their commit) */
	}
	if (label)
		snprintf(what, sizeof(what), "%s %s", label, arg ? arg : "");
	audit_pack(&a, &rec, who, what, st->policy.version, st->policy.version);
	rc = px_db_history_put(st->db, &a);
	free(rec);
	if (rc < 0)
		px_log(PX_LOG_ERR, "history: cannot record `%s' by %s: %s", what,
		       who ? who->name : "?", px_db_strerror(rc));
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

static void write_request(px_store_t *st, const Phalanx__CtlRequest *req,
			  result_t *r, publish_t *pub, const px_ident_t *who)
{
	char what[256];
	uint8_t *rec = NULL;
	px_db_audit_t audit;
	px_policy_t next;
	diff_t *d = &pub->d;
	int op = req->op;
	bool is_limit = op == PHALANX__CTL_REQUEST__OP__LIMIT_SET;
	bool is_list = op == PHALANX__CTL_REQUEST__OP__RULE_ADD ||
		       op == PHALANX__CTL_REQUEST__OP__RULE_DEL ||
		       op == PHALANX__CTL_REQUEST__OP__SERVICE_ADD ||
		       op == PHALANX__CTL_REQUEST__OP__SERVICE_DEL ||
		       op == PHALANX__CTL_REQUEST__OP__PROTECT; /* issue 12 */
	uint64_t version = st->policy.version + 1;
	int rc;

	/* Counts first: a request over a cap is refused before it is
	 * decoded into entries and before the policy is copied. */
	if (req->n_entries > PX_SET_ENTRIES_MAX) {
		fail(r, PX_ETOOBIG, "%s %.40s: %zu entries in one request, a "
		     "set holds at most %d", op_name(op), req->set,
		     req->n_entries, PX_SET_ENTRIES_MAX);
		px_log(PX_LOG_INFO, "%s refused, nothing changed: %s",
		       op_name(op), r->error);
		return;
	}
	px_policy_copy(&next, &st->policy);
	if (is_limit)
		rc = limit_request(r, &next, req);
	else if (op == PHALANX__CTL_REQUEST__OP__PROTECT)
		rc = r->status = px_store_protect_request(&next, req, r->error,
							  sizeof(r->error),
							  what, sizeof(what));
	else if (is_list)
		rc = rule_request(r, &next, req);
	else
		rc = set_request(r, &next, req);
	if (rc < 0) {
		px_log(PX_LOG_INFO, "%s refused, nothing changed: %s",
		       op_name(op), r->error);
		px_policy_free(&next);
		return;
	}
	diff_build(d, &st->policy, &next);
	if (d->n == 0 && !is_limit && !is_list) {
		px_log(PX_LOG_INFO, "%s %s: no change, still version %llu",
		       op_name(op), req->set,
		       (unsigned long long)st->policy.version);
		goto out;
	}
	/* Destroying a set also drops its tiers: the limits record must
	 * follow, or the next load refers to a set that is gone. */
	if (is_limit)
		snprintf(what, sizeof(what), "limits set %s %llu%s%s%s%s",
			 req->limit->name, (unsigned long long)req->limit->value,
			 req->limit->mode[0] ? " --mode " : "", req->limit->mode,
			 req->limit->tier[0] ? " --set " : "", req->limit->tier);
	else if (op == PHALANX__CTL_REQUEST__OP__PROTECT)
		; /* px_store_protect_request wrote it */
	else if (is_list)
		snprintf(what, sizeof(what), "%s %s", op_name(op),
			 op == PHALANX__CTL_REQUEST__OP__RULE_ADD && req->rule ?
			 req->rule->name : op == PHALANX__CTL_REQUEST__OP__SERVICE_ADD &&
			 req->service ? req->service->name : req->name);
	else
		snprintf(what, sizeof(what), "%s %s (+%llu -%llu entries)",
			 op_name(op), req->set, (unsigned long long)d->added,
			 (unsigned long long)d->deleted);
	audit_pack(&audit, &rec, who, what, st->policy.version, version);
	rc = px_db_commit_audited(st->db, version, next.epoch, d->db, d->n,
				  is_limit || is_list ||
				  op == PHALANX__CTL_REQUEST__OP__SET_DESTROY ?
				  &next : NULL, &audit);
	free(rec);
	if (rc < 0) {
		fail(r, rc, "commit failed, nothing changed: %s",
		     px_db_strerror(rc));
		px_log(PX_LOG_ERR, "%s: version %llu: commit failed: %s",
		       op_name(op), (unsigned long long)version,
		       px_db_strerror(rc));
		goto out;
	}
	next.version = version;
	px_policy_free(&st->policy);
	st->policy = next;
	memset(&next, 0, sizeof(next));
	px_log(PX_LOG_INFO, "version %llu committed: %s %s (+%llu -%llu entries)",
	       (unsigned long long)version, op_name(op),
	       is_limit ? req->limit->name : is_list ? req->name : req->set,
	       (unsigned long long)d->added, (unsigned long long)d->deleted);
	pub->ready = true;
	pub->version = version;
	pub->limit = is_limit ? req->limit : NULL;
	pub->lists = is_list;
	px_policy_free(&next);
	return;
out:
	diff_free(d);
	memset(d, 0, sizeof(*d));
	px_policy_free(&next);
}

/* Committed, acknowledged, then published: a member never sees a
 * version the store could still lose. */
static void publish(px_store_t *st, publish_t *pub)
{
	px_lists_t lists;

	if (!pub->ready)
		return;
	memset(&lists, 0, sizeof(lists));
	if (pub->lists)
		px_lists_build(&st->policy, &lists);
	px_store_publish(st, pub->version, pub->d.pub, pub->d.n,
			 pub->limit ? &pub->limit : NULL, pub->limit ? 1 : 0,
			 pub->lists ? &lists : NULL);
	if (pub->lists)
		px_lists_free(&lists);
	diff_free(&pub->d);
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
		si[i]->count = st->policy.sets[i].entries.n;
	}
	rep->sets = si;
	rep->n_sets = st->policy.nsets;
	rep->now_ms = now;
}

/* The permission table's verdict (store/auth.c) for the key that sent
 * req: CURVE and ZAP say which key it is; it may have been deleted since
 * its handshake, and then it may do nothing. */
static bool permitted(const px_store_t *st, const px_rid_t *rid,
		      const Phalanx__CtlRequest *req, result_t *r,
		      const px_ident_t **who)
{
	const px_ident_t *key = px_auth_find(st->auth, rid->user);

	*who = key;
	px_role_t need = px_ctl_min_role(req->op);

	if (req->op == PHALANX__CTL_REQUEST__OP__ALERT_DEFINE &&
	    !req->alert_def)
		need = PX_ROLE_VIEWER; /* only lists the definitions */
	if (req->op == PHALANX__CTL_REQUEST__OP__PROTECT && req->protect &&
	    req->protect->kind == PHALANX__PROTECT_OP__KIND__SHOW)
		need = PX_ROLE_VIEWER; /* protection show, networks list */
	if (key && key->role != PX_ROLE_MEMBER && key->role >= need)
		return true;
	if (!key)
		fail(r, PX_EPERM, "%s: %s: the store no longer knows this key",
		     op_label(req->op), px_strerror(PX_EPERM));
	else
		fail(r, PX_EPERM, "%s: %s: it needs role %s, \"%s\" has %s",
		     op_label(req->op), px_strerror(PX_EPERM),
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

void px_store_ctl_in(px_store_t *st, const px_rid_t *peer,
		     Phalanx__Envelope *env, int rc)
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
	publish_t pub;
	px_lists_t lists;
	quota_reply_t quotas;
	const px_ident_t *who = NULL;
	history_reply_t hist = { 0 };
	px_rid_t rid = *peer;
	size_t i, ntiers = 0;

	memset(&pub, 0, sizeof(pub));
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
	ms = xcalloc(st->nmembers + 1, sizeof(*ms));
	msv = xcalloc(st->nmembers + 1, sizeof(*msv));
	for (i = 0; i < st->nmembers; i++)
		ms[i] = &msv[i];
	si = xcalloc(st->policy.nsets + 1, sizeof(*si));
	siv = xcalloc(st->policy.nsets + 1, sizeof(*siv));
	for (i = 0; i < st->policy.nsets; i++)
		si[i] = &siv[i];
	switch (env->ctl_request->op) {
	case PHALANX__CTL_REQUEST__OP__STATUS:
		status_reply(st, &rep, ms, si);
		quota_reply(st, ms, &quotas);
		break;
	case PHALANX__CTL_REQUEST__OP__SET_LIST: {
		const char *name = env->ctl_request->set;
		const px_set_t *s;

		status_reply(st, &rep, ms, si);
		rep.n_members = 0;
		if (!name[0])
			break;
		s = px_policy_find(&st->policy, name);
		if (!s) {
			fail(&r, PX_ENOSET, "no set named %.40s", name);
			break;
		}
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
		write_request(st, env->ctl_request, &r, &pub, who);
		break;
	case PHALANX__CTL_REQUEST__OP__PROTECT: /* issue 12: store/protect.c */
		if (!env->ctl_request->protect ||
		    env->ctl_request->protect->kind !=
		    PHALANX__PROTECT_OP__KIND__SHOW)
			write_request(st, env->ctl_request, &r, &pub, who);
		px_lists_build(&st->policy, &lists);
		rep.protection = lists.protection;
		break;
	case PHALANX__CTL_REQUEST__OP__ALERT_LIST:
	case PHALANX__CTL_REQUEST__OP__ALERT_RESET:
	case PHALANX__CTL_REQUEST__OP__ALERT_DEFINE:
		r.status = px_store_alerts_ctl(st, env->ctl_request, &rep,
					       r.error, sizeof(r.error),
					       &alerts_mem);
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN:
	case PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN:
		r.status = px_store_member_drain(st, env->ctl_request, r.error,
						 sizeof(r.error));
		break;
	case PHALANX__CTL_REQUEST__OP__LOG_LIST:
	case PHALANX__CTL_REQUEST__OP__TOP:
		r.status = px_store_log_ctl(st, env->ctl_request, &rep, r.error,
					    sizeof(r.error), &log_mem);
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE:
		r.status = px_store_members_ctl(st, env->ctl_request, r.error,
						sizeof(r.error));
		break;
	case PHALANX__CTL_REQUEST__OP__ADMIN_ADD:
	case PHALANX__CTL_REQUEST__OP__ADMIN_DEL:
	case PHALANX__CTL_REQUEST__OP__ADMIN_LIST:
	case PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL:
	case PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE:
		r.status = px_store_keys_ctl(st, env->ctl_request, &rep, r.error,
					     sizeof(r.error), &keys_mem);
		break;
	case PHALANX__CTL_REQUEST__OP__HISTORY:
		history_reply(st, env->ctl_request, &rep, &hist, &r);
		break;
	default:
		fail(&r, PX_EBADREQ, "unknown request %d", env->ctl_request->op);
	}
	if (r.status == 0)
		audit_other(st, env->ctl_request, who);
reply:
	rep.status = r.status;
	rep.error = r.error;
	rep.bad_entry = r.bad_entry;
	rep.version = st->policy.version;
	rep.epoch = st->policy.epoch;
	out.epoch = st->policy.epoch;
	out.body_case = PHALANX__ENVELOPE__BODY_CTL_REPLY;
	out.ctl_reply = &rep;
	if (rc != -EAGAIN && rid.len) {
		rc = px_wire_send(st->ctl, &rid, &out);
		if (rc < 0)
			px_log(PX_LOG_WARN, "ctl reply lost: %s", px_strerror(rc));
	}
	publish(st, &pub);
	px_store_alerts_reply_free(alerts_mem);
	px_store_log_reply_free(log_mem);
	free(keys_mem);
	history_reply_free(&hist);
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
