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
