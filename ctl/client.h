/* client.h - phalanxctl's side of the ctl protocol: finding the store,
 * one request and its reply, and waiting for members after a write. */
#ifndef PX_CTL_CLIENT_H
#define PX_CTL_CLIENT_H

#include <stdint.h>

#include "ctl.h"
#include "phalanx.pb-c.h"

/* Send req and wait up to ctl->timeout_ms for the reply.  The first call
 * finds the store (--store, $PHALANX_STORE, the config file) and
 * connects.  Returns 0 with *out (the caller's: px_wire_free) holding a
 * ctl_reply whose status may be an error, or a negative errno after
 * printing why no reply came (no store configured, bad endpoint, no
 * answer in time, undecodable reply). */
int px_ctl_call(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		Phalanx__Envelope **out);
/* Close the socket and context; safe to call twice. */
void px_ctl_close(px_ctl_t *ctl);

/* The store's text for a refused request (its own, else px_strerror),
 * without a leading command name that would repeat ctl->cmd. */
const char *px_ctl_reply_error(const px_ctl_t *ctl,
			       const Phalanx__CtlReply *r);

/* A read that ends the command if refused: send a request for op and
 * return 0 with *out (the caller's: px_wire_free) holding a reply with
 * status 0, or -1 after printing why there is none. */
int px_ctl_read(px_ctl_t *ctl, int op, Phalanx__Envelope **out);

/* Send the write req and finish it (px_ctl_write_done).  A refusal is
 * printed; if it is "no such set" and opt (may be NULL) is the option
 * that gave set, the message names the option and quotes the set.
 * Returns the exit status. */
int px_ctl_write(px_ctl_t *ctl, Phalanx__CtlRequest *req, const char *opt,
		 const char *set);

/* Finish a write the store acknowledged at version: print "version N"
 * (or JSON), or with --wait poll STATUS until every member that is up
 * has applied it.  Returns the exit status. */
int px_ctl_write_done(px_ctl_t *ctl, uint64_t version);

#endif
