/* fuzz_outbox - the member's alert outbox (node/outbox.c): its records in
 * the state (px_outbox_record_decode) and the file of older members it
 * migrates once.  Odd first byte: the rest is a record, 16 bytes of key
 * then the value; an accepted one has an id matching its key.  Even: the
 * input is an older member's "<cache>.alerts" file (magic, boot, count,
 * length-prefixed packed Alerts, FNV-1a hash), opened with a state (one
 * LMDB environment per process, emptied after each input).  Whatever it
 * read, the queue is bounded (at most its max), takes one more alert or
 * counts it dropped, hands out due alerts with ids, and what it wrote
 * (px_outbox_flush) opens again with the same length and a later boot. */
#include <stdint.h>

#include "fuzz.h"
#include "outbox.h"
#include "state.h"

#define MAX 64 /* small, so that a fuzzed file can fill the queue */

static px_state_t *state(void)
{
	static px_state_t *st;
	char why[200];

	if (!st && px_state_open(&st, fuzz_path("db"), why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz_outbox: state: %s\n", why);
		abort();
	}
	return st;
}

static void record(const uint8_t *data, size_t size)
{
	Phalanx__Alert *a;
	uint64_t v = 0;
	char id[80];
	int i;

	if (size < 16 ||
	    px_outbox_record_decode(data, 16, data + 16, size - 16, &a) != 0)
		return;
	for (i = 0; i < 8; i++)
		v = v << 8 | data[8 + i];
	snprintf(id, sizeof(id), ":%llu", (unsigned long long)v);
	if (strlen(a->id) < strlen(id) ||
	    strcmp(a->id + strlen(a->id) - strlen(id), id) != 0)
		__builtin_trap();
	phalanx__alert__free_unpacked(a, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Phalanx__Alert *due[MAX + 1];
	char *ids[MAX + 1];
	px_outbox_t *o = NULL, *again = NULL;
	px_alert_t a = { 0 };
	const char *path;
	char id[128];
	size_t len, n, i;
	uint64_t boot;

	if (size && (data[0] & 1)) {
		record(data + 1, size - 1);
		return 0;
	}
	path = fuzz_file("in", data, size); /* "PXOUTBOX1": 'P' is even */
	(void)px_outbox_open(&o, state(), path, "fw1", MAX);
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
	if (px_outbox_open(&again, state(), NULL, "fw1", MAX) != 0 ||
	    px_outbox_len(again) != len || px_outbox_boot(again) <= boot)
		__builtin_trap();
	/* Acked, all of them: the next input starts from an empty queue. */
	n = px_outbox_due(again, 1000, 0, due, MAX + 1);
	for (i = 0; i < n; i++)
		ids[i] = due[i]->id;
	if (px_outbox_ack(again, ids, n) != n || px_outbox_len(again) ||
	    px_outbox_flush(again) != 0)
		__builtin_trap();
	px_outbox_close(again);
	return 0;
}
