/* test_state.c - the member's local state (node/state.c): the applied
 * policy round trip, one delta per version, a damaged environment read as
 * an error code (never a crash), and the alert outbox in the same
 * environment (node/outbox.c: survives reopen, ids unique, acks delete,
 * bounded, an older member's file migrated). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "outbox.h"
#include "px.h"
#include "state.h"
#include "unit.h"

/* Bytes the heap has handed out (ASan's own allocator under make asan). */
#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void); /* ASan's runtime */
static size_t heap_used(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
#include <malloc.h>
static size_t heap_used(void)
{
	return mallinfo2().uordblks;
}
#endif

static px_entry_t ent(const char *s)
{
	px_entry_t e;

	px_entry_parse(s, &e);
	return e;
}

/* n IPv6 hosts 2001:db8:<k>::<i> in set name of p. */
static void fill(px_policy_t *p, const char *name, int k, size_t n)
{
	px_set_t *s = px_policy_add_set(p, name);
	size_t i;

	for (i = 0; i < n; i++) {
		px_entry_t e = ent("2001:db8::1");

		e.addr[4] = (uint8_t)k;
		e.addr[12] = (uint8_t)(i >> 24);
		e.addr[13] = (uint8_t)(i >> 16);
		e.addr[14] = (uint8_t)(i >> 8);
		e.addr[15] = (uint8_t)i;
		px_entries_push(&s->entries, &e);
	}
	px_entries_normalize(&s->entries);
}

static bool same_policy(const px_policy_t *a, const px_policy_t *b)
{
	size_t i;

	if (a->version != b->version || a->epoch != b->epoch ||
	    a->nsets != b->nsets || a->nrules != b->nrules ||
	    a->nservices != b->nservices ||
	    memcmp(a->limits.value, b->limits.value, sizeof(a->limits.value)) ||
	    a->limits.ntiers != b->limits.ntiers)
		return false;
	for (i = 0; i < a->nsets; i++)
		if (strcmp(a->sets[i].name, b->sets[i].name) != 0 ||
		    a->sets[i].entries.n != b->sets[i].entries.n ||
		    (a->sets[i].entries.n &&
		     memcmp(a->sets[i].entries.v, b->sets[i].entries.v,
			    a->sets[i].entries.n * sizeof(px_entry_t))))
			return false;
	for (i = 0; i < a->nrules; i++)
		if (strcmp(a->rules[i].name, b->rules[i].name) != 0 ||
		    a->rules[i].port != b->rules[i].port)
			return false;
	return true;
}

static px_policy_t sample_policy(void)
{
	px_policy_t p;

	px_policy_init(&p);
	{
	p.version = 7;
	p.epoch = 3;
	fill(&p, "partners", 1, 1000);
	px_entry_t v4 = ent("192.0.2.0/24");

	px_policy_add_set(&p, "empty");
	px_entries_push(&px_policy_add_set(&p, "v4")->entries, &v4);
	}
	p.limits.value[PX_LIM_TCP_CONNECT_RATE] = 1234;
	px_limits_set_tier(&p.limits, PX_LIM_TCP_CONNECT_RATE, "partners", 5000);
	p.nrules = 1;
	p.rules = xcalloc(1, sizeof(*p.rules));
	snprintf(p.rules[0].name, sizeof(p.rules[0].name), "deny443");
	p.rules[0].action = PX_DENY;
	p.rules[0].proto = PX_PROTO_TCP;
	p.rules[0].port = 443;
	return p;
}

static void tmpdir(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/px-state-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	strncat(dir, "/st", len - strlen(dir) - 1);
}

static void rm_state(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %.*s", (int)(strlen(dir) - 3), dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

TEST(state_round_trip_and_reopen)
{
	char dir[64], why[200];
	px_state_t *st;
	px_policy_t p = sample_policy(), q;
	px_state_stats_t s;

	tmpdir(dir, sizeof(dir));
	CHECK_INT(px_policy_validate(&p, why, sizeof(why)), 0);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), -ENOENT);
	px_policy_free(&q);
	CHECK_INT(px_state_save(st, NULL, &p, &s), 0);
	CHECK(s.full);
	CHECK_INT(s.puts, 1001);
	px_state_close(st);

	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), 0);
	CHECK(same_policy(&p, &q));
	CHECK_INT(px_limits_tier(&q.limits, PX_LIM_TCP_CONNECT_RATE, "partners"),
		  5000);
	CHECK(px_policy_find(&q, "empty") != NULL);
	CHECK(px_state_holds(st, 7, 3));
	/* The same version again: nothing written. */
	CHECK_INT(px_state_save(st, &q, &p, &s), 0);
	CHECK(s.skipped);
	px_policy_free(&q);
	px_state_close(st);
	px_policy_free(&p);
	rm_state(dir);
}

