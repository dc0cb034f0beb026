/* keys.c - CurveZMQ key files and the socket options that use them. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "keys.h"
#include "px.h"

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* libzmq >= 4.3, a draft option there */
#endif

/* A key file is one key and maybe comments: 4 KiB is plenty, and a
 * bigger file is not a key file. */
#define KEYFILE_MAX 4096

bool px_key_valid(const char *s)
{
	uint8_t raw[32];

	return s && strlen(s) == PX_KEY_Z85_LEN &&
	       zmq_z85_decode(raw, s) != NULL;
}

/* Read path and return its one key line in out. */
static int read_key(const char *path, bool secret, char *out, char *err,
		    size_t errlen)
{
	char buf[KEYFILE_MAX + 1], *line, *save = NULL;
	struct stat sb;
	ssize_t n;
	int fd, rc, found = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return px_refuse(err, errlen, -errno, "cannot read key file %s: %s",
			    path, strerror(errno));
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = px_refuse(err, errlen, -EINVAL, "key file %s is not a regular "
			  "file", path);
		goto out;
	}
	if (secret && (sb.st_mode & 077)) {
		rc = px_refuse(err, errlen, -EPERM, "secret key file %s has mode "
			  "%04o: group or others may read it; refusing to use "
			  "it (fix: chmod 600 %s)", path,
			  (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	n = read(fd, buf, KEYFILE_MAX + 1);
	if (n < 0 || n > KEYFILE_MAX) {
		rc = px_refuse(err, errlen, n < 0 ? -errno : PX_ETOOBIG,
			  "key file %s: %s", path, n < 0 ? strerror(errno) :
			  "larger than 4 KiB, not a key file");
		goto out;
	}
	buf[n] = '\0';
	for (line = strtok_r(buf, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		if (found++ || !px_key_valid(line)) {
			rc = px_refuse(err, errlen, PX_EBADREQ, "key file %s: not "
				  "one z85 %s key of 40 characters (write it "
				  "with `phalanxctl keys gen')", path,
				  secret ? "secret" : "public");
			goto out;
		}
		memcpy(out, line, PX_KEY_Z85_LEN + 1);
	}
	rc = found ? 0 : px_refuse(err, errlen, PX_EBADREQ, "key file %s holds "
			      "no key", path);
out:
	close(fd);
	return rc;
}

int px_key_secret_load(const char *path, px_keypair_t *kp, char *err,
		       size_t errlen)
{
	int rc = read_key(path, true, kp->sec, err, errlen);

	if (rc < 0)
		return rc;
	if (zmq_curve_public(kp->pub, kp->sec) != 0)
		return px_refuse(err, errlen, -errno, "key file %s: %s", path,
			    zmq_strerror(errno));
	return 0;
}

int px_key_public_load(const char *path, char *pub, char *err, size_t errlen)
{
	return read_key(path, false, pub, err, errlen);
}

int px_store_keys_load(const char *list, size_t nstores, px_store_key_t *pubs,
		       size_t *n, char *err, size_t errlen)
{
	size_t k = 0;
	int rc;

	*n = 0;
	while (*list) {
		size_t len = strcspn(list, ",");
		char path[4096];

		if (k == PX_STORE_KEYS_MAX)
			return px_refuse(err, errlen, PX_EBADREQ, "--store-key: "
					 "more than %d key files",
					 PX_STORE_KEYS_MAX);
		if (!len || len >= sizeof(path))
			return px_refuse(err, errlen, PX_EBADREQ, "--store-key: "
					 "an empty or over-long file name in "
					 "the list");
		memcpy(path, list, len);
		path[len] = '\0';
		if ((rc = px_key_public_load(path, pubs[k], err, errlen)) < 0)
			return rc;
		k++;
		list += len;
		if (*list == ',' && !*++list)
			return px_refuse(err, errlen, PX_EBADREQ, "--store-key: "
					 "the list ends with a comma");
	}
	if (!k)
		return px_refuse(err, errlen, PX_EBADREQ, "--store-key: no file");
	if (k > 1 && nstores && k != nstores)
		return px_refuse(err, errlen, PX_EBADREQ, "--store-key: %zu key "
				 "files for %zu stores: give one (every store "
				 "holds it) or one per store, in the order of "
				 "--store", k, nstores);
	*n = k;
	return 0;
}

const char *px_store_key_for(const px_store_key_t *pubs, size_t n, size_t i)
{
	if (n == 1)
		return pubs[0];
	return i < n ? pubs[i] : NULL;
}

int px_key_gen(px_keypair_t *kp, const char *path, char *err, size_t errlen)
{
	size_t len;
	int fd, rc = 0;

	if (zmq_curve_keypair(kp->pub, kp->sec) != 0)
		return px_refuse(err, errlen, -errno, "cannot make a key pair: %s",
			    zmq_strerror(errno));
	if (!path)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return px_refuse(err, errlen, -errno, "cannot write %s: %s", path,
			    strerror(errno));
	len = strlen(kp->sec);
	kp->sec[len] = '\n';
	if (write(fd, kp->sec, len + 1) != (ssize_t)(len + 1) ||
	    fsync(fd) < 0)
		rc = px_refuse(err, errlen, -errno, "cannot write %s: %s", path,
			  strerror(errno));
	kp->sec[len] = '\0';
	if (close(fd) < 0 && rc == 0)
		rc = px_refuse(err, errlen, -errno, "cannot write %s: %s", path,
			  strerror(errno));
	if (rc < 0)
		unlink(path);
	return rc;
}

int px_curve_server(void *sock, const px_keypair_t *kp, const char *domain)
{
	int one = 1;

	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof(one)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp->sec,
			   PX_KEY_Z85_LEN + 1) < 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) < 0 ||
	    zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one,
			   sizeof(one)) < 0)
		return -errno;
	return 0;
}

int px_curve_client(void *sock, const px_keypair_t *kp,
		    const char *server_pub)
{
	if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_pub,
			   PX_KEY_Z85_LEN + 1) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, kp->pub,
			   PX_KEY_Z85_LEN + 1) < 0 ||
	    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, kp->sec,
			   PX_KEY_Z85_LEN + 1) < 0)
		return -errno;
	return 0;
}
