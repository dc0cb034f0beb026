/* test_delta.c - entry-only changes planned against a policy and applied
 * in place (node/delta.c): the result must equal what the whole path
 * (px_policy_apply_setops on a copy) makes, and bad input is refused. */
#include <stdlib.h>

#include "codec.h"
#include "delta.h"
#include "px.h"
#include "unit.h"
#include "wire.h"

/* One change part of one set operation over the entries in strs. */
typedef struct {
	Phalanx__Envelope env;
	Phalanx__Change ch;
	Phalanx__SetOp op, *ops[1];
	ProtobufCBinaryData *bins;
	uint8_t *buf;
} part_t;

static int part_make(part_t *p, int kind, const char *set,
		     const char *const *strs, size_t n)
{
	px_entry_t v[80];

	if (n > 80)
		return -1;
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < n; i++)
		if (px_entry_parse(strs[i], &v[i]) < 0)
			return -1;
	phalanx__envelope__init(&p->env);
	phalanx__change__init(&p->ch);
	phalanx__set_op__init(&p->op);
	px_wire_pack_entries(v, n, &p->bins, &p->buf);
	p->op.kind = kind;
	p->op.set = (char *)set;
	p->op.entries = p->bins;
	p->op.n_entries = n;
	p->ops[0] = &p->op;
	p->ch.sets = p->ops;
	p->ch.n_sets = 1;
	p->ch.part = 1;
	p->env.change = &p->ch;
	return 0;
}

static void part_free(part_t *p)
{
	free(p->bins);
	free(p->buf);
}

/* A set "s" of n hosts 10.x.y.z and the prefixes 100.0.0.0/24 ... */
static void policy_make(px_policy_t *p, size_t n, size_t nprefixes)
{
	px_set_t *s;

	px_policy_init(p);
	s = px_policy_add_set(p, "s");
	for (size_t i = 0; i < n; i++) {
		px_entry_t e = { .family = 4, .plen = 32 };

		e.addr[0] = 10;
		e.addr[1] = (uint8_t)(i >> 16);
		e.addr[2] = (uint8_t)(i >> 8);
		e.addr[3] = (uint8_t)i;
		px_entries_push(&s->entries, &e);
	}
	for (size_t i = 0; i < nprefixes; i++) {
		px_entry_t e = { .prefix = 1, .family = 4, .plen = 24 };

		e.addr[0] = 100;
		e.addr[2] = (uint8_t)i;
		px_entries_push(&s->entries, &e);
	}
	px_entries_normalize(&s->entries);
}

static bool same_sets(const px_policy_t *a, const px_policy_t *b)
{
	if (a->nsets != b->nsets)
		return false;
	for (size_t i = 0; i < a->nsets; i++) {
		const px_entries_t *x = &a->sets[i].entries, *y = &b->sets[i].entries;

		if (x->n != y->n || (x->n && memcmp(x->v, y->v, x->n * sizeof(*x->v))))
			return false;
	}
	return true;
}

/* Plan and apply in place on p, the whole path on a copy: same sets. */
static int both_ways(px_policy_t *p, int kind, const char *const *strs,
		     size_t n, size_t *changed)
{
	Phalanx__Envelope *envs[1];
	px_policy_t whole;
	px_delta_t d;
	uint32_t part;
	part_t pt;
	int rc;

	if (part_make(&pt, kind, "s", strs, n) < 0)
		return -100;
	envs[0] = &pt.env;
	px_policy_copy(&whole, p);
	rc = px_delta_plan(p, envs, 1, &d, &part, NULL, 0);
	if (rc == 0) {
		*changed = d.nentries;
		px_delta_apply(p, &d);
		px_delta_free(&d);
		if (px_policy_apply_setops(&whole, pt.ch.sets, 1, NULL) < 0 ||
		    !same_sets(p, &whole))
			rc = -101;
	}
	px_policy_free(&whole);
	part_free(&pt);
	return rc;
}

TEST(delta_add_del_match_whole_path)
{
	static const char *const add[] = { "10.0.0.5", "10.9.9.9", "192.0.2.1",
					   "100.0.200.0/24", "2001:db8::1" };
	static const char *const del[] = { "10.0.0.7", "10.8.8.8",
					   "100.0.3.0/24" };
	px_policy_t p;
	size_t changed = 0;

	policy_make(&p, 1000, 10);
	/* 10.0.0.5 is there already: four of five are new. */
	CHECK_INT(both_ways(&p, PHALANX__SET_OP__KIND__ADD, add, 5, &changed), 0);
	CHECK_INT(changed, 4);
	CHECK_INT(px_policy_find(&p, "s")->entries.n, 1014);
	/* 10.8.8.8 is absent: a delete the kernel would refuse is not sent. */
	CHECK_INT(both_ways(&p, PHALANX__SET_OP__KIND__DEL, del, 3, &changed), 0);
	CHECK_INT(changed, 2);
	CHECK_INT(px_policy_find(&p, "s")->entries.n, 1012);
	CHECK_INT(px_policy_validate(&p, NULL, 0), 0);
	px_policy_free(&p);
}

