/* raft.c - every call into C-Raft (libraft 0.22.1, legacy API): the
 * engine on the store's loop, its TCP transport behind a guard that
 * drops connections from anything but the configured stores, the glue
 * between its FSM and the caller's (px_raft_fsm_t), and membership
 * changes (add as a spare, promote to standby and voter, remove). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <raft.h>
#include <raft/uv.h>
#include <uv.h>

#include "px.h"
#include "raft.h"
#include "ratelog.h"

/* How often role and leader changes are looked for (C-Raft's legacy
 * API has no callback for them): the heartbeat's period, so a change
 * is in the log within a tenth of an election timeout. */
#define WATCH_MS PX_RAFT_HEARTBEAT_MS

/* How long a message sent to another store may stay unacknowledged
 * before the kernel drops the connection (TCP_USER_TIMEOUT), so that
 * C-Raft's next send on it fails and it connects again.  Without it a
 * connection that carried a message while the peer was cut off keeps
 * retransmitting with TCP's doubling backoff after the link is back:
 * after a 40 s cut the next try came 12 s later, and two stores that
 * needed each other's votes elected no leader meanwhile (CI, the
 * import kill after t_raft_faults' cut).  A store that is alive acks
 * in milliseconds, whatever its loop is doing (the kernel acks); only
 * a full receive window of a store that reads nothing for this long
 * (frozen) also ends the connection, as it should. */
#define TCP_UNACKED_MS 5000

/* One operation is at most this big: an entry C-Raft must hold in
 * memory and send whole to each follower.  Operations are deltas
 * (issue 9: a 1,000,000-line import is one operation of ~20 MB);
 * 64 MiB leaves room for that and bounds what a proposal can cost. */
#define OP_MAX ((size_t)64 << 20)

/* A snapshot starts with this header (little-endian): the FSM learns
 * the index it was taken at, which C-Raft's legacy restore does not
 * pass. */
#define SNAP_MAGIC 0x53525850u /* "PXRS" */
#define SNAP_VERSION 1u
#define SNAP_HDR 16
/* A log entry: its payload's length (8 bytes, little-endian), the
 * payload, zeros to a multiple of 8. */
#define ENTRY_HDR 8

struct px_raft {
	uv_loop_t *loop;
	struct raft raft;
	struct raft_io io;
	struct raft_uv_transport tcp;   /* C-Raft's own TCP transport */
	struct raft_uv_transport guard; /* wraps it: refuses non-peers */
	raft_uv_accept_cb accept_cb;    /* C-Raft's, behind the guard */
	raft_uv_transport_close_cb guard_close_cb;
	struct raft_fsm fsm;
	px_raft_fsm_t user;
	/* The stores: C-Raft's configuration as of the last look (its
	 * log holds it, so it survives restarts), with names; before a
	 * joining store has one, the --raft-peers list. */
	px_raft_peer_t peers[PX_RAFT_SERVERS_MAX];
	int roles[PX_RAFT_SERVERS_MAX];   /* RAFT_VOTER, _STANDBY, _SPARE */
	size_t npeers;
	/* --raft-peers as given: the names of the stores bootstrapped
	 * with plain addresses */
	px_raft_peer_t boot[PX_RAFT_SERVERS_MAX];
	size_t nboot;
	px_raft_peer_t me;                /* this store, in or out of them */
	const px_raft_peer_t *self;       /* &me */
	bool join;                        /* --raft-join: no bootstrap */
	char dir[4096];
	uv_timer_t watch;
	int last_state;
	uint64_t last_leader, last_term;
	bool inited, started;
	void (*done)(void *arg);
	void *done_arg;
	/* leadership transfer: C-Raft's request, then (xfer_known_by
	 * set) the wait until this store knows the new leader */
	struct raft_transfer xfer;
	bool xfer_busy;
	uint64_t xfer_target;           /* C-Raft's target id */
	uint64_t xfer_known_by;         /* px_mono_ms deadline, 0: not yet */
	px_raft_transfer_cb xfer_cb;
	void *xfer_arg;
	/* membership: one change at a time, the operator's (add, remove)
	 * or the promotion of a joining store (spare -> standby -> voter) */
	struct raft_change change;
	bool change_busy;
	struct probe *probe;            /* add: the reachability check */
	px_raft_change_cb change_cb;    /* NULL: a promotion step */
	void *change_arg;
	px_raft_peer_t change_peer;     /* the store added or removed */
	int change_kind;                /* CHANGE_* */
	uint64_t promote_after;         /* px_mono_ms: retry a failed step */
	char probe_why[512];
	bool closing;
};

enum { CHANGE_ADD = 1, CHANGE_REMOVE, CHANGE_STANDBY, CHANGE_VOTER };

typedef struct {
	struct raft_apply req;
	px_raft_propose_cb cb;
	void *arg;
} proposal_t;

/* --- peers ------------------------------------------------------------------ */

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n > PX_RAFT_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' ||
		      s[i] == '.'))
			return false;
	return true;
}

/* "a.b.c.d:port" -> host (without the port); 0 or -1. */
static int addr_split(const char *addr, char *host, size_t hostlen,
		      uint64_t *port)
{
	const char *colon = strrchr(addr, ':');
	struct in_addr a;

	if (!colon || (size_t)(colon - addr) >= hostlen)
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (inet_pton(AF_INET, host, &a) != 1)
		return -1;
	return px_parse_u64(colon + 1, 1, 65535, port) < 0 ? -1 : 0;
}

