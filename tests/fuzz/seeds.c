/* seeds.c - writes the fuzz harnesses' seed corpora (`make fuzz-seeds`:
 * build/fuzz-seeds tests/fuzz/corpus): valid messages and files made by
 * the project's own encoders, so that a short fuzz run starts from inputs
 * that get past the decoders.  One directory per harness (corpus/NAME for
 * tests/fuzz/fuzz_NAME.c), one file per seed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec.h"
#include "outbox.h"
#include "state.h"
#include "px.h"
#include "wire.h"

static const char *root;
static int failed;

static void put(const char *dir, const char *name, const void *buf,
		size_t len, uint8_t prefix, int has_prefix)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "fuzz-seeds: mkdir %s: %s\n", path, strerror(errno));
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	f = fopen(path, "we");
	if (!f || (has_prefix && fputc(prefix, f) == EOF) ||
	    (len && fwrite(buf, 1, len, f) != len) || fclose(f)) {
		fprintf(stderr, "fuzz-seeds: write %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static void put_text(const char *dir, const char *name, const char *s)
{
	put(dir, name, s, strlen(s), 0, 0);
}

/* env packed as an "envelope" seed named name. */
static void put_env(const char *name, Phalanx__Envelope *env)
{
	size_t n;
	uint8_t *buf;

	env->proto_version = PX_PROTO_VERSION;
	n = phalanx__envelope__get_packed_size(env);
	buf = xmalloc(n);
	phalanx__envelope__pack(env, buf);
	put("envelope", name, buf, n, 0, 0);
	/* fuzz_store's inputs: a byte naming the socket (bit 0: ctl) and
	 * the connection (bits 1-2: 0 the admin, 2 member fw1), then the
	 * message. */
	if (strncmp(name, "ctl-", 4) == 0)
		put("store", name, buf, n, 1, 1);
	else if (strcmp(name, "heartbeat") == 0 ||
		 strcmp(name, "alert-batch") == 0 ||
		 strcmp(name, "log-batch") == 0 ||
		 strcmp(name, "snapshot-request") == 0)
		put("store", name, buf, n, 2 << 1, 1);
	free(buf);
}

static void put_file(const char *dir, const char *name, const char *path)
{
	uint8_t buf[1 << 16];
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		fprintf(stderr, "fuzz-seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	put(dir, name, buf, n, 0, 0);
}

static void add(px_policy_t *p, const char *set, const char *addr)
{
	px_set_t *s = px_policy_add_set(p, set);
	px_entry_t e;

	if (px_entry_parse(addr, &e) != 0) {
		fprintf(stderr, "fuzz-seeds: bad entry `%s'\n", addr);
		exit(1);
	}
	px_entries_push(&s->entries, &e);
	px_entries_normalize(&s->entries);
}

/* A policy with something in every field the codec carries. */
static void sample_policy(px_policy_t *p)
{
	Phalanx__Rule r[2] = { PHALANX__RULE__INIT, PHALANX__RULE__INIT };
	Phalanx__Rule *rv[2] = { &r[0], &r[1] };
	Phalanx__Service s = PHALANX__SERVICE__INIT, *sv = &s;
	uint8_t dst[PX_ENTRY_WIRE_MAX], host[PX_ENTRY_WIRE_MAX];
	px_entry_t e;
	int rc;

	px_policy_init(p);
	p->version = 42;
	p->epoch = 7;
	add(p, "blocklist", "192.0.2.7");
	add(p, "blocklist", "198.51.100.0/24");
	add(p, "blocklist", "2001:db8::1");
	add(p, "blocklist", "2001:db8:1::/48");
	add(p, "partners", "203.0.113.5");
	add(p, "flood-exceptions", "192.0.2.200");
	p->limits.value[PX_LIM_TCP_CONNECT_RATE] = 600;
	p->limits.mode[PX_LIM_UDP_CONCURRENT] = PX_MODE_OBSERVE;
	px_limits_set_tier(&p->limits, PX_LIM_TCP_CONCURRENT, "partners", 500);
	px_entry_parse("10.0.0.0/24", &e);
	r[0].name = "web-in";
	r[0].action = PHALANX__RULE__ACTION__ALLOW;
	r[0].proto = "tcp";
	r[0].src_set = "partners";
	r[0].dst.data = dst;
	r[0].dst.len = px_entry_encode(&e, dst);
	r[0].port = 443;
	r[1].name = "no-dns";
	r[1].action = PHALANX__RULE__ACTION__DENY;
	r[1].proto = "udp";
	r[1].src_set = "";
	r[1].port = 53;
	r[1].rate = 100;
	px_entry_parse("10.0.0.1", &e);
	s.name = "web";
	s.dst.data = host;
	s.dst.len = px_entry_encode(&e, host);
	s.port = 80;
	s.limit = 100;
	s.exempt_set = "partners";
	rc = px_policy_apply_lists(p, true, rv, 2, true, &sv, 1);
	if (rc != 0) {
		fprintf(stderr, "fuzz-seeds: sample rules: %s\n", px_strerror(rc));
		exit(1);
	}
}

struct chunks {
	int n;
	const char *prefix;
};

/* Each chunk as a "codec" seed (first byte odd: a chunk) and an
 * "envelope" seed. */
static int put_chunk(Phalanx__SnapshotChunk *c, void *arg)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	struct chunks *a = arg;
	char name[64];
	size_t n = phalanx__snapshot_chunk__get_packed_size(c);
	uint8_t *buf = xmalloc(n);

	phalanx__snapshot_chunk__pack(c, buf);
	snprintf(name, sizeof(name), "%s-%d", a->prefix, a->n);
	put("codec", name, buf, n, 1, 1);
	free(buf);
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_CHUNK;
	env.snapshot_chunk = c;
	put_env(name, &env);
	a->n++;
	return 0;
}

