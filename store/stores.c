/* stores.c - the set of stores: STORE_ADD and STORE_REMOVE from
 * phalanxctl (the change itself is store/raft.c's, on C-Raft's
 * configuration), and the store list STORE_STATUS gives. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px.h"
#include "raft.h"
#include "replicate.h"
#include "stores.h"

#define EP_MAX 300

/* The client waiting for its change (one at a time: raft.c refuses a
 * second). */
typedef struct {
	px_store_t *st;
	px_rid_t rid;
} waiting_t;

/* STORE_STATUS's store list: the strings the reply points to. */
static struct {
	char *names[PX_RAFT_SERVERS_MAX], *eps[PX_RAFT_SERVERS_MAX];
	char *members[PX_RAFT_SERVERS_MAX];
	char ep[PX_RAFT_SERVERS_MAX][EP_MAX];
	char name[PX_RAFT_SERVERS_MAX][PX_RAFT_NAME_MAX + 1];
} view;

void px_store_stores_status(px_store_t *st, Phalanx__StoreStatus *ss)
{
	const px_raft_peer_t *peers;
	px_raft_status_t s;
	size_t n, i;

	if (!st->raft)
		return;
	px_raft_status(st->raft, &s);
	peers = px_raft_peers(st->raft, &n);
	for (i = 0; i < n && i < PX_RAFT_SERVERS_MAX; i++) {
		snprintf(view.ep[i], EP_MAX, "%s",
			 px_store_replicate_endpoint(st, &peers[i]));
		snprintf(view.name[i], sizeof(view.name[i]), "%s", peers[i].name);
		view.names[i] = view.name[i];
		view.eps[i] = view.ep[i];
		view.members[i] = (char *)px_raft_membership(st->raft, &peers[i]);
	}
	ss->peers = view.names;
	ss->peer_endpoints = view.eps;
	ss->peer_memberships = view.members;
	ss->n_peers = ss->n_peer_endpoints = ss->n_peer_memberships = i;
	ss->membership = (char *)px_raft_membership(st->raft, s.self);
}

static void reply_send(px_store_t *st, const px_rid_t *rid,
		       Phalanx__CtlReply *rep, int status, const char *error)
{
	px_ctl_result_t r = { status, "", 0 };

	snprintf(r.error, sizeof(r.error), "%s", error ? error : "");
	rep->version = 0; /* the version now */
	px_store_ctl_reply(st, rid, rep, &r);
}

static void on_changed(void *arg, int status, const char *msg)
{
	waiting_t *w = arg;
	Phalanx__CtlReply rep = PHALANX__CTL_REPLY__INIT;
	Phalanx__StoreStatus ss;

	px_store_replicate_status(w->st, &rep, &ss);
	px_store_stores_status(w->st, &ss);
	reply_send(w->st, &w->rid, &rep, status, msg);
	free(w);
}

int px_store_stores_change(px_store_t *st, const px_rid_t *rid,
			   const Phalanx__CtlRequest *req,
			   Phalanx__CtlReply *rep, px_ctl_result_t *r)
{
	bool add = req->op == PHALANX__CTL_REQUEST__OP__STORE_ADD;
	waiting_t *w;
	int rc;

	(void)rep;
	if (!st->raft) {
		r->status = PX_EBADREQ;
		snprintf(r->error, sizeof(r->error), "one store without Raft "
			 "(no --raft-peers): stores are added to a Raft "
			 "cluster; start this one with --raft-peers first");
		return r->status;
	}
	w = xcalloc(1, sizeof(*w));
	w->st = st;
	w->rid = *rid;
	rc = add ? px_raft_add(st->raft, req->name, req->store_endpoint,
			       on_changed, w, r->error, sizeof(r->error)) :
		   px_raft_remove(st->raft, req->name, on_changed, w, r->error,
				  sizeof(r->error));
	if (rc < 0) {
		free(w);
		r->status = rc;
		px_log(PX_LOG_INFO, "store %s %s: refused: %s",
		       add ? "add" : "remove", req->name ? req->name : "",
		       r->error);
		return rc;
	}
	return 0;
}
