/* test_quota.c - half-open and UDP-session quotas: transitions, tiers,
 * observe mode, eviction order, IPv6 prefixes, exemptions, the table cap,
 * resync. */
#include "addr.h"
#include "policy.h"
#include "px.h"
#include "quota.h"
#include "unit.h"

static px_entry_t E(const char *s)
{
	px_entry_t e;

	if (px_entry_parse(s, &e) != 0)
		memset(&e, 0xee, sizeof(e));
	return e;
}

static const char *fmt(const px_entry_t *e)
{
	static char buf[4][PX_ENTRY_STR_MAX];
	static int k;

	k = (k + 1) % 4;
	px_entry_format(e, buf[k], sizeof(buf[k]));
	return buf[k];
}

/* A conntrack entry from src:sport to 203.0.113.80 (v4) or 2001:db8:f::80. */
static px_ct_t conn(const char *src, int proto, uint16_t sport, uint32_t id)
{
	px_entry_t s = E(src);
	px_ct_t ct;

	memset(&ct, 0, sizeof(ct));
	ct.t.family = s.family;
	ct.t.proto = (uint8_t)proto;
	memcpy(ct.t.src, s.addr, 16);
	memcpy(ct.t.dst, E(s.family == 4 ? "203.0.113.80" : "2001:db8:f::80").addr,
	       16);
	ct.t.sport = sport;
	ct.t.dport = proto == 6 ? 80 : 53;
	ct.t.id = id;
	ct.tcp_state = proto == 6 ? PX_TCP_SYN_SENT : PX_TCP_UNKNOWN;
	ct.born = id;
	return ct;
}

/* n half-open connections from src, ids from id0. */
static void syns(px_quota_t *q, const char *src, int n, uint32_t id0)
{
	int i;

	for (i = 0; i < n; i++) {
		px_ct_t ct = conn(src, 6, (uint16_t)(10000 + id0 + i), id0 + i);

		px_quota_event(q, PX_CT_NEW, &ct);
	}
}

static void udps(px_quota_t *q, const char *src, int n, uint32_t id0)
{
	int i;

	for (i = 0; i < n; i++) {
		px_ct_t ct = conn(src, 17, (uint16_t)(id0 + i), id0 + i);

		px_quota_event(q, PX_CT_NEW, &ct);
	}
}

static px_quota_t *quota(uint64_t half_open, uint64_t udp, px_mode_t mode)
{
	px_quota_t *q = px_quota_new(NULL);
	px_policy_t p;

	px_policy_init(&p);
	if (half_open)
		p.limits.value[PX_LIM_TCP_HALF_OPEN] = half_open;
	if (udp)
		p.limits.value[PX_LIM_UDP_CONCURRENT] = udp;
	p.limits.mode[PX_LIM_TCP_HALF_OPEN] = mode;
	p.limits.mode[PX_LIM_UDP_CONCURRENT] = mode;
	px_quota_set_policy(q, &p);
	px_policy_free(&p);
	return q;
}

