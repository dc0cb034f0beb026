/* ops.c - the writes phalanxctl sends, one Operation each: a table of
 * {operation, command, least role, handler}.  A handler validates
 * against the store's indexed state (lib/policy.c px_set_*: O(k log n)
 * for k entries in a set of n, never a copy of the policy), commits in
 * one LMDB transaction with its audit record, applies, and leaves
 * exactly its delta to publish. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts.h"
#include "auth.h"
#include "canary.h"
#include "codec.h"
#include "config.h"
#include "px.h"
#include "raft.h"
#include "replicate.h"
#include "store.h"
#include "versions.h"

#define FLOOD_EXCEPTIONS "flood-exceptions"
#define PX_CONFIRM_MAX_S 86400

/* One write being run. */
typedef struct {
	px_store_t *st;
	const Phalanx__Operation *op;
	const char *name;          /* its command */
	const px_ident_t *who;
	Phalanx__CtlReply *rep;
	px_ctl_result_t *r;
	px_op_done_t *done;
	uint64_t t0;               /* µs: request in */
	uint64_t validate_us;      /* µs: request in to validated */
	/* Raft (store/replicate.c): dry validates only (commit() answers
	 * PX_OP_VALID, nothing is written or changed); time_ms, when not
	 * 0, is the leader's clock for the audit record, so that every
	 * store writes the same one. */
	bool dry;
	uint64_t time_ms;
	uint64_t settles;          /* a revert: the version it settles */
} op_t;

/* commit() in a dry run: the write was validated and would commit. */
#define PX_OP_VALID 1

