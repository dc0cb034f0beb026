/* ctl_keys.c - the ctl requests on keys: admins add|del|list, members
 * enroll|revoke (the identities themselves: auth.c). */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "px.h"
#include "store.h"

static int keys_fail(char *err, size_t errlen, int rc, const char *what,
		     const char *name)
{
	snprintf(err, errlen, "%s %s: %s", what, name, px_strerror(rc));
	return rc;
}

int px_store_keys_ctl(px_store_t *st, const Phalanx__CtlRequest *req,
		      Phalanx__CtlReply *rep, char *err, size_t errlen,
		      void **mem)
{
	px_auth_t *a = st->auth;
	const px_ident_t *all;
	size_t n;
	const char *name = req->name, *what = "";
	bool member = false;
	px_role_t role = PX_ROLE_MEMBER;
	int rc = 0;

	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__ADMIN_LIST: {
		Phalanx__Identity *v, **pv;
		size_t i;

		all = px_auth_list(a, &n);
		/* One block: the pointers, then the messages. */
		*mem = xcalloc(n + 1, sizeof(*pv) + sizeof(*v));
		pv = *mem;
		v = (Phalanx__Identity *)(pv + n + 1);
		for (i = 0; i < n; i++) {
			phalanx__identity__init(&v[i]);
			v[i].name = (char *)all[i].name;
			v[i].key = (char *)all[i].key;
			v[i].role = (char *)px_role_name(all[i].role);
			pv[i] = &v[i];
		}
		rep->identities = pv;
		rep->n_identities = n;
		return 0;
	}
	case PHALANX__CTL_REQUEST__OP__ADMIN_ADD:
		what = "admins add";
		if (px_role_parse(req->role, &role) < 0) {
			snprintf(err, errlen, "admins add %s: role `%s' is not "
				 "viewer, operator or admin", name, req->role);
			return PX_EBADREQ;
		}
		/* fall through */
	case PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL:
		if (!*what)
			what = "members enroll";
		if (!px_key_valid(req->key)) {
			snprintf(err, errlen, "%s %s: `%.60s' is not a z85 public "
				 "key of 40 characters", what, name, req->key);
			return PX_EBADREQ;
		}
		if (role == PX_ROLE_MEMBER && !px_member_id_valid(name)) {
			snprintf(err, errlen, "%s: `%.80s' is not a member id",
				 what, name);
			return PX_EBADREQ;
		}
		rc = px_auth_put(a, name, req->key, role);
		if (rc == PX_EEXIST) {
			snprintf(err, errlen, "%s %s: the key is already %s's",
				 what, name, px_auth_find(a, req->key)->name);
			return rc;
		}
		if (rc < 0)
			return keys_fail(err, errlen, rc, what, name);
		px_log(PX_LOG_INFO, "keys: %s %s (%s) key %s", what, name,
		       px_role_name(role), req->key);
		return 0;
	case PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE:
		member = true;
		what = "members revoke";
		/* fall through */
	case PHALANX__CTL_REQUEST__OP__ADMIN_DEL:
		if (!*what)
			what = "admins del";
		{
			const px_ident_t *id = px_auth_find_name(a, name, member);
			char key[PX_KEY_Z85_LEN + 1] = "";

			if (id)
				memcpy(key, id->key, sizeof(key));
			rc = px_auth_del(a, name, member);
			if (rc < 0)
				return keys_fail(err, errlen, rc, what, name);
			px_log(PX_LOG_INFO, "keys: %s %s (key %s)", what, name, key);
			if (member)
				px_store_member_cut(st, name, key);
		}
		return 0;
	default:
		snprintf(err, errlen, "not a keys request");
		return PX_EBADREQ;
	}
}