static off_t data_size(const char *dir)
{
	char path[128];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	return stat(path, &sb) == 0 ? (off_t)sb.st_blocks * 512 : -1;
}

TEST(state_one_delta_per_version)
{
	char dir[64], why[200];
	px_state_t *st;
	px_policy_t p = sample_policy(), n2, q;
	px_state_stats_t s;
	px_entry_t e = ent("2001:db8:ffff::1");
	off_t before;

	tmpdir(dir, sizeof(dir));
	fill(&p, "big", 2, 100000);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_state_save(st, NULL, &p, &s), 0);
	before = data_size(dir);
	/* Version 8: one entry added to the 100k set, one deleted from
	 * partners, set v4 dropped, set fresh created. */
	px_policy_copy(&n2, &p);
	n2.version = 8;
	px_entries_push(&px_policy_find(&n2, "big")->entries, &e);
	px_entries_normalize(&px_policy_find(&n2, "big")->entries);
	px_policy_find(&n2, "partners")->entries.n--;
	px_policy_del_set(&n2, "v4");
	px_policy_add_set(&n2, "fresh");
	fill(&n2, "fresh", 3, 3);
	CHECK_INT(px_state_save(st, &p, &n2, &s), 0);
	CHECK(!s.full);
	CHECK_INT(s.puts, 1 + 3);
	CHECK_INT(s.dels, 1 + 1);
	/* In place: the file grew by far less than a rewrite (2.5 MB). */
	CHECK(data_size(dir) - before < 256 * 1024);
	px_state_close(st);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), 0);
	CHECK(same_policy(&n2, &q));
	CHECK(px_policy_find(&q, "v4") == NULL);
	px_policy_free(&q);
	/* Most of the entries replaced: rewriting all is cheaper. */
	px_policy_copy(&q, &n2);
	q.version = 9;
	px_entries_free(&px_policy_find(&q, "big")->entries);
	fill(&q, "big", 4, 90000);
	CHECK_INT(px_state_save(st, &n2, &q, &s), 0);
	CHECK(s.full);
	px_state_close(st);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_policy_free(&q);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), 0);
	CHECK_INT(q.version, 9);
	CHECK_INT(px_policy_find(&q, "big")->entries.n, 90000);
	px_policy_free(&q);
	/* A base the environment does not hold (version 5): all written. */
	p.version = 5;
	n2.version = 10;
	CHECK_INT(px_state_save(st, &p, &n2, &s), 0);
	CHECK(s.full);
	px_state_close(st);
	px_policy_free(&n2);
	px_policy_free(&p);
	rm_state(dir);
}

/* LMDB keeps the pages of every write transaction in a malloc'd free
 * list until its environment closes: px_state_release gives them back
 * (tests/bench/rss.sh measured ~50 MB after a 1M import) and the state
 * goes on as before, its delta base included. */
TEST(state_release_gives_back_lmdb_pages)
{
	char dir[64], why[200];
	px_state_t *st;
	px_policy_t p = sample_policy(), n2, q;
	px_state_stats_t s;
	px_entry_t e = ent("2001:db8:ffff::1");
	size_t held, after;

	tmpdir(dir, sizeof(dir));
	fill(&p, "big", 2, 100000);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_state_save(st, NULL, &p, &s), 0);
	held = heap_used();
	/* Under the threshold: nothing closed, nothing given back. */
	CHECK_INT(px_state_release(st, 1000000), 0);
	CHECK(heap_used() + (1 << 20) > held);
	CHECK_INT(px_state_release(st, 100000), 0);
	after = heap_used();
	/* 100k entry records: 1.8 MB of pages measured. */
	CHECK(held > after + (1 << 20));
	CHECK(px_state_holds(st, 7, 3));
	px_policy_copy(&n2, &p);
	n2.version = 8;
	px_entries_push(&px_policy_find(&n2, "big")->entries, &e);
	px_entries_normalize(&px_policy_find(&n2, "big")->entries);
	CHECK_INT(px_state_save(st, &p, &n2, &s), 0);
	CHECK(!s.full);
	CHECK_INT(s.puts, 1);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), 0);
	CHECK(same_policy(&n2, &q));
	px_policy_free(&q);
	px_state_close(st);
	px_policy_free(&n2);
	px_policy_free(&p);
	rm_state(dir);
}