typedef int (*op_fn)(op_t *o);

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int fail(op_t *o, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(op_t *o, int status, const char *fmt, ...)
{
	va_list ap;

	o->r->status = status;
	va_start(ap, fmt);
	vsnprintf(o->r->error, sizeof(o->r->error), fmt, ap);
	va_end(ap);
	return status;
}

/* The error text is in o->r->error already. */
static int fail_keep(op_t *o, int status)
{
	o->r->status = status;
	return status;
}

static const char *req_id(const op_t *o)
{
	return o->op->request_id && o->op->request_id[0] ?
	       o->op->request_id : "-";
}

/* ---- commit: one transaction with the audit record ---- */

static void audit_pack(px_db_audit_t *a, uint8_t **buf, const op_t *o,
		       const char *what, uint64_t before, uint64_t after)
{
	Phalanx__HistoryRecord h = PHALANX__HISTORY_RECORD__INIT;

	memset(a, 0, sizeof(*a));
	h.time_ms = o->time_ms ? o->time_ms : px_now_ms();
	h.who = o->who ? (char *)o->who->name : "?";
	h.role = (char *)px_role_name(o->who ? o->who->role : PX_ROLE_NONE);
	h.what = (char *)what;
	h.version_before = before;
	h.version_after = after;
	h.request_id = o->op->request_id ? o->op->request_id : "";
	a->len = phalanx__history_record__get_packed_size(&h);
	*buf = xmalloc(a->len ? a->len : 1);
	phalanx__history_record__pack(&h, *buf);
	a->rec = *buf;
	a->time_ms = h.time_ms;
	a->who = h.who;
	if (o->op->confirm_s)
		a->confirm_by_ms = h.time_ms + (uint64_t)o->op->confirm_s * 1000;
	if (o->op->canary && o->op->canary[0]) {
		uint32_t s = o->op->canary_s ? o->op->canary_s :
			     PX_CANARY_DEFAULT_S;

		a->canary_member = o->op->canary;
		a->canary_s = s;
		a->confirm_by_ms = h.time_ms +
			(uint64_t)(s + PX_CANARY_GRACE_S) * 1000;
	}
	a->settles = o->settles;
}

/* Commit the next version: ops, meta's limits, rules and services if
 * meta != NULL, and the record of what.  Logs the timings. */
static int commit(op_t *o, const px_db_op_t *ops, size_t nops,
		  const px_policy_t *meta, const char *what)
{
	px_store_t *st = o->st;
	uint64_t version = st->policy.version + 1, write_us = 0, sync_us = 0;
	px_db_audit_t audit;
	uint8_t *rec = NULL;
	int rc;

	o->validate_us = now_us() - o->t0;
	audit_pack(&audit, &rec, o, what, st->policy.version, version);
	if (o->dry) {
		/* Under Raft: a write that would not fit the map is not
		 * proposed (every store would refuse it alike). */
		rc = px_db_commit_check(st->db, version, ops, nops, meta,
					audit.len);
		free(rec);
		if (rc < 0)
			return fail(o, rc, "not proposed, nothing changed: %s",
				    px_db_strerror(rc));
		return PX_OP_VALID;
	}
	rc = px_db_commit_audited(st->db, version, st->policy.epoch, ops, nops,
				  meta, &audit);
	free(rec);
	if (rc < 0) {
		fail(o, rc, "commit failed, nothing changed: %s",
		     px_db_strerror(rc));
		px_log(PX_LOG_ERR, "%s: version %llu: request %s: commit failed: "
		       "%s", o->name, (unsigned long long)version, req_id(o),
		       px_db_strerror(rc));
		return rc;
	}
	st->policy.version = version;
	o->done->version = version;
	px_db_last_commit_us(st->db, &write_us, &sync_us);
	px_log(PX_LOG_INFO, "version %llu committed: %s, request %s by %s; "
	       "store us: validate %llu write %llu sync %llu",
	       (unsigned long long)version, what, req_id(o),
	       o->who ? o->who->name : "?",
	       (unsigned long long)o->validate_us,
	       (unsigned long long)write_us, (unsigned long long)sync_us);
	return 0;
}

/* After a commit and the in-memory apply: the whole cost, the fsync
 * excluded (what `tests/bench/store_commit.sh' reads). */
static void log_timing(const op_t *o)
{
	uint64_t write_us = 0, sync_us = 0, total = now_us() - o->t0;

	px_db_last_commit_us(o->st->db, &write_us, &sync_us);
	px_log(PX_LOG_INFO, "version %llu timing: request %s: total %llu us, "
	       "without the fsync %llu us (validate %llu, write %llu, "
	       "apply and delta %llu)",
	       (unsigned long long)o->done->version, req_id(o),
	       (unsigned long long)total,
	       (unsigned long long)(total > sync_us ? total - sync_us : 0),
	       (unsigned long long)o->validate_us,
	       (unsigned long long)write_us,
	       (unsigned long long)(total - o->validate_us - write_us -
				    sync_us));
}

/* The small part of the policy (limits, rules, services) copied for a
 * change to it; the sets are the store's own, read only. */
static void meta_copy(px_policy_t *m, const px_policy_t *p)
{
	*m = *p;
	px_limits_copy(&m->limits, &p->limits);
	m->rules = xmalloc((p->nrules + 1) * sizeof(*p->rules));
	if (p->nrules)
		memcpy(m->rules, p->rules, p->nrules * sizeof(*p->rules));
	m->services = xmalloc((p->nservices + 1) * sizeof(*p->services));
	if (p->nservices)
		memcpy(m->services, p->services,
		       p->nservices * sizeof(*p->services));
}

static void meta_free(px_policy_t *m)
{
	px_limits_free(&m->limits);
	free(m->rules);
	free(m->services);
	memset(m, 0, sizeof(*m));
}

/* The store takes m's limits, rules and services. */
static void meta_take(px_policy_t *p, px_policy_t *m)
{
	px_limits_free(&p->limits);
	free(p->rules);
	free(p->services);
	p->limits = m->limits;
	p->rules = m->rules;
	p->nrules = m->nrules;
	p->services = m->services;
	p->nservices = m->nservices;
	p->protect = m->protect;
	memset(m, 0, sizeof(*m));
}

/* ---- exception sets ---- */

/* Index (1-based) in the request of an entry equal to e, else 0. */
static uint64_t request_index(const px_entries_t *req, const px_entry_t *e)
{
	size_t i;

	for (i = 0; i < req->n; i++)
		if (px_entry_cmp(&req->v[i], e) == 0)
			return i + 1;
	return 0;
}

static int overlap_fail(op_t *o, const char *set, const px_entries_t *in,
			const px_entry_t *mine, const px_entry_t *other)
{
	char ms[PX_ENTRY_STR_MAX], os[PX_ENTRY_STR_MAX];

	px_entry_format(mine, ms, sizeof(ms));
	px_entry_format(other, os, sizeof(os));
	o->r->bad_entry = request_index(in, mine);
	o->rep->overlap_entry = request_index(in, other);
	return fail(o, PX_EOVERLAP, "%s overlaps %s in set %s", ms, os, set);
}

/* Two prefixes of a sorted list that overlap: the later one is blamed,
 * named first. */
static int list_overlap_fail(op_t *o, const char *set, const px_entries_t *in,
			     const px_entries_t *list)
{
	const px_entry_t *a, *b;

	if (px_entries_check_overlap(list, &a, &b) == 0)
		return 0;
	return overlap_fail(o, set, in, b, a);
}

static px_set_t *set_named(op_t *o, const char *name)
{
	px_set_t *s;

	if (!px_setname_valid(name)) {
		fail(o, PX_ESETNAME, "invalid set name `%.40s'", name);
		return NULL;
	}
	s = px_policy_find(&o->st->policy, name);
	if (!s)
		fail(o, PX_ENOSET, "no set named %s", name);
	return s;
}

/* Decode e's entries into *in (the caller frees it), counts first: a
 * request over the cap is refused before it is decoded. */
static int set_decode(op_t *o, const Phalanx__SetEntries *e, px_entries_t *in)
{
	size_t bad = 0;
	int rc;

	px_entries_init(in);
	if (e->n_entries > PX_SET_ENTRIES_MAX)
		return fail(o, PX_ETOOBIG, "%s %.40s: %zu entries in one "
			    "request, a set holds at most %d", o->name, e->set,
			    e->n_entries, PX_SET_ENTRIES_MAX);
	rc = px_wire_unpack_entries(e->entries, e->n_entries, in, &bad);
	if (rc < 0) {
		o->r->bad_entry = bad;
		return fail(o, rc, "entry %zu: %s", bad, px_strerror(rc));
	}
	return 0;
}

/* Commit and apply set s := s + add - del (either may be empty), and
 * leave the delta to publish.  Nothing to do is no new version.  whole
 * (may be NULL): the set as it will be, taken instead of applying the
 * delta (an import: no second copy of a big set). */
static int set_commit(op_t *o, px_set_t *s, px_entries_t *add,
		      px_entries_t *del, px_entries_t *whole)
{
	px_op_done_t *d = o->done;
	px_db_op_t dbo[2];
	char what[256];
	size_t n = 0;
	int rc;

	if (!add->n && !del->n) {
		px_log(PX_LOG_INFO, "%s %s: no change, still version %llu "
		       "(request %s)", o->name, s->name,
		       (unsigned long long)o->st->policy.version, req_id(o));
		return 0;
	}
	if (del->n)
		dbo[n++] = (px_db_op_t){ PX_DB_DEL, s->name, del, 0 };
	if (add->n)
		dbo[n++] = (px_db_op_t){ PX_DB_ADD, s->name, add, 0 };
	snprintf(what, sizeof(what), "%s %s (+%zu -%zu entries)", o->name,
		 s->name, add->n, del->n);
	if ((rc = commit(o, dbo, n, NULL, what)) != 0)
		return rc;
	if (whole) {
		px_entries_free(&s->entries);
		px_entries_free(&s->padd);
		px_entries_free(&s->pdel);
		s->entries = *whole;
		px_entries_init(whole);
	} else {
		px_set_change(s, add, del);
	}
	snprintf(d->set, sizeof(d->set), "%s", s->name);
	d->add = *add;
	d->del = *del;
	px_entries_init(add);
	px_entries_init(del);
	if (d->del.n)
		d->ops[d->nops++] = (px_pubop_t){ PHALANX__SET_OP__KIND__DEL,
						  d->set, d->del.v, d->del.n };
	if (d->add.n)
		d->ops[d->nops++] = (px_pubop_t){ PHALANX__SET_OP__KIND__ADD,
						  d->set, d->add.v, d->add.n };
	d->publish = true;
	return 0;
}

static int set_add(op_t *o)
{
	const Phalanx__SetEntries *e = o->op->set_add;
	px_entries_t in, add, none;
	px_set_t *s;
	size_t i, count;
	int rc;

	px_entries_init(&add);
	px_entries_init(&none);
	if (!(s = set_named(o, e->set)))
		return o->r->status;
	if ((rc = set_decode(o, e, &in)) < 0)
		goto out;
	/* What is new, sorted; each new prefix against the set (index) and
	 * the new ones against each other. */
	px_entries_copy(&add, &in);
	px_entries_normalize(&add);
	for (i = count = 0; i < add.n; i++) {
		const px_entry_t *other;

		if (px_set_has(s, &add.v[i]))
			continue;
		if ((other = px_set_overlap(s, &add.v[i])) != NULL) {
			rc = overlap_fail(o, s->name, &in, &add.v[i], other);
			goto out;
		}
		add.v[count++] = add.v[i];
	}
	add.n = count;
	if ((rc = list_overlap_fail(o, s->name, &in, &add)) < 0)
		goto out;
	if (px_set_count(s) + add.n > PX_SET_ENTRIES_MAX) {
		rc = fail(o, PX_ERANGE, "set %s would hold %zu entries, at "
			  "most %d", s->name, px_set_count(s) + add.n,
			  PX_SET_ENTRIES_MAX);
		goto out;
	}
	rc = set_commit(o, s, &add, &none, NULL);
out:
	px_entries_free(&in);
	px_entries_free(&add);
	return rc;
}

static int set_del(op_t *o)
{
	const Phalanx__SetEntries *e = o->op->set_del;
	px_entries_t in, none;
	px_set_t *s;
	size_t i;
	int rc;

	px_entries_init(&none);
	if (!(s = set_named(o, e->set)))
		return o->r->status;
	if ((rc = set_decode(o, e, &in)) < 0)
		goto out;
	for (i = 0; i < in.n; i++) {
		char es[PX_ENTRY_STR_MAX];

		if (px_set_has(s, &in.v[i]))
			continue;
		px_entry_format(&in.v[i], es, sizeof(es));
		o->r->bad_entry = i + 1;
		rc = fail(o, -ENOENT, "%s is not in set %s", es, s->name);
		goto out;
	}
	px_entries_normalize(&in);
	rc = set_commit(o, s, &none, &in, NULL);
out:
	px_entries_free(&in);
	return rc;
}

/* The set becomes the request's entries: a whole-set diff, O(n + k),
 * sorting the request in place (the request is decoded a second time
 * only to name an entry it blames). */
static int set_import(op_t *o)
{
	const Phalanx__SetEntries *e = o->op->set_import;
	const px_entry_t *a, *b;
	px_entries_t in, orig, add, del;
	px_set_t *s;
	size_t bad;
	int rc;

	px_entries_init(&add);
	px_entries_init(&del);
	if (!(s = set_named(o, e->set)))
		return o->r->status;
	if ((rc = set_decode(o, e, &in)) < 0)
		goto out;
	px_entries_normalize(&in);
	if (px_entries_check_overlap(&in, &a, &b) < 0) {
		px_entries_init(&orig);
		px_wire_unpack_entries(e->entries, e->n_entries, &orig, &bad);
		rc = overlap_fail(o, s->name, &orig, b, a);
		px_entries_free(&orig);
		goto out;
	}
	if (in.n > PX_SET_ENTRIES_MAX) {
		rc = fail(o, PX_ERANGE, "set %s would hold %zu entries, at "
			  "most %d", s->name, in.n, PX_SET_ENTRIES_MAX);
		goto out;
	}
	px_set_settle(s);
	px_entries_diff(&s->entries, &in, &add, &del);
	rc = set_commit(o, s, &add, &del, &in);
out:
	px_entries_free(&in);
	px_entries_free(&add);
	px_entries_free(&del);
	return rc;
}

static int set_create(op_t *o)
{
	const char *name = o->op->set_create->set;
	px_policy_t *p = &o->st->policy;
	px_op_done_t *d = o->done;
	px_db_op_t dbo;
	char what[128];
	int rc;

	if (!px_setname_valid(name))
		return fail(o, PX_ESETNAME, "invalid set name `%.40s'", name);
	if (px_policy_find(p, name))
		return fail(o, PX_EEXIST, "set %s already exists", name);
	if (p->nsets >= PX_SETS_MAX)
		return fail(o, PX_ERANGE, "at most %d sets", PX_SETS_MAX);
	dbo = (px_db_op_t){ PX_DB_CREATE, name, NULL, 0 };
	snprintf(what, sizeof(what), "%s %s (+0 -0 entries)", o->name, name);
	if ((rc = commit(o, &dbo, 1, NULL, what)) != 0)
		return rc;
	px_policy_add_set(p, name);
	snprintf(d->set, sizeof(d->set), "%s", name);
	d->ops[d->nops++] = (px_pubop_t){ PHALANX__SET_OP__KIND__CREATE, d->set,
					  NULL, 0 };
	d->publish = true;
	return 0;
}

/* Destroying a set also drops its tiers: the limits record follows in
 * the same transaction, or the next load refers to a set that is gone. */
static int set_destroy(op_t *o)
{
	const char *name = o->op->set_destroy->set;
	px_policy_t *p = &o->st->policy, m;
	px_op_done_t *d = o->done;
	px_db_op_t dbo;
	px_set_t *s;
	char what[128];
	size_t n;
	int rc;

	if (!(s = set_named(o, name)))
		return o->r->status;
	if (strcmp(name, FLOOD_EXCEPTIONS) == 0)
		return fail(o, PX_EPROTECTED, "set %s always exists", name);
	if (px_policy_set_in_use(p, name))
		return fail(o, -EBUSY, "set %s is used by a rule or service",
			    name);
	n = px_set_count(s);
	meta_copy(&m, p);
	px_limits_drop_set(&m.limits, name);
	dbo = (px_db_op_t){ PX_DB_DESTROY, name, NULL, n };
	snprintf(what, sizeof(what), "%s %s (+0 -%zu entries)", o->name, name,
		 n);
	rc = commit(o, &dbo, 1, &m, what);
	meta_free(&m);
	if (rc != 0)
		return rc;
	px_policy_del_set(p, name);
	snprintf(d->set, sizeof(d->set), "%s", name);
	d->ops[d->nops++] = (px_pubop_t){ PHALANX__SET_OP__KIND__DESTROY,
					  d->set, NULL, 0 };
	d->publish = true;
	return 0;
}

/* ---- limits, rules, services: small, changed on a copy of them ---- */

/* Commit m (the changed limits, rules, services) and take it. */
static int meta_commit(op_t *o, px_policy_t *m, const char *what)
{
	int rc = commit(o, NULL, 0, m, what);

	if (rc == 0) {
		meta_take(&o->st->policy, m);
		o->done->publish = true;
	}
	return rc;
}

static int limit_set(op_t *o)
{
	Phalanx__LimitOp *op = o->op->limit_set;
	px_policy_t m;
	char what[256];
	int rc;

	meta_copy(&m, &o->st->policy);
	rc = px_policy_apply_limitops(&m, &op, 1);
	if (rc < 0) {
		fail(o, rc, "limits set %.40s%s%.40s %llu: %s", op->name,
		     op->tier[0] ? " --set " : "", op->tier,
		     (unsigned long long)op->value, px_strerror(rc));
		goto out;
	}
	snprintf(what, sizeof(what), "limits set %s %llu%s%s%s%s", op->name,
		 (unsigned long long)op->value, op->mode[0] ? " --mode " : "",
		 op->mode, op->tier[0] ? " --set " : "", op->tier);
	if ((rc = meta_commit(o, &m, what)) == 0)
		o->done->limit = op;
out:
	meta_free(&m);
	return rc;
}

static int rule_add(op_t *o)
{
	const Phalanx__RuleAdd *ra = o->op->rule_add;
	const char *before = ra->before;
	px_policy_t m;
	px_rule_t nr;
	char what[128];
	size_t n, i, at;
	int rc;

	if (!ra->rule)
		return fail(o, PX_EBADREQ, "rules add: no rule given");
	meta_copy(&m, &o->st->policy);
	n = at = m.nrules;
	if (n >= PX_RULES_MAX) {
		rc = fail(o, PX_ERANGE, "at most %d rules", PX_RULES_MAX);
		goto out;
	}
	if ((rc = px_rule_from_proto(&m, ra->rule, &nr)) < 0) {
		fail(o, rc, "rule %.40s: %s", ra->rule->name, px_strerror(rc));
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(m.rules[i].name, nr.name) == 0) {
			rc = fail(o, PX_EEXIST, "rule %s already exists",
				  nr.name);
			goto out;
		}
		if (before[0] && at == n && strcmp(m.rules[i].name, before) == 0)
			at = i;
	}
	if (before[0] && at == n) {
		rc = fail(o, -ENOENT, "no rule named %.40s to insert before",
			  before);
		goto out;
	}
	memmove(&m.rules[at + 1], &m.rules[at], (n - at) * sizeof(nr));
	m.rules[at] = nr;
	m.nrules++;
	snprintf(what, sizeof(what), "%s %s", o->name, nr.name);
	if ((rc = meta_commit(o, &m, what)) == 0)
		o->done->lists = true;
out:
	meta_free(&m);
	return rc;
}

