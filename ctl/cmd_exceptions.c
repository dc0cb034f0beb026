/* cmd_exceptions.c - phalanxctl exceptions list|add|del|import|create|
 * destroy.
 *
 * Every value is parsed here before anything is sent, and the entries
 * sent are exactly the values given, in order, duplicates included, so
 * the store's bad_entry (1-based) indexes them directly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "json.h"
#include "px.h"
#include "wire.h"

#define BAD_SHOWN 10 /* bad values reported one by one, then a count */
#define BUILTIN_SET "flood-exceptions"

/* The entries of one request and where each came from. */
typedef struct {
	px_entries_t e;
	char **args;   /* add, del: entry i is argument args[i] */
	size_t *lines; /* import: entry i is on line lines[i] */
	size_t lines_cap;
} batch_t;

static void batch_init(batch_t *b)
{
	memset(b, 0, sizeof(*b));
	px_entries_init(&b->e);
}

static void batch_free(batch_t *b)
{
	px_entries_free(&b->e);
	free(b->lines);
}

/* where: "line 7: " or "", val: the value as given (or, for a file,
 * as parsed: its text is not kept). */
static void origin(const batch_t *b, size_t i, char *where, size_t wlen,
		   char *val, size_t vlen)
{
	if (b->lines) {
		snprintf(where, wlen, "line %zu: ", b->lines[i]);
		px_entry_format(&b->e.v[i], val, vlen);
	} else {
		where[0] = '\0';
		px_ctl_quote(val, vlen, b->args[i]);
	}
}

/* The store refused the request; name the entry it blames. */
static int refused(const px_ctl_t *ctl, const Phalanx__CtlReply *r,
		   const char *set, const batch_t *b)
{
	const char *err = px_ctl_reply_error(ctl, r);
	char where[40], val[PX_CTL_QUOTE_MAX], pwhere[40], pval[PX_CTL_QUOTE_MAX];
	char partner[200] = "";
	size_t k, j;

	/* The store's own texts name the set and the entries they blame
	 * (store/ops.c); px_strerror's alone do not. */
	if (r->bad_entry == 0 && !r->error[0] &&
	    (r->status == PX_ENOSET || r->status == PX_EEXIST ||
	     r->status == PX_EPROTECTED || r->status == PX_ESETNAME)) {
		px_ctl_quote(val, sizeof(val), set);
		return px_ctl_fail(ctl, "%s: `%s'", err, val);
	}
	if (!b || r->bad_entry == 0 || r->bad_entry > b->e.n) {
		if (r->bad_entry)
			return px_ctl_fail(ctl, "%s (entry %llu of the request)",
					   err, (unsigned long long)r->bad_entry);
		return px_ctl_fail(ctl, "%s", err);
	}
	k = r->bad_entry - 1;
	origin(b, k, where, sizeof(where), val, sizeof(val));
	/* An overlap's text names both entries of the pair; if the other
	 * is in this request too, its line is news. */
	j = r->overlap_entry;
	if (r->status == PX_EOVERLAP && j && j <= b->e.n && j - 1 != k &&
	    b->lines) {
		origin(b, j - 1, pwhere, sizeof(pwhere), pval, sizeof(pval));
		snprintf(partner, sizeof(partner), " (%s is on line %zu)",
			 pval, b->lines[j - 1]);
	}
	if (r->status == PX_EOVERLAP || r->status == -ENOENT)
		return px_ctl_fail(ctl, "%s%s%s", where, err, partner);
	return px_ctl_fail(ctl, "%s%s: `%s'%s", where, err, val, partner);
}

/* Send op for set with b's entries (b may be NULL) and finish the write. */
static int send_write(px_ctl_t *ctl, int op, const char *set, batch_t *b)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	ProtobufCBinaryData *bins = NULL;
	uint8_t *buf = NULL;
	int rc = PX_EXIT_FAIL;

	req.op = op;
	req.set = (char *)set;
	if (b && b->e.n) {
		px_wire_pack_entries(b->e.v, b->e.n, &bins, &buf);
		req.entries = bins;
		req.n_entries = b->e.n;
	}
	if (b && b->lines)
		px_ctl_progress("sending %zu entries", b->e.n);
	if (px_ctl_call(ctl, &req, &env) < 0)
		goto out;
	px_ctl_progress_end();
	if (env->ctl_reply->status != 0) {
		refused(ctl, env->ctl_reply, set, b);
		goto out;
	}
	rc = px_ctl_write_done(ctl, env->ctl_reply->version);
out:
	px_wire_free(env);
	free(bins);
	free(buf);
	return rc;
}

/* s: n bytes (a line may hold NULs). */
static int bad_value(const px_ctl_t *ctl, const char *where, int err,
		     const char *s, size_t n, size_t *nbad)
{
	char q[PX_CTL_QUOTE_MAX];

	if ((*nbad)++ < BAD_SHOWN) {
		px_ctl_quote_mem(q, sizeof(q), s, n);
		px_ctl_fail(ctl, "%s%s: `%s'", where, px_strerror(err), q);
	}
	return err;
}

