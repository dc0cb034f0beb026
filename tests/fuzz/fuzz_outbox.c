/* fuzz_outbox - the member's alert outbox loader: px_outbox_open
 * (node/outbox.c) reading the input as "<cache>.alerts" (magic, boot,
 * count, length-prefixed packed Alerts, FNV-1a hash).  Whatever it read,
 * the queue it returns is bounded (at most its max), takes one more alert
 * or counts it dropped, hands out due alerts with ids, and the file it
 * writes back (px_outbox_flush) loads again cleanly with the same length
 * and a later boot. */
#include <stdint.h>

#include "fuzz.h"
#include "outbox.h"

#define MAX 64 /* small, so that a fuzzed file can fill the queue */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Phalanx__Alert *due[MAX + 1];
	px_outbox_t *o = NULL, *again = NULL;
	px_alert_t a = { 0 };
	const char *path = fuzz_file("in", data, size);
	char id[128];
	size_t len, n, i;
	uint64_t boot;

	(void)px_outbox_open(&o, path, "fw1", MAX);
	if (!o || px_outbox_len(o) > MAX)
		__builtin_trap();
	a.state = PX_ALERT_INFO;
	snprintf(a.type, sizeof(a.type), "events-lost");
	snprintf(a.text, sizeof(a.text), "fuzz");
	if (px_outbox_add(o, &a, id, sizeof(id)) == 0 ? !id[0]
	    : px_outbox_dropped(o) != 1)
		__builtin_trap();
	n = px_outbox_due(o, 1000, 0, due, MAX + 1);
	if (n != px_outbox_len(o))
		__builtin_trap();
	for (i = 0; i < n; i++)
		if (!due[i] || !due[i]->id || !due[i]->id[0])
			__builtin_trap();
	len = px_outbox_len(o);
	boot = px_outbox_boot(o);
	if (px_outbox_flush(o) != 0)
		__builtin_trap();
	px_outbox_close(o);
	if (px_outbox_open(&again, path, "fw1", MAX) != 0 ||
	    px_outbox_len(again) != len || px_outbox_boot(again) <= boot)
		__builtin_trap();
	px_outbox_close(again);
	return 0;
}
