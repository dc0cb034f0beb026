/* client.c - finding the store, one request and its reply, --wait, and
 * the follows that poll the store (alerts watch, log tail --follow).
 *
 * The socket is a ZMQ_DEALER, not a REQ: the store's ROUTER reads
 * [routing id][Envelope] and answers the same way (lib/wire.c, as for
 * the members' DEALERs), while a REQ would put an empty delimiter frame
 * where the store expects the Envelope and drop the reply that lacks
 * one.  The receive side skips such a delimiter anyway, so a store that
 * speaks REQ framing is understood too.  A DEALER has no send/receive
 * lockstep to break on a timeout; every timeout ends the run, so no
 * late reply can be taken for the answer to a later request. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "client.h"
#include "operation.h"
#include "ctl.h"
#include "json.h"
#include "keys.h"
#include "policy.h"
#include "px.h"
#include "wire.h"

#define CONFIG_DEFAULT "/etc/phalanx/phalanxctl.conf"
#define PX_CTL_PATH_MAX 4096
/* A follow's request is held by the store until a record comes or this
 * long (wait_ms); with FOLLOW_CALL_MS for the answer to come, a store
 * that went away is found within seconds.  An answer with nothing in it
 * well before wait_ms comes from a store that does not hold requests:
 * then FOLLOW_POLL_MS between requests, as before. */
#define FOLLOW_WAIT_MS 3000
#define FOLLOW_POLL_MS 200
/* One request of a follow waits at most this long: a store that restarts
 * is asked again rather than waited for. */
#define FOLLOW_CALL_MS 5000
#define FOLLOW_RETRY_MS 500

/* Several stores (--store a,b,c): each gets this long to finish the
 * handshake before the next is tried (issue 9: a frozen or cut store
 * costs a command a second or two, never a hang). */
#define CTL_TRY_MS 1000
/* Stores asked for one request at most: a hint each, a few rounds. */
#define CTL_HOPS_MAX 16
/* How long answers of "no leader known" are tried again: an election
 * takes under 3 s (issue 9), twice that is plenty. */
#define CTL_ELECTION_MS 6000
#define CTL_ELECTION_PAUSE_MS 300
/* ZMTP heartbeats on the ctl socket (issue 9): a PING every
 * CTL_PING_MS, and a store that sends nothing for CTL_PING_TIMEOUT_MS
 * after one is dropped, so a frozen store (TCP up, nobody home) costs a
 * request at most their sum, 2 s.  The store's ZeroMQ I/O thread
 * answers a PING while its loop is busy (a 1,000,000-entry import:
 * t_ctl_busy.sh), so 1.5 s of silence is a store that is gone or
 * stopped, not one at work (or a machine so loaded that a process gets
 * no CPU for that long: then a write goes on with the same request id
 * and a wait is asked again, as for a store that went away).  The store drops us after CTL_PING_TTL_MS
 * without a word from us (a phalanxctl that was stopped). */
#define CTL_PING_MS 500
#define CTL_PING_TIMEOUT_MS 1500
#define CTL_PING_TTL_MS 3000
/* A store that dropped a held --wait is asked again for this long: a
 * restart under systemd (RestartSec, then the start) or by hand. */
#define CTL_BACK_MS 10000
/* call_one's code for a connection that dropped after the handshake:
 * the request may have been read, and no answer will come on it. */
#define CTL_EDROPPED (-ECONNRESET)

static volatile sig_atomic_t interrupted; /* a follow's SIGINT, SIGTERM */

/* --verbose: "phalanxctl: CMD: HH:MM:SS.mmm what" on stderr (UTC, so
 * that a test can set it against the daemons' logs). */
static void __attribute__((format(printf, 2, 3)))
verbose(const px_ctl_t *ctl, const char *fmt, ...)
{
	char msg[1200];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (!ctl->verbose)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	px_ctl_fail(ctl, "%02d:%02d:%02d.%03ld %s", tm.tm_hour, tm.tm_min,
		    tm.tm_sec, ts.tv_nsec / 1000000, msg);
}

static void sleep_ms(uint64_t ms);

static const char *str(const char *s)
{
	return s ? s : "";
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Complete a store address: "tcp://" and the default port may be left
 * out ("192.0.2.10", "[2001:db8::1]", "fw-store:7700").  0 or
 * PX_EBADREQ. */
static int endpoint_complete(const char *in, char *out, size_t len)
{
	const char *host = in, *close;
	int has_port, n;

	if (strncmp(in, "tcp://", 6) == 0)
		host = in + 6;
	else if (strstr(in, "://"))
		return PX_EBADREQ; /* only tcp reaches another host */
	if (!*host || strpbrk(host, " \t/"))
		return PX_EBADREQ;
	if (host[0] == '[') {
		close = strchr(host, ']');
		if (!close || close == host + 1)
			return PX_EBADREQ;
		has_port = close[1] == ':';
		if (!has_port && close[1] != '\0')
			return PX_EBADREQ;
	} else {
		const char *colon = strchr(host, ':');

		/* A bare IPv6 address would lose its last group as a port. */
		if (colon && strchr(colon + 1, ':'))
			return PX_EBADREQ;
		if (colon == host)
			return PX_EBADREQ;
		has_port = colon != NULL;
	}
	if (has_port)
		n = snprintf(out, len, "tcp://%s", host);
	else
		n = snprintf(out, len, "tcp://%s:%d", host, PX_PORT_DEFAULT);
	return n < 0 || (size_t)n >= len ? PX_EBADREQ : 0;
}

/* Read `store = ENDPOINT' from path into out (if not NULL), and `key =
 * FILE', `store-key = FILE' into keys[0], keys[1] (if not NULL; each
 * PX_CTL_PATH_MAX bytes).  Returns 0 if a store was found, 1 if the file
 * does not exist (and may not: !must_exist) or names no store, or a
 * negative errno after printing why the file is bad: a bad config fails
 * closed. */
static int config_store(const px_ctl_t *ctl, const char *path,
			int must_exist, char *out, size_t len, char **keys)
{
	FILE *f;
	char *line = NULL, *key, *val, *eq, *hash;
	char q[PX_CTL_QUOTE_MAX];
	size_t cap = 0, lineno = 0;
	int rc = 1;

	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		if (rc == -ENOENT && !must_exist)
			return 1;
		px_ctl_fail(ctl, "cannot read the config file %s: %s", path,
			    strerror(-rc));
		return rc;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			px_ctl_quote(q, sizeof(q), key);
			px_ctl_fail(ctl, "%s: line %zu: want `key = value': `%s'",
				    path, lineno, q);
			rc = PX_EBADREQ;
			goto out;
		}
		*eq = '\0';
		key = trim(key);
		val = trim(eq + 1);
		if (strcmp(key, "key") == 0 || strcmp(key, "store-key") == 0) {
			char *dst = keys ? keys[key[0] == 's'] : NULL;

			if (!*val || strlen(val) >= PX_CTL_PATH_MAX) {
				px_ctl_fail(ctl, "%s: line %zu: %s: want a file "
					    "name", path, lineno, key);
				rc = PX_EBADREQ;
				goto out;
			}
			if (dst)
				strcpy(dst, val);
			continue;
		}
		if (strcmp(key, "store") != 0) {
			px_ctl_quote(q, sizeof(q), key);
			px_ctl_fail(ctl, "%s: line %zu: unknown key (want store, "
				    "key or store-key): `%s'", path, lineno, q);
			rc = PX_EBADREQ;
			goto out;
		}
		if (!out)
			continue;
		/* One endpoint or a comma-separated list: checked item by
		 * item (store_list). */
		if (!*val || strlen(val) >= len) {
			px_ctl_quote(q, sizeof(q), val);
			px_ctl_fail(ctl, "%s: line %zu: store: not an endpoint "
				    "list (want tcp://HOST:PORT,...): `%s'", path,
				    lineno, q);
			rc = PX_EBADREQ;
			goto out;
		}
		strcpy(out, val);
		rc = 0;
	}
	if (rc == 1 && !out)
		rc = 0;
	if (ferror(f)) {
		rc = -EIO;
		px_ctl_fail(ctl, "cannot read the config file %s", path);
	}