static int service_add(op_t *o)
{
	const Phalanx__Service *sv = o->op->service_add;
	px_policy_t m;
	px_service_t ns;
	char what[128];
	size_t i;
	int rc;

	meta_copy(&m, &o->st->policy);
	if (m.nservices >= PX_SERVICES_MAX) {
		rc = fail(o, PX_ERANGE, "at most %d services", PX_SERVICES_MAX);
		goto out;
	}
	if ((rc = px_service_from_proto(&m, sv, &ns)) < 0) {
		fail(o, rc, "service %.40s: %s", sv->name, px_strerror(rc));
		goto out;
	}
	for (i = 0; i < m.nservices; i++)
		if (strcmp(m.services[i].name, ns.name) == 0) {
			rc = fail(o, PX_EEXIST, "service %s already exists",
				  ns.name);
			goto out;
		}
	m.services[m.nservices++] = ns;
	snprintf(what, sizeof(what), "%s %s", o->name, ns.name);
	if ((rc = meta_commit(o, &m, what)) == 0)
		o->done->lists = true;
out:
	meta_free(&m);
	return rc;
}

/* rules del, services del: one list, by name. */
static int list_del(op_t *o, bool is_rule, const char *name)
{
	const char *what = is_rule ? "rule" : "service";
	px_policy_t m;
	char rec[128];
	size_t n, i;
	int rc;

	meta_copy(&m, &o->st->policy);
	n = is_rule ? m.nrules : m.nservices;
	for (i = 0; i < n; i++)
		if (strcmp(is_rule ? m.rules[i].name : m.services[i].name,
			   name) == 0)
			break;
	if (i == n) {
		rc = fail(o, -ENOENT, "no %s named %.40s", what, name);
		goto out;
	}
	if (is_rule) {
		memmove(&m.rules[i], &m.rules[i + 1],
			(n - i - 1) * sizeof(*m.rules));
		m.nrules--;
	} else {
		memmove(&m.services[i], &m.services[i + 1],
			(n - i - 1) * sizeof(*m.services));
		m.nservices--;
	}
	snprintf(rec, sizeof(rec), "%s %s", o->name, name);
	if ((rc = meta_commit(o, &m, rec)) == 0)
		o->done->lists = true;
out:
	meta_free(&m);
	return rc;
}

static int rule_del(op_t *o)
{
	return list_del(o, true, o->op->rule_del->name);
}

static int service_del(op_t *o)
{
	return list_del(o, false, o->op->service_del->name);
}

/* ---- writes outside the policy's versions: keys, alerts, members ----
 * Their modules take a CtlRequest: the operation is lowered to one.
 * They are recorded after they succeed, in a transaction of their own. */

static void audit_other(op_t *o, const char *what)
{
	px_db_audit_t a;
	uint8_t *rec;
	int rc;

	audit_pack(&a, &rec, o, what, o->st->policy.version,
		   o->st->policy.version);
	rc = px_db_history_put(o->st->db, &a);
	free(rec);
	if (rc < 0)
		px_log(PX_LOG_ERR, "history: cannot record `%s' (request %s) "
		       "by %s: %s", what, req_id(o),
		       o->who ? o->who->name : "?", px_db_strerror(rc));
}

