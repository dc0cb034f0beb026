/* test_keys.c - key files (lib/keys.c): a generated secret is written
 * 0600 and reads back to the same pair; a group- or other-readable
 * secret is refused naming the file and the fix; bad key text and an
 * existing --out file are refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keys.h"
#include "px.h"
#include "unit.h"

static void tmpname(char *out, size_t len, const char *what)
{
	snprintf(out, len, "/tmp/px-unit-keys-%d-%s", (int)getpid(), what);
	unlink(out);
}

TEST(keys_gen_writes_0600_and_reads_back)
{
	char path[128], err[512];
	px_keypair_t kp, back;
	struct stat sb;

	tmpname(path, sizeof(path), "gen");
	CHECK_INT(px_key_gen(&kp, path, err, sizeof(err)), 0);
	CHECK(stat(path, &sb) == 0);
	CHECK_INT((int)(sb.st_mode & 0777), 0600);
	CHECK_INT(px_key_secret_load(path, &back, err, sizeof(err)), 0);
	CHECK_STR(back.pub, kp.pub);
	CHECK_STR(back.sec, kp.sec);
	CHECK(px_key_valid(kp.pub));
	/* Never over an existing file. */
	CHECK_INT(px_key_gen(&kp, path, err, sizeof(err)), -EEXIST);
	unlink(path);
}

TEST(keys_secret_readable_by_others_refused)
{
	char path[128], err[512], want[256];
	px_keypair_t kp;

	tmpname(path, sizeof(path), "loose");
	CHECK_INT(px_key_gen(&kp, path, err, sizeof(err)), 0);
	CHECK(chmod(path, 0644) == 0);
	CHECK_INT(px_key_secret_load(path, &kp, err, sizeof(err)), -EPERM);
	snprintf(want, sizeof(want), "chmod 600 %s", path);
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "mode 0644") != NULL);
	CHECK(chmod(path, 0640) == 0);
	CHECK_INT(px_key_secret_load(path, &kp, err, sizeof(err)), -EPERM);
	/* A public key file may be world-readable. */
	CHECK_INT(px_key_public_load(path, kp.pub, err, sizeof(err)), 0);
	unlink(path);
}

TEST(keys_bad_text_refused)
{
	char path[128], err[512], pub[PX_KEY_Z85_LEN + 1];
	FILE *f;

	tmpname(path, sizeof(path), "bad");
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("# a comment\nnot a key\n", f);
	fclose(f);
	CHECK_INT(px_key_public_load(path, pub, err, sizeof(err)), PX_EBADREQ);
	CHECK(strstr(err, path) != NULL);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("# only a comment\n", f);
	fclose(f);
	CHECK_INT(px_key_public_load(path, pub, err, sizeof(err)), PX_EBADREQ);
	CHECK(!px_key_valid("short"));
	CHECK(!px_key_valid(NULL));
	unlink(path);
}

/* The stores' keys (each store its own pair): one file or a list; a
 * member's list must match its store count; phalanxctl's (nstores 0)
 * is a set of any length; the key for store i is the only one or the
 * i-th. */
TEST(keys_store_list_loaded_and_matched)
{
	char a[128], b[128], list[300], err[512];
	px_store_key_t pubs[PX_STORE_KEYS_MAX];
	px_keypair_t ka, kb;
	size_t n;
	FILE *f;

	tmpname(a, sizeof(a), "sa");
	tmpname(b, sizeof(b), "sb");
	CHECK_INT(px_key_gen(&ka, NULL, err, sizeof(err)), 0);
	CHECK_INT(px_key_gen(&kb, NULL, err, sizeof(err)), 0);
	CHECK((f = fopen(a, "w")) != NULL);
	fprintf(f, "%s\n", ka.pub);
	fclose(f);
	CHECK((f = fopen(b, "w")) != NULL);
	fprintf(f, "%s\n", kb.pub);
	fclose(f);
	snprintf(list, sizeof(list), "%s,%s", a, b);
	CHECK_INT(px_store_keys_load(list, 2, pubs, &n, err, sizeof(err)), 0);
	CHECK_INT(n, 2);
	CHECK_STR(px_store_key_for(pubs, n, 0), ka.pub);
	CHECK_STR(px_store_key_for(pubs, n, 1), kb.pub);
	CHECK(px_store_key_for(pubs, n, 2) == NULL);
	/* a member with three stores and two keys: refused, named */
	CHECK_INT(px_store_keys_load(list, 3, pubs, &n, err, sizeof(err)),
		  PX_EBADREQ);
	CHECK(strstr(err, "2 key files for 3 stores") != NULL);
	/* phalanxctl: a set */
	CHECK_INT(px_store_keys_load(list, 0, pubs, &n, err, sizeof(err)), 0);
	/* one key: every store's */
	CHECK_INT(px_store_keys_load(a, 3, pubs, &n, err, sizeof(err)), 0);
	CHECK_STR(px_store_key_for(pubs, n, 2), ka.pub);
	snprintf(list, sizeof(list), "%s,", a);
	CHECK_INT(px_store_keys_load(list, 0, pubs, &n, err, sizeof(err)),
		  PX_EBADREQ);
	CHECK_INT(px_list_count("a,,b,"), 2);
	unlink(a);
	unlink(b);
}