out:
	free(line);
	fclose(f);
	return rc;
}

/* --config, else $PHALANX_CONFIG, else the default (which may be
 * missing: *must_exist 0). */
static const char *config_path(const px_ctl_t *ctl, int *must_exist)
{
	const char *path = ctl->config;

	*must_exist = 1;
	if (!path) {
		path = getenv("PHALANX_CONFIG");
		if (!path || !*path) {
			path = CONFIG_DEFAULT;
			*must_exist = 0;
		}
	}
	return path;
}

/* A comma-separated list of store endpoints (every store of the
 * array) into ctl->bases.  0 or PX_EBADREQ after printing which item
 * is bad; from names where the list came from. */
static int store_list(px_ctl_t *ctl, const char *list, const char *from)
{
	char q[PX_CTL_QUOTE_MAX], item[PX_CTL_ENDPOINT_MAX];
	const char *p = list;

	ctl->nbases = 0;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (ctl->nbases == PX_CTL_STORES_MAX - 1) {
			px_ctl_quote(q, sizeof(q), list);
			px_ctl_fail(ctl, "%s: more than %d stores: `%s'", from,
				    PX_CTL_STORES_MAX - 1, q);
			return PX_EBADREQ;
		}
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, p, len);
		item[len] = '\0';
		if (endpoint_complete(trim(item), ctl->bases[ctl->nbases],
				      PX_CTL_ENDPOINT_MAX) < 0) {
			px_ctl_quote(q, sizeof(q), item);
			px_ctl_fail(ctl, "%s: not a store endpoint (want "
				    "tcp://HOST:PORT, several separated by "
				    "commas): `%s'", from, q);
			return PX_EBADREQ;
		}
		ctl->nbases++;
		if (!end)
			break;
		p = end + 1;
	}
	ctl->nlisted = ctl->nbases;
	ctl->cur = 0;
	snprintf(ctl->base, sizeof(ctl->base), "%s", ctl->bases[0]);
	return 0;
}

/* --store, else $PHALANX_STORE, else the config file. */
static int find_store(px_ctl_t *ctl)
{
	const char *base = ctl->store, *from = "--store", *path;
	int rc, must_exist = 1;

	if (!base) {
		base = getenv("PHALANX_STORE");
		from = "PHALANX_STORE";
		if (base && !*base)
			base = NULL;
	}
	if (!base) {
		char list[PX_CTL_STORES_MAX * PX_CTL_ENDPOINT_MAX];

		path = config_path(ctl, &must_exist);
		rc = config_store(ctl, path, must_exist, list, sizeof(list), NULL);
		if (rc < 0)
			return rc;
		if (rc > 0) {
			px_ctl_fail(NULL, "no store configured: give --store "
				    "tcp://HOST:%d, set PHALANX_STORE, or write "
				    "`store = tcp://HOST:%d' in %s",
				    PX_PORT_DEFAULT, PX_PORT_DEFAULT, path);
			return PX_EBADREQ;
		}
		return store_list(ctl, list, path);
	}
	return store_list(ctl, base, from);
}

/* --key, else $PHALANX_KEY, else `key = FILE' in the config file; the
 * same for --store-key, $PHALANX_STORE_KEY, `store-key = FILE'.  Every
 * request is CURVE, so both are needed. */
static int load_keys(px_ctl_t *ctl, px_keypair_t *kp, char *server)
{
	const char *key = ctl->key, *skey = ctl->store_key, *path, *pin;
	char err[4096 + 256], cfg[2][PX_CTL_PATH_MAX] = { "", "" };
	px_store_key_t pubs[PX_STORE_KEYS_MAX];
	size_t n;
	char *cfgp[2] = { cfg[0], cfg[1] };
	int rc, must_exist;

	if (!key || !*key)
		key = getenv("PHALANX_KEY");
	if (!skey || !*skey)
		skey = getenv("PHALANX_STORE_KEY");
	if (!key || !*key || !skey || !*skey) {
		path = config_path(ctl, &must_exist);
		rc = config_store(ctl, path, must_exist, NULL, 0, cfgp);
		if (rc < 0)
			return rc;
		if ((!key || !*key) && cfg[0][0])
			key = cfg[0];
		if ((!skey || !*skey) && cfg[1][0])
			skey = cfg[1];
	}
	if (!key || !*key || !skey || !*skey) {
		px_ctl_fail(ctl, "no key: give --key FILE (our secret key, from "
			    "`phalanxctl keys gen --out FILE') and --store-key "
			    "FILE (the store's public key), set PHALANX_KEY "
			    "and PHALANX_STORE_KEY, or write `key = FILE' and "
			    "`store-key = FILE' in the config file");
		return PX_EBADREQ;
	}
	if ((rc = px_key_secret_load(key, kp, err, sizeof(err))) < 0 ||
	    (rc = px_store_keys_load(skey, 0, pubs, &n, err,
				     sizeof(err))) < 0) {
		px_ctl_fail(ctl, "%s", err);
		return rc;
	}
	/* The keys pinned are a set: with one per listed store, the one
	 * in this store's place first; then each in turn (key_next) for a
	 * store that does not hold the one tried (a leader hint, a list in
	 * another order). */
	if (ctl->key_cur != ctl->cur + 1) {
		ctl->key_cur = ctl->cur + 1;
		ctl->key_try = 0;
	}
	ctl->nkeys = n;
	pin = pubs[((n == ctl->nlisted && ctl->cur < ctl->nlisted ?
		     ctl->cur : 0) + ctl->key_try) % n];
	memcpy(server, pin, PX_KEY_Z85_LEN + 1);
	return 0;
}

/* The store at ctl->cur does not hold the key pinned for it: true if
 * another of the set is left to try. */
static bool key_next(px_ctl_t *ctl)
{
	if (ctl->nkeys < 2 || ctl->key_try + 1 >= ctl->nkeys)
		return false;
	ctl->key_try++;
	return true;
}