/* A write outside the policy in a dry run: its module validates as it
 * writes, so the leader proposes it and every store's module decides
 * alike (a member's liveness is the leader's to check: member_op). */
static int other_dry(op_t *o)
{
	return o->dry ? PX_OP_VALID : 0;
}

static int other_done(op_t *o, int rc, const char *what)
{
	o->r->status = rc;
	if (rc < 0) {
		px_log(PX_LOG_INFO, "%s refused (request %s): %s", o->name,
		       req_id(o), o->r->error);
		return rc;
	}
	audit_other(o, what);
	px_log(PX_LOG_INFO, "%s done, request %s by %s", what, req_id(o),
	       o->who ? o->who->name : "?");
	return 0;
}

static int alert_reset(op_t *o)
{
	const Phalanx__AlertReset *a = o->op->alert_reset;
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	char what[160];

	if (o->dry)
		return other_dry(o);
	req.op = PHALANX__CTL_REQUEST__OP__ALERT_RESET;
	req.alert_id = a->alert_id;
	req.all = a->all;
	snprintf(what, sizeof(what), "alerts reset %.100s",
		 a->all ? "--all" : a->alert_id);
	return other_done(o, px_store_alerts_ctl(o->st, &req, o->rep,
						 o->r->error,
						 sizeof(o->r->error),
						 &o->done->alerts_mem), what);
}

static int alert_define(op_t *o)
{
	const Phalanx__AlertDefine *a = o->op->alert_define;
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	char what[160];

	if (!a->def)
		return fail(o, PX_EBADREQ, "alerts define: no definition given");
	if (o->dry)
		return other_dry(o);
	req.op = PHALANX__CTL_REQUEST__OP__ALERT_DEFINE;
	req.alert_def = a->def;
	req.define_enabled = a->set_enabled;
	req.define_manual = a->set_manual;
	snprintf(what, sizeof(what), "alerts define %.100s", a->def->type);
	return other_done(o, px_store_alerts_ctl(o->st, &req, o->rep,
						 o->r->error,
						 sizeof(o->r->error),
						 &o->done->alerts_mem), what);
}

static int member_op(op_t *o, int legacy, const char *member)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	char what[160];
	int rc;

	req.op = legacy;
	req.member = (char *)member;
	snprintf(what, sizeof(what), "%s %.64s", o->name, member);
	if (o->dry && legacy == PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE &&
	    (rc = px_store_member_removable(o->st, member, o->r->error,
					    sizeof(o->r->error))) < 0)
		return fail_keep(o, rc);
	if (o->dry)
		return other_dry(o);
	if (legacy == PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE)
		rc = px_store_members_ctl(o->st, &req, o->r->error,
					  sizeof(o->r->error));
	else
		rc = px_store_member_drain(o->st, &req, o->r->error,
					   sizeof(o->r->error));
	return other_done(o, rc, what);
}

static int member_remove(op_t *o)
{
	return member_op(o, PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE,
			 o->op->member_remove->member);
}

static int member_drain(op_t *o)
{
	return member_op(o, PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN,
			 o->op->member_drain->member);
}

static int member_undrain(op_t *o)
{
	return member_op(o, PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN,
			 o->op->member_undrain->member);
}

static int key_op(op_t *o, int legacy, const char *name, const char *key,
		  const char *role)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	char what[200];
	void *mem = NULL;
	int rc;

	if (o->dry)
		return other_dry(o);
	req.op = legacy;
	req.name = (char *)name;
	req.key = (char *)(key ? key : "");
	req.role = (char *)(role ? role : "");
	if (legacy == PHALANX__CTL_REQUEST__OP__ADMIN_ADD)
		snprintf(what, sizeof(what), "%s %.64s --role %.16s", o->name,
			 name, req.role);
	else
		snprintf(what, sizeof(what), "%s %.64s", o->name, name);
	rc = px_store_keys_ctl(o->st, &req, o->rep, o->r->error,
			       sizeof(o->r->error), &mem);
	free(mem); /* only lists fill it */
	return other_done(o, rc, what);
}

static int admin_add(op_t *o)
{
	const Phalanx__KeyAdd *k = o->op->admin_add;

	return key_op(o, PHALANX__CTL_REQUEST__OP__ADMIN_ADD, k->name, k->key,
		      k->role);
}

static int admin_del(op_t *o)
{
	return key_op(o, PHALANX__CTL_REQUEST__OP__ADMIN_DEL,
		      o->op->admin_del->name, NULL, NULL);
}

static int member_enroll(op_t *o)
{
	const Phalanx__KeyAdd *k = o->op->member_enroll;

	return key_op(o, PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL, k->name,
		      k->key, NULL);
}

static int member_revoke(op_t *o)
{
	return key_op(o, PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE,
		      o->op->member_revoke->name, NULL, NULL);
}

/* networks add/del, policy default, protection set (store/protect.c):
 * small and inline in the policy, changed on a copy like the rules. */
static int protect(op_t *o)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	px_policy_t m;
	char what[256] = "";
	int rc;

	req.op = PHALANX__CTL_REQUEST__OP__PROTECT;
	req.protect = o->op->protect;
	meta_copy(&m, &o->st->policy);
	rc = px_store_protect_request(&m, &req, o->r->error,
				      sizeof(o->r->error), what, sizeof(what));
	if (rc < 0)
		o->r->status = rc;
	else if ((rc = meta_commit(o, &m, what)) == 0)
		o->done->lists = true;
	meta_free(&m);
	return rc;
}

/* ---- versions: rollback, revert, confirm (store/versions.c) ---- */

/* The sets the policy will have after plan, with no entries, and the
 * limits and lists of plan->meta_to on them: the meta to commit. */
static int plan_meta(op_t *o, const px_vdiff_t *plan, px_policy_t *sk)
{
	const px_policy_t *p = &o->st->policy;
	size_t i, j;
	int rc;

	px_policy_init(sk);
	for (i = 0; i < p->nsets; i++) {
		for (j = 0; j < plan->nsets; j++)
			if (plan->sets[j].destroyed &&
			    strcmp(plan->sets[j].name, p->sets[i].name) == 0)
				break;
		if (j == plan->nsets && !px_policy_find(sk, p->sets[i].name))
			px_policy_add_set(sk, p->sets[i].name);
	}
	for (j = 0; j < plan->nsets; j++)
		if (plan->sets[j].created)
			px_policy_add_set(sk, plan->sets[j].name);
	if (plan->meta_to_len &&
	    (rc = px_db_meta_apply(sk, plan->meta_to, plan->meta_to_len)) < 0)
		return fail(o, rc, "the limits and lists to restore do not "
			    "apply: %s; nothing changed", px_strerror(rc));
	return 0;
}

static void skeleton_free(px_policy_t *sk)
{
	size_t i;

	for (i = 0; i < sk->nsets; i++)
		px_entries_free(&sk->sets[i].entries);
	free(sk->sets);
	sk->sets = NULL;
	sk->nsets = 0;
}

/* Check plan against the store's sets (the records must agree with
 * them: anything else refuses, nothing changed) and list its writes. */
