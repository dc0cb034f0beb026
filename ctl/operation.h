/* operation.h - a phalanxctl write as one Operation (operation.c). */
#ifndef PX_CTL_OPERATION_H
#define PX_CTL_OPERATION_H

#include <stdbool.h>

#include "phalanx.pb-c.h"

/* Room for one operation: it points into the CtlRequest it was made
 * from, which must outlive it. */
typedef struct {
	Phalanx__CtlRequest req;    /* what is sent: op and operation */
	Phalanx__Operation op;
	Phalanx__SetEntries entries;
	Phalanx__SetName set;
	Phalanx__RuleAdd rule;
	Phalanx__ObjectName name;
	Phalanx__AlertReset reset;
	Phalanx__AlertDefine define;
	Phalanx__MemberName member;
	Phalanx__KeyAdd key;
	Phalanx__VersionRef ref;
	char id[33];                /* 128 random bits in hex */
} px_ctl_op_t;

/* If req is a write, fill *w with the request to send in its place (w->req,
 * one Operation with a new request id) and return true; a read returns
 * false and is sent as it is. */
bool px_ctl_operation(const Phalanx__CtlRequest *req, px_ctl_op_t *w);

#endif
