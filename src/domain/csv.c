#include "attachd/csv.h"

#include <stdbool.h>
#include <string.h>

/* Reads one quoted field starting just after its opening quote at *src, writing its text at *dst.
 * Leaves *src at the character after the closing quote. False when the line ends first. */
static bool unquote(char **src, char **dst)
{
    char *s = *src, *d = *dst;
    for (;;) {
        if (*s == '\0')
            return false;
        if (*s == '"') {
            if (s[1] != '"')
                break;
            s++; /* "" stands for one quote */
        }
        *d++ = *s++;
    }
    *src = s + 1;
    *dst = d;
    return true;
}

enum csv_status csv_split(char *line, char **fields, size_t max, size_t *nfields)
{
    char *src = line, *dst = line;
    size_t n = 0;
    for (;;) {
        char *start = dst;
        n++;
        if (*src == '"') {
            src++;
            if (!unquote(&src, &dst)) {
                *nfields = n;
                return CSV_UNTERMINATED_QUOTE;
            }
            if (*src != ',' && *src != '\0') {
                *nfields = n;
                return CSV_TEXT_AFTER_QUOTE;
            }
        } else {
            while (*src != ',' && *src != '\0')
                *dst++ = *src++;
        }
        /* dst never runs ahead of src, so ending the field here cannot clobber unread input. */
        bool last = *src == '\0';
        *dst++ = '\0';
        src++;
        if (n <= max)
            fields[n - 1] = start;
        if (last)
            break;
    }
    *nfields = n;
    return CSV_OK;
}

size_t csv_field_size(const char *value)
{
    return value ? 2 * strlen(value) + 2 : 0;
}

char *csv_put_field(char *dst, const char *value)
{
    if (!value)
        return dst;
    if (!value[strcspn(value, ",\"\r\n")]) {
        size_t len = strlen(value);
        memcpy(dst, value, len);
        return dst + len;
    }
    *dst++ = '"';
    for (const char *c = value; *c; c++) {
        if (*c == '"')
            *dst++ = '"';
        *dst++ = *c;
    }
    *dst++ = '"';
    return dst;
}