TEST(quota_half_open_over_and_under)
{
	px_quota_t *q = quota(0, 0, PX_MODE_ENFORCE); /* default 80 */
	px_quota_actions_t a;
	px_quota_stats_t st;
	px_ct_t ct;

	px_quota_actions_init(&a);
	syns(q, "198.51.100.7", 80, 1);
	px_quota_decide(q, 1000, &a);
	CHECK_INT(a.n, 0);
	syns(q, "198.51.100.7", 1, 81);
	px_quota_decide(q, 1000, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_BLOCK);
	CHECK_INT(a.v[0].quota, PX_Q_HALF_OPEN);
	CHECK_STR(fmt(&a.v[0].src), "198.51.100.7");
	CHECK_INT(a.v[0].count, 81);
	CHECK_INT(a.v[0].limit, 80);
	CHECK(a.v[0].apply && a.v[0].log && !a.v[0].observe);
	CHECK(!a.v[0].refresh);

	/* Still over: no second block; a handshake completing brings it
	 * back to 81, a destroy to 80: unblock. */
	px_quota_actions_clear(&a);
	syns(q, "198.51.100.7", 1, 82);
	ct = conn("198.51.100.7", 6, 10082, 82);
	ct.tcp_state = PX_TCP_ESTABLISHED;
	px_quota_event(q, PX_CT_UPDATE, &ct);
	px_quota_decide(q, 1500, &a);
	CHECK_INT(a.n, 0);
	ct = conn("198.51.100.7", 6, 10081, 81);
	px_quota_event(q, PX_CT_DESTROY, &ct);
	px_quota_decide(q, 1600, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_UNBLOCK);
	CHECK_INT(a.v[0].count, 80);
	CHECK(a.v[0].apply && a.v[0].log);
	px_quota_stats(q, &st);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].blocked, 1);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].active, 0);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].nrecent, 1);
	CHECK_STR(fmt(&st.q[PX_Q_HALF_OPEN].recent[0]), "198.51.100.7");
	CHECK_INT(st.sources, 1);
	CHECK_INT(st.conns, 80);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_half_open_states_and_refresh)
{
	px_quota_t *q = quota(2, 0, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_ct_t ct;

	px_quota_actions_init(&a);
	/* SYN_RECV counts, an UPDATE without a state changes nothing, a
	 * NEW already established (picked up mid-stream) does not count. */
	syns(q, "192.0.2.9", 2, 1);
	ct = conn("192.0.2.9", 6, 10001, 1);
	ct.tcp_state = PX_TCP_SYN_RECV;
	px_quota_event(q, PX_CT_UPDATE, &ct);
	ct.tcp_state = PX_TCP_UNKNOWN;
	px_quota_event(q, PX_CT_UPDATE, &ct);
	ct = conn("192.0.2.9", 6, 10003, 3);
	ct.tcp_state = PX_TCP_ESTABLISHED;
	px_quota_event(q, PX_CT_NEW, &ct);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 0);
	syns(q, "192.0.2.9", 1, 4);
	px_quota_decide(q, 1000, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_BLOCK);

	/* Renewed every refresh_ms (3 s) while over, without a line. */
	px_quota_actions_clear(&a);
	px_quota_decide(q, 3999, &a);
	CHECK_INT(a.n, 0);
	px_quota_decide(q, 4000, &a);
	CHECK_INT(a.n, 1);
	CHECK(a.v[0].kind == PX_QA_BLOCK && a.v[0].refresh && a.v[0].apply);
	CHECK(!a.v[0].log);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_tier_limits)
{
	px_quota_t *q = px_quota_new(NULL);
	px_quota_actions_t a;
	px_policy_t p;
	px_set_t *set;

	px_quota_actions_init(&a);
	px_policy_init(&p);
	set = px_policy_find(&p, "flood-exceptions");
	px_entries_push(&set->entries, &(px_entry_t){ 0 });
	set->entries.v[0] = E("198.51.100.0/24");
	set = px_policy_add_set(&p, "partners");
	px_entries_push(&set->entries, &(px_entry_t){ 0 });
	set->entries.v[0] = E("192.0.2.0/24");
	px_limits_set_tier(&p.limits, PX_LIM_TCP_HALF_OPEN, "partners", 5);
	px_quota_set_policy(q, &p);
	px_policy_free(&p);

	/* flood-exceptions: 200 (its ISA default); partners: 5; others 80. */
	syns(q, "198.51.100.7", 150, 1);
	syns(q, "192.0.2.1", 6, 1000);
	syns(q, "203.0.113.5", 81, 2000);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 2);
	if (strcmp(fmt(&a.v[0].src), "192.0.2.1") != 0) {
		px_quota_action_t t = a.v[0];

		a.v[0] = a.v[1];
		a.v[1] = t;
	}
	CHECK_STR(fmt(&a.v[0].src), "192.0.2.1");
	CHECK_INT(a.v[0].limit, 5);
	CHECK_STR(fmt(&a.v[1].src), "203.0.113.5");
	CHECK_INT(a.v[1].limit, 80);
	px_quota_actions_clear(&a);
	syns(q, "198.51.100.7", 51, 3000);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].limit, 200);
	CHECK_INT(a.v[0].count, 201);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

/* The member's quota borrows its applied policy (no 19 MB copy of a 1M
 * set): an entry added to a tier's set in place is followed once the
 * quota is told, and a later policy borrowed releases nothing it does
 * not own. */