/* The state's records (node/state.c) in fuzz_cache's form: 2, the
 * policy record without its magic and checksum (version, epoch, chunk);
 * 3, an entry record's key length, key and value. */
static void state_seeds(const px_policy_t *p)
{
	uint8_t *rec, *buf, key[64];
	size_t len, i, n;
	uint32_t crc;

	rec = px_state_policy_encode(p, &len);
	buf = xmalloc(len);
	memcpy(buf, rec + 4, 16);
	memcpy(buf + 16, rec + 24, len - 24);
	put("cache", "state-policy", buf, len - 8, 2, 1);
	free(buf);
	free(rec);
	for (i = 0; i < p->nsets && !p->sets[i].entries.n; i++)
		;
	if (i == p->nsets)
		return;
	n = strlen(p->sets[i].name);
	key[0] = (uint8_t)(n + 1 + sizeof(px_entry_t));
	memcpy(key + 1, p->sets[i].name, n + 1);
	memcpy(key + 1 + n + 1, &p->sets[i].entries.v[0], sizeof(px_entry_t));
	crc = px_crc32c(key + 1, key[0]);
	for (n = 0; n < 4; n++)
		key[1 + key[0] + n] = (uint8_t)(crc >> (8 * n));
	put("cache", "state-entry", key, 1 + (size_t)key[0] + 4, 3, 1);
}

static void policy_seeds(const px_policy_t *p)
{
	struct chunks one = { 0, "chunk-whole" }, small = { 0, "chunk-small" };
	char path[4096];
	px_policy_t empty;

	px_policy_chunks(p, 0, put_chunk, &one);
	px_policy_chunks(p, 2, put_chunk, &small);
	snprintf(path, sizeof(path), "%s/.cache.tmpfile", root);
	if (px_policy_save(path, p) != 0) {
		fprintf(stderr, "fuzz-seeds: cannot write %s\n", path);
		exit(1);
	}
	put_file("cache", "sample", path);
	px_policy_init(&empty);
	px_policy_save(path, &empty);
	put_file("cache", "empty", path);
	px_policy_free(&empty);
	unlink(path);
	state_seeds(p);
}

