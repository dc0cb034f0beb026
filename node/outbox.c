/* outbox.c - the member's durable alert queue in its state (see
 * outbox.h; records through state.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "outbox.h"
#include "px.h"

#define MAGIC "PXOUTBOX1\n"
#define MAGIC_LEN 10
/* A packed Alert is a few hundred bytes (the text is at most 200);
 * anything far larger is corruption. */
#define RECORD_MAX 4096
#define ID_MAX 96

struct item {
	Phalanx__Alert *a;  /* owned: phalanx__alert__free_unpacked */
	uint64_t boot, seq;
	uint64_t sent_ms;   /* 0: never */
	bool acked;
	bool stored;        /* its record is in the state */
};

struct px_outbox {
	px_state_t *st;     /* NULL: in memory only */
	char *legacy;       /* an older member's file, renamed once written */
	char member[64];
	size_t max;
	uint64_t boot, seq;
	struct item *v;
	size_t n, cap;
	struct { uint8_t k[16]; } *del; /* records to delete at the flush */
	size_t ndel, delcap, bad;
	uint64_t bad_boot;
	bool dirty, boot_dirty, failing, full;
	uint64_t dropped, dropped_logged;
};

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* "member:boot:seq" -> boot, seq; false if it is not such an id. */
static bool id_parse(const char *id, uint64_t *boot, uint64_t *seq)
{
	const char *c2 = strrchr(id, ':'), *c1;
	char num[24];

	if (!c2 || c2 == id)
		return false;
	for (c1 = c2 - 1; c1 > id && *c1 != ':'; c1--)
		;
	if (*c1 != ':' || (size_t)(c2 - c1 - 1) >= sizeof(num))
		return false;
	memcpy(num, c1 + 1, (size_t)(c2 - c1 - 1));
	num[c2 - c1 - 1] = '\0';
	return px_parse_u64(num, 0, UINT64_MAX, boot) == 0 &&
	       px_parse_u64(c2 + 1, 0, UINT64_MAX, seq) == 0;
}

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->boot != y->boot)
		return x->boot < y->boot ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void push(px_outbox_t *o, Phalanx__Alert *a, uint64_t boot,
		 uint64_t seq)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 64;
		o->v = xrealloc(o->v, o->cap * sizeof(*o->v));
	}
	o->v[o->n++] = (struct item){ a, boot, seq, 0, false, false };
}

/* Parse the file in buf; items are appended to o, *boot set.  0 or
 * PX_EDECODE (what was parsed before the damage is dropped again). */
static int parse(px_outbox_t *o, const uint8_t *buf, size_t len,
		 uint64_t *boot)
{
	size_t off = MAGIC_LEN + 12, n0 = o->n, i;
	uint32_t count;
	uint64_t sum;

	if (len < off + 8 || memcmp(buf, MAGIC, MAGIC_LEN) != 0)
		return PX_EDECODE;
	memcpy(boot, buf + MAGIC_LEN, 8);
	memcpy(&sum, buf + len - 8, 8);
	if (fnv1a(buf, len - 8) != sum)
		return PX_EDECODE;
	memcpy(&count, buf + MAGIC_LEN + 8, 4);
	for (i = 0; i < count; i++) {
		Phalanx__Alert *a;
		uint64_t b, s;
		uint32_t rl;

		if (off + 4 > len - 8)
			goto bad;
		memcpy(&rl, buf + off, 4);
		off += 4;
		if (rl > RECORD_MAX || off + rl > len - 8)
			goto bad;
		a = phalanx__alert__unpack(NULL, rl, buf + off);
		off += rl;
		if (!a)
			goto bad;
		if (!id_parse(a->id, &b, &s)) {
			phalanx__alert__free_unpacked(a, NULL);
			goto bad;
		}
		push(o, a, b, s);
	}
	if (off != len - 8)
		goto bad;
	return 0;
bad:
	while (o->n > n0)
		phalanx__alert__free_unpacked(o->v[--o->n].a, NULL);
	return PX_EDECODE;
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat sb;
	ssize_t r;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		goto out;
	}
	/* The queue is bounded: a file past that is not ours. */
	if (sb.st_size > (off_t)PX_OUTBOX_MAX * 8 * RECORD_MAX) {
		rc = PX_EDECODE;
		goto out;
	}
	*buf = xmalloc((size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size) {
		r = read(fd, *buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			rc = r < 0 ? -errno : PX_EDECODE;
			goto out;
		}
		got += (size_t)r;
	}
	*len = got;
out:
	close(fd);
	if (rc < 0) {
		free(*buf);
		*buf = NULL;
	}
	return rc;
}

