/* A growing text buffer for answers written as text (CSV answers, JSON pages written straight
 * from rows): appends grow it by doubling; once an allocation fails it is `failed` and every
 * later append does nothing, so a writer checks once at the end. The text stays NUL-terminated. */
#ifndef ATTACHD_TEXT_BUF_H
#define ATTACHD_TEXT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct text_buf {
    char *buf;
    size_t len, cap;
    bool failed;
};

/* Room for `more` bytes and the NUL after the text; false (and failed) when out of memory. */
bool text_reserve(struct text_buf *t, size_t more);
void text_append(struct text_buf *t, const char *s, size_t n);
#define TEXT_LIT(t, lit) text_append((t), (lit), sizeof(lit) - 1)
/* One CSV line (csv_put_field's quoting, CRLF): fields[0..n) joined by commas. */
void text_csv_line(struct text_buf *t, const char *const *fields, size_t n);

#endif
