/* Prometheus metrics: requests by route and status, latency histogram by route, the daily run
 * (SPEC §11). Lock-free. */
#ifndef ATTACHD_METRICS_H
#define ATTACHD_METRICS_H

#include <stdbool.h>
#include <stddef.h>

/* route_index is the position in attachd_routes, or attachd_nroutes for unmatched paths. */
void metrics_record(size_t route_index, unsigned status, double seconds);
/* One daily run made by this process (POST /v1/maintenance/daily), with what it did. */
void metrics_daily_record(bool ok, long long aged_out, long long unplaced, long long lapsed,
                          long long started, long long ended);
/* The children waiting to be moved, read from the database at scrape time; negative: unknown
 * (the gauge is left out). */
void metrics_set_age_outs_unplaced(long long n);
/* The text exposition (caller frees), *len set to its length. */
char *metrics_render(size_t *len);

#endif
