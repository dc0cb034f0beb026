/* test_store_index.c - the store's set index (lib/policy.c px_set_*):
 * membership and prefix overlap against entries plus the pending
 * overlay agree with the flat set, before and after the overlay is
 * merged; the cost of one add does not grow with the set. */
#include <stdlib.h>
#include <time.h>

#include "addr.h"
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

static void one(px_set_t *s, const char *add, const char *del)
{
	px_entries_t a, d;
	px_entry_t e;

	px_entries_init(&a);
	px_entries_init(&d);
	if (add) {
		e = E(add);
		px_entries_push(&a, &e);
	}
	if (del) {
		e = E(del);
		px_entries_push(&d, &e);
	}
	px_set_change(s, &a, &d);
	px_entries_free(&a);
	px_entries_free(&d);
}

static void set_free(px_set_t *s)
{
	px_entries_free(&s->entries);
	px_entries_free(&s->padd);
	px_entries_free(&s->pdel);
}

TEST(store_index_has_and_count_through_the_overlay)
{
	px_set_t s;
	px_entry_t e;

	memset(&s, 0, sizeof(s));
	e = E("10.0.0.1");
	px_entries_push(&s.entries, &e);
	e = E("10.0.0.2");
	px_entries_push(&s.entries, &e);
	one(&s, "10.0.0.3", NULL);
	one(&s, NULL, "10.0.0.1");
	CHECK_INT(px_set_count(&s), 2);
	e = E("10.0.0.1");
	CHECK(!px_set_has(&s, &e));
	e = E("10.0.0.3");
	CHECK(px_set_has(&s, &e));
	CHECK_INT(s.entries.n, 2); /* not merged yet: the overlay holds it */
	/* Adding back what the overlay deleted cancels the deletion. */
	one(&s, "10.0.0.1", NULL);
	CHECK_INT(s.pdel.n, 0);
	e = E("10.0.0.1");
	CHECK(px_set_has(&s, &e));
	px_set_settle(&s);
	CHECK_INT(s.entries.n, 3);
	CHECK_INT(s.padd.n + s.pdel.n, 0);
	CHECK_INT(px_set_count(&s), 3);
	set_free(&s);
}

TEST(store_index_overlap_against_set_and_overlay)
{
	px_set_t s;
	px_entry_t e, p;
	const px_entry_t *o;

	memset(&s, 0, sizeof(s));
	e = E("10.0.0.0/16");
	px_entries_push(&s.entries, &e);
	e = E("10.2.0.0/16");
	px_entries_push(&s.entries, &e);
	e = E("10.1.2.3"); /* a host inside a prefix is not an overlap */
	p = E("10.1.0.0/16");
	CHECK(px_set_overlap(&s, &e) == NULL);
	CHECK(px_set_overlap(&s, &p) == NULL);
	p = E("10.0.5.0/24");             /* inside 10.0/16: covered */
	o = px_set_overlap(&s, &p);
	CHECK(o != NULL && px_entry_cmp(o, &s.entries.v[0]) == 0);
	p = E("10.0.0.0/8");              /* covers both */
	CHECK(px_set_overlap(&s, &p) != NULL);
	p = E("10.0.0.0/16");             /* itself: no overlap */
	CHECK(px_set_overlap(&s, &p) == NULL);
	p = E("2001:db8::/32");           /* other family */
	CHECK(px_set_overlap(&s, &p) == NULL);
	/* Deleted in the overlay: no longer there to overlap. */
	one(&s, NULL, "10.0.0.0/16");
	p = E("10.0.5.0/24");
	CHECK(px_set_overlap(&s, &p) == NULL);
	/* Added in the overlay: overlaps. */
	one(&s, "10.3.0.0/16", NULL);
	p = E("10.3.7.0/24");
	CHECK(px_set_overlap(&s, &p) != NULL);
	p = E("10.0.0.0/8");
	CHECK(px_set_overlap(&s, &p) != NULL);
	set_free(&s);
}

/* Random changes against a flat reference: same content after each
 * step, whether merged or not. */
TEST(store_index_matches_flat_set)
{
	px_set_t s;
	px_entries_t ref, a, d, none;
	unsigned seed = 7;
	int step;

	memset(&s, 0, sizeof(s));
	px_entries_init(&ref);
	px_entries_init(&none);
	for (step = 0; step < 20000; step++) {
		px_entry_t e;
		uint32_t x = (uint32_t)rand_r(&seed) % 6000;

		memset(&e, 0, sizeof(e));
		e.family = 4;
		e.plen = 32;
		e.addr[0] = 10;
		e.addr[2] = (uint8_t)(x >> 8);
		e.addr[3] = (uint8_t)x;
		px_entries_init(&a);
		px_entries_init(&d);
		px_entries_push(px_set_has(&s, &e) ? &d : &a, &e);
		px_set_change(&s, &a, &d);
		px_entries_apply(&ref, &a, &d);
		px_entries_free(&a);
		px_entries_free(&d);
		if (px_set_count(&s) != ref.n ||
		    px_set_has(&s, &e) != px_entries_contains(&ref, &e)) {
			CHECK_INT(px_set_count(&s), ref.n);
			CHECK(px_set_has(&s, &e) == px_entries_contains(&ref, &e));
		}
		CHECK(s.padd.n + s.pdel.n <= PX_SET_PENDING_MAX);
	}
	px_set_settle(&s);
	CHECK_INT(s.entries.n, ref.n);
	CHECK(memcmp(s.entries.v, ref.v, ref.n * sizeof(*ref.v)) == 0);
	px_entries_free(&ref);
	set_free(&s);
}

static uint64_t us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* One add to a set of 1,000,000 is checked and applied without touching
 * the million: 200 of them well under the cost of one copy of the set
 * (a generous bound: the machine is shared). */
TEST(store_index_one_add_does_not_scale_with_the_set)
{
	px_set_t s;
	px_entries_t copy;
	uint64_t t0, t_copy, t_adds;
	uint32_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < 1000000; i++) {
		px_entry_t e;

		memset(&e, 0, sizeof(e));
		e.family = 4;
		e.plen = 32;
		e.addr[0] = 11;
		e.addr[1] = (uint8_t)(i >> 16);
		e.addr[2] = (uint8_t)(i >> 8);
		e.addr[3] = (uint8_t)i;
		px_entries_push(&s.entries, &e);
	}
	t0 = us();
	px_entries_copy(&copy, &s.entries);
	t_copy = us() - t0;
	px_entries_free(&copy);
	t0 = us();
	for (i = 0; i < 200; i++) {
		px_entries_t a, none;
		px_entry_t e = E("12.0.0.1");

		e.addr[2] = (uint8_t)(i >> 8);
		e.addr[3] = (uint8_t)i;
		px_entries_init(&a);
		px_entries_init(&none);
		px_entries_push(&a, &e);
		CHECK(!px_set_has(&s, &e));
		CHECK(px_set_overlap(&s, &e) == NULL);
		px_set_change(&s, &a, &none);
		px_entries_free(&a);
	}
	t_adds = us() - t0;
	CHECK_INT(px_set_count(&s), 1000200);
	CHECK_INT(s.entries.n, 1000000); /* the million was not rewritten */
	if (t_adds > t_copy * 4 + 2000)
		px_test_fail(__FILE__, __LINE__, "200 adds: expected well under "
			     "one copy of the set (%llu us), saw %llu us",
			     (unsigned long long)t_copy,
			     (unsigned long long)t_adds);
	set_free(&s);
}
