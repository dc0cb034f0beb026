/* keys.h - CurveZMQ key files and socket security, shared by the three
 * binaries.  Keys are z85 text (40 characters, zmq_z85_encode): a
 * public key file holds one public key, a secret key file one secret
 * key (its public key is derived from it).  Blank lines and lines
 * starting with '#' are ignored; anything else is an error. */
#ifndef PX_KEYS_H
#define PX_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#define PX_KEY_Z85_LEN 40

typedef struct {
	char pub[PX_KEY_Z85_LEN + 1];
	char sec[PX_KEY_Z85_LEN + 1];
} px_keypair_t;

/* The ZAP domains of the store's three sockets: the handler tells them
 * apart by domain (store/auth.c). */
#define PX_ZAP_CTL "phalanx-ctl"
#define PX_ZAP_SYNC "phalanx-sync"
#define PX_ZAP_PUB "phalanx-pub"

/* True if s is a 40-character z85 string that decodes to 32 bytes. */
bool px_key_valid(const char *s);

/* Read the secret key file path into kp (both halves).  The file must
 * be a regular file readable by its owner only: a group- or
 * other-readable one is refused.  0, or a negative errno / PX_EBADREQ
 * with a message naming the file (and the fix) in err. */
int px_key_secret_load(const char *path, px_keypair_t *kp, char *err,
		       size_t errlen);
/* Read the public key file path into pub (PX_KEY_Z85_LEN + 1 bytes).
 * 0 or an error as above. */
int px_key_public_load(const char *path, char *pub, char *err, size_t errlen);
/* The stores' public keys (issue 11: each store has its own key pair;
 * members and phalanxctl pin them): list is one public key file or a
 * comma-separated list of them, at most PX_STORE_KEYS_MAX.  nstores:
 * when not 0, a list of more than one must hold exactly that many (a
 * member's: one per store of --store, in its order); phalanxctl passes
 * 0 and treats a list of another length as a set.  0 and *n set, or an
 * error naming the file or the mismatch in err. */
#define PX_STORE_KEYS_MAX 8
typedef char px_store_key_t[PX_KEY_Z85_LEN + 1];
int px_store_keys_load(const char *list, size_t nstores, px_store_key_t *pubs,
		       size_t *n, char *err, size_t errlen);
/* The key pinned for store i of the list: the only one, or the i-th;
 * NULL if there is no such key (a store outside the list). */
const char *px_store_key_for(const px_store_key_t *pubs, size_t n, size_t i);
/* A new key pair; if path is not NULL, write its secret to path (mode
 * 0600, created; an existing file is not overwritten: -EEXIST). */
int px_key_gen(px_keypair_t *kp, const char *path, char *err, size_t errlen);

/* Make sock a CURVE server with kp's secret, its handshakes checked by
 * the ZAP handler in domain (ZMQ_ZAP_ENFORCE_DOMAIN: no handler, no
 * connection).  0 or -errno. */
int px_curve_server(void *sock, const px_keypair_t *kp, const char *domain);
/* Make sock a CURVE client of the server whose public key is
 * server_pub, with kp as its own keys.  0 or -errno. */
int px_curve_client(void *sock, const px_keypair_t *kp,
		    const char *server_pub);

#endif