static int plan_check(op_t *o, const px_vdiff_t *plan, px_db_op_t *dbo,
		      size_t *n)
{
	const px_policy_t *p = &o->st->policy;
	size_t i, j, k = 0, nsets = p->nsets;

	for (i = 0; i < plan->nsets; i++) {
		const px_vset_t *v = &plan->sets[i];
		const px_set_t *s = px_policy_find(p, v->name);
		const px_entry_t *bad = NULL;

		if (v->created ? s != NULL : s == NULL)
			return fail(o, PX_EDBCORRUPT, "set %s %s: the versions' "
				    "records disagree with the sets; nothing "
				    "changed", v->name, s ? "exists" :
				    "does not exist");
		if (v->destroyed && strcmp(v->name, FLOOD_EXCEPTIONS) == 0)
			return fail(o, PX_EPROTECTED, "set %s always exists",
				    v->name);
		for (j = 0; s && j < v->del.n && !bad; j++)
			if (!px_set_has(s, &v->del.v[j]))
				bad = &v->del.v[j];
		for (j = 0; s && j < v->add.n && !bad; j++)
			if (px_set_has(s, &v->add.v[j]) ||
			    px_set_overlap(s, &v->add.v[j]))
				bad = &v->add.v[j];
		if (bad) {
			char es[PX_ENTRY_STR_MAX];

			px_entry_format(bad, es, sizeof(es));
			return fail(o, PX_EDBCORRUPT, "set %s, %s: the "
				    "versions' records disagree with the set; "
				    "nothing changed", v->name, es);
		}
		if (v->created) {
			dbo[k++] = (px_db_op_t){ PX_DB_CREATE, v->name, NULL, 0 };
			nsets++;
		}
		if (v->destroyed) {
			dbo[k++] = (px_db_op_t){ PX_DB_DESTROY, v->name, NULL,
						 px_set_count(s) };
			continue;
		}
		if (v->del.n)
			dbo[k++] = (px_db_op_t){ PX_DB_DEL, v->name, &v->del, 0 };
		if (v->add.n)
			dbo[k++] = (px_db_op_t){ PX_DB_ADD, v->name, &v->add, 0 };
		if ((s ? px_set_count(s) : 0) + v->add.n - v->del.n >
		    PX_SET_ENTRIES_MAX)
			return fail(o, PX_ERANGE, "set %s would hold more than "
				    "%d entries", v->name, PX_SET_ENTRIES_MAX);
	}
	if (nsets > PX_SETS_MAX)
		return fail(o, PX_ERANGE, "at most %d sets", PX_SETS_MAX);
	*n = k;
	return 0;
}

/* Commit plan (the policy from now on: plan->to's, or a version's undo)
 * as one version, apply it and leave it to publish. */
static int plan_apply(op_t *o, px_vdiff_t *plan, const char *what)
{
	px_policy_t *p = &o->st->policy, sk;
	px_op_done_t *d = o->done;
	px_db_op_t *dbo = xcalloc(3 * plan->nsets + 1, sizeof(*dbo));
	size_t n = 0, i;
	int rc;

	memset(&sk, 0, sizeof(sk));
	if (3 * plan->nsets > PX_DB_OPS_MAX) {
		rc = fail(o, PX_ERANGE, "%zu sets change: at most %d", plan->nsets,
			  PX_DB_OPS_MAX / 3);
		goto out;
	}
	if ((rc = plan_check(o, plan, dbo, &n)) < 0)
		goto out;
	if (plan->meta && (rc = plan_meta(o, plan, &sk)) < 0)
		goto out;
	if (n == 0 && !plan->meta) {
		px_log(PX_LOG_INFO, "%s: no change, still version %llu "
		       "(request %s)", what, (unsigned long long)p->version,
		       req_id(o));
		rc = 0;
		goto out;
	}
	if ((rc = commit(o, dbo, n, plan->meta ? &sk : NULL, what)) != 0)
		goto out;
	for (i = 0; i < plan->nsets; i++) {
		px_vset_t *v = &plan->sets[i];
		px_set_t *s;

		if (v->created)
			px_policy_add_set(p, v->name);
		if (v->destroyed) {
			px_policy_del_set(p, v->name);
			continue;
		}
		if ((s = px_policy_find(p, v->name)) && (v->add.n || v->del.n))
			px_set_change(s, &v->add, &v->del);
	}
	if (plan->meta) {
		d->old_limits = xcalloc(1, sizeof(*d->old_limits));
		px_limits_copy(d->old_limits, &p->limits);
		skeleton_free(&sk);
		sk.version = p->version;
		sk.epoch = p->epoch;
		meta_take(p, &sk);
		d->lists = true;
	}
	d->plan = xmalloc(sizeof(*d->plan));
	*d->plan = *plan;
	memset(plan, 0, sizeof(*plan));
	d->publish = true;
out:
	if (sk.sets)
		skeleton_free(&sk);
	px_policy_free(&sk);
	free(dbo);
	return rc;
}

static int rollback(op_t *o)
{
	uint64_t v = o->op->rollback->version, cur = o->st->policy.version;
	char what[128], err[256] = "";
	px_vdiff_t plan;
	int rc;

	if (v >= cur)
		return fail(o, PX_ERANGE, v == cur ? "version %llu is the "
			    "current version: nothing to roll back" :
			    "version %llu is newer than the current version "
			    "%llu", (unsigned long long)v,
			    (unsigned long long)cur);
	rc = px_versions_diff(o->st->db, cur, v, &plan, err, sizeof(err));
	if (rc < 0) {
		fail(o, rc, "rollback to version %llu: %s", (unsigned long long)v,
		     err);
	} else {
		snprintf(what, sizeof(what), "rollback to version %llu (from "
			 "%llu)", (unsigned long long)v, (unsigned long long)cur);
		rc = plan_apply(o, &plan, what);
	}
	px_vdiff_free(&plan);
	return rc;
}

/* Take version v off the pending list (confirmed, released, or a revert
 * with nothing left to undo), recording what in the audit trail; the
 * policy's version stays.  0 or the database's code. */
static int settle_pending(op_t *o, uint64_t v, const char *what)
{
	px_db_audit_t a;
	uint8_t *rec;
	int rc;

	audit_pack(&a, &rec, o, what, o->st->policy.version,
		   o->st->policy.version);
	rc = px_db_confirm_del(o->st->db, v, &a);
	free(rec);
	return rc;
}

/* The store's own revert of a version whose --confirm ran out (proposed
 * by store/main.c's tick as the store itself; refused from clients in
 * store/ctl.c). */
static int revert(op_t *o)
{
	uint64_t v = o->op->revert->version;
	char what[160], err[256] = "";
	px_vdiff_t plan;
	int rc;

	const char *why = o->op->revert->why;
	bool canary = why && why[0];

	if (!px_versions_pending(o->st->db, v))
		return fail(o, -ENOENT, "version %llu is not waiting for a "
			    "confirmation", (unsigned long long)v);
	rc = px_versions_undo(o->st->db, &o->st->policy, v, &plan, err,
			      sizeof(err));
	if (rc < 0) {
		fail(o, rc, "revert of version %llu: %s", (unsigned long long)v,
		     err);
		goto out;
	}
	if (canary)
		snprintf(what, sizeof(what), "revert of canary version %llu "
			 "(%.100s)", (unsigned long long)v, why);
	else
		snprintf(what, sizeof(what), "revert of version %llu (not "
			 "confirmed in time)", (unsigned long long)v);
	o->settles = v;
	rc = plan_apply(o, &plan, what);
	if (rc == 0 && !o->done->publish && !o->dry) {
		/* Nothing of it is left to undo: only settle it. */
		snprintf(what, sizeof(what), "revert of version %llu (%.100s): "
			 "nothing left to undo", (unsigned long long)v,
			 canary ? why : "not confirmed in time");
		rc = settle_pending(o, v, what);
		if (rc < 0 && rc != -ENOENT)
			fail(o, rc, "%s", px_db_strerror(rc));
		else
			rc = 0;
	}
	if (rc == 0 && !o->dry) {
		px_log(PX_LOG_WARN, "version %llu %s%s: reverted as version "
		       "%llu", (unsigned long long)v, canary ? "failed as a "
		       "canary: " : "was not confirmed in time", canary ? why :
		       "", (unsigned long long)o->st->policy.version);
		px_store_canary_settled(o->st, v, true, o->st->policy.version,
					canary ? why : "no verdict in time");
	}
out:
	px_vdiff_free(&plan);
	return rc;
}

static int config_apply(op_t *o)
{
	char what[160], err[512] = "";
	px_vdiff_t plan;
	int rc;

	rc = px_config_plan(&o->st->policy, o->op->config_apply, &plan, err,
			    sizeof(err));
	if (rc < 0) {
		fail(o, rc, "config apply: %s; nothing changed", err);
	} else {
		snprintf(what, sizeof(what), "config apply (%zu sets)",
			 o->op->config_apply->n_sets);
		rc = plan_apply(o, &plan, what);
	}
	px_vdiff_free(&plan);
	return rc;
}

