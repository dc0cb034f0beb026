/* fuzz_cache - the member's policy on disk: the records of its LMDB state
 * (node/state.c) and the cache file of older members it migrates once
 * (px_policy_load, lib/codec.c).  The first byte picks what the rest is:
 *   0 mod 4  a cache file as it is ("PXC2", length, CRC-32C, one packed
 *            Envelope holding a SnapshotChunk)
 *   1 mod 4  the same behind a correct header and checksum, so mutations
 *            reach the decoder and the validator behind it
 *   2 mod 4  the state's "policy" record (px_state_policy_decode) behind
 *            a correct checksum (version, epoch and chunk as given)
 *   3 mod 4  an entries record (px_state_entry_decode): a byte giving the
 *            key's length, the key, the value
 * What is accepted must be valid and survive round trips: a cache file
 * through px_policy_chunks and px_policy_save/load, a policy record
 * through px_state_policy_encode/decode, an entry back to the same key. */
#include <stdint.h>
#include <stdlib.h>

#include "codec.h"
#include "fuzz.h"
#include "px.h"
#include "state.h"
#include "wire.h"

static void le32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* The input as a cache file: as it is, or behind a forged header. */
static const char *cache_file(const uint8_t *data, size_t size, int forge)
{
	uint8_t *buf;
	const char *path;

	if (!forge)
		return fuzz_file("in", data, size);
	buf = xmalloc(size + 12);
	memcpy(buf, "PXC2", 4);
	le32(buf + 4, (uint32_t)size);
	le32(buf + 8, px_crc32c(data, size));
	memcpy(buf + 12, data, size);
	path = fuzz_file("in", buf, size + 12);
	free(buf);
	return path;
}

static void cache(const uint8_t *data, size_t size, int forge)
{
	px_policy_t p, q, r;
	char why[200];

	px_policy_init(&p);
	px_policy_init(&q);
	px_policy_init(&r);
	if (px_policy_load(cache_file(data, size, forge), &p, why,
			   sizeof(why)) == 0) {
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
}

/* The state's policy record: PXS1, version, epoch, CRC-32C, chunk. */
static void policy_record(const uint8_t *data, size_t size)
{
	px_policy_t p, q;
	uint8_t *buf = xmalloc(size + 24), *again;
	size_t n = size < 16 ? 0 : size - 16, len;
	char why[200];

	memcpy(buf, "PXS1", 4);
	memset(buf + 4, 0, 16);
	memcpy(buf + 4, data, size < 16 ? size : 16);
	memcpy(buf + 24, data + (size - n), n);
	le32(buf + 20, px_crc32c(buf + 24, n));
	px_policy_init(&p);
	px_policy_init(&q);
	if (px_state_policy_decode(buf, 24 + n, &p, why, sizeof(why)) == 0) {
		if (!fuzz_policy_consistent(&p))
			__builtin_trap();
		again = px_state_policy_encode(&p, &len);
		if (px_state_policy_decode(again, len, &q, why, sizeof(why)) ||
		    !fuzz_policy_equal(&p, &q) || q.epoch != p.epoch)
			__builtin_trap();
		free(again);
	}
	px_policy_free(&q);
	px_policy_free(&p);
	free(buf);
}

static void entry_record(const uint8_t *data, size_t size)
{
	char name[PX_SETNAME_MAX + 1];
	size_t klen;
	px_entry_t e;

	if (!size)
		return;
	klen = data[0];
	if (klen > size - 1)
		return;
	if (px_state_entry_decode(data + 1, klen, data + 1 + klen,
				  size - 1 - klen, name, &e) == 0) {
		size_t n = strlen(name);

		if (!px_setname_valid(name) || klen != n + 1 + sizeof(e) ||
		    memcmp(data + 1, name, n + 1) ||
		    memcmp(data + 1 + n + 1, &e, sizeof(e)))
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] % 4) {
	case 0:
		cache(data, size, 0);
		break;
	case 1:
		cache(data + 1, size - 1, 1);
		break;
	case 2:
		policy_record(data + 1, size - 1);
		break;
	default:
		entry_record(data + 1, size - 1);
		break;
	}
	return 0;
}
