/* One line of CSV (RFC 4180, except that a quoted field may not span lines), split in place
 * (used by `attachd import attachments`), and fields written for the CSV answers. Pure: no I/O,
 * no allocation. */
#ifndef ATTACHD_CSV_H
#define ATTACHD_CSV_H

#include <stddef.h>

enum csv_status {
    CSV_OK = 0,
    CSV_UNTERMINATED_QUOTE, /* a field opens a quote that the line never closes */
    CSV_TEXT_AFTER_QUOTE    /* a closing quote followed by something other than , or the end */
};

/* Splits `line` (NUL-terminated, without its line terminator) at commas, in place: each field
 * becomes a NUL-terminated string inside `line`; a quoted field ("a,b", "say ""hi""") loses its
 * quotes and has "" turned into ". Nothing is trimmed. Pointers to the first `max` fields go into
 * fields[]; *nfields is the number of fields the line has, which may be more than max (an empty
 * line has one, empty, field). On an error *nfields is the number of the field at fault
 * (1-based) and `line` is left partly rewritten. */
enum csv_status csv_split(char *line, char **fields, size_t max, size_t *nfields)
    __attribute__((warn_unused_result));

/* Writing CSV: a field is written as it is, or quoted with its quotes doubled when it holds a
 * comma, a quote, CR or LF (RFC 4180); NULL is an empty field. csv_field_size is the most bytes
 * csv_put_field writes for value; csv_put_field writes it at dst (no NUL) and returns the end. */
size_t csv_field_size(const char *value);
char *csv_put_field(char *dst, const char *value);

#endif
