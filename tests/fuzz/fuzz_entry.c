/* fuzz_entry - the exception-entry parsers (lib/addr.c): the input as
 * text through px_entry_parse (what phalanxctl and imports read; what
 * parses must format with px_entry_format and parse back to the same
 * entry, and encode/decode back to the same), and the input as a wire
 * entry through px_entry_decode (what every message carries). */
#include <stdint.h>
#include <string.h>

#include "addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[PX_ENTRY_STR_MAX + 8];
	char out[PX_ENTRY_STR_MAX];
	px_entry_t e, d;
	uint8_t wire[PX_ENTRY_WIRE_MAX];

	if (size < sizeof(buf)) {
		memcpy(buf, data, size);
		buf[size] = '\0';
		if (px_entry_parse(buf, &e) == 0) {
			/* What parses formats, and reparses to the same. */
			px_entry_format(&e, out, sizeof(out));
			if (px_entry_parse(out, &d) != 0 || px_entry_cmp(&e, &d))
				__builtin_trap();
			if (px_entry_decode(wire, px_entry_encode(&e, wire), &d) != 0 ||
			    px_entry_cmp(&e, &d))
				__builtin_trap();
		}
	}
	(void)px_entry_decode(data, size, &d);
	return 0;
}
