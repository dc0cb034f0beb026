/* test_layout.c - the table layout model (node/layout.c): which sets,
 * objects, chains and tiers a policy needs (docs/nft-layout.md), without
 * netlink or root. */
#include <stdlib.h>

#include <linux/netfilter/nf_tables.h>

#include "layout.h"
#include "policy.h"
#include "px.h"
#include "unit.h"

static px_entry_t E(const char *s)
{
	px_entry_t e;

	if (px_entry_parse(s, &e) != 0)
		memset(&e, 0xee, sizeof(e));
	return e;
}

static const px_lset_t *set_named(const px_layout_t *l, const char *name)
{
	for (size_t i = 0; i < l->nsets; i++)
		if (strcmp(l->sets[i].name, name) == 0)
			return &l->sets[i];
	return NULL;
}

static const px_lobj_t *obj_named(const px_layout_t *l, const char *name,
				  uint32_t type)
{
	for (size_t i = 0; i < l->nobjs; i++)
		if (strcmp(l->objs[i].name, name) == 0 &&
		    l->objs[i].type == type)
			return &l->objs[i];
	return NULL;
}

/* The default policy: flood-exceptions has values of its own, so two
 * tiers; the fixed sets, the block sets, a meter per tier, quota and
 * family, the observe sets and conn_over. */
TEST(layout_default_policy)
{
	px_policy_t p;
	px_layout_t l;
	const px_lset_t *s;

	px_policy_init(&p);
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	CHECK_INT(l.ntiers, 2);
	CHECK_STR(l.tiers[0].name, "dflt");
	CHECK_STR(l.tiers[1].name, "x_flood-exceptions");
	CHECK_INT(l.ndisp, 1);
	CHECK_INT(l.nchains, 3);
	CHECK_STR(l.chains[0], "guard");
	CHECK_STR(l.chains[1], "tier_dflt");
	CHECK_STR(l.chains[2], "tier_x_flood-exceptions");
	/* mgmt 2 + methods 1 + block 6 + meters 2x3x2 + observe 4x2 +
	 * conn_over 2 + ids_block 2 + ids_land 2 + ids_pod 1 + ids_ps 2 +
	 * idsm_port-scan 2 */
	CHECK_INT(l.nsets, 2 + 1 + 6 + 12 + 8 + 2 + 2 + 2 + 1 + 2 + 2);
	s = set_named(&l, "mgmt6");
	CHECK(s && s->mgmt && s->flags == NFT_SET_INTERVAL && s->key_len == 16);
	s = set_named(&l, "http_methods");
	CHECK(s && s->methods && s->flags == NFT_SET_CONSTANT &&
	      s->key_len == 4);
	s = set_named(&l, "tcp_block6");
	CHECK(s != NULL);
	CHECK_INT(s->timeout_ms, 60 * 1000); /* block-time 60 s */
	CHECK_INT(s->mask, 64);
	CHECK_INT(s->flags, NFT_SET_EVAL | NFT_SET_TIMEOUT);
	s = set_named(&l, "tcp_block4");
	CHECK(s && s->mask == 0 && s->key_len == 4);
	s = set_named(&l, "dflt_conn_rate4");
	CHECK(s != NULL);
	CHECK_INT(s->value, 600);
	CHECK_INT(s->timeout_ms, 60000);
	s = set_named(&l, "x_flood-exceptions_conn_rate4");
	CHECK(s != NULL);
	CHECK_INT(s->value, 6000);
	s = set_named(&l, "dflt_conn6"); /* ct count: no timeout */
	CHECK(s != NULL);
	CHECK_INT(s->value, 160);
	CHECK_INT(s->timeout_ms, 0);
	CHECK(set_named(&l, "obs_nontcp-session-rate6") != NULL);
	CHECK(set_named(&l, "conn_over4") != NULL);
	CHECK(set_named(&l, "halfopen_block4") != NULL);
	CHECK(obj_named(&l, "blocked_tcp-connect-rate",
			NFT_OBJECT_COUNTER) != NULL);
	CHECK(obj_named(&l, "would_tcp-half-open", NFT_OBJECT_COUNTER) != NULL);
	/* settings have no counter */
	CHECK(obj_named(&l, "blocked_block-time", NFT_OBJECT_COUNTER) == NULL);
	px_layout_free(&l);
	px_layout_free(&l); /* twice is fine */
	px_policy_free(&p);
}

