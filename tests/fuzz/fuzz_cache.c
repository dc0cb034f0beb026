/* fuzz_cache - the member's cache loader (px_policy_load): the file's
 * header, length and checksum, the decoder and the policy validator.
 * Inputs whose first byte is odd get a correct header and checksum put in
 * front, so that mutations reach the decoder and the validator behind the
 * checksum; even ones are loaded as they are. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codec.h"

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	char path[64];
	uint8_t hdr[12] = { 'P', 'X', 'C', '2' };
	px_policy_t p;
	char why[200];

	if (fd < 0)
		fd = memfd_create("px-fuzz-cache", 0);
	if (fd < 0 || ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		abort();
	if (size && (data[0] & 1)) {
		le32(hdr + 4, (uint32_t)(size - 1));
		le32(hdr + 8, crc32c(data + 1, size - 1));
		if (write(fd, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr) ||
		    write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
			abort();
	} else if (size && write(fd, data, size) != (ssize_t)size) {
		abort();
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	px_policy_init(&p);
	if (px_policy_load(path, &p, why, sizeof(why)) == 0 &&
	    px_policy_validate(&p, why, sizeof(why)) != 0)
		__builtin_trap(); /* loaded means valid */
	px_policy_free(&p);
	return 0;
}