static int gate_says(void *arg)
{
	return *(int *)arg;
}

/* A member writes its state beside the kernel's load and commits only
 * what the kernel took: a gate that refuses leaves the environment at
 * its version (still a delta base), one that agrees commits. */
TEST(state_gated_save_commits_only_when_the_gate_agrees)
{
	char dir[64], why[200];
	px_state_t *st;
	px_policy_t p = sample_policy(), n2, q;
	px_state_stats_t s;
	int verdict = PX_EKERNEL;
	px_state_gate_t gate = { gate_says, &verdict };

	tmpdir(dir, sizeof(dir));
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_state_save(st, NULL, &p, &s), 0);
	px_policy_copy(&n2, &p);
	n2.version = 8;
	fill(&n2, "fresh", 3, 100);
	CHECK_INT(px_state_save_gated(st, &p, &n2, &gate, &s), PX_EKERNEL);
	CHECK(px_state_holds(st, 7, 3));
	px_state_close(st);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), 0);
	CHECK(same_policy(&p, &q));
	px_policy_free(&q);
	verdict = 0;
	CHECK_INT(px_state_save_gated(st, &p, &n2, &gate, &s), 0);
	CHECK(!s.full);
	CHECK_INT(s.puts, 100);
	CHECK(px_state_holds(st, 8, 3));
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), 0);
	CHECK(same_policy(&n2, &q));
	px_policy_free(&q);
	px_state_close(st);
	px_policy_free(&n2);
	px_policy_free(&p);
	rm_state(dir);
}

/* Overwrite len bytes at off of dir's data.mdb with garbage. */
static void damage(const char *dir, off_t off, size_t len)
{
	char path[128];
	uint8_t junk[4096];
	int fd;

	memset(junk, 0xa5, sizeof(junk));
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_WRONLY);
	if (fd < 0 || pwrite(fd, junk, len, off) != (ssize_t)len)
		abort();
	close(fd);
}

TEST(state_damaged_file_is_an_error_not_a_crash)
{
	char dir[64], why[200];
	px_state_t *st;
	px_policy_t p = sample_policy(), q;
	off_t size, off;
	int rc, bad = 0, rounds = 0;

	tmpdir(dir, sizeof(dir));
	fill(&p, "big", 2, 20000);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_state_save(st, NULL, &p, NULL), 0);
	px_state_close(st);
	size = data_size(dir);
	/* The meta pages: refused at open. */
	damage(dir, 0, 64);
	rc = px_state_open(&st, dir, why, sizeof(why));
	CHECK_INT(rc, PX_EDBCORRUPT);
	CHECK(why[0] != '\0');
	CHECK(st == NULL);
	/* Pages anywhere: open or load says so (or, in a free page, the
	 * policy comes back whole); the test process never crashes. */
	for (off = 8192; off + 64 < size; off += size / 9) {
		rm_state(dir);
		tmpdir(dir, sizeof(dir));
		CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
		CHECK_INT(px_state_save(st, NULL, &p, NULL), 0);
		px_state_close(st);
		damage(dir, off + 100, 40);
		rounds++;
		rc = px_state_open(&st, dir, why, sizeof(why));
		if (rc == 0) {
			px_policy_init(&q);
			rc = px_state_load(st, &q, why, sizeof(why));
			if (rc == 0)
				CHECK(same_policy(&p, &q));
			px_policy_free(&q);
			px_state_close(st);
		}
		if (rc < 0) {
			bad++;
			CHECK(why[0] != '\0');
		}
	}
	CHECK(rounds >= 8);
	CHECK(bad >= rounds / 2);
	/* Set aside: a new environment in its place. */
	CHECK_INT(px_state_set_aside(dir), 0);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), -ENOENT);
	px_policy_free(&q);
	px_state_close(st);
	px_policy_free(&p);
	rm_state(dir);
}

