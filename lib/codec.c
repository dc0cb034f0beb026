/* codec.c - policy <-> protobuf. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "px.h"
#include "wire.h"

static int apply_setop(px_policy_t *p, const Phalanx__SetOp *op, size_t *bad)
{
	px_entries_t in, none;
	px_set_t *s;
	int rc;

	if (!px_setname_valid(op->set))
		return PX_ESETNAME;
	switch (op->kind) {
	case PHALANX__SET_OP__KIND__CREATE:
		px_policy_add_set(p, op->set);
		return 0;
	case PHALANX__SET_OP__KIND__DESTROY:
		px_policy_del_set(p, op->set);
		return 0;
	case PHALANX__SET_OP__KIND__ADD:
	case PHALANX__SET_OP__KIND__DEL:
		break;
	default:
		return PX_EBADREQ;
	}
	s = px_policy_find(p, op->set);
	if (!s)
		return PX_ENOSET;
	px_entries_init(&in);
	px_entries_init(&none);
	rc = px_wire_unpack_entries(op->entries, op->n_entries, &in, bad);
	if (rc == 0) {
		px_entries_normalize(&in);
		if (op->kind == PHALANX__SET_OP__KIND__ADD)
			px_entries_apply(&s->entries, &in, &none);
		else
			px_entries_apply(&s->entries, &none, &in);
	}
	px_entries_free(&in);
	return rc;
}

int px_policy_apply_setops(px_policy_t *p, Phalanx__SetOp *const *ops,
			   size_t n, size_t *bad)
{
	size_t i, dummy;
	int rc;

	for (i = 0; i < n; i++) {
		rc = apply_setop(p, ops[i], bad ? bad : &dummy);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int px_policy_apply_limitops(px_policy_t *p, Phalanx__LimitOp *const *ops,
			     size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const Phalanx__LimitOp *op = ops[i];
		int id = px_limit_find(op->name);
		px_mode_t mode;

		if (id < 0)
			return id;
		if (op->tier[0]) {
			if (px_limit_defs[id].setting || !px_limit_defs[id].exc_def)
				return PX_EBADREQ;
			if (!px_policy_find(p, op->tier))
				return PX_ENOSET;
			if (op->value && (op->value < px_limit_defs[id].min ||
					  op->value > px_limit_defs[id].max))
				return PX_ERANGE;
			px_limits_set_tier(&p->limits, id, op->tier, op->value);
			continue;
		}
		if (op->value < px_limit_defs[id].min ||
		    op->value > px_limit_defs[id].max)
			return PX_ERANGE;
		p->limits.value[id] = op->value;
		if (op->mode[0]) {
			if (px_mode_parse(op->mode, &mode) < 0 ||
			    (px_limit_defs[id].setting && mode != PX_MODE_ENFORCE))
				return PX_EBADREQ;
			p->limits.mode[id] = mode;
		}
	}
	return 0;
}

void px_limitops_build(const px_limits_t *l, Phalanx__LimitOp ***ops,
		       size_t *n)
{
	size_t i, k = 0;

	*ops = xcalloc(PX_LIM_COUNT + l->ntiers, sizeof(**ops));
	for (i = 0; i < PX_LIM_COUNT + l->ntiers; i++) {
		Phalanx__LimitOp *op = xmalloc(sizeof(*op));

		phalanx__limit_op__init(op);
		if (i < PX_LIM_COUNT) {
			op->name = (char *)px_limit_defs[i].name;
			op->value = l->value[i];
			op->mode = (char *)px_mode_name(l->mode[i]);
		} else {
			const px_tier_t *t = &l->tiers[i - PX_LIM_COUNT];

			op->name = (char *)px_limit_defs[t->id].name;
			op->tier = (char *)t->set;
			op->value = t->value;
		}
		(*ops)[k++] = op;
	}
	*n = k;
}

void px_limitops_free(Phalanx__LimitOp **ops, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ops[i]);
	free(ops);
}

int px_rule_from_proto(const px_policy_t *p, const Phalanx__Rule *in,
		       px_rule_t *out)
{
	int proto;

	memset(out, 0, sizeof(*out));
	if (!px_setname_valid(in->name))
		return PX_ESETNAME;
	strcpy(out->name, in->name);
	if (in->action != PHALANX__RULE__ACTION__ALLOW &&
	    in->action != PHALANX__RULE__ACTION__DENY)
		return PX_EBADREQ;
	out->action = in->action == PHALANX__RULE__ACTION__DENY ? PX_DENY : PX_ALLOW;
	proto = px_proto_parse(in->proto[0] ? in->proto : "any");
	if (proto < 0)
		return proto;
	out->proto = proto;
	if (in->src_set[0]) {
		if (!px_policy_find(p, in->src_set))
			return PX_ENOSET;
		strcpy(out->src_set, in->src_set);
	}
	if (in->dst.len) {
		int rc = px_entry_decode(in->dst.data, in->dst.len, &out->dst);

		if (rc < 0)
			return rc;
		out->has_dst = true;
	}
	if (in->port > 65535 ||
	    (in->port && proto != PX_PROTO_TCP && proto != PX_PROTO_UDP))
		return PX_ERANGE;
	out->port = (uint16_t)in->port;
	if (in->rate > px_limit_defs[PX_LIM_NONTCP_SESSION_RATE].max)
		return PX_ERANGE;
	out->rate = in->rate;
	return 0;
}

int px_service_from_proto(const px_policy_t *p, const Phalanx__Service *in,
			  px_service_t *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (!px_setname_valid(in->name))
		return PX_ESETNAME;
	strcpy(out->name, in->name);
	rc = px_entry_decode(in->dst.data, in->dst.len, &out->dst);
	if (rc < 0)
		return rc;
	if (out->dst.prefix)
		return PX_EBADADDR;
	if (in->port == 0 || in->port > 65535 || in->limit == 0 ||
	    in->limit > 1000000)
		return PX_ERANGE;
	out->port = (uint16_t)in->port;
	out->limit = in->limit;
	if (in->exempt_set[0]) {
		if (!px_policy_find(p, in->exempt_set))
			return PX_ENOSET;
		strcpy(out->exempt_set, in->exempt_set);
	}
	rc = px_inspect_parse(in->inspect);
	if (rc < 0)
		return rc;
	out->inspect = rc;
	if (in->zone_transfer_set[0]) {
		if (out->inspect != PX_INSPECT_DNS)
			return PX_EBADREQ;
		if (!px_policy_find(p, in->zone_transfer_set))
			return PX_ENOSET;
		strcpy(out->xfr_set, in->zone_transfer_set);
	}
	return 0;
}

int px_policy_apply_lists(px_policy_t *p, bool rules_set,
			  Phalanx__Rule *const *rules, size_t nrules,
			  bool services_set, Phalanx__Service *const *svcs,
			  size_t nsvcs)
{
	px_rule_t *rv = NULL;
	px_service_t *sv = NULL;
	size_t i, j;
	int rc = 0;

	if (nrules > PX_RULES_MAX || nsvcs > PX_SERVICES_MAX)
		return PX_ERANGE;
	if (rules_set) {
		rv = xcalloc(nrules, sizeof(*rv));
		for (i = 0; i < nrules && rc == 0; i++) {
			rc = px_rule_from_proto(p, rules[i], &rv[i]);
			for (j = 0; j < i && rc == 0; j++)
				if (strcmp(rv[j].name, rv[i].name) == 0)
					rc = PX_EEXIST;
		}
	}
	if (services_set && rc == 0) {
		sv = xcalloc(nsvcs, sizeof(*sv));
		for (i = 0; i < nsvcs && rc == 0; i++) {
			rc = px_service_from_proto(p, svcs[i], &sv[i]);
			for (j = 0; j < i && rc == 0; j++)
				if (strcmp(sv[j].name, sv[i].name) == 0)
					rc = PX_EEXIST;
		}
	}
	if (rc < 0) {
		free(rv);
		free(sv);
		return rc;
	}
	if (rules_set) {
		free(p->rules);
		p->rules = rv;
		p->nrules = nrules;
	}
	if (services_set) {
		free(p->services);
		p->services = sv;
		p->nservices = nsvcs;
	}
	return 0;
}

void px_lists_build(const px_policy_t *p, px_lists_t *l)
{
	uint8_t *b;
	size_t i;

	memset(l, 0, sizeof(*l));
	l->nrules = p->nrules;
	l->nservices = p->nservices;
	l->rv = xcalloc(p->nrules, sizeof(*l->rv));
	l->rules = xcalloc(p->nrules, sizeof(*l->rules));
	l->sv = xcalloc(p->nservices, sizeof(*l->sv));
	l->services = xcalloc(p->nservices, sizeof(*l->services));
	l->buf = b = xmalloc((p->nrules + p->nservices) * PX_ENTRY_WIRE_MAX);
	for (i = 0; i < p->nrules; i++) {
		const px_rule_t *r = &p->rules[i];
		Phalanx__Rule *o = &l->rv[i];

		phalanx__rule__init(o);
		o->name = (char *)r->name;
		o->action = r->action == PX_DENY ? PHALANX__RULE__ACTION__DENY
						 : PHALANX__RULE__ACTION__ALLOW;
		o->proto = (char *)px_proto_name(r->proto);
		o->src_set = (char *)r->src_set;
		if (r->has_dst) {
			o->dst.data = b;
			o->dst.len = px_entry_encode(&r->dst, b);
			b += o->dst.len;
		}
		o->port = r->port;
		o->rate = r->rate;
		l->rules[i] = o;
	}
	for (i = 0; i < p->nservices; i++) {
		const px_service_t *s = &p->services[i];
		Phalanx__Service *o = &l->sv[i];

		phalanx__service__init(o);
		o->name = (char *)s->name;
		o->dst.data = b;
		o->dst.len = px_entry_encode(&s->dst, b);
		b += o->dst.len;
		o->port = s->port;
		o->limit = s->limit;
		o->exempt_set = (char *)s->exempt_set;
		o->inspect = (char *)px_inspect_name(s->inspect);
		o->zone_transfer_set = (char *)s->xfr_set;
		l->services[i] = o;
	}
	px_protection_build(&p->protect, &l->prot);
	l->protection = &l->prot.pr;
}

void px_lists_free(px_lists_t *l)
{
	free(l->rv);
	free(l->rules);
	free(l->sv);
	free(l->services);
	free(l->buf);
	px_protection_free(&l->prot);
	memset(l, 0, sizeof(*l));
}

void px_protection_build(const px_protect_t *in, px_protection_t *out)
{
	size_t i, j, k = 0, total = 0;
	uint8_t *b;

	memset(out, 0, sizeof(*out));
	phalanx__protection__init(&out->pr);
	for (i = 0; i < in->nnetworks; i++)
		total += in->networks[i].nprefixes;
	out->nv = xcalloc(in->nnetworks + 1, sizeof(*out->nv));
	out->nets = xcalloc(in->nnetworks + 1, sizeof(*out->nets));
	out->bins = xcalloc(total + 1, sizeof(*out->bins));
	out->buf = b = xmalloc((total + 1) * PX_ENTRY_WIRE_MAX);
	for (i = 0; i < in->nnetworks; i++) {
		const px_network_t *n = &in->networks[i];
		Phalanx__Network *o = &out->nv[i];

		phalanx__network__init(o);
		o->name = (char *)n->name;
		o->intra_array = n->intra_array;
		o->dhcp_interface = (char *)n->dhcp_interface;
		o->prefixes = &out->bins[k];
		o->n_prefixes = n->nprefixes;
		for (j = 0; j < n->nprefixes; j++, k++) {
			out->bins[k].data = b;
			out->bins[k].len = px_entry_encode(&n->prefixes[j], b);
			b += out->bins[k].len;
		}
		out->nets[i] = o;
	}
	out->pr.networks = out->nets;
	out->pr.n_networks = in->nnetworks;
	for (i = 0; i < PX_PROT_COUNT; i++) {
		phalanx__protect_setting__init(&out->sv[i]);
		out->sv[i].name = (char *)px_prot_defs[i].name;
		out->sv[i].value = (char *)px_prot_value_name((int)i,
							      in->setting[i]);
		out->sets[i] = &out->sv[i];
	}
	out->pr.settings = out->sets;
	out->pr.n_settings = PX_PROT_COUNT;
	out->csx = xmalloc(PX_CSX_STR_MAX + 1);
	px_csx_format(&in->csx, out->csx, PX_CSX_STR_MAX + 1);
	out->pr.checksum_exclusions = out->csx;
	for (i = 0; i < PX_IDS_COUNT; i++) {
		Phalanx__IdsSetting *o = &out->iv[i];

		phalanx__ids_setting__init(o);
		o->name = (char *)px_ids_defs[i].name;
		o->off = in->ids[i].off;
		o->threshold = in->ids[i].threshold;
		o->window_s = in->ids[i].window_s;
		o->block_s = in->ids[i].block_s;
		out->ids[i] = o;
	}
	out->pr.ids = out->ids;
	out->pr.n_ids = PX_IDS_COUNT;
}

void px_protection_free(px_protection_t *out)
{
	free(out->nv);
	free(out->nets);
	free(out->bins);
	free(out->buf);
	free(out->csx);
	memset(out, 0, sizeof(*out));
}

int px_policy_apply_protection(px_policy_t *p, const Phalanx__Protection *in,
			       char *why, size_t len)
{
	px_protect_t *pr;
	size_t i, j;
	int rc = 0;

	if (why && len)
		why[0] = '\0';
	if (!in)
		return 0;
	if (in->n_networks > PX_NETWORKS_MAX || in->n_settings > PX_PROT_COUNT ||
	    in->n_ids > PX_IDS_COUNT) {
		if (why && len)
			snprintf(why, len, "%zu networks, %zu settings: at most "
				 "%d and %d", in->n_networks, in->n_settings,
				 PX_NETWORKS_MAX, PX_PROT_COUNT);
		return PX_ETOOBIG;
	}
	pr = xcalloc(1, sizeof(*pr));
	pr->nnetworks = in->n_networks;
	for (i = 0; i < in->n_networks && rc == 0; i++) {
		const Phalanx__Network *n = in->networks[i];
		px_network_t *o = &pr->networks[i];

		if (strlen(n->name) > PX_SETNAME_MAX ||
		    strlen(n->dhcp_interface) > PX_NET_IFNAME_MAX ||
		    n->n_prefixes > PX_NETWORK_PREFIXES_MAX) {
			if (why && len)
				snprintf(why, len, "network %zu: name or "
					 "prefix count over the bounds", i + 1);
			rc = PX_ETOOBIG;
			break;
		}
		strcpy(o->name, n->name);
		strcpy(o->dhcp_interface, n->dhcp_interface);
		o->intra_array = n->intra_array;
		o->nprefixes = n->n_prefixes;
		for (j = 0; j < n->n_prefixes && rc == 0; j++) {
			rc = px_entry_decode(n->prefixes[j].data,
					     n->prefixes[j].len, &o->prefixes[j]);
			if (rc < 0 && why && len)
				snprintf(why, len, "network %.32s: prefix %zu: "
					 "%s", n->name, j + 1, px_strerror(rc));
		}
	}
	for (i = 0; i < in->n_settings && rc == 0; i++) {
		int id = px_prot_find(in->settings[i]->name);
		int v = id < 0 ? id : px_prot_value(id, in->settings[i]->value);

		if (v < 0) {
			if (why && len)
				snprintf(why, len, "protection setting `%.40s' "
					 "value `%.40s': %s",
					 in->settings[i]->name,
					 in->settings[i]->value, px_strerror(v));
			rc = v;
			break;
		}
		pr->setting[id] = (unsigned)v;
	}
	if (rc == 0 && in->checksum_exclusions) {
		char w[200];

		rc = px_csx_parse(in->checksum_exclusions, &pr->csx, w,
				  sizeof(w));
		if (rc < 0 && why && len)
			snprintf(why, len, "checksum exclusions: %s", w);
	}
	/* Intrusion detection: a detection left out is on, with its
	 * defaults (an older store sends none). */
	for (i = 0; rc == 0 && i < in->n_ids; i++) {
		const Phalanx__IdsSetting *d = in->ids[i];
		int id = px_ids_find(d->name);

		if (id < 0) {
			if (why && len)
				snprintf(why, len, "unknown intrusion detection "
					 "`%.40s'", d->name);
			rc = id;
			break;
		}
		pr->ids[id].off = d->off;
		pr->ids[id].threshold = d->threshold;
		pr->ids[id].window_s = d->window_s;
		pr->ids[id].block_s = d->block_s;
	}
	if (rc == 0)
		rc = px_protect_validate(pr, why, len);
	if (rc == 0)
		p->protect = *pr;
	free(pr);
	return rc;
}