static int confirm(op_t *o)
{
	uint64_t v = o->op->confirm->version;
	char what[64];
	int rc;

	if (!px_versions_pending(o->st->db, v))
		return fail(o, -ENOENT, "version %llu is not waiting for a "
			    "confirmation (confirmed or reverted already, or "
			    "made without --confirm)", (unsigned long long)v);
	if (px_store_canary_member(o->st, v, what, sizeof(what)) > 0)
		return fail(o, PX_EBADREQ, "version %llu is a canary on %s: "
			    "the store releases it once that member stayed "
			    "healthy", (unsigned long long)v, what);
	if (o->dry)
		return PX_OP_VALID;
	snprintf(what, sizeof(what), "confirm version %llu",
		 (unsigned long long)v);
	rc = settle_pending(o, v, what);
	if (rc < 0)
		return fail(o, rc, "confirm version %llu: %s",
			    (unsigned long long)v, px_db_strerror(rc));
	px_log(PX_LOG_INFO, "%s, request %s by %s", what, req_id(o),
	       o->who ? o->who->name : "?");
	return 0;
}

/* The store's own release of a canary that stayed healthy (proposed by
 * px_store_canary_tick; refused from clients in store/ctl.c): it no
 * longer waits, and members other than its own apply it. */
static int canary_release(op_t *o)
{
	uint64_t v = o->op->canary_release->version;
	const char *why = o->op->canary_release->why;
	char what[200];
	int rc;

	if (!px_versions_pending(o->st->db, v))
		return fail(o, -ENOENT, "version %llu is not a canary in "
			    "progress", (unsigned long long)v);
	if (o->dry)
		return PX_OP_VALID;
	snprintf(what, sizeof(what), "release of canary version %llu "
		 "(%.100s)", (unsigned long long)v, why ? why : "");
	rc = settle_pending(o, v, what);
	if (rc < 0)
		return fail(o, rc, "release of version %llu: %s",
			    (unsigned long long)v, px_db_strerror(rc));
	px_log(PX_LOG_INFO, "%s: to every member", what);
	px_store_canary_settled(o->st, v, false, 0, why ? why : "");
	return 0;
}

/* The table: which role may run each operation is said here and only
 * here (docs/permissions.md is this table in words).  legacy: the
 * CtlRequest.op the operation replaced, whose row in store/auth.c's
 * perms[] must agree (checked at the first request). */
#define OPC(x) PHALANX__OPERATION__OP_##x
static const struct {
	Phalanx__Operation__OpCase op;
	const char *name;
	px_role_t role;
	int legacy;
	op_fn fn;
	bool policy;     /* changes the policy's version */
} ops[] = {
	{ OPC(SET_ADD), "exceptions add", PX_ROLE_OPERATOR,
	  PHALANX__CTL_REQUEST__OP__SET_ADD, set_add, true },
	{ OPC(SET_DEL), "exceptions del", PX_ROLE_OPERATOR,
	  PHALANX__CTL_REQUEST__OP__SET_DEL, set_del, true },
	{ OPC(SET_IMPORT), "exceptions import", PX_ROLE_OPERATOR,
	  PHALANX__CTL_REQUEST__OP__SET_IMPORT, set_import, true },
	{ OPC(SET_CREATE), "exceptions create", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__SET_CREATE, set_create, true },
	{ OPC(SET_DESTROY), "exceptions destroy", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__SET_DESTROY, set_destroy, true },
	{ OPC(LIMIT_SET), "limits set", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__LIMIT_SET, limit_set, true },
	{ OPC(RULE_ADD), "rules add", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__RULE_ADD, rule_add, true },
	{ OPC(RULE_DEL), "rules del", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__RULE_DEL, rule_del, true },
	{ OPC(SERVICE_ADD), "services add", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__SERVICE_ADD, service_add, true },
	{ OPC(SERVICE_DEL), "services del", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__SERVICE_DEL, service_del, true },
	{ OPC(ALERT_RESET), "alerts reset", PX_ROLE_OPERATOR,
	  PHALANX__CTL_REQUEST__OP__ALERT_RESET, alert_reset, false },
	{ OPC(ALERT_DEFINE), "alerts define", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__ALERT_DEFINE, alert_define, false },
	{ OPC(MEMBER_REMOVE), "members remove", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE, member_remove, false },
	{ OPC(MEMBER_DRAIN), "members drain", PX_ROLE_OPERATOR,
	  PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN, member_drain, false },
	{ OPC(MEMBER_UNDRAIN), "members undrain", PX_ROLE_OPERATOR,
	  PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN, member_undrain, false },
	{ OPC(ADMIN_ADD), "admins add", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__ADMIN_ADD, admin_add, false },
	{ OPC(ADMIN_DEL), "admins del", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__ADMIN_DEL, admin_del, false },
	{ OPC(MEMBER_ENROLL), "members enroll", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL, member_enroll, false },
	{ OPC(MEMBER_REVOKE), "members revoke", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE, member_revoke, false },
	{ OPC(PROTECT), "protection", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__PROTECT, protect, true },
	{ OPC(ROLLBACK), "rollback", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__ROLLBACK, rollback, true },
	{ OPC(CONFIRM), "confirm", PX_ROLE_OPERATOR,
	  PHALANX__CTL_REQUEST__OP__CONFIRM, confirm, false },
	{ OPC(CONFIG_APPLY), "config apply", PX_ROLE_ADMIN,
	  PHALANX__CTL_REQUEST__OP__CONFIG_APPLY, config_apply, true },
	/* the store's own (store/ctl.c refuses it from clients) */
	{ OPC(REVERT), "revert", PX_ROLE_ADMIN, -1, revert, true },
	{ OPC(CANARY_RELEASE), "canary release", PX_ROLE_ADMIN, -1,
	  canary_release, false },
};
#undef OPC
#define NOPS (sizeof(ops) / sizeof(ops[0]))

/* A row of ops[] whose role differs from perms[] is a bug: say so once
 * and take the stricter of the two (fail closed). */
static px_role_t role_checked(size_t i)
{
	static bool checked;
	px_role_t other = ops[i].legacy < 0 ? ops[i].role :
			  px_ctl_min_role(ops[i].legacy);
	size_t j;

	if (!checked) {
		checked = true;
		for (j = 0; j < NOPS; j++)
			if (ops[j].legacy >= 0 &&
			    px_ctl_min_role(ops[j].legacy) != ops[j].role)
				px_log(PX_LOG_ERR, "permissions: %s needs role %s "
				       "in store/ops.c but %s in store/auth.c: "
				       "the stricter applies", ops[j].name,
				       px_role_name(ops[j].role),
				       px_role_name(px_ctl_min_role(
					       ops[j].legacy)));
	}
	return other > ops[i].role ? other : ops[i].role;
}

static int find_op(const Phalanx__Operation *op)
{
	size_t i;

	for (i = 0; op && i < NOPS; i++)
		if (ops[i].op == op->op_case)
			return (int)i;
	return -1;
}

int px_store_op_role(const Phalanx__Operation *op, const char **name,
		     px_role_t *role)
{
	int i = find_op(op);

	if (i < 0)
		return PX_EBADREQ;
	*name = ops[i].name;
	*role = role_checked((size_t)i);
	return 0;
}

static const px_member_t *member_find(const px_store_t *st, const char *id)
{
	size_t i;

	for (i = 0; i < st->nmembers; i++)
		if (strcmp(st->members[i].id, id) == 0)
			return &st->members[i];
	return NULL;
}

/* --canary's refusals: nothing changes.  live: also those that depend
 * on the members' liveness (the leader's or the only store's view). */
static int canary_refused(op_t *o, bool policy, bool live)
{
	const Phalanx__Operation *op = o->op;
	const px_member_t *m;
	px_canary_t c;

	if (!op->canary || !op->canary[0])
		return fail(o, PX_EBADREQ, "--canary-for: only with --canary");
	if (!policy || op->op_case == PHALANX__OPERATION__OP_REVERT ||
	    op->op_case == PHALANX__OPERATION__OP_CANARY_RELEASE)
		return fail(o, PX_EBADREQ, "--canary: %s does not change the "
			    "policy", o->name);
	if (op->confirm_s)
		return fail(o, PX_EBADREQ, "--canary and --confirm: one or the "
			    "other");
	if (op->canary_s > PX_CANARY_MAX_S)
		return fail(o, PX_ERANGE, "--canary-for %u: at most %d seconds",
			    op->canary_s, PX_CANARY_MAX_S);
	if (px_store_canary_current(o->st, &c) > 0)
		return fail(o, PX_EBUSY, "--canary %.63s: version %llu is a "
			    "canary on %s still: one at a time; nothing "
			    "changed", op->canary,
			    (unsigned long long)c.version, c.member);
	if (!live)
		return 0;
	if (!(m = member_find(o->st, op->canary)))
		return fail(o, PX_ENOMEMBER, "--canary %.63s: no such member; "
			    "nothing changed", op->canary);
	if (!px_member_up(o->st, m, px_now_ms()))
		return fail(o, PX_EDOWN, "--canary %s: %s; nothing changed",
			    m->id, o->st->raft ? "the leader does not hear "
			    "the member (down, or it reports to another store: "
			    "run members with --follow-leader yes)" :
			    "the member is down");
	if (m->drained || px_member_out_of_service(o->st, m))
		return fail(o, PX_EBADREQ, "--canary %s: the member is "
			    "drained; nothing changed", m->id);
	return 0;
}