TEST(state_record_decoders_refuse_damage)
{
	px_policy_t p = sample_policy(), q;
	uint8_t *rec, key[64], val[4];
	char name[PX_SETNAME_MAX + 1], why[200];
	px_entry_t e = ent("2001:db8::5"), back;
	size_t len, klen;
	uint32_t crc;

	rec = px_state_policy_encode(&p, &len);
	px_policy_init(&q);
	CHECK_INT(px_state_policy_decode(rec, len, &q, why, sizeof(why)), 0);
	CHECK_INT(q.version, 7);
	px_policy_free(&q);
	rec[len - 3] ^= 1;
	px_policy_init(&q);
	CHECK_INT(px_state_policy_decode(rec, len, &q, why, sizeof(why)),
		  PX_EDECODE);
	CHECK(strstr(why, "checksum") != NULL);
	px_policy_free(&q);
	free(rec);
	memcpy(key, "abc", 4);
	memcpy(key + 4, &e, sizeof(e));
	klen = 4 + sizeof(e);
	crc = px_crc32c(key, klen);
	memcpy(val, &crc, 4); /* little-endian machines only, as the lab */
	CHECK_INT(px_state_entry_decode(key, klen, val, 4, name, &back), 0);
	CHECK_STR(name, "abc");
	CHECK(memcmp(&back, &e, sizeof(e)) == 0);
	key[6] ^= 0x80;
	CHECK_INT(px_state_entry_decode(key, klen, val, 4, name, &back),
		  PX_EDECODE);
	px_policy_free(&p);
}

/* ---- the outbox in the state ---- */

static px_alert_t sample(uint64_t t)
{
	px_alert_t a;

	memset(&a, 0, sizeof(a));
	snprintf(a.type, sizeof(a.type), "tcp-connect-rate");
	a.state = PX_ALERT_EXCEEDED;
	a.has_source = true;
	a.source = ent("198.51.100.9");
	a.count = 31;
	a.limit = 20;
	a.time_ms = t;
	a.suppressed = 2;
	snprintf(a.text, sizeof(a.text), "refused");
	return a;
}

TEST(outbox_survives_restart_ids_unique_acks_remove)
{
	char dir[64], why[200], id1[96], id2[96];
	px_state_t *st;
	px_outbox_t *o;
	Phalanx__Alert *v[8];
	px_alert_t a = sample(123);
	char *ack[1];
	uint64_t boot;

	tmpdir(dir, sizeof(dir));
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_outbox_open(&o, st, NULL, "fw1", 0), 0);
	boot = px_outbox_boot(o);
	CHECK_INT(px_outbox_add(o, &a, id1, sizeof(id1)), 0);
	CHECK_INT(px_outbox_add(o, &a, id2, sizeof(id2)), 0);
	CHECK(strcmp(id1, id2) != 0);
	CHECK_INT(px_outbox_flush(o), 0);
	/* due: both, then nothing until the resend time */
	CHECK_INT(px_outbox_due(o, 1000, 900, v, 8), 2);
	CHECK_STR(v[0]->id, id1);
	CHECK_STR(v[0]->member, "fw1");
	CHECK_STR(v[0]->state, "exceeded");
	CHECK_INT(v[0]->count, 31);
	CHECK_INT(v[0]->suppressed, 2);
	CHECK_INT(v[0]->source.len, 6);
	CHECK_INT(px_outbox_due(o, 1500, 900, v, 8), 0);
	CHECK_INT(px_outbox_due(o, 1900, 900, v, 8), 2);
	px_outbox_close(o);   /* a crash: no flush after the last add */
	px_state_close(st);

	/* Restart: both still queued, a new boot, new ids never repeat. */
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_outbox_open(&o, st, NULL, "fw1", 0), 0);
	CHECK_INT(px_outbox_len(o), 2);
	CHECK_INT(px_outbox_boot(o), boot + 1);
	ack[0] = id1;
	CHECK_INT(px_outbox_ack(o, ack, 1), 1);
	CHECK_INT(px_outbox_ack(o, ack, 1), 0);   /* twice: once */
	CHECK_INT(px_outbox_len(o), 1);
	CHECK_INT(px_outbox_add(o, &a, id1, sizeof(id1)), 0);
	CHECK(strcmp(id1, id2) != 0);
	CHECK_INT(px_outbox_flush(o), 0);
	px_outbox_close(o);
	px_state_close(st);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_outbox_open(&o, st, NULL, "fw1", 0), 0);
	CHECK_INT(px_outbox_len(o), 2);
	CHECK_INT(px_outbox_due(o, 5000, 900, v, 8), 2);
	CHECK_STR(v[0]->id, id2);   /* the older boot first */
	CHECK_STR(v[1]->id, id1);
	px_outbox_close(o);
	px_state_close(st);
	rm_state(dir);
}