static int peers_parse(const char *list, px_raft_peer_t *out, size_t *n,
		       bool join, char *err, size_t errlen)
{
	const char *p = list;
	size_t k = 0;

	*n = 0;
	while (*p) {
		const char *end = strchr(p, ','), *eq, *at;
		char item[PX_RAFT_NAME_MAX + PX_RAFT_ADDR_MAX + 32], idbuf[24];
		char host[PX_RAFT_ADDR_MAX + 1];
		size_t len = end ? (size_t)(end - p) : strlen(p);
		uint64_t port;
		px_raft_peer_t *q = &out[k];

		if (len >= sizeof(item)) {
			snprintf(err, errlen, "--raft-peers: item %zu is too long", k + 1);
			return PX_EBADREQ;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (k == PX_RAFT_SERVERS_MAX) {
			snprintf(err, errlen, "--raft-peers: more than %d stores at `%s'",
				 PX_RAFT_SERVERS_MAX, item);
			return PX_EBADREQ;
		}
		eq = strchr(item, '=');
		at = eq ? strchr(eq, '@') : NULL;
		if (!eq || !at || !name_ok(item, (size_t)(eq - item)) ||
		    (size_t)(at - eq - 1) >= sizeof(idbuf)) {
			snprintf(err, errlen, "--raft-peers: `%s' is not "
				 "name=id@a.b.c.d:port (name: letters, digits, "
				 "`.-_', at most %d)", item, PX_RAFT_NAME_MAX);
			return PX_EBADREQ;
		}
		memcpy(q->name, item, (size_t)(eq - item));
		q->name[eq - item] = '\0';
		memcpy(idbuf, eq + 1, (size_t)(at - eq - 1));
		idbuf[at - eq - 1] = '\0';
		if (px_parse_u64(idbuf, 1, UINT32_MAX, &q->id) < 0) {
			snprintf(err, errlen, "--raft-peers: `%s': id `%s' is not "
				 "a number from 1", item, idbuf);
			return PX_EBADREQ;
		}
		if (strlen(at + 1) > PX_RAFT_ADDR_MAX ||
		    addr_split(at + 1, host, sizeof(host), &port) < 0) {
			snprintf(err, errlen, "--raft-peers: `%s': `%s' is not an "
				 "IPv4 address and port (C-Raft's transport "
				 "resolves no names)", item, at + 1);
			return PX_EBADREQ;
		}
		snprintf(q->addr, sizeof(q->addr), "%s", at + 1);
		for (size_t i = 0; i < k; i++)
			if (out[i].id == q->id || strcmp(out[i].name, q->name) == 0 ||
			    strcmp(out[i].addr, q->addr) == 0) {
				snprintf(err, errlen, "--raft-peers: `%s' repeats "
					 "the name, id or address of `%s'", item,
					 out[i].name);
				return PX_EBADREQ;
			}
		k++;
		p += len;
		if (*p == ',')
			p++;
	}
	/* An even count adds a store that must answer without adding one
	 * that may fail: 2 stand as long as 1, 4 as long as 3.  A joining
	 * store lists the stores there are now and itself: any count. */
	if (join && k < 2) {
		snprintf(err, errlen, "--raft-peers with --raft-join: %zu "
			 "stores; the cluster's stores and this one", k);
		return PX_EBADREQ;
	}
	if (!join && k != 1 && k != 3 && k != 5) {
		snprintf(err, errlen, "--raft-peers: %zu stores; 1, 3 or 5 "
			 "(an even number tolerates no more failures than one "
			 "fewer)", k);
		return PX_EBADREQ;
	}
	*n = k;
	return 0;
}

int px_raft_peers_parse(const char *list, px_raft_peer_t *out, size_t *n,
			char *err, size_t errlen)
{
	return peers_parse(list, out, n, false, err, errlen);
}

int px_raft_peers_parse_join(const char *list, px_raft_peer_t *out,
			     size_t *n, char *err, size_t errlen)
{
	return peers_parse(list, out, n, true, err, errlen);
}

static const px_raft_peer_t *peer_by_id(const px_raft_t *r, uint64_t id)
{
	if (id == r->me.id)
		return &r->me;
	for (size_t i = 0; i < r->npeers; i++)
		if (r->peers[i].id == id)
			return &r->peers[i];
	return NULL;
}

/* --- the configuration ------------------------------------------------------------ */

/* C-Raft's address of a store added at run time is "name@a.b.c.d:port":
 * the name rides in the configuration, which C-Raft keeps in its log
 * and snapshots, so every store, and every restart, knows it.  The
 * bootstrapped stores have plain addresses and their names from
 * --raft-peers.  The transport guard strips the name before C-Raft's
 * TCP transport sees an address. */
static const char *addr_part(const char *address)
{
	const char *at = strchr(address, '@');

	return at ? at + 1 : address;
}

static const char *role_name(int role)
{
	switch (role) {
	case RAFT_VOTER: return "voter";
	case RAFT_STANDBY: return "standby";
	case RAFT_SPARE: return "spare";
	default: return "none";
	}
}

/* r->peers := C-Raft's configuration (the newest, committed or not: a
 * store takes part in it from when it is appended), once there is
 * one; a joining store has none until the leader reaches it. */
static void peers_sync(px_raft_t *r)
{
	const struct raft_configuration *c = &r->raft.configuration;
	px_raft_peer_t peers[PX_RAFT_SERVERS_MAX];
	int roles[PX_RAFT_SERVERS_MAX];
	size_t n = 0;
	char line[PX_RAFT_SERVERS_MAX * (PX_RAFT_NAME_MAX + 16)] = "";
	size_t used = 0;

	if (!r->started || c->n == 0)
		return;
	memset(peers, 0, sizeof(peers));
	memset(roles, 0, sizeof(roles));
	for (unsigned i = 0; i < c->n && n < PX_RAFT_SERVERS_MAX; i++) {
		const struct raft_server *sv = &c->servers[i];
		const char *at = strchr(sv->address, '@');
		px_raft_peer_t *q = &peers[n];
		const char *name = NULL;
		int namelen = 0;

		q->id = sv->id;
		snprintf(q->addr, sizeof(q->addr), "%.*s", PX_RAFT_ADDR_MAX,
			 addr_part(sv->address));
		if (at && at > sv->address &&
		    at - sv->address <= PX_RAFT_NAME_MAX) {
			name = sv->address;
			namelen = (int)(at - sv->address);
		}
		for (size_t k = 0; !name && k < r->nboot; k++)
			if (r->boot[k].id == sv->id) {
				name = r->boot[k].name;
				namelen = (int)strlen(name);
			}
		if (!name && sv->id == r->me.id) {
			name = r->me.name;
			namelen = (int)strlen(name);
		}
		if (name)
			snprintf(q->name, sizeof(q->name), "%.*s", namelen, name);
		else
			snprintf(q->name, sizeof(q->name), "id%llu",
				 (unsigned long long)sv->id);
		roles[n++] = sv->role;
	}
	if (n == r->npeers && memcmp(peers, r->peers, n * sizeof(*peers)) == 0 &&
	    memcmp(roles, r->roles, n * sizeof(*roles)) == 0)
		return;
	memcpy(r->peers, peers, sizeof(peers));
	memcpy(r->roles, roles, sizeof(roles));
	r->npeers = n;
	for (size_t i = 0; i < n && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used,
					 "%s%s %s", i ? ", " : "", peers[i].name,
					 role_name(roles[i]));
	px_log(PX_LOG_INFO, "raft: the stores are now %s (configuration of "
	       "index %llu)", line, (unsigned long long)
	       (r->raft.configuration_uncommitted_index ?
		r->raft.configuration_uncommitted_index :
		r->raft.configuration_committed_index));
}

const char *px_raft_membership(px_raft_t *r, const px_raft_peer_t *p)
{
	if (!r->raft.configuration.n)   /* joining: in no configuration yet */
		return "none";
	for (size_t i = 0; p && i < r->npeers; i++)
		if (r->peers[i].id == p->id)
			return role_name(r->roles[i]);
	return "none";
}

/* --- the transport guard ------------------------------------------------------- */

static void free_handle(uv_handle_t *h)
{
	raft_free(h);
}

/* C-Raft accepted a connection and read its handshake (protocol, the
 * server id and address it claims): let it in only from the address
 * configured for that id. */
static void guard_accept(struct raft_uv_transport *t, raft_id id,
			 const char *address, struct uv_stream_s *stream)
{
	px_raft_t *r = t->data;
	const px_raft_peer_t *p;
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?", host[PX_RAFT_ADDR_MAX + 1] = "";
	uint64_t port;

	/* a store added since the last look may be the one calling */
	peers_sync(r);
	p = peer_by_id(r, id);
	if (uv_tcp_getpeername((uv_tcp_t *)stream, (struct sockaddr *)&ss,
			       &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
				  ip, sizeof(ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
				  ip, sizeof(ip));
	}
	if (p && p != r->self &&
	    addr_split(p->addr, host, sizeof(host), &port) == 0 &&
	    strcmp(host, ip) == 0) {
		r->accept_cb(&r->guard, id, address, stream);
		return;
	}
	/* What the peer claims stays out of the reason (the rate limiter
	 * keys on it): it is in the debug line. */
	px_log(PX_LOG_DEBUG, "raft transport: %s claimed server id %llu (%s)",
	       ip, (unsigned long long)id, address);
	px_refused(ip, "raft transport: connection refused: %s",
		   !p ? "it claims a server id no store has" : p == r->self ?
		   "it claims this store's own id" :
		   "it is not from the address of the store whose id it claims");
	uv_close((uv_handle_t *)stream, free_handle);
}

static int guard_init(struct raft_uv_transport *t, raft_id id,
		      const char *address)
{
	px_raft_t *r = t->impl;
	int rc = r->tcp.init(&r->tcp, id, addr_part(address));

	if (rc != 0)
		snprintf(t->errmsg, sizeof(t->errmsg), "%s", r->tcp.errmsg);
	return rc;
}

static int guard_listen(struct raft_uv_transport *t, raft_uv_accept_cb cb)
{
	px_raft_t *r = t->impl;
	int rc;

	r->accept_cb = cb;
	rc = r->tcp.listen(&r->tcp, guard_accept);
	if (rc != 0)
		snprintf(t->errmsg, sizeof(t->errmsg), "%s", r->tcp.errmsg);
	return rc;
}

/* A connection C-Raft makes to another store: C-Raft's request and
 * callback, behind ours (guard_connected). */
struct guard_connect {
	struct raft_uv_connect req;     /* what C-Raft's TCP transport gets */
	struct raft_uv_connect *outer;  /* C-Raft's own request */
	raft_uv_connect_cb cb;
};

/* The connection C-Raft sends on (its transport reads only on the
 * ones it accepts): bounded unacknowledged time (TCP_UNACKED_MS). */
static void guard_connected(struct raft_uv_connect *req,
			    struct uv_stream_s *stream, int status)
{
	struct guard_connect *g = req->data;
	struct raft_uv_connect *outer = g->outer;
	raft_uv_connect_cb cb = g->cb;
	unsigned ms = TCP_UNACKED_MS;
	uv_os_fd_t fd;
	int rc = 0;

	free(g);
	if (status == 0 && stream) {
		if ((rc = uv_fileno((uv_handle_t *)stream, &fd)) == 0 &&
		    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms,
			       sizeof(ms)) != 0)
			rc = -errno;
		if (rc != 0)
			px_log(PX_LOG_WARN, "raft transport: TCP_USER_TIMEOUT: "
			       "%s: a connection to a store cut off and back "
			       "may stay silent for TCP's retransmission "
			       "backoff", uv_strerror(rc));
	}
	cb(outer, stream, status);
}

static int guard_connect(struct raft_uv_transport *t,
			 struct raft_uv_connect *req, raft_id id,
			 const char *address, raft_uv_connect_cb cb)
{
	px_raft_t *r = t->impl;
	struct guard_connect *g = malloc(sizeof(*g));
	int rc;

	if (!g)
		return RAFT_NOMEM;
	g->req.data = g;
	g->outer = req;
	g->cb = cb;
	rc = r->tcp.connect(&r->tcp, &g->req, id, addr_part(address),
			    guard_connected);
	if (rc != 0) {
		snprintf(t->errmsg, sizeof(t->errmsg), "%s", r->tcp.errmsg);
		free(g);
	}
	return rc;
}

static void guard_tcp_closed(struct raft_uv_transport *t)
{
	px_raft_t *r = t->data;

	if (r->guard_close_cb)
		r->guard_close_cb(&r->guard);
}

static void guard_close(struct raft_uv_transport *t,
			raft_uv_transport_close_cb cb)
{
	px_raft_t *r = t->impl;

	r->guard_close_cb = cb;
	r->tcp.close(&r->tcp, guard_tcp_closed);
}

/* --- the FSM glue --------------------------------------------------------------- */

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* C-Raft's legacy apply does not pass the index: it sets last_applied
 * after each entry (command, barrier or configuration alike), so the
 * entry being applied is the one after it. */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
		     void **result)
{
	px_raft_t *r = fsm->data;
	uint64_t index = raft_last_applied(&r->raft) + 1, len;
	int outcome;

	len = buf->len >= ENTRY_HDR ? get_le(buf->base, 8) : UINT64_MAX;
	if (len > buf->len - ENTRY_HDR) {
		/* Not written by px_raft_propose: the same on every store. */
		px_log(PX_LOG_ERR, "raft: entry %llu of %zu bytes is not an "
		       "operation (length %llu): skipped",
		       (unsigned long long)index, buf->len,
		       (unsigned long long)len);
		outcome = PX_EDECODE;
	} else {
		outcome = r->user.apply(r->user.arg, index,
					(const unsigned char *)buf->base +
					ENTRY_HDR, (size_t)len);
	}

	/* The outcome rides in the pointer: no allocation per entry, and
	 * C-Raft only hands it back to the proposal's callback. */
	*result = (void *)(intptr_t)outcome;
	return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
			unsigned *n)
{
	px_raft_t *r = fsm->data;
	uint64_t index = raft_last_applied(&r->raft);
	void *state = NULL;
	size_t len = 0;
	unsigned char *b;
	int rc;

	if ((rc = r->user.snapshot(r->user.arg, &state, &len)) < 0) {
		px_log(PX_LOG_ERR, "raft: snapshot at index %llu: %s; the log "
		       "keeps growing until one succeeds",
		       (unsigned long long)index, px_strerror(rc));
		return RAFT_IOERR;
	}
	*bufs = raft_malloc(sizeof(**bufs));
	b = raft_malloc(SNAP_HDR + len);
	if (!*bufs || !b)
		px_log(PX_LOG_ERR, "out of memory");
	if (!*bufs || !b)
		abort();
	put_le32(b, SNAP_MAGIC);
	put_le32(b + 4, SNAP_VERSION);
	put_le64(b + 8, index);
	if (len)
		memcpy(b + SNAP_HDR, state, len);
	free(state);
	(*bufs)[0].base = b;
	(*bufs)[0].len = SNAP_HDR + len;
	*n = 1;
	px_log(PX_LOG_INFO, "raft: snapshot at index %llu, %zu bytes",
	       (unsigned long long)index, len);
	return 0;
}

