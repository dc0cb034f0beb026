/* unit.h - a small test registry.  Asserts are never compiled out; a
 * failing check says what it expected and what it saw. */
#ifndef PX_UNIT_H
#define PX_UNIT_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "addr.h"

typedef void (*px_test_fn)(void);
void px_test_register(const char *name, px_test_fn fn);
void px_test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
extern int px_test_failed;

#define TEST(name)                                                       \
	static void name(void);                                          \
	__attribute__((constructor)) static void reg_##name(void)        \
	{                                                                \
		px_test_register(#name, name);                           \
	}                                                                \
	static void name(void)

#define CHECK(cond)                                                      \
	do {                                                             \
		if (!(cond)) {                                           \
			px_test_fail(__FILE__, __LINE__, "%s", #cond);   \
			return;                                          \
		}                                                        \
	} while (0)

#define CHECK_INT(seen, want)                                            \
	do {                                                             \
		long long s_ = (long long)(seen), w_ = (long long)(want);\
		if (s_ != w_) {                                          \
			px_test_fail(__FILE__, __LINE__,                 \
				     "%s: expected %lld, saw %lld", #seen,\
				     w_, s_);                            \
			return;                                          \
		}                                                        \
	} while (0)

#define CHECK_STR(seen, want)                                            \
	do {                                                             \
		const char *s_ = (seen), *w_ = (want);                   \
		if (strcmp(s_, w_) != 0) {                               \
			px_test_fail(__FILE__, __LINE__,                 \
				     "%s: expected `%s', saw `%s'", #seen,\
				     w_, s_);                            \
			return;                                          \
		}                                                        \
	} while (0)

/* Host 10.0.0.0 + i (i < 2^24): a sorted run of distinct IPv4 hosts. */
static inline px_entry_t px_test_host4(size_t i)
{
	px_entry_t e;

	memset(&e, 0, sizeof(e));
	e.family = 4;
	e.plen = 32;
	e.addr[0] = 10;
	e.addr[1] = (uint8_t)(i >> 16);
	e.addr[2] = (uint8_t)(i >> 8);
	e.addr[3] = (uint8_t)i;
	return e;
}

/* Remove an LMDB directory a test made (its two files, then itself). */
static inline void px_test_rm_db(const char *dir)
{
	char p[300];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

#endif