TEST(quota_borrowed_policy_follows_entries_in_place)
{
	px_quota_t *q = px_quota_new(NULL);
	px_quota_actions_t a;
	px_policy_t p, later;
	px_set_t *set;

	px_quota_actions_init(&a);
	px_policy_init(&p);
	set = px_policy_add_set(&p, "partners");
	px_limits_set_tier(&p.limits, PX_LIM_TCP_HALF_OPEN, "partners", 5);
	CHECK(!px_quota_use_policy(q, &p));
	syns(q, "192.0.2.1", 6, 1);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 0); /* not in partners: the default 80 */
	px_entries_push(&set->entries, &(px_entry_t){ 0 });
	set->entries.v[0] = E("192.0.2.0/24");
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 0); /* not told yet: decided on the old tier */
	px_quota_policy_changed(q);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_STR(fmt(&a.v[0].src), "192.0.2.1");
	CHECK_INT(a.v[0].limit, 5);
	/* Another borrowed policy: partners gone, 80 again, p untouched. */
	px_policy_init(&later);
	CHECK(!px_quota_use_policy(q, &later));
	px_quota_actions_clear(&a);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_UNBLOCK);
	CHECK_INT(px_policy_find(&p, "partners")->entries.n, 1);
	px_quota_actions_free(&a);
	px_quota_free(q);
	px_policy_free(&later);
	px_policy_free(&p);
}

