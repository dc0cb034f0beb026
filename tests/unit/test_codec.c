/* test_codec.c - message round-trips, snapshot chunking, the cache
 * file, limits, and hostile input. */
#include <stdlib.h>
#include <unistd.h>

#include "codec.h"
#include "px.h"
#include "unit.h"
#include "wire.h"

static void add(px_policy_t *p, const char *set, const char *addr)
{
	px_set_t *s = px_policy_add_set(p, set);
	px_entry_t e;

	if (px_entry_parse(addr, &e) == 0) {
		px_entries_push(&s->entries, &e);
		px_entries_normalize(&s->entries);
	}
}

static int policies_equal(const px_policy_t *a, const px_policy_t *b)
{
	size_t i;

	if (a->version != b->version || a->nsets != b->nsets)
		return 0;
	for (i = 0; i < a->nsets; i++) {
		if (strcmp(a->sets[i].name, b->sets[i].name) ||
		    a->sets[i].entries.n != b->sets[i].entries.n ||
		    memcmp(a->sets[i].entries.v, b->sets[i].entries.v,
			   a->sets[i].entries.n * sizeof(px_entry_t)))
			return 0;
	}
	for (i = 0; i < PX_LIM_COUNT; i++)
		if (a->limits.value[i] != b->limits.value[i] ||
		    a->limits.mode[i] != b->limits.mode[i])
			return 0;
	return a->limits.ntiers == b->limits.ntiers;
}

typedef struct {
	px_policy_t out;
	int chunks;
	size_t max_seen;
	int rc;
} roundtrip_t;

/* Each chunk goes through a full pack/unpack, as on the wire. */
static int through_wire(Phalanx__SnapshotChunk *c, void *arg)
{
	roundtrip_t *r = arg;
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT, *got;
	size_t n, i, entries = 0;
	uint8_t *buf;

	env.proto_version = PX_PROTO_VERSION;
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	n = phalanx__envelope__get_packed_size(&env);
	buf = xmalloc(n);
	phalanx__envelope__pack(&env, buf);
	got = phalanx__envelope__unpack(NULL, n, buf);
	free(buf);
	if (!got)
		return r->rc = -1;
	for (i = 0; i < got->snapshot_chunk->n_sets; i++)
		entries += got->snapshot_chunk->sets[i]->n_entries;
	if (entries > r->max_seen)
		r->max_seen = entries;
	if (px_policy_apply_chunk(&r->out, got->snapshot_chunk) < 0)
		r->rc = -2;
	r->chunks++;
	phalanx__envelope__free_unpacked(got, NULL);
	return r->rc;
}

TEST(snapshot_chunks_roundtrip)
{
	px_policy_t p;
	roundtrip_t r;
	px_set_t *s;
	size_t i;

	px_policy_init(&p);
	p.version = 42;
	s = px_policy_add_set(&p, "nat-gateways");
	for (i = 0; i < 2500; i++) {
		px_entry_t e;

		memset(&e, 0, sizeof(e));
		e.family = 6;
		e.plen = 128;
		e.addr[0] = 0x20;
		e.addr[1] = 0x01;
		e.addr[14] = (uint8_t)(i >> 8);
		e.addr[15] = (uint8_t)i;
		px_entries_push(&s->entries, &e);
	}
	px_entries_normalize(&s->entries);
	add(&p, "flood-exceptions", "192.0.2.7");
	add(&p, "flood-exceptions", "198.51.100.0/24");
	p.limits.value[PX_LIM_TCP_CONNECT_RATE] = 900;
	p.limits.mode[PX_LIM_TCP_CONNECT_RATE] = PX_MODE_OBSERVE;
	px_limits_set_tier(&p.limits, PX_LIM_TCP_CONNECT_RATE, "nat-gateways",
			   20000);
	memset(&r, 0, sizeof(r));
	px_policy_init(&r.out);
	CHECK_INT(px_policy_chunks(&p, 1000, through_wire, &r), 0);
	CHECK_INT(r.rc, 0);
	CHECK_INT(r.chunks, 3); /* 2502 entries in chunks of 1000 */
	CHECK(r.max_seen <= 1000);
	CHECK(policies_equal(&p, &r.out));
	CHECK_INT(px_limits_tier(&r.out.limits, PX_LIM_TCP_CONNECT_RATE,
				 "nat-gateways"), 20000);
	px_policy_free(&p);
	px_policy_free(&r.out);
}

