/* metrics.h - the store's Prometheus endpoint: GET /metrics over HTTP
 * (libmicrohttpd, in its own thread), text exposition format 0.0.4.
 *
 * The store loop builds the whole text once a second from its own state
 * (px_metrics_update) and publishes it under a mutex; the HTTP thread
 * only copies the published text, so it never touches the store. */
#ifndef PX_STORE_METRICS_H
#define PX_STORE_METRICS_H

#include <stdbool.h>

#include "store.h"

typedef struct px_metrics px_metrics_t;

/* Whether addr is "HOST:PORT" (IPv4 address, "[IPv6]", or empty / "*"
 * for every address) with PORT in 1..65535. */
bool px_metrics_addr_valid(const char *addr);

/* Listen on addr and serve /metrics.  0, or a negative errno after
 * logging why (bad address, port in use). */
int px_metrics_start(px_metrics_t **out, const char *addr);
/* Stop the thread and free.  NULL is a no-op. */
void px_metrics_stop(px_metrics_t *m);

/* Build the exposition from st and publish it.  NULL m is a no-op. */
void px_metrics_update(px_metrics_t *m, const px_store_t *st);

#endif