/* A handshake the store refuses (unknown key, or a store that does not
 * hold the pinned key) is never a reply: the monitor says so at once
 * instead of a timeout.  A connection that drops after the handshake
 * (the store was killed, restarted, or stopped answering PINGs) takes
 * the request with it: ZeroMQ reconnects but does not send it again,
 * so that is said at once too. */
#define MONITOR_EVENTS (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | \
			ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | \
			ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | \
			ZMQ_EVENT_HANDSHAKE_SUCCEEDED | \
			ZMQ_EVENT_DISCONNECTED)

static int open_monitor(px_ctl_t *ctl)
{
	char ep[64];

	/* A name per socket: the next store's socket is monitored while
	 * the last one's monitor may still be going away. */
	snprintf(ep, sizeof(ep), "inproc://phalanxctl-monitor-%u",
		 ctl->monitors++);
	if (zmq_socket_monitor(ctl->sock, ep, MONITOR_EVENTS) < 0)
		return -errno;
	ctl->monitor = zmq_socket(ctl->zctx, ZMQ_PAIR);
	if (!ctl->monitor || zmq_connect(ctl->monitor, ep) < 0)
		return -errno;
	return 0;
}

/* The event waiting on the monitor, 0 if none. */
static unsigned monitor_event(px_ctl_t *ctl, uint32_t *value)
{
	zmq_msg_t m;
	uint16_t ev = 0;

	zmq_msg_init(&m);
	if (zmq_msg_recv(&m, ctl->monitor, ZMQ_DONTWAIT) < 0) {
		zmq_msg_close(&m);
		return 0;
	}
	if (zmq_msg_size(&m) >= 6) {
		memcpy(&ev, zmq_msg_data(&m), 2);
		memcpy(value, (uint8_t *)zmq_msg_data(&m) + 2, 4);
	}
	while (zmq_msg_more(&m)) {
		zmq_msg_close(&m);
		zmq_msg_init(&m);
		if (zmq_msg_recv(&m, ctl->monitor, 0) < 0)
			break;
	}
	zmq_msg_close(&m);
	return ev;
}

static int open_socket(px_ctl_t *ctl)
{
	int zero = 0, rc, ivl = CTL_PING_MS, hb_timeout = CTL_PING_TIMEOUT_MS;
	int ttl = CTL_PING_TTL_MS;
	int64_t unlimited = -1;
	char server[PX_KEY_Z85_LEN + 1];
	px_keypair_t kp;

	if (!ctl->nbases && (rc = find_store(ctl)) < 0)
		return rc;
	snprintf(ctl->base, sizeof(ctl->base), "%s", ctl->bases[ctl->cur]);
	ctl->handshaken = false;
	if (px_endpoint(ctl->base, PX_EP_CTL, ctl->ep, sizeof(ctl->ep)) < 0) {
		px_ctl_fail(ctl, "not a store endpoint (the port must be "
			    "1..65533): `%s'", ctl->base);
		return PX_EBADREQ;
	}
	if ((rc = load_keys(ctl, &kp, server)) < 0)
		return rc;
	if (!ctl->zctx)
		ctl->zctx = zmq_ctx_new();
	if (!ctl->zctx) {
		rc = -errno;
		px_ctl_fail(ctl, "zmq_ctx_new: %s", zmq_strerror(errno));
		return rc;
	}
	ctl->sock = zmq_socket(ctl->zctx, ZMQ_DEALER);
	if (!ctl->sock) {
		rc = -errno;
		px_ctl_fail(ctl, "zmq_socket: %s", zmq_strerror(errno));
		return rc;
	}
	/* The reply to a list of a 1M-entry set is one large message. */
	if (zmq_setsockopt(ctl->sock, ZMQ_LINGER, &zero, sizeof(zero)) != 0 ||
	    zmq_setsockopt(ctl->sock, ZMQ_MAXMSGSIZE, &unlimited,
			   sizeof(unlimited)) != 0 ||
	    zmq_setsockopt(ctl->sock, ZMQ_HEARTBEAT_IVL, &ivl,
			   sizeof(ivl)) != 0 ||
	    zmq_setsockopt(ctl->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout,
			   sizeof(hb_timeout)) != 0 ||
	    zmq_setsockopt(ctl->sock, ZMQ_HEARTBEAT_TTL, &ttl,
			   sizeof(ttl)) != 0) {
		rc = -errno;
		px_ctl_fail(ctl, "zmq_setsockopt: %s", zmq_strerror(errno));
		return rc;
	}
	if ((rc = px_curve_client(ctl->sock, &kp, server)) < 0 ||
	    (rc = open_monitor(ctl)) < 0) {
		memset(&kp, 0, sizeof(kp));
		px_ctl_fail(ctl, "CURVE: %s", zmq_strerror(-rc));
		return rc;
	}
	memset(&kp, 0, sizeof(kp));
	if (zmq_connect(ctl->sock, ctl->ep) != 0) {
		rc = -errno;
		px_ctl_fail(ctl, "cannot connect to the store at %s: %s",
			    ctl->base, zmq_strerror(errno));
		return rc;
	}
	return 0;
}

/* The socket to one store, to try the next: the context stays. */
static void socket_close(px_ctl_t *ctl)
{
	if (ctl->sock)
		zmq_close(ctl->sock);
	if (ctl->monitor)
		zmq_close(ctl->monitor);
	ctl->sock = ctl->monitor = NULL;
}

void px_ctl_close(px_ctl_t *ctl)
{
	socket_close(ctl);
	if (ctl->zctx)
		zmq_ctx_term(ctl->zctx);
	ctl->zctx = NULL;
}

/* px_wire_recv for one reply, except that empty frames before the
 * Envelope (a REQ-style delimiter) are skipped.  0, -EAGAIN, or
 * PX_EDECODE / PX_EPROTO_VERSION; the message is consumed either way. */
static int recv_reply(void *sock, Phalanx__Envelope **out)
{
	Phalanx__Envelope *env;
	zmq_msg_t msg;
	int more, rc;

	*out = NULL;
	for (;;) {
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
			rc = -errno;
			zmq_msg_close(&msg);
			return rc;
		}
		more = zmq_msg_more(&msg);
		if (zmq_msg_size(&msg) > 0 || !more)
			break;
		zmq_msg_close(&msg);
	}
	while (more) {
		zmq_msg_t rest;

		zmq_msg_init(&rest);
		if (zmq_msg_recv(&rest, sock, 0) < 0)
			more = 0;
		else
			more = zmq_msg_more(&rest);
		zmq_msg_close(&rest);
	}
	env = phalanx__envelope__unpack(NULL, zmq_msg_size(&msg),
					zmq_msg_data(&msg));
	zmq_msg_close(&msg);
	if (!env)
		return PX_EDECODE;
	if (env->proto_version != PX_PROTO_VERSION) {
		phalanx__envelope__free_unpacked(env, NULL);
		return PX_EPROTO_VERSION;
	}
	*out = env;
	return 0;
}