/* A source's tier is the first set that holds it: a set without values
 * of its own ahead of one with values dispatches to dflt; sets after the
 * last one with values need no dispatch. */
TEST(layout_tier_order)
{
	px_policy_t p;
	px_layout_t l;

	px_policy_init(&p);
	px_policy_add_set(&p, "a-plain");
	px_policy_add_set(&p, "b-custom");
	px_policy_add_set(&p, "c-after");
	px_limits_set_tier(&p.limits, PX_LIM_TCP_CONCURRENT, "b-custom", 50);
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	CHECK_STR(l.order[0]->name, "flood-exceptions");
	CHECK_STR(l.order[1]->name, "a-plain");
	CHECK_STR(l.order[2]->name, "b-custom");
	CHECK_STR(l.order[3]->name, "c-after");
	CHECK_INT(l.ntiers, 3);
	CHECK_INT(l.tier_of[1], 0); /* a-plain: dflt */
	CHECK_STR(l.tiers[l.tier_of[2]].name, "x_b-custom");
	CHECK_INT(l.ndisp, 3);
	/* the tier keeps the defaults where it has no value */
	CHECK_INT(set_named(&l, "x_b-custom_conn4")->value, 50);
	CHECK_INT(set_named(&l, "x_b-custom_conn_rate4")->value, 600);
	px_layout_free(&l);
	px_policy_free(&p);
}

/* Rules and services add their objects and sets; a name the policy does
 * not have is refused with PX_ENOSET and nothing to free. */
TEST(layout_rules_and_services)
{
	px_policy_t p;
	px_layout_t l;
	px_rule_t *ru;
	px_service_t *sv;
	const px_lset_t *s;

	px_policy_init(&p);
	p.rules = xcalloc(2, sizeof(*p.rules));
	ru = &p.rules[p.nrules++];
	snprintf(ru->name, sizeof(ru->name), "dns");
	ru->action = PX_ALLOW;
	ru->proto = PX_PROTO_UDP;
	ru->port = 53;
	ru = &p.rules[p.nrules++];
	snprintf(ru->name, sizeof(ru->name), "web");
	ru->action = PX_ALLOW;
	ru->proto = PX_PROTO_TCP;
	ru->port = 80;
	p.services = xcalloc(1, sizeof(*p.services));
	sv = &p.services[p.nservices++];
	snprintf(sv->name, sizeof(sv->name), "www");
	sv->dst = E("203.0.113.80");
	sv->port = 443;
	sv->limit = 1000;
	CHECK_INT(px_layout_build(&p, false, &l), 0);
	CHECK(obj_named(&l, "rule_dns", NFT_OBJECT_COUNTER) != NULL);
	CHECK(obj_named(&l, "rule_dns", NFT_OBJECT_LIMIT) != NULL);
	CHECK_INT(obj_named(&l, "rule_dns", NFT_OBJECT_LIMIT)->rate, 1000);
	CHECK(obj_named(&l, "rule_web", NFT_OBJECT_LIMIT) == NULL);
	CHECK(obj_named(&l, "blocked_service-www", NFT_OBJECT_COUNTER));
	s = set_named(&l, "svc_www");
	CHECK(s != NULL);
	CHECK_INT(s->key_len, 4 + 4); /* address . port (a whole register) */
	CHECK_INT(s->value, 1000);
	px_layout_free(&l);

	snprintf(p.rules[0].src_set, sizeof(p.rules[0].src_set), "nope");
	CHECK_INT(px_layout_build(&p, false, &l), PX_ENOSET);
	CHECK(l.sets == NULL && l.nsets == 0);
	p.rules[0].src_set[0] = 0;
	p.limits.value[PX_LIM_IPV6_PREFIX] = 0;
	CHECK_INT(px_layout_build(&p, false, &l), PX_ERANGE);
	px_policy_free(&p);
}