TEST(delta_many_entries_merge_path)
{
	/* Over MEMMOVE_MAX (64): one merge instead of a memmove each. */
	const char *add[70];
	char buf[70][32];
	px_policy_t p;
	size_t changed = 0;

	policy_make(&p, 5000, 0);
	for (int i = 0; i < 70; i++) {
		snprintf(buf[i], sizeof(buf[i]), "10.%d.1.%d", 50 + i, i);
		add[i] = buf[i];
	}
	CHECK_INT(both_ways(&p, PHALANX__SET_OP__KIND__ADD, add, 70, &changed), 0);
	CHECK_INT(changed, 70);
	px_policy_free(&p);
}

TEST(delta_refuses_overlap_and_missing_set)
{
	static const char *const over[] = { "100.0.0.0/16" };
	static const char *const inner[] = { "100.0.5.128/25" };
	static const char *const self[] = { "198.51.100.0/24", "198.51.100.0/25" };
	static const char *const one[] = { "192.0.2.1" };
	Phalanx__Envelope *envs[1];
	char why[160];
	px_policy_t p;
	px_delta_t d;
	uint32_t part;
	part_t pt;

	policy_make(&p, 10, 10);
	CHECK(part_make(&pt, PHALANX__SET_OP__KIND__ADD, "s", over, 1) == 0);
	envs[0] = &pt.env;
	CHECK_INT(px_delta_plan(&p, envs, 1, &d, &part, why, sizeof(why)),
		  PX_EOVERLAP);
	CHECK(strstr(why, "100.0.0.0/16") != NULL);
	CHECK_INT(part, 1);
	CHECK_INT(d.n, 0);
	part_free(&pt);
	CHECK(part_make(&pt, PHALANX__SET_OP__KIND__ADD, "s", inner, 1) == 0);
	envs[0] = &pt.env;
	CHECK_INT(px_delta_plan(&p, envs, 1, &d, &part, why, sizeof(why)),
		  PX_EOVERLAP);
	part_free(&pt);
	CHECK(part_make(&pt, PHALANX__SET_OP__KIND__ADD, "s", self, 2) == 0);
	envs[0] = &pt.env;
	CHECK_INT(px_delta_plan(&p, envs, 1, &d, &part, why, sizeof(why)),
		  PX_EOVERLAP);
	part_free(&pt);
	CHECK(part_make(&pt, PHALANX__SET_OP__KIND__ADD, "nope", one, 1) == 0);
	envs[0] = &pt.env;
	CHECK_INT(px_delta_plan(&p, envs, 1, &d, &part, why, sizeof(why)),
		  PX_ENOSET);
	part_free(&pt);
	/* Unchanged by the refusals. */
	CHECK_INT(px_policy_find(&p, "s")->entries.n, 20);
	px_policy_free(&p);
}

TEST(delta_structural_changes_are_not_entry_only)
{
	static const char *const one[] = { "192.0.2.1" };
	Phalanx__Envelope *envs[2];
	Phalanx__LimitOp lop, *lops[1] = { &lop };
	px_policy_t p;
	px_delta_t d;
	uint32_t part;
	part_t a, b;

	policy_make(&p, 10, 0);
	CHECK(part_make(&a, PHALANX__SET_OP__KIND__ADD, "s", one, 1) == 0);
	CHECK(part_make(&b, PHALANX__SET_OP__KIND__DEL, "s", one, 1) == 0);
	envs[0] = &a.env;
	envs[1] = &b.env;
	CHECK(px_delta_entry_only(envs, 2));
	/* The same set twice: applied whole (order between them matters). */
	CHECK_INT(px_delta_plan(&p, envs, 2, &d, &part, NULL, 0), 1);
	b.op.kind = PHALANX__SET_OP__KIND__CREATE;
	CHECK(!px_delta_entry_only(envs, 2));
	b.op.kind = PHALANX__SET_OP__KIND__DEL;
	phalanx__limit_op__init(&lop);
	b.ch.limits = lops;
	b.ch.n_limits = 1;
	CHECK(!px_delta_entry_only(envs, 2));
	b.ch.n_limits = 0;
	b.ch.rules_set = true;
	CHECK(!px_delta_entry_only(envs, 2));
	part_free(&a);
	part_free(&b);
	px_policy_free(&p);
}
