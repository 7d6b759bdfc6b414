/* Logging: one line per event on stderr, `ts level message`. Never log a full IIN. */
#ifndef ATTACHD_LOG_H
#define ATTACHD_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Writes a log-safe form of an IIN (first 4 and last 2 digits, the rest '*') into buf[13]. */
void log_mask_iin(const char *iin, char buf[13]);

/* Writes s into dst (cap bytes, always NUL-terminated, cut short if need be) as the inside of
 * a JSON string: quotes, backslashes and control characters escaped, and in every run of 12 or
 * more digits all but the first 4 and last 2 masked with '*', since such a run may be an IIN
 * (text from clients, such as X-Request-Id, goes into log lines). */
void log_json_text(char *dst, size_t cap, const char *s);

/* What the request log says of one answered request. */
struct request_log {
    const char *request_id;
    const char *method;
    const char *route; /* the route's pattern, never the path (it may carry an IIN); NULL: none */
    unsigned status;
    double ms;
    const char *role;       /* NULL: no principal */
    long long token_id;     /* with role */
    const char *token_name; /* with role */
};

/* One JSON line on the log (level info): {"time", "level", "msg": "request", "request_id",
 * "method", "route", "status", "ms", "role", "token_id", "token"}. */
void log_request(const struct request_log *r);

#endif
