/* cmd_store.c - phalanxctl store status (every store's own Raft view),
 * store transfer (a planned leadership switch), store add and store
 * remove (membership changes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "ctl.h"
#include "json.h"
#include "px.h"
#include "wire.h"

/* Each store is asked for this long at most once it answered the
 * handshake: a status is small and answered at once. */
#define STATUS_TIMEOUT_MS 2000

typedef struct {
	char name[64];
	char endpoint[PX_CTL_ENDPOINT_MAX];
	Phalanx__Envelope *env;     /* its answer, or NULL */
	const char *membership;     /* the leader's view, else its own */
	char why[512];              /* why there is none */
} row_t;

static const char *str(const char *s)
{
	return s ? s : "";
}

/* This store's view of name's place in the configuration. */
static const char *membership_of(const Phalanx__StoreStatus *s,
				 const char *name)
{
	for (size_t k = 0; s && k < s->n_peers && k < s->n_peer_memberships; k++)
		if (strcmp(s->peers[k], name) == 0)
			return s->peer_memberships[k];
	return NULL;
}

static const Phalanx__StoreStatus *status_of(const row_t *r)
{
	return r->env && r->env->ctl_reply->status == 0 ?
	       r->env->ctl_reply->store : NULL;
}

static void print_json(const row_t *rows, size_t n, const char *leader,
		       uint64_t term)
{
	size_t i;

	fputs("{\"leader\":", stdout);
	if (leader)
		px_json_str(stdout, leader);
	else
		fputs("null", stdout);
	printf(",\"term\":%llu,\"stores\":[", (unsigned long long)term);
	for (i = 0; i < n; i++) {
		const Phalanx__StoreStatus *s = status_of(&rows[i]);

		printf("%s{\"name\":", i ? "," : "");
		px_json_str(stdout, rows[i].name);
		fputs(",\"endpoint\":", stdout);
		px_json_str(stdout, rows[i].endpoint);
		fputs(",\"membership\":", stdout);
		px_json_str(stdout, str(rows[i].membership));
		if (!s) {
			fputs(",\"role\":\"unreachable\",\"error\":", stdout);
			px_json_str(stdout, rows[i].why);
			fputs("}", stdout);
			continue;
		}
		fputs(",\"role\":", stdout);
		px_json_str(stdout, str(s->role));
		printf(",\"term\":%llu,\"commit_index\":%llu,"
		       "\"applied_index\":%llu,\"last_contact_ms\":%llu,"
		       "\"members_heard\":%u,\"leader_known\":",
		       (unsigned long long)s->term,
		       (unsigned long long)s->commit_index,
		       (unsigned long long)s->applied_index,
		       (unsigned long long)s->last_contact_ms,
		       s->members_heard);
		px_json_str(stdout, str(s->leader));
		fputs("}", stdout);
	}
	fputs("]}\n", stdout);
}

static void print_text(const row_t *rows, size_t n, const char *leader,
		       uint64_t term)
{
	size_t i;

	printf("leader %s  term %llu\n", leader ? leader : "(none)",
	       (unsigned long long)term);
	printf("%-10s %-28s %-12s %-8s %6s %8s %8s %7s  %s\n", "store",
	       "endpoint", "role", "member", "term", "commit", "applied",
	       "members", "last contact");
	for (i = 0; i < n; i++) {
		const Phalanx__StoreStatus *s = status_of(&rows[i]);
		char contact[32];

		if (!s) {
			printf("%-10s %-28s %-12s %-8s  %s\n", rows[i].name,
			       rows[i].endpoint, "unreachable",
			       str(rows[i].membership), rows[i].why);
			continue;
		}
		if (strcmp(str(s->role), "leader") == 0)
			snprintf(contact, sizeof(contact), "-");
		else
			snprintf(contact, sizeof(contact), "%.1fs ago",
				 (double)s->last_contact_ms / 1000.0);
		printf("%-10s %-28s %-12s %-8s %6llu %8llu %8llu %7u  %s\n",
		       rows[i].name, rows[i].endpoint, str(s->role),
		       str(rows[i].membership),
		       (unsigned long long)s->term,
		       (unsigned long long)s->commit_index,
		       (unsigned long long)s->applied_index,
		       s->members_heard, contact);
	}
}