TEST(cache_save_load_and_corruption)
{
	char path[] = "/tmp/px-unit-cache-XXXXXX";
	px_policy_t p, q;
	int fd = mkstemp(path);
	FILE *f;

	CHECK(fd >= 0);
	close(fd);
	px_policy_init(&p);
	p.version = 7;
	p.epoch = 3;
	add(&p, "flood-exceptions", "203.0.113.9");
	add(&p, "extra", "2001:db8::/32");
	CHECK_INT(px_policy_save(path, &p), 0);
	px_policy_init(&q);
	CHECK_INT(px_policy_load(path, &q, NULL, 0), 0);
	CHECK(policies_equal(&p, &q));
	CHECK_INT(q.epoch, 3);
	px_policy_free(&q);
	/* A truncated or foreign file fails closed. */
	CHECK(truncate(path, 9) == 0);
	px_policy_init(&q);
	CHECK(px_policy_load(path, &q, NULL, 0) < 0);
	px_policy_free(&q);
	f = fopen(path, "w");
	fputs("hello world, not a cache", f);
	fclose(f);
	px_policy_init(&q);
	CHECK(px_policy_load(path, &q, NULL, 0) < 0);
	px_policy_free(&q);
	unlink(path);
	px_policy_free(&p);
}

TEST(change_ops_validate_hostile_input)
{
	Phalanx__SetOp op = PHALANX__SET_OP__INIT, *ops[1] = { &op };
	ProtobufCBinaryData bins[2];
	uint8_t good[6] = { 4, 32, 192, 0, 2, 1 };
	uint8_t hostbits[6] = { 4, 8, 10, 0, 0, 1 };
	px_policy_t p;
	size_t bad = 0;

	px_policy_init(&p);
	op.kind = PHALANX__SET_OP__KIND__ADD;
	op.set = "flood-exceptions";
	bins[0] = (ProtobufCBinaryData){ 6, good };
	bins[1] = (ProtobufCBinaryData){ 6, hostbits };
	op.entries = bins;
	op.n_entries = 2;
	CHECK_INT(px_policy_apply_setops(&p, ops, 1, &bad), PX_EHOSTBITS);
	CHECK_INT(bad, 2);
	op.n_entries = 1;
	CHECK_INT(px_policy_apply_setops(&p, ops, 1, &bad), 0);
	CHECK_INT(px_policy_find(&p, "flood-exceptions")->entries.n, 1);
	op.set = "no-such-set";
	CHECK_INT(px_policy_apply_setops(&p, ops, 1, &bad), PX_ENOSET);
	op.set = "Bad Name";
	CHECK_INT(px_policy_apply_setops(&p, ops, 1, &bad), PX_ESETNAME);
	px_policy_free(&p);
}