static int bad_summary(const px_ctl_t *ctl, size_t nbad, const char *what)
{
	if (nbad > BAD_SHOWN)
		px_ctl_fail(ctl, "%zu more bad %s not shown; nothing was "
			    "changed", nbad - BAD_SHOWN, what);
	return nbad ? PX_EXIT_FAIL : PX_EXIT_OK;
}

/* The n values of args (add, del) into b.  Returns the exit status. */
static int read_args(const px_ctl_t *ctl, int n, char **args, batch_t *b)
{
	size_t nbad = 0;
	int i;

	b->args = args;
	for (i = 0; i < n; i++) {
		px_entry_t e;
		int err = px_entry_parse(args[i], &e);

		if (err < 0)
			bad_value(ctl, "", err, args[i], strlen(args[i]), &nbad);
		else
			px_entries_push(&b->e, &e);
	}
	return bad_summary(ctl, nbad, "values");
}

static char *trim(char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\r' || s[n - 1] == '\n' ||
			 s[n - 1] == '\v' || s[n - 1] == '\f'))
		s[--n] = '\0';
	while (*s == ' ' || *s == '\t' || *s == '\v' || *s == '\f')
		s++;
	return s;
}

static void push_line(batch_t *b, const px_entry_t *e, size_t lineno)
{
	if (b->e.n == b->lines_cap) {
		b->lines_cap = b->lines_cap ? 2 * b->lines_cap : 4096;
		b->lines = xrealloc(b->lines, b->lines_cap * sizeof(*b->lines));
	}
	b->lines[b->e.n] = lineno;
	px_entries_push(&b->e, e);
}

/* Read path ("-": stdin) into b: one entry a line, # comments.  One
 * getline buffer serves every line.  Returns the exit status. */
