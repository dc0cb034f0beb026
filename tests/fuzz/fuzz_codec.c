/* fuzz_codec - what the member does with the policy messages it receives
 * (node/sync.c, through lib/codec.c), without the Envelope around them.
 * The first byte picks the message, the rest is its packed form:
 *   even: a Change, applied as the member applies one: to a copy of a
 *         base policy (flood-exceptions plus set "blocklist" with a host
 *         and a prefix) with px_policy_apply_setops, _limitops, _lists;
 *   odd:  a SnapshotChunk, applied with px_policy_apply_chunk as chunk
 *         seq 0 would be (and then whatever seq it names).
 * A policy they accept that passes the member's consistency check
 * (fuzz_policy_consistent in fuzz.h) must survive a round trip: px_policy_chunks in
 * chunks of at most 2 entries, each packed and unpacked as an Envelope
 * and applied to an empty policy, gives the same policy, sets sorted and
 * duplicate-free. */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"
#include "fuzz.h"
#include "px.h"
#include "wire.h"

static void base_policy(px_policy_t *p)
{
	static const char *const entries[] = { "192.0.2.7", "2001:db8::/48" };
	px_set_t *s;
	px_entry_t e;
	size_t i;

	px_policy_init(p);
	s = px_policy_add_set(p, "blocklist");
	for (i = 0; i < 2; i++) {
		if (px_entry_parse(entries[i], &e) != 0)
			__builtin_trap();
		px_entries_push(&s->entries, &e);
	}
	px_entries_normalize(&s->entries);
	p->version = 5;
}

static void check_sets(const px_policy_t *p)
{
	size_t i, j;

	for (i = 0; i < p->nsets; i++) {
		if (i && strcmp(p->sets[i - 1].name, p->sets[i].name) >= 0)
			__builtin_trap();
		for (j = 1; j < p->sets[i].entries.n; j++)
			if (px_entry_cmp(&p->sets[i].entries.v[j - 1],
					 &p->sets[i].entries.v[j]) >= 0)
				__builtin_trap();
	}
}

static int apply_change(px_policy_t *p, const uint8_t *data, size_t size)
{
	Phalanx__Change *c = phalanx__change__unpack(NULL, size, data);
	size_t bad = 0;
	int rc;

	if (!c)
		return PX_EDECODE;
	rc = px_policy_apply_setops(p, c->sets, c->n_sets, &bad);
	if (rc == 0)
		rc = px_policy_apply_limitops(p, c->limits, c->n_limits);
	if (rc == 0)
		rc = px_policy_apply_lists(p, c->rules_set, c->rules, c->n_rules,
					   c->services_set, c->services,
					   c->n_services);
	if (rc == 0)
		p->version = c->version;
	phalanx__change__free_unpacked(c, NULL);
	return rc;
}

static int apply_chunk(px_policy_t *p, const uint8_t *data, size_t size)
{
	Phalanx__SnapshotChunk *c =
		phalanx__snapshot_chunk__unpack(NULL, size, data);
	int rc;

	if (!c)
		return PX_EDECODE;
	rc = px_policy_apply_chunk(p, c);
	phalanx__snapshot_chunk__free_unpacked(c, NULL);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	px_policy_t base, p, q;
	int rc;

	if (size < 1)
		return 0;
	base_policy(&base);
	px_policy_copy(&p, &base);
	px_policy_init(&q);
	if (data[0] % 2 == 0)
		rc = apply_change(&p, data + 1, size - 1);
	else
		rc = apply_chunk(&p, data + 1, size - 1);
	if (rc == 0)
		check_sets(&p);
	if (rc == 0 && fuzz_policy_consistent(&p)) {
		if (px_policy_chunks(&p, 2, fuzz_chunk_through_wire, &q) != 0 ||
		    !fuzz_policy_equal(&p, &q))
			__builtin_trap();
	}
	px_policy_free(&q);
	px_policy_free(&p);
	px_policy_free(&base);
	return 0;
}
