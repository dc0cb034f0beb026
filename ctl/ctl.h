/* ctl.h - phalanxctl: the command table, the options every command sees,
 * and the messages shared by the subcommand files.
 *
 * Subcommands return an exit status (PX_EXIT_*), not an errno: they are
 * the outermost layer and have printed whatever went wrong. */
#ifndef PX_CTL_H
#define PX_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "phalanx.pb-c.h"

enum { PX_EXIT_OK = 0, PX_EXIT_FAIL = 1, PX_EXIT_USAGE = 2 };

/* Options a command may accept besides the global ones. */
enum {
	PX_OPT_WAIT = 1 << 0, /* --wait[=SECONDS]: every write */
	PX_OPT_MODE = 1 << 1, /* --mode enforce|observe */
	PX_OPT_SET = 1 << 2,  /* --set EXCEPTION_SET */
	PX_OPT_ACTION = 1 << 3,     /* --action allow|deny */
	PX_OPT_PROTO = 1 << 4,      /* --proto tcp|udp|icmp|any */
	PX_OPT_SRC_SET = 1 << 5,    /* --src-set SET */
	PX_OPT_DST = 1 << 6,        /* --dst ADDR|PREFIX */
	PX_OPT_PORT = 1 << 7,       /* --port N */
	PX_OPT_RATE = 1 << 8,       /* --rate N/minute|N/second|N */
	PX_OPT_BEFORE = 1 << 9,     /* --before RULE */
	PX_OPT_LIMIT = 1 << 10,     /* --limit N */
	PX_OPT_EXEMPT_SET = 1 << 11, /* --exempt-set SET */
	/* alerts (cmd_alerts.c) */
	PX_OPT_MEMBER = 1 << 12,    /* --member M */
	PX_OPT_TYPE = 1 << 13,      /* --type T */
	PX_OPT_ACTIVE = 1 << 14,    /* --active */
	PX_OPT_SINCE = 1 << 15,     /* --since TIME */
	PX_OPT_ALL = 1 << 16,       /* --all */
	PX_OPT_COUNT = 1 << 17,     /* --count N */
	PX_OPT_ENABLE = 1 << 18,    /* --enable, --disable */
	PX_OPT_RESET = 1 << 19,     /* --reset auto|manual */
	/* the firewall log (cmd_log.c, cmd_top.c) */
	PX_OPT_FOLLOW = 1 << 20,    /* --follow */
	PX_OPT_BY = 1 << 21,        /* --by denied|connections|rate */
	PX_OPT_ROLE = 1 << 22,      /* --role viewer|operator|admin */
	PX_OPT_OUT = 1 << 23,       /* --out FILE */
	PX_OPT_INTRA_ARRAY = 1 << 24, /* --intra-array, --dhcp-interface
				       * (networks add) */
	PX_OPT_IDS = 1 << 25,  /* --threshold, --window, --block (ids set) */
};

#define PX_CTL_TIMEOUT_S 10 /* default --timeout */
#define PX_CTL_WAIT_S 30    /* default --wait */
#define PX_CTL_ENDPOINT_MAX 300
#define PX_CTL_STORES_MAX 8  /* 5 stores, and room for leader hints */