static void change_seeds(const px_policy_t *p)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__Change c = PHALANX__CHANGE__INIT;
	Phalanx__SetOp op[4] = { PHALANX__SET_OP__INIT, PHALANX__SET_OP__INIT,
				 PHALANX__SET_OP__INIT, PHALANX__SET_OP__INIT };
	Phalanx__SetOp *ops[4] = { &op[0], &op[1], &op[2], &op[3] };
	const px_set_t *bl = px_policy_find(p, "blocklist");
	px_lists_t lists;
	uint8_t *buf, *packed;
	size_t n;

	c.version = 43;
	c.part = 1;
	c.nparts = 1;
	op[0].kind = PHALANX__SET_OP__KIND__CREATE;
	op[0].set = "newset";
	op[1].kind = PHALANX__SET_OP__KIND__ADD;
	op[1].set = "blocklist";
	px_wire_pack_entries(bl->entries.v, bl->entries.n, &op[1].entries, &buf);
	op[1].n_entries = bl->entries.n;
	op[2].kind = PHALANX__SET_OP__KIND__DEL;
	op[2].set = "blocklist";
	op[2].entries = op[1].entries;
	op[2].n_entries = 1;
	op[3].kind = PHALANX__SET_OP__KIND__DESTROY;
	op[3].set = "newset";
	c.sets = ops;
	c.n_sets = 4;
	px_limitops_build(&p->limits, &c.limits, &c.n_limits);
	px_lists_build(p, &lists);
	c.rules_set = true;
	c.rules = lists.rules;
	c.n_rules = lists.nrules;
	c.services_set = true;
	c.services = lists.services;
	c.n_services = lists.nservices;

	n = phalanx__change__get_packed_size(&c);
	packed = xmalloc(n);
	phalanx__change__pack(&c, packed);
	put("codec", "change-all", packed, n, 0, 1);
	free(packed);
	env.body_case = PHALANX__ENVELOPE__BODY_CHANGE;
	env.change = &c;
	put_env("change-all", &env);

	/* A small change: add two entries to blocklist. */
	c.sets = &ops[1];
	c.n_sets = 1;
	op[1].n_entries = 2;
	px_limitops_free(c.limits, c.n_limits);
	c.limits = NULL;
	c.n_limits = 0;
	c.rules_set = c.services_set = false;
	c.n_rules = c.n_services = 0;
	n = phalanx__change__get_packed_size(&c);
	packed = xmalloc(n);
	phalanx__change__pack(&c, packed);
	put("codec", "change-add", packed, n, 0, 1);
	free(packed);
	put_env("change-add", &env);

	px_lists_free(&lists);
	free(op[1].entries);
	free(buf);
}