/* One request to the store the socket is open to.  0 with *out, or a
 * negative code with why (whylen bytes) saying what happened: nothing
 * is printed (the caller may try another store).  With several stores
 * to try, a store that has not finished the handshake within
 * CTL_TRY_MS is given up (down, frozen or cut off): the request was
 * never sent to it (ZeroMQ sends only after the handshake).  A
 * connection that drops after the handshake (killed, restarted, or
 * silent past the heartbeat timeout: frozen) ends the call at once
 * with CTL_EDROPPED: the store may have read the request. */
static int call_one(px_ctl_t *ctl, Phalanx__Envelope *env, char *why,
		    size_t whylen, Phalanx__Envelope **out)
{
	Phalanx__Envelope *in = NULL;
	uint64_t deadline, now, t0 = px_mono_ms(), hs_deadline;
	bool retry = false;
	int rc;

	*out = NULL;
	rc = px_wire_send(ctl->sock, NULL, env);
	if (rc < 0) {
		snprintf(why, whylen, "cannot send to the store at %s: %s",
			 ctl->base, zmq_strerror(-rc));
		return rc;
	}
	deadline = t0 + ctl->timeout_ms;
	hs_deadline = ctl->nbases > 1 ? t0 + CTL_TRY_MS : UINT64_MAX;
	for (;;) {
		zmq_pollitem_t it[] = {
			{ ctl->sock, 0, ZMQ_POLLIN, 0 },
			{ ctl->monitor, 0, ZMQ_POLLIN, 0 },
		};
		uint64_t until;
		uint32_t value = 0;
		unsigned ev;
		bool dropped = false;
		int n;

		now = px_mono_ms();
		if (now >= deadline) {
			snprintf(why, whylen, "no answer from the store at %s "
				 "within %llu s", ctl->base,
				 (unsigned long long)(ctl->timeout_ms / 1000));
			return PX_ETIMEOUT;
		}
		if (!ctl->handshaken && now >= hs_deadline) {
			snprintf(why, whylen, "no handshake with %s within "
				 "%d ms (down, frozen or cut off)", ctl->base,
				 CTL_TRY_MS);
			return PX_ETIMEOUT;
		}
		until = ctl->handshaken || hs_deadline > deadline ? deadline :
			hs_deadline;
		n = zmq_poll(it, 2, (long)(until - now));
		if (n < 0) {
			rc = -errno;
			/* A follow's SIGINT ends its held request too. */
			if (rc == -EINTR && interrupted) {
				snprintf(why, whylen, "interrupted");
				return rc;
			}
			if (rc == -EINTR)
				continue;
			snprintf(why, whylen, "zmq_poll: %s", zmq_strerror(-rc));
			return rc;
		}
		if (n == 0)
			continue;
		while ((ev = monitor_event(ctl, &value)) != 0) {
			if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
				ctl->handshaken = true;
				verbose(ctl, "handshake with the store at %s: "
					"the request goes out", ctl->base);
				continue;
			}
			/* Before the handshake nothing was sent: ZeroMQ
			 * reconnects and sends it then. */
			if (ev == ZMQ_EVENT_DISCONNECTED) {
				if (!ctl->handshaken)
					verbose(ctl, "the store at %s closed the "
						"connection before the handshake "
						"ended: ZeroMQ connects again",
						ctl->base);
				dropped = dropped || ctl->handshaken;
				continue;
			}
			/* Not the key this store holds: the next pinned one,
			 * on a new socket (the request was never sent). */
			if (ev != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH &&
			    key_next(ctl)) {
				verbose(ctl, "the store at %s does not hold the "
					"key pinned for it (handshake failed, "
					"code %u): trying the next key",
					ctl->base, (unsigned)value);
				retry = true;
				break;
			}
			snprintf(why, whylen, "the store at %s refused the "
				 "handshake (%s, code %u): it does not know our "
				 "key, or it is not the store whose key "
				 "--store-key pins", ctl->base,
				 ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ?
				 "authentication failed" : "CURVE failed",
				 (unsigned)value);
			return PX_EPERM;
		}
		if (retry) {
			retry = false;
			socket_close(ctl);
			if ((rc = open_socket(ctl)) < 0 ||
			    (rc = px_wire_send(ctl->sock, NULL, env)) < 0) {
				snprintf(why, whylen, "cannot send to the store "
					 "at %s", ctl->base);
				return rc;
			}
			t0 = px_mono_ms();
			deadline = t0 + ctl->timeout_ms;
			if (ctl->nbases > 1)
				hs_deadline = t0 + CTL_TRY_MS;
			continue;
		}
		/* An answer that came before the drop is still the answer:
		 * the engine queued it before it saw the connection end. */
		rc = recv_reply(ctl->sock, &in);
		if ((rc == -EAGAIN || rc == -EINTR) && dropped) {
			snprintf(why, whylen, "the store at %s closed the "
				 "connection", ctl->base);
			verbose(ctl, "%s", why);
			return CTL_EDROPPED;
		}
		if (rc == -EAGAIN || rc == -EINTR)
			continue;
		if (rc < 0) {
			snprintf(why, whylen, "the store at %s sent a reply this "
				 "build cannot read: %s", ctl->base,
				 px_strerror(rc));
			return rc;
		}
		break;
	}
	if (in->body_case != PHALANX__ENVELOPE__BODY_CTL_REPLY ||
	    !in->ctl_reply) {
		px_wire_free(in);
		snprintf(why, whylen, "the store at %s answered with something "
			 "other than a ctl reply", ctl->base);
		return PX_EDECODE;
	}
	verbose(ctl, "answer from the store at %s: %s", ctl->base,
		in->ctl_reply->status ? px_strerror(in->ctl_reply->status) :
		"ok");
	*out = in;
	return 0;
}

/* The index in ctl->bases of endpoint ep (a leader hint), added if it
 * is not there and there is room; -1 if it is not an endpoint or there
 * is no room. */
static int store_index(px_ctl_t *ctl, const char *ep)
{
	char full[PX_CTL_ENDPOINT_MAX];
	size_t i;

	if (endpoint_complete(ep, full, sizeof(full)) < 0)
		return -1;
	for (i = 0; i < ctl->nbases; i++)
		if (strcmp(ctl->bases[i], full) == 0)
			return (int)i;
	if (ctl->nbases == PX_CTL_STORES_MAX)
		return -1;
	snprintf(ctl->bases[ctl->nbases], PX_CTL_ENDPOINT_MAX, "%s", full);
	return (int)ctl->nbases++;
}

/* Add "store: why" to the list of stores tried (for the message that
 * says why none answered). */
static void tried_add(char *tried, size_t len, const char *base,
		      const char *why)
{
	size_t n = strlen(tried);

	if (n + 8 < len)
		snprintf(tried + n, len - n, "%s%s: %s", n ? "; " : "", base,
			 why);
}

/* A request the store holds until something happens or its
 * timeout_ms passed (--wait, members drain --wait). */