/* What decides whether a set keeps its elements across an apply: its
 * definition.  A new block-time remakes the block sets (and only them). */
TEST(layout_set_identity)
{
	px_policy_t p;
	px_layout_t a, b;

	px_policy_init(&p);
	CHECK_INT(px_layout_build(&p, false, &a), 0);
	p.limits.value[PX_LIM_BLOCK_TIME] = 120;
	CHECK_INT(px_layout_build(&p, true, &b), 0);
	CHECK(!px_layout_has_set(&b, set_named(&a, "tcp_block4")));
	CHECK(!px_layout_has_set(&b, set_named(&a, "http_block6")));
	CHECK(px_layout_has_set(&b, set_named(&a, "halfopen_block4")));
	CHECK(px_layout_has_set(&b, set_named(&a, "dflt_conn_rate4")));
	CHECK(px_lset_same(set_named(&a, "mgmt4"), set_named(&b, "mgmt4")));
	CHECK(px_layout_has_chain(&b, "pressure"));
	CHECK(!px_layout_has_chain(&a, "pressure"));
	CHECK(px_layout_has_obj(&b, &a.objs[0]));
	px_layout_free(&a);
	px_layout_free(&b);
	px_policy_free(&p);
}

/* An exception set's entries split into its four kernel sets. */
TEST(layout_kinds)
{
	const char *in[] = { "10.0.0.1", "10.0.0.2", "2001:db8::1",
			     "10.1.0.0/16", "2001:db8:1::/48",
			     "2001:db8:2::/48", "2001:db8:3::/48" };
	size_t n[PX_KIND_COUNT], first, end;
	char name[PX_KSET_NAME_MAX + 1];
	px_entries_t s;
	uint8_t top[4] = { 255, 255, 255, 255 }, a[4] = { 10, 0, 0, 255 };

	px_entries_init(&s);
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		px_entry_t e = E(in[i]);

		px_entries_push(&s, &e);
	}
	px_entries_normalize(&s);
	px_count_kinds(&s, n);
	CHECK_INT(n[PX_KIND_V4], 2);
	CHECK_INT(n[PX_KIND_N4], 1);
	CHECK_INT(n[PX_KIND_V6], 1);
	CHECK_INT(n[PX_KIND_N6], 3);
	px_kind_span(&s, PX_KIND_N6, &first, &end);
	CHECK_INT(end - first, 3);
	CHECK_INT(s.v[first].family, 6);
	CHECK(s.v[first].prefix);
	px_count_kinds(NULL, n);
	CHECK_INT(n[PX_KIND_N6], 0);
	px_kset_name(name, "flood-exceptions", PX_KIND_N4);
	CHECK_STR(name, "flood-exceptions.n4");
	px_kset_name(name, "x", PX_KIND_V6);
	CHECK_STR(name, "x.v6");
	CHECK(px_addr_next(a, 4) && a[2] == 1 && a[3] == 0);
	CHECK(!px_addr_next(top, 4));
	px_entries_free(&s);
}

/* Hash sets of PX_KSET_SIZED_MIN elements or more get a size with room
 * for half as many again; smaller ones and interval sets none. */
TEST(layout_kset_capacity)
{
	CHECK_INT(px_kset_capacity(PX_KIND_V4, 0), 0);
	CHECK_INT(px_kset_capacity(PX_KIND_V4, PX_KSET_SIZED_MIN - 1), 0);
	CHECK_INT(px_kset_capacity(PX_KIND_V4, PX_KSET_SIZED_MIN),
		  PX_KSET_SIZED_MIN + PX_KSET_SIZED_MIN / 2);
	CHECK_INT(px_kset_capacity(PX_KIND_V6, 1000000), 1503232);
	CHECK_INT(px_kset_capacity(PX_KIND_N4, 1000000), 0);
	CHECK_INT(px_kset_capacity(PX_KIND_N6, 1000000), 0);
	CHECK_INT(px_kset_capacity(PX_KIND_V4, (size_t)UINT32_MAX), UINT32_MAX);
}
