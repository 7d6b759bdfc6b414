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

/* JSON written as text straight from values. A string (null when NULL): UTF-8 passes as it
 * is; \" \\ \b \f \n \r \t are escaped, other control characters written \u00XX, in upper-case
 * hex as jansson's json_dumps writes them (JSON_HEX_JANSSON) or in lower case as PostgreSQL's
 * escape_json does (JSON_HEX_POSTGRES): a text that must equal one or the other byte for byte
 * says which. */
enum json_hex { JSON_HEX_JANSSON, JSON_HEX_POSTGRES };
void text_json_string(struct text_buf *t, const char *s, enum json_hex hex);
/* A non-negative integer in decimal (a negative one is written 0). */
void text_json_id(struct text_buf *t, long long v);

#endif
