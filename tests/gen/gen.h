/* gen.h - pxgen, the lab traffic generator: what its subcommands share.
 *
 * Every subcommand runs one experiment against --dst, bounded in count and
 * in time, with non-blocking sockets and one epoll set, then prints
 * key=value lines on stdout.  Helpers return 0 or a negative errno; the
 * subcommand entry points (gen_cmd_*) return the exit status. */
#ifndef PX_GEN_H
#define PX_GEN_H

#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum { GEN_EXIT_OK = 0, GEN_EXIT_FAIL = 1, GEN_EXIT_USAGE = 2 };

/* The lab gives each client 20 addresses; 256 leaves room for other labs. */
#define GEN_MAX_ADDRS 256
/* epoll_wait batch: any size works, this keeps one wake's work short. */
#define GEN_EVENTS 256
/* No deadline. */
#define GEN_NEVER INT64_MAX

typedef struct {
	int family;
	socklen_t len;
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} u;
	char text[INET6_ADDRSTRLEN];
} gen_addr_t;

typedef struct {
	gen_addr_t a[GEN_MAX_ADDRS];
	size_t n;
} gen_addrs_t;

/* Option ids: index of the option table in pxgen.c and bit of
 * gen_opts_t.given. */
enum gen_opt {
	GEN_O_DST, GEN_O_PORT, GEN_O_SRC, GEN_O_COUNT, GEN_O_RATE,
	GEN_O_HOLD_MS, GEN_O_CONNECT_TIMEOUT_MS, GEN_O_REPLY_TIMEOUT_MS,
	GEN_O_PARALLEL, GEN_O_FIRST_FAILURE, GEN_O_PER_SOURCE, GEN_O_SECONDS,
	GEN_O_CHECK_EVERY_MS, GEN_O_CHECK, GEN_O_UNTIL_FILE, GEN_O_READY_FILE,
	GEN_O_REQUESTS, GEN_O_CONNS, GEN_O_PATH, GEN_O_SESSIONS,
	GEN_O_PROBE_AFTER_MS, GEN_O_SPOOF, GEN_O_TIMEOUT, GEN_O_HELP,
	GEN_NOPTS
};

/* The parsed command line; numbers are already range checked, addresses
 * of one family, --dst carries --port. */
typedef struct {
	const char *cmd;
	gen_addr_t dst;
	gen_addrs_t src, spoof;
	unsigned long port, count, rate, hold_ms, connect_timeout_ms;
	unsigned long reply_timeout_ms, parallel, seconds, check_every_ms;
	unsigned long requests, conns, sessions, probe_after_ms, timeout_s;
	int first_failure, per_source, help;
	const char *check, *until_file, *ready_file, *path;
	uint64_t given;    /* bit (1 << enum gen_opt) per option given */
	size_t fd_budget;  /* descriptors the run may use for sockets */
} gen_opts_t;

#define GEN_GIVEN(o, id) ((((o)->given) >> (id)) & 1)

/* Subcommands: return GEN_EXIT_OK when the experiment ran (whatever the
 * network answered), GEN_EXIT_USAGE for option combinations they reject,
 * GEN_EXIT_FAIL for internal errors. */
int gen_cmd_connect(const gen_opts_t *o);
int gen_cmd_hold(const gen_opts_t *o);
int gen_cmd_http(const gen_opts_t *o);
int gen_cmd_udp(const gen_opts_t *o);
int gen_cmd_synflood(const gen_opts_t *o);

/* ---- util.c: time, parsing, signals, files */

/* CLOCK_MONOTONIC in microseconds. */
int64_t gen_now_us(void);

/* When item i of a run paced at rate per second is due (rate 0: at once). */
int64_t gen_pace_due(int64_t start_us, unsigned long i, unsigned long rate);