/* One chunk under construction: at most max entries across its ops. */
typedef struct {
	Phalanx__SnapshotChunk c;
	Phalanx__SetOp **ops;
	size_t nops, cap, entries, max;
	ProtobufCBinaryData **bins;
	uint8_t **bufs;
	uint32_t from;  /* chunks before this are counted, not built */
} chunker_t;

static void chunker_reset(chunker_t *k)
{
	size_t i;

	for (i = 0; i < k->nops; i++) {
		free(k->bins[i]);
		free(k->bufs[i]);
		free(k->ops[i]);
	}
	k->nops = 0;
	k->entries = 0;
	k->c.limits = NULL;
	k->c.n_limits = 0;
	k->c.rules_set = k->c.services_set = false;
	k->c.n_rules = k->c.n_services = 0;
	k->c.protection = NULL;
}

static void chunker_op(chunker_t *k, int kind, const char *set,
		       const px_entry_t *v, size_t n)
{
	Phalanx__SetOp *op;

	if (k->c.seq < k->from) {
		k->entries += n;
		return;
	}
	op = xmalloc(sizeof(*op));
	if (k->nops == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 8;
		k->ops = xrealloc(k->ops, k->cap * sizeof(*k->ops));
		k->bins = xrealloc(k->bins, k->cap * sizeof(*k->bins));
		k->bufs = xrealloc(k->bufs, k->cap * sizeof(*k->bufs));
	}
	phalanx__set_op__init(op);
	op->kind = kind;
	op->set = (char *)set;
	px_wire_pack_entries(v, n, &k->bins[k->nops], &k->bufs[k->nops]);
	op->entries = k->bins[k->nops];
	op->n_entries = n;
	k->ops[k->nops++] = op;
	k->entries += n;
}