/* Runs on the loop thread, at start (the last snapshot on disk) and
 * when the leader installs one; takes buf->base on success. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
	px_raft_t *r = fsm->data;
	const unsigned char *b = buf->base;
	uint64_t index;
	int rc;

	if (buf->len < SNAP_HDR || get_le(b, 4) != SNAP_MAGIC ||
	    get_le(b + 4, 4) != SNAP_VERSION) {
		px_log(PX_LOG_ERR, "raft: a snapshot of %zu bytes without this "
		       "version's header: refused", buf->len);
		return RAFT_MALFORMED;
	}
	index = get_le(b + 8, 8);
	rc = r->user.restore(r->user.arg, index, b + SNAP_HDR,
			     buf->len - SNAP_HDR);
	if (rc < 0) {
		px_log(PX_LOG_ERR, "raft: restore of the snapshot at index %llu: "
		       "%s", (unsigned long long)index, px_strerror(rc));
		return RAFT_IOERR;
	}
	raft_free(buf->base);
	return 0;
}

/* --- role watch ------------------------------------------------------------------- */

static const char *state_name(int s)
{
	switch (s) {
	case RAFT_LEADER: return "leader";
	case RAFT_FOLLOWER: return "follower";
	case RAFT_CANDIDATE: return "candidate";
	default: return "unavailable";
	}
}