/* An apply's policy write and the outbox share the environment: neither
 * disturbs the other. */
TEST(outbox_and_policy_share_the_state)
{
	char dir[64], why[200];
	px_state_t *st;
	px_outbox_t *o;
	px_policy_t p = sample_policy(), q;
	px_alert_t a = sample(5);

	tmpdir(dir, sizeof(dir));
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	CHECK_INT(px_outbox_open(&o, st, NULL, "fw1", 0), 0);
	CHECK_INT(px_outbox_add(o, &a, NULL, 0), 0);
	CHECK_INT(px_outbox_flush(o), 0);
	CHECK_INT(px_state_save(st, NULL, &p, NULL), 0);
	CHECK_INT(px_outbox_add(o, &a, NULL, 0), 0);
	CHECK_INT(px_outbox_flush(o), 0);
	px_outbox_close(o);
	px_state_close(st);
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_policy_init(&q);
	CHECK_INT(px_state_load(st, &q, why, sizeof(why)), 0);
	CHECK(same_policy(&p, &q));
	px_policy_free(&q);
	CHECK_INT(px_outbox_open(&o, st, NULL, "fw1", 0), 0);
	CHECK_INT(px_outbox_len(o), 2);
	px_outbox_close(o);
	px_state_close(st);
	px_policy_free(&p);
	rm_state(dir);
}

TEST(outbox_bounded_and_legacy_file_migrated)
{
	char dir[64], why[200], legacy[128], done[160];
	px_state_t *st;
	px_outbox_t *o;
	px_alert_t a = sample(1);
	FILE *f;
	int i;

	tmpdir(dir, sizeof(dir));
	CHECK_INT(px_state_open(&st, dir, why, sizeof(why)), 0);
	px_outbox_open(&o, st, NULL, "fw2", 3);
	for (i = 0; i < 5; i++)
		px_outbox_add(o, &a, NULL, 0);
	CHECK_INT(px_outbox_len(o), 3);
	CHECK_INT(px_outbox_dropped(o), 2);
	px_outbox_close(o);
	/* Garbage in an older member's file: its alerts are lost, the boot
	 * comes from the clock (larger than any counter), the file is
	 * renamed once the state is written. */
	snprintf(legacy, sizeof(legacy), "%.*s/cache.alerts",
		 (int)(strlen(dir) - 3), dir);
	f = fopen(legacy, "w");
	CHECK(f != NULL);
	fputs("not an outbox", f);
	fclose(f);
	CHECK_INT(px_outbox_open(&o, st, legacy, "fw2", 0), 0);
	CHECK_INT(px_outbox_len(o), 0);
	CHECK(px_outbox_boot(o) > 1000000000);
	px_outbox_close(o);
	snprintf(done, sizeof(done), "%s.migrated", legacy);
	CHECK_INT(access(done, F_OK), 0);
	CHECK(access(legacy, F_OK) != 0);
	/* In memory only without a state: a queue all the same. */
	CHECK_INT(px_outbox_open(&o, NULL, NULL, "fw2", 0), PX_EDB);
	CHECK_INT(px_outbox_add(o, &a, NULL, 0), 0);
	CHECK_INT(px_outbox_len(o), 1);
	px_outbox_close(o);
	px_state_close(st);
	rm_state(dir);
}