typedef struct {
	const char *cmd;      /* "exceptions add", prefixes every message */
	const char *store;    /* --store, or NULL */
	const char *config;   /* --config, or NULL */
	const char *key;      /* --key: our secret key file, or NULL */
	const char *store_key; /* --store-key: the store's public key file */
	const char *role, *out; /* --role, --out, or NULL */
	bool json;
	bool local;         /* --local: reads not redirected to the leader */
	uint64_t timeout_ms;
	bool wait;
	bool skip_down;       /* --skip-down: down members do not fail --wait */
	uint64_t wait_ms;
	const char *mode;     /* --mode, or NULL */
	const char *set;      /* --set, or NULL */
	/* rules add, services add: each NULL when not given. */
	const char *action, *proto, *src_set, *dst, *port, *rate, *before;
	const char *limit, *exempt_set;
	const char *inspect, *allow_xfr; /* services add --inspect, ... */
	/* alerts: each NULL / false when not given. */
	const char *member, *type, *since, *count, *reset;
	bool active, all, enable, disable;
	bool timeout_given;   /* --timeout was given (alerts watch: total) */
	/* log tail, top */
	bool follow;
	const char *by;       /* --by, or NULL */
	bool intra_array;     /* networks add --intra-array */
	const char *dhcp_interface; /* networks add --dhcp-interface, or NULL */
	const char *threshold, *window, *block; /* ids set, NULL if not given */
	const char *request_id; /* --request-id, or NULL: a random one */
	uint32_t confirm_s;   /* --confirm SECONDS: 0 if not given */
	const char *canary;   /* --canary MEMBER, or NULL */
	uint32_t canary_s;    /* --canary-for SECONDS: 0 if not given */
	bool verbose;         /* --verbose: each store asked, on stderr */

	/* Connection, opened by the first request (client.c). */
	char base[PX_CTL_ENDPOINT_MAX];  /* store base, as shown to people */
	char ep[PX_CTL_ENDPOINT_MAX];    /* its ctl endpoint */
	void *zctx, *sock;
	void *monitor;   /* PAIR: the socket's handshake failures */
	/* --store's comma-separated list (issue 9: every store of the
	 * array); base is the one the socket is open to (client.c). */
	char bases[PX_CTL_STORES_MAX][PX_CTL_ENDPOINT_MAX];
	size_t nlisted;   /* bases from --store (hints come after them) */
	size_t nkeys, key_try, key_cur; /* client.c: the pinned store keys */
	size_t nbases, cur;
	bool handshaken;  /* the open socket finished its handshake */
	unsigned monitors; /* monitors made: each has its own inproc name */
} px_ctl_t;

typedef int (*px_ctl_cmd_fn)(px_ctl_t *ctl, int argc, char **argv);

typedef struct {
	const char *name;     /* one or two words: "status", "limits set" */
	const char *args;     /* synopsis of the arguments: "SET FILE|-" */
	const char *help;     /* one line for the command list */
	const char *details;  /* the rest of `COMMAND --help' */
	px_ctl_cmd_fn fn;
	unsigned opts;        /* PX_OPT_* it accepts */
	unsigned required;    /* those of opts it must be given */
	int min_args, max_args; /* max -1: unlimited */
} px_ctl_cmd_t;

/* The subcommands (cmd_*.c).  argv holds only the arguments after the
 * command words, options removed; their count is already checked. */