/* Prints "pxgen CMD: message" on stderr. */
void gen_err(const gen_opts_t *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Decimal unsigned number in [min, max]; prints an error naming --opt and
 * the value and returns -EINVAL or -ERANGE. */
int gen_parse_ulong(const char *cmd, const char *opt, const char *s,
		    unsigned long min, unsigned long max, unsigned long *out);

/* One IPv4 or IPv6 address (inet_pton), port 0; -EINVAL with an error. */
int gen_parse_addr(const char *cmd, const char *opt, const char *s,
		   gen_addr_t *out);

/* A comma separated list of addresses appended to *list; -EINVAL. */
int gen_parse_addrs(const char *cmd, const char *opt, const char *s,
		    gen_addrs_t *list);

void gen_addr_set_port(gen_addr_t *a, unsigned port);

/* Raises RLIMIT_NOFILE to its hard limit; *budget gets the number of
 * descriptors left for sockets.  Never fails: keeps the old limit. */
void gen_raise_nofile(size_t *budget);

/* SIGINT/SIGTERM set gen_stopping (loops end and report); SIGPIPE ignored. */
extern volatile sig_atomic_t gen_stopping;
void gen_signals_init(void);

/* Writes content to path atomically (temporary file, then rename). */
int gen_write_file(const char *path, const char *content);
int gen_file_exists(const char *path);

/* epoll_wait until events or `due' (monotonic us, GEN_NEVER: no limit).
 * Returns the number of events, 0 on timeout or signal, or -errno. */
int gen_wait(int ep, struct epoll_event *ev, int max, int64_t due);

/* Prints key=a-b,c,... for the indices i < n with bad[i] set. */
void gen_print_ranges(const char *key, const unsigned char *bad, size_t n);

/* ---- util.c: timer lists
 * A list of deadlines sorted by due time.  Inserting scans from the tail,
 * so the usual case (deadlines added in time order) is O(1).  A zeroed
 * gen_timer_t is not in any list. */
typedef struct gen_timer {
	struct gen_timer *prev, *next;
	int64_t due;
} gen_timer_t;

typedef struct {
	gen_timer_t head;
} gen_timers_t;

void gen_timers_init(gen_timers_t *l);
void gen_timer_start(gen_timers_t *l, gen_timer_t *t, int64_t due);
void gen_timer_stop(gen_timer_t *t);
/* The earliest timer, or NULL. */
gen_timer_t *gen_timers_first(gen_timers_t *l);
/* min(due, earliest timer's due). */
int64_t gen_timers_due(gen_timers_t *l, int64_t due);

/* ---- util.c: counters and errno histograms
 * A table of named counters with one row of totals and one row per source
 * address (one row "any" without --src).  gen_counts_print() prints the
 * totals as name=N and, with --per-source, src.ADDR.name=N. */
typedef struct {
	const char *const *names;
	size_t n, rows;
	unsigned long *v;  /* (rows + 1) * n: totals first */
} gen_counts_t;

int gen_counts_init(gen_counts_t *c, const char *const *names, size_t n,
		    size_t rows);
void gen_count(gen_counts_t *c, size_t row, size_t k);
unsigned long gen_count_total(const gen_counts_t *c, size_t k);
/* skip: bit k set leaves counter k out. */
void gen_counts_print(const gen_counts_t *c, const gen_opts_t *o,
		      uint64_t skip);
void gen_counts_free(gen_counts_t *c);

/* How many times each errno was seen; printed as errno.ENAME=N. */
typedef struct {
	struct {
		int err;
		unsigned long n;
	} e[32];
	size_t n;
	unsigned long other;
} gen_errs_t;

/* Counts err; returns 1 the first time this errno is seen (so the caller
 * can explain it once on stderr), else 0. */
int gen_errs_note(gen_errs_t *e, int err);
void gen_errs_print(const gen_errs_t *e);

/* Prints elapsed_ms, timed_out and interrupted. */
void gen_print_end(int64_t start_us, int timed_out);

/* ---- util.c: sockets */

/* The source for attempt i (round-robin over --src) or NULL, and its
 * counter row. */
const gen_addr_t *gen_src(const gen_opts_t *o, unsigned long i, size_t *row);

/* Starts a non-blocking TCP connect from src (NULL: the kernel picks) to
 * dst.  On 0, *fd is the caller's and *connected says whether it is
 * already established; else -errno and nothing is left open. */
int gen_tcp_start(const gen_addr_t *src, const gen_addr_t *dst, int *fd,
		  int *connected);

/* The pending error of a socket (SO_ERROR) as -errno, or 0. */
int gen_sock_error(int fd);

/* How an asynchronous connect error counts: RST and ICMP unreachables
 * are answers (refused), ETIMEDOUT a timeout, the rest errors. */
enum { GEN_REFUSED, GEN_TIMEOUT, GEN_ERROR };
int gen_connect_outcome(int err);

/* Reads and discards what is readable.  Returns 0 (would block), 1 (the
 * peer closed) or -errno. */
int gen_drain(int fd);

/* Closes an open TCP connection with a FIN (not a RST): unread data is
 * drained first because close() with unread data resets. */
void gen_close_fin(int fd);

/* Checks that every source can be bound here; prints an error naming the
 * address otherwise and returns -EADDRNOTAVAIL (or -errno). */
int gen_check_sources(const gen_opts_t *o);

/* ---- http.c: the HTTP/1.1 response parser hold also uses.
 * Streaming, line by line: only the status line and the Content-Length,
 * Connection and Transfer-Encoding headers matter, so a line is kept up
 * to GEN_HTTP_LINE bytes and the rest of a longer one is skipped.  The
 * size keeps 20000 parsers (hold --check http) near 5 MiB. */
#define GEN_HTTP_LINE 256

typedef struct {
	char line[GEN_HTTP_LINE];
	size_t llen;
	int state;                   /* status line, headers, body */
	long long clen;              /* -1: no Content-Length yet */
	int chunked;
	unsigned long long body_left;
	int status;  /* of the response being read / just completed */
	int close;   /* it said Connection: close */
} gen_http_rx_t;

void gen_http_rx_reset(gen_http_rx_t *rx);
/* Consumes bytes of buf[0..n) up to the end of one response (*used).
 * Returns 1 when a response completed (status, close set), 0 when all n
 * were consumed without completing one, -EPROTO on a malformed or
 * unsupported response (no Content-Length, chunked). */
int gen_http_rx_feed(gen_http_rx_t *rx, const char *buf, size_t n,
		     size_t *used);
/* "GET path HTTP/1.1" with Host for dst into buf; its length or -ENOSPC. */
int gen_http_request(const gen_opts_t *o, const char *path, char *buf,
		     size_t size);

#endif
