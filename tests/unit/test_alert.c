/* test_alert.c - the alert engine (lib/alert.c), the store's admission
 * of alerts (manual/auto reset, disabled types).  The member's outbox is
 * tested with its state (test_state.c). */
#include <stdlib.h>
#include <unistd.h>

#include "alert.h"
#include "px.h"
#include "unit.h"

#define W 60000 /* the default window */

static px_entry_t host(const char *s)
{
	px_entry_t e;

	px_entry_parse(s, &e);
	return e;
}

static void exceed(px_alert_engine_t *e, const char *type,
		   const px_entry_t *src, uint64_t now, px_alerts_t *out)
{
	px_alert_obs_t o = { type, src, 30, 20, true, NULL };

	px_alert_observe(e, &o, now, out);
}

/* Alerts of state st in out. */
static size_t count_state(const px_alerts_t *out, px_alert_state_t st)
{
	size_t i, n = 0;

	for (i = 0; i < out->n; i++)
		n += out->v[i].state == st;
	return n;
}

TEST(alert_first_excess_raises_exceeded_with_fields)
{
	px_alert_engine_t *e = px_alert_new(NULL);
	px_alerts_t out;
	px_entry_t s = host("198.51.100.7");

	px_alerts_init(&out);
	exceed(e, "tcp-connect-rate", &s, 1000, &out);
	CHECK_INT(out.n, 1);
	CHECK_STR(out.v[0].type, "tcp-connect-rate");
	CHECK_INT(out.v[0].state, PX_ALERT_EXCEEDED);
	CHECK(out.v[0].has_source);
	CHECK_INT(px_entry_cmp(&out.v[0].source, &s), 0);
	CHECK_INT(out.v[0].count, 30);
	CHECK_INT(out.v[0].limit, 20);
	CHECK_INT(out.v[0].suppressed, 0);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_one_per_window_while_exceeding)
{
	px_alert_engine_t *e = px_alert_new(NULL);
	px_alerts_t out;
	px_entry_t s = host("198.51.100.7");
	uint64_t t;

	px_alerts_init(&out);
	/* Exceeding every second for three windows: exceeded at 0, W, 2W. */
	for (t = 0; t < 3 * W; t += 1000) {
		exceed(e, "tcp-connect-rate", &s, 5000 + t, &out);
		px_alert_tick(e, 5000 + t, &out);
	}
	CHECK_INT(count_state(&out, PX_ALERT_EXCEEDED), 3);
	CHECK_INT(count_state(&out, PX_ALERT_RECOVERED), 0);
	CHECK_INT(out.v[1].time_ms - out.v[0].time_ms, W);
	/* It stops: one recovered a window after the last excess, once. */
	for (t = 3 * W; t < 6 * W; t += 1000)
		px_alert_tick(e, 5000 + t, &out);
	CHECK_INT(count_state(&out, PX_ALERT_EXCEEDED), 3);
	CHECK_INT(count_state(&out, PX_ALERT_RECOVERED), 1);
	CHECK_INT(out.v[3].time_ms, 5000 + 3 * W - 1000 + W);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_keys_are_per_source_and_type)
{
	px_alert_engine_t *e = px_alert_new(NULL);
	px_alerts_t out;
	px_entry_t a = host("198.51.100.7"), b = host("2001:db8::1");

	px_alerts_init(&out);
	exceed(e, "tcp-connect-rate", &a, 0, &out);
	exceed(e, "tcp-connect-rate", &b, 0, &out);
	exceed(e, "http-request-rate", &a, 0, &out);
	exceed(e, "events-lost", NULL, 0, &out);
	exceed(e, "tcp-connect-rate", &a, 10, &out);   /* same key */
	exceed(e, "events-lost", NULL, 20, &out);       /* same key */
	CHECK_INT(out.n, 4);
	CHECK(!out.v[3].has_source);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_explicit_no_longer_recovers_once_and_rearms)
{
	px_alert_engine_t *e = px_alert_new(NULL);
	px_alerts_t out;
	px_entry_t s = host("198.51.100.7");
	px_alert_obs_t stop = { "store-lost", NULL, 0, 0, false, "back" };

	px_alerts_init(&out);
	exceed(e, "store-lost", NULL, 0, &out);
	px_alert_observe(e, &stop, 1000, &out);
	px_alert_observe(e, &stop, 2000, &out);   /* nothing to recover */
	CHECK_INT(out.n, 2);
	CHECK_INT(out.v[1].state, PX_ALERT_RECOVERED);
	CHECK_STR(out.v[1].text, "back");
	/* A new excess after recovery is a new exceeded, window or not. */
	exceed(e, "store-lost", NULL, 3000, &out);
	CHECK_INT(out.n, 3);
	CHECK_INT(out.v[2].state, PX_ALERT_EXCEEDED);
	/* No longer, for a key never seen: nothing. */
	stop.source = &s;
	stop.type = "tcp-connect-rate";
	px_alert_observe(e, &stop, 4000, &out);
	CHECK_INT(out.n, 3);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_cap_suppresses_and_counts_exactly)
{
	px_alert_conf_t conf = { 5000, 3, 0 };
	px_alert_engine_t *e = px_alert_new(&conf);
	px_alerts_t out;
	px_alert_stats_t st;
	uint64_t sum = 0, t;
	size_t i;
	char a[32];

	px_alerts_init(&out);
	/* 50 sources exceed in one second: 3 go out, 47 are suppressed. */
	for (i = 0; i < 50; i++) {
		px_entry_t s;

		snprintf(a, sizeof(a), "198.51.100.%zu", i + 1);
		s = host(a);
		exceed(e, "tcp-connect-rate", &s, 10000, &out);
	}
	CHECK_INT(out.n, 3);
	CHECK_INT(out.v[0].suppressed, 0);
	px_alert_stats(e, &st);
	CHECK_INT(st.suppressed, 47);
	/* Next second: the first alert out carries the 47. */
	px_alert_tick(e, 11000, &out);
	CHECK_INT(out.n, 4);
	CHECK_STR(out.v[3].type, "alerts-suppressed");
	CHECK_INT(out.v[3].state, PX_ALERT_INFO);
	CHECK_INT(out.v[3].suppressed, 47);
	/* All 50 recover in one tick: 3 out, 47 suppressed, carried later;
	 * every exceeded had its recovered, seen or counted. */
	for (t = 12000; t < 20000; t += 1000)
		px_alert_tick(e, 15000 + t, &out);
	for (i = 0; i < out.n; i++)
		sum += out.v[i].suppressed;
	px_alert_stats(e, &st);
	CHECK_INT(st.suppressed, 94);
	CHECK_INT(sum, 94);
	CHECK_INT(count_state(&out, PX_ALERT_EXCEEDED) +
		  count_state(&out, PX_ALERT_RECOVERED) + sum, 100);
	CHECK_INT(st.keys, 0);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_suppressed_count_rides_on_next_alert_of_any_kind)
{
	px_alert_conf_t conf = { 5000, 1, 0 };
	px_alert_engine_t *e = px_alert_new(&conf);
	px_alerts_t out;
	px_entry_t a = host("198.51.100.1"), b = host("198.51.100.2");

	px_alerts_init(&out);
	exceed(e, "tcp-connect-rate", &a, 1000, &out);
	exceed(e, "tcp-connect-rate", &b, 1500, &out); /* suppressed */
	px_alert_info(e, "events-lost", NULL, 1, 0, "x", 1600, &out); /* too */
	exceed(e, "udp-concurrent", &a, 2100, &out);   /* next second */
	CHECK_INT(out.n, 2);
	CHECK_STR(out.v[1].type, "udp-concurrent");
	CHECK_INT(out.v[1].suppressed, 2);
	px_alert_tick(e, 3000, &out);                 /* nothing pending */
	CHECK_INT(out.n, 2);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_table_cap_untracked_then_room_after_recovery)
{
	px_alert_conf_t conf = { 5000, 1000, 4 };
	px_alert_engine_t *e = px_alert_new(&conf);
	px_alerts_t out;
	px_alert_stats_t st;
	char a[32];
	size_t i;

	px_alerts_init(&out);
	for (i = 0; i < 6; i++) {
		px_entry_t s;

		snprintf(a, sizeof(a), "198.51.100.%zu", i + 1);
		s = host(a);
		exceed(e, "tcp-connect-rate", &s, 1000, &out);
	}
	px_alert_stats(e, &st);
	CHECK_INT(out.n, 4);
	CHECK_INT(st.keys, 4);
	CHECK_INT(st.untracked, 2);
	/* The tracked ones recover after a window: the table is empty, and
	 * a new source is tracked again. */
	px_alert_tick(e, 6000, &out);
	CHECK_INT(count_state(&out, PX_ALERT_RECOVERED), 4);
	px_alert_stats(e, &st);
	CHECK_INT(st.keys, 0);
	{
		px_entry_t s = host("198.51.100.99");

		exceed(e, "tcp-connect-rate", &s, 7000, &out);
	}
	CHECK_INT(out.n, 9);
	CHECK_INT(out.v[8].state, PX_ALERT_EXCEEDED);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_disabled_type_raises_nothing_and_forgets)
{
	px_alert_engine_t *e = px_alert_new(NULL);
	px_alerts_t out;
	px_entry_t s = host("198.51.100.7");
	px_alert_stats_t st;

	px_alerts_init(&out);
	exceed(e, "tcp-connect-rate", &s, 0, &out);
	px_alert_set_enabled(e, "tcp-connect-rate", false);
	px_alert_stats(e, &st);
	CHECK_INT(st.keys, 0);
	CHECK(!px_alert_enabled(e, "tcp-connect-rate"));
	exceed(e, "tcp-connect-rate", &s, 1000, &out);
	px_alert_tick(e, 2 * W, &out);
	CHECK_INT(out.n, 1);
	px_alert_set_enabled(e, "tcp-connect-rate", true);
	exceed(e, "tcp-connect-rate", &s, 2 * W + 1, &out);
	CHECK_INT(out.n, 2);
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_types_and_states)
{
	CHECK(px_alert_type_valid("tcp-connect-rate"));
	CHECK(px_alert_type_valid("udp-concurrent"));
	CHECK(px_alert_type_valid("events-lost"));
	CHECK(px_alert_type_valid("store-lost"));
	CHECK(!px_alert_type_valid("block-time"));  /* a setting */
	CHECK(!px_alert_type_valid("nonsense"));
	CHECK_INT(px_alert_state_parse("recovered"), PX_ALERT_RECOVERED);
	CHECK_INT(px_alert_state_parse("exceed"), -1);
}

