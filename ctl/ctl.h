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

#include "phalanx.pb-c.h"

enum { PX_EXIT_OK = 0, PX_EXIT_FAIL = 1, PX_EXIT_USAGE = 2 };

/* Options a command may accept besides the global ones. */
enum {
	PX_OPT_WAIT = 1 << 0, /* --wait[=SECONDS]: every write */
	PX_OPT_MODE = 1 << 1, /* --mode enforce|observe */
	PX_OPT_SET = 1 << 2,  /* --set EXCEPTION_SET */
};

#define PX_CTL_TIMEOUT_S 10 /* default --timeout */
#define PX_CTL_WAIT_S 30    /* default --wait */
#define PX_CTL_ENDPOINT_MAX 300

typedef struct {
	const char *cmd;      /* "exceptions add", prefixes every message */
	const char *store;    /* --store, or NULL */
	const char *config;   /* --config, or NULL */
	bool json;
	uint64_t timeout_ms;
	bool wait;
	uint64_t wait_ms;
	const char *mode;     /* --mode, or NULL */
	const char *set;      /* --set, or NULL */

	/* Connection, opened by the first request (client.c). */
	char base[PX_CTL_ENDPOINT_MAX];  /* store base, as shown to people */
	char ep[PX_CTL_ENDPOINT_MAX];    /* its ctl endpoint */
	void *zctx, *sock;
} px_ctl_t;

typedef int (*px_ctl_cmd_fn)(px_ctl_t *ctl, int argc, char **argv);

typedef struct {
	const char *name;     /* one or two words: "status", "limits set" */
	const char *args;     /* synopsis of the arguments: "SET FILE|-" */
	const char *help;     /* one line for the command list */
	const char *details;  /* the rest of `COMMAND --help' */
	px_ctl_cmd_fn fn;
	unsigned opts;        /* PX_OPT_* it accepts */
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

/* One status line on stderr, rewritten in place; only if stderr is a
 * terminal.  px_ctl_progress_end() erases it (done before any error). */
void px_ctl_progress(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
void px_ctl_progress_end(void);

/* malloc'd printf; never NULL (aborts on out-of-memory). */
char *px_ctl_asprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
