/* Prometheus metrics: requests by route and status, latency histogram by route. Lock-free. */
#ifndef ATTACHD_METRICS_H
#define ATTACHD_METRICS_H

#include <stddef.h>

/* route_index is the position in attachd_routes, or attachd_nroutes for unmatched paths. */
void metrics_record(size_t route_index, unsigned status, double seconds);
/* The text exposition (caller frees), *len set to its length. */
char *metrics_render(size_t *len);

#endif