const px_raft_peer_t *px_raft_leader(px_raft_t *r)
{
	raft_id id = 0;
	const char *addr = NULL;

	raft_leader(&r->raft, &id, &addr);
	return id ? peer_by_id(r, id) : NULL;
}

static void transfer_check(px_raft_t *r);
static void promote(px_raft_t *r);

static void on_watch(uv_timer_t *h)
{
	px_raft_t *r = h->data;
	int s = raft_state(&r->raft);
	const px_raft_peer_t *l = px_raft_leader(r);
	uint64_t lid = l ? l->id : 0, term = raft_current_term(&r->raft);

	if (r->xfer_known_by)
		transfer_check(r);
	peers_sync(r);
	if (s == RAFT_LEADER)
		promote(r);
	if (s == r->last_state && lid == r->last_leader)
		return;
	if (s == RAFT_LEADER)
		px_log(PX_LOG_INFO, "raft: %s is the leader in term %llu",
		       r->self->name, (unsigned long long)term);
	else if (l)
		px_log(PX_LOG_INFO, "raft: %s is a %s; the leader is %s (%s) in "
		       "term %llu", r->self->name, state_name(s), l->name,
		       l->addr, (unsigned long long)term);
	else
		px_log(PX_LOG_INFO, "raft: %s is a %s; no leader known in term "
		       "%llu", r->self->name, state_name(s),
		       (unsigned long long)term);
	r->last_state = s;
	r->last_leader = lid;
	r->last_term = term;
}

void px_raft_status(px_raft_t *r, px_raft_status_t *s)
{
	peers_sync(r);
	memset(s, 0, sizeof(*s));
	s->role = state_name(raft_state(&r->raft));
	s->term = raft_current_term(&r->raft);
	s->commit = raft_commit_index(&r->raft);
	s->applied = raft_last_applied(&r->raft);
	s->last_index = raft_last_index(&r->raft);
	s->leader = px_raft_leader(r);
	s->leader_id = s->leader ? s->leader->id : 0;
	s->self = r->self;
	/* A follower restarts its election timer on each message from
	 * the leader: the time since is the time since it heard it. */
	if (raft_state(&r->raft) != RAFT_LEADER && r->io.time) {
		raft_time now = r->io.time(&r->io);

		s->last_contact_ms = now > r->raft.election_timer_start ?
			now - r->raft.election_timer_start : 0;
	}
}

uint64_t px_raft_term(px_raft_t *r)
{
	return raft_current_term(&r->raft);
}

const px_raft_peer_t *px_raft_peers(const px_raft_t *r, size_t *n)
{
	*n = r->npeers;
	return r->peers;
}

/* --- proposals -------------------------------------------------------------------- */

static int map_status(int rc)
{
	switch (rc) {
	case 0: return 0;
	case RAFT_NOTLEADER: return PX_ENOTLEADER;
	case RAFT_SHUTDOWN: return PX_ENOTLEADER;
	case RAFT_LEADERSHIPLOST: return PX_ENOQUORUM;
	case RAFT_TOOBIG: return PX_ETOOBIG;
	case RAFT_CANTCHANGE: return PX_EBUSY;
	case RAFT_NOMEM: return -ENOMEM;
	default:
		px_log(PX_LOG_ERR, "raft: %s", raft_strerror(rc));
		return PX_ESTATE;
	}
}

static void on_applied(struct raft_apply *req, int status, void *result)
{
	proposal_t *p = req->data;

	p->cb(p->arg, map_status(status), status == 0 ?
	      (int)(intptr_t)result : 0, req->index);
	free(p);
}

int px_raft_propose(px_raft_t *r, const void *buf, size_t len,
		    px_raft_propose_cb cb, void *arg)
{
	struct raft_buffer b;
	proposal_t *p;
	int rc;

	if (len > OP_MAX)
		return PX_ETOOBIG;
	if (raft_state(&r->raft) != RAFT_LEADER)
		return PX_ENOTLEADER;
	/* C-Raft's disk log takes entries of a multiple of 8 bytes only:
	 * the length goes first, zeros pad the end. */
	b.len = ENTRY_HDR + ((len + 7) & ~(size_t)7);
	b.base = raft_calloc(1, b.len);
	if (!b.base)
		return -ENOMEM;
	put_le64(b.base, len);
	if (len)
		memcpy((unsigned char *)b.base + ENTRY_HDR, buf, len);
	p = xcalloc(1, sizeof(*p));
	p->cb = cb;
	p->arg = arg;
	p->req.data = p;
	rc = raft_apply(&r->raft, &p->req, &b, 1, on_applied);
	if (rc != 0) {
		/* Refused before it reached the log (not leader, a change
		 * in progress): the buffer is still ours. */
		raft_free(b.base);
		free(p);
		return map_status(rc);
	}
	return 0;
}

/* --- leadership transfer ----------------------------------------------------------- */

/* How long after C-Raft's callback the old leader waits to hear of the
 * new one: C-Raft calls back when the target leads, or after an
 * election timeout; a target that won may not have reached this store
 * yet (its first heartbeat), an election another store won takes up to
 * another timeout. */
#define TRANSFER_KNOWN_MS (2 * PX_RAFT_ELECTION_MS)

static void transfer_end(px_raft_t *r, int status,
			 const px_raft_peer_t *leader)
{
	px_raft_transfer_cb cb = r->xfer_cb;

	r->xfer_busy = false;
	r->xfer_known_by = 0;
	r->xfer_cb = NULL;
	cb(r->xfer_arg, status, leader, peer_by_id(r, r->xfer_target));
}

/* After C-Raft's callback: done once this store follows a known leader
 * other than itself, or failed when it leads still or the wait is
 * over. */
static void transfer_check(px_raft_t *r)
{
	const px_raft_peer_t *l = px_raft_leader(r);

	if (raft_state(&r->raft) == RAFT_LEADER) {
		transfer_end(r, PX_ETIMEOUT, r->self);
		return;
	}
	if (l && l != r->self) {
		transfer_end(r, 0, l);
		return;
	}
	if (px_mono_ms() >= r->xfer_known_by)
		transfer_end(r, PX_ETIMEOUT, NULL);
}

static void on_transfer(struct raft_transfer *req)
{
	px_raft_t *r = req->data;

	/* raft_close aborts a transfer: the caller is closing too */
	if (r->done) {
		r->xfer_busy = false;
		return;
	}
	r->xfer_known_by = px_mono_ms() + TRANSFER_KNOWN_MS;
	transfer_check(r);
}