/* Outbox records: key boot and seq (big-endian, so LMDB's order is the
 * queue's), value the CRC-32C of the packed Alert, then the Alert. */
#define KEY_LEN 16
#define BOOT_KEY "outbox-boot"

static void key_of(uint64_t boot, uint64_t seq, uint8_t *k)
{
	for (int i = 0; i < 8; i++) {
		k[i] = (uint8_t)(boot >> (56 - 8 * i));
		k[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
	}
}

static uint32_t le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

static void put_le32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

int px_outbox_record_decode(const uint8_t *key, size_t klen,
			    const uint8_t *val, size_t vlen,
			    Phalanx__Alert **out)
{
	uint8_t want[KEY_LEN];
	Phalanx__Alert *a;
	uint64_t b, s;

	*out = NULL;
	if (klen != KEY_LEN || vlen < 4 || vlen - 4 > RECORD_MAX ||
	    le32(val) != px_crc32c(val + 4, vlen - 4))
		return PX_EDECODE;
	a = phalanx__alert__unpack(NULL, vlen - 4, val + 4);
	if (!a)
		return PX_EDECODE;
	if (!id_parse(a->id, &b, &s) || (key_of(b, s, want),
					 memcmp(want, key, KEY_LEN) != 0)) {
		phalanx__alert__free_unpacked(a, NULL);
		return PX_EDECODE;
	}
	*out = a;
	return 0;
}

static void forget_later(px_outbox_t *o, uint64_t boot, uint64_t seq)
{
	if (o->ndel == o->delcap) {
		o->delcap = o->delcap ? 2 * o->delcap : 64;
		o->del = xrealloc(o->del, o->delcap * sizeof(*o->del));
	}
	key_of(boot, seq, o->del[o->ndel++].k);
	o->dirty = true;
}

static int load_record(const uint8_t *key, size_t klen, const uint8_t *val,
		       size_t vlen, void *arg)
{
	px_outbox_t *o = arg;
	Phalanx__Alert *a;
	uint64_t b, s;

	if (o->n >= o->max || px_outbox_record_decode(key, klen, val, vlen,
						      &a) < 0) {
		/* Damaged, or past the bound: dropped, and deleted at
		 * the next flush. */
		if (klen == KEY_LEN) {
			uint64_t kb = 0, ks = 0;

			for (int i = 0; i < 8; i++) {
				kb = kb << 8 | key[i];
				ks = ks << 8 | key[8 + i];
			}
			forget_later(o, kb, ks);
			if (kb > o->bad_boot)
				o->bad_boot = kb;
		}
		o->bad++;
		return 0;
	}
	id_parse(a->id, &b, &s);
	push(o, a, b, s);
	o->v[o->n - 1].stored = true;
	return 0;
}

/* A file of an older member ("<cache>.alerts"): its alerts join the
 * queue, to be written in the state at the first flush.  The boot it had
 * or, for a damaged file, the clock. */
static void load_legacy(px_outbox_t *o, const char *path, uint64_t *boot)
{
	uint8_t *buf = NULL;
	size_t len = 0, n0 = o->n;
	uint64_t b = 0;
	int rc = read_file(path, &buf, &len);

	if (rc == 0)
		rc = parse(o, buf, len, &b);
	free(buf);
	if (rc == -ENOENT)
		return;
	if (rc < 0) {
		b = (uint64_t)px_now_ms() / 1000;
		px_log(PX_LOG_ERR, "alert outbox file %s of an older member "
		       "unreadable (%s): its alerts are lost, boot from the "
		       "clock (%" PRIu64 ")", path, px_strerror(rc), b);
	} else {
		px_log(PX_LOG_INFO, "alert outbox file %s of an older member: "
		       "%zu alerts taken into the state", path, o->n - n0);
	}
	if (b > *boot)
		*boot = b;
	o->legacy = xstrdup(path);
}

int px_outbox_open(px_outbox_t **out, px_state_t *st, const char *legacy,
		   const char *member, size_t max)
{
	px_outbox_t *o = xcalloc(1, sizeof(*o));
	uint8_t *rec = NULL;
	uint64_t boot = 0;
	size_t len = 0, i;
	int rc = 0;

	o->st = st;
	snprintf(o->member, sizeof(o->member), "%s", member);
	o->max = max ? max : PX_OUTBOX_MAX;
	*out = o;
	if (!st) {
		rc = PX_EDB;
	} else {
		rc = px_state_get(st, PX_STATE_META, BOOT_KEY,
				  sizeof(BOOT_KEY) - 1, &rec, &len);
		if (rc == 0 && len == 12 &&
		    le32(rec + 8) == px_crc32c(rec, 8)) {
			memcpy(&boot, rec, 8);
		} else {
			/* Ids must not repeat, also when the state is new
			 * because an earlier one was lost or set aside:
			 * the clock is past any counter. */
			boot = (uint64_t)px_now_ms() / 1000;
			px_log(rc == -ENOENT ? PX_LOG_INFO : PX_LOG_ERR,
			       "alert outbox in %s: %s: boot from the clock, %"
			       PRIu64, px_state_dir(st), rc == -ENOENT ?
			       "no boot record (a new state)" : rc < 0 ?
			       px_strerror(rc) : "boot record damaged", boot);
		}
		free(rec);
		rc = px_state_each(st, PX_STATE_OUTBOX, load_record, o);
		if (rc < 0)
			px_log(PX_LOG_ERR, "alert outbox in %s unreadable: %s",
			       px_state_dir(st), px_strerror(rc));
		if (o->bad) {
			px_log(PX_LOG_ERR, "alert outbox in %s: %zu damaged or "
			       "excess records dropped", px_state_dir(st),
			       o->bad);
			if (o->bad_boot > boot)
				boot = o->bad_boot;
		}
	}
	if (legacy)
		load_legacy(o, legacy, &boot);
	if (o->n) /* qsort(NULL, 0) is undefined */
		qsort(o->v, o->n, sizeof(*o->v), item_cmp);
	while (o->n > o->max) /* a legacy file on top of the state */
		phalanx__alert__free_unpacked(o->v[--o->n].a, NULL);
	for (i = 0; i < o->n; i++)
		if (o->v[i].boot > boot)
			boot = o->v[i].boot;
	o->boot = boot + 1;
	o->dirty = o->boot_dirty = true;
	if (o->n)
		px_log(PX_LOG_INFO, "alert outbox: %zu alerts still to "
		       "deliver to the store", o->n);
	/* The new boot is on disk before any id of it goes out.  If it
	 * cannot be, a restart could read the old boot again and reuse ids
	 * the store has seen (and would drop as duplicates): take a boot no
	 * earlier one can have, the time in seconds. */
	if (px_outbox_flush(o) < 0) {
		uint64_t t = (uint64_t)time(NULL);

		if (t > o->boot)
			o->boot = t;
		if (rc == 0)
			rc = -EIO;
	}
	return rc;
}

void px_outbox_close(px_outbox_t *o)
{
	size_t i;

	if (!o)
		return;
	for (i = 0; i < o->n; i++)
		phalanx__alert__free_unpacked(o->v[i].a, NULL);
	free(o->v);
	free(o->del);
	free(o->legacy);
	free(o);
}

uint64_t px_outbox_boot(const px_outbox_t *o)
{
	return o->boot;
}

size_t px_outbox_len(const px_outbox_t *o)
{
	return o->n;
}

uint64_t px_outbox_dropped(const px_outbox_t *o)
{
	return o->dropped;
}

int px_outbox_add(px_outbox_t *o, const px_alert_t *in, char *id, size_t len)
{
	Phalanx__Alert a = PHALANX__ALERT__INIT, *copy;
	uint8_t src[PX_ENTRY_WIRE_MAX], *buf;
	char idbuf[ID_MAX];
	size_t n;

	if (o->n >= o->max) {
		if (!o->full)
			px_log(PX_LOG_ERR, "alert outbox full (%zu alerts waiting "
			       "for the store): dropping new alerts until it "
			       "takes some", o->n);
		o->full = true;
		o->dropped++;
		return PX_ERANGE;
	}
	if (o->full) {
		px_log(PX_LOG_WARN, "alert outbox has room again: %" PRIu64
		       " alerts were dropped while it was full",
		       o->dropped - o->dropped_logged);
		o->dropped_logged = o->dropped;
		o->full = false;
	}
	snprintf(idbuf, sizeof(idbuf), "%s:%" PRIu64 ":%" PRIu64, o->member,
		 o->boot, ++o->seq);
	a.id = idbuf;
	a.member = o->member;
	a.time_ms = in->time_ms;
	a.type = (char *)in->type;
	a.state = (char *)px_alert_state_name(in->state);
	if (in->has_source) {
		a.source.len = px_entry_encode(&in->source, src);
		a.source.data = src;
	}
	a.count = in->count;
	a.limit = in->limit;
	a.text = (char *)in->text;
	a.suppressed = in->suppressed;
	a.active = in->state == PX_ALERT_EXCEEDED;
	/* Packed and unpacked: the queue owns a message protobuf-c frees. */
	n = phalanx__alert__get_packed_size(&a);
	buf = xmalloc(n);
	phalanx__alert__pack(&a, buf);
	copy = phalanx__alert__unpack(NULL, n, buf);
	free(buf);
	if (!copy)
		abort(); /* only out-of-memory */
	push(o, copy, o->boot, o->seq);
	o->dirty = true;
	if (id)
		snprintf(id, len, "%s", idbuf);
	return 0;
}

int px_outbox_flush(px_outbox_t *o)
{
	px_state_txn_t *t = NULL;
	uint8_t key[KEY_LEN], *buf = NULL, boot[12];
	size_t i, cap = 0;
	int rc = 0;

	if (!o->dirty)
		return 0;
	if (!o->st) {
		rc = PX_EDB;
		goto out;
	}
	if ((rc = px_state_begin(o->st, &t)) < 0)
		goto out;
	if (o->boot_dirty) {
		memcpy(boot, &o->boot, 8);
		put_le32(boot + 8, px_crc32c(boot, 8));
		rc = px_state_put(t, PX_STATE_META, BOOT_KEY,
				  sizeof(BOOT_KEY) - 1, boot, sizeof(boot));
	}
	for (i = 0; i < o->ndel && rc == 0; i++)
		rc = px_state_del(t, PX_STATE_OUTBOX, o->del[i].k, KEY_LEN);
	for (i = 0; i < o->n && rc == 0; i++) {
		struct item *it = &o->v[i];
		size_t n;

		if (it->stored)
			continue;
		n = phalanx__alert__get_packed_size(it->a);
		if (4 + n > cap) {
			cap = 4 + n;
			buf = xrealloc(buf, cap);
		}
		phalanx__alert__pack(it->a, buf + 4);
		put_le32(buf, px_crc32c(buf + 4, n));
		key_of(it->boot, it->seq, key);
		rc = px_state_put(t, PX_STATE_OUTBOX, key, KEY_LEN, buf, 4 + n);
	}
	if (rc == 0) {
		rc = px_state_commit(t);
		t = NULL;
	}
	if (rc == 0) {
		for (i = 0; i < o->n; i++)
			o->v[i].stored = true;
		o->ndel = 0;
		o->boot_dirty = false;
		if (o->legacy) {
			char done[4200];

			snprintf(done, sizeof(done), "%s.migrated", o->legacy);
			if (rename(o->legacy, done) < 0 && errno != ENOENT)
				px_log(PX_LOG_ERR, "alert outbox: rename %s to "
				       "%s: %s", o->legacy, done, strerror(errno));
			free(o->legacy);
			o->legacy = NULL;
		}
	}
out:
	px_state_abort(t);
	free(buf);
	if (rc < 0 && !o->failing)
		px_log(PX_LOG_ERR, "alert outbox in %s not written: %s (alerts "
		       "are kept in memory and still sent)",
		       o->st ? px_state_dir(o->st) : "(no state)",
		       px_strerror(rc));
	else if (rc == 0 && o->failing)
		px_log(PX_LOG_INFO, "alert outbox in %s written again",
		       px_state_dir(o->st));
	o->failing = rc < 0;
	if (rc == 0)
		o->dirty = false;
	return rc;
}

static struct item *find(px_outbox_t *o, uint64_t boot, uint64_t seq)
{
	struct item key = { NULL, boot, seq, 0, false, false };

	return bsearch(&key, o->v, o->n, sizeof(*o->v), item_cmp);
}

size_t px_outbox_ack(px_outbox_t *o, char *const *ids, size_t n)
{
	size_t i, j, k = 0;

	for (i = 0; i < n; i++) {
		struct item *it;
		uint64_t b, s;

		if (!id_parse(ids[i], &b, &s) || !(it = find(o, b, s)) ||
		    it->acked || strcmp(it->a->id, ids[i]) != 0)
			continue;
		it->acked = true;
		k++;
	}
	if (!k)
		return 0;
	for (i = j = 0; i < o->n; i++) {
		if (o->v[i].acked && o->v[i].stored)
			forget_later(o, o->v[i].boot, o->v[i].seq);
		if (o->v[i].acked)
			phalanx__alert__free_unpacked(o->v[i].a, NULL);
		else
			o->v[j++] = o->v[i];
	}
	o->n = j;
	o->dirty = true;
	return k;
}

size_t px_outbox_due(px_outbox_t *o, uint64_t now, uint64_t resend_ms,
		     Phalanx__Alert **v, size_t max)
{
	size_t i, k = 0;

	for (i = 0; i < o->n && k < max; i++) {
		struct item *it = &o->v[i];

		if (it->sent_ms && now - it->sent_ms < resend_ms)
			continue;
		it->sent_ms = now ? now : 1;
		v[k++] = it->a;
	}
	return k;
}

void px_outbox_resend_all(px_outbox_t *o)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		o->v[i].sent_ms = 0;
}