int px_cmd_status(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_exceptions_list(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_exceptions_add(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_exceptions_del(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_exceptions_import(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_exceptions_create(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_exceptions_destroy(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_limits_show(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_limits_set(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_rules_list(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_rules_add(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_rules_del(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_services_list(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_services_add(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_services_del(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_alerts_list(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_alerts_watch(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_alerts_reset(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_alerts_define(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_log_tail(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_top(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_members_remove(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_members_enroll(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_members_revoke(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_keys_gen(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_history(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_diff(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_config_export(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_config_plan(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_config_apply(px_ctl_t *ctl, int argc, char **argv);
/* cmd_versions.c: a DiffReply as `diff' prints it (ctl->json: JSON). */
void px_ctl_diff_print(const px_ctl_t *ctl, const Phalanx__DiffReply *d);
/* cmd_exceptions.c: an import file's entries (one a line, # comments),
 * bad lines reported: the exit status. */
int px_ctl_read_entries_file(const px_ctl_t *ctl, const char *path,
			     px_entries_t *out);
int px_cmd_rollback(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_confirm(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_pending(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_store_status(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_store_transfer(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_store_add(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_store_remove(px_ctl_t *ctl, int argc, char **argv);
/* --since: "30s", "10m", "2h", "1d" ago; "YYYY-MM-DD[THH:MM[:SS]]" local
 * time; "@SECONDS" since the epoch, into ms since the epoch.  0 or a
 * usage error (cmd_alerts.c). */
int px_ctl_parse_since(px_ctl_t *ctl, const char *s, uint64_t *ms);
int px_cmd_admins_add(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_admins_del(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_admins_list(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_members_list(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_members_drain(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_members_undrain(px_ctl_t *ctl, int argc, char **argv);
/* attack protection (cmd_protect.c, issue 12) */
int px_cmd_networks_list(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_networks_add(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_networks_del(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_policy_default(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_protection_set(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_protection_show(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_csx_set(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_csx_show(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_ids_show(px_ctl_t *ctl, int argc, char **argv);
int px_cmd_ids_set(px_ctl_t *ctl, int argc, char **argv);

/* Quota activity the members report (MemberStatus.quotas), shown by
 * status and limits show (activity.c).  Which counts to show: */
enum {
	PX_ACT_UP = 1 << 0,      /* only members that are up */
	PX_ACT_NONZERO = 1 << 1, /* only quotas that blocked or would have */
};
/* Print the title "quota activity:" and one line per member and quota
 * that pass filter: "  fw1  tcp-connect-rate  blocked 12  would-block 0
 * recent: 198.51.100.5".  Prints nothing at all when no count passes. */
void px_ctl_activity_print(const Phalanx__CtlReply *r, unsigned filter);
/* The same as a JSON array of {"member","quota","blocked","would_block",
 * "sources"} objects. */
void px_ctl_activity_json(const Phalanx__CtlReply *r, unsigned filter);
/* Every quota count of one member as a JSON array of {"quota",
 * "blocked","would_block","sources"} objects. */
void px_ctl_quotas_json(const Phalanx__MemberStatus *m);

/* The exception sets of a SET_LIST or STATUS reply as a JSON array of
 * {"name","count"} objects (cmd_exceptions.c). */
void px_ctl_sets_json(const Phalanx__CtlReply *r);

/* "phalanxctl: CMD: message" on stderr; returns PX_EXIT_FAIL. */
int px_ctl_fail(const px_ctl_t *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "phalanxctl: CMD: message" and "try phalanxctl CMD --help";
 * returns PX_EXIT_USAGE. */
int px_ctl_usage(const px_ctl_t *ctl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Copy s into buf (len > 8) for quoting in a message: control and
 * non-ASCII bytes become \xNN, and long values are cut with "...", so
 * a binary file cannot garble the terminal. */
void px_ctl_quote(char *buf, size_t len, const char *s);
/* The same for n bytes that may include NULs. */
void px_ctl_quote_mem(char *buf, size_t len, const char *s, size_t n);
#define PX_CTL_QUOTE_MAX 100

/* A member's health as status and members list print it: "ok",
 * "degraded", "failed" or "unknown". */
const char *px_ctl_health_name(int health);
/* How long before the store's reply r the member's last heartbeat came
 * (ms; one stamped after r's time is clock noise: 0). */
uint64_t px_ctl_heartbeat_age_ms(const Phalanx__CtlReply *r,
				 const Phalanx__MemberStatus *m);

/* Check the name of a rule, service or set (px_setname_valid): 0, or
 * PX_ESETNAME after "OPT: invalid KIND name (want ...): `NAME'" (opt:
 * "--src-set", or NULL for an argument). */
int px_ctl_check_name(const px_ctl_t *ctl, const char *opt, const char *kind,
		      const char *name);

/* One status line on stderr, rewritten in place; only if stderr is a
 * terminal.  px_ctl_progress_end() erases it (done before any error). */
void px_ctl_progress(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void px_ctl_progress_end(void);

/* malloc'd printf; never NULL (aborts on out-of-memory). */
char *px_ctl_asprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* A store or member time (ms since the epoch) as local time into buf:
 * "2025-01-02 10:11:12.345", or the number if it cannot be converted. */
void px_ctl_time_text(uint64_t ms, char *buf, size_t len);

/* An address or prefix from the wire as text into buf
 * (PX_ENTRY_STR_MAX); "?" and false if this build cannot decode it. */
bool px_ctl_source_text(const ProtobufCBinaryData *b, char *buf, size_t len);

/* Print a table on stdout: head (NULL: none), then nrows rows of cell
 * (ncols a row, row-major), each line after indent, each column as wide
 * as its widest cell and two spaces from the next; the last column is
 * not padded.  Frees every cell and cell. */
void px_ctl_table(const char *indent, const char *const *head, int ncols,
		  char **cell, size_t nrows);

#endif
