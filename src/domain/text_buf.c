#include "attachd/text_buf.h"

#include <stdlib.h>
#include <string.h>

#include "attachd/csv.h"

bool text_reserve(struct text_buf *t, size_t more)
{
    if (t->failed)
        return false;
    if (t->len + more + 1 <= t->cap)
        return true;
    size_t cap = t->cap ? t->cap : 16 * 1024;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *b = realloc(t->buf, cap);
    if (!b) {
        t->failed = true;
        return false;
    }
    t->buf = b;
    t->cap = cap;
    return true;
}

void text_append(struct text_buf *t, const char *s, size_t n)
{
    if (!text_reserve(t, n))
        return;
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

void text_csv_line(struct text_buf *t, const char *const *fields, size_t n)
{
    size_t need = n + 2;
    for (size_t i = 0; i < n; i++)
        need += csv_field_size(fields[i]);
    if (!text_reserve(t, need))
        return;
    char *out = t->buf + t->len;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *out++ = ',';
        out = csv_put_field(out, fields[i]);
    }
    *out++ = '\r';
    *out++ = '\n';
    *out = '\0';
    t->len = (size_t)(out - t->buf);
}
