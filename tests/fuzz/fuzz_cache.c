/* fuzz_cache - the member's policy cache loader: px_policy_load
 * (lib/codec.c) reading the input as the cache file ("PXC1" + one packed
 * Envelope holding a SnapshotChunk).  A cache it accepts that passes the
 * member's consistency check (fuzz_policy_consistent in fuzz.h) must
 * survive a round trip: px_policy_chunks (one chunk) through Envelope pack/unpack
 * and px_policy_apply_chunk gives the same policy, and px_policy_save
 * then px_policy_load reads it back the same. */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"
#include "fuzz.h"
#include "px.h"
#include "wire.h"

static int through_wire(Phalanx__SnapshotChunk *c, void *arg)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT, *got;
	px_policy_t *q = arg;
	uint8_t *buf;
	size_t n;
	int rc;

	env.proto_version = PX_PROTO_VERSION;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	n = phalanx__envelope__get_packed_size(&env);
	buf = xmalloc(n);
	phalanx__envelope__pack(&env, buf);
	got = phalanx__envelope__unpack(NULL, n, buf);
	free(buf);
	if (!got)
		__builtin_trap(); /* what we pack we unpack */
	rc = px_policy_apply_chunk(q, got->snapshot_chunk);
	phalanx__envelope__free_unpacked(got, NULL);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	px_policy_t p, q, r;

	px_policy_init(&p);
	px_policy_init(&q);
	px_policy_init(&r);
	if (px_policy_load(fuzz_file("in", data, size), &p) == 0 &&
	    fuzz_policy_consistent(&p)) {
		if (px_policy_chunks(&p, 0, through_wire, &q) != 0 ||
		    !fuzz_policy_equal(&p, &q))
			__builtin_trap();
		if (px_policy_save(fuzz_path("out"), &p) != 0 ||
		    px_policy_load(fuzz_path("out"), &r) != 0 ||
		    !fuzz_policy_equal(&p, &r) || r.epoch != p.epoch)
			__builtin_trap();
	}
	px_policy_free(&r);
	px_policy_free(&q);
	px_policy_free(&p);
	return 0;
}