static void store_message_seeds(void)
{
	Phalanx__Envelope env = PHALANX__ENVELOPE__INIT;
	Phalanx__Heartbeat hb = PHALANX__HEARTBEAT__INIT;
	Phalanx__QuotaCount q = PHALANX__QUOTA_COUNT__INIT, *qv = &q;
	Phalanx__AlertBatch ab = PHALANX__ALERT_BATCH__INIT;
	Phalanx__Alert al[2] = { PHALANX__ALERT__INIT, PHALANX__ALERT__INIT };
	Phalanx__Alert *alv[2] = { &al[0], &al[1] };
	Phalanx__LogBatch lb = PHALANX__LOG_BATCH__INIT;
	Phalanx__LogRecord lr = PHALANX__LOG_RECORD__INIT, *lrv = &lr;
	Phalanx__CtlRequest req = PHALANX__CTL_REQUEST__INIT;
	Phalanx__LimitOp lop = PHALANX__LIMIT_OP__INIT;
	Phalanx__Rule rule = PHALANX__RULE__INIT;
	Phalanx__Service svc = PHALANX__SERVICE__INIT;
	Phalanx__StoreHeartbeat shb = PHALANX__STORE_HEARTBEAT__INIT;
	Phalanx__AlertAck ack = PHALANX__ALERT_ACK__INIT;
	Phalanx__SnapshotRequest sr = PHALANX__SNAPSHOT_REQUEST__INIT;
	char *ids[2] = { "fw1:3:1", "fw1:3:2" }, *disabled[1] = { "events-lost" };
	ProtobufCBinaryData src[2];
	uint8_t w[2][PX_ENTRY_WIRE_MAX];
	px_entry_t e;

	px_entry_parse("198.51.100.9", &e);
	src[0].data = w[0];
	src[0].len = px_entry_encode(&e, w[0]);
	px_entry_parse("2001:db8::9", &e);
	src[1].data = w[1];
	src[1].len = px_entry_encode(&e, w[1]);

	hb.member = "fw1";
	hb.applied_version = 42;
	hb.health = PHALANX__HEARTBEAT__HEALTH__DEGRADED;
	hb.detail = "conntrack table 91% full";
	q.quota = "tcp-connect-rate";
	q.blocked = 3;
	q.would_block = 1;
	q.sources = src;
	q.n_sources = 2;
	hb.quotas = &qv;
	hb.n_quotas = 1;
	hb.ct_count = 900;
	hb.ct_max = 1000;
	env.body_case = PHALANX__ENVELOPE__BODY_HEARTBEAT;
	env.heartbeat = &hb;
	put_env("heartbeat", &env);

	al[0].id = "fw1:3:1";
	al[0].member = "fw1";
	al[0].time_ms = 1700000000000ULL;
	al[0].type = "tcp-connect-rate";
	al[0].state = "exceeded";
	al[0].source = src[0];
	al[0].count = 700;
	al[0].limit = 600;
	al[0].text = "198.51.100.9 opened 700 connections in a minute";
	al[1].id = "fw1:3:2";
	al[1].member = "fw1";
	al[1].type = "events-lost";
	al[1].state = "info";
	al[1].text = "lost 5 events";
	al[1].suppressed = 2;
	ab.alerts = alv;
	ab.n_alerts = 2;
	env.body_case = PHALANX__ENVELOPE__BODY_ALERT_BATCH;
	env.alert_batch = &ab;
	put_env("alert-batch", &env);

	lr.seq = 1;
	lr.member = "fw1";
	lr.time_ms = 1700000000000ULL;
	lr.type = "denied";
	lr.source = src[0];
	lr.dest = src[1];
	lr.quota = "tcp-connect-rate";
	lr.result = "blocked";
	lr.json = "{\"type\":\"denied\"}";
	lr.text = "denied 198.51.100.9";
	lb.records = &lrv;
	lb.n_records = 1;
	lb.lost = 4;
	lb.member = "fw1";
	env.body_case = PHALANX__ENVELOPE__BODY_LOG_BATCH;
	env.log_batch = &lb;
	put_env("log-batch", &env);

	req.op = PHALANX__CTL_REQUEST__OP__SET_ADD;
	req.set = "blocklist";
	req.entries = src;
	req.n_entries = 2;
	env.body_case = PHALANX__ENVELOPE__BODY_CTL_REQUEST;
	env.ctl_request = &req;
	put_env("ctl-set-add", &env);
	req.op = PHALANX__CTL_REQUEST__OP__LIMIT_SET;
	req.n_entries = 0;
	lop.name = "tcp-concurrent";
	lop.tier = "partners";
	lop.value = 50;
	lop.mode = "observe";
	req.limit = &lop;
	put_env("ctl-limit-set", &env);
	req.op = PHALANX__CTL_REQUEST__OP__RULE_ADD;
	req.limit = NULL;
	rule.name = "no-dns";
	rule.action = PHALANX__RULE__ACTION__DENY;
	rule.proto = "udp";
	rule.src_set = "flood-exceptions";
	rule.dst = src[0];
	rule.port = 53;
	req.rule = &rule;
	put_env("ctl-rule-add", &env);
	req.op = PHALANX__CTL_REQUEST__OP__SERVICE_ADD;
	req.rule = NULL;
	svc.name = "web";
	svc.dst = src[0];
	svc.port = 80;
	svc.limit = 100;
	svc.exempt_set = "flood-exceptions";
	req.service = &svc;
	put_env("ctl-service-add", &env);

	/* Writes as the store takes them: one Operation each. */
	{
		Phalanx__CtlRequest w = PHALANX__CTL_REQUEST__INIT;
		Phalanx__Operation o = PHALANX__OPERATION__INIT;
		Phalanx__SetEntries se = PHALANX__SET_ENTRIES__INIT;
		Phalanx__SetName sn = PHALANX__SET_NAME__INIT;
		Phalanx__RuleAdd ra = PHALANX__RULE_ADD__INIT;
		Phalanx__KeyAdd ka = PHALANX__KEY_ADD__INIT;

		o.request_id = "0123456789abcdef0123456789abcdef";
		w.operation = &o;
		env.ctl_request = &w;
		se.set = "flood-exceptions";
		se.entries = src;
		se.n_entries = 2;
		o.op_case = PHALANX__OPERATION__OP_SET_ADD;
		o.set_add = &se;
		put_env("ctl-op-set-add", &env);
		o.op_case = PHALANX__OPERATION__OP_SET_DEL;
		o.set_del = &se;
		put_env("ctl-op-set-del", &env);
		o.op_case = PHALANX__OPERATION__OP_SET_IMPORT;
		o.set_import = &se;
		put_env("ctl-op-set-import", &env);
		sn.set = "partners";
		o.op_case = PHALANX__OPERATION__OP_SET_CREATE;
		o.set_create = &sn;
		put_env("ctl-op-set-create", &env);
		o.op_case = PHALANX__OPERATION__OP_SET_DESTROY;
		o.set_destroy = &sn;
		put_env("ctl-op-set-destroy", &env);
		o.op_case = PHALANX__OPERATION__OP_LIMIT_SET;
		o.limit_set = &lop;
		put_env("ctl-op-limit-set", &env);
		ra.rule = &rule;
		o.op_case = PHALANX__OPERATION__OP_RULE_ADD;
		o.rule_add = &ra;
		put_env("ctl-op-rule-add", &env);
		o.op_case = PHALANX__OPERATION__OP_SERVICE_ADD;
		o.service_add = &svc;
		put_env("ctl-op-service-add", &env);
		ka.name = "ops-anna";
		ka.key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
		ka.role = "operator";
		o.op_case = PHALANX__OPERATION__OP_ADMIN_ADD;
		o.admin_add = &ka;
		put_env("ctl-op-admin-add", &env);
		env.ctl_request = &req;
	}

	shb.version = 42;
	shb.time_ms = 1700000000000ULL;
	shb.alerts_disabled = disabled;
	shb.n_alerts_disabled = 1;
	env.body_case = PHALANX__ENVELOPE__BODY_STORE_HEARTBEAT;
	env.store_heartbeat = &shb;
	put_env("store-heartbeat", &env);
	ack.ids = ids;
	ack.n_ids = 2;
	env.body_case = PHALANX__ENVELOPE__BODY_ALERT_ACK;
	env.alert_ack = &ack;
	put_env("alert-ack", &env);
	sr.member = "fw1";
	env.body_case = PHALANX__ENVELOPE__BODY_SNAPSHOT_REQUEST;
	env.snapshot_request = &sr;
	put_env("snapshot-request", &env);
}

