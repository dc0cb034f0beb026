/* pxgen.c - the lab traffic generator: command table, option table,
 * parsing and usage.  One file per subcommand does the traffic
 * (connect.c, hold.c, http.c, udp.c, synflood.c); util.c has what they
 * share.  Build and examples: tests/gen/README.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

#define B(id) (1ULL << (id))
#define COMMON (B(GEN_O_DST) | B(GEN_O_PORT) | B(GEN_O_TIMEOUT) | \
		B(GEN_O_HELP))

enum kind { K_FLAG, K_ULONG, K_ADDR, K_ADDRS, K_STR };

static const struct option {
	const char *name;
	const char *metavar;
	enum kind kind;
	size_t off;              /* into gen_opts_t */
	unsigned long min, max;  /* K_ULONG */
	const char *help;
} options[GEN_NOPTS] = {
#define O(f) offsetof(gen_opts_t, f)
	[GEN_O_DST] = { "dst", "ADDR", K_ADDR, O(dst), 0, 0,
		"destination (IPv4 or IPv6); nothing is sent\nelsewhere" },
	[GEN_O_PORT] = { "port", "N", K_ULONG, O(port), 1, 65535,
		"destination port" },
	[GEN_O_SRC] = { "src", "A[,B...]", K_ADDRS, O(src), 0, 0,
		"source addresses, used round-robin (bound before\n"
		"connect); default: the kernel's choice" },
	[GEN_O_COUNT] = { "count", "N", K_ULONG, O(count), 1, 100000000,
		"how many connections (packets for synflood)" },
	[GEN_O_RATE] = { "rate", "PER_SEC", K_ULONG, O(rate), 1, 10000000,
		"start at most this many per second (default:\n"
		"as fast as possible)" },
	[GEN_O_HOLD_MS] = { "hold-ms", "MS", K_ULONG, O(hold_ms), 0, 86400000,
		"keep each connection (socket) open this long" },
	[GEN_O_CONNECT_TIMEOUT_MS] = { "connect-timeout-ms", "MS", K_ULONG,
		O(connect_timeout_ms), 1, 600000,
		"a handshake not done by then is a timeout\n"
		"(default 1000; hold: 3000, so that a SYN lost\n"
		"to a full accept queue is sent again at 1 s)" },
	[GEN_O_REPLY_TIMEOUT_MS] = { "reply-timeout-ms", "MS", K_ULONG,
		O(reply_timeout_ms), 1, 600000,
		"wait this long for an answer (default 1000)" },
	[GEN_O_PARALLEL] = { "parallel", "N", K_ULONG, O(parallel), 1, 1000000,
		"at most N attempts open at once (default: the\n"
		"descriptor limit)" },
	[GEN_O_FIRST_FAILURE] = { "first-failure", NULL, K_FLAG,
		O(first_failure), 0, 0,
		"also print first_failure_at=K (-1: none failed)" },
	[GEN_O_PER_SOURCE] = { "per-source", NULL, K_FLAG, O(per_source), 0, 0,
		"also print src.ADDR.KEY=N for every source" },
	[GEN_O_SECONDS] = { "seconds", "S", K_ULONG, O(seconds), 0, 86400,
		"hold the connections this long" },
	[GEN_O_CHECK_EVERY_MS] = { "check-every-ms", "MS", K_ULONG,
		O(check_every_ms), 10, 3600000,
		"check every connection this often (default 500)" },
	[GEN_O_CHECK] = { "check", "echo|http|none", K_STR, O(check), 0, 0,
		"how to check a connection: one byte echoed, an\n"
		"HTTP request, or only watch for RST/FIN\n"
		"(default: http for port 80, else echo)" },
	[GEN_O_UNTIL_FILE] = { "until-file", "PATH", K_STR, O(until_file), 0, 0,
		"hold until PATH exists (or --seconds, --timeout)" },
	[GEN_O_READY_FILE] = { "ready-file", "PATH", K_STR, O(ready_file), 0, 0,
		"create PATH (key=value counts) when the\n"
		"attempts are done" },
	[GEN_O_REQUESTS] = { "requests", "N", K_ULONG, O(requests), 1,
		100000000, "how many HTTP requests" },
	[GEN_O_CONNS] = { "conns", "C", K_ULONG, O(conns), 1, 1000000,
		"spread them over C keep-alive connections\n(default 1)" },
	[GEN_O_PATH] = { "path", "PATH", K_STR, O(path), 0, 0,
		"request path (default /)" },
	[GEN_O_SESSIONS] = { "sessions", "N", K_ULONG, O(sessions), 1, 1000000,
		"how many UDP sockets (source ports)" },
	[GEN_O_PROBE_AFTER_MS] = { "probe-after-ms", "MS", K_ULONG,
		O(probe_after_ms), 0, 86400000,
		"send again on every session this long after\n"
		"the first round (default 0: no probe)" },
	[GEN_O_SPOOF] = { "spoof", "A[,B...]", K_ADDRS, O(spoof), 0, 0,
		"source addresses written into the SYNs" },
	[GEN_O_TIMEOUT] = { "timeout", "SECONDS", K_ULONG, O(timeout_s), 1,
		86400, "hard limit of the whole run (default 30)" },
	[GEN_O_HELP] = { "help", NULL, K_FLAG, O(help), 0, 0, "this help" },
#undef O
};