static int read_entries(const px_ctl_t *ctl, const char *path, batch_t *b)
{
	const char *name = strcmp(path, "-") == 0 ? "stdin" : path;
	int tty = isatty(STDERR_FILENO);
	char *line = NULL, *s, *hash, where[40];
	size_t cap = 0, lineno = 0, nbad = 0;
	uint64_t shown = px_mono_ms();
	ssize_t n;
	FILE *f;
	int rc = PX_EXIT_FAIL;

	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (!f)
		return px_ctl_fail(ctl, "cannot open %s: %s", path,
				   strerror(errno));
	/* Allocated even for an empty file: b->lines marks the batch as
	 * read from a file, so errors name lines. */
	b->lines_cap = 4096;
	b->lines = xmalloc(b->lines_cap * sizeof(*b->lines));
	while ((n = getline(&line, &cap, f)) != -1) {
		px_entry_t e;
		int err, nul;

		lineno++;
		/* The clock is read every 16384 lines: a tenth of a second
		 * between updates keeps the terminal cheap. */
		if (tty && (lineno & 0x3fff) == 0 &&
		    px_mono_ms() - shown >= 100) {
			px_ctl_progress("reading %s: %zu lines", name, lineno);
			shown = px_mono_ms();
		}
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		hash = memchr(line, '#', (size_t)n);
		if (hash) {
			*hash = '\0';
			n = hash - line;
		}
		/* A NUL inside the line would hide the rest of it. */
		nul = memchr(line, '\0', (size_t)n) != NULL;
		if (nul) {
			snprintf(where, sizeof(where), "line %zu: ", lineno);
			bad_value(ctl, where, PX_EBADADDR, line, (size_t)n,
				  &nbad);
			continue;
		}
		s = trim(line, (size_t)n);
		if (!*s)
			continue;
		err = px_entry_parse(s, &e);
		if (err < 0) {
			snprintf(where, sizeof(where), "line %zu: ", lineno);
			bad_value(ctl, where, err, s, strlen(s), &nbad);
			continue;
		}
		push_line(b, &e, lineno);
	}
	if (ferror(f)) {
		px_ctl_fail(ctl, "reading %s: %s", name, strerror(errno));
		goto out;
	}
	if (tty)
		px_ctl_progress("reading %s: %zu lines", name, lineno);
	rc = bad_summary(ctl, nbad, "lines");
out:
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

/* add, del: SET ADDR|PREFIX...; import: SET FILE|-. */
int px_ctl_read_entries_file(const px_ctl_t *ctl, const char *path,
			     px_entries_t *out)
{
	batch_t b;
	int rc;

	batch_init(&b);
	rc = read_entries(ctl, path, &b);
	px_ctl_progress_end();
	*out = b.e;
	px_entries_init(&b.e);
	batch_free(&b);
	return rc;
}

static int write_entries(px_ctl_t *ctl, int argc, char **argv, int op)
{
	batch_t b;
	int rc = PX_EXIT_FAIL;

	batch_init(&b);
	if (px_ctl_check_name(ctl, NULL, "set", argv[0]) < 0)
		goto out;
	if (op == PHALANX__CTL_REQUEST__OP__SET_IMPORT)
		rc = read_entries(ctl, argv[1], &b);
	else
		rc = read_args(ctl, argc - 1, argv + 1, &b);
	if (rc != PX_EXIT_OK)
		goto out;
	rc = send_write(ctl, op, argv[0], &b);
out:
	batch_free(&b);
	return rc;
}

int px_cmd_exceptions_add(px_ctl_t *ctl, int argc, char **argv)
{
	return write_entries(ctl, argc, argv, PHALANX__CTL_REQUEST__OP__SET_ADD);
}

int px_cmd_exceptions_del(px_ctl_t *ctl, int argc, char **argv)
{
	return write_entries(ctl, argc, argv, PHALANX__CTL_REQUEST__OP__SET_DEL);
}

int px_cmd_exceptions_import(px_ctl_t *ctl, int argc, char **argv)
{
	return write_entries(ctl, argc, argv,
			     PHALANX__CTL_REQUEST__OP__SET_IMPORT);
}

int px_cmd_exceptions_create(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	if (px_ctl_check_name(ctl, NULL, "set", argv[0]) < 0)
		return PX_EXIT_FAIL;
	return send_write(ctl, PHALANX__CTL_REQUEST__OP__SET_CREATE, argv[0],
			  NULL);
}

int px_cmd_exceptions_destroy(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	if (px_ctl_check_name(ctl, NULL, "set", argv[0]) < 0)
		return PX_EXIT_FAIL;
	if (strcmp(argv[0], BUILTIN_SET) == 0)
		return px_ctl_fail(ctl, "%s: `%s'", px_strerror(PX_EPROTECTED),
				   BUILTIN_SET);
	return send_write(ctl, PHALANX__CTL_REQUEST__OP__SET_DESTROY, argv[0],
			  NULL);
}

static const char *str(const char *s)
{
	return s ? s : "";
}

void px_ctl_sets_json(const Phalanx__CtlReply *r)
{
	size_t i;

	putchar('[');
	for (i = 0; i < r->n_sets; i++) {
		printf("%s{\"name\":", i ? "," : "");
		px_json_str(stdout, r->sets[i]->name);
		printf(",\"count\":%llu}", (unsigned long long)r->sets[i]->count);
	}
	putchar(']');
}

static void list_sets(const px_ctl_t *ctl, const Phalanx__CtlReply *r)
{
	size_t i, w = strlen("SET");

	if (ctl->json) {
		fputs("{\"sets\":", stdout);
		px_ctl_sets_json(r);
		fputs("}\n", stdout);
		return;
	}
	for (i = 0; i < r->n_sets; i++)
		if (strlen(str(r->sets[i]->name)) > w)
			w = strlen(str(r->sets[i]->name));
	printf("%-*s  ENTRIES\n", (int)w, "SET");
	for (i = 0; i < r->n_sets; i++)
		printf("%-*s  %llu\n", (int)w, str(r->sets[i]->name),
		       (unsigned long long)r->sets[i]->count);
}

static int list_entries(const px_ctl_t *ctl, const char *set,
			const Phalanx__CtlReply *r)
{
	px_entries_t es;
	char buf[PX_ENTRY_STR_MAX];
	size_t i, bad = 0;
	int rc = PX_EXIT_FAIL;

	px_entries_init(&es);
	if (px_wire_unpack_entries(r->entries, r->n_entries, &es, &bad) < 0) {
		px_ctl_fail(ctl, "the store sent an entry this build cannot "
			    "read (entry %zu of %zu)", bad, r->n_entries);
		goto out;
	}
	if (ctl->json) {
		fputs("{\"set\":", stdout);
		px_json_str(stdout, set);
		printf(",\"count\":%zu,\"entries\":[", es.n);
	}
	for (i = 0; i < es.n; i++) {
		px_entry_format(&es.v[i], buf, sizeof(buf));
		if (ctl->json) {
			if (i)
				putchar(',');
			px_json_str(stdout, buf);
		} else {
			puts(buf);
		}
	}
	if (ctl->json)
		fputs("]}\n", stdout);
	rc = PX_EXIT_OK;
out:
	px_entries_free(&es);
	return rc;
}

int px_cmd_exceptions_list(px_ctl_t *ctl, int argc, char **argv)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const char *set = argc ? argv[0] : "";
	int rc = PX_EXIT_FAIL;

	if (argc && px_ctl_check_name(ctl, NULL, "set", set) < 0)
		goto out;
	req.op = PHALANX__CTL_REQUEST__OP__SET_LIST;
	req.set = (char *)set;
	if (px_ctl_call(ctl, &req, &env) < 0)
		goto out;
	if (env->ctl_reply->status != 0) {
		char q[PX_CTL_QUOTE_MAX];
		const char *err;

		/* "no such set" alone would not say which. */
		px_ctl_quote(q, sizeof(q), set);
		err = px_ctl_reply_error(ctl, env->ctl_reply);
		if (argc && env->ctl_reply->status == PX_ENOSET &&
		    !env->ctl_reply->error[0])
			px_ctl_fail(ctl, "%s: `%s'", err, q);
		else
			px_ctl_fail(ctl, "%s", err);
		goto out;
	}
	if (argc) {
		rc = list_entries(ctl, set, env->ctl_reply);
	} else {
		list_sets(ctl, env->ctl_reply);
		rc = PX_EXIT_OK;
	}
out:
	px_wire_free(env);
	return rc;
}
