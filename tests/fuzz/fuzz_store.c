/* fuzz_store - the store's handlers of what peers send, end to end: the
 * decoder the sockets use (px_wire_decode: unpack, protocol version,
 * unknown fields dropped), then px_store_ctl_in (every ctl request:
 * reads, writes validated against the policy, the database fit check,
 * LMDB commits, publication, alerts and log queries, members remove,
 * drain) or px_store_sync_in (heartbeats and the member-id binding,
 * snapshot requests, alert batches into the alert history, log batches
 * into the log ring, block reports).  One store lives for the whole run,
 * on a 16 MB database in a private directory, so inputs build on each
 * other and reach the full-map refusals; its sockets are absent (replies
 * and publications fail and are logged, as towards a peer that left).
 * Input: byte 0 chooses the socket (bit 0: ctl, else sync) and the
 * connection (bits 1-2: one of four peers, so id claims can conflict),
 * the rest is the message.  The four peers hold the keys the ZAP handler
 * would have admitted: an admin, a viewer, and members fw1 and fw2 (the
 * permission table and the member-key checks run as they do live). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zmq.h>

#include "alerts.h"
#include "auth.h"
#include "fuzz.h"
#include "logring.h"
#include "px.h"
#include "store.h"
#include "wire.h"

static px_store_t st;
static char keys[4][41]; /* the peers' public keys, z85 */

static void peers_enroll(void)
{
	static const char *const names[4] = { "admin1", "viewer1", "fw1", "fw2" };
	static const px_role_t roles[4] = { PX_ROLE_ADMIN, PX_ROLE_VIEWER,
					    PX_ROLE_MEMBER, PX_ROLE_MEMBER };
	char secret[41];

	for (int i = 0; i < 4; i++)
		if (zmq_curve_keypair(keys[i], secret) != 0 ||
		    px_auth_put(st.auth, names[i], keys[i], roles[i]) != 0)
			abort();
}

static void store_open(void)
{
	const char *dir = fuzz_path("db");

	if (mkdir(dir, 0700) < 0 ||
	    px_db_open(&st.db, dir, 16u << 20) < 0 ||
	    px_db_load(st.db, &st.policy) < 0 ||
	    px_alerts_open(&st.alerts, st.db, 0) < 0 ||
	    px_auth_open(&st.auth, st.db, NULL) < 0)
		abort();
	peers_enroll();
	st.member_timeout_ms = 3000;
	st.log = px_logring_new(0);
	px_store_members_load(&st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Phalanx__Envelope *env;
	px_rid_t rid;
	int rc;

	if (!st.db) {
		px_policy_init(&st.policy);
		store_open();
	}
	if (size < 1)
		return 0;
	memset(&rid, 0, sizeof(rid));
	rid.len = 5;
	rid.id[4] = (uint8_t)((data[0] >> 1) & 3);
	snprintf(rid.peer, sizeof(rid.peer), "fuzz#%u", rid.id[4]);
	snprintf(rid.user, sizeof(rid.user), "%s", keys[rid.id[4]]);
	rc = px_wire_decode(data + 1, size - 1, rid.peer, &env);
	if (data[0] & 1)
		px_store_ctl_in(&st, &rid, env, rc);
	else if (rc == 0)
		px_store_sync_in(&st, &rid, env);
	/* Requests held (WAIT, waiting lists) run again as the loop would. */
	px_store_waiters_run(&st, 0);
	return 0;
}