static int op_run(px_store_t *st, const Phalanx__Operation *op,
		  const px_ident_t *who, Phalanx__CtlReply *rep,
		  px_ctl_result_t *r, px_op_done_t *done, bool dry,
		  uint64_t time_ms)
{
	op_t o = { st, op, "request", who, rep, r, done, now_us(), 0, dry,
		   time_ms, 0 };
	int i = find_op(op), rc;

	if (i < 0)
		return fail(&o, PX_EBADREQ, "unknown operation %d",
			    op ? (int)op->op_case : 0);
	o.name = ops[i].name;
	if (op->confirm_s && (!ops[i].policy ||
			      op->op_case == PHALANX__OPERATION__OP_REVERT))
		return fail(&o, PX_EBADREQ, "--confirm: %s does not change "
			    "the policy", o.name);
	if (op->confirm_s > PX_CONFIRM_MAX_S)
		return fail(&o, PX_ERANGE, "--confirm %u: at most %d seconds",
			    op->confirm_s, PX_CONFIRM_MAX_S);
	if ((op->canary && op->canary[0]) || op->canary_s) {
		/* Member liveness is the leader's (or the only store's)
		 * view: a committed entry applies on every store alike. */
		bool live = dry || !time_ms;

		if ((rc = canary_refused(&o, ops[i].policy, live)) < 0)
			return rc;
	}
	if ((rc = ops[i].fn(&o)) < 0) {
		if (ops[i].policy)
			px_log(PX_LOG_INFO, "%s refused%s, nothing changed "
			       "(request %s): %s", o.name,
			       dry ? " before proposing" : "", req_id(&o),
			       r->error);
		return rc;
	}
	if (done->publish)
		log_timing(&o);
	return rc;
}

void px_store_op(px_store_t *st, const Phalanx__Operation *op,
		 const px_ident_t *who, Phalanx__CtlReply *rep,
		 px_ctl_result_t *r, px_op_done_t *done)
{
	op_run(st, op, who, rep, r, done, false, 0);
}

int px_store_op_check(px_store_t *st, const Phalanx__Operation *op,
		      const px_ident_t *who, Phalanx__CtlReply *rep,
		      px_ctl_result_t *r)
{
	px_op_done_t done;
	int rc;

	memset(&done, 0, sizeof(done));
	rc = op_run(st, op, who, rep, r, &done, true, 0);
	px_store_op_done(st, &done); /* a dry run publishes nothing */
	return rc;
}

void px_store_op_apply(px_store_t *st, const Phalanx__Operation *op,
		       const px_ident_t *who, uint64_t time_ms,
		       Phalanx__CtlReply *rep, px_ctl_result_t *r,
		       px_op_done_t *done)
{
	op_run(st, op, who, rep, r, done, false, time_ms);
}

/* A plan's change: each set's ops in order (made, entries out, in,
 * destroyed), and with new limits every one of them plus a 0 for each
 * tier the old limits had on a set that stays (a member drops a
 * destroyed set's tiers with it). */
static void plan_publish(px_store_t *st, px_op_done_t *done)
{
	const px_vdiff_t *plan = done->plan;
	px_pubop_t *po = xcalloc(3 * plan->nsets + 1, sizeof(*po));
	Phalanx__LimitOp **lops = NULL, *zero = NULL;
	px_lists_t lists;
	size_t n = 0, nl = 0, nz = 0, i, j;

	for (i = 0; i < plan->nsets; i++) {
		const px_vset_t *v = &plan->sets[i];

		if (v->created)
			po[n++] = (px_pubop_t){ PHALANX__SET_OP__KIND__CREATE,
						v->name, NULL, 0 };
		if (v->destroyed) {
			po[n++] = (px_pubop_t){ PHALANX__SET_OP__KIND__DESTROY,
						v->name, NULL, 0 };
			continue;
		}
		if (v->del.n)
			po[n++] = (px_pubop_t){ PHALANX__SET_OP__KIND__DEL,
						v->name, v->del.v, v->del.n };
		if (v->add.n)
			po[n++] = (px_pubop_t){ PHALANX__SET_OP__KIND__ADD,
						v->name, v->add.v, v->add.n };
	}
	memset(&lists, 0, sizeof(lists));
	if (done->old_limits) {
		const px_limits_t *old = done->old_limits;

		px_limitops_build(&st->policy.limits, &lops, &nl);
		lops = xrealloc(lops, (nl + old->ntiers + 1) * sizeof(*lops));
		zero = xcalloc(old->ntiers + 1, sizeof(*zero));
		for (i = 0; i < old->ntiers; i++) {
			const px_tier_t *t = &old->tiers[i];

			if (!px_policy_find(&st->policy, t->set))
				continue;
			for (j = 0; j < st->policy.limits.ntiers; j++)
				if (st->policy.limits.tiers[j].id == t->id &&
				    strcmp(st->policy.limits.tiers[j].set,
					   t->set) == 0)
					break;
			if (j < st->policy.limits.ntiers)
				continue;
			phalanx__limit_op__init(&zero[nz]);
			zero[nz].name = (char *)px_limit_defs[t->id].name;
			zero[nz].tier = (char *)t->set;
			lops[nl + nz] = &zero[nz];
			nz++;
		}
		px_lists_build(&st->policy, &lists);
	}
	px_store_publish(st, done->version, po, n, lops, nl + nz,
			 done->old_limits ? &lists : NULL);
	if (done->old_limits)
		px_lists_free(&lists);
	px_limitops_free(lops, nl);
	free(zero);
	free(po);
}

void px_store_op_done(px_store_t *st, px_op_done_t *done)
{
	px_lists_t lists;

	if (done->publish && done->plan) {
		plan_publish(st, done);
	} else if (done->publish) {
		memset(&lists, 0, sizeof(lists));
		if (done->lists)
			px_lists_build(&st->policy, &lists);
		px_store_publish(st, done->version, done->ops, done->nops,
				 done->limit ? &done->limit : NULL,
				 done->limit ? 1 : 0,
				 done->lists ? &lists : NULL);
		if (done->lists)
			px_lists_free(&lists);
	}
	if (done->plan) {
		px_vdiff_free(done->plan);
		free(done->plan);
	}
	if (done->old_limits) {
		px_limits_free(done->old_limits);
		free(done->old_limits);
	}
	px_entries_free(&done->add);
	px_entries_free(&done->del);
	px_store_alerts_reply_free(done->alerts_mem);
	memset(done, 0, sizeof(*done));
}

