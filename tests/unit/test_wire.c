/* test_wire.c - unknown protobuf fields are dropped at every depth of a
 * decoded message (px_wire_drop_unknown), and refusal logging counts
 * every refusal (px_refused). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec.h"
#include "policy.h"
#include "px.h"
#include "ratelog.h"
#include "unit.h"
#include "wire.h"

/* An envelope of one alert batch, the alert carrying an unknown
 * length-delimited field of n bytes (and the envelope one of 3). */
static uint8_t *packed_alert(size_t n, size_t *len)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__AlertBatch b = PHALANX__ALERT_BATCH__INIT;
	Phalanx__Alert al = PHALANX__ALERT__INIT, *alp = &al;
	ProtobufCMessageUnknownField uf[2];
	uint8_t *blob = xcalloc(1, n + 10), small[4] = { 3, 'a', 'b', 'c' };
	size_t pre = 0, v = n;
	uint8_t *out;

	do {
		blob[pre++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	al.id = "fw1:1:1";
	al.member = "fw1";
	al.type = "tcp-connect-rate";
	al.state = "exceeded";
	uf[0].tag = 1000;
	uf[0].wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
	uf[0].len = pre + n;
	uf[0].data = blob;
	al.base.n_unknown_fields = 1;
	al.base.unknown_fields = &uf[0];
	uf[1] = uf[0];
	uf[1].tag = 999;
	uf[1].len = sizeof(small);
	uf[1].data = small;
	env.base.n_unknown_fields = 1;
	env.base.unknown_fields = &uf[1];
	b.alerts = &alp;
	b.n_alerts = 1;
	env.proto_version = PX_PROTO_VERSION;
	env.body_case = PHALANX__ENVELOPE__BODY_ALERT_BATCH;
	env.alert_batch = &b;
	*len = phalanx__envelope__get_packed_size(&env);
	out = xmalloc(*len);
	phalanx__envelope__pack(&env, out);
	free(blob);
	return out;
}

TEST(wire_unknown_fields_dropped_at_every_depth)
{
	size_t len, len0;
	uint8_t *buf = packed_alert(100000, &len), *buf0 = packed_alert(0, &len0);
	Phalanx__Envelope *env = phalanx__envelope__unpack(NULL, len, buf);

	free(buf0);
	CHECK(env != NULL);
	CHECK_INT(env->base.n_unknown_fields, 1);
	CHECK_INT(env->alert_batch->alerts[0]->base.n_unknown_fields, 1);
	px_wire_drop_unknown(&env->base);
	CHECK_INT(env->base.n_unknown_fields, 0);
	CHECK_INT(env->alert_batch->base.n_unknown_fields, 0);
	CHECK_INT(env->alert_batch->alerts[0]->base.n_unknown_fields, 0);
	/* Packed again, nothing of the 100,000 bytes remains. */
	CHECK(phalanx__envelope__get_packed_size(env) < 100);
	CHECK_STR(env->alert_batch->alerts[0]->member, "fw1");
	phalanx__envelope__free_unpacked(env, NULL);
	free(buf);
}

TEST(wire_refusals_counted)
{
	uint64_t t0 = px_refused_total();
	int i;

	for (i = 0; i < 1000; i++)
		px_refused("192.0.2.99", "unit test refusal");
	CHECK_INT(px_refused_total() - t0, 1000);
}

/* Chunk k of a snapshot, counted from a later start, is the same chunk:
 * what store/sync.c relies on to stream a snapshot a few at a time. */
typedef struct {
	uint32_t seq[64];
	size_t size[64], n;
	bool last[64];
} chunk_log_t;

static int log_chunk(Phalanx__SnapshotChunk *c, void *arg)
{
	chunk_log_t *l = arg;

	if (l->n < 64) {
		l->seq[l->n] = c->seq;
		l->size[l->n] = phalanx__snapshot_chunk__get_packed_size(c);
		l->last[l->n] = c->last;
		l->n++;
	}
	return 0;
}

TEST(wire_policy_chunks_from_same_chunks)
{
	px_policy_t p;
	chunk_log_t all, from;
	size_t i, s;

	px_policy_init(&p);
	for (s = 0; s < 2; s++) {
		px_set_t *set = px_policy_add_set(&p, s ? "beta" : "alpha");

		for (i = 0; i < 2500; i++) {
			px_entry_t e;
			char a[32];

			snprintf(a, sizeof(a), "10.%zu.%zu.%zu", s, i / 256, i % 256);
			CHECK_INT(px_entry_parse(a, &e), 0);
			px_entries_push(&set->entries, &e);
		}
		px_entries_normalize(&set->entries);
	}
	memset(&all, 0, sizeof(all));
	memset(&from, 0, sizeof(from));
	CHECK_INT(px_policy_chunks(&p, 1000, log_chunk, &all), 0);
	/* 5,000 entries: 5 full chunks and the last (empty) one. */
	CHECK(all.n >= 5);
	CHECK_INT(px_policy_chunks_from(&p, 1000, 3, log_chunk, &from), 0);
	CHECK_INT(from.n, all.n - 3);
	for (i = 0; i < from.n; i++) {
		CHECK_INT(from.seq[i], all.seq[i + 3]);
		CHECK_INT(from.size[i], all.size[i + 3]);
		CHECK_INT(from.last[i], all.last[i + 3]);
	}
	px_policy_free(&p);
}
