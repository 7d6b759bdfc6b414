#include "attachd/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int current_level = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&current_level);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if ((int)level < atomic_load(&current_level))
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* One fputs per line so lines from several threads never interleave. */
    size_t len = strlen(line);
    line[len] = '\n';
    line[len + 1 > sizeof line - 1 ? sizeof line - 1 : len + 1] = '\0';
    fputs(line, stderr);
}

void log_mask_iin(const char *iin, char buf[13])
{
    size_t len = iin ? strnlen(iin, 12) : 0;
    for (size_t i = 0; i < 12; i++)
        buf[i] = (i < len && (i < 4 || i >= 10)) ? iin[i] : '*';
    buf[12] = '\0';
}