/* Attack protection's drops each have a type (issue 12): valid for the
 * store and ctl, and the engine keeps them to one a source a window. */
TEST(alert_protection_drop_types_one_per_source_and_window)
{
	static const char *const types[] = {
		PX_ALERT_BROADCAST, PX_ALERT_FRAGMENT, PX_ALERT_IP_OPTIONS,
		PX_ALERT_DEFAULT_DENY, PX_ALERT_BAD_CHECKSUM,
	};
	px_alert_engine_t *e = px_alert_new(NULL);
	px_alerts_t out;
	px_entry_t a = host("198.51.100.7"), b = host("198.51.100.8");
	size_t i;

	px_alerts_init(&out);
	CHECK_STR(PX_ALERT_BROADCAST, "broadcast-dropped");
	CHECK_STR(PX_ALERT_FRAGMENT, "fragment-dropped");
	CHECK_STR(PX_ALERT_IP_OPTIONS, "ip-options-dropped");
	CHECK_STR(PX_ALERT_DEFAULT_DENY, "default-deny");
	CHECK_STR(PX_ALERT_BAD_CHECKSUM, "bad-tcp-checksum");
	for (i = 0; i < 5; i++) {
		px_alert_obs_t o = { types[i], &a, 1, 0, true, NULL };

		CHECK(px_alert_type_valid(types[i]));
		px_alerts_clear(&out);
		px_alert_observe(e, &o, i * 10 * W, &out);
		px_alert_observe(e, &o, i * 10 * W + 1000, &out);
		px_alert_observe(e, &o, i * 10 * W + W - 1, &out);
		o.source = &b;
		px_alert_observe(e, &o, i * 10 * W + 2000, &out);
		CHECK_INT(out.n, 2);        /* a's once, b's once */
		CHECK_STR(out.v[0].type, types[i]);
		CHECK_INT(px_entry_cmp(&out.v[0].source, &a), 0);
		CHECK_INT(px_entry_cmp(&out.v[1].source, &b), 0);
		o.source = &a;
		px_alert_observe(e, &o, i * 10 * W + W, &out);
		CHECK_INT(out.n, 3);        /* the next window: again */
		px_alert_tick(e, i * 10 * W + 5 * W, &out); /* recovered */
	}
	px_alerts_free(&out);
	px_alert_free(e);
}