static int chunker_flush(chunker_t *k, bool last, px_chunk_cb cb, void *arg)
{
	int rc = 0;

	k->c.sets = k->ops;
	k->c.n_sets = k->nops;
	k->c.last = last;
	if (k->c.seq >= k->from)
		rc = cb(&k->c, arg);
	chunker_reset(k);
	k->c.seq++;
	return rc;
}

int px_policy_chunks(const px_policy_t *p, size_t max_entries,
		     px_chunk_cb cb, void *arg)
{
	return px_policy_chunks_from(p, max_entries, 0, cb, arg);
}

int px_policy_chunks_from(const px_policy_t *p, size_t max_entries,
			  uint32_t from, px_chunk_cb cb, void *arg)
{
	Phalanx__LimitOp **lops = NULL;
	px_lists_t lists;
	chunker_t k;
	size_t i, nl = 0;
	int rc = 0;

	memset(&k, 0, sizeof(k));
	phalanx__snapshot_chunk__init(&k.c);
	k.c.version = p->version;
	k.max = max_entries ? max_entries : SIZE_MAX;
	k.from = from;
	px_limitops_build(&p->limits, &lops, &nl);
	px_lists_build(p, &lists);
	k.c.rules_set = k.c.services_set = true;
	k.c.rules = lists.rules;
	k.c.n_rules = lists.nrules;
	k.c.services = lists.services;
	k.c.n_services = lists.nservices;
	k.c.protection = lists.protection;
	for (i = 0; i < p->nsets; i++)
		chunker_op(&k, PHALANX__SET_OP__KIND__CREATE, p->sets[i].name,
			   NULL, 0);
	k.c.limits = lops;
	k.c.n_limits = nl;
	for (i = 0; i < p->nsets && rc >= 0; i++) {
		const px_entries_t *e = &p->sets[i].entries;
		size_t off = 0;

		while (off < e->n && rc >= 0) {
			size_t room = k.max - k.entries;
			size_t take = e->n - off < room ? e->n - off : room;

			chunker_op(&k, PHALANX__SET_OP__KIND__ADD,
				   p->sets[i].name, e->v + off, take);
			off += take;
			if (k.entries == k.max)
				rc = chunker_flush(&k, false, cb, arg);
		}
	}
	if (rc >= 0)
		rc = chunker_flush(&k, true, cb, arg);
	chunker_reset(&k);
	free(k.ops);
	free(k.bins);
	free(k.bufs);
	px_limitops_free(lops, nl);
	px_lists_free(&lists);
	return rc;
}