TEST(limit_ops_and_defaults)
{
	Phalanx__LimitOp op = PHALANX__LIMIT_OP__INIT, *ops[1] = { &op };
	px_policy_t p;
	uint64_t v;

	px_policy_init(&p);
	/* ISA Server 2006 defaults (seeds/004). */
	CHECK_INT(p.limits.value[PX_LIM_TCP_CONNECT_RATE], 600);
	CHECK_INT(p.limits.value[PX_LIM_TCP_CONCURRENT], 160);
	CHECK_INT(p.limits.value[PX_LIM_TCP_HALF_OPEN], 80);
	CHECK_INT(p.limits.value[PX_LIM_HTTP_REQUEST_RATE], 600);
	CHECK_INT(p.limits.value[PX_LIM_NONTCP_SESSION_RATE], 1000);
	CHECK_INT(p.limits.value[PX_LIM_UDP_CONCURRENT], 160);
	CHECK_INT(p.limits.value[PX_LIM_DENIED_PACKET_RATE], 600);
	CHECK_INT(px_limits_tier(&p.limits, PX_LIM_TCP_CONNECT_RATE,
				 "flood-exceptions"), 6000);
	CHECK_INT(px_limits_tier(&p.limits, PX_LIM_TCP_CONCURRENT,
				 "flood-exceptions"), 400);
	CHECK_INT(px_limits_tier(&p.limits, PX_LIM_TCP_HALF_OPEN,
				 "flood-exceptions"), 200);
	CHECK_INT(px_limit_parse(PX_LIM_NONTCP_SESSION_RATE, "1000/minute", &v), 0);
	CHECK_INT(v, 1000);
	CHECK_INT(px_limit_parse(PX_LIM_NONTCP_SESSION_RATE, "20/second", &v), 0);
	CHECK_INT(v, 1200);
	CHECK_INT(px_limit_parse(PX_LIM_TCP_CONCURRENT, "10/second", &v), PX_EBADREQ);
	CHECK_INT(px_limit_parse(PX_LIM_TCP_CONCURRENT, "0", &v), PX_ERANGE);
	CHECK_INT(px_limit_parse(PX_LIM_TCP_CONCURRENT, "-5", &v), PX_EBADREQ);
	CHECK_INT(px_limit_parse(PX_LIM_TCP_CONCURRENT, "12abc", &v), PX_EBADREQ);
	CHECK_INT(px_limit_find("tcp-connect-rate"), PX_LIM_TCP_CONNECT_RATE);
	CHECK_INT(px_limit_find("tcp-connects"), PX_ENOLIMIT);
	op.name = "tcp-concurrent";
	op.tier = "";
	op.value = 99;
	op.mode = "observe";
	CHECK_INT(px_policy_apply_limitops(&p, ops, 1), 0);
	CHECK_INT(p.limits.value[PX_LIM_TCP_CONCURRENT], 99);
	CHECK_INT(p.limits.mode[PX_LIM_TCP_CONCURRENT], PX_MODE_OBSERVE);
	op.value = 0;
	CHECK_INT(px_policy_apply_limitops(&p, ops, 1), PX_ERANGE);
	op.value = 500;
	op.tier = "missing-set";
	CHECK_INT(px_policy_apply_limitops(&p, ops, 1), PX_ENOSET);
	op.name = "nope";
	CHECK_INT(px_policy_apply_limitops(&p, ops, 1), PX_ENOLIMIT);
	px_policy_free(&p);
}

TEST(envelope_garbage_and_version)
{
	uint8_t junk[64];
	Phalanx__Envelope *env;
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	env = phalanx__envelope__unpack(NULL, sizeof(junk), junk);
	CHECK(env == NULL);
}

TEST(endpoint_derivation)
{
	char out[64];

	CHECK_INT(px_endpoint("tcp://192.0.2.10:7700", PX_EP_PUB, out,
			      sizeof(out)), 0);
	CHECK_STR(out, "tcp://192.0.2.10:7702");
	CHECK_INT(px_endpoint("tcp://[2001:db8::1]:7700", PX_EP_SYNC, out,
			      sizeof(out)), 0);
	CHECK_STR(out, "tcp://[2001:db8::1]:7701");
	CHECK(px_endpoint("udp://1.2.3.4:7", 0, out, sizeof(out)) < 0);
	CHECK(px_endpoint("tcp://1.2.3.4", 0, out, sizeof(out)) < 0);
	CHECK(px_endpoint("tcp://1.2.3.4:65535", 1, out, sizeof(out)) < 0);
}

TEST(block_time_default_is_one_minute)
{
	px_policy_t p;
	uint64_t v;

	/* ISA refuses a source over a rate quota for one minute; the kernel
	 * block sets take this value as their timeout (docs/nft-layout.md). */
	px_policy_init(&p);
	CHECK_INT(p.limits.value[PX_LIM_BLOCK_TIME], 60);
	CHECK_STR(px_limit_defs[PX_LIM_BLOCK_TIME].unit, "seconds");
	CHECK_STR(px_limit_defs[PX_LIM_TCP_CONNECT_RATE].unit, "/minute");
	CHECK_STR(px_limit_defs[PX_LIM_HTTP_REQUEST_RATE].unit, "/minute");
	CHECK_INT(px_limit_parse(PX_LIM_BLOCK_TIME, "60", &v), 0);
	CHECK_INT(px_limit_parse(PX_LIM_BLOCK_TIME, "1/minute", &v), PX_EBADREQ);
	CHECK_INT(px_limit_parse(PX_LIM_BLOCK_TIME, "0", &v), PX_ERANGE);
	CHECK_INT(p.limits.value[PX_LIM_IPV6_PREFIX], 64);
	px_policy_free(&p);
}
