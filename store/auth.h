/* auth.h - who may talk to the store: the keys of administrators (with
 * a role) and of members, kept in the database ("keys"), the ZAP
 * handler that admits a CURVE handshake only for a known key on the
 * socket its kind uses, and the one table of which role may run which
 * ctl request (docs/permissions.md says the same in words). */
#ifndef PX_AUTH_H
#define PX_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "keys.h"
#include "phalanx.pb-c.h"

/* Roles in rising order of power; a member key is a kind of its own,
 * never an administrator. */
typedef enum {
	PX_ROLE_NONE = 0,
	PX_ROLE_VIEWER,
	PX_ROLE_OPERATOR,
	PX_ROLE_ADMIN,
	PX_ROLE_MEMBER,
} px_role_t;

#define PX_IDENT_NAME_MAX 63
/* Bounds what the store keeps in memory and scans per handshake. */
#define PX_IDENTS_MAX 1024

typedef struct {
	char name[PX_IDENT_NAME_MAX + 1];
	char key[PX_KEY_Z85_LEN + 1];
	px_role_t role;
} px_ident_t;

typedef struct px_auth px_auth_t;

const char *px_role_name(px_role_t r);
/* "viewer", "operator" or "admin" (administrators' roles only); 0 or
 * PX_EBADREQ. */
int px_role_parse(const char *s, px_role_t *out);
/* The least role that may run op (PX_ROLE_ADMIN for an op this table
 * does not know: new requests are admin-only until listed). */
px_role_t px_ctl_min_role(Phalanx__CtlRequest__Op op);

/* Load the identities from db.  admin_key (may be NULL): the public
 * key of the first administrator: enrolled as "admin", role admin, if
 * no identity holds that key yet.  0 or a database error. */
int px_auth_open(px_auth_t **out, px_db_t *db, const char *admin_key);
void px_auth_close(px_auth_t *a);
/* Bind the ZAP handler's REP socket (inproc://zeromq.zap.01) in zctx;
 * call before any CURVE socket binds.  Returns the socket or NULL. */
void *px_auth_zap_bind(void *zctx);
/* Answer every ZAP request waiting on zap (never blocks). */
void px_auth_zap(px_auth_t *a, void *zap);
/* The identity holding the public key key (z85), or NULL. */
const px_ident_t *px_auth_find(const px_auth_t *a, const char *key);
/* The identity called name of kind member (member) or administrator. */
const px_ident_t *px_auth_find_name(const px_auth_t *a, const char *name,
				    bool member);
/* Add or replace name (role PX_ROLE_MEMBER: a member enrolled).  A key
 * held by another identity is refused (PX_EEXIST); PX_ETOOBIG past
 * PX_IDENTS_MAX; or a database error.  Durable when it returns 0. */
int px_auth_put(px_auth_t *a, const char *name, const char *key,
		px_role_t role);
/* Forget name (of kind member or administrator): 0, PX_ENOMEMBER if
 * there is none, or a database error. */
int px_auth_del(px_auth_t *a, const char *name, bool member);
/* All identities, in no particular order; *n set. Valid until the next
 * put or del. */
const px_ident_t *px_auth_list(const px_auth_t *a, size_t *n);

#endif