int px_policy_apply_chunk(px_policy_t *p, const Phalanx__SnapshotChunk *c)
{
	int rc;

	if (c->seq == 0) {
		px_policy_free(p);
		memset(p, 0, sizeof(*p));
		px_limits_init(&p->limits);
		/* Chunk 0 carries every tier there is: a default tier that was
		 * removed must not come back from px_limits_init(). */
		if (c->n_limits)
			px_limits_clear_tiers(&p->limits);
	}
	p->version = c->version;
	rc = px_policy_apply_setops(p, c->sets, c->n_sets, NULL);
	if (rc == 0)
		rc = px_policy_apply_limitops(p, c->limits, c->n_limits);
	if (rc == 0)
		rc = px_policy_apply_lists(p, c->rules_set, c->rules, c->n_rules,
					   c->services_set, c->services,
					   c->n_services);
	if (rc == 0)
		rc = px_policy_apply_protection(p, c->protection, NULL, 0);
	return rc;
}

/* Cache file: "PXC2", the payload's length and CRC-32C (both 32-bit
 * little-endian), then the payload: one packed Envelope holding a single
 * chunk.  The checksum catches what protobuf would decode anyway (a few
 * overwritten bytes inside an address decode as another address). */
static const char cache_magic[4] = { 'P', 'X', 'C', '2' };
#define CACHE_HDR 12

