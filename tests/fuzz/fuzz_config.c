/* fuzz_config - the config-file parser both daemons run on --config:
 * px_config_load (lib/px.c) reading the input as the file.  Checks what
 * it hands the callback: every key and value is trimmed as the parser
 * promises (no space or tab in front; no space, tab, CR or LF at the end;
 * no LF inside) and the key has no '='.  The
 * callback refuses keys starting with 'x' to drive the error path.  The
 * daemons' own callbacks (their option tables) are not covered here. */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "px.h"

static int trimmed(const char *s)
{
	size_t n = strlen(s);

	return !strchr(s, '\n') &&
	       (n == 0 || (!strchr(" \t", s[0]) && !strchr(" \t\r", s[n - 1])));
}

static int set(const char *key, const char *value, void *arg)
{
	unsigned *calls = arg;

	if (!trimmed(key) || !trimmed(value) || strchr(key, '='))
		__builtin_trap();
	++*calls;
	return key[0] == 'x' ? PX_EBADREQ : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned calls = 0;
	int rc = px_config_load(fuzz_file("in", data, size), set, &calls);

	/* An error is the callback's or a line without '=': never another. */
	if (rc != 0 && rc != PX_EBADREQ)
		__builtin_trap();
	return 0;
}