/* An outbox record of the state as a seed: 1 (odd: a record), the key,
 * the value.  The files of older members ("empty", "three") stay in the
 * corpus as they were written. */
static int put_outbox_record(const uint8_t *key, size_t klen,
			     const uint8_t *val, size_t vlen, void *arg)
{
	int *k = arg;
	uint8_t *buf = xmalloc(klen + vlen);
	char name[32];

	memcpy(buf, key, klen);
	memcpy(buf + klen, val, vlen);
	snprintf(name, sizeof(name), "record-%d", (*k)++);
	put("outbox", name, buf, klen + vlen, 1, 1);
	free(buf);
	return 0;
}

static void outbox_seeds(void)
{
	char dir[4096], why[200];
	px_state_t *st;
	px_outbox_t *o;
	px_alert_t a;
	int i, k = 0;

	snprintf(dir, sizeof(dir), "%s/.outbox.state", root);
	if (px_state_open(&st, dir, why, sizeof(why)) != 0) {
		fprintf(stderr, "fuzz-seeds: state %s: %s\n", dir, why);
		exit(1);
	}
	px_outbox_open(&o, st, NULL, "fw1", 0);
	for (i = 0; i < 3; i++) {
		memset(&a, 0, sizeof(a));
		snprintf(a.type, sizeof(a.type), "tcp-connect-rate");
		a.state = i == 2 ? PX_ALERT_RECOVERED : PX_ALERT_EXCEEDED;
		a.has_source = true;
		px_entry_parse(i ? "2001:db8::5" : "198.51.100.5", &a.source);
		a.count = 700;
		a.limit = 600;
		a.time_ms = 1700000000000ULL + (uint64_t)i;
		snprintf(a.text, sizeof(a.text), "alert %d", i);
		px_outbox_add(o, &a, NULL, 0);
	}
	if (px_outbox_flush(o) != 0 ||
	    px_state_each(st, PX_STATE_OUTBOX, put_outbox_record, &k) != 0)
		failed = 1;
	px_outbox_close(o);
	px_state_close(st);
	snprintf(why, sizeof(why), "rm -rf '%.150s'", dir);
	if (system(why) != 0)
		failed = 1;
}

static void text_seeds(void)
{
	uint8_t w[PX_ENTRY_WIRE_MAX];
	px_entry_t e;

	put_text("config", "store", "# phalanx-store\ndb = /var/lib/phalanx\n"
		 "listen = tcp://192.0.2.10:7700\n\nmember-timeout = 3000\n");
	put_text("config", "node", "id=fw1\r\n  store =\ttcp://[2001:db8::10]:7700  \n"
		 "cache = /var/cache/phalanx/policy\nverbose = 1\n");
	put_text("config", "bad", "id fw1\n");
	put_text("entry", "v4", "192.0.2.1");
	put_text("entry", "v4-prefix", "198.51.100.0/24");
	put_text("entry", "v6", "2001:db8::1");
	put_text("entry", "v6-prefix", "2001:db8:aa::/48");
	px_entry_parse("2001:db8:aa::/48", &e);
	put("entry", "wire-v6-prefix", w, px_entry_encode(&e, w), 0, 0);
}

int main(int argc, char **argv)
{
	px_policy_t p;

	if (argc != 2) {
		fprintf(stderr, "usage: fuzz-seeds CORPUS-DIR\n");
		return 2;
	}
	root = argv[1];
	if (mkdir(root, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "fuzz-seeds: mkdir %s: %s\n", root, strerror(errno));
		return 1;
	}
	px_log_init("fuzz-seeds", 0);
	sample_policy(&p);
	policy_seeds(&p);
	change_seeds(&p);
	store_message_seeds();
	outbox_seeds();
	text_seeds();
	px_policy_free(&p);
	return failed;
}
