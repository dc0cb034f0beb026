/* msg.c - phalanxctl's messages: errors, usage errors, progress; and the
 * text the commands share: quoting, times, addresses, tables. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "ctl.h"
#include "px.h"

static int progress_shown;

static void vmessage(const px_ctl_t *ctl, const char *fmt, va_list ap)
{
	px_ctl_progress_end();
	fputs("phalanxctl: ", stderr);
	if (ctl && ctl->cmd)
		fprintf(stderr, "%s: ", ctl->cmd);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int px_ctl_fail(const px_ctl_t *ctl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(ctl, fmt, ap);
	va_end(ap);
	return PX_EXIT_FAIL;
}

int px_ctl_usage(const px_ctl_t *ctl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage(ctl, fmt, ap);
	va_end(ap);
	if (ctl && ctl->cmd)
		fprintf(stderr, "try phalanxctl %s --help\n", ctl->cmd);
	else
		fputs("try phalanxctl --help\n", stderr);
	return PX_EXIT_USAGE;
}

void px_ctl_quote(char *buf, size_t len, const char *s)
{
	px_ctl_quote_mem(buf, len, s, strlen(s));
}

void px_ctl_quote_mem(char *buf, size_t len, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const char *end = s + n;
	size_t o = 0;

	/* Room for one escape (4) plus "..." (3) plus NUL. */
	for (; s < end && o + 8 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	if (s < end) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
}

int px_ctl_check_name(const px_ctl_t *ctl, const char *opt, const char *kind,
		      const char *name)
{
	char q[PX_CTL_QUOTE_MAX];

	if (px_setname_valid(name))
		return 0;
	px_ctl_quote(q, sizeof(q), name);
	px_ctl_fail(ctl, "%s%sinvalid %s name (want [a-z0-9][a-z0-9_-]{0,%d}): "
		    "`%s'", opt ? opt : "", opt ? ": " : "", kind,
		    PX_SETNAME_MAX - 1, q);
	return PX_ESETNAME;
}

void px_ctl_progress(const char *fmt, ...)
{
	va_list ap;

	if (!isatty(STDERR_FILENO))
		return;
	/* \r and "erase to end of line": the line is rewritten in place. */
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
	progress_shown = 1;
}

void px_ctl_progress_end(void)
{
	if (!progress_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_shown = 0;
}

char *px_ctl_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	/* Only out-of-memory fails here; xstrdup aborts on that too. */
	if (n < 0)
		s = xstrdup("");
	return s;
}

void px_ctl_time_text(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	if (!localtime_r(&t, &tm) || !strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S",
					       &tm)) {
		snprintf(buf, len, "%llu", (unsigned long long)ms);
		return;
	}
	snprintf(buf, len, "%s.%03u", s, (unsigned)(ms % 1000));
}

bool px_ctl_source_text(const ProtobufCBinaryData *b, char *buf, size_t len)
{
	px_entry_t e;

	if (px_entry_decode(b->data, b->len, &e) < 0) {
		snprintf(buf, len, "?");
		return false;
	}
	px_entry_format(&e, buf, len);
	return true;
}

static void table_row(const char *indent, const char *const *row,
		      const size_t *w, int ncols)
{
	int c;

	fputs(indent, stdout);
	for (c = 0; c < ncols - 1; c++)
		printf("%-*s  ", (int)w[c], row[c]);
	printf("%s\n", row[ncols - 1]);
}

void px_ctl_table(const char *indent, const char *const *head, int ncols,
		  char **cell, size_t nrows)
{
	size_t *w = xcalloc((size_t)ncols, sizeof(*w)), i;
	int c;

	for (c = 0; c < ncols; c++)
		w[c] = head ? strlen(head[c]) : 0;
	for (i = 0; i < nrows * (size_t)ncols; i++)
		if (strlen(cell[i]) > w[i % (size_t)ncols])
			w[i % (size_t)ncols] = strlen(cell[i]);
	if (head)
		table_row(indent, head, w, ncols);
	for (i = 0; i < nrows; i++)
		table_row(indent, (const char *const *)cell + i * (size_t)ncols,
			  w, ncols);
	for (i = 0; i < nrows * (size_t)ncols; i++)
		free(cell[i]);
	free(cell);
	free(w);
}

const char *px_ctl_health_name(int health)
{
	switch (health) {
	case PHALANX__HEARTBEAT__HEALTH__OK:
		return "ok";
	case PHALANX__HEARTBEAT__HEALTH__DEGRADED:
		return "degraded";
	case PHALANX__HEARTBEAT__HEALTH__FAILED:
		return "failed";
	}
	return "unknown";
}

uint64_t px_ctl_heartbeat_age_ms(const Phalanx__CtlReply *r,
				 const Phalanx__MemberStatus *m)
{
	return r->now_ms > m->last_heartbeat_ms ?
		r->now_ms - m->last_heartbeat_ms : 0;
}