TEST(quota_limit_change_applies_to_tracked_sources)
{
	px_quota_t *q = quota(10, 0, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_policy_t p;

	px_quota_actions_init(&a);
	syns(q, "198.51.100.7", 8, 1);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 0);
	px_policy_init(&p);
	p.limits.value[PX_LIM_TCP_HALF_OPEN] = 5;
	CHECK(!px_quota_set_policy(q, &p));
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_BLOCK);
	CHECK_INT(a.v[0].limit, 5);
	p.limits.value[PX_LIM_TCP_HALF_OPEN] = 8;
	px_quota_set_policy(q, &p);
	px_quota_actions_clear(&a);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_UNBLOCK);
	/* The prefix length keys IPv6 sources: changing it needs a resync. */
	p.limits.value[PX_LIM_IPV6_PREFIX] = 56;
	CHECK(px_quota_set_policy(q, &p));
	px_policy_free(&p);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_observe_mode_counts_only)
{
	px_quota_t *q = quota(3, 2, PX_MODE_OBSERVE);
	px_quota_actions_t a;
	px_quota_stats_t st;
	px_ct_t ct;
	size_t i;

	px_quota_actions_init(&a);
	syns(q, "198.51.100.7", 4, 1);
	udps(q, "198.51.100.7", 4, 100);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 2);
	for (i = 0; i < a.n; i++) {
		CHECK(!a.v[i].apply && a.v[i].observe && a.v[i].log);
		if (a.v[i].kind == PX_QA_EVICT)
			CHECK_INT(a.v[i].n, 2);
		else
			CHECK_INT(a.v[i].kind, PX_QA_BLOCK);
	}
	CHECK_INT(a.nsessions, 0);
	/* The two sessions observe mode "ended" no longer count: one more
	 * is one more would-end, as enforce mode would have ended one. */
	px_quota_actions_clear(&a);
	ct = conn("198.51.100.7", 17, 100, 100);
	px_quota_event(q, PX_CT_DESTROY, &ct); /* a ghost ends */
	udps(q, "198.51.100.7", 1, 200);
	px_quota_decide(q, 1000, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_EVICT);
	CHECK_INT(a.v[0].n, 1);
	CHECK(!a.v[0].log); /* one line per source and quota per minute */
	px_quota_stats(q, &st);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].blocked, 0);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].would_block, 1);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].active, 0);
	CHECK_INT(st.q[PX_Q_UDP].blocked, 0);
	CHECK_INT(st.q[PX_Q_UDP].would_block, 3);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_udp_ends_oldest_first)
{
	px_quota_t *q = quota(0, 3, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_quota_stats_t st;
	px_ct_t ct;

	px_quota_actions_init(&a);
	udps(q, "198.51.100.7", 5, 1); /* ports 1..5, in order */
	udps(q, "198.51.100.8", 3, 50);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_EVICT);
	CHECK(a.v[0].apply && a.v[0].log);
	CHECK_INT(a.v[0].count, 5);
	CHECK_INT(a.v[0].limit, 3);
	CHECK_INT(a.v[0].n, 2);
	CHECK_INT(a.nsessions, 2);
	CHECK_INT(a.sessions[a.v[0].first].sport, 1);
	CHECK_INT(a.sessions[a.v[0].first + 1].sport, 2);
	CHECK_INT(a.sessions[0].id, 1);
	CHECK_INT(a.sessions[0].proto, 17);

	/* The kernel's destroy events for them change nothing; a session
	 * that ends by itself makes room. */
	px_quota_actions_clear(&a);
	ct = conn("198.51.100.7", 17, 1, 1);
	px_quota_event(q, PX_CT_DESTROY, &ct);
	ct = conn("198.51.100.7", 17, 4, 4);
	px_quota_event(q, PX_CT_DESTROY, &ct);
	udps(q, "198.51.100.7", 1, 6);
	px_quota_decide(q, 10, &a);
	CHECK_INT(a.n, 0);
	udps(q, "198.51.100.7", 1, 7);
	px_quota_decide(q, 20, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].n, 1);
	CHECK_INT(a.sessions[a.v[0].first].sport, 3);
	CHECK(!a.v[0].log);
	/* An UPDATE of a session already ended does not bring it back. */
	px_quota_actions_clear(&a);
	ct = conn("198.51.100.7", 17, 3, 3);
	px_quota_event(q, PX_CT_UPDATE, &ct);
	px_quota_decide(q, 30, &a);
	CHECK_INT(a.n, 0);
	/* A minute later the line is due again and says what it held back. */
	udps(q, "198.51.100.7", 1, 8);
	px_quota_decide(q, 60000, &a);
	CHECK_INT(a.n, 1);
	CHECK(a.v[0].log);
	CHECK_INT(a.v[0].suppressed, 1);
	CHECK_INT(a.sessions[a.v[0].first].sport, 5);
	px_quota_stats(q, &st);
	CHECK_INT(st.q[PX_Q_UDP].blocked, 4);
	CHECK_INT(st.conns, 6);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_ipv6_sources_are_prefixes)
{
	px_quota_t *q = quota(2, 0, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_ct_t ct;

	px_quota_actions_init(&a);
	syns(q, "2001:db8:1:2::10", 1, 1);
	syns(q, "2001:db8:1:2::11", 1, 2);
	syns(q, "2001:db8:1:3::10", 2, 3); /* another /64 */
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 0);
	syns(q, "2001:db8:1:2:ffff:ffff:ffff:ffff", 1, 5);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_BLOCK);
	CHECK_STR(fmt(&a.v[0].src), "2001:db8:1:2::/64");
	CHECK_INT(a.v[0].src.family, 6);
	CHECK_INT(a.v[0].count, 3);
	/* Any address of the prefix ending a connection counts it down. */
	ct = conn("2001:db8:1:2::11", 6, 10002, 2);
	px_quota_event(q, PX_CT_DESTROY, &ct);
	px_quota_actions_clear(&a);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_UNBLOCK);
	CHECK_STR(fmt(&a.v[0].src), "2001:db8:1:2::/64");
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_source_of_masks)
{
	px_entry_t k;

	px_quota_source_of(6, E("2001:db8:aaaa:bbbb:cccc::1").addr, 56, &k);
	CHECK_STR(fmt(&k), "2001:db8:aaaa:bb00::/56");
	px_quota_source_of(6, E("2001:db8::1").addr, 128, &k);
	CHECK_STR(fmt(&k), "2001:db8::1");
	px_quota_source_of(4, E("198.51.100.7").addr, 64, &k);
	CHECK_STR(fmt(&k), "198.51.100.7");
}

