#!/usr/bin/env python3
"""Write a CSV of synthetic existing attachments for `attachd import attachments`.

Every person gets a distinct, valid IIN (SPEC §4) that encodes their birth date and sex: YYMMDD,
then the century-and-sex digit (3/4 for the 1900s, 5/6 for the 2000s; odd = male), a random
4-digit serial and the check digit (weights 1..11; when that gives 10, weights 3..11,1,2; serials
for which both give 10 are never issued and are skipped). Each person is placed in a district
whose kind fits their age today, and no district gets more people than its capacity. With
--history, some people also get an earlier, closed attachment (ending the day their current one
begins, and before today), so the file has several periods per IIN; closed periods do not count
towards capacity.

Districts come either from a CSV file (--districts FILE) with the header
    polyclinic_id,district_number,capacity,min_age,max_age
(max_age empty: no upper limit; capacity: how many people this script may put there), or from
the database (--database-url, default $DATABASE_URL), by running psql: the open districts, each
with capacity minus its current load (district_load) as room, and its kind's ages. That is the
same as
    psql -XAt -F, -d "$DATABASE_URL" -c "SELECT d.polyclinic_id, d.number,
        greatest(d.capacity - district_load(d), 0), k.min_age, k.max_age FROM districts d
        JOIN district_kinds k ON k.code = d.kind WHERE d.open ORDER BY d.id"
with the header added. --polyclinics limits either source to some polyclinics.

Python 3 standard library only. Deterministic for a given --seed, --today and district list.
"""

import argparse
import bisect
import csv
import datetime
import io
import os
import random
import subprocess
import sys

HEADER = "iin,polyclinic_id,district_number,valid_from,valid_to"
HEADER_DISTRICTS = ["polyclinic_id", "district_number", "capacity", "min_age", "max_age"]
OLDEST = 90  # years: the upper age of kinds with no max_age
ALMATY = datetime.timezone(datetime.timedelta(hours=5))  # Kazakhstan: UTC+5 all year
CENTURY_2000 = datetime.date(2000, 1, 1).toordinal()

DISTRICTS_SQL = (
    "SELECT d.polyclinic_id, d.number, greatest(d.capacity - district_load(d), 0),"
    " k.min_age, k.max_age FROM districts d JOIN district_kinds k ON k.code = d.kind"
    " WHERE d.open ORDER BY d.id"
)

W1 = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
W2 = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)


def check_digit(first11):
    """The check digit of 11 digits (a string), or None when the number is never issued."""
    d = [ord(c) - 48 for c in first11]
    k = sum(a * b for a, b in zip(d, W1)) % 11
    if k == 10:
        k = sum(a * b for a, b in zip(d, W2)) % 11
        if k == 10:
            return None
    return k


