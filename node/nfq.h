/* nfq.h - payload inspection of published services on a member (issue
 * 12 item 8, docs/protection.md).  The kernel's inspect chain queues an
 * inspected service's packets (NFQUEUE PX_NFQUEUE_NUM with bypass); this
 * file reads them with libnetfilter_queue on the loop, asks node/dns.c
 * or node/pop3.c, and gives each packet its verdict at once: a zone
 * transfer from a source outside the service's --allow-zone-transfer
 * set and a response with a host name or length overflow are dropped,
 * logged in the firewall log with their reason and alerted as
 * `dns-intrusion'; a POP3 command over RFC 1939's bounds likewise as
 * `pop-intrusion'; every other packet is accepted.  With no agent bound the kernel accepts
 * them uninspected (the bypass flag), and a full queue does too
 * (NFQA_CFG_F_FAIL_OPEN): inspection fails open, the service never
 * blackholes. */
#ifndef PX_NFQ_H
#define PX_NFQ_H

#include "node.h"

/* Bind the queue and poll it on n's loop; an error is logged (the
 * service then passes uninspected) and n runs on. */
void px_nfq_start(px_node_t *n);
void px_nfq_stop(px_node_t *n);

#endif