/* An engine interns every type there is: a type past its table would
 * raise nothing (the store's disabled list interns them all). */
TEST(alert_engine_holds_every_type)
{
	px_alert_engine_t *e = px_alert_new(NULL);
	px_alerts_t out;
	px_entry_t a = host("198.51.100.7");
	size_t i, n;
	const char *const *types = px_alert_types(&n);

	CHECK(n <= PX_ALERT_TYPES);
	px_alerts_init(&out);
	for (i = 0; i < n; i++)
		px_alert_set_enabled(e, types[i], true);
	for (i = 0; i < n; i++) {
		px_alert_obs_t o = { types[i], &a, 1, 0, true, NULL };

		px_alerts_clear(&out);
		px_alert_observe(e, &o, (i + 1) * 1000, &out);
		CHECK_INT(out.n, 1);
		CHECK_STR(out.v[0].type, types[i]);
	}
	px_alerts_free(&out);
	px_alert_free(e);
}

TEST(alert_recent_new_finds_sources_acted_on)
{
	px_entry_t a = host("198.51.100.1"), b = host("198.51.100.2"),
		   c = host("198.51.100.3"), d = host("198.51.100.4");
	px_entry_t old[3] = { a, b, c };
	px_entry_t x1[4] = { d, a, b, c };      /* d is new */
	px_entry_t x2[3] = { c, a, b };         /* c acted on again */
	px_entry_t x3[3] = { a, b, c };         /* a again: still first */
	px_entry_t x4[4] = { d, b, a, c };      /* d and b, in that order */
	px_entry_t x5[3] = { d, c, b };         /* cut at 3: d, c then b */

	CHECK_INT(px_alert_recent_new(old, 3, x1, 4), 1);
	CHECK_INT(px_alert_recent_new(old, 3, x2, 3), 1);
	CHECK_INT(px_alert_recent_new(old, 3, x3, 3), 1);
	CHECK_INT(px_alert_recent_new(old, 3, x4, 4), 2);
	CHECK_INT(px_alert_recent_new(old, 3, x5, 3), 3);
	CHECK_INT(px_alert_recent_new(NULL, 0, x1, 4), 4);
	CHECK_INT(px_alert_recent_new(old, 3, x1, 1), 1);
}

