#include "attachd/text_buf.h"

#include <stdio.h>
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

void text_json_string(struct text_buf *t, const char *s, enum json_hex hex)
{
    if (!s) {
        TEXT_LIT(t, "null");
        return;
    }
    TEXT_LIT(t, "\"");
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        text_append(t, run, (size_t)(p - run));
        run = p + 1;
        char esc[8];
        switch (c) {
        case '"':
            TEXT_LIT(t, "\\\"");
            break;
        case '\\':
            TEXT_LIT(t, "\\\\");
            break;
        case '\b':
            TEXT_LIT(t, "\\b");
            break;
        case '\f':
            TEXT_LIT(t, "\\f");
            break;
        case '\n':
            TEXT_LIT(t, "\\n");
            break;
        case '\r':
            TEXT_LIT(t, "\\r");
            break;
        case '\t':
            TEXT_LIT(t, "\\t");
            break;
        default:
            snprintf(esc, sizeof esc, hex == JSON_HEX_POSTGRES ? "\\u%04x" : "\\u%04X", c);
            text_append(t, esc, 6);
        }
    }
    text_append(t, run, strlen(run));
    TEXT_LIT(t, "\"");
}

void text_json_id(struct text_buf *t, long long v)
{
    char num[24];
    size_t n = sizeof num;
    unsigned long long u = v < 0 ? 0 : (unsigned long long)v;
    do {
        num[--n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    text_append(t, num + n, sizeof num - n);
}
