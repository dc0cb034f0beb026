/* main.c - runs every registered unit test: one line each, "PASS name"
 * or "FAIL name: why", then "N passed, N failed".  An argument runs only
 * the tests whose names contain it.  Each test runs in a process of its
 * own (as libuv's runner does), so a crash or an abort in one is reported
 * as "FAIL unit/NAME: crashed (signal N)" and the others still run. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Run test i in a child: its exit status is its verdict (0 passed, 1
 * failed), anything else is a crash.  The PASS/FAIL line comes from the
 * parent, so a crashing child cannot lose it.  1 if the test failed. */
static int run_one(int i)
{
	pid_t pid, w;
	int status = 0;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("FAIL unit/%s: fork: %s\n", tests[i].name,
		       strerror(errno));
		return 1;
	}
	if (pid == 0) {
		px_test_failed = 0;
		tests[i].fn();
		/* exit, not _exit: LeakSanitizer checks at exit (make asan). */
		exit(px_test_failed ? 1 : 0);
	}
	do
		w = waitpid(pid, &status, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		printf("FAIL unit/%s: waitpid: %s\n", tests[i].name,
		       strerror(errno));
		return 1;
	}
	if (WIFSIGNALED(status)) {
		printf("FAIL unit/%s: crashed (signal %d)\n", tests[i].name,
		       WTERMSIG(status));
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1) {
		printf("FAIL unit/%s: exited with status %d\n", tests[i].name,
		       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return 1;
	}
	printf("%s unit/%s\n", WEXITSTATUS(status) ? "FAIL" : "PASS",
	       tests[i].name);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	int i, passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 0; i < ntests; i++) {
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		if (run_one(i))
			failed++;
		else
			passed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
