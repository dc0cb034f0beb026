/* cmd_config.c - phalanxctl config export | plan | apply: the array's
 * whole policy as a YAML file (libyaml reads and writes it).
 *
 * The limits, rules, services and protection are written field by field
 * from the protobuf-c descriptors of their messages (a field's name is its
 * key; enums by name, wire entries as addresses), so a field added to the
 * protocol is exported and read back without a change here.  Sets are a
 * mapping of name to entries, or to {file: PATH} for an entries file (one
 * entry a line, as `exceptions import' reads). */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "addr.h"
#include "client.h"
#include "ctl.h"
#include "px.h"
#include "wire.h"

#define CONFIG_FORMAT 1          /* the file's `phalanx:' key */
#define INLINE_MAX 1000          /* sets past this go to --entries-dir */
#define DEPTH_MAX 8

/* The parts of a SnapshotChunk a file holds (the rest is the store's). */
static const char *const meta_keys[] = { "limits", "rules", "services",
					 "protection" };

/* ---- writing ---- */

typedef struct {
	yaml_document_t doc;
	char buf[PX_ENTRY_STR_MAX + 32];
} out_t;

static int scalar(out_t *o, const char *s)
{
	return yaml_document_add_scalar(&o->doc, NULL, (yaml_char_t *)s,
					(int)strlen(s), YAML_PLAIN_SCALAR_STYLE);
}

static int entry_scalar(out_t *o, const ProtobufCBinaryData *b)
{
	px_entry_t e;

	if (px_entry_decode(b->data, b->len, &e) < 0)
		snprintf(o->buf, sizeof(o->buf), "(bad entry)");
	else
		px_entry_format(&e, o->buf, sizeof(o->buf));
	return scalar(o, o->buf);
}

static int message_node(out_t *o, const ProtobufCMessage *m, int depth,
			bool item);

/* One value of field f at p (a pointer to it), or 0 to leave it out. */
static int value_node(out_t *o, const ProtobufCFieldDescriptor *f,
		      const void *p, int depth, bool item)
{
	const ProtobufCEnumValue *ev;

	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return scalar(o, *(char *const *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return scalar(o, *(const protobuf_c_boolean *)p ? "true" : "false");
	case PROTOBUF_C_TYPE_UINT32:
		snprintf(o->buf, sizeof(o->buf), "%u", *(const uint32_t *)p);
		return scalar(o, o->buf);
	case PROTOBUF_C_TYPE_UINT64:
		snprintf(o->buf, sizeof(o->buf), "%llu",
			 (unsigned long long)*(const uint64_t *)p);
		return scalar(o, o->buf);
	case PROTOBUF_C_TYPE_ENUM:
		ev = protobuf_c_enum_descriptor_get_value(f->descriptor,
							  *(const int *)p);
		snprintf(o->buf, sizeof(o->buf), "%s", ev ? ev->name : "?");
		for (char *c = o->buf; *c; c++)
			*c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		return scalar(o, o->buf);
	case PROTOBUF_C_TYPE_BYTES:
		return entry_scalar(o, p);
	case PROTOBUF_C_TYPE_MESSAGE:
		return message_node(o, *(ProtobufCMessage *const *)p, depth + 1,
				    item);
	default:
		return 0; /* no such field in these messages */
	}
}

static bool is_default(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return !*(char *const *)p || !**(char *const *)p;
	case PROTOBUF_C_TYPE_BOOL:
		return !*(const protobuf_c_boolean *)p;
	case PROTOBUF_C_TYPE_UINT32:
		return !*(const uint32_t *)p;
	case PROTOBUF_C_TYPE_UINT64:
		return !*(const uint64_t *)p;
	case PROTOBUF_C_TYPE_ENUM:
		return false; /* say it: the first value is a choice too */
	case PROTOBUF_C_TYPE_BYTES:
		return !((const ProtobufCBinaryData *)p)->len;
	case PROTOBUF_C_TYPE_MESSAGE:
		return !*(ProtobufCMessage *const *)p;
	default:
		return true;
	}
}

static size_t type_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_ENUM:
		return 4;
	case PROTOBUF_C_TYPE_UINT64:
		return 8;
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	default:
		return 0;
	}
}

