/* util.c - pxgen: time, argument parsing, signals, files, timer lists,
 * counters and the socket calls every subcommand makes. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gen.h"

volatile sig_atomic_t gen_stopping;

int64_t gen_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t gen_pace_due(int64_t start_us, unsigned long i, unsigned long rate)
{
	if (rate == 0)
		return start_us;
	/* i < 1e8 and rate >= 1: the product fits in 64 bits */
	return start_us + (int64_t)((unsigned long long)i * 1000000ULL / rate);
}

void gen_err(const gen_opts_t *o, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pxgen %s: ", o && o->cmd ? o->cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int gen_parse_ulong(const char *cmd, const char *opt, const char *s,
		    unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v;
	char *end;

	/* strtoul accepts leading blanks and a minus sign: refuse both */
	if (*s < '0' || *s > '9') {
		fprintf(stderr, "pxgen %s: --%s: not a number: `%s'\n", cmd,
			opt, s);
		return -EINVAL;
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0') {
		fprintf(stderr, "pxgen %s: --%s: not a number: `%s'\n", cmd,
			opt, s);
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		fprintf(stderr, "pxgen %s: --%s: `%s' is out of range %lu..%lu\n",
			cmd, opt, s, min, max);
		return -ERANGE;
	}
	*out = v;
	return 0;
}

int gen_parse_addr(const char *cmd, const char *opt, const char *s,
		   gen_addr_t *out)
{
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, s, &out->u.v4.sin_addr) == 1) {
		out->family = AF_INET;
		out->u.v4.sin_family = AF_INET;
		out->len = sizeof(out->u.v4);
	} else if (inet_pton(AF_INET6, s, &out->u.v6.sin6_addr) == 1) {
		out->family = AF_INET6;
		out->u.v6.sin6_family = AF_INET6;
		out->len = sizeof(out->u.v6);
	} else {
		fprintf(stderr, "pxgen %s: --%s: not an IPv4 or IPv6 address: `%s'\n",
			cmd, opt, s);
		return -EINVAL;
	}
	/* the canonical spelling, as the server and conntrack print it */
	inet_ntop(out->family, out->family == AF_INET ?
		  (const void *)&out->u.v4.sin_addr :
		  (const void *)&out->u.v6.sin6_addr, out->text,
		  sizeof(out->text));
	return 0;
}

int gen_parse_addrs(const char *cmd, const char *opt, const char *s,
		    gen_addrs_t *list)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *p = s, *comma;
	size_t len;

	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == 0 || len >= sizeof(buf)) {
			fprintf(stderr, "pxgen %s: --%s: not an address list: `%s'\n",
				cmd, opt, s);
			return -EINVAL;
		}
		if (list->n == GEN_MAX_ADDRS) {
			fprintf(stderr, "pxgen %s: --%s: more than %d addresses\n",
				cmd, opt, GEN_MAX_ADDRS);
			return -EINVAL;
		}
		memcpy(buf, p, len);
		buf[len] = '\0';
		if (gen_parse_addr(cmd, opt, buf, &list->a[list->n]) < 0)
			return -EINVAL;
		list->n++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

void gen_addr_set_port(gen_addr_t *a, unsigned port)
{
	if (a->family == AF_INET)
		a->u.v4.sin_port = htons(port);
	else
		a->u.v6.sin6_port = htons(port);
}

void gen_raise_nofile(size_t *budget)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*budget = 1000;
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	/* stdio, the epoll set, a file or two: 16 spare is plenty */
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1000000)
		*budget = 1000000;
	else
		*budget = rl.rlim_cur > 32 ? (size_t)rl.rlim_cur - 16 : 16;
}

static void on_stop(int sig)
{
	(void)sig;
	gen_stopping = 1;
}

