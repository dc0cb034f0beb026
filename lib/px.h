/* px.h - shared basics: error codes, allocation, logging. */
#ifndef PX_H
#define PX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Functions return 0 or a negative errno; project errors live below
 * PX_ERR_BASE and are named by px_strerror(). */
#define PX_ERR_BASE (-10000)
enum {
	PX_EPROTO_VERSION = PX_ERR_BASE - 1, /* unknown protocol version */
	PX_EDECODE = PX_ERR_BASE - 2,        /* message failed to decode */
	PX_EBADADDR = PX_ERR_BASE - 3,       /* not an address or prefix */
	PX_EHOSTBITS = PX_ERR_BASE - 4,      /* prefix has host bits set */
	PX_ENOSET = PX_ERR_BASE - 5,         /* unknown set */
	PX_ENOLIMIT = PX_ERR_BASE - 6,       /* unknown limit */
	PX_ERANGE = PX_ERR_BASE - 7,         /* value out of range */
	PX_EEPOCH = PX_ERR_BASE - 8,         /* message from an older epoch */
	PX_ESETNAME = PX_ERR_BASE - 9,       /* invalid set name */
	PX_EOVERLAP = PX_ERR_BASE - 10,      /* prefix overlaps another */
	PX_EEXIST = PX_ERR_BASE - 11,        /* already exists */
	PX_EBADREQ = PX_ERR_BASE - 12,       /* malformed request */
	PX_ETIMEOUT = PX_ERR_BASE - 13,      /* no answer in time */
	PX_EKERNEL = PX_ERR_BASE - 14,       /* kernel refused or lost data */
	PX_EPROTECTED = PX_ERR_BASE - 15,    /* built-in object */
	PX_EOPTION = PX_ERR_BASE - 16,       /* unknown option */
	PX_EDBFULL = PX_ERR_BASE - 17,       /* LMDB map full (MDB_MAP_FULL) */
	PX_EDBCORRUPT = PX_ERR_BASE - 18,    /* LMDB: corrupted or incompatible */
	PX_EDB = PX_ERR_BASE - 19,           /* any other LMDB error */
	PX_ETOOBIG = PX_ERR_BASE - 20,       /* over a size or count limit */
	PX_ESTATE = PX_ERR_BASE - 21,        /* local state missing or unusable */
	PX_EIDCLAIMED = PX_ERR_BASE - 22,    /* member id held by another peer */
	PX_EDOWN = PX_ERR_BASE - 23,         /* a member is down */
	PX_ENOMEMBER = PX_ERR_BASE - 24,     /* unknown member */
	PX_EBUSY = PX_ERR_BASE - 25,         /* one already in flight */
	PX_EPERM = PX_ERR_BASE - 26,         /* the key's role may not do it */
	PX_ENOTLEADER = PX_ERR_BASE - 27,    /* this store is not the Raft leader */
	PX_ENOQUORUM = PX_ERR_BASE - 28,     /* no majority of stores: not committed */
	PX_ECANARY = PX_ERR_BASE - 29,       /* a --canary failed: reverted */
};

const char *px_strerror(int err);
/* The refusal of a check: why (when not NULL) := the formatted cause,
 * and rc returned, so a check reads `return px_refuse(why, len,
 * PX_ERANGE, "limit %s: ...", ...)'. */
int px_refuse(char *why, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Daemons abort on out-of-memory: these never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* Logging: one line per event to stderr, "LEVEL component: message".
 * px_log_init() names the program; debug lines only if verbose. */
enum { PX_LOG_ERR, PX_LOG_WARN, PX_LOG_INFO, PX_LOG_DEBUG };
void px_log_init(const char *prog, int verbose);
void px_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Send stderr (the log) to path, appending: for --log.  0 or -errno. */
int px_log_to_file(const char *path);

/* Member ids: [A-Za-z0-9._-]{1,63}.  The store refuses any other, so a
 * member checks its own before it starts. */
#define PX_MEMBER_ID_MAX 63
bool px_member_id_valid(const char *id);

/* How many non-empty items a comma-separated list holds. */
size_t px_list_count(const char *list);

/* write(2) until done or an error other than EINTR.  0 or -errno. */
int px_write_all(int fd, const void *buf, size_t n);

/* Replace the file at path as a whole: fn writes the new content to fd
 * (path.tmp, created with mode), which is then fsync'd when sync is set,
 * renamed over path and the directory fsync'd, so a reader or a crash
 * sees the old file or the new one, never part of one.  fn returns 0 or
 * a negative error.  0, fn's error or -errno; on error path is as it was
 * and path.tmp is gone.  The one atomic-file writer of the project. */
typedef int (*px_file_fill)(int fd, void *arg);
int px_file_replace(const char *path, unsigned mode, bool sync,
		    px_file_fill fn, void *arg);

/* Milliseconds of CLOCK_REALTIME and CLOCK_MONOTONIC. */
uint64_t px_now_ms(void);
/* Big-endian (network order, and keys that sort by number). */
void px_be64_put(uint8_t out[8], uint64_t v);
uint64_t px_be64_get(const uint8_t in[8]);
uint16_t px_be16_get(const uint8_t in[2]);
uint64_t px_mono_ms(void);

/* Parse an unsigned decimal integer in [min, max]; 0 or PX_ERANGE /
 * PX_EBADREQ.  No sign, no trailing characters. */
int px_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Read a "key = value" config file (# comments, blank lines).  set() is
 * called per line and returns 0 or a negative error; the first error
 * stops the read and is logged with the file name and line number. */
typedef int (*px_config_cb)(const char *key, const char *value, void *arg);
int px_config_load(const char *path, px_config_cb set, void *arg);

/* A daemon's command line, from one table of option names (NULL-ended):
 * each `--NAME VALUE' goes to set() as the config line `NAME = VALUE'
 * would; `--config FILE', `-v/--verbose' and `-h/--help' are added.
 * Errors are printed naming prog.  Returns 0, 1 (a bad config file),
 * 2 (usage error) or PX_OPTS_HELP (--help: the caller prints usage). */
#define PX_OPTS_HELP 3
int px_options_parse(const char *prog, int argc, char **argv,
		     const char *const *names, px_config_cb set, void *arg,
		     int *verbose);

#endif