static bool held_request(const Phalanx__CtlRequest *req)
{
	return req->timeout_ms &&
	       (req->op == PHALANX__CTL_REQUEST__OP__WAIT ||
		req->op == PHALANX__CTL_REQUEST__OP__CANARY_WAIT ||
		req->op == PHALANX__CTL_REQUEST__OP__DRAINED_WAIT ||
		req->op == PHALANX__CTL_REQUEST__OP__UNDRAINED_WAIT);
}

/* Send req (a write as one Operation, with one request id for every
 * store it is sent to) and take the first answer that is not "not the
 * leader": a follower's hint is followed, a store that does not answer
 * (or knows no leader) costs CTL_TRY_MS and the next is tried; while
 * the stores elect a leader, rounds are tried again for up to
 * CTL_ELECTION_MS.  A store whose connection drops with the request
 * outstanding: the next store is asked the same (same request id: a
 * write the first one applied is answered with its first outcome);
 * with one store that is the end, said as such.  A held request
 * (held_request) is asked again until its timeout_ms ran out, of the
 * same store when it is the only one.  Bounded: at most CTL_HOPS_MAX
 * stores asked, or a held request's time. */
int px_ctl_call(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		Phalanx__Envelope **out)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT, *in = NULL;
	px_ctl_op_t w;
	char why[1024], tried[2048] = "";
	uint64_t election_end = 0, held_end = 0, margin = 0;
	size_t asked = 0, silent = 0, size;
	/* Stores that did not answer in this call: a follower's hint to
	 * one of them is older news than ours, and skipped once. */
	unsigned gone = 0;
	bool write, held = held_request(req), dropped = false;
	int rc = PX_ETIMEOUT, hops;

	/* The caller gave the held time plus the time for the answer to
	 * come: a request asked again keeps both. */
	if (held) {
		held_end = px_mono_ms() + req->timeout_ms;
		margin = ctl->timeout_ms > req->timeout_ms ?
			 ctl->timeout_ms - req->timeout_ms : 0;
	}

	*out = NULL;
	env.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	/* A write goes as one Operation (operation.c); a retry on another
	 * store keeps its request id, so the store applies it once. */
	req->local = ctl->local;
	env.ctl_request = px_ctl_operation(req, &w) ? &w.req : req;
	if (env.ctl_request == &w.req && ctl->request_id)
		w.op.request_id = (char *)ctl->request_id;
	if (env.ctl_request == &w.req) {
		w.op.confirm_s = ctl->confirm_s;
		w.op.canary = (char *)(ctl->canary ? ctl->canary : "");
		w.op.canary_s = ctl->canary_s;
	}
	/* The store drops a bigger request unread and never answers: say
	 * so now rather than after --timeout. */
	size = phalanx__envelope__get_packed_size(&env);
	if (size > (size_t)PX_CTL_MSG_MAX) {
		px_ctl_fail(ctl, "the request is %zu bytes, over the %lld bytes "
			    "a store takes in one request (a set holds at most "
			    "%d entries); nothing was sent", size,
			    (long long)PX_CTL_MSG_MAX, PX_SET_ENTRIES_MAX);
		return PX_ETOOBIG;
	}
	write = env.ctl_request == &w.req;
	for (hops = 0; hops < CTL_HOPS_MAX ||
	     (held && dropped && px_mono_ms() < held_end); hops++) {
		const Phalanx__CtlReply *r;
		int next;

		if (!ctl->sock && (rc = open_socket(ctl)) < 0)
			return rc;  /* printed: configuration, keys */
		asked++;
		rc = call_one(ctl, &env, why, sizeof(why), &in);
		if (rc == CTL_EDROPPED) {
			uint64_t now = px_mono_ms();
			const char *again, *outcome = write ? "outcome unknown" :
				"no answer";

			if (held ? now >= held_end : ctl->nbases == 1) {
				px_ctl_fail(ctl, "%s; %s%s", why, outcome,
					    held ? " (the wait ran out)" :
					    write ? ": it may have been applied, "
					    "and this was the only store given "
					    "(`phalanxctl history' on the store "
					    "says whether it was)" :
					    ", and this was the only store given");
				return rc;
			}
			if (held) {
				req->timeout_ms = (uint32_t)(held_end - now);
				ctl->timeout_ms = req->timeout_ms + margin;
			}
			tried_add(tried, sizeof(tried), ctl->base, why);
			socket_close(ctl);
			gone |= 1u << ctl->cur;
			if (ctl->nbases > 1)
				ctl->cur = (ctl->cur + 1) % ctl->nbases;
			again = ctl->nbases > 1 ? ctl->bases[ctl->cur] :
				"it again when it is back";
			px_ctl_fail(ctl, "%s; %s: asking %s%s", why, outcome,
				    again, write ? " with the same request id" :
				    "");
			dropped = true;
			silent = 0;
			continue;
		}
		if (rc < 0) {
			verbose(ctl, "%s", why);
			/* One store, nothing else to try: as before. */
			if (ctl->nbases == 1 || rc == -EINTR) {
				px_ctl_fail(rc == PX_ETIMEOUT ? NULL : ctl,
					    "%s", why);
				return rc;
			}
			tried_add(tried, sizeof(tried), ctl->base, why);
			socket_close(ctl);
			gone |= 1u << ctl->cur;
			ctl->cur = (ctl->cur + 1) % ctl->nbases;
			/* every store silent in a row: give up (a held
			 * request whose store dropped: when its time is up) */
			if (++silent >= ctl->nbases &&
			    !(held && dropped && px_mono_ms() < held_end))
				break;
			continue;
		}
		silent = 0;
		gone &= ~(1u << ctl->cur);
		r = in->ctl_reply;
		if (r->status != PX_ENOTLEADER && r->status != PX_ENOQUORUM) {
			*out = in;
			return 0;
		}
		tried_add(tried, sizeof(tried), ctl->base,
			  r->error && r->error[0] ? r->error :
			  px_strerror(r->status));
		if (ctl->nbases == 1 && !(r->leader_endpoint &&
					  r->leader_endpoint[0])) {
			*out = in;  /* one store given: its answer */
			return 0;
		}
		next = r->status == PX_ENOTLEADER && r->leader_endpoint &&
		       r->leader_endpoint[0] ?
		       store_index(ctl, r->leader_endpoint) : -1;
		if (next >= 0 && (gone >> next & 1u)) {
			gone &= ~(1u << next);
			next = -1;
		}
		if (next < 0 || (size_t)next == ctl->cur) {
			/* No leader known here: the next store, and after
			 * a round without one, a pause while they elect. */
			uint64_t now = px_mono_ms();

			if (!election_end)
				election_end = now + CTL_ELECTION_MS;
			if (now >= election_end) {
				/* the answer itself says why */
				tried_add(tried, sizeof(tried), "gave up",
					  "no leader within the election time");
				break;
			}
			next = (int)((ctl->cur + 1) % ctl->nbases);
			if (next == 0 || ctl->nbases == 1)
				sleep_ms(CTL_ELECTION_PAUSE_MS);
		}
		px_wire_free(in);
		in = NULL;
		socket_close(ctl);
		ctl->cur = (size_t)next;
	}
	if (in) {
		/* The last store's own refusal is the answer; the stores
		 * tried say the rest. */
		px_ctl_fail(ctl, "stores tried: %s", tried);
		*out = in;
		return 0;
	}
	px_ctl_fail(NULL, "no store answered (%zu asked): %s", asked, tried);
	return rc < 0 ? rc : PX_ETIMEOUT;
}

