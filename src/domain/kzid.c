#include "attachd/kzid.h"

#include <string.h>

static bool all_digits(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

int kz_check_digit(const char *s)
{
    static const int second[11] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2};
    int sum = 0;
    for (int i = 0; i < 11; i++)
        sum += (s[i] - '0') * (i + 1);
    int k = sum % 11;
    if (k == 10) {
        sum = 0;
        for (int i = 0; i < 11; i++)
            sum += (s[i] - '0') * second[i];
        k = sum % 11;
        if (k == 10)
            return -1; /* never issued */
    }
    return k;
}

bool kz_checksum_ok(const char *s)
{
    return all_digits(s, 12) && kz_check_digit(s) == s[11] - '0';
}

bool iin_valid(const char *s)
{
    return kz_checksum_ok(s) && s[4] >= '0' && s[4] <= '3';
}

bool bin_valid(const char *s)
{
    return kz_checksum_ok(s) && s[4] >= '4' && s[4] <= '6';
}

bool iin_shaped(const char *s)
{
    return all_digits(s, 12);
}

bool kato_valid(const char *s)
{
    return all_digits(s, 9);
}

bool iin_facts(const char *iin, struct iin_facts *out)
{
    if (!all_digits(iin, 12) || iin[6] < '1' || iin[6] > '6')
        return false;
    int c = iin[6] - '0';
    int yy = (iin[0] - '0') * 10 + (iin[1] - '0');
    out->year = 1800 + 100 * ((c - 1) / 2) + yy;
    out->month = (iin[2] - '0') * 10 + (iin[3] - '0');
    out->day = (iin[4] - '0') * 10 + (iin[5] - '0');
    out->male = (c % 2) == 1;
    return true;
}
