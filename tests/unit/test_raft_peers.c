/* test_raft_peers.c - the --raft-peers parser of store/raft.c. */
#include "../../store/raft.h"
#include "px.h"
#include "unit.h"

TEST(raft_peers_three)
{
	px_raft_peer_t p[PX_RAFT_SERVERS_MAX];
	char err[256] = "";
	size_t n = 0;

	CHECK_INT(px_raft_peers_parse("store1=1@192.0.2.10:7710,store2=2@192.0.2.11:7710,"
				      "store3=3@192.0.2.12:7711", p, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 3);
	CHECK(strcmp(p[0].name, "store1") == 0);
	CHECK_INT(p[1].id, 2);
	CHECK(strcmp(p[2].addr, "192.0.2.12:7711") == 0);
}

/* Each bad list is refused, and the message quotes the item at fault. */
TEST(raft_peers_refused_naming_the_item)
{
	static const struct { const char *list, *quoted; } bad[] = {
		{ "store1=1@192.0.2.10:7710,store2=2@192.0.2.11:7710", "2 stores" },
		{ "store1=1@192.0.2.10:7710,store2=x@192.0.2.11:7710,s3=3@192.0.2.12:1", "`x'" },
		{ "store1=1@db.example:7710", "`db.example:7710'" },
		{ "store1=1@192.0.2.10:70000", "`192.0.2.10:70000'" },
		{ "store1=1@192.0.2.10", "`192.0.2.10'" },
		{ "store 1=1@192.0.2.10:7710", "`store 1=1@192.0.2.10:7710'" },
		{ "a=1@192.0.2.10:1,b=1@192.0.2.11:1,c=3@192.0.2.12:1", "repeats" },
		{ "a=1@192.0.2.10:1,a=2@192.0.2.11:1,c=3@192.0.2.12:1", "repeats" },
		{ "a=1@192.0.2.10:1,b=2@192.0.2.10:1,c=3@192.0.2.12:1", "repeats" },
		{ "", "0 stores" },
		{ "a=0@192.0.2.10:1", "`0'" },
	};
	px_raft_peer_t p[PX_RAFT_SERVERS_MAX];
	char err[256];
	size_t n, i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		n = 99;
		if (px_raft_peers_parse(bad[i].list, p, &n, err, sizeof(err)) != PX_EBADREQ ||
		    n != 0 || !strstr(err, bad[i].quoted)) {
			px_test_fail(__FILE__, __LINE__, "`%s': expected PX_EBADREQ "
				     "and a message with %s, saw n=%zu, `%s'",
				     bad[i].list, bad[i].quoted, n, err);
			return;
		}
	}
}

TEST(raft_peers_at_most_five)
{
	px_raft_peer_t p[PX_RAFT_SERVERS_MAX];
	char err[256] = "";
	size_t n = 0;

	CHECK_INT(px_raft_peers_parse("a=1@192.0.2.1:1,b=2@192.0.2.2:1,c=3@192.0.2.3:1,"
				      "d=4@192.0.2.4:1,e=5@192.0.2.5:1,f=6@192.0.2.6:1",
				      p, &n, err, sizeof(err)), PX_EBADREQ);
	CHECK(strstr(err, "more than 5") != NULL);
	CHECK_INT(px_raft_peers_parse("a=1@192.0.2.1:1,b=2@192.0.2.2:1,c=3@192.0.2.3:1,"
				      "d=4@192.0.2.4:1,e=5@192.0.2.5:1", p, &n, err,
				      sizeof(err)), 0);
	CHECK_INT(n, 5);
}

/* --raft-join: the cluster's stores and the new one, an even count too;
 * a lone store is no join. */
TEST(raft_peers_join_any_count)
{
	px_raft_peer_t p[PX_RAFT_SERVERS_MAX];
	char err[256] = "";
	size_t n = 0;
	const char *four = "store1=1@192.0.2.10:7710,store2=2@192.0.2.11:7710,"
			   "store3=3@192.0.2.12:7710,store4=4@192.0.2.13:7710";

	CHECK_INT(px_raft_peers_parse_join(four, p, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 4);
	CHECK(strcmp(p[3].name, "store4") == 0);
	CHECK_INT(px_raft_peers_parse(four, p, &n, err, sizeof(err)), PX_EBADREQ);
	CHECK(strstr(err, "4 stores") != NULL);
	CHECK_INT(px_raft_peers_parse_join("store4=4@192.0.2.13:7710", p, &n, err,
					   sizeof(err)), PX_EBADREQ);
	CHECK(strstr(err, "--raft-join") != NULL);
	CHECK_INT(px_raft_peers_parse_join("a=1@192.0.2.1:1,a=2@192.0.2.2:1", p, &n,
					   err, sizeof(err)), PX_EBADREQ);
	CHECK(strstr(err, "repeats") != NULL);
}