int px_ctl_stores(px_ctl_t *ctl)
{
	return ctl->nbases ? 0 : find_store(ctl);
}

int px_ctl_store_index(px_ctl_t *ctl, const char *ep)
{
	return store_index(ctl, ep);
}

int px_ctl_call_one(px_ctl_t *ctl, size_t i, Phalanx__CtlRequest *req,
		    Phalanx__Envelope **out, char *why, size_t whylen)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	size_t n = ctl->nbases;
	int rc;

	*out = NULL;
	socket_close(ctl);
	ctl->cur = i;
	if ((rc = open_socket(ctl)) < 0) {
		snprintf(why, whylen, "cannot open a socket to it");
		return rc;
	}
	env.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = req;
	/* Always the short handshake: one store of several. */
	if (ctl->nbases < 2)
		ctl->nbases = 2;
	rc = call_one(ctl, &env, why, whylen, out);
	ctl->nbases = n;
	socket_close(ctl);
	return rc;
}

const char *px_ctl_reply_error(const px_ctl_t *ctl,
			       const Phalanx__CtlReply *r)
{
	const char *e = r->error;
	size_t n = ctl->cmd ? strlen(ctl->cmd) : 0;

	if (!e || !e[0])
		return px_strerror(r->status);
	/* Our messages already start with the command. */
	if (n && strncmp(e, ctl->cmd, n) == 0 && (e[n] == ' ' || e[n] == ':')) {
		e += n + 1;
		while (*e == ' ')
			e++;
	}
	return e[0] ? e : px_strerror(r->status);
}

int px_ctl_request(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		   Phalanx__Envelope **out)
{
	if (px_ctl_call(ctl, req, out) < 0)
		return -1;
	if ((*out)->ctl_reply->status != 0) {
		px_ctl_fail(ctl, "%s", px_ctl_reply_error(ctl, (*out)->ctl_reply));
		px_wire_free(*out);
		*out = NULL;
		return -2;
	}
	return 0;
}

int px_ctl_read(px_ctl_t *ctl, int op, Phalanx__Envelope **out)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;

	req.op = op;
	req.set = "";
	return px_ctl_request(ctl, &req, out) < 0 ? -1 : 0;
}

int px_ctl_write(px_ctl_t *ctl, Phalanx__CtlRequest *req, const char *opt,
		 const char *set)
{
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	char q[PX_CTL_QUOTE_MAX];
	int rc = PX_EXIT_FAIL;

	if (px_ctl_call(ctl, req, &env) < 0)
		goto out;
	r = env->ctl_reply;
	if (r->status != 0) {
		const char *e = px_ctl_reply_error(ctl, r);

		/* "no such set" alone would not say which (the store's own
		 * texts name the set). */
		if (r->status == PX_ENOSET && opt && set && !r->error[0]) {
			px_ctl_quote(q, sizeof(q), set);
			px_ctl_fail(ctl, "%s: %s: `%s'", opt, e, q);
		} else {
			px_ctl_fail(ctl, "%s", e);
		}
		goto out;
	}
	rc = px_ctl_write_done(ctl, r->version);
out:
	px_wire_free(env);
	return rc;
}

int px_ctl_write_name(px_ctl_t *ctl, int op, const char *kind,
		      const char *name)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;

	if (px_ctl_check_name(ctl, NULL, kind, name) < 0)
		return PX_EXIT_FAIL;
	req.op = op;
	req.name = (char *)name;
	return px_ctl_write(ctl, &req, NULL, NULL);
}


static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* A signal that ends a follow ends its pause too. */
static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !interrupted)
		;
}

/* What --wait makes of a member: applied the version; up and not yet
 * (waited for); down (fails the wait unless --skip-down); deliberately
 * out of service (a drained member: neither waited for nor a failure). */
enum { M_APPLIED, M_PENDING, M_DOWN, M_OUT };

static int member_class(const Phalanx__MemberStatus *m, uint64_t version)
{
	if (m->out_of_service)
		return M_OUT;
	if (m->applied_version >= version)
		return M_APPLIED;
	return m->up ? M_PENDING : M_DOWN;
}

/* "fw2 (at 41), fw4 (at 0)" for the members of one class; malloc'd. */
static char *member_list(const Phalanx__CtlReply *r, uint64_t version,
			 int cls, int with_version)
{
	char *buf = NULL;
	size_t len = 0, i;
	int first = 1;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return px_ctl_asprintf("?");
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		if (member_class(m, version) != cls)
			continue;
		fprintf(f, "%s%s", first ? "" : ", ", str(m->member));
		if (with_version)
			fprintf(f, " (at %llu)",
				(unsigned long long)m->applied_version);
		if (with_version && m->applying_version)
			fprintf(f, " (applying %llu)",
				(unsigned long long)m->applying_version);
		first = 0;
	}
	fclose(f);
	return buf;
}

static void json_members(const Phalanx__CtlReply *r, uint64_t version,
			 int cls)
{
	size_t i;
	int first = 1;

	putchar('[');
	for (i = 0; i < r->n_members; i++) {
		const Phalanx__MemberStatus *m = r->members[i];

		if (member_class(m, version) != cls)
			continue;
		printf("%s{\"member\":", first ? "" : ",");
		px_json_str(stdout, m->member);
		printf(",\"applied_version\":%llu}",
		       (unsigned long long)m->applied_version);
		first = 0;
	}
	putchar(']');
}

static int member_cmp(const void *a, const void *b)
{
	const Phalanx__MemberStatus *x = *(Phalanx__MemberStatus *const *)a;
	const Phalanx__MemberStatus *y = *(Phalanx__MemberStatus *const *)b;

	return strcmp(str(x->member), str(y->member));
}