TEST(quota_exempt_mgmt_local_loopback)
{
	px_quota_t *q = quota(1, 1, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_quota_stats_t st;
	px_entries_t mgmt, local;

	px_quota_actions_init(&a);
	px_entries_init(&mgmt);
	px_entries_init(&local);
	px_entries_push(&mgmt, &(px_entry_t){ 0 });
	mgmt.v[0] = E("192.0.2.0/24");
	px_entries_push(&mgmt, &(px_entry_t){ 0 });
	mgmt.v[1] = E("2001:db8:99::/48");
	px_entries_push(&local, &(px_entry_t){ 0 });
	local.v[0] = E("203.0.113.1");
	px_quota_set_mgmt(q, &mgmt);
	px_quota_set_local(q, &local);
	px_entries_free(&mgmt);
	px_entries_free(&local);

	syns(q, "192.0.2.200", 10, 1);
	udps(q, "192.0.2.201", 10, 100);
	syns(q, "2001:db8:99:1::5", 10, 200);
	syns(q, "203.0.113.1", 10, 300);
	udps(q, "127.0.0.1", 10, 400);
	syns(q, "::1", 10, 500);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 0);
	px_quota_stats(q, &st);
	CHECK_INT(st.sources, 0);
	CHECK_INT(st.conns, 0);
	CHECK(px_quota_exempt(q, 4, E("192.0.2.1").addr));
	CHECK(!px_quota_exempt(q, 4, E("192.0.3.1").addr));
	CHECK(!px_quota_exempt(q, 4, E("203.0.113.2").addr));
	/* Next to them, a source is limited as usual. */
	syns(q, "203.0.113.2", 2, 600);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_table_cap)
{
	px_quota_conf_t c = { .max_sources = 4, .max_conns = 10 };
	px_quota_t *q = px_quota_new(&c);
	px_quota_actions_t a;
	px_quota_stats_t st;
	px_policy_t p;
	char src[32];
	int i;

	px_quota_actions_init(&a);
	px_policy_init(&p);
	p.limits.value[PX_LIM_TCP_HALF_OPEN] = 1;
	px_quota_set_policy(q, &p);
	px_policy_free(&p);

	/* Full of idle sources: the least recently active gives way. */
	for (i = 1; i <= 5; i++) {
		snprintf(src, sizeof(src), "198.51.100.%d", i);
		udps(q, src, 1, (uint32_t)i);
		px_quota_decide(q, 0, &a);
	}
	px_quota_stats(q, &st);
	CHECK_INT(st.sources, 4);
	CHECK_INT(st.sources_evicted, 1);
	CHECK_INT(st.conns, 4);

	/* Blocked sources keep their place: a new one is not tracked. */
	for (i = 1; i <= 4; i++) {
		snprintf(src, sizeof(src), "192.0.2.%d", i);
		syns(q, src, 2, (uint32_t)(100 + 10 * i));
		px_quota_decide(q, 0, &a);
	}
	px_quota_stats(q, &st);
	CHECK_INT(st.sources, 4);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].active, 4);
	syns(q, "192.0.2.99", 2, 900);
	px_quota_decide(q, 0, &a);
	px_quota_stats(q, &st);
	CHECK_INT(st.sources, 4);
	CHECK(st.sources_dropped >= 1);
	CHECK_INT(st.q[PX_Q_HALF_OPEN].active, 4);

	/* The connection cap holds too (8 tracked, room for 2). */
	CHECK_INT(st.conns, 8);
	syns(q, "192.0.2.1", 5, 1000);
	px_quota_stats(q, &st);
	CHECK_INT(st.conns, 10);
	CHECK_INT(st.conns_dropped, 3);

	/* A clean stop unblocks everything it blocked. */
	px_quota_actions_clear(&a);
	px_quota_unblock_all(q, &a);
	CHECK_INT(a.n, 4);
	for (i = 0; i < 4; i++)
		CHECK(a.v[i].kind == PX_QA_UNBLOCK && a.v[i].apply);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_resync_keeps_ages_and_blocks)
{
	px_quota_t *q = quota(1, 2, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_ct_t dump[3];

	px_quota_actions_init(&a);
	udps(q, "198.51.100.7", 2, 10); /* ids 10, 11 = born 10, 11 */
	syns(q, "192.0.2.9", 2, 100);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].kind, PX_QA_BLOCK);

	/* The dump: session 11 and 10 (the kernel's order, ages unknown to
	 * it) and 12, which appeared while events were lost, born 10.5 in
	 * the dump's clock: 10 is still the oldest because it is known. */
	dump[0] = conn("198.51.100.7", 17, 11, 11);
	dump[1] = conn("198.51.100.7", 17, 10, 10);
	dump[2] = conn("198.51.100.7", 17, 12, 12);
	dump[0].born = dump[1].born = 1000;
	dump[2].born = 10;
	px_quota_actions_clear(&a);
	px_quota_resync(q, dump, 3);
	px_quota_decide(q, 0, &a);
	/* The half-open connections are gone from the dump: unblock. */
	CHECK_INT(a.n, 2);
	if (a.v[0].kind != PX_QA_EVICT) {
		px_quota_action_t t = a.v[0];

		a.v[0] = a.v[1];
		a.v[1] = t;
	}
	CHECK_INT(a.v[0].kind, PX_QA_EVICT);
	CHECK_INT(a.v[0].n, 1);
	CHECK_INT(a.sessions[a.v[0].first].sport, 10);
	CHECK_INT(a.v[1].kind, PX_QA_UNBLOCK);
	CHECK_STR(fmt(&a.v[1].src), "192.0.2.9");
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_mode_switch)
{
	px_quota_t *q = quota(1, 0, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_policy_t p;

	px_quota_actions_init(&a);
	syns(q, "198.51.100.7", 2, 1);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK(a.v[0].apply);
	/* To observe: the block is lifted, the source would be blocked. */
	px_policy_init(&p);
	p.limits.value[PX_LIM_TCP_HALF_OPEN] = 1;
	p.limits.mode[PX_LIM_TCP_HALF_OPEN] = PX_MODE_OBSERVE;
	px_quota_set_policy(q, &p);
	px_quota_actions_clear(&a);
	px_quota_decide(q, 1000, &a);
	CHECK_INT(a.n, 2);
	CHECK(a.v[0].kind == PX_QA_UNBLOCK && a.v[0].apply);
	CHECK(a.v[1].kind == PX_QA_BLOCK && !a.v[1].apply && a.v[1].observe);
	/* udp-concurrent from observe to enforce asks for a resync. */
	p.limits.mode[PX_LIM_UDP_CONCURRENT] = PX_MODE_OBSERVE;
	CHECK(!px_quota_set_policy(q, &p));
	p.limits.mode[PX_LIM_UDP_CONCURRENT] = PX_MODE_ENFORCE;
	CHECK(px_quota_set_policy(q, &p));
	px_policy_free(&p);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_held_back_block_is_reported)
{
	px_quota_t *q = quota(1, 0, PX_MODE_ENFORCE);
	px_quota_actions_t a;
	px_ct_t ct;

	px_quota_actions_init(&a);
	syns(q, "198.51.100.7", 2, 1);
	px_quota_decide(q, 0, &a);
	CHECK(a.v[0].log);
	ct = conn("198.51.100.7", 6, 10001, 1);
	px_quota_event(q, PX_CT_DESTROY, &ct);
	px_quota_actions_clear(&a);
	px_quota_decide(q, 100, &a);
	CHECK(a.n == 1 && a.v[0].kind == PX_QA_UNBLOCK && a.v[0].log);
	/* Blocked again within the minute: applied, no line... */
	syns(q, "198.51.100.7", 1, 3);
	px_quota_actions_clear(&a);
	px_quota_decide(q, 200, &a);
	CHECK(a.n == 1 && a.v[0].apply && !a.v[0].log);
	/* ...until lines are due again: then a report-only line. */
	px_quota_actions_clear(&a);
	px_quota_decide(q, 60000, &a);
	CHECK_INT(a.n, 2); /* the renewal and the line */
	CHECK(a.v[0].refresh && a.v[0].apply && !a.v[0].log);
	CHECK(!a.v[1].apply && a.v[1].log && a.v[1].kind == PX_QA_BLOCK);
	CHECK_INT(a.v[1].suppressed, 1);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

TEST(quota_observe_resync_counts_once)
{
	px_quota_t *q = quota(0, 2, PX_MODE_OBSERVE);
	px_quota_actions_t a;
	px_quota_stats_t st;
	px_ct_t dump[5];
	px_policy_t p;
	int i;

	px_quota_actions_init(&a);
	/* The first dump: 4 sessions, 2 over the limit, counted. */
	for (i = 0; i < 4; i++)
		dump[i] = conn("198.51.100.7", 17, (uint16_t)(i + 1),
			       (uint32_t)(i + 1));
	px_quota_resync(q, dump, 4);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].n, 2);
	px_quota_stats(q, &st);
	CHECK_INT(st.q[PX_Q_UDP].would_block, 2);
	/* Again with one new session: only that one is new over the limit. */
	for (i = 0; i < 5; i++)
		dump[i] = conn("198.51.100.7", 17, (uint16_t)(i + 1),
			       (uint32_t)(i + 1));
	px_quota_actions_clear(&a);
	px_quota_resync(q, dump, 5);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK_INT(a.v[0].n, 1);
	px_quota_stats(q, &st);
	CHECK_INT(st.q[PX_Q_UDP].would_block, 3);
	/* To enforce: the sessions observe mode only counted are ended. */
	px_policy_init(&p);
	p.limits.value[PX_LIM_UDP_CONCURRENT] = 2;
	CHECK(px_quota_set_policy(q, &p));
	px_policy_free(&p);
	for (i = 0; i < 5; i++)
		dump[i] = conn("198.51.100.7", 17, (uint16_t)(i + 1),
			       (uint32_t)(i + 1));
	px_quota_actions_clear(&a);
	px_quota_resync(q, dump, 5);
	px_quota_decide(q, 0, &a);
	CHECK_INT(a.n, 1);
	CHECK(a.v[0].apply);
	CHECK_INT(a.v[0].n, 3);
	CHECK_INT(a.sessions[a.v[0].first].sport, 1);
	CHECK_INT(a.sessions[a.v[0].first + 2].sport, 3);
	px_quota_actions_free(&a);
	px_quota_free(q);
}

