/* test_store_db_failover.c - what the store keeps for failover across a
 * restart (store/db.c): the members' drain flag and the running
 * array-wide blocks, on a real LMDB environment in a temporary
 * directory, closed and opened again as a restart does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../store/db.h"
#include "px.h"
#include "unit.h"

struct seen {
	char drained[8][64];
	uint64_t applied[8];
	size_t n, ndrained;
};

static void member_seen(const char *id, uint64_t applied, bool drained,
			void *arg)
{
	struct seen *s = arg;

	if (drained && s->ndrained < 8)
		snprintf(s->drained[s->ndrained++], 64, "%s", id);
	if (s->n < 8)
		s->applied[s->n++] = applied;
}

TEST(store_db_drain_flag_survives_reopen_and_keeps_version)
{
	char dir[] = "/tmp/px-unit-drain-XXXXXX";
	px_db_t *db = NULL;
	struct seen s = { 0 };

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 1 << 20), 0);
	CHECK_INT(px_db_member_put(db, "fw1", 7), 0);
	CHECK_INT(px_db_member_put(db, "fw2", 9), 0);
	CHECK_INT(px_db_member_drain(db, "fw1", true), 0);
	/* a later heartbeat's record keeps the flag */
	CHECK_INT(px_db_member_put(db, "fw1", 8), 0);
	px_db_close(db);
	CHECK_INT(px_db_open(&db, dir, 1 << 20), 0);
	CHECK_INT(px_db_members(db, member_seen, &s), 0);
	px_db_close(db);
	px_test_rm_db(dir);
	CHECK_INT(s.n, 2);
	CHECK_INT(s.ndrained, 1);
	CHECK_STR(s.drained[0], "fw1");
	CHECK_INT(s.applied[0], 8); /* fw1 sorts first */
	CHECK_INT(s.applied[1], 9);
}

TEST(store_db_undrain_clears_the_flag)
{
	char dir[] = "/tmp/px-unit-drain-XXXXXX";
	px_db_t *db = NULL;
	struct seen s = { 0 };

	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 1 << 20), 0);
	CHECK_INT(px_db_member_drain(db, "fw1", true), 0);
	CHECK_INT(px_db_member_drain(db, "fw1", false), 0);
	CHECK_INT(px_db_members(db, member_seen, &s), 0);
	px_db_close(db);
	px_test_rm_db(dir);
	CHECK_INT(s.n, 1);
	CHECK_INT(s.ndrained, 0);
}

struct blocks_seen {
	px_db_block_t b[4];
	size_t n;
};

static void block_seen(const px_db_block_t *b, void *arg)
{
	struct blocks_seen *s = arg;

	if (s->n < 4)
		s->b[s->n] = *b;
	s->n++;
}

static px_db_block_t block_make(const char *set, const char *addr,
				uint64_t expires_ms)
{
	px_db_block_t b;
	px_entry_t e;

	memset(&b, 0, sizeof(b));
	snprintf(b.set, sizeof(b.set), "%s", set);
	snprintf(b.member, sizeof(b.member), "fw1");
	if (px_entry_parse(addr, &e) == 0)
		b.len = px_entry_encode(&e, b.entry);
	b.expires_ms = expires_ms;
	return b;
}

TEST(store_db_blocks_survive_reopen_expired_ones_deleted)
{
	char dir[] = "/tmp/px-unit-blocks-XXXXXX";
	px_db_t *db = NULL;
	struct blocks_seen s = { .n = 0 };
	px_db_block_t v[3];

	v[0] = block_make("tcp_block4", "198.51.100.7", 5000);
	v[1] = block_make("http_block4", "198.51.100.8", 1000);
	/* the same set and entry again, later expiry: replaces v[0] */
	v[2] = block_make("tcp_block4", "198.51.100.7", 9000);
	CHECK(v[0].len > 0 && v[1].len > 0);
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(px_db_open(&db, dir, 1 << 20), 0);
	CHECK_INT(px_db_blocks_put(db, v, 3), 0);
	px_db_close(db);
	CHECK_INT(px_db_open(&db, dir, 1 << 20), 0);
	/* at 2000 the http block has run out: deleted, not handed back */
	CHECK_INT(px_db_blocks(db, 2000, block_seen, &s), 1);
	CHECK_INT(s.n, 1);
	CHECK_STR(s.b[0].set, "tcp_block4");
	CHECK_STR(s.b[0].member, "fw1");
	CHECK_INT(s.b[0].expires_ms, 9000);
	CHECK_INT(s.b[0].len, v[0].len);
	CHECK(memcmp(s.b[0].entry, v[0].entry, v[0].len) == 0);
	CHECK_INT(px_db_blocks_expire(db, 10000), 1);
	s.n = 0;
	CHECK_INT(px_db_blocks(db, 0, block_seen, &s), 0);
	px_db_close(db);
	px_test_rm_db(dir);
	CHECK_INT(s.n, 0);
}
