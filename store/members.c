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
	/* Not heard here: with several stores a member reports to one of
	 * them, and every store applies the committed drain alike.  An
	 * enrolled member's flag is kept for when it reports here (the
	 * record shows it down until then). */
	if (st->auth && px_auth_find_name(st->auth, req->member, true)) {
		px_member_t *m = px_store_member_get(st, req->member);
		int rc;

		if (!m) {
			snprintf(err, errlen, "member %.64s: already %d "
				 "members", req->member, PX_MEMBERS_MAX);
			return PX_ERANGE;
		}
		if ((rc = px_db_member_drain(st->db, m->id, drain)) < 0) {
			snprintf(err, errlen, "member %s: the drain flag could "
				 "not be stored: %s", m->id, px_strerror(rc));
			return rc;
		}
		m->drained = drain;
		px_log(PX_LOG_INFO, "member %s: %s (it has not reported to this "
		       "store: kept for when it does)", m->id,
		       drain ? "drained" : "undrained");
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

/* The role phalanxctl shows (ctl/cmd_members.c role_of): a down member
 * has none it can vouch for. */
static const char *role_of(const px_store_t *st, const px_member_t *m,
			   uint64_t now)
{
	if (!px_member_up(st, m, now))
		return "down";
	if (m->drained && strcmp(m->vrrp_role, "fault") == 0)
		return "drained";
	return m->vrrp_role[0] ? m->vrrp_role : "unknown";
}

bool px_store_member_settled(const px_store_t *st, const char *id, int op)
{
	bool drain = op == PHALANX__CTL_REQUEST__OP__DRAINED_WAIT;
	bool me = false, other = false;
	uint64_t now = px_now_ms();
	size_t i;

	for (i = 0; i < st->nmembers; i++) {
		const px_member_t *m = &st->members[i];
		const char *role = role_of(st, m, now);

		if (strcmp(m->id, id) == 0)
			me = drain ? strcmp(role, "drained") == 0 :
				     strcmp(role, "master") == 0 ||
				     strcmp(role, "backup") == 0;
		else if (strcmp(role, "master") == 0)
			other = true;
	}
	return drain ? me && other : me;
}

uint64_t px_store_member_roles_digest(const px_store_t *st)
{
	/* FNV-1a over what role_of reads: a change of any of them moves
	 * it (a collision would only delay an answer to its deadline). */
	uint64_t h = 14695981039346656037ull, now = px_now_ms();
	size_t i;

	for (i = 0; i < st->nmembers; i++) {
		const px_member_t *m = &st->members[i];
		const char *parts[2] = { m->id, role_of(st, m, now) };

		for (size_t k = 0; k < 2; k++)
			for (const char *p = parts[k]; ; p++) {
				h = (h ^ (uint8_t)*p) * 1099511628211ull;
				if (!*p)
					break;
			}
	}
	return h;
}

static const char *wait_label(int op)
{
	return op == PHALANX__CTL_REQUEST__OP__DRAINED_WAIT ? "drained" :
		"undrained";
}

int px_store_member_wait_check(const Phalanx__CtlRequest *req,
			       uint32_t max_ms, char *err, size_t errlen)
{
	if (!px_member_id_valid(req->member)) {
		snprintf(err, errlen, "wait for a member %s: not a member id: "
			 "`%.64s'", wait_label(req->op), req->member);
		return -1;
	}
	if (req->timeout_ms > max_ms) {
		snprintf(err, errlen, "wait for member %s %s: timeout_ms %u is "
			 "over the most, %u", req->member, wait_label(req->op),
			 req->timeout_ms, max_ms);
		return -1;
	}
	return 0;
}

void px_store_member_wait_answered(const px_store_t *st, const px_rid_t *rid,
				   const Phalanx__CtlRequest *req,
				   uint64_t deadline, int status)
{
	const char *why = px_store_waiters_why(st);
	uint64_t held = 0, now = px_now_ms();
	bool settled = px_store_member_settled(st, req->member, req->op);
	const char *role = "not reported";
	size_t i;

	if (deadline) {
		uint64_t start = deadline - req->timeout_ms;
		uint64_t mono = px_mono_ms();

		held = mono > start ? mono - start : 0;
	}
	for (i = 0; i < st->nmembers; i++)
		if (strcmp(st->members[i].id, req->member) == 0)
			role = role_of(st, &st->members[i], now);
	px_log(status || !settled ? PX_LOG_WARN : PX_LOG_INFO, "wait for "
	       "member %s %s from %s: answered after %llu ms, on %s: %s "
	       "(its role: %s)", req->member, wait_label(req->op), rid->peer,
	       (unsigned long long)held, why ? why : "arrival",
	       status ? px_strerror(status) : settled ? "settled" :
	       "timed out", role);
}
