/* test_entries_parts.c - px_entries_apply (lib/addr.c) with a change
 * that arrives in parts, as a large import reaches the member: applied
 * part by part (the in-place append after the last entry) it gives the
 * same set as the whole change at once (the merge), and a part that
 * does not follow the set still merges. */
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "unit.h"

static void range(px_entries_t *s, size_t from, size_t to)
{
	px_entries_init(s);
	for (size_t i = from; i < to; i++) {
		px_entry_t e = px_test_host4(i);

		px_entries_push(s, &e);
	}
}

TEST(entries_apply_in_parts_equals_at_once)
{
	px_entries_t whole, parts, add, none, all;
	size_t n = 100000, part = 8192, i;

	px_entries_init(&whole);
	px_entries_init(&parts);
	px_entries_init(&none);
	range(&all, 0, n);
	px_entries_apply(&whole, &all, &none);
	for (i = 0; i < n; i += part) {
		range(&add, i, i + part < n ? i + part : n);
		px_entries_apply(&parts, &add, &none);
		px_entries_free(&add);
	}
	CHECK_INT(parts.n, n);
	CHECK_INT(whole.n, n);
	CHECK_INT(memcmp(parts.v, whole.v, n * sizeof(px_entry_t)), 0);
	/* A part before the end (not an append) merges: 5 new, 5 known. */
	range(&add, 50, 60);
	{
		px_entry_t a = px_test_host4(n + 5);

		px_entries_push(&add, &a);
	}
	px_entries_apply(&parts, &add, &none);
	CHECK_INT(parts.n, n + 1);
	px_entries_free(&add);
	/* Appended duplicates and an entry equal to the last one collapse. */
	range(&add, n + 5, n + 8);
	px_entries_push(&add, &add.v[2]);
	px_entries_apply(&parts, &add, &none);
	CHECK_INT(parts.n, n + 3);
	for (i = 1; i < parts.n; i++)
		CHECK(px_entry_cmp(&parts.v[i - 1], &parts.v[i]) < 0);
	px_entries_free(&add);
	px_entries_free(&whole);
	px_entries_free(&parts);
	px_entries_free(&all);
}
