/* px.c - error names, allocation, logging, number parsing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "px.h"

static const struct {
	int code;
	const char *text;
} errors[] = {
	{ PX_EPROTO_VERSION, "unknown protocol version" },
	{ PX_EDECODE, "message failed to decode" },
	{ PX_EBADADDR, "not an address or prefix" },
	{ PX_EHOSTBITS, "prefix has host bits set" },
	{ PX_ENOSET, "no such set" },
	{ PX_ENOLIMIT, "no such limit" },
	{ PX_ERANGE, "value out of range" },
	{ PX_EEPOCH, "message from an older store epoch" },
	{ PX_ESETNAME, "invalid set name (want [a-z0-9][a-z0-9_-]{0,31})" },
	{ PX_EOVERLAP, "prefix overlaps another prefix of the set" },
	{ PX_EEXIST, "already exists" },
	{ PX_EBADREQ, "malformed request" },
	{ PX_ETIMEOUT, "timed out" },
	{ PX_EKERNEL, "kernel lost part of a batch" },
	{ PX_EPROTECTED, "built-in object cannot be removed" },
	{ PX_EOPTION, "unknown option" },
	{ PX_EDBFULL, "database full: raise --map-size" },
	{ PX_EDBCORRUPT, "database corrupt or of another version" },
	{ PX_EDB, "database error" },
	{ PX_ETOOBIG, "over a size or count limit" },
	{ PX_ESTATE, "local state missing or unusable" },
	{ PX_EIDCLAIMED, "member id is held by another connection" },
	{ PX_EDOWN, "member is down" },
	{ PX_ENOMEMBER, "no such member" },
	{ PX_EBUSY, "one is already in flight" },
	{ PX_EPERM, "not permitted for this key" },
	{ PX_ENOTLEADER, "this store is not the leader" },
	{ PX_ENOQUORUM, "no quorum: a majority of the stores is not reachable" },
	{ PX_ECANARY, "the canary failed: the change was reverted" },
};

const char *px_strerror(int err)
{
	size_t i;

	for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++)
		if (errors[i].code == err)
			return errors[i].text;
	if (err < 0 && err > PX_ERR_BASE)
		return strerror(-err);
	return "unknown error";
}

int px_refuse(char *why, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why && len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void oom(size_t n)
{
	fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		oom(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		oom(strlen(s));
	return p;
}

static const char *log_prog = "phalanx";
static int log_verbose;

void px_log_init(const char *prog, int verbose)
{
	log_prog = prog;
	log_verbose = verbose;
}

void px_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	char ts[32];
	struct timespec now;
	struct tm tm;
	va_list ap;

	if (level == PX_LOG_DEBUG && !log_verbose)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ %s %s: ", ts, now.tv_nsec / 1000000,
		log_prog, names[level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static uint64_t clock_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void px_be64_put(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t px_be64_get(const uint8_t in[8])
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | in[i];
	return v;
}

uint16_t px_be16_get(const uint8_t in[2])
{
	return (uint16_t)(in[0] << 8 | in[1]);
}

uint64_t px_now_ms(void)
{
	return clock_ms(CLOCK_REALTIME);
}

uint64_t px_mono_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

int px_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return PX_EBADREQ;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return PX_EBADREQ;
	if (errno == ERANGE || v < min || v > max)
		return PX_ERANGE;
	*out = v;
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
			   end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

int px_config_load(const char *path, px_config_cb set, void *arg)
{
	char *line = NULL, *key, *value, *eq;
	size_t cap = 0;
	unsigned lineno = 0;
	FILE *f;
	int rc = 0;

	f = fopen(path, "re");
	if (!f) {
		rc = -errno;
		px_log(PX_LOG_ERR, "config %s: %s", path, strerror(errno));
		return rc;
	}
	while (rc == 0 && getline(&line, &cap, f) >= 0) {
		lineno++;
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			px_log(PX_LOG_ERR, "config %s: line %u: expected "
			       "`key = value': `%s'", path, lineno, key);
			rc = PX_EBADREQ;
			break;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		rc = set(key, value, arg);
		if (rc < 0)
			px_log(PX_LOG_ERR, "config %s: line %u: %s: `%s': %s",
			       path, lineno, key, value, px_strerror(rc));
	}
	free(line);
	fclose(f);
	return rc;
}

int px_log_to_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (dup2(fd, 2) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

bool px_member_id_valid(const char *id)
{
	size_t n = strlen(id);

	return n > 0 && n <= PX_MEMBER_ID_MAX &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

size_t px_list_count(const char *list)
{
	size_t n = 0;

	while (*list) {
		size_t len = strcspn(list, ",");

		n += len != 0;
		list += len;
		if (*list == ',')
			list++;
	}
	return n;
}

int px_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	free(copy);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int px_file_replace(const char *path, unsigned mode, bool sync,
		    px_file_fill fn, void *arg)
{
	char tmp[4200];
	int fd, rc;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return -errno;
	rc = fn(fd, arg);
	if (rc == 0 && sync && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	/* The rename itself survives a crash once the directory is on
	 * disk. */
	return sync ? fsync_dir_of(path) : 0;
}

int px_options_parse(const char *prog, int argc, char **argv,
		     const char *const *names, px_config_cb set, void *arg,
		     int *verbose)
{
	static const char *const builtin[] = { "config", "verbose", "help" };
	struct option *longopts;
	size_t n = 0, i;
	int c, idx, rc = 0;

	while (names[n])
		n++;
	longopts = xcalloc(n + 4, sizeof(*longopts));
	for (i = 0; i < n; i++)
		longopts[i] = (struct option){ names[i], required_argument,
					       NULL, 0 };
	for (i = 0; i < 3; i++)
		longopts[n + i] = (struct option){ builtin[i],
			i ? no_argument : required_argument, NULL, 0 };
	while (rc == 0 &&
	       (c = getopt_long(argc, argv, "vh", longopts, &idx)) != -1) {
		const char *key = c == 0 ? longopts[idx].name : NULL;

		if (c == 'v' || (key && strcmp(key, "verbose") == 0))
			*verbose = 1;
		else if (c == 'h' || (key && strcmp(key, "help") == 0))
			rc = PX_OPTS_HELP;
		else if (!key)
			rc = 2; /* getopt_long said what */
		else if (strcmp(key, "config") == 0)
			rc = px_config_load(optarg, set, arg) < 0 ? 1 : 0;
		else if ((c = set(key, optarg, arg)) < 0) {
			fprintf(stderr, "%s: --%s `%s': %s\n", prog, key, optarg,
				px_strerror(c));
			rc = 2;
		}
	}
	if (rc == 0 && optind != argc) {
		fprintf(stderr, "%s: unexpected argument `%s'\n", prog,
			argv[optind]);
		rc = 2;
	}
	free(longopts);
	return rc;
}