static int field_node(out_t *o, const ProtobufCMessage *m,
		      const ProtobufCFieldDescriptor *f, int depth)
{
	const char *base = (const char *)m;

	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		size_t n = *(const size_t *)(base + f->quantifier_offset), i;
		const char *arr = *(char *const *)(base + f->offset);
		int seq;

		if (!n)
			return 0;
		seq = yaml_document_add_sequence(&o->doc, NULL,
						 f->type == PROTOBUF_C_TYPE_BYTES ?
						 YAML_FLOW_SEQUENCE_STYLE :
						 YAML_BLOCK_SEQUENCE_STYLE);
		for (i = 0; i < n; i++) {
			int v = value_node(o, f, arr + i * type_size(f), depth,
					   true);

			if (v > 0)
				yaml_document_append_sequence_item(&o->doc, seq, v);
		}
		return seq;
	}
	if (is_default(f, base + f->offset))
		return 0;
	return value_node(o, f, base + f->offset, depth, false);
}

/* A message: a block mapping at the top, one line each in a list. */
static int message_node(out_t *o, const ProtobufCMessage *m, int depth,
			bool item)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	int map;
	unsigned i;

	if (depth > DEPTH_MAX)
		return 0;
	map = yaml_document_add_mapping(&o->doc, NULL,
					depth > 1 || item ?
					YAML_FLOW_MAPPING_STYLE :
					YAML_BLOCK_MAPPING_STYLE);
	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int v = field_node(o, m, f, depth);

		/* `given' is a request's, not a setting's */
		if (v > 0 && strcmp(f->name, "given") != 0)
			yaml_document_append_mapping_pair(&o->doc, map,
							  scalar(o, f->name), v);
	}
	return map;
}

static int field_by_name(const ProtobufCMessage *m, const char *name,
			 out_t *o, int depth)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(m->descriptor,
								 name);

	return f ? field_node(o, m, f, depth) : 0;
}

