/* members.c - failover: the members' drain flag and VRRP role.
 *
 * The drain flag lives in the store's memory (px_member_t.drained) and
 * reaches the member in every store heartbeat (StoreHeartbeat.drained);
 * the member's readiness gate then faults its keepalived (node/vrrp.c).
 * The flag is kept in the store's database with the member's record
 * (store/db.c), so a store restart keeps a drained member drained. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"
#include "store.h"

int px_store_member_drain(px_store_t *st, const Phalanx__CtlRequest *req,
			  char *err, size_t errlen)
{
	bool drain = req->op == PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN;
	size_t i;

	if (!px_member_id_valid(req->member)) {
		snprintf(err, errlen, "not a member id: `%.64s'", req->member);
		return PX_EBADREQ;
	}
	for (i = 0; i < st->nmembers; i++) {
		px_member_t *m = &st->members[i];

		int rc;

		if (strcmp(m->id, req->member) != 0)
			continue;
		/* The database first: a drain the store would forget on
		 * restart is refused, not half done. */
		rc = px_db_member_drain(st->db, m->id, drain);
		if (rc < 0) {
			snprintf(err, errlen, "member %s: the drain flag could "
				 "not be stored: %s", m->id, px_strerror(rc));
			return rc;
		}
		if (m->drained != drain)
			px_log(PX_LOG_INFO, "member %s: %s", m->id,
			       drain ? "drained: it gives up the virtual "
			       "addresses" : "undrained");
		m->drained = drain;
		return 0;
	}
	snprintf(err, errlen, "no member `%.64s' has reported to this store",
		 req->member);
	return PX_ENOMEMBER;
}

void px_store_member_role(px_member_t *m, const Phalanx__Heartbeat *hb)
{
	static const char *const known[] = {
		"master", "backup", "fault", "drained",
	};
	const char *role = hb->vrrp_role;
	size_t i;

	m->vrrp_role[0] = 0;
	for (i = 0; role && i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(role, known[i]) == 0)
			snprintf(m->vrrp_role, sizeof(m->vrrp_role), "%s", role);
	/* A peer's text: only what parses as an address is kept. */
	m->naddrs = 0;
	for (i = 0; i < hb->n_addresses && m->naddrs < 16; i++) {
		struct in6_addr a6;

		if (strlen(hb->addresses[i]) >= sizeof(m->addrs[0]) ||
		    (inet_pton(AF_INET, hb->addresses[i], &a6) != 1 &&
		     inet_pton(AF_INET6, hb->addresses[i], &a6) != 1))
			continue;
		strcpy(m->addrs[m->naddrs], hb->addresses[i]);
		m->addrp[m->naddrs] = m->addrs[m->naddrs];
		m->naddrs++;
	}
}

void px_store_member_drained(const px_store_t *st, Phalanx__StoreHeartbeat *hb,
			     char ***ids)
{
	size_t i, n = 0;

	*ids = xcalloc(st->nmembers + 1, sizeof(**ids));
	for (i = 0; i < st->nmembers; i++)
		if (st->members[i].drained)
			(*ids)[n++] = (char *)st->members[i].id;
	hb->drained = *ids;
	hb->n_drained = n;
}
