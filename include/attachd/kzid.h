/* Kazakhstan identifiers: IIN, BIN (12 digits with a check digit) and KATO (9 digits). Pure. */
#ifndef ATTACHD_KZID_H
#define ATTACHD_KZID_H

#include <stdbool.h>

/* The check digit of an IIN's or BIN's first 11 digits (s holds at least 11 digits), or -1
 * when the rule gives none (such numbers are never issued). */
int kz_check_digit(const char *s);
/* True when s is 12 ASCII digits and its 12th digit is the check digit of the first 11. */
bool kz_checksum_ok(const char *s);
/* An individual's IIN: valid checksum and a 5th digit of 0..3 (the tens of the birth day,
 * YYMMDD). */
bool iin_valid(const char *s);
/* A legal entity's BIN: valid checksum and a 5th digit of 4, 5 or 6. */
bool bin_valid(const char *s);
/* The shape of an IIN or BIN: exactly 12 ASCII digits (the check digit not checked). */
bool iin_shaped(const char *s);
/* KATO: exactly 9 ASCII digits. */
bool kato_valid(const char *s);

struct iin_facts {
    int year, month, day; /* birth date the IIN encodes (day/month may be impossible) */
    bool male;
};
/* Birth date and sex encoded in a valid IIN (century from the 7th digit). False when the
 * 7th digit is not 1..6. */
bool iin_facts(const char *iin, struct iin_facts *out);

#endif