/* CRC-32C (Castagnoli), reflected, one table built once: the member's
 * apply worker and its loop both checksum (pthread_once). */
static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_table_build(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t v = i;

		for (int k = 0; k < 8; k++)
			v = (v >> 1) ^ (0x82f63b78u & (0u - (v & 1)));
		crc_table[i] = v;
	}
}

uint32_t px_crc32c(const void *data, size_t n)
{
	const uint32_t *table = crc_table;
	const uint8_t *p = data;
	uint32_t c = 0xffffffffu;
	size_t i;

	pthread_once(&crc_once, crc_table_build);
	for (i = 0; i < n; i++)
		c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void put_le32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

typedef struct {
	int fd;
	uint64_t epoch;
	const px_policy_t *p;
} save_arg_t;

static int save_chunk(Phalanx__SnapshotChunk *c, void *arg)
{
	save_arg_t *a = arg;
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	uint8_t *buf;
	size_t n;
	int rc;

	env.proto_version = PX_PROTO_VERSION;
	env.epoch = a->epoch;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	n = phalanx__envelope__get_packed_size(&env);
	if (n > (size_t)PX_MSG_MAX * 2)
		return PX_ETOOBIG;
	buf = xmalloc(CACHE_HDR + n);
	memcpy(buf, cache_magic, sizeof(cache_magic));
	phalanx__envelope__pack(&env, buf + CACHE_HDR);
	put_le32(buf + 4, (uint32_t)n);
	put_le32(buf + 8, px_crc32c(buf + CACHE_HDR, n));
	rc = px_write_all(a->fd, buf, CACHE_HDR + n);
	free(buf);
	return rc;
}

static int save_fill(int fd, void *arg)
{
	save_arg_t *a = arg;

	a->fd = fd;
	return px_policy_chunks(a->p, 0, save_chunk, a);
}

int px_policy_save(const char *path, const px_policy_t *p)
{
	save_arg_t a = { -1, p->epoch, p };

	return px_file_replace(path, 0600, true, save_fill, &a);
}

int px_policy_load(const char *path, px_policy_t *p, char *why,
		   size_t len)
{
	Phalanx__Envelope *env = NULL;
	struct stat st;
	uint8_t *buf = NULL;
	ssize_t r;
	size_t got = 0, n;
	int fd, rc = PX_EDECODE;

	if (why && len)
		why[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, len, "cannot open: %s", strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, len, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < CACHE_HDR ||
	    st.st_size > PX_MSG_MAX * 2 + CACHE_HDR) {
		snprintf(why, len, "not a regular file of %d to %lld bytes "
			 "(%lld bytes)", CACHE_HDR, PX_MSG_MAX * 2 + CACHE_HDR,
			 (long long)st.st_size);
		goto out;
	}
	buf = xmalloc((size_t)st.st_size);
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = -errno;
			snprintf(why, len, "read: %s", strerror(errno));
			goto out;
		}
		if (r == 0) {
			snprintf(why, len, "shorter than its size (%zu of %lld "
				 "bytes)", got, (long long)st.st_size);
			goto out;
		}
		got += (size_t)r;
	}
	if (memcmp(buf, cache_magic, 4) != 0) {
		snprintf(why, len, "no PXC2 header");
		goto out;
	}
	n = get_le32(buf + 4);
	if (n != got - CACHE_HDR) {
		snprintf(why, len, "length %zu in the header, %zu bytes "
			 "follow", n, got - CACHE_HDR);
		goto out;
	}
	if (get_le32(buf + 8) != px_crc32c(buf + CACHE_HDR, n)) {
		snprintf(why, len, "checksum mismatch");
		goto out;
	}
	env = phalanx__envelope__unpack(NULL, n, buf + CACHE_HDR);
	if (!env || env->proto_version != PX_PROTO_VERSION ||
	    env->body_case != PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK ||
	    env->snapshot_chunk->seq != 0 || !env->snapshot_chunk->last) {
		snprintf(why, len, "not one complete snapshot chunk");
		goto out;
	}
	rc = px_policy_apply_chunk(p, env->snapshot_chunk);
	if (rc < 0) {
		snprintf(why, len, "policy refused: %s", px_strerror(rc));
		goto out;
	}
	rc = px_policy_validate(p, why, len);
	if (rc == 0)
		p->epoch = env->epoch;
out:
	if (env)
		phalanx__envelope__free_unpacked(env, NULL);
	free(buf);
	close(fd);
	return rc;
}