/* Write the set's entries to dir/NAME.entries: the path, or NULL. */
static char *entries_file(const px_ctl_t *ctl, const char *dir,
			  const char *set, const Phalanx__CtlReply *r)
{
	char es[PX_ENTRY_STR_MAX], *path, *abs;
	px_entry_t e;
	size_t i;
	FILE *f;

	/* Named absolute in the YAML: it is read wherever that goes. */
	if (!(abs = realpath(dir, NULL))) {
		px_ctl_fail(ctl, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	i = (size_t)asprintf(&path, "%s/%s.entries", abs, set);
	free(abs);
	if (i == (size_t)-1)
		return NULL;
	if (!(f = fopen(path, "w"))) {
		px_ctl_fail(ctl, "cannot write %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	fprintf(f, "# set %s, %zu entries (phalanxctl config export)\n", set,
		r->n_entries);
	for (i = 0; i < r->n_entries; i++)
		if (px_entry_decode(r->entries[i].data, r->entries[i].len,
				    &e) == 0) {
			px_entry_format(&e, es, sizeof(es));
			fprintf(f, "%s\n", es);
		}
	if (fclose(f) != 0) {
		px_ctl_fail(ctl, "writing %s: %s", path, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

/* One set's node: its entries inline, or a file for a big one. */
static int set_node(px_ctl_t *ctl, out_t *o, const char *set,
		    const char *dir, uint64_t version, int *node)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__CtlReply *r;
	size_t i;

	req.op = PHALANX__CTL_REQUEST__OP__SET_LIST;
	req.set = (char *)set;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	r = env->ctl_reply;
	if (r->version != version) {
		px_wire_free(env);
		return -EAGAIN;
	}
	if (dir && r->n_entries > INLINE_MAX) {
		char *path = entries_file(ctl, dir, set, r);
		int map;

		if (!path) {
			px_wire_free(env);
			return PX_EXIT_FAIL;
		}
		map = yaml_document_add_mapping(&o->doc, NULL,
						YAML_FLOW_MAPPING_STYLE);
		yaml_document_append_mapping_pair(&o->doc, map,
						  scalar(o, "file"),
						  scalar(o, path));
		free(path);
		*node = map;
	} else {
		*node = yaml_document_add_sequence(&o->doc, NULL,
						   YAML_FLOW_SEQUENCE_STYLE);
		for (i = 0; i < r->n_entries; i++)
			yaml_document_append_sequence_item(
				&o->doc, *node, entry_scalar(o, &r->entries[i]));
	}
	px_wire_free(env);
	return 0;
}

static int yaml_out(void *data, unsigned char *buf, size_t size)
{
	return fwrite(buf, 1, size, (FILE *)data) == size;
}

/* Build the document of one consistent version: -EAGAIN if the policy
 * moved while the sets were read. */
static int export_once(px_ctl_t *ctl, const char *dir)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__Envelope *env = NULL;
	const Phalanx__SnapshotChunk *c;
	yaml_emitter_t em;
	out_t o;
	int root, sets, v, rc = 0;
	size_t i;

	req.op = PHALANX__CTL_REQUEST__OP__CONFIG_SHOW;
	if (px_ctl_request(ctl, &req, &env) < 0)
		return PX_EXIT_FAIL;
	if (!(c = env->ctl_reply->config)) {
		px_wire_free(env);
		return px_ctl_fail(ctl, "the store sent no configuration: is it "
				   "older than this phalanxctl?");
	}
	memset(&o, 0, sizeof(o));
	yaml_document_initialize(&o.doc, NULL, NULL, NULL, 1, 1);
	root = yaml_document_add_mapping(&o.doc, NULL, YAML_BLOCK_MAPPING_STYLE);
	snprintf(o.buf, sizeof(o.buf), "%d", CONFIG_FORMAT);
	yaml_document_append_mapping_pair(&o.doc, root, scalar(&o, "phalanx"),
					  scalar(&o, o.buf));
	snprintf(o.buf, sizeof(o.buf), "%llu", (unsigned long long)c->version);
	yaml_document_append_mapping_pair(&o.doc, root, scalar(&o, "version"),
					  scalar(&o, o.buf));
	sets = yaml_document_add_mapping(&o.doc, NULL, YAML_BLOCK_MAPPING_STYLE);
	yaml_document_append_mapping_pair(&o.doc, root, scalar(&o, "sets"), sets);
	for (i = 0; i < c->n_sets && rc == 0; i++) {
		if (isatty(STDERR_FILENO))
			px_ctl_progress("reading set %s", c->sets[i]->set);
		rc = set_node(ctl, &o, c->sets[i]->set, dir, c->version, &v);
		if (rc == 0)
			yaml_document_append_mapping_pair(
				&o.doc, sets, scalar(&o, c->sets[i]->set), v);
	}
	px_ctl_progress_end();
	for (i = 0; i < 4 && rc == 0; i++) {
		v = field_by_name(&c->base, meta_keys[i], &o, 0);
		if (v > 0)
			yaml_document_append_mapping_pair(
				&o.doc, root, scalar(&o, meta_keys[i]), v);
	}
	if (rc != 0) {
		yaml_document_delete(&o.doc);
		px_wire_free(env);
		return rc;
	}
	printf("# Phalanx array configuration, version %llu (phalanxctl "
	       "config export).\n# `phalanxctl config plan FILE' shows what "
	       "applying it changes; `config\n# apply FILE' makes it the "
	       "policy in one version.  Sets not named are\n# destroyed.\n",
	       (unsigned long long)c->version);
	fflush(stdout);
	yaml_emitter_initialize(&em);
	yaml_emitter_set_output(&em, yaml_out, stdout);
	yaml_emitter_set_width(&em, 78);
	if (!yaml_emitter_open(&em) || !yaml_emitter_dump(&em, &o.doc) ||
	    !yaml_emitter_close(&em))
		rc = px_ctl_fail(ctl, "writing the configuration: %s",
				 em.problem ? em.problem : "libyaml failed");
	yaml_emitter_delete(&em);
	px_wire_free(env);
	return rc;
}

int px_cmd_config_export(px_ctl_t *ctl, int argc, char **argv)
{
	const char *dir = argc > 0 ? argv[0] : NULL;
	int tries, rc = -EAGAIN;

	for (tries = 0; tries < 3 && rc == -EAGAIN; tries++)
		rc = export_once(ctl, dir);
	if (rc == -EAGAIN)
		return px_ctl_fail(ctl, "the policy changed three times while "
				   "it was read: try again");
	return rc;
}

/* ---- reading ---- */

typedef struct {
	const px_ctl_t *ctl;
	yaml_document_t doc;
	const char *path, *dir;
	char why[256];
} in_t;

static int bad(in_t *in, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(in_t *in, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in->why, sizeof(in->why), fmt, ap);
	va_end(ap);
	px_ctl_fail(in->ctl, "%s line %zu: %s", in->path,
		    n ? (size_t)n->start_mark.line + 1 : 0, in->why);
	return -1;
}

static const char *text(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ?
	       (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *node(in_t *in, int id)
{
	return yaml_document_get_node(&in->doc, id);
}

static int message_from(in_t *in, const yaml_node_t *n,
			const ProtobufCMessageDescriptor *d,
			ProtobufCMessage **out, int depth);

/* One value of field f from n into p. */
static int value_from(in_t *in, const yaml_node_t *n,
		      const ProtobufCFieldDescriptor *f, void *p, int depth)
{
	const char *s = text(n);
	const ProtobufCEnumValue *ev;
	char up[64];
	uint64_t v;
	px_entry_t e;
	uint8_t w[PX_ENTRY_WIRE_MAX];
	size_t i;

	if (f->type == PROTOBUF_C_TYPE_MESSAGE)
		return message_from(in, n, f->descriptor,
				    (ProtobufCMessage **)p, depth + 1);
	if (!s)
		return bad(in, n, "%s: expected a value", f->name);
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		*(char **)p = xstrdup(s);
		return 0;
	case PROTOBUF_C_TYPE_BOOL:
		if (strcmp(s, "true") && strcmp(s, "false"))
			return bad(in, n, "%s: expected true or false, not `%.40s'",
				   f->name, s);
		*(protobuf_c_boolean *)p = strcmp(s, "true") == 0;
		return 0;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_UINT64:
		if (px_parse_u64(s, 0, f->type == PROTOBUF_C_TYPE_UINT32 ?
				 UINT32_MAX : UINT64_MAX, &v) < 0)
			return bad(in, n, "%s: expected a number, not `%.40s'",
				   f->name, s);
		if (f->type == PROTOBUF_C_TYPE_UINT32)
			*(uint32_t *)p = (uint32_t)v;
		else
			*(uint64_t *)p = v;
		return 0;
	case PROTOBUF_C_TYPE_ENUM:
		for (i = 0; s[i] && i + 1 < sizeof(up); i++)
			up[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ?
				       s[i] - 'a' + 'A' : s[i]);
		up[i] = '\0';
		ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor,
								   up);
		if (!ev)
			return bad(in, n, "%s: no such value `%.40s'", f->name, s);
		*(int *)p = ev->value;
		return 0;
	case PROTOBUF_C_TYPE_BYTES: {
		ProtobufCBinaryData *b = p;
		int rc = px_entry_parse(s, &e);

		if (rc < 0)
			return bad(in, n, "%s: `%.60s': %s", f->name, s,
				   px_strerror(rc));
		b->len = px_entry_encode(&e, w);
		b->data = xmalloc(b->len);
		memcpy(b->data, w, b->len);
		return 0;
	}
	default:
		return bad(in, n, "%s: a field this phalanxctl cannot read",
			   f->name);
	}
}

static int field_from(in_t *in, ProtobufCMessage *m,
		      const ProtobufCFieldDescriptor *f, const yaml_node_t *n,
		      int depth)
{
	char *base = (char *)m;
	yaml_node_item_t *it;
	size_t k = 0, sz = type_size(f);
	char *arr;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return value_from(in, n, f, base + f->offset, depth);
	if (n->type != YAML_SEQUENCE_NODE)
		return bad(in, n, "%s: expected a list", f->name);
	arr = xcalloc((size_t)(n->data.sequence.items.top -
			       n->data.sequence.items.start) + 1, sz);
	*(char **)(base + f->offset) = arr;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		if (value_from(in, node(in, *it), f, arr + k * sz, depth) < 0)
			return -1;
		*(size_t *)(base + f->quantifier_offset) = ++k;
	}
	return 0;
}

static int message_from(in_t *in, const yaml_node_t *n,
			const ProtobufCMessageDescriptor *d,
			ProtobufCMessage **out, int depth)
{
	ProtobufCMessage *m;
	yaml_node_pair_t *pr;

	if (depth > DEPTH_MAX)
		return bad(in, n, "nested too deep");
	if (!n || n->type != YAML_MAPPING_NODE)
		return bad(in, n, "%s: expected a mapping of its fields",
			   d->short_name);
	m = xcalloc(1, d->sizeof_message);
	protobuf_c_message_init(d, m);
	*out = m;
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++) {
		const char *key = text(node(in, pr->key));
		const ProtobufCFieldDescriptor *f = key ?
			protobuf_c_message_descriptor_get_field_by_name(d, key) :
			NULL;

		if (!f || f->type == PROTOBUF_C_TYPE_DOUBLE)
			return bad(in, node(in, pr->key), "%s has no field "
				   "`%.40s'", d->short_name, key ? key : "?");
		if (field_from(in, m, f, node(in, pr->value), depth) < 0)
			return -1;
	}
	return 0;
}

/* sets: NAME: [entries] or NAME: {file: PATH}. */
static int sets_from(in_t *in, const yaml_node_t *n, Phalanx__ConfigApply *ca,
		     ProtobufCBinaryData **bins, uint8_t **bufs)
{
	yaml_node_pair_t *pr;
	size_t k = 0;

	if (n->type != YAML_MAPPING_NODE)
		return bad(in, n, "sets: expected a mapping of set names");
	ca->n_sets = (size_t)(n->data.mapping.pairs.top -
			      n->data.mapping.pairs.start);
	ca->sets = xcalloc(ca->n_sets + 1, sizeof(*ca->sets));
	for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top;
	     pr++, k++) {
		const char *name = text(node(in, pr->key));
		const yaml_node_t *v = node(in, pr->value);
		Phalanx__SetEntries *se = xcalloc(1, sizeof(*se));
		px_entries_t e;
		yaml_node_item_t *it;

		phalanx__set_entries__init(se);
		ca->sets[k] = se;
		if (!name || !px_setname_valid(name))
			return bad(in, node(in, pr->key), "invalid set name");
		se->set = (char *)name;
		px_entries_init(&e);
		if (v->type == YAML_MAPPING_NODE) {
			const yaml_node_pair_t *fp = v->data.mapping.pairs.start;
			const char *fk, *path;
			char *full = NULL;
			int rc;

			if (v->data.mapping.pairs.top - fp != 1 ||
			    !(fk = text(node(in, fp->key))) ||
			    strcmp(fk, "file") != 0 ||
			    !(path = text(node(in, fp->value))))
				return bad(in, v, "set %s: expected a list of "
					   "entries or {file: PATH}", name);
			if (path[0] != '/' &&
			    asprintf(&full, "%s/%s", in->dir, path) < 0)
				return bad(in, v, "out of memory");
			rc = px_ctl_read_entries_file(in->ctl, full ? full : path,
						      &e);
			free(full);
			if (rc != PX_EXIT_OK) {
				px_entries_free(&e);
				return -1;
			}
		} else if (v->type == YAML_SEQUENCE_NODE) {
			for (it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				const yaml_node_t *en = node(in, *it);
				const char *s = text(en);
				px_entry_t x;
				int rc;

				if (!s || (rc = px_entry_parse(s, &x)) < 0) {
					px_entries_free(&e);
					return bad(in, en, "set %s: `%.60s' is "
						   "not an address or prefix",
						   name, s ? s : "?");
				}
				px_entries_push(&e, &x);
			}
		} else if (!text(v) || text(v)[0]) {
			return bad(in, v, "set %s: expected a list of entries "
				   "or {file: PATH}", name);
		}
		px_wire_pack_entries(e.v, e.n, &bins[k], &bufs[k]);
		se->entries = bins[k];
		se->n_entries = e.n;
		px_entries_free(&e);
	}
	return 0;
}

/* Read path into ca (meta packed into *meta_buf).  0 or -1 (said). */
static int config_read(const px_ctl_t *ctl, const char *path, in_t *in,
		       Phalanx__ConfigApply *ca, ProtobufCBinaryData ***bins,
		       uint8_t ***bufs, uint8_t **meta_buf)
{
	Phalanx__SnapshotChunk *c = NULL;
	yaml_parser_t parser;
	yaml_node_t *root;
	yaml_node_pair_t *pr;
	char *dcopy;
	FILE *f;
	int rc = -1;
	bool has_format = false, has_sets = false;

	memset(in, 0, sizeof(*in));
	in->ctl = ctl;
	in->path = path;
	dcopy = xstrdup(path);
	in->dir = xstrdup(dirname(dcopy));
	free(dcopy);
	if (!(f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r"))) {
		px_ctl_fail(ctl, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &in->doc)) {
		px_ctl_fail(ctl, "%s line %zu: %s", path,
			    (size_t)parser.problem_mark.line + 1,
			    parser.problem ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		if (f != stdin)
			fclose(f);
		memset(&in->doc, 0, sizeof(in->doc));
		return -1;
	}
	yaml_parser_delete(&parser);
	if (f != stdin)
		fclose(f);
	root = yaml_document_get_root_node(&in->doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		bad(in, root, "expected a configuration (phalanxctl config "
		    "export writes one)");
		return -1;
	}
	c = xcalloc(1, sizeof(*c));
	phalanx__snapshot_chunk__init(c);
	c->rules_set = c->services_set = true;
	for (pr = root->data.mapping.pairs.start;
	     pr < root->data.mapping.pairs.top; pr++) {
		const char *key = text(node(in, pr->key));
		yaml_node_t *v = node(in, pr->value);
		size_t i;

		if (!key) {
			bad(in, node(in, pr->key), "expected a key");
			goto out;
		}
		if (strcmp(key, "phalanx") == 0) {
			if (!text(v) || strcmp(text(v), "1") != 0) {
				bad(in, v, "phalanx: this phalanxctl reads "
				    "format 1");
				goto out;
			}
			has_format = true;
			continue;
		}
		if (strcmp(key, "version") == 0)
			continue; /* what it was exported from: a comment */
		if (strcmp(key, "sets") == 0) {
			size_t n = v->type == YAML_MAPPING_NODE ?
				   (size_t)(v->data.mapping.pairs.top -
					    v->data.mapping.pairs.start) : 0;

			*bins = xcalloc(n + 1, sizeof(**bins));
			*bufs = xcalloc(n + 1, sizeof(**bufs));
			if (sets_from(in, v, ca, *bins, *bufs) < 0)
				goto out;
			has_sets = true;
			continue;
		}
		for (i = 0; i < 4 && strcmp(key, meta_keys[i]) != 0; i++)
			;
		if (i == 4) {
			bad(in, node(in, pr->key), "unknown key `%.40s' (want "
			    "phalanx, version, sets, limits, rules, services, "
			    "protection)", key);
			goto out;
		}
		if (field_from(in, &c->base,
			       protobuf_c_message_descriptor_get_field_by_name(
				       c->base.descriptor, key), v, 1) < 0)
			goto out;
	}
	if (!has_format || !has_sets) {
		bad(in, root, "expected the keys phalanx: 1 and sets");
		goto out;
	}
	ca->meta.len = phalanx__snapshot_chunk__get_packed_size(c);
	*meta_buf = xmalloc(ca->meta.len + 1);
	phalanx__snapshot_chunk__pack(c, *meta_buf);
	ca->meta.data = *meta_buf;
	rc = 0;
out:
	if (c)
		phalanx__snapshot_chunk__free_unpacked(c, NULL);
	return rc;
}

static void config_free(in_t *in, Phalanx__ConfigApply *ca,
			ProtobufCBinaryData **bins, uint8_t **bufs,
			uint8_t *meta_buf)
{
	size_t i;

	for (i = 0; i < ca->n_sets; i++) {
		if (bins) {
			free(bins[i]);
			free(bufs[i]);
		}
		free(ca->sets[i]);
	}
	free(ca->sets);
	free(bins);
	free(bufs);
	free(meta_buf);
	yaml_document_delete(&in->doc);
	free((char *)in->dir);
}

static int config_send(px_ctl_t *ctl, const char *path, bool apply)
{
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__ConfigApply ca = PHALANX__CONFIG_APPLY__INIT;
	Phalanx__Envelope *env = NULL;
	ProtobufCBinaryData **bins = NULL;
	uint8_t **bufs = NULL, *meta = NULL;
	in_t in;
	int rc = PX_EXIT_FAIL;

	if (config_read(ctl, path, &in, &ca, &bins, &bufs, &meta) < 0)
		goto out;
	req.set = "";
	req.config_apply = &ca;
	if (apply) {
		req.op = PHALANX__CTL_REQUEST__OP__CONFIG_APPLY;
		rc = px_ctl_write(ctl, &req, NULL, NULL);
		goto out;
	}
	req.op = PHALANX__CTL_REQUEST__OP__CONFIG_PLAN;
	if (px_ctl_request(ctl, &req, &env) < 0)
		goto out;
	if (!env->ctl_reply->diff) {
		px_ctl_fail(ctl, "the store sent no plan: is it older than "
			    "this phalanxctl?");
		goto out;
	}
	px_ctl_diff_print(ctl, env->ctl_reply->diff);
	rc = PX_EXIT_OK;
out:
	px_wire_free(env);
	config_free(&in, &ca, bins, bufs, meta);
	return rc;
}

int px_cmd_config_plan(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return config_send(ctl, argv[0], false);
}

int px_cmd_config_apply(px_ctl_t *ctl, int argc, char **argv)
{
	(void)argc;
	return config_send(ctl, argv[0], true);
}
