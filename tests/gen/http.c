/* http.c - pxgen http: N HTTP/1.1 GET requests over C keep-alive
 * connections, one request at a time on each (no pipelining); and the
 * streaming response parser hold --check http uses too. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gen.h"

/* ---------------------------------------------------------------- parser */

enum { RX_STATUS, RX_HEADERS, RX_BODY };

void gen_http_rx_reset(gen_http_rx_t *rx)
{
	memset(rx, 0, sizeof(*rx));
	rx->state = RX_STATUS;
	rx->clen = -1;
}

static int header_is(const char *line, size_t namelen, const char *name)
{
	return strlen(name) == namelen && strncasecmp(line, name, namelen) == 0;
}

/* One line, CR LF stripped.  Returns 1 at the end of the header. */
static int rx_line(gen_http_rx_t *rx)
{
	char *line = rx->line, *colon, *v, *end;
	unsigned long long n;

	if (rx->state == RX_STATUS) {
		/* "HTTP/1.1 200 OK" (the reason phrase is optional) */
		if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
		    line[7] > '9' || line[8] != ' ')
			return -EPROTO;
		v = line + 9;
		if (v[0] < '1' || v[0] > '5' || v[1] < '0' || v[1] > '9' ||
		    v[2] < '0' || v[2] > '9' || (v[3] != ' ' && v[3] != '\0'))
			return -EPROTO;
		rx->status = (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
		rx->close = 0;
		rx->chunked = 0;
		rx->clen = -1;
		rx->state = RX_HEADERS;
		return 0;
	}
	if (rx->llen == 0) {
		if (rx->chunked || rx->clen < 0)
			return -EPROTO;
		rx->body_left = (unsigned long long)rx->clen;
		rx->state = RX_BODY;
		return 1;
	}
	colon = strchr(line, ':');
	if (!colon)
		return -EPROTO;
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if (header_is(line, (size_t)(colon - line), "content-length")) {
		if (*v < '0' || *v > '9')
			return -EPROTO;
		errno = 0;
		n = strtoull(v, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		/* 1 TiB: far above anything the lab server sends */
		if (*end != '\0' || errno == ERANGE || n > (1ULL << 40))
			return -EPROTO;
		rx->clen = (long long)n;
	} else if (header_is(line, (size_t)(colon - line), "connection")) {
		if (strcasestr(v, "close"))
			rx->close = 1;
	} else if (header_is(line, (size_t)(colon - line),
			     "transfer-encoding")) {
		if (strcasestr(v, "chunked"))
			rx->chunked = 1;
	}
	return 0;
}

int gen_http_rx_feed(gen_http_rx_t *rx, const char *buf, size_t n,
		     size_t *used)
{
	size_t i = 0, take;
	int rc;

	while (i < n) {
		if (rx->state == RX_BODY) {
			take = n - i;
			if (take > rx->body_left)
				take = (size_t)rx->body_left;
			i += take;
			rx->body_left -= take;
			if (rx->body_left == 0)
				goto done;
			continue;
		}
		if (buf[i] != '\n') {
			/* a longer line keeps its start: see GEN_HTTP_LINE */
			if (rx->llen < GEN_HTTP_LINE - 1)
				rx->line[rx->llen++] = buf[i];
			i++;
			continue;
		}
		i++;
		if (rx->llen && rx->line[rx->llen - 1] == '\r')
			rx->llen--;
		rx->line[rx->llen] = '\0';
		rc = rx_line(rx);
		rx->llen = 0;
		if (rc < 0) {
			*used = i;
			return rc;
		}
		if (rc == 1 && rx->body_left == 0)
			goto done;
	}
	*used = i;
	return 0;
done:
	*used = i;
	rx->state = RX_STATUS;
	rx->llen = 0;
	return 1;
}

int gen_http_request(const gen_opts_t *o, const char *path, char *buf,
		     size_t size)
{
	char host[INET6_ADDRSTRLEN + 16];
	int n;

	if (o->dst.family == AF_INET6)
		snprintf(host, sizeof(host), "[%s]", o->dst.text);
	else
		snprintf(host, sizeof(host), "%s", o->dst.text);
	if (o->port != 80)
		snprintf(host + strlen(host), sizeof(host) - strlen(host),
			 ":%lu", o->port);
	n = snprintf(buf, size, "GET %s HTTP/1.1\r\nHost: %s\r\n"
		     "User-Agent: pxgen\r\n\r\n", path, host);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

/* ---------------------------------------------------------------- http */

enum {
	C_REQUESTS, C_OK, C_FAILED, C_NON200, C_CONNS_OPENED,
	C_CONNS_FAILED, C_RECONNECTS, C_RESET, C_CLOSED, C_RESPONSE_TIMEOUT,
	C_UNFINISHED, NCOUNTS
};
static const char *const names[NCOUNTS] = {
	"requests", "ok", "failed", "non200", "conns_opened", "conns_failed",
	"reconnects", "reset", "closed", "response_timeout", "unfinished",
};

/* DOWN: no connection; CONNECTING and BUSY carry a request; IDLE: open,
 * waiting for the next one. */
enum { S_DOWN, S_CONNECTING, S_IDLE, S_BUSY };

typedef struct {
	gen_timer_t timer; /* first member: a timer is its connection */
	int fd;
	int state;
	int queued;        /* in the ready queue */
	int opened_before;
	size_t row;
	size_t sent;       /* bytes of the request written */
	gen_http_rx_t rx;
} conn_t;

typedef struct {
	const gen_opts_t *o;
	int ep;
	conn_t *conns;
	size_t nconns;
	size_t *ready;     /* ring of DOWN/IDLE connections, oldest first */
	size_t rhead, rlen;
	size_t busy;       /* CONNECTING + BUSY */
	gen_timers_t timers;
	gen_counts_t counts;
	gen_errs_t errs;
	char req[1200];
	size_t reqlen;
} run_t;

static void enqueue(run_t *r, conn_t *c)
{
	if (c->queued)
		return;
	c->queued = 1;
	r->ready[(r->rhead + r->rlen++) % r->nconns] = (size_t)(c - r->conns);
}

static conn_t *dequeue(run_t *r)
{
	conn_t *c;

	if (r->rlen == 0)
		return NULL;
	c = &r->conns[r->ready[r->rhead]];
	r->rhead = (r->rhead + 1) % r->nconns;
	r->rlen--;
	c->queued = 0;
	return c;
}

static void note(run_t *r, conn_t *c, int err, const char *what)
{
	if (gen_errs_note(&r->errs, err) && gen_connect_outcome(err) == GEN_ERROR)
		gen_err(r->o, "connection %zu: %s: %s", (size_t)(c - r->conns),
			what, strerror(err < 0 ? -err : err));
}

/* Drops the connection; a request it carried failed. */
static void down(run_t *r, conn_t *c)
{
	if (c->state == S_CONNECTING || c->state == S_BUSY) {
		gen_count(&r->counts, c->row, C_FAILED);
		r->busy--;
	}
	gen_timer_stop(&c->timer);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = S_DOWN;
	enqueue(r, c);
}

static int watch(run_t *r, conn_t *c, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	ev.data.u64 = (uint64_t)(c - r->conns);
	if (epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	return 0;
}

static void send_request(run_t *r, conn_t *c)
{
	ssize_t n;

	while (c->sent < r->reqlen) {
		n = send(c->fd, r->req + c->sent, r->reqlen - c->sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			(void)watch(r, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
			return;
		}
		if (errno == ECONNRESET || errno == EPIPE)
			gen_count(&r->counts, c->row, C_RESET);
		note(r, c, -errno, "send");
		down(r, c);
		return;
	}
	(void)watch(r, c, EPOLLIN | EPOLLRDHUP);
}

/* Puts request number next on connection c (DOWN or IDLE). */
static int assign(run_t *r, conn_t *c, int64_t now)
{
	struct epoll_event ev = { .events = EPOLLOUT };
	int rc, connected;

	gen_count(&r->counts, c->row, C_REQUESTS);
	r->busy++;
	c->sent = 0;
	gen_http_rx_reset(&c->rx);
	if (c->state == S_IDLE) {
		c->state = S_BUSY;
		gen_timer_start(&r->timers, &c->timer,
				now + (int64_t)r->o->reply_timeout_ms * 1000);
		send_request(r, c);
		return 0;
	}
	c->state = S_CONNECTING;
	rc = gen_tcp_start(gen_src(r->o, (unsigned long)(c - r->conns), &c->row),
			   &r->o->dst, &c->fd, &connected);
	if (rc < 0) {
		gen_count(&r->counts, c->row, C_CONNS_FAILED);
		note(r, c, rc, "connect");
		down(r, c);
		return 0;
	}
	ev.data.u64 = (uint64_t)(c - r->conns);
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		rc = -errno;
		gen_err(r->o, "epoll_ctl: %s", strerror(-rc));
		return rc;
	}
	gen_timer_start(&r->timers, &c->timer,
			now + (int64_t)r->o->connect_timeout_ms * 1000);
	if (connected) {
		c->state = S_BUSY;
		gen_count(&r->counts, c->row, C_CONNS_OPENED);
		if (c->opened_before)
			gen_count(&r->counts, c->row, C_RECONNECTS);
		c->opened_before = 1;
		gen_timer_start(&r->timers, &c->timer,
				now + (int64_t)r->o->reply_timeout_ms * 1000);
		send_request(r, c);
	}
	return 0;
}

static void response_done(run_t *r, conn_t *c)
{
	gen_timer_stop(&c->timer);
	r->busy--;
	if (c->rx.status == 200) {
		gen_count(&r->counts, c->row, C_OK);
	} else {
		gen_count(&r->counts, c->row, C_NON200);
		gen_count(&r->counts, c->row, C_FAILED);
	}
	c->state = S_IDLE;
	if (c->rx.close) {
		/* the server ends the connection: close ours, a later
		 * request opens a new one */
		gen_close_fin(c->fd);
		c->fd = -1;
		c->state = S_DOWN;
	}
	enqueue(r, c);
}

static void on_readable(run_t *r, conn_t *c)
{
	char buf[16384];
	size_t off, used;
	ssize_t n;
	int rc;

	while (c->state == S_BUSY || c->state == S_IDLE) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			if (n == 0 && c->state == S_BUSY)
				gen_count(&r->counts, c->row, C_CLOSED);
			else if (n < 0 && errno == ECONNRESET)
				gen_count(&r->counts, c->row, C_RESET);
			if (n < 0)
				note(r, c, -errno, "recv");
			down(r, c); /* EOF on an idle connection: the server's
				     * idle timeout, not a failure */
			return;
		}
		if (c->state != S_BUSY) {
			note(r, c, -EPROTO, "data nobody asked for");
			down(r, c);
			return;
		}
		for (off = 0; off < (size_t)n;) {
			rc = gen_http_rx_feed(&c->rx, buf + off, (size_t)n - off,
					      &used);
			off += used;
			if (rc < 0) {
				note(r, c, rc, "bad response");
				down(r, c);
				return;
			}
			if (rc == 0)
				break;
			response_done(r, c);
			if (off < (size_t)n) {
				/* one request at a time: more is garbage */
				note(r, c, -EPROTO, "data after the response");
				down(r, c);
				return;
			}
			break;
		}
	}
}

static void on_event(run_t *r, conn_t *c, uint32_t events, int64_t now)
{
	int rc;

	if (c->state == S_CONNECTING) {
		rc = gen_sock_error(c->fd);
		if (rc == 0 && !(events & EPOLLOUT))
			rc = -ECONNRESET;
		if (rc < 0) {
			gen_count(&r->counts, c->row, C_CONNS_FAILED);
			note(r, c, rc, "connect");
			down(r, c);
			return;
		}
		c->state = S_BUSY;
		gen_count(&r->counts, c->row, C_CONNS_OPENED);
		if (c->opened_before)
			gen_count(&r->counts, c->row, C_RECONNECTS);
		c->opened_before = 1;
		gen_timer_start(&r->timers, &c->timer,
				now + (int64_t)r->o->reply_timeout_ms * 1000);
		send_request(r, c);
		return;
	}
	if ((events & EPOLLOUT) && c->state == S_BUSY && c->sent < r->reqlen) {
		send_request(r, c);
		if (c->state != S_BUSY)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		on_readable(r, c);
}

static void on_timer(run_t *r, conn_t *c)
{
	if (c->state == S_CONNECTING) {
		gen_count(&r->counts, c->row, C_CONNS_FAILED);
		note(r, c, -ETIMEDOUT, "connect");
	} else {
		gen_count(&r->counts, c->row, C_RESPONSE_TIMEOUT);
	}
	down(r, c);
}

static int check_path(const gen_opts_t *o)
{
	const char *p;

	if (o->path[0] != '/' || strlen(o->path) > 1024) {
		gen_err(o, "--path: not an absolute path of at most 1024 "
			"characters: `%s'", o->path);
		return -EINVAL;
	}
	for (p = o->path; *p; p++)
		if (*p <= ' ' || *p == 0x7f) {
			gen_err(o, "--path: blanks and control characters "
				"must be %%-encoded: `%s'", o->path);
			return -EINVAL;
		}
	return 0;
}

int gen_cmd_http(const gen_opts_t *o)
{
	struct epoll_event ev[GEN_EVENTS];
	run_t r;
	gen_timer_t *t;
	conn_t *c;
	int64_t start_us, deadline, now, due;
	unsigned long next = 0;
	size_t i;
	int n, k, rc = GEN_EXIT_FAIL, timed_out = 0, len;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.ep = -1;
	if (check_path(o) < 0)
		return GEN_EXIT_USAGE;
	if (o->conns > o->requests) {
		gen_err(o, "--conns %lu: more connections than --requests %lu",
			o->conns, o->requests);
		return GEN_EXIT_USAGE;
	}
	if (o->conns > o->fd_budget) {
		gen_err(o, "--conns %lu: more than the %zu descriptors available "
			"(RLIMIT_NOFILE)", o->conns, o->fd_budget);
		return GEN_EXIT_USAGE;
	}
	if (gen_check_sources(o) < 0)
		return GEN_EXIT_USAGE;
	len = gen_http_request(o, o->path, r.req, sizeof(r.req));
	if (len < 0) {
		gen_err(o, "--path: too long: `%s'", o->path);
		return GEN_EXIT_USAGE;
	}
	r.reqlen = (size_t)len;
	r.nconns = o->conns;
	gen_timers_init(&r.timers);
	r.conns = calloc(r.nconns, sizeof(*r.conns));
	r.ready = calloc(r.nconns, sizeof(*r.ready));
	if (!r.conns || !r.ready ||
	    gen_counts_init(&r.counts, names, NCOUNTS, o->src.n) < 0) {
		gen_err(o, "out of memory");
		goto out;
	}
	for (i = 0; i < r.nconns; i++) {
		r.conns[i].fd = -1;
		(void)gen_src(o, i, &r.conns[i].row);
		enqueue(&r, &r.conns[i]);
	}
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0) {
		gen_err(o, "epoll_create1: %s", strerror(errno));
		goto out;
	}

	start_us = gen_now_us();
	deadline = start_us + (int64_t)o->timeout_s * 1000000;
	while (!gen_stopping) {
		now = gen_now_us();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		while ((t = gen_timers_first(&r.timers)) && t->due <= now)
			on_timer(&r, (conn_t *)t);
		while (next < o->requests &&
		       gen_pace_due(start_us, next, o->rate) <= now &&
		       (c = dequeue(&r))) {
			next++;
			if (assign(&r, c, now) < 0)
				goto out;
		}
		if (next == o->requests && r.busy == 0)
			break;
		due = gen_timers_due(&r.timers, deadline);
		/* a due request waits for a free connection, not the clock */
		if (next < o->requests && r.rlen > 0) {
			int64_t p = gen_pace_due(start_us, next, o->rate);

			if (p < due)
				due = p;
		}
		n = gen_wait(r.ep, ev, GEN_EVENTS, due);
		if (n < 0) {
			gen_err(o, "epoll_wait: %s", strerror(-n));
			goto out;
		}
		now = gen_now_us();
		for (k = 0; k < n; k++) {
			c = &r.conns[ev[k].data.u64];
			/* an earlier event of this batch may have closed it */
			if (c->fd >= 0)
				on_event(&r, c, ev[k].events, now);
		}
	}

	for (i = 0; i < r.nconns; i++) {
		c = &r.conns[i];
		if (c->state == S_CONNECTING || c->state == S_BUSY) {
			gen_count(&r.counts, c->row, C_UNFINISHED);
			down(&r, c);
		} else if (c->state == S_IDLE) {
			gen_close_fin(c->fd);
			c->fd = -1;
			c->state = S_DOWN;
		}
	}
	printf("mode=http\n");
	gen_counts_print(&r.counts, o, 0);
	gen_errs_print(&r.errs);
	gen_print_end(start_us, timed_out);
	rc = GEN_EXIT_OK;
out:
	for (i = 0; r.conns && i < r.nconns; i++)
		if (r.conns[i].fd >= 0)
			close(r.conns[i].fd);
	if (r.ep >= 0)
		close(r.ep);
	gen_counts_free(&r.counts);
	free(r.conns);
	free(r.ready);
	return rc;
}