void gen_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: epoll_wait returns EINTR and the loop sees the flag */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int gen_write_file(const char *path, const char *content)
{
	char tmp[PATH_MAX];
	size_t len = strlen(content);
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
			     (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, content, len) != (ssize_t)len)
		rc = errno ? -errno : -EIO;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int gen_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int gen_wait(int ep, struct epoll_event *ev, int max, int64_t due)
{
	int64_t now = gen_now_us(), ms;
	int n;

	if (due == GEN_NEVER)
		ms = -1;
	else if (due <= now)
		ms = 0;
	else
		ms = (due - now + 999) / 1000; /* round up: never wake early and spin */
	if (ms > INT_MAX)
		ms = INT_MAX;
	n = epoll_wait(ep, ev, max, (int)ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n;
}

void gen_print_ranges(const char *key, const unsigned char *bad, size_t n)
{
	size_t i = 0, j;
	int first = 1;

	printf("%s=", key);
	while (i < n) {
		if (!bad[i]) {
			i++;
			continue;
		}
		for (j = i; j + 1 < n && bad[j + 1]; j++)
			;
		if (j == i)
			printf("%s%zu", first ? "" : ",", i);
		else
			printf("%s%zu-%zu", first ? "" : ",", i, j);
		first = 0;
		i = j + 1;
	}
	putchar('\n');
}

/* ---------------------------------------------------------------- timers */

void gen_timers_init(gen_timers_t *l)
{
	l->head.prev = l->head.next = &l->head;
	l->head.due = INT64_MIN;
}

void gen_timer_stop(gen_timer_t *t)
{
	if (!t->next)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

void gen_timer_start(gen_timers_t *l, gen_timer_t *t, int64_t due)
{
	gen_timer_t *p;

	gen_timer_stop(t);
	t->due = due;
	/* the head's due is INT64_MIN, so the scan stops there */
	for (p = l->head.prev; p->due > due; p = p->prev)
		;
	t->prev = p;
	t->next = p->next;
	p->next->prev = t;
	p->next = t;
}

gen_timer_t *gen_timers_first(gen_timers_t *l)
{
	return l->head.next == &l->head ? NULL : l->head.next;
}

int64_t gen_timers_due(gen_timers_t *l, int64_t due)
{
	gen_timer_t *t = gen_timers_first(l);

	return t && t->due < due ? t->due : due;
}

/* ---------------------------------------------------------------- counters */

int gen_counts_init(gen_counts_t *c, const char *const *names, size_t n,
		    size_t rows)
{
	c->names = names;
	c->n = n;
	c->rows = rows ? rows : 1;
	c->v = calloc((c->rows + 1) * n, sizeof(*c->v));
	return c->v ? 0 : -ENOMEM;
}

void gen_count(gen_counts_t *c, size_t row, size_t k)
{
	c->v[k]++;
	c->v[(row + 1) * c->n + k]++;
}

unsigned long gen_count_total(const gen_counts_t *c, size_t k)
{
	return c->v[k];
}

void gen_counts_print(const gen_counts_t *c, const gen_opts_t *o,
		      uint64_t skip)
{
	size_t r, k;

	for (k = 0; k < c->n; k++)
		if (!(skip >> k & 1))
			printf("%s=%lu\n", c->names[k], c->v[k]);
	if (!o->per_source)
		return;
	for (r = 0; r < c->rows; r++)
		for (k = 0; k < c->n; k++)
			if (!(skip >> k & 1))
				printf("src.%s.%s=%lu\n",
				       o->src.n ? o->src.a[r].text : "any",
				       c->names[k], c->v[(r + 1) * c->n + k]);
}

void gen_counts_free(gen_counts_t *c)
{
	free(c->v);
	c->v = NULL;
}

int gen_errs_note(gen_errs_t *e, int err)
{
	size_t i;

	if (err < 0)
		err = -err;
	for (i = 0; i < e->n; i++)
		if (e->e[i].err == err) {
			e->e[i].n++;
			return 0;
		}
	if (e->n == sizeof(e->e) / sizeof(e->e[0])) {
		e->other++;
		return 0;
	}
	e->e[e->n].err = err;
	e->e[e->n].n = 1;
	e->n++;
	return 1;
}

void gen_errs_print(const gen_errs_t *e)
{
	const char *name;
	size_t i;

	for (i = 0; i < e->n; i++) {
		name = strerrorname_np(e->e[i].err);
		if (name)
			printf("errno.%s=%lu\n", name, e->e[i].n);
		else
			printf("errno.E%d=%lu\n", e->e[i].err, e->e[i].n);
	}
	if (e->other)
		printf("errno.other=%lu\n", e->other);
}

void gen_print_end(int64_t start_us, int timed_out)
{
	printf("elapsed_ms=%lld\n", (long long)((gen_now_us() - start_us) / 1000));
	printf("timed_out=%d\n", timed_out ? 1 : 0);
	printf("interrupted=%d\n", gen_stopping ? 1 : 0);
}

/* ---------------------------------------------------------------- sockets */

const gen_addr_t *gen_src(const gen_opts_t *o, unsigned long i, size_t *row)
{
	if (o->src.n == 0) {
		*row = 0;
		return NULL;
	}
	*row = i % o->src.n;
	return &o->src.a[*row];
}

int gen_tcp_start(const gen_addr_t *src, const gen_addr_t *dst, int *fdp,
		  int *connected)
{
	int fd, one = 1, rc;

	fd = socket(dst->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (src) {
		/* pick the port at connect(), not at bind(): a port then only
		 * has to be free towards this destination, so one source
		 * address carries as many connections as the port range */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
				 sizeof(one));
		if (bind(fd, &src->u.sa, src->len) < 0) {
			rc = -errno;
			goto fail;
		}
	}
	if (connect(fd, &dst->u.sa, dst->len) == 0) {
		*connected = 1;
	} else if (errno == EINPROGRESS) {
		*connected = 0;
	} else {
		rc = -errno;
		goto fail;
	}
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return rc;
}

int gen_sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

int gen_connect_outcome(int err)
{
	switch (err < 0 ? -err : err) {
	case ECONNREFUSED: /* RST, or ICMP port/protocol unreachable */
	case ECONNRESET:
	case EHOSTUNREACH: /* ICMP host unreachable, admin prohibited */
	case ENETUNREACH:
		return GEN_REFUSED;
	case ETIMEDOUT:
		return GEN_TIMEOUT;
	default:
		return GEN_ERROR;
	}
}

int gen_drain(int fd)
{
	char buf[16384];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0)
			continue;
		if (n == 0)
			return 1;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			continue;
		return -errno;
	}
}

void gen_close_fin(int fd)
{
	if (fd < 0)
		return;
	(void)gen_drain(fd);
	close(fd);
}

int gen_check_sources(const gen_opts_t *o)
{
	size_t i;
	int fd, rc, one = 1;

	for (i = 0; i < o->src.n; i++) {
		const gen_addr_t *a = &o->src.a[i];

		fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			gen_err(o, "socket: %s", strerror(-rc));
			return rc;
		}
		/* the address alone: with every port in use (TIME_WAIT after a
		 * big run) the address is still fine, attempts report it */
		(void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
				 sizeof(one));
		if (bind(fd, &a->u.sa, a->len) < 0) {
			rc = -errno;
			close(fd);
			if (rc == -EADDRNOTAVAIL)
				gen_err(o, "--src %s: not an address of this host "
					"(network namespace): %s", a->text,
					strerror(-rc));
			else
				gen_err(o, "--src %s: cannot bind: %s", a->text,
					strerror(-rc));
			return rc;
		}
		close(fd);
	}
	return 0;
}
