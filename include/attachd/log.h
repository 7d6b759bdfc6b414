/* Logging: one line per event on stderr, `ts level message`. Never log a full IIN. */
#ifndef ATTACHD_LOG_H
#define ATTACHD_LOG_H

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

#endif
