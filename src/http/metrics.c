#include "attachd/metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "attachd/router.h"

#define MAX_ROUTES 64
static const unsigned statuses[] = {200, 201, 204, 400, 401, 403, 404, 405,
                                    409, 413, 415, 422, 500, 503, 0};
#define NSTATUS (sizeof statuses / sizeof statuses[0]) /* last: any other */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

struct route_metrics {
    atomic_uint_fast64_t by_status[NSTATUS];
    atomic_uint_fast64_t buckets[NBOUNDS + 1];
    atomic_uint_fast64_t sum_us;
};

static struct route_metrics metrics[MAX_ROUTES + 1];

void metrics_record(size_t route_index, unsigned status, double seconds)
{
    if (route_index > MAX_ROUTES)
        route_index = MAX_ROUTES;
    struct route_metrics *m = &metrics[route_index];
    size_t s = 0;
    while (s < NSTATUS - 1 && statuses[s] != status)
        s++;
    atomic_fetch_add_explicit(&m->by_status[s], 1, memory_order_relaxed);
    size_t b = 0;
    while (b < NBOUNDS && seconds > bounds[b])
        b++;
    atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us, (uint_fast64_t)(seconds * 1e6), memory_order_relaxed);
}

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p, b->cap = cap;
    }
}

static const char *route_label(size_t i, char *buf, size_t len)
{
    if (i >= attachd_nroutes || i >= MAX_ROUTES)
        return "unmatched";
    snprintf(buf, len, "%s %s", attachd_routes[i].method, attachd_routes[i].pattern);
    return buf;
}

char *metrics_render(size_t *len)
{
    struct buf b = {malloc(8192), 0, 8192};
    if (!b.p)
        return NULL;
    b.p[0] = '\0';
    char label[160];
    size_t nroutes = attachd_nroutes < MAX_ROUTES ? attachd_nroutes : MAX_ROUTES;
    put(&b, "# HELP attachd_http_requests_total HTTP requests by route and status.\n"
            "# TYPE attachd_http_requests_total counter\n");
    for (size_t r = 0; r <= nroutes; r++) {
        size_t idx = r == nroutes ? MAX_ROUTES : r;
        for (size_t s = 0; s < NSTATUS; s++) {
            uint_fast64_t n =
                atomic_load_explicit(&metrics[idx].by_status[s], memory_order_relaxed);
            if (!n)
                continue;
            char st[8];
            snprintf(st, sizeof st, "%u", statuses[s]);
            put(&b, "attachd_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                route_label(idx, label, sizeof label), statuses[s] ? st : "other",
                (unsigned long long)n);
        }
    }
    put(&b, "# HELP attachd_http_request_duration_seconds Time to answer, by route.\n"
            "# TYPE attachd_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r <= nroutes; r++) {
        size_t idx = r == nroutes ? MAX_ROUTES : r;
        struct route_metrics *m = &metrics[idx];
        uint_fast64_t cum = 0;
        for (size_t k = 0; k <= NBOUNDS; k++)
            cum += atomic_load_explicit(&m->buckets[k], memory_order_relaxed);
        if (!cum)
            continue;
        const char *rl = route_label(idx, label, sizeof label);
        uint_fast64_t acc = 0;
        for (size_t k = 0; k <= NBOUNDS; k++) {
            acc += atomic_load_explicit(&m->buckets[k], memory_order_relaxed);
            if (k < NBOUNDS)
                put(&b,
                    "attachd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                    rl, bounds[k], (unsigned long long)acc);
            else
                put(&b,
                    "attachd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                    rl, (unsigned long long)acc);
        }
        put(&b, "attachd_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", rl,
            (double)atomic_load_explicit(&m->sum_us, memory_order_relaxed) / 1e6);
        put(&b, "attachd_http_request_duration_seconds_count{route=\"%s\"} %llu\n", rl,
            (unsigned long long)acc);
    }
    *len = b.len;
    return b.p;
}