/* count[cls]: members of each class. */
static int wait_report(px_ctl_t *ctl, const Phalanx__CtlReply *r,
		       uint64_t version, const size_t *count)
{
	char *done = member_list(r, version, M_APPLIED, 0);
	char *late = member_list(r, version, M_PENDING, 1);
	char *down = member_list(r, version, M_DOWN, 1);
	char *out = member_list(r, version, M_OUT, 1);
	int ok = count[M_PENDING] == 0 &&
		 (count[M_DOWN] == 0 || ctl->skip_down), rc;

	px_ctl_progress_end();
	if (ctl->json) {
		printf("{\"version\":%llu,\"waited\":true,\"ok\":%s,\"applied\":",
		       (unsigned long long)version, ok ? "true" : "false");
		json_members(r, version, M_APPLIED);
		fputs(",\"pending\":", stdout);
		json_members(r, version, M_PENDING);
		fputs(",\"down\":", stdout);
		json_members(r, version, M_DOWN);
		fputs(",\"skipped\":", stdout);
		if (ctl->skip_down)
			json_members(r, version, M_DOWN);
		else
			fputs("[]", stdout);
		fputs(",\"out_of_service\":", stdout);
		json_members(r, version, M_OUT);
		fputs("}\n", stdout);
	}
	if (count[M_PENDING]) {
		rc = px_ctl_fail(ctl, "version %llu not applied within %llu s "
				 "by %s%s%s", (unsigned long long)version,
				 (unsigned long long)(ctl->wait_ms / 1000),
				 late, *down ? "; down: " : "", down);
	} else if (!ok) {
		rc = px_ctl_fail(ctl, "version %llu not applied by %s: down "
				 "(--skip-down accepts that)",
				 (unsigned long long)version, down);
	} else {
		rc = PX_EXIT_OK;
		if (ctl->json)
			;
		else if (count[M_APPLIED] == 0)
			printf("version %llu: no member in service applied it"
			       "%s%s%s%s\n", (unsigned long long)version,
			       *down ? "; skipped (down): " : "", down,
			       *out ? "; out of service: " : "", out);
		else
			printf("version %llu applied by %s%s%s%s%s\n",
			       (unsigned long long)version, done,
			       *down ? "; skipped (down): " : "", down,
			       *out ? "; out of service: " : "", out);
	}
	free(done);
	free(late);
	free(down);
	free(out);
	return rc;
}

/* Ask store i of ctl->bases to hold the WAIT req until deadline (the
 * answer may take margin more): 0 with *out, or a negative code with
 * why.  A store whose connection drops meanwhile (killed, restarted,
 * frozen) is asked again at once (*dropped set); one that does not
 * finish the handshake is asked again until back_until (0: not). */
static int wait_ask(px_ctl_t *ctl, size_t i, Phalanx__CtlRequest *req,
		    uint64_t deadline, uint64_t margin, uint64_t back_until,
		    Phalanx__Envelope **out, char *why, size_t whylen,
		    bool *dropped)
{
	int rc;

	for (;;) {
		uint64_t now = px_mono_ms();

		req->timeout_ms = (uint32_t)(deadline > now ? deadline - now : 0);
		ctl->timeout_ms = req->timeout_ms + margin;
		rc = px_ctl_call_one(ctl, i, req, out, why, whylen);
		now = px_mono_ms();
		if (now >= deadline)
			return rc;
		if (rc == CTL_EDROPPED) {
			px_ctl_fail(ctl, "%s while it held the wait: asking it "
				    "again", why);
			*dropped = true;
			continue;
		}
		/* Not back yet (a restart takes a few seconds). */
		if (rc == PX_ETIMEOUT && !ctl->handshaken && now < back_until)
			continue;
		return rc;
	}
}

/* --wait (issue 9: every member heartbeats and acknowledges to the
 * store it follows): each store is asked to wait in turn (one that
 * does not answer the handshake within a second is left out) and a
 * member counts as its best report: up over down, then the higher
 * version.  A store that drops the wait and is not back at once is
 * asked again after the others, for up to CTL_BACK_MS (the only store:
 * until the deadline).  A store that knows no member answers at once
 * (one that just started counts the members it knew as up for a
 * member timeout: store/sync.c). */
static int write_done_stores(px_ctl_t *ctl, Phalanx__CtlRequest *req,
			     uint64_t version, uint64_t deadline,
			     uint64_t margin, size_t *count)
{
	/* One answer per store and pass (merged points into them). */
	Phalanx__Envelope *env[3 * PX_CTL_STORES_MAX] = { NULL }, **e;
	Phalanx__MemberStatus **merged = NULL, **saved;
	Phalanx__CtlReply *first = NULL;
	char why[512], tried[2048] = "";
	uint64_t later[PX_CTL_STORES_MAX] = { 0 };
	size_t i, j, n = 0, cap = 0, nsaved, nb = ctl->nbases, pass;
	bool any_later = false;
	int rc;

	/* Pass 0 asks every store, pass 1 those that dropped the wait and
	 * were not back at once, pass 2 (after such a drop) the others
	 * again: the members that followed the store that went away have
	 * moved to another since pass 0 asked it. */
	for (pass = 0; pass < 3; pass++)
	for (i = 0; i < nb; i++) {
		Phalanx__CtlReply *r;
		uint64_t back = nb == 1 ? deadline : 0;
		bool dropped = false;

		if (pass == 1 && !later[i])
			continue;
		if (pass == 2 && (!any_later || later[i] || nb == 1))
			continue;
		if (pass == 1)
			back = later[i] < deadline ? later[i] : deadline;
		e = &env[pass * PX_CTL_STORES_MAX + i];
		if (wait_ask(ctl, i, req, deadline, margin, back, e,
			     why, sizeof(why), &dropped) < 0) {
			if (dropped && pass == 0) {
				later[i] = px_mono_ms() + CTL_BACK_MS;
				any_later = true;
			} else {
				tried_add(tried, sizeof(tried), ctl->bases[i], why);
			}
			continue;
		}
		r = (*e)->ctl_reply;
		if (r->status != 0) {
			tried_add(tried, sizeof(tried), ctl->bases[i],
				  px_ctl_reply_error(ctl, r));
			continue;
		}
		if (!first)
			first = r;
		for (j = 0; j < r->n_members; j++) {
			Phalanx__MemberStatus *m = r->members[j];
			size_t k;

			for (k = 0; k < n; k++)
				if (strcmp(merged[k]->member, m->member) == 0)
					break;
			if (k == n) {
				if (n == cap) {
					cap = cap ? cap * 2 : 16;
					merged = xrealloc(merged, cap * sizeof(*merged));
				}
				merged[n++] = m;
			} else if ((m->up && !merged[k]->up) ||
				   (m->up == merged[k]->up &&
				    m->applied_version > merged[k]->applied_version)) {
				merged[k] = m;
			}
		}
	}
	if (!first) {
		rc = px_ctl_fail(ctl, "version %llu was committed, but whether "
				 "members applied it is unknown: no store "
				 "answered the wait (%s)",
				 (unsigned long long)version, tried);
		goto out;
	}
	/* The answer is the others': say which did not give one. */
	if (tried[0])
		px_ctl_fail(ctl, "not in the answer: %s", tried);
	/* Members in name order (a store's are in order of arrival). */
	if (n)
		qsort(merged, n, sizeof(*merged), member_cmp);
	saved = first->members;
	nsaved = first->n_members;
	first->members = merged;
	first->n_members = n;
	for (i = 0; i < n; i++)
		count[member_class(merged[i], version)]++;
	rc = wait_report(ctl, first, version, count);
	first->members = saved;
	first->n_members = nsaved;
out:
	free(merged);
	for (i = 0; i < 3 * PX_CTL_STORES_MAX; i++)
		px_wire_free(env[i]);
	return rc;
}