/* syn-attack's inputs: the member's half-open total follows NEW, the
 * state change to ESTABLISHED, DESTROY and resync; the top sources come
 * highest first and only those holding some. */
TEST(quota_half_open_total_and_top_sources)
{
	px_quota_t *q = quota(1000, 0, PX_MODE_ENFORCE);
	px_quota_stats_t st;
	px_entry_t top[3];
	uint32_t count[3];
	px_ct_t ct;

	syns(q, "198.51.100.2", 5, 1);
	syns(q, "198.51.100.3", 9, 100);
	syns(q, "198.51.100.4", 2, 200);
	syns(q, "198.51.100.5", 7, 300);
	udps(q, "198.51.100.6", 4, 400);
	px_quota_stats(q, &st);
	CHECK_INT(st.half_open, 23);
	CHECK_INT(px_quota_top_half_open(q, top, count, 3), 3);
	CHECK_STR(fmt(&top[0]), "198.51.100.3");
	CHECK_INT(count[0], 9);
	CHECK_STR(fmt(&top[1]), "198.51.100.5");
	CHECK_INT(count[1], 7);
	CHECK_STR(fmt(&top[2]), "198.51.100.2");
	CHECK_INT(count[2], 5);
	/* A completed handshake is no longer half-open; a destroy ends one. */
	ct = conn("198.51.100.3", 6, 10100, 100);
	ct.tcp_state = PX_TCP_ESTABLISHED;
	px_quota_event(q, PX_CT_UPDATE, &ct);
	ct = conn("198.51.100.3", 6, 10101, 101);
	px_quota_event(q, PX_CT_DESTROY, &ct);
	px_quota_stats(q, &st);
	CHECK_INT(st.half_open, 21);
	/* Resync replaces everything: one half-open left. */
	ct = conn("198.51.100.9", 6, 1, 900);
	px_quota_resync(q, &ct, 1);
	px_quota_stats(q, &st);
	CHECK_INT(st.half_open, 1);
	CHECK_INT(px_quota_top_half_open(q, top, count, 3), 1);
	CHECK_STR(fmt(&top[0]), "198.51.100.9");
	px_quota_free(q);
}