def years_before(day, years):
    """The same calendar day `years` earlier (28 February for a 29 February that is gone)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


class District:
    __slots__ = ("polyclinic_id", "number", "room", "min_age", "max_age", "first", "last")

    def __init__(self, polyclinic_id, number, room, min_age, max_age, today):
        self.polyclinic_id = polyclinic_id
        self.number = number
        self.room = room
        self.min_age = min_age
        self.max_age = max_age
        # Birth days (ordinals) that give an age in min_age..max_age today.
        self.last = years_before(today, min_age).toordinal()
        self.first = years_before(today, max_age + 1).toordinal() + 1


def parse_districts(lines, today, source):
    rows = list(csv.reader(lines))
    if not rows or [c.strip() for c in rows[0]] != HEADER_DISTRICTS:
        sys.exit(f"gen-attachments: {source}: the first line must be {','.join(HEADER_DISTRICTS)}")
    out = []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        try:
            pid, number, room, lo, hi = (c.strip() for c in row)
            max_age = int(hi) if hi else OLDEST
            out.append(District(int(pid), number, int(room), int(lo), min(max_age, OLDEST), today))
        except ValueError:
            sys.exit(f"gen-attachments: {source} line {n}: expected {','.join(HEADER_DISTRICTS)}")
    return out


def psql_lines(url, psql, sql, what):
    try:
        res = subprocess.run(
            [psql, "-X", "-A", "-t", "-F", ",", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
            check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        detail = e.stderr.strip() if isinstance(e, subprocess.CalledProcessError) else e
        sys.exit(f"gen-attachments: cannot read {what} with {psql}: {detail}")
    return [l for l in res.stdout.splitlines() if l]


def districts_from_db(url, psql, today):
    lines = [",".join(HEADER_DISTRICTS)] + psql_lines(url, psql, DISTRICTS_SQL, "the districts")
    return parse_districts(lines, today, "psql")


class People:
    """Distinct valid IINs for given birth days and sexes."""

    def __init__(self, rng):
        self.rng = rng
        self.seen = set()
        self.prefix = {}  # birth ordinal -> YYMMDD

    def iin(self, birth, male):
        yymmdd = self.prefix.get(birth)
        if yymmdd is None:
            d = datetime.date.fromordinal(birth)
            yymmdd = self.prefix[birth] = f"{d.year % 100:02d}{d.month:02d}{d.day:02d}"
        century = 3 if birth < CENTURY_2000 else 5
        first7 = yymmdd + str(century if male else century + 1)
        # 10 000 serials per birth day and sex (about 9 % never issued); a day rarely has more
        # than a few hundred people, so the draws are few.
        while True:
            first11 = first7 + f"{self.rng.randrange(10000):04d}"
            k = check_digit(first11)
            if k is None:
                continue
            iin = first11 + str(k)
            if iin not in self.seen:
                self.seen.add(iin)
                return iin


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, required=True, help="data rows to write (header excluded)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--districts", metavar="FILE", help="districts CSV (format below)")
    src.add_argument("--database-url", metavar="URL",
                     help="libpq connection string to read the districts with psql "
                          "(default: $DATABASE_URL)")
    ap.add_argument("--polyclinics", metavar="ID,ID,...",
                    help="only these polyclinics' districts")
    ap.add_argument("--history", type=float, default=0.1, metavar="SHARE",
                    help="share of rows that are earlier, closed periods (default 0.1; 0..0.5)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    ap.add_argument("--today", type=datetime.date.fromisoformat, metavar="YYYY-MM-DD",
                    help="the day ages and 'current' refer to (default: today in Almaty)")
    ap.add_argument("--avoid-registered", action="store_true",
                    help="with --database-url: never write an IIN that has an attachment in the "
                         "database already (reads them all: for small databases, such as a "
                         "test's)")
    ap.add_argument("--psql", default=os.environ.get("PSQL", "psql"),
                    help="psql to run (default: $PSQL or psql)")
    ap.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    args = ap.parse_args()

    if args.rows < 0:
        ap.error("--rows must be 0 or more")
    if not 0 <= args.history <= 0.5:
        ap.error("--history must be between 0 and 0.5")
    today = args.today or datetime.datetime.now(ALMATY).date()
    rng = random.Random(args.seed)

    if args.avoid_registered and args.districts:
        ap.error("--avoid-registered reads the database: not with --districts")
    registered = []
    if args.districts:
        with open(args.districts, newline="") as f:
            districts = parse_districts(f, today, args.districts)
    else:
        url = args.database_url or os.environ.get("DATABASE_URL")
        if not url:
            ap.error("give --districts FILE or --database-url URL (or set DATABASE_URL)")
        districts = districts_from_db(url, args.psql, today)
        if args.avoid_registered:
            registered = psql_lines(url, args.psql, "SELECT DISTINCT iin FROM attachments",
                                    "the registered IINs")
    if args.polyclinics:
        try:
            wanted = {int(x) for x in args.polyclinics.split(",") if x}
        except ValueError:
            ap.error("--polyclinics takes polyclinic ids separated by commas")
        districts = [d for d in districts if d.polyclinic_id in wanted]
    districts = [d for d in districts if d.room > 0]

    nhistory = int(args.rows * args.history)
    npeople = args.rows - nhistory
    room = sum(d.room for d in districts)
    if npeople > room:
        sys.exit(f"gen-attachments: {npeople} people do not fit: the districts chosen have room "
                 f"for {room}")

    # Each person takes one free place, drawn without replacement from all places, so districts
    # fill in proportion to their room and never beyond it.
    ends = []
    total = 0
    for d in districts:
        total += d.room
        ends.append(total)
    places = rng.sample(range(room), npeople) if npeople else []

    people = People(rng)
    people.seen.update(registered)
    newest = today.toordinal() - 1  # current periods began by yesterday
    dates = {}

    def iso(ordinal):
        s = dates.get(ordinal)
        if s is None:
            s = dates[ordinal] = datetime.date.fromordinal(ordinal).isoformat()
        return s

    out = open(args.output, "w", newline="") if args.output else sys.stdout
    buf = io.StringIO()
    buf.write(HEADER + "\n")
    written = 0
    histories_left = nhistory
    for i, place in enumerate(places):
        d = districts[bisect.bisect_right(ends, place)]
        birth = rng.randint(d.first, min(d.last, newest))
        iin = people.iin(birth, rng.random() < 0.5)
        # Current period: began within the last 15 years, not before birth.
        start = rng.randint(max(birth, newest - 15 * 365), newest)
        # Spread the history rows over the people who can have one (born a month or more before
        # their current period began).
        if histories_left and start - birth >= 30 and rng.random() * (npeople - i) < histories_left:
            other = districts[rng.randrange(len(districts))]
            earlier = rng.randint(max(birth, start - 10 * 365), start - 1)
            buf.write(f"{iin},{other.polyclinic_id},{other.number},{iso(earlier)},{iso(start)}\n")
            histories_left -= 1
            written += 1
        buf.write(f"{iin},{d.polyclinic_id},{d.number},{iso(start)},\n")
        written += 1
        if buf.tell() > 1 << 20:
            out.write(buf.getvalue())
            buf = io.StringIO()
    out.write(buf.getvalue())
    if out is not sys.stdout:
        out.close()
    if written != args.rows:
        print(f"gen-attachments: wrote {written} rows, not {args.rows}: too few people old "
              f"enough for {args.rows - written} more history rows", file=sys.stderr)
    print(f"gen-attachments: {written} rows ({written - npeople} closed periods) for {npeople} "
          f"people in {len(districts)} districts", file=sys.stderr)


if __name__ == "__main__":
    main()
