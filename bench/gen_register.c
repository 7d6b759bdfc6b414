/* Synthetic data for the register import bench (bench/run.sh import, bench/import.sh).
 *
 *   gen_register bins N
 *       N valid, distinct BINs (SPEC §4: YYMM, '40', a 5-digit serial, the check digit), one a
 *       line.
 *   gen_register rows DISTRICTS ROWS PART
 *       an `attachd import attachments` CSV of ROWS rows on standard output. DISTRICTS is a file
 *       of "polyclinic_id,district_number,capacity" lines. Every row is a different person with
 *       a valid IIN (5th digit 0-3); PART (0 or 1) picks half of the serials, so the files of
 *       parts 0 and 1 share no IIN. Each district gets rows in proportion to its capacity (a
 *       low-discrepancy sequence over the cumulated capacities), so two files of ROWS fit when
 *       2 * ROWS * 0.9 is under the total capacity. One row in ten is a closed period in the
 *       past (it does not count in a district's load), the rest open-ended.
 *
 * The check digit and the calendar are those of src/domain (kzid.c, dates.c), linked in. */

#include "attachd/dates.h"
#include "attachd/kzid.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bins(long n)
{
    char b[32];
    for (long serial = 0; n > 0 && serial < 100000; serial++) {
        snprintf(b, sizeof b, "%02d%02d40%05ld", 20, 1, serial);
        int k = kz_check_digit(b);
        if (k < 0)
            continue;
        printf("%s%d\n", b, k);
        n--;
    }
    return n == 0 ? 0 : 1;
}

struct district {
    long polyclinic;
    char number[20];
    double upto; /* cumulated capacity */
};

static int rows(const char *districts_path, long nrows, int part)
{
    FILE *f = fopen(districts_path, "r");
    if (!f) {
        perror(districts_path);
        return 1;
    }
    size_t cap = 1024, nd = 0;
    struct district *ds = malloc(cap * sizeof *ds);
    double total = 0;
    long poly, capacity;
    char number[20];
    while (ds && fscanf(f, "%ld,%19[^,],%ld\n", &poly, number, &capacity) == 3) {
        if (nd == cap) {
            cap *= 2;
            struct district *n = realloc(ds, cap * sizeof *ds);
            if (!n) {
                free(ds);
                ds = NULL;
                break;
            }
            ds = n;
        }
        total += (double)capacity;
        ds[nd].polyclinic = poly;
        snprintf(ds[nd].number, sizeof ds[nd].number, "%s", number);
        ds[nd].upto = total;
        nd++;
    }
    fclose(f);
    if (!ds || nd == 0) {
        fprintf(stderr, "gen_register: no districts in %s\n", districts_path);
        free(ds);
        return 1;
    }
    static char obuf[1 << 20];
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    puts("iin,polyclinic_id,district_number,valid_from,valid_to");
    long born_from = days_from_civil(1940, 1, 1),
         born_days = days_from_civil(2024, 12, 31) - born_from;
    long from_base = days_from_civil(2008, 1, 1);
    const double phi = 0.6180339887498949;
    double x = 0;
    char iin[48]; /* 12 digits; room for what the compiler cannot rule out */
    long emitted = 0;
    for (uint64_t c = 0; emitted < nrows; c++) {
        /* c -> (birth date, sex, serial): distinct c give distinct IINs; PART halves the serials */
        long day = born_from + (long)(c % (uint64_t)born_days);
        uint64_t rest = c / (uint64_t)born_days;
        int male = (int)(rest % 2);
        long serial = (long)(rest / 2) * 2 + part;
        if (serial > 9999) {
            fprintf(stderr, "gen_register: out of IINs after %ld rows\n", emitted);
            free(ds);
            return 1;
        }
        int y, m, d;
        civil_from_days(day, &y, &m, &d);
        int century = y >= 2000 ? (male ? 5 : 6) : (male ? 3 : 4);
        snprintf(iin, sizeof iin, "%02d%02d%02d%d%04ld", y % 100, m, d, century, serial);
        int k = kz_check_digit(iin);
        if (k < 0)
            continue;
        /* the district: where x falls among the cumulated capacities */
        x += phi;
        if (x >= 1)
            x -= 1;
        double at = x * total;
        size_t lo = 0, hi = nd - 1;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (ds[mid].upto > at)
                hi = mid;
            else
                lo = mid + 1;
        }
        long from = from_base + (long)((c * 2654435761u) % 6000); /* 2008 .. 2024 */
        if (from < day)
            from = day;
        int fy, fm, fd;
        civil_from_days(from, &fy, &fm, &fd);
        long to = from + 30 + (long)(c % 700);
        if (c % 10 == 3 && to < days_from_civil(2025, 1, 1)) { /* a closed period, in the past */
            int ty, tm, td;
            civil_from_days(to, &ty, &tm, &td);
            printf("%s%d,%ld,%s,%04d-%02d-%02d,%04d-%02d-%02d\n", iin, k, ds[lo].polyclinic,
                   ds[lo].number, fy, fm, fd, ty, tm, td);
        } else {
            printf("%s%d,%ld,%s,%04d-%02d-%02d,\n", iin, k, ds[lo].polyclinic, ds[lo].number, fy,
                   fm, fd);
        }
        emitted++;
    }
    free(ds);
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "bins") == 0)
        return bins(atol(argv[2]));
    if (argc == 5 && strcmp(argv[1], "rows") == 0)
        return rows(argv[2], atol(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: gen_register bins N | gen_register rows DISTRICTS ROWS PART\n");
    return 2;
}