int px_cmd_store_status(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	row_t rows[PX_CTL_STORES_MAX];
	const char *leader = NULL;
	uint64_t term = 0, leader_term = 0;
	size_t i, n, answered = 0;
	int rc = PX_EXIT_OK;

	(void)argc;
	(void)argv;
	if (px_ctl_stores(ctl) < 0)
		return PX_EXIT_FAIL;
	if (ctl->timeout_ms > STATUS_TIMEOUT_MS)
		ctl->timeout_ms = STATUS_TIMEOUT_MS;
	req.op = PHALANX__CTL_REQUEST__OP__STORE_STATUS;
	req.set = "";
	memset(rows, 0, sizeof(rows));
	/* ctl->bases grows by the peers the answers name (each store's
	 * peer list): every store of the array is asked once. */
	for (i = 0; i < ctl->nbases && i < PX_CTL_STORES_MAX; i++) {
		row_t *r = &rows[i];
		const Phalanx__StoreStatus *s;

		snprintf(r->endpoint, sizeof(r->endpoint), "%s", ctl->bases[i]);
		if (px_ctl_call_one(ctl, i, &req, &r->env, r->why,
				    sizeof(r->why)) < 0)
			continue;
		if (r->env->ctl_reply->status != 0) {
			snprintf(r->why, sizeof(r->why), "%s",
				 px_ctl_reply_error(ctl, r->env->ctl_reply));
			continue;
		}
		if (!(s = r->env->ctl_reply->store)) {
			snprintf(r->why, sizeof(r->why), "its answer holds no "
				 "store status (a store older than this "
				 "phalanxctl)");
			continue;
		}
		answered++;
		snprintf(r->name, sizeof(r->name), "%s", str(s->name));
		if (s->term > term)
			term = s->term;
		if (strcmp(str(s->role), "leader") == 0 &&
		    (!leader || s->term > leader_term)) {
			leader = r->name;
			leader_term = s->term;
		}
		for (size_t k = 0; k < s->n_peer_endpoints && k < s->n_peers;
		     k++) {
			int j = px_ctl_store_index(ctl, s->peer_endpoints[k]);

			if (j >= 0 && !rows[j].name[0])
				snprintf(rows[j].name, sizeof(rows[j].name),
					 "%s", s->peers[k]);
		}
	}
	n = i;
	for (i = 0; i < n; i++) {
		const Phalanx__StoreStatus *s = status_of(&rows[i]);
		const row_t *l = NULL;

		if (!rows[i].name[0])
			snprintf(rows[i].name, sizeof(rows[i].name), "?");
		for (size_t k = 0; leader && k < n; k++)
			if (strcmp(rows[k].name, leader) == 0)
				l = &rows[k];
		/* the leader's configuration is the one being replicated:
		 * a store it does not list is in none (a store joining
		 * before `store add', or one removed) */
		if (l && status_of(l))
			rows[i].membership = membership_of(status_of(l),
							   rows[i].name);
		else if (s && s->membership && s->membership[0])
			rows[i].membership = s->membership;
		if (!rows[i].membership)
			rows[i].membership = "none";
	}
	if (ctl->json)
		print_json(rows, n, leader, term);
	else
		print_text(rows, n, leader, term);
	if (!answered) {
		px_ctl_fail(ctl, "no store answered");
		rc = PX_EXIT_FAIL;
	}
	for (i = 0; i < n; i++)
		px_wire_free(rows[i].env);
	return rc;
}

/* The store answers once the new leader is known, or after about three
 * election timeouts (store/raft.c): room for that, and for a leader
 * hint followed first. */
#define TRANSFER_TIMEOUT_MS 10000

int px_cmd_store_transfer(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__StoreStatus *s;
	int rc = PX_EXIT_FAIL;

	req.op = PHALANX__CTL_REQUEST__OP__STORE_TRANSFER;
	req.set = "";
	req.name = argc > 0 ? argv[0] : "";
	if (!ctl->timeout_given && ctl->timeout_ms < TRANSFER_TIMEOUT_MS)
		ctl->timeout_ms = TRANSFER_TIMEOUT_MS;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	s = env->ctl_reply->store;
	if (!s || !s->leader || !s->leader[0]) {
		px_ctl_fail(ctl, "the store's answer names no new leader (a "
			    "store older than this phalanxctl?)");
		goto out;
	}
	if (ctl->json) {
		fputs("{\"leader\":", stdout);
		px_json_str(stdout, s->leader);
		printf(",\"term\":%llu,\"previous\":",
		       (unsigned long long)s->term);
		px_json_str(stdout, str(s->name));
		fputs("}\n", stdout);
	} else {
		printf("leader is now %s (term %llu)\n", s->leader,
		       (unsigned long long)s->term);
	}
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	return rc;
}

/* The store answers once the change committed; an add first waits
 * about a second for the new store's address to answer. */
#define CHANGE_TIMEOUT_MS 10000

static int store_change(px_ctl_t *ctl, int op, const char *name,
			const char *endpoint)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__StoreStatus *s;
	const char *m;
	size_t n;

	req.op = op;
	req.set = "";
	req.name = (char *)name;
	req.store_endpoint = (char *)(endpoint ? endpoint : "");
	if (!ctl->timeout_given && ctl->timeout_ms < CHANGE_TIMEOUT_MS)
		ctl->timeout_ms = CHANGE_TIMEOUT_MS;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	s = env->ctl_reply->store;
	m = membership_of(s, name);
	n = s ? s->n_peers : 0;
	if (ctl->json) {
		fputs("{\"store\":", stdout);
		px_json_str(stdout, name);
		fputs(",\"membership\":", stdout);
		px_json_str(stdout, m ? m : "none");
		printf(",\"stores\":%zu}\n", n);
	} else if (endpoint) {
		printf("%s added (%s) as a %s; the leader makes it a voter once "
		       "it has caught up (`store status')\n", name, endpoint,
		       m ? m : "non-voter");
	} else {
		printf("%s removed; %zu stores now: stop it\n", name, n);
	}
	px_wire_free(env);
	return PX_EXIT_OK;
}

int px_cmd_store_add(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return store_change(ctl, PHALANX__CTL_REQUEST__OP__STORE_ADD, argv[0],
			    argv[1]);
}

int px_cmd_store_remove(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return store_change(ctl, PHALANX__CTL_REQUEST__OP__STORE_REMOVE,
			    argv[0], NULL);
}
