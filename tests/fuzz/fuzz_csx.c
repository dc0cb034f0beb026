/* fuzz_csx - the KB 911554 checksum exclusion list parser (lib/csx.c):
 * what phalanxctl, the store and every member (hostile input from the
 * wire) parse.  What parses must format back to the very same string
 * (the round trip `checksum-exclusions show' promises), and validate,
 * reduce and the kernel keys must hold on whatever parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static px_csx_t c, r;
	static char in[PX_CSX_STR_MAX + 16], out[PX_CSX_STR_MAX + 1];
	char why[200];
	uint8_t key[PX_CSX_KEY_LEN];

	if (size >= sizeof(in))
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	if (px_csx_parse(in, &c, why, sizeof(why)) != 0) {
		if (c.n != 0 || !why[0])
			__builtin_trap();
		return 0;
	}
	px_csx_format(&c, out, sizeof(out));
	if (strcmp(in, out) != 0)
		__builtin_trap();
	(void)px_csx_validate(&c, why, sizeof(why));
	px_csx_reduce(&c, &r);
	if (c.n && !r.n)
		__builtin_trap();
	for (size_t i = 0; i < r.n; i++) {
		px_csx_key(&r.v[i], false, key);
		px_csx_key(&r.v[i], true, key);
	}
	return 0;
}