/* ---- the store's admission: manual and auto reset ---- */

TEST(admit_auto_reset)
{
	int act;

	CHECK_INT(px_alert_admit(true, false, false, PX_ALERT_EXCEEDED, &act),
		  PX_ADMIT_RECORD);
	CHECK_INT(act, 1);
	/* A repeat while active is shown (one a window, member-side). */
	CHECK_INT(px_alert_admit(true, false, true, PX_ALERT_EXCEEDED, &act),
		  PX_ADMIT_RECORD);
	CHECK_INT(act, 1);
	CHECK_INT(px_alert_admit(true, false, true, PX_ALERT_RECOVERED, &act),
		  PX_ADMIT_RECORD);
	CHECK_INT(act, -1);
	CHECK_INT(px_alert_admit(true, false, false, PX_ALERT_INFO, &act),
		  PX_ADMIT_RECORD);
	CHECK_INT(act, 0);
}

TEST(admit_manual_reset_stays_active_until_reset_then_fires_again)
{
	bool active = false;
	int act;

	/* first excess: recorded, active */
	CHECK_INT(px_alert_admit(true, true, active, PX_ALERT_EXCEEDED, &act),
		  PX_ADMIT_RECORD);
	CHECK_INT(act, 1);
	active = true;
	/* repeats while active: absorbed, not raised again */
	CHECK_INT(px_alert_admit(true, true, active, PX_ALERT_EXCEEDED, &act),
		  PX_ADMIT_ABSORB);
	/* recovered: recorded, but it stays active */
	CHECK_INT(px_alert_admit(true, true, active, PX_ALERT_RECOVERED, &act),
		  PX_ADMIT_RECORD);
	CHECK_INT(act, 0);
	/* a new excess while still active: absorbed */
	CHECK_INT(px_alert_admit(true, true, active, PX_ALERT_EXCEEDED, &act),
		  PX_ADMIT_ABSORB);
	/* `alerts reset' clears it: the next excess fires again */
	active = false;
	CHECK_INT(px_alert_admit(true, true, active, PX_ALERT_EXCEEDED, &act),
		  PX_ADMIT_RECORD);
	CHECK_INT(act, 1);
}

TEST(admit_disabled_drops)
{
	int act;

	CHECK_INT(px_alert_admit(false, false, false, PX_ALERT_EXCEEDED, &act),
		  PX_ADMIT_DROP);
	CHECK_INT(px_alert_admit(false, true, true, PX_ALERT_RECOVERED, &act),
		  PX_ADMIT_DROP);
	CHECK_INT(act, 0);
}
