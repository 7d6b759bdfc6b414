#include "attachd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/* Writes a whole line to standard error with write(2), not stdio: stderr's FILE lock is held
 * across its write system call, so the HTTP threads, each writing a request line per answer,
 * could queue on it and wake each other (under strace: 0.75 futex calls per request; without
 * it the CPU per request did not change measurably, docs/PERFORMANCE.md "Reads on 20 M"). One
 * write(2) of a line takes no lock of ours; on a file or a pipe (lines below PIPE_BUF) the
 * kernel keeps lines of several threads apart. */
static void write_line(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere to report a failing log */
        line += n;
        len -= (size_t)n;
    }
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
    size_t len = strlen(line);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    write_line(line, len);
}

void log_mask_iin(const char *iin, char buf[13])
{
    size_t len = iin ? strnlen(iin, 12) : 0;
    for (size_t i = 0; i < 12; i++)
        buf[i] = (i < len && (i < 4 || i >= 10)) ? iin[i] : '*';
    buf[12] = '\0';
}

/* Length of the run of digits starting at s. */
static size_t digit_run(const char *s)
{
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    return n;
}

/* Appends len bytes to dst if they fit before the terminating NUL; false when they do not. */
static bool append(char *dst, size_t cap, size_t *used, const char *bytes, size_t len)
{
    if (*used + len >= cap)
        return false;
    memcpy(dst + *used, bytes, len);
    *used += len;
    return true;
}

void log_json_text(char *dst, size_t cap, const char *s)
{
    size_t used = 0;
    if (!cap)
        return;
    for (const char *p = s ? s : ""; *p;) {
        size_t run = digit_run(p);
        char out[32];
        size_t len;
        if (run >= 12) {
            /* Written whole (masked) or not at all: a cut run could still show 12 digits. */
            if (used + run >= cap)
                break;
            for (size_t i = 0; i < run; i++)
                dst[used++] = (i < 4 || i >= run - 2) ? p[i] : '*';
            p += run;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (run > 0) {
            len = run; /* fewer than 12 digits: as they are */
            memcpy(out, p, len);
        } else if (c == '"' || c == '\\') {
            out[0] = '\\', out[1] = (char)c, len = 2;
        } else if (c < 0x20 || c == 0x7f) {
            len = (size_t)snprintf(out, sizeof out, "\\u%04x", c);
        } else {
            out[0] = (char)c, len = 1;
        }
        if (!append(dst, cap, &used, out, len))
            break;
        p += run > 0 ? run : 1;
    }
    dst[used] = '\0';
}

void log_request(const struct request_log *r)
{
    if (LOG_INFO < atomic_load(&current_level))
        return;
    char id[256], method[48], who[160] = "", line[1024];
    log_json_text(id, sizeof id, r->request_id);
    log_json_text(method, sizeof method, r->method);
    int n = 0;
    if (r->role) {
        char name[128];
        log_json_text(name, sizeof name, r->token_name);
        n = snprintf(who, sizeof who, ",\"role\":\"%s\",\"token_id\":%lld,\"token\":\"%s\"",
                     r->role, r->token_id, name);
    }
    if (n < 0 || (size_t)n >= sizeof who)
        who[0] = '\0';
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    /* Route patterns come from the route table: no character of theirs needs escaping. */
    n = snprintf(line, sizeof line,
                 "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"level\":\"info\","
                 "\"msg\":\"request\",\"request_id\":\"%s\",\"method\":\"%s\",\"route\":%s%s%s,"
                 "\"status\":%u,\"ms\":%.1f%s}\n",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, id, method, r->route ? "\"" : "",
                 r->route ? r->route : "null", r->route ? "\"" : "", r->status, r->ms, who);
    if (n > 0 && (size_t)n < sizeof line)
        write_line(line, (size_t)n);
}