int px_raft_transfer(px_raft_t *r, const char *name, px_raft_transfer_cb cb,
		     void *arg, char *why, size_t whylen)
{
	const px_raft_peer_t *to = NULL;
	int rc;

	if (raft_state(&r->raft) != RAFT_LEADER)
		return px_refuse(why, whylen, PX_ENOTLEADER, "%s is not the "
				 "leader", r->self->name);
	if (r->xfer_busy)
		return px_refuse(why, whylen, PX_EBUSY, "a leadership transfer "
				 "is under way already");
	if (name && name[0]) {
		const struct raft_server *srv = NULL;

		for (size_t i = 0; i < r->npeers && !to; i++)
			if (strcmp(r->peers[i].name, name) == 0)
				to = &r->peers[i];
		if (!to)
			return px_refuse(why, whylen, PX_EBADREQ, "no store "
					 "named `%.*s'", PX_RAFT_NAME_MAX, name);
		if (to->id == r->self->id)
			return px_refuse(why, whylen, PX_EBADREQ, "%s is the "
					 "leader already", to->name);
		for (unsigned i = 0; i < r->raft.configuration.n; i++)
			if (r->raft.configuration.servers[i].id == to->id)
				srv = &r->raft.configuration.servers[i];
		if (!srv || srv->role != RAFT_VOTER)
			return px_refuse(why, whylen, PX_EBADREQ, "%s is not a "
					 "voter in the Raft configuration: only "
					 "a voter may lead", to->name);
	}
	memset(&r->xfer, 0, sizeof(r->xfer));
	r->xfer.data = r;
	rc = raft_transfer(&r->raft, &r->xfer, to ? to->id : 0, on_transfer);
	switch (rc) {
	case 0:
		break;
	case RAFT_NOTFOUND:
		return px_refuse(why, whylen, PX_EBADREQ, "no other voter to "
				 "take over");
	case RAFT_BADID:
		return px_refuse(why, whylen, PX_EBADREQ, "%s may not lead "
				 "(C-Raft: %s)", to ? to->name : "the store",
				 raft_strerror(rc));
	default:
		rc = map_status(rc);
		return px_refuse(why, whylen, rc, "C-Raft refused the transfer: "
				 "%s", px_strerror(rc));
	}
	r->xfer_busy = true;
	r->xfer_target = r->xfer.id;
	r->xfer_known_by = 0;
	r->xfer_cb = cb;
	r->xfer_arg = arg;
	to = peer_by_id(r, r->xfer_target);
	px_log(PX_LOG_INFO, "raft: %s hands leadership to %s (term %llu)",
	       r->self->name, to ? to->name : "?",
	       (unsigned long long)raft_current_term(&r->raft));
	return 0;
}

/* --- membership ------------------------------------------------------------------- */

/* How long `store add' waits for a TCP connection to the new store's
 * Raft address: the "about a second" for a store that does
 * not answer. */
#define PROBE_MS 1000
/* A standby is made a voter once its log is within this many entries
 * of the leader's.  C-Raft's own catch-up (raft_assign VOTER) then
 * asks for the last stretch in rounds of at most 5 s, 10 of them;
 * starting it only this close keeps those rounds for the last few
 * entries, not for a snapshot install or a long log, which could use
 * them up and fail the promotion.  64: about what a busy leader appends
 * in one heartbeat's time. */
#define CATCHUP_SLACK 64
/* After a failed promotion step (the standby down, leadership lost),
 * the next try waits this long. */
#define PROMOTE_RETRY_MS 1000

struct probe {
	px_raft_t *r;          /* NULL once r is closing */
	uv_tcp_t tcp;
	uv_connect_t req;
	uv_timer_t timer;
	int open;              /* handles not closed yet */
	int status;            /* 0: connected, else a libuv error */
	bool done;
};

static int change_status(int rc)
{
	switch (rc) {
	case 0: return 0;
	case RAFT_NOTLEADER: case RAFT_SHUTDOWN: return PX_ENOTLEADER;
	case RAFT_LEADERSHIPLOST: return PX_ENOQUORUM;
	case RAFT_CANTCHANGE: return PX_EBUSY;
	case RAFT_DUPLICATEID: case RAFT_DUPLICATEADDRESS: return PX_EEXIST;
	case RAFT_NOCONNECTION: return PX_EDOWN;
	default: return PX_ESTATE;
	}
}

