/* operation.c - a write as the store takes it: one Operation (proto
 * Operation, store/ops.c) with a random request id.  The subcommands
 * fill a CtlRequest as they always did; this is the one place that
 * turns a write of them into its operation. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "operation.h"

/* 128 random bits in hex.  Without getrandom (never on Linux >= 3.17)
 * the id is empty: the store logs "-", nothing else depends on it. */
static void request_id(char *out)
{
	uint8_t b[16];
	size_t i;

	out[0] = '\0';
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return;
	for (i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void entries(px_ctl_op_t *w, const Phalanx__CtlRequest *req)
{
	phalanx__set_entries__init(&w->entries);
	w->entries.set = req->set;
	w->entries.entries = req->entries;
	w->entries.n_entries = req->n_entries;
}

static void object_name(px_ctl_op_t *w, const char *name)
{
	phalanx__object_name__init(&w->name);
	w->name.name = (char *)name;
}

static void member_name(px_ctl_op_t *w, const char *member)
{
	phalanx__member_name__init(&w->member);
	w->member.member = (char *)member;
}

static void key_add(px_ctl_op_t *w, const Phalanx__CtlRequest *req)
{
	phalanx__key_add__init(&w->key);
	w->key.name = req->name;
	w->key.key = req->key;
	w->key.role = req->role;
}

bool px_ctl_operation(const Phalanx__CtlRequest *req, px_ctl_op_t *w)
{
	Phalanx__Operation *o = &w->op;

	phalanx__operation__init(o);
	phalanx__ctl_request__init(&w->req);
	switch (req->op) {
	case PHALANX__CTL_REQUEST__OP__SET_ADD:
		entries(w, req);
		o->op_case = PHALANX__OPERATION__OP_SET_ADD;
		o->set_add = &w->entries;
		break;
	case PHALANX__CTL_REQUEST__OP__SET_DEL:
		entries(w, req);
		o->op_case = PHALANX__OPERATION__OP_SET_DEL;
		o->set_del = &w->entries;
		break;
	case PHALANX__CTL_REQUEST__OP__SET_IMPORT:
		entries(w, req);
		o->op_case = PHALANX__OPERATION__OP_SET_IMPORT;
		o->set_import = &w->entries;
		break;
	case PHALANX__CTL_REQUEST__OP__SET_CREATE:
	case PHALANX__CTL_REQUEST__OP__SET_DESTROY:
		phalanx__set_name__init(&w->set);
		w->set.set = req->set;
		if (req->op == PHALANX__CTL_REQUEST__OP__SET_CREATE) {
			o->op_case = PHALANX__OPERATION__OP_SET_CREATE;
			o->set_create = &w->set;
		} else {
			o->op_case = PHALANX__OPERATION__OP_SET_DESTROY;
			o->set_destroy = &w->set;
		}
		break;
	case PHALANX__CTL_REQUEST__OP__LIMIT_SET:
		if (!req->limit)
			return false;
		o->op_case = PHALANX__OPERATION__OP_LIMIT_SET;
		o->limit_set = req->limit;
		break;
	case PHALANX__CTL_REQUEST__OP__RULE_ADD:
		phalanx__rule_add__init(&w->rule);
		w->rule.rule = req->rule;
		w->rule.before = req->before;
		o->op_case = PHALANX__OPERATION__OP_RULE_ADD;
		o->rule_add = &w->rule;
		break;
	case PHALANX__CTL_REQUEST__OP__RULE_DEL:
		object_name(w, req->name);
		o->op_case = PHALANX__OPERATION__OP_RULE_DEL;
		o->rule_del = &w->name;
		break;
	case PHALANX__CTL_REQUEST__OP__SERVICE_ADD:
		if (!req->service)
			return false;
		o->op_case = PHALANX__OPERATION__OP_SERVICE_ADD;
		o->service_add = req->service;
		break;
	case PHALANX__CTL_REQUEST__OP__SERVICE_DEL:
		object_name(w, req->name);
		o->op_case = PHALANX__OPERATION__OP_SERVICE_DEL;
		o->service_del = &w->name;
		break;
	case PHALANX__CTL_REQUEST__OP__ALERT_RESET:
		phalanx__alert_reset__init(&w->reset);
		w->reset.alert_id = req->alert_id;
		w->reset.all = req->all;
		o->op_case = PHALANX__OPERATION__OP_ALERT_RESET;
		o->alert_reset = &w->reset;
		break;
	case PHALANX__CTL_REQUEST__OP__PROTECT:
		if (!req->protect ||
		    req->protect->kind == PHALANX__PROTECT_OP__KIND__SHOW)
			return false; /* protection show, networks list */
		o->op_case = PHALANX__OPERATION__OP_PROTECT;
		o->protect = req->protect;
		break;
	case PHALANX__CTL_REQUEST__OP__ALERT_DEFINE:
		if (!req->alert_def)
			return false; /* only lists: a read */
		phalanx__alert_define__init(&w->define);
		w->define.def = req->alert_def;
		w->define.set_enabled = req->define_enabled;
		w->define.set_manual = req->define_manual;
		o->op_case = PHALANX__OPERATION__OP_ALERT_DEFINE;
		o->alert_define = &w->define;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_REMOVE:
		member_name(w, req->member);
		o->op_case = PHALANX__OPERATION__OP_MEMBER_REMOVE;
		o->member_remove = &w->member;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_DRAIN:
		member_name(w, req->member);
		o->op_case = PHALANX__OPERATION__OP_MEMBER_DRAIN;
		o->member_drain = &w->member;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_UNDRAIN:
		member_name(w, req->member);
		o->op_case = PHALANX__OPERATION__OP_MEMBER_UNDRAIN;
		o->member_undrain = &w->member;
		break;
	case PHALANX__CTL_REQUEST__OP__ADMIN_ADD:
		key_add(w, req);
		o->op_case = PHALANX__OPERATION__OP_ADMIN_ADD;
		o->admin_add = &w->key;
		break;
	case PHALANX__CTL_REQUEST__OP__ADMIN_DEL:
		object_name(w, req->name);
		o->op_case = PHALANX__OPERATION__OP_ADMIN_DEL;
		o->admin_del = &w->name;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_ENROLL:
		key_add(w, req);
		o->op_case = PHALANX__OPERATION__OP_MEMBER_ENROLL;
		o->member_enroll = &w->key;
		break;
	case PHALANX__CTL_REQUEST__OP__MEMBER_REVOKE:
		object_name(w, req->name);
		o->op_case = PHALANX__OPERATION__OP_MEMBER_REVOKE;
		o->member_revoke = &w->name;
		break;
	case PHALANX__CTL_REQUEST__OP__CONFIG_APPLY:
		o->op_case = PHALANX__OPERATION__OP_CONFIG_APPLY;
		o->config_apply = req->config_apply;
		break;
	case PHALANX__CTL_REQUEST__OP__ROLLBACK:
	case PHALANX__CTL_REQUEST__OP__CONFIRM:
		phalanx__version_ref__init(&w->ref);
		w->ref.version = req->version;
		if (req->op == PHALANX__CTL_REQUEST__OP__ROLLBACK) {
			o->op_case = PHALANX__OPERATION__OP_ROLLBACK;
			o->rollback = &w->ref;
		} else {
			o->op_case = PHALANX__OPERATION__OP_CONFIRM;
			o->confirm = &w->ref;
		}
		break;
	default:
		return false;
	}
	request_id(w->id);
	o->request_id = w->id;
	/* The enum's op stays for people reading a capture; the store reads
	 * only the operation. */
	w->req.op = req->op;
	w->req.operation = o;
	return true;
}
