/* client.h - phalanxctl's side of the ctl protocol: finding the store,
 * one request and its reply, waiting for members after a write, and
 * following what the store receives. */
#ifndef PX_CTL_CLIENT_H
#define PX_CTL_CLIENT_H

#include <stdbool.h>
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
/* The stores to ask (--store's list, $PHALANX_STORE, the config file)
 * into ctl->bases: 0, or an error after printing why. */
int px_ctl_stores(px_ctl_t *ctl);
/* Index of endpoint ep in ctl->bases, added if missing; -1 if it is not
 * an endpoint or there is no room. */
int px_ctl_store_index(px_ctl_t *ctl, const char *ep);
/* Send req to store i of ctl->bases alone (no hints followed, a short
 * handshake): 0 with *out (the caller's: px_wire_free), or a negative
 * code with why saying what happened (nothing printed). */
int px_ctl_call_one(px_ctl_t *ctl, size_t i, Phalanx__CtlRequest *req,
		    Phalanx__Envelope **out, char *why, size_t whylen);
/* Close the socket and context; safe to call twice. */
void px_ctl_close(px_ctl_t *ctl);

/* The store's text for a refused request (its own, else px_strerror),
 * without a leading command name that would repeat ctl->cmd. */
const char *px_ctl_reply_error(const px_ctl_t *ctl,
			       const Phalanx__CtlReply *r);

/* Send req and return 0 with *out (the caller's: px_wire_free) holding
 * a reply with status 0; or, with *out NULL, -1 after printing why no
 * reply came (px_ctl_call) or -2 after printing the store's refusal. */
int px_ctl_request(px_ctl_t *ctl, Phalanx__CtlRequest *req,
		   Phalanx__Envelope **out);

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

/* Check name (kind: "rule", "service", as px_ctl_check_name) and send
 * op (RULE_DEL, SERVICE_DEL) for it as px_ctl_write.  Returns the exit
 * status. */
int px_ctl_write_name(px_ctl_t *ctl, int op, const char *kind,
		      const char *name);

/* Finish a write the store acknowledged at version: print "version N"
 * (or JSON), or with --wait poll STATUS until every member that is up
 * has applied it.  Returns the exit status. */
int px_ctl_write_done(px_ctl_t *ctl, uint64_t version);

/* What a follow (alerts watch, log tail --follow) asks of its command. */
typedef struct {
	/* The store's newest sequence number in r: the follow starts after
	 * it. */
	uint64_t (*head)(const Phalanx__CtlReply *r);
	/* Whether a head below req->after_seq is a store that restarted and
	 * numbers again: the follow starts over after its head. */
	bool restarts;
	/* Print the records of r while !want || *seen < want, counting them
	 * in *seen; set req->after_seq to where the next page starts.
	 * Returns whether the store has more at once (no pause). */
	bool (*page)(const px_ctl_t *ctl, Phalanx__CtlRequest *req,
		     const Phalanx__CtlReply *r, uint64_t want, uint64_t *seen);
} px_ctl_follow_t;

/* Poll the store with req (its op and filters set by the caller) and
 * print what comes after the store's newest record at the start, until
 * interrupted (SIGINT, SIGTERM), want records (0: no limit) or, if
 * --timeout was given, its time for the whole follow.  Each request is
 * bounded, and one that fails closes the connection and is tried again:
 * the follow rides out a store restart.  Returns the exit status:
 * PX_EXIT_FAIL only if the store refuses the request. */
int px_ctl_follow(px_ctl_t *ctl, Phalanx__CtlRequest *req, uint64_t want,
		  const px_ctl_follow_t *f);

#endif