void px_store_confirm_tick(px_store_t *st)
{
	Phalanx__Operation op = PHALANX__OPERATION__INIT;
	Phalanx__VersionRef ref = PHALANX__VERSION_REF__INIT;
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	px_ctl_result_t r = { 0, "", 0 };
	px_ident_t who;
	px_raft_status_t rs;
	px_op_done_t done;
	char id[40];
	uint64_t v;

	if (st->raft) {
		px_raft_status(st->raft, &rs);
		if (strcmp(rs.role, "leader") != 0)
			return;
	}
	if (!(v = px_versions_due(st->db, px_now_ms(), 0)))
		return;
	if (v == st->revert_version) {
		if (px_mono_ms() - st->revert_ms < 5000)
			return;
		/* Asked three times and still pending (its revert fails:
		 * the log says why): the others are not held up by it. */
		if (++st->revert_tries >= 3) {
			uint64_t next = px_versions_due(st->db, px_now_ms(), v);

			if (st->revert_tries == 3)
				px_log(PX_LOG_ERR, "version %llu: its revert "
				       "failed three times; it stays pending "
				       "(confirm or roll back by hand)",
				       (unsigned long long)v);
			if (!next)
				return;
			v = next;
		}
	} else {
		st->revert_tries = 0;
	}
	st->revert_version = v;
	st->revert_ms = px_mono_ms();
	memset(&who, 0, sizeof(who));
	snprintf(who.name, sizeof(who.name), "(store)");
	who.role = PX_ROLE_ADMIN;
	/* One request id per version: a second proposal of the same revert
	 * (a new leader's) is answered from the first. */
	snprintf(id, sizeof(id), "revert-%llu", (unsigned long long)v);
	ref.version = v;
	op.request_id = id;
	op.op_case = PHALANX__OPERATION__OP_REVERT;
	op.revert = &ref;
	px_log(PX_LOG_WARN, "version %llu was not confirmed in time: "
	       "reverting it", (unsigned long long)v);
	if (st->raft) {
		px_store_replicate_self(st, &op, &who);
		return;
	}
	memset(&done, 0, sizeof(done));
	px_store_op(st, &op, &who, &rep, &r, &done);
	if (r.status)
		px_log(PX_LOG_ERR, "revert of version %llu failed: %s",
		       (unsigned long long)v, r.error);
	px_store_op_done(st, &done);
}

/* ---- --canary (store/canary.h) ---- */

static int canary_of(const Phalanx__VersionRecord *r, px_canary_t *c)
{
	if (!r->canary_member || !r->canary_member[0])
		return 0;
	c->version = r->version;
	snprintf(c->member, sizeof(c->member), "%s", r->canary_member);
	c->for_s = r->canary_s ? r->canary_s : PX_CANARY_DEFAULT_S;
	c->deadline_ms = r->confirm_by_ms;
	return 1;
}

int px_store_canary_current(px_store_t *st, px_canary_t *c)
{
	px_canary_book_t *k = &st->canary;
	Phalanx__VersionRecord **v = NULL;
	size_t n = 0, i;
	int rc, found = 0;

	if (k->cache.valid && k->cache.version == st->policy.version &&
	    k->cache.gen == k->gen) {
		if (k->cache.found > 0)
			*c = k->cache.c;
		return k->cache.found;
	}
	rc = px_versions_pending_list(st->db, &v, &n);
	for (i = 0; rc >= 0 && i < n && !found; i++)
		found = canary_of(v[i], c);
	px_versions_pending_free(v, n);
	if (rc < 0)
		return rc;
	k->cache.valid = true;
	k->cache.version = st->policy.version;
	k->cache.gen = k->gen;
	k->cache.found = found;
	if (found)
		k->cache.c = *c;
	return found;
}

int px_store_canary_member(px_store_t *st, uint64_t version, char *member,
			   size_t len)
{
	px_canary_t c;

	if (px_store_canary_current(st, &c) <= 0 || c.version != version)
		return 0;
	snprintf(member, len, "%s", c.member);
	return 1;
}

void px_store_canary_heartbeat(px_store_t *st, Phalanx__StoreHeartbeat *hb,
			       char *member, size_t len)
{
	px_canary_t c;

	if (px_store_canary_current(st, &c) <= 0)
		return;
	snprintf(member, len, "%s", c.member);
	hb->canary_version = c.version;
	hb->canary_member = member;
}

void px_store_canary_settled(px_store_t *st, uint64_t version, bool reverted,
			     uint64_t revert_version, const char *why)
{
	px_canary_book_t *k = &st->canary;
	size_t i = k->verdict_next++ % PX_CANARY_VERDICTS_KEPT;

	k->gen++;
	k->verdicts[i].version = version;
	k->verdicts[i].reverted = reverted;
	k->verdicts[i].revert_version = revert_version;
	snprintf(k->verdicts[i].why, sizeof(k->verdicts[i].why), "%s", why);
	px_store_waiters_wake(st, PX_WAIT_CANARY, reverted ?
			      "a canary's revert" : "a canary's release");
	/* The members holding the version hear the verdict now, not on
	 * the next tick. */
	px_store_heartbeat_soon(st);
}

int px_store_canary_verdict(const px_store_t *st, uint64_t version,
			    bool *reverted, uint64_t *revert_version,
			    const char **why)
{
	const px_canary_book_t *k = &st->canary;
	size_t i;

	for (i = 0; i < PX_CANARY_VERDICTS_KEPT; i++)
		if (k->verdicts[i].version == version) {
			*reverted = k->verdicts[i].reverted;
			*revert_version = k->verdicts[i].revert_version;
			*why = k->verdicts[i].why;
			return 1;
		}
	return 0;
}

/* Propose (Raft) or run (one store) the store's own write op. */
static void store_write(px_store_t *st, Phalanx__Operation *op)
{
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	px_ctl_result_t r = { 0, "", 0 };
	px_ident_t who;
	px_op_done_t done;

	memset(&who, 0, sizeof(who));
	snprintf(who.name, sizeof(who.name), "(store)");
	who.role = PX_ROLE_ADMIN;
	if (st->raft) {
		px_store_replicate_self(st, op, &who);
		return;
	}
	memset(&done, 0, sizeof(done));
	px_store_op(st, op, &who, &rep, &r, &done);
	if (r.status)
		px_log(PX_LOG_ERR, "%s failed: %s", op->request_id, r.error);
	px_store_op_done(st, &done);
}

void px_store_canary_tick(px_store_t *st)
{
	Phalanx__Operation op = PHALANX__OPERATION__INIT;
	Phalanx__VersionRef ref = PHALANX__VERSION_REF__INIT;
	px_canary_member_t cm;
	const px_member_t *m;
	px_raft_status_t rs;
	px_canary_verdict_t verdict;
	px_canary_t c;
	char why[400], id[40], text[200];
	uint64_t now = px_now_ms();

	if (st->raft) {
		px_raft_status(st->raft, &rs);
		if (strcmp(rs.role, "leader") != 0) {
			st->canary.ok_version = 0;  /* watched afresh when leading again */
			return;
		}
	}
	if (px_store_canary_current(st, &c) <= 0)
		return;
	if (c.version != st->canary.ok_version) {
		st->canary.ok_version = c.version;
		st->canary.ok_since_ms = 0;
		st->canary.watch_since_ms = px_mono_ms();
	}
	memset(&cm, 0, sizeof(cm));
	cm.fresh = px_mono_ms() - st->canary.watch_since_ms < PX_CANARY_FRESH_MS;
	if ((m = member_find(st, c.member))) {
		cm.known = true;
		cm.up = px_member_up(st, m, now);
		cm.drained = m->drained;
		cm.applied = m->applied;
		cm.failed_version = m->failed_version;
		cm.health = m->health;
		cm.detail = m->detail;
		cm.store_lost = m->store_lost;
	}
	verdict = px_canary_decide(&c, &cm, now, &st->canary.ok_since_ms, why,
				   sizeof(why));
	if (verdict == PX_CANARY_WAIT)
		return;
	if (st->canary.asked_version == c.version &&
	    px_mono_ms() - st->canary.asked_ms < 5000)
		return;
	st->canary.asked_version = c.version;
	st->canary.asked_ms = px_mono_ms();
	ref.version = c.version;
	op.request_id = id;
	if (verdict == PX_CANARY_RELEASE) {
		snprintf(text, sizeof(text), "canary %s healthy for %u s",
			 c.member, c.for_s);
		ref.why = text;
		/* One request id per version and verdict: a new leader's
		 * second proposal is answered from the first. */
		snprintf(id, sizeof(id), "release-%llu",
			 (unsigned long long)c.version);
		op.op_case = PHALANX__OPERATION__OP_CANARY_RELEASE;
		op.canary_release = &ref;
		px_log(PX_LOG_INFO, "version %llu: %s: releasing it",
		       (unsigned long long)c.version, text);
	} else {
		ref.why = why;
		snprintf(id, sizeof(id), "revert-%llu",
			 (unsigned long long)c.version);
		op.op_case = PHALANX__OPERATION__OP_REVERT;
		op.revert = &ref;
		px_log(PX_LOG_WARN, "version %llu: canary %s failed: %s: "
		       "reverting it", (unsigned long long)c.version, c.member,
		       why);
	}
	store_write(st, &op);
}
