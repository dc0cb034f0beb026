/* main.c - runs every registered unit test: one line each, "PASS name"
 * or "FAIL name: why", then "N passed, N failed".  An argument runs only
 * the tests whose names contain it. */
#include <stdarg.h>
#include <stdlib.h>

#include "unit.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	px_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
int px_test_failed;

void px_test_register(const char *name, px_test_fn fn)
{
	if (ntests == MAX_TESTS)
		abort();
	tests[ntests].name = name;
	tests[ntests++].fn = fn;
}

void px_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	px_test_failed = 1;
	printf("  %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

int main(int argc, char **argv)
{
	int i, passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		px_test_failed = 0;
		tests[i].fn();
		printf("%s unit/%s\n", px_test_failed ? "FAIL" : "PASS",
		       tests[i].name);
		if (px_test_failed)
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
