/* fuzz_cache - the member's cache loader, px_policy_load (lib/codec.c):
 * the file's header ("PXC2", payload length, CRC-32C), the decoder of the
 * one packed Envelope holding a SnapshotChunk, and the policy validator
 * behind them.  Inputs whose first byte is odd get a correct header and
 * checksum put in front, so that mutations reach the decoder and the
 * validator behind the checksum; even ones are loaded as they are.  A
 * cache it accepts must be valid (px_policy_validate) and survive round
 * trips: px_policy_chunks (one chunk) through Envelope pack/unpack and
 * px_policy_apply_chunk gives the same policy, and px_policy_save then
 * px_policy_load reads it back the same. */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"
#include "fuzz.h"
#include "px.h"
#include "wire.h"

/* CRC-32C as lib/codec.c computes it (kept here: the harness forges
 * headers, the library never exports a way to). */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return c ^ 0xffffffffu;
}

static void le32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* The input as a cache file: as it is, or behind a forged header. */
static const char *cache_file(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	const char *path;

	if (!size || !(data[0] & 1))
		return fuzz_file("in", data, size);
	buf = xmalloc(size - 1 + 12);
	memcpy(buf, "PXC2", 4);
	le32(buf + 4, (uint32_t)(size - 1));
	le32(buf + 8, crc32c(data + 1, size - 1));
	memcpy(buf + 12, data + 1, size - 1);
	path = fuzz_file("in", buf, size - 1 + 12);
	free(buf);
	return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	px_policy_t p, q, r;
	char why[200];

	px_policy_init(&p);
	px_policy_init(&q);
	px_policy_init(&r);
	if (px_policy_load(cache_file(data, size), &p, why, sizeof(why)) == 0) {
		if (!fuzz_policy_consistent(&p))
			__builtin_trap(); /* loaded means valid */
		if (px_policy_chunks(&p, 0, fuzz_chunk_through_wire, &q) != 0 ||
		    !fuzz_policy_equal(&p, &q))
			__builtin_trap();
		if (px_policy_save(fuzz_path("out"), &p) != 0 ||
		    px_policy_load(fuzz_path("out"), &r, why, sizeof(why)) != 0 ||
		    !fuzz_policy_equal(&p, &r) || r.epoch != p.epoch)
			__builtin_trap();
	}
	px_policy_free(&r);
	px_policy_free(&q);
	px_policy_free(&p);
	return 0;
}