static void change_end(px_raft_t *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The operator's change is over: cb once, with the outcome in words. */
static void change_end(px_raft_t *r, int status, const char *fmt, ...)
{
	px_raft_change_cb cb = r->change_cb;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->change_busy = false;
	r->change_cb = NULL;
	px_log(status ? PX_LOG_WARN : PX_LOG_INFO, "raft: %s", msg);
	if (cb)
		cb(r->change_arg, status, msg);
}

static const px_raft_peer_t *peer_by_name(const px_raft_t *r, const char *name)
{
	for (size_t i = 0; i < r->npeers; i++)
		if (strcmp(r->peers[i].name, name) == 0)
			return &r->peers[i];
	return NULL;
}

static int role_of(const px_raft_t *r, uint64_t id)
{
	for (size_t i = 0; i < r->npeers; i++)
		if (r->peers[i].id == id)
			return r->roles[i];
	return -1;
}

/* Whether a change may start now; why says what is in the way. */
static int change_may_start(px_raft_t *r, char *why, size_t whylen)
{
	peers_sync(r);
	if (raft_state(&r->raft) != RAFT_LEADER)
		return px_refuse(why, whylen, PX_ENOTLEADER, "%s is not the "
				 "leader", r->self->name);
	if (r->change_busy)
		return px_refuse(why, whylen, PX_EBUSY, "a membership change "
				 "is in progress (%s %s): one at a time; nothing "
				 "changed", r->change_kind == CHANGE_REMOVE ?
				 "removing" : r->change_kind == CHANGE_ADD ?
				 "adding" : "promoting", r->change_peer.name);
	if (r->raft.configuration_uncommitted_index ||
	    r->raft.leader_state.promotee_id)
		return px_refuse(why, whylen, PX_EBUSY, "a configuration change "
				 "is not committed yet: one at a time; try again "
				 "in a moment; nothing changed");
	if (r->xfer_busy)
		return px_refuse(why, whylen, PX_EBUSY, "a leadership transfer "
				 "is under way; nothing changed");
	return 0;
}

/* A store still joining: the first non-voter, or NULL. */
static const px_raft_peer_t *joining(const px_raft_t *r, int *role)
{
	for (size_t i = 0; i < r->npeers; i++)
		if (r->roles[i] != RAFT_VOTER) {
			*role = r->roles[i];
			return &r->peers[i];
		}
	return NULL;
}

static void on_change(struct raft_change *req, int status)
{
	px_raft_t *r = req->data;
	const px_raft_peer_t *p = &r->change_peer;
	int kind = r->change_kind;

	if (r->closing) {              /* nobody to tell */
		r->change_busy = false;
		return;
	}
	peers_sync(r);
	if (kind == CHANGE_STANDBY || kind == CHANGE_VOTER) {
		r->change_busy = false;
		if (status != 0) {
			r->promote_after = px_mono_ms() + PROMOTE_RETRY_MS;
			px_log(PX_LOG_WARN, "raft: making %s a %s failed: %s "
			       "(tried again in %d ms while it is in the "
			       "configuration)", p->name, kind == CHANGE_VOTER ?
			       "voter" : "standby", raft_strerror(status),
			       PROMOTE_RETRY_MS);
		} else {
			px_log(PX_LOG_INFO, "raft: %s is a %s now", p->name,
			       kind == CHANGE_VOTER ? "voter" : "standby");
		}
		return;
	}
	if (status != 0) {
		int rc = change_status(status);

		change_end(r, rc, "%s %s (id %llu, %s): %s%s", kind == CHANGE_ADD ?
			   "adding" : "removing", p->name,
			   (unsigned long long)p->id, p->addr,
			   raft_strerror(status), rc == PX_ENOQUORUM ?
			   ": outcome unknown, it may still commit under the "
			   "next leader (see `store status')" : "");
		return;
	}
	if (kind == CHANGE_ADD)
		change_end(r, 0, "%s (id %llu, %s) added as a non-voter; the "
			   "leader makes it a standby, then a voter once its "
			   "log is within %d entries of the leader's (`store "
			   "status' shows when)", p->name,
			   (unsigned long long)p->id, p->addr, CATCHUP_SLACK);
	else
		change_end(r, 0, "%s (id %llu, %s) removed: %zu stores", p->name,
			   (unsigned long long)p->id, p->addr, r->npeers);
}

/* Once a step at a time, on the leader's watch: a store added (a spare:
 * C-Raft does not replicate to spares) becomes a standby, and a standby
 * within CATCHUP_SLACK of the leader's log a voter.  Any leader does
 * it, so a promotion cut by a leader change goes on under the next. */
static void promote(px_raft_t *r)
{
	const px_raft_peer_t *p;
	raft_index match = 0;
	int role = 0, rc, to;

	if (r->change_busy || r->closing || px_mono_ms() < r->promote_after ||
	    change_may_start(r, NULL, 0) < 0 || !(p = joining(r, &role)))
		return;
	if (role == RAFT_STANDBY) {
		/* match 0: it has not answered yet (a store that is down
		 * or frozen stays a standby, and may still be removed) */
		if (raft_match_index(&r->raft, p->id, &match) != 0 ||
		    match == 0 ||
		    match + CATCHUP_SLACK < raft_last_index(&r->raft))
			return;
		to = RAFT_VOTER;
	} else {
		to = RAFT_STANDBY;
	}
	r->change_peer = *p;
	r->change_kind = to == RAFT_VOTER ? CHANGE_VOTER : CHANGE_STANDBY;
	r->change_cb = NULL;
	memset(&r->change, 0, sizeof(r->change));
	r->change.data = r;
	rc = raft_assign(&r->raft, &r->change, p->id, to, on_change);
	if (rc != 0) {
		r->promote_after = px_mono_ms() + PROMOTE_RETRY_MS;
		px_log(PX_LOG_WARN, "raft: making %s a %s: %s", p->name,
		       role_name(to), raft_strerror(rc));
		return;
	}
	r->change_busy = true;
	px_log(PX_LOG_INFO, "raft: making %s a %s (its log at %llu, the "
	       "leader's at %llu)", p->name, role_name(to),
	       (unsigned long long)match,
	       (unsigned long long)raft_last_index(&r->raft));
}

/* Checks of add against the configuration; 0 or the refusal. */
static int add_check(px_raft_t *r, const px_raft_peer_t *q, char *why,
		     size_t whylen)
{
	const px_raft_peer_t *j;
	int role;
	int rc;

	if ((rc = change_may_start(r, why, whylen)) < 0)
		return rc;
	if ((j = joining(r, &role)))
		return px_refuse(why, whylen, PX_EBUSY, "%s is joining still (a "
				 "%s, not yet a voter): one change at a time; "
				 "wait until it is a voter (`store status') or "
				 "remove it; nothing changed", j->name,
				 role_name(role));
	for (size_t i = 0; i < r->npeers; i++) {
		const px_raft_peer_t *p = &r->peers[i];

		if (strcmp(p->name, q->name) == 0)
			return px_refuse(why, whylen, PX_EEXIST, "a store named "
					 "%s is in the cluster already (id %llu, "
					 "%s); nothing changed", p->name,
					 (unsigned long long)p->id, p->addr);
		if (p->id == q->id)
			return px_refuse(why, whylen, PX_EEXIST, "id %llu is "
					 "%s's already; nothing changed",
					 (unsigned long long)q->id, p->name);
		if (strcmp(p->addr, q->addr) == 0)
			return px_refuse(why, whylen, PX_EEXIST, "%s is %s's "
					 "Raft address already; nothing changed",
					 q->addr, p->name);
	}
	if (r->npeers >= PX_RAFT_SERVERS_MAX)
		return px_refuse(why, whylen, PX_ETOOBIG, "%zu stores: at most "
				 "%d; remove one first; nothing changed",
				 r->npeers, PX_RAFT_SERVERS_MAX);
	return 0;
}

static void probe_closed(uv_handle_t *h)
{
	struct probe *p = h->data;
	px_raft_t *r = p->r;
	char addr[sizeof(r->change_peer.name) + PX_RAFT_ADDR_MAX + 2];
	int status = p->status, rc;

	if (--p->open > 0)
		return;
	free(p);
	if (!r)
		return;
	r->probe = NULL;
	if (status != 0) {
		change_end(r, PX_EDOWN, "%s at %s is not reachable (%s): start it "
			   "first (phalanx-store --raft-join, with the cluster's "
			   "--raft-peers and itself); nothing changed",
			   r->change_peer.name, r->change_peer.addr,
			   uv_strerror(status));
		return;
	}
	/* The wait let other things happen: the checks again. */
	r->change_busy = false;
	rc = add_check(r, &r->change_peer, r->probe_why, sizeof(r->probe_why));
	r->change_busy = true;
	if (rc < 0) {
		change_end(r, rc, "%s", r->probe_why);
		return;
	}
	snprintf(addr, sizeof(addr), "%s@%s", r->change_peer.name,
		 r->change_peer.addr);
	memset(&r->change, 0, sizeof(r->change));
	r->change.data = r;
	rc = raft_add(&r->raft, &r->change, r->change_peer.id, addr, on_change);
	if (rc != 0) {
		change_end(r, change_status(rc), "adding %s: C-Raft refused: "
			   "%s; nothing changed", r->change_peer.name,
			   raft_strerror(rc));
		return;
	}
	px_log(PX_LOG_INFO, "raft: adding %s (id %llu, %s) as a non-voter",
	       r->change_peer.name, (unsigned long long)r->change_peer.id,
	       r->change_peer.addr);
}

static void probe_end(struct probe *p, int status)
{
	if (p->done)
		return;
	p->done = true;
	p->status = status;
	uv_close((uv_handle_t *)&p->tcp, probe_closed);
	uv_close((uv_handle_t *)&p->timer, probe_closed);
}

static void on_probe_connect(uv_connect_t *req, int status)
{
	if (status != UV_ECANCELED)
		probe_end(req->data, status);
}

static void on_probe_timeout(uv_timer_t *t)
{
	probe_end(t->data, UV_ETIMEDOUT);
}

/* "ID@a.b.c.d:port" -> q's id and addr; 0 or PX_EBADREQ. */
static int endpoint_parse(const char *ep, px_raft_peer_t *q, char *why,
			  size_t whylen)
{
	const char *at = strchr(ep, '@');
	char idbuf[24], host[PX_RAFT_ADDR_MAX + 1];
	uint64_t port;

	if (!at || at == ep || (size_t)(at - ep) >= sizeof(idbuf) ||
	    strlen(at + 1) > PX_RAFT_ADDR_MAX)
		return px_refuse(why, whylen, PX_EBADREQ, "endpoint `%.*s' is "
				 "not ID@a.b.c.d:port (the new store's "
				 "--raft-id and Raft address, as in its "
				 "--raft-peers item)", PX_RAFT_ADDR_MAX + 24, ep);
	memcpy(idbuf, ep, (size_t)(at - ep));
	idbuf[at - ep] = '\0';
	if (px_parse_u64(idbuf, 1, UINT32_MAX, &q->id) < 0)
		return px_refuse(why, whylen, PX_EBADREQ, "endpoint `%.*s': id "
				 "`%s' is not a number from 1",
				 PX_RAFT_ADDR_MAX + 24, ep, idbuf);
	if (addr_split(at + 1, host, sizeof(host), &port) < 0)
		return px_refuse(why, whylen, PX_EBADREQ, "endpoint `%.*s': "
				 "`%s' is not an IPv4 address and port (C-Raft's "
				 "transport resolves no names)",
				 PX_RAFT_ADDR_MAX + 24, ep, at + 1);
	snprintf(q->addr, sizeof(q->addr), "%s", at + 1);
	return 0;
}

int px_raft_add(px_raft_t *r, const char *name, const char *endpoint,
		px_raft_change_cb cb, void *arg, char *why, size_t whylen)
{
	px_raft_peer_t q;
	struct sockaddr_in sa;
	char host[PX_RAFT_ADDR_MAX + 1];
	uint64_t port;
	struct probe *p;
	int rc;

	memset(&q, 0, sizeof(q));
	if (!name || !name_ok(name, strlen(name)))
		return px_refuse(why, whylen, PX_EBADREQ, "store name `%.*s' is "
				 "not letters, digits and `.-_', 1 to %d of "
				 "them", PX_RAFT_NAME_MAX + 8, name ? name : "",
				 PX_RAFT_NAME_MAX);
	snprintf(q.name, sizeof(q.name), "%s", name);
	if ((rc = endpoint_parse(endpoint ? endpoint : "", &q, why, whylen)) < 0 ||
	    (rc = add_check(r, &q, why, whylen)) < 0)
		return rc;
	if (addr_split(q.addr, host, sizeof(host), &port) < 0 ||
	    uv_ip4_addr(host, (int)port, &sa) != 0)
		return px_refuse(why, whylen, PX_EBADREQ, "endpoint `%s': not "
				 "an address", q.addr);
	/* Is something listening there?  C-Raft would add a store that
	 * is not, and the cluster would carry a member that never
	 * answers. */
	p = xcalloc(1, sizeof(*p));
	p->r = r;
	uv_tcp_init(r->loop, &p->tcp);
	uv_timer_init(r->loop, &p->timer);
	p->tcp.data = p->timer.data = p->req.data = p;
	p->open = 2;
	r->probe = p;
	r->change_busy = true;
	r->change_kind = CHANGE_ADD;
	r->change_peer = q;
	r->change_cb = cb;
	r->change_arg = arg;
	uv_timer_start(&p->timer, on_probe_timeout, PROBE_MS, 0);
	if ((rc = uv_tcp_connect(&p->req, &p->tcp, (struct sockaddr *)&sa,
				 on_probe_connect)) != 0)
		probe_end(p, rc);
	return 0;
}

int px_raft_remove(px_raft_t *r, const char *name, px_raft_change_cb cb,
		   void *arg, char *why, size_t whylen)
{
	const px_raft_peer_t *p, *j;
	size_t voters = 0;
	int rc, role = 0;

	if ((rc = change_may_start(r, why, whylen)) < 0)
		return rc;
	if (!name || !(p = peer_by_name(r, name)))
		return px_refuse(why, whylen, PX_EBADREQ, "no store named `%.*s' "
				 "in the cluster; nothing changed",
				 PX_RAFT_NAME_MAX + 8, name ? name : "");
	if ((j = joining(r, &role)) && j->id != p->id)
		return px_refuse(why, whylen, PX_EBUSY, "%s is joining still (a "
				 "%s): one change at a time; wait until it is a "
				 "voter, or remove it first; nothing changed",
				 j->name, role_name(role));
	if (p->id == r->self->id)
		return px_refuse(why, whylen, PX_EBADREQ, "%s is the leader: "
				 "hand leadership to another store first "
				 "(`phalanxctl store transfer'), then remove it; "
				 "nothing changed", p->name);
	for (size_t i = 0; i < r->npeers; i++)
		voters += r->roles[i] == RAFT_VOTER && r->peers[i].id != p->id;
	if (voters == 0)
		return px_refuse(why, whylen, PX_EBADREQ, "%s is the last voter; "
				 "nothing changed", p->name);
	r->change_peer = *p;
	r->change_kind = CHANGE_REMOVE;
	memset(&r->change, 0, sizeof(r->change));
	r->change.data = r;
	rc = raft_remove(&r->raft, &r->change, p->id, on_change);
	if (rc != 0)
		return px_refuse(why, whylen, change_status(rc), "removing %s: "
				 "C-Raft refused: %s; nothing changed", p->name,
				 raft_strerror(rc));
	r->change_busy = true;
	r->change_cb = cb;
	r->change_arg = arg;
	px_log(PX_LOG_INFO, "raft: removing %s (id %llu, %s, a %s)",
	       r->change_peer.name, (unsigned long long)r->change_peer.id,
	       r->change_peer.addr, role_name(role_of(r, r->change_peer.id)));
	return 0;
}

/* --- open and close --------------------------------------------------------------- */

static void on_raft_closed(struct raft *raft)
{
	px_raft_t *r = raft->data;
	void (*done)(void *) = r->done;
	void *arg = r->done_arg;

	raft_uv_close(&r->io);
	raft_uv_tcp_close(&r->tcp);
	free(r);
	if (done)
		done(arg);
}

/* The watch timer closed before C-Raft ever started: only r to free. */
static void free_owner(uv_handle_t *h)
{
	free(h->data);
}

static void on_watch_closed(uv_handle_t *h)
{
	px_raft_t *r = h->data;

	if (r->inited)
		raft_close(&r->raft, on_raft_closed);
	else
		on_raft_closed(&r->raft);
}

void px_raft_close(px_raft_t *r, void (*done)(void *arg), void *arg)
{
	if (!r) {
		if (done)
			done(arg);
		return;
	}
	r->done = done;
	r->done_arg = arg;
	r->closing = true;
	if (r->probe) {                /* `store add' checking: dropped */
		r->probe->r = NULL;
		probe_end(r->probe, UV_ECANCELED);
		r->probe = NULL;
	}
	uv_close((uv_handle_t *)&r->watch, on_watch_closed);
}

/* C-Raft writes its log with O_DIRECT and kernel AIO; on tmpfs it
 * falls back or fails in ways that differ by version, and a store whose
 * log is in memory loses acknowledged writes at a power cut. */
static int dir_check(const char *dir)
{
	struct statfs fs;
	bool made = mkdir(dir, 0700) == 0;

	if (!made && errno != EEXIST) {
		px_log(PX_LOG_ERR, "raft directory %s: %s", dir, strerror(errno));
		return PX_ESTATE;
	}
	if (statfs(dir, &fs) < 0) {
		px_log(PX_LOG_ERR, "raft directory %s: %s", dir, strerror(errno));
		return PX_ESTATE;
	}
	if (fs.f_type == TMPFS_MAGIC) {
		px_log(PX_LOG_ERR, "raft directory %s is on tmpfs (memory): the "
		       "Raft log must be on a disk (O_DIRECT writes, and a write "
		       "is acknowledged only once it is on disk); give a "
		       "directory on one (`stat -f DIR' says the type)", dir);
		if (made)
			rmdir(dir);
		return PX_ESTATE;
	}
	return 0;
}

int px_raft_open(px_raft_t **out, uv_loop_t *loop, const px_raft_config_t *cfg)
{
	struct raft_configuration conf;
	px_raft_t *r;
	int rc;

	*out = NULL;
	if (cfg->npeers == 0 || cfg->npeers > PX_RAFT_SERVERS_MAX)
		return PX_EBADREQ;
	if ((rc = dir_check(cfg->dir)) < 0)
		return rc;
	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->user = cfg->fsm;
	r->npeers = r->nboot = cfg->npeers;
	memcpy(r->peers, cfg->peers, cfg->npeers * sizeof(*cfg->peers));
	memcpy(r->boot, cfg->peers, cfg->npeers * sizeof(*cfg->peers));
	for (size_t i = 0; i < r->npeers; i++) {
		r->roles[i] = RAFT_VOTER;
		if (r->peers[i].id == cfg->id)
			r->me = r->peers[i];
	}
	r->join = cfg->join;
	snprintf(r->dir, sizeof(r->dir), "%s", cfg->dir);
	if (!r->me.id) {
		px_log(PX_LOG_ERR, "--raft-id %llu is not among --raft-peers",
		       (unsigned long long)cfg->id);
		free(r);
		return PX_EBADREQ;
	}
	r->self = &r->me;
	uv_timer_init(loop, &r->watch);
	r->watch.data = r;
	r->last_state = -1;

	/* 0.22.1 keeps the legacy transport ABI: version 1, or
	 * raft_uv_init refuses it. */
	r->tcp.version = 1;
	r->tcp.data = r;
	if ((rc = raft_uv_tcp_init(&r->tcp, loop)) != 0) {
		px_log(PX_LOG_ERR, "raft transport: %s", raft_strerror(rc));
		uv_close((uv_handle_t *)&r->watch, free_owner);
		return PX_ESTATE;
	}
	/* raft_uv_init takes the guard's data field for itself: the
	 * guard is the implementation, so r goes in impl. */
	r->guard.version = 1;
	r->guard.impl = r;
	r->guard.init = guard_init;
	r->guard.listen = guard_listen;
	r->guard.connect = guard_connect;
	r->guard.close = guard_close;
	if ((rc = raft_uv_init(&r->io, loop, r->dir, &r->guard)) != 0) {
		px_log(PX_LOG_ERR, "raft log in %s: %s", r->dir, r->io.errmsg);
		raft_uv_tcp_close(&r->tcp);
		uv_close((uv_handle_t *)&r->watch, free_owner);
		return PX_ESTATE;
	}
	r->fsm.version = 1;
	r->fsm.data = r;
	r->fsm.apply = fsm_apply;
	r->fsm.snapshot = fsm_snapshot;
	r->fsm.restore = fsm_restore;
	if ((rc = raft_init(&r->raft, &r->io, &r->fsm, r->self->id,
			    r->self->addr)) != 0) {
		px_log(PX_LOG_ERR, "raft: %s", raft_errmsg(&r->raft));
		raft_uv_close(&r->io);
		raft_uv_tcp_close(&r->tcp);
		uv_close((uv_handle_t *)&r->watch, free_owner);
		return PX_ESTATE;
	}
	r->raft.data = r;
	r->inited = true;
	raft_set_election_timeout(&r->raft, PX_RAFT_ELECTION_MS);
	raft_set_heartbeat_timeout(&r->raft, PX_RAFT_HEARTBEAT_MS);
	raft_set_pre_vote(&r->raft, true);
	raft_set_snapshot_threshold(&r->raft, cfg->snapshot_threshold ?
				    cfg->snapshot_threshold : 1024);
	raft_set_snapshot_trailing(&r->raft, cfg->snapshot_trailing ?
				   cfg->snapshot_trailing : 128);

	/* Every store of the initial set bootstraps the same
	 * configuration; on a directory that holds a log already C-Raft
	 * refuses (CANTBOOTSTRAP) and the log's own configuration stands.
	 * A joining store (--raft-join) bootstraps nothing: it starts
	 * with no configuration, takes part in none, and learns the
	 * cluster's from the leader once `store add' put it in. */
	raft_configuration_init(&conf);
	for (size_t i = 0; i < r->npeers && rc == 0 && !r->join; i++)
		rc = raft_configuration_add(&conf, r->peers[i].id,
					    r->peers[i].addr, RAFT_VOTER);
	if (rc == 0 && !r->join)
		rc = raft_bootstrap(&r->raft, &conf);
	raft_configuration_close(&conf);
	if (rc != 0 && rc != RAFT_CANTBOOTSTRAP) {
		px_log(PX_LOG_ERR, "raft bootstrap in %s: %s", r->dir,
		       raft_errmsg(&r->raft));
		goto fail;
	}
	if ((rc = raft_start(&r->raft)) != 0) {
		/* C-Raft's own message is often empty here: a listen
		 * failure (an address not this host's, a port taken) is
		 * the usual cause. */
		px_log(PX_LOG_ERR, "raft start in %s (%s on %s): %s%s%s (is "
		       "%s this host's address, and the port free?)", r->dir,
		       r->self->name, r->self->addr, raft_strerror(rc),
		       raft_errmsg(&r->raft)[0] ? ": " : "",
		       raft_errmsg(&r->raft), r->self->addr);
		goto fail;
	}
	r->started = true;
	peers_sync(r);
	uv_timer_start(&r->watch, on_watch, WATCH_MS, WATCH_MS);
	px_log(PX_LOG_INFO, "raft: %s (id %llu) on %s, %zu stores%s, log in "
	       "%s, applied index %llu", r->self->name,
	       (unsigned long long)r->self->id, r->self->addr, r->npeers,
	       r->raft.configuration.n ? "" : " (joining: no configuration "
	       "yet; `phalanxctl store add' on the leader puts it in)",
	       r->dir, (unsigned long long)raft_last_applied(&r->raft));
	*out = r;
	return 0;
fail:
	/* C-Raft holds handles on the loop now: the caller closes r. */
	*out = r;
	return PX_ESTATE;
}