/* --canary: the store's verdict on version, held by the store until
 * it is in (store/ctl.c CANARY_WAIT): released, or reverted and why.
 * PX_EXIT_OK or PX_EXIT_FAIL, printed. */
static int canary_verdict(px_ctl_t *ctl, uint64_t version)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	uint32_t s = ctl->canary_s ? ctl->canary_s : 10;
	uint64_t timeout = ctl->timeout_ms;
	int rc = PX_EXIT_FAIL;

	if (!ctl->json)
		printf("version %llu: on canary %s, waiting for its verdict "
		       "(healthy for %u s)\n", (unsigned long long)version,
		       ctl->canary, s);
	fflush(stdout);
	req.op = PHALANX__CTL_REQUEST__OP__CANARY_WAIT;
	req.set = "";
	req.version = version;
	/* The store reverts a canary with no verdict after s + 30 s: the
	 * wait covers that and a failover's few seconds. */
	req.timeout_ms = (s + 40) * 1000;
	ctl->timeout_ms = req.timeout_ms + timeout;
	if (px_ctl_call(ctl, &req, &env) < 0)
		goto out;
	r = env->ctl_reply;
	if (r->status == 0) {
		if (ctl->json)
			printf("{\"version\":%llu,\"canary\":\"%s\","
			       "\"released\":true}\n",
			       (unsigned long long)version, ctl->canary);
		else
			printf("version %llu: %s: released to every member\n",
			       (unsigned long long)version, r->error);
		rc = PX_EXIT_OK;
	} else if (r->status == PX_ECANARY) {
		if (ctl->json)
			printf("{\"version\":%llu,\"canary\":\"%s\","
			       "\"released\":false,\"reverted_as\":%llu}\n",
			       (unsigned long long)version, ctl->canary,
			       (unsigned long long)r->version);
		px_ctl_fail(ctl, "version %llu: canary %s failed: %s",
			    (unsigned long long)version, ctl->canary,
			    r->error);
	} else {
		px_ctl_fail(ctl, "version %llu: canary %s: no verdict: %s",
			    (unsigned long long)version, ctl->canary,
			    px_ctl_reply_error(ctl, r));
	}
out:
	ctl->timeout_ms = timeout;
	px_wire_free(env);
	return rc;
}

int px_ctl_write_done(px_ctl_t *ctl, uint64_t version)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	uint64_t timeout = ctl->timeout_ms;
	size_t count[M_OUT + 1] = { 0 };
	int rc;

	if (ctl->canary && (rc = canary_verdict(ctl, version)) != PX_EXIT_OK)
		return rc;
	if (ctl->canary && !ctl->wait)
		return PX_EXIT_OK;

	/* With --confirm: say what to run, before any wait (stderr under
	 * --json, which keeps its one object). */
	if (ctl->confirm_s)
		fprintf(ctl->json ? stderr : stdout, "version %llu is reverted "
			"in %u s unless confirmed: phalanxctl confirm %llu\n",
			(unsigned long long)version, ctl->confirm_s,
			(unsigned long long)version);
	if (!ctl->wait) {
		if (ctl->json)
			printf("{\"version\":%llu,\"waited\":false,"
			       "\"applied\":[]}\n", (unsigned long long)version);
		else
			printf("version %llu\n", (unsigned long long)version);
		return PX_EXIT_OK;
	}
	/* One request per store: the store answers it when every member
	 * in service has the version (their acks), when the only ones
	 * without it are down, or after wait_ms with how far they got
	 * (store/waiters.c).  The answer may take wait_ms, then the usual
	 * time to come.  Members that are down do not hold the wait up: a
	 * member busy applying heartbeats ("applying version N"), so down
	 * means gone, and the report names it. */
	req.op = PHALANX__CTL_REQUEST__OP__WAIT;
	req.set = "";
	req.version = version;
	req.skip_down = ctl->skip_down;
	px_ctl_progress("waiting for members to apply version %llu",
			(unsigned long long)version);
	/* wait_ms is at most a day: ctl/main.c */
	rc = write_done_stores(ctl, &req, version, px_mono_ms() + ctl->wait_ms,
			       timeout, count);
	ctl->timeout_ms = timeout;
	return rc;
}

/* One request of a follow, bounded by the follow's deadline (0: none);
 * the store holds it up to wait_ms for a record to come.  A failure
 * closes the connection so that a late answer is never taken for the
 * next.  0, -1 (try again) or -2 (refused: stop). */
static int follow_call(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		       uint64_t deadline, Phalanx__Envelope **env)
{
	uint64_t now = px_mono_ms(), left, wait = FOLLOW_WAIT_MS;
	int rc;

	left = deadline ? (deadline > now ? deadline - now : 0) :
		FOLLOW_WAIT_MS + FOLLOW_CALL_MS;
	if (left == 0)
		return -1;
	/* Near the deadline, half of what is left, for the answer to come
	 * in the other half. */
	if (wait > left / 2)
		wait = left / 2;
	/* The first request asks where the store is: it is not held. */
	req->wait_ms = req->after_seq == UINT64_MAX ? 0 : (uint32_t)wait;
	ctl->timeout_ms = left < req->wait_ms + FOLLOW_CALL_MS ? left :
		req->wait_ms + FOLLOW_CALL_MS;
	rc = px_ctl_request(ctl, req, env);
	if (rc == -1)
		px_ctl_close(ctl);
	return rc;
}

int px_ctl_follow(px_ctl_t *ctl, Phalanx__CtlRequest *req, uint64_t want,
		  const px_ctl_follow_t *f)
{
	Phalanx__Envelope *env = NULL;
	uint64_t deadline = 0, seen = 0;
	bool started = false;
	int rc;

	if (ctl->timeout_given)
		deadline = px_mono_ms() + ctl->timeout_ms;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	req->after_seq = UINT64_MAX; /* first, where the store is */
	while (!interrupted && (!deadline || px_mono_ms() < deadline)) {
		const Phalanx__CtlReply *r;
		bool more;

		uint64_t asked = px_mono_ms(), after = req->after_seq;

		rc = follow_call(ctl, req, deadline, &env);
		if (rc == -2)
			return PX_EXIT_FAIL;
		if (rc < 0) {
			sleep_ms(FOLLOW_RETRY_MS);
			continue;
		}
		r = env->ctl_reply;
		if (!started || (f->restarts && f->head(r) < req->after_seq)) {
			started = true;
			req->after_seq = f->head(r);
			px_wire_free(env);
			continue;
		}
		more = f->page(ctl, req, r, want, &seen);
		fflush(stdout);
		px_wire_free(env);
		env = NULL;
		if (want && seen >= want)
			break;
		/* Nothing new, and at once: a store that does not hold
		 * requests (or holds too many already). */
		if (!more && req->after_seq == after &&
		    px_mono_ms() - asked < req->wait_ms / 2)
			sleep_ms(FOLLOW_POLL_MS);
	}
	return PX_EXIT_OK;
}