static const struct command {
	const char *name;
	int (*fn)(const gen_opts_t *o);
	const char *usage;
	const char *summary;
	const char *help;
	uint64_t allowed;
	uint64_t required;
	unsigned long default_port;  /* 0: --port required */
	unsigned long connect_timeout_ms;
	const char *keys;
} commands[] = {
	{ "connect", gen_cmd_connect,
	  "--dst ADDR --port N --count N [--rate PER_SEC] [--src A,B] [--hold-ms MS]",
	  "N TCP handshakes, each closed with a FIN",
	  "Opens N TCP connections (full handshake), keeps each --hold-ms,\n"
	  "then closes it with a FIN.  A connection is refused when a RST or\n"
	  "an ICMP unreachable answers the SYN, a timeout when nothing has\n"
	  "answered within --connect-timeout-ms, an error when the local\n"
	  "stack failed (e.g. EADDRNOTAVAIL: no free port).\n",
	  COMMON | B(GEN_O_SRC) | B(GEN_O_COUNT) | B(GEN_O_RATE) |
	  B(GEN_O_HOLD_MS) | B(GEN_O_CONNECT_TIMEOUT_MS) | B(GEN_O_PARALLEL) |
	  B(GEN_O_FIRST_FAILURE) | B(GEN_O_PER_SOURCE),
	  B(GEN_O_DST) | B(GEN_O_PORT) | B(GEN_O_COUNT), 0, 1000,
	  "attempted established refused timeout error eaddrnotavail\n"
	  "closed_early (peer closed or reset during --hold-ms)\n"
	  "unfinished (still connecting at --timeout)\n"
	  "first_failure_at (--first-failure) errno.NAME" },
	{ "hold", gen_cmd_hold,
	  "--dst ADDR --port N --count N (--seconds S | --until-file PATH) [--src A,B]",
	  "N concurrent TCP connections kept open and checked",
	  "Opens N TCP connections at once (or at --rate), then holds them,\n"
	  "checking every --check-every-ms that each still answers (port 443:\n"
	  "one byte echoed; port 80: an HTTP request).  Holding ends after\n"
	  "--seconds, when --until-file exists, or --reply-timeout-ms before\n"
	  "--timeout; then a last check decides which are alive.  A check is\n"
	  "missed when its answer takes longer than --reply-timeout-ms.\n"
	  "--ready-file is written once every attempt has finished.\n",
	  COMMON | B(GEN_O_SRC) | B(GEN_O_COUNT) | B(GEN_O_RATE) |
	  B(GEN_O_CONNECT_TIMEOUT_MS) | B(GEN_O_REPLY_TIMEOUT_MS) |
	  B(GEN_O_SECONDS) | B(GEN_O_CHECK_EVERY_MS) | B(GEN_O_CHECK) |
	  B(GEN_O_UNTIL_FILE) | B(GEN_O_READY_FILE) | B(GEN_O_PER_SOURCE),
	  B(GEN_O_DST) | B(GEN_O_PORT) | B(GEN_O_COUNT), 0, 3000,
	  "attempted established refused timeout error eaddrnotavail\n"
	  "alive_at_end died (= died_reset + died_closed + died_silent)\n"
	  "missed_checks conns_missed unfinished checks held_ms\n"
	  "until_file_seen errno.NAME" },
	{ "http", gen_cmd_http,
	  "--dst ADDR [--port 80] --requests N [--conns C] [--rate PER_SEC] [--src A,B]",
	  "N HTTP/1.1 requests over C keep-alive connections",
	  "Sends N GET requests over C keep-alive connections (request, whole\n"
	  "response by Content-Length, next request).  A connection that dies\n"
	  "is opened again for the next request; the request it carried counts\n"
	  "as failed.  Connection i uses source i modulo the --src list.\n",
	  COMMON | B(GEN_O_SRC) | B(GEN_O_REQUESTS) | B(GEN_O_CONNS) |
	  B(GEN_O_RATE) | B(GEN_O_PATH) | B(GEN_O_CONNECT_TIMEOUT_MS) |
	  B(GEN_O_REPLY_TIMEOUT_MS) | B(GEN_O_PER_SOURCE),
	  B(GEN_O_DST) | B(GEN_O_REQUESTS), 80, 1000,
	  "requests ok (200) failed (= non200 + no answer) non200\n"
	  "conns_opened conns_failed reconnects reset closed\n"
	  "response_timeout unfinished errno.NAME" },
	{ "udp", gen_cmd_udp,
	  "--dst ADDR [--port 7] --sessions N [--probe-after-ms MS] [--src A,B]",
	  "N UDP sessions (one source port each), optionally probed again",
	  "Opens N UDP sockets, each on its own source port (one conntrack\n"
	  "entry each); each sends one datagram and waits --reply-timeout-ms\n"
	  "for the echo.  With --probe-after-ms, that long after the last\n"
	  "session finished, every session sends again, in the original order\n"
	  "(and --rate), and the sessions that get no echo are listed.  Then\n"
	  "--ready-file is written and the sockets stay open --hold-ms.\n",
	  COMMON | B(GEN_O_SRC) | B(GEN_O_SESSIONS) | B(GEN_O_RATE) |
	  B(GEN_O_PROBE_AFTER_MS) | B(GEN_O_HOLD_MS) |
	  B(GEN_O_REPLY_TIMEOUT_MS) | B(GEN_O_READY_FILE) |
	  B(GEN_O_PER_SOURCE),
	  B(GEN_O_DST) | B(GEN_O_SESSIONS), 7, 0,
	  "sessions answered refused error unanswered_indices\n"
	  "probe_answered probe_lost probe_lost_indices (with a probe)\n"
	  "unfinished errno.NAME" },
	{ "synflood", gen_cmd_synflood,
	  "--dst ADDR --port N --count N --spoof A[,B] [--rate PER_SEC]",
	  "N bare TCP SYNs from spoofed addresses (raw socket)",
	  "Sends N TCP SYNs to --dst from the --spoof addresses (round-robin),\n"
	  "random source ports and sequence numbers, correct checksums, through\n"
	  "a raw socket (needs CAP_NET_RAW).  IPv4 and IPv6.\n",
	  COMMON | B(GEN_O_COUNT) | B(GEN_O_SPOOF) | B(GEN_O_RATE),
	  B(GEN_O_DST) | B(GEN_O_PORT) | B(GEN_O_COUNT) | B(GEN_O_SPOOF), 0, 0,
	  "sent errors errno.NAME" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void print_option(FILE *f, int i)
{
	const char *h = options[i].help, *nl;
	char left[64];

	if (options[i].metavar)
		snprintf(left, sizeof(left), "--%s %s", options[i].name,
			 options[i].metavar);
	else if (i == GEN_O_HELP)
		snprintf(left, sizeof(left), "-h, --help");
	else
		snprintf(left, sizeof(left), "--%s", options[i].name);
	/* continuation lines of the help are indented under the first */
	if (strlen(left) > 26)
		fprintf(f, "  %s\n%30s", left, "");
	else
		fprintf(f, "  %-26s  ", left);
	while ((nl = strchr(h, '\n'))) {
		fprintf(f, "%.*s\n%30s", (int)(nl - h), h, "");
		h = nl + 1;
	}
	fprintf(f, "%s\n", h);
}

static void usage_all(FILE *f)
{
	size_t i;

	fprintf(f, "usage: pxgen COMMAND [OPTIONS]\n\n"
		"Lab traffic generator: bounded experiments against one\n"
		"destination, results as key=value lines on stdout.\n\n"
		"Commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n`pxgen COMMAND --help' for its options.  Every command stops by\n"
		"itself (--timeout, default 30 s; SIGINT/SIGTERM end it early and it\n"
		"still reports).  Exit status: 0 when it ran (refusals and timeouts\n"
		"are results), 1 on internal errors, 2 on usage errors.\n");
}

static void usage_cmd(FILE *f, const struct command *c)
{
	int i;

	fprintf(f, "usage: pxgen %s %s\n\n%s\nOptions:\n", c->name, c->usage,
		c->help);
	for (i = 0; i < GEN_NOPTS; i++)
		if (c->allowed & B(i))
			print_option(f, i);
	fprintf(f, "\nPrints (key=value, one a line):\n  ");
	for (const char *k = c->keys; *k; k++) {
		fputc(*k, f);
		if (*k == '\n')
			fputs("  ", f);
	}
	fprintf(f, "\n  elapsed_ms timed_out interrupted\n");
}

static int set_option(gen_opts_t *o, const struct command *c, int id,
		      const char *val)
{
	const struct option *opt = &options[id];
	char *field = (char *)o + opt->off;

	switch (opt->kind) {
	case K_FLAG:
		*(int *)field = 1;
		return 0;
	case K_ULONG:
		return gen_parse_ulong(c->name, opt->name, val, opt->min,
				       opt->max, (unsigned long *)field);
	case K_ADDR:
		return gen_parse_addr(c->name, opt->name, val,
				      (gen_addr_t *)field);
	case K_ADDRS:
		return gen_parse_addrs(c->name, opt->name, val,
				       (gen_addrs_t *)field);
	case K_STR:
		if (*val == '\0') {
			fprintf(stderr, "pxgen %s: --%s: empty value\n",
				c->name, opt->name);
			return -EINVAL;
		}
		*(const char **)field = val;
		return 0;
	}
	return -EINVAL;
}

static int parse(gen_opts_t *o, const struct command *c, int argc,
		 char **argv)
{
	int i, id;

	for (i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		size_t len;

		if (strcmp(a, "-h") == 0)
			a = "--help";
		if (strncmp(a, "--", 2) != 0) {
			fprintf(stderr, "pxgen %s: unexpected argument `%s'\n",
				c->name, a);
			return -EINVAL;
		}
		a += 2;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		for (id = 0; id < GEN_NOPTS; id++)
			if (strlen(options[id].name) == len &&
			    strncmp(options[id].name, a, len) == 0)
				break;
		if (id == GEN_NOPTS) {
			fprintf(stderr, "pxgen %s: unknown option `%s'\n",
				c->name, argv[i]);
			return -EINVAL;
		}
		if (!(c->allowed & B(id))) {
			fprintf(stderr, "pxgen %s: --%s does not apply to %s\n",
				c->name, options[id].name, c->name);
			return -EINVAL;
		}
		if (o->given & B(id)) {
			fprintf(stderr, "pxgen %s: --%s given twice\n", c->name,
				options[id].name);
			return -EINVAL;
		}
		o->given |= B(id);
		if (options[id].kind == K_FLAG) {
			if (eq) {
				fprintf(stderr, "pxgen %s: --%s takes no value\n",
					c->name, options[id].name);
				return -EINVAL;
			}
		} else if (eq) {
			val = eq + 1;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, "pxgen %s: --%s needs a value (%s)\n",
				c->name, options[id].name, options[id].metavar);
			return -EINVAL;
		}
		if (set_option(o, c, id, val) < 0)
			return -EINVAL;
		if (id == GEN_O_HELP)
			return 0;
	}
	return 0;
}

/* Cross-option checks common to every command. */
static int check(gen_opts_t *o, const struct command *c)
{
	const gen_addrs_t *lists[] = { &o->src, &o->spoof };
	const char *names[] = { "src", "spoof" };
	size_t l, i;
	int id;

	for (id = 0; id < GEN_NOPTS; id++)
		if ((c->required & B(id)) && !(o->given & B(id))) {
			fprintf(stderr, "pxgen %s: --%s is required\n", c->name,
				options[id].name);
			return -EINVAL;
		}
	if (!(o->given & B(GEN_O_PORT)))
		o->port = c->default_port;
	gen_addr_set_port(&o->dst, (unsigned)o->port);
	for (l = 0; l < 2; l++)
		for (i = 0; i < lists[l]->n; i++)
			if (lists[l]->a[i].family != o->dst.family) {
				fprintf(stderr, "pxgen %s: --%s %s: not the family "
					"of --dst %s\n", c->name, names[l],
					lists[l]->a[i].text, o->dst.text);
				return -EINVAL;
			}
	return 0;
}

int main(int argc, char **argv)
{
	/* static: two address lists are ~80 KiB */
	static gen_opts_t o;
	const struct command *c = NULL;
	size_t i;

	if (argc < 2) {
		usage_all(stderr);
		return GEN_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage_all(stdout);
		return GEN_EXIT_OK;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			c = &commands[i];
	if (!c) {
		fprintf(stderr, "pxgen: unknown command `%s' (try `pxgen --help')\n",
			argv[1]);
		return GEN_EXIT_USAGE;
	}
	/* --help wins over everything else on the line */
	for (int a = 2; a < argc; a++)
		if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
			usage_cmd(stdout, c);
			return GEN_EXIT_OK;
		}
	o.cmd = c->name;
	o.timeout_s = 30;
	o.connect_timeout_ms = c->connect_timeout_ms;
	o.reply_timeout_ms = 1000;
	o.check_every_ms = 500;
	o.conns = 1;
	o.path = "/";
	if (parse(&o, c, argc - 2, argv + 2) < 0) {
		fprintf(stderr, "try `pxgen %s --help'\n", c->name);
		return GEN_EXIT_USAGE;
	}
	if (o.help) {
		usage_cmd(stdout, c);
		return GEN_EXIT_OK;
	}
	if (check(&o, c) < 0) {
		fprintf(stderr, "try `pxgen %s --help'\n", c->name);
		return GEN_EXIT_USAGE;
	}
	gen_raise_nofile(&o.fd_budget);
	gen_signals_init();
	/* stdout may be a pipe: one block at the end, not line by line */
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	return c->fn(&o);
}
