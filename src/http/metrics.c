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

/* The daily run: runs by outcome and what the successful ones did, in this process. */
enum {
    DAILY_OK,
    DAILY_FAILED,
    DAILY_AGED_OUT,
    DAILY_UNPLACED,
    DAILY_LAPSED,
    DAILY_STARTED,
    DAILY_ENDED,
    DAILY_NCOUNTERS
};
static atomic_uint_fast64_t daily[DAILY_NCOUNTERS];
static atomic_llong age_outs_unplaced = -1;

static void daily_add(int which, long long n)
{
    if (n > 0)
        atomic_fetch_add_explicit(&daily[which], (uint_fast64_t)n, memory_order_relaxed);
}

void metrics_daily_record(bool ok, long long aged_out, long long unplaced, long long lapsed,
                          long long started, long long ended)
{
    daily_add(ok ? DAILY_OK : DAILY_FAILED, 1);
    daily_add(DAILY_AGED_OUT, aged_out);
    daily_add(DAILY_UNPLACED, unplaced);
    daily_add(DAILY_LAPSED, lapsed);
    daily_add(DAILY_STARTED, started);
    daily_add(DAILY_ENDED, ended);
}

void metrics_set_age_outs_unplaced(long long n)
{
    atomic_store_explicit(&age_outs_unplaced, n, memory_order_relaxed);
}

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

static unsigned long long daily_get(int which)
{
    return (unsigned long long)atomic_load_explicit(&daily[which], memory_order_relaxed);
}

static void render_daily(struct buf *b)
{
    long long unplaced = atomic_load_explicit(&age_outs_unplaced, memory_order_relaxed);
    if (unplaced >= 0)
        put(b,
            "# HELP attachd_age_outs_unplaced Children past their pediatric district's age with "
            "no fitting district with room (all polyclinics).\n"
            "# TYPE attachd_age_outs_unplaced gauge\n"
            "attachd_age_outs_unplaced %lld\n",
            unplaced);
    put(b,
        "# HELP attachd_daily_runs_total Daily runs made through this process, by outcome.\n"
        "# TYPE attachd_daily_runs_total counter\n"
        "attachd_daily_runs_total{outcome=\"ok\"} %llu\n"
        "attachd_daily_runs_total{outcome=\"failed\"} %llu\n",
        daily_get(DAILY_OK), daily_get(DAILY_FAILED));
    put(b,
        "# HELP attachd_daily_changes_total What the daily runs through this process did.\n"
        "# TYPE attachd_daily_changes_total counter\n"
        "attachd_daily_changes_total{change=\"aged_out\"} %llu\n"
        "attachd_daily_changes_total{change=\"unplaced\"} %llu\n"
        "attachd_daily_changes_total{change=\"lapsed\"} %llu\n"
        "attachd_daily_changes_total{change=\"started\"} %llu\n"
        "attachd_daily_changes_total{change=\"ended\"} %llu\n",
        daily_get(DAILY_AGED_OUT), daily_get(DAILY_UNPLACED), daily_get(DAILY_LAPSED),
        daily_get(DAILY_STARTED), daily_get(DAILY_ENDED));
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
    render_daily(&b);
    *len = b.len;
    return b.p;
}
