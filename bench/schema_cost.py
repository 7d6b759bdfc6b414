#!/usr/bin/env python3
"""Writes, for bench/schema_cost.sh, a single-user-mode PostgreSQL script that runs N
auto-approved applications with the statements of bench/pgbench/campaign_day_min.sql, read from
that file: each statement becomes a prepared statement (PREPARE once, EXECUTE per application,
as pgbench -M prepared and attachd run them), its :variables become parameters. What pgbench
reads back with \\gset (the polyclinic, the district, the campaign's year and effective date) is
computed here from the catalogue (argument CATALOGUE: lines "polyclinic,district,year,eff" of
adult districts of auto-approving polyclinics, in the order OFFSET :pn picks the polyclinics),
so every EXECUTE gets its values without a round trip to the client.

usage: schema_cost.py MIN_SQL CATALOGUE N FIRST_IIN PERSON > script.sql (PERSON: the person
document, as pgbench's -D person)"""

import re
import sys

def statements(path):
    """The SQL statements of the pgbench script (comments, meta-commands and \\gset dropped)."""
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("--") or line.startswith("\\set"):
            continue
        line = re.sub(r"\s*\\gset\s*$", "", line).rstrip(";")
        out.append(line)
    return out


def prepare(name, sql):
    """PREPARE name AS sql with :var -> $n (n by first appearance); returns (text, vars)."""
    names = []

    def param(m):
        if m.group(1) not in names:
            names.append(m.group(1))
        return "$%d" % (names.index(m.group(1)) + 1)

    body = re.sub(r"(?<!:):([a-z_]+)", param, sql)
    return "PREPARE %s AS %s" % (name, body), names


def literal(v):
    return "'%s'" % str(v).replace("'", "''")


def main():
    min_sql, catalogue, n, first, person = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                            int(sys.argv[4]), sys.argv[5])
    rows = [line.strip().split(",") for line in open(catalogue) if line.strip()]
    polys = sorted({int(r[0]) for r in rows})
    district_of = {}
    for r in rows:
        district_of.setdefault(int(r[0]), int(r[1]))
    year, eff = rows[0][2], rows[0][3]
    out = ["SET timezone = 'Asia/Almaty'", "SET jit = off"]
    plan = []
    for i, sql in enumerate(statements(min_sql)):
        if sql.upper().startswith(("BEGIN", "COMMIT")):
            plan.append((sql, None))
            continue
        text, names = prepare("s%d" % i, sql)
        out.append(text)
        plan.append(("s%d" % i, names))
    for k in range(n):
        pn = k % len(polys)
        values = {"iin": first + k, "npolys": len(polys), "pn": pn, "poly": polys[pn],
                  "district": district_of[polys[pn]], "year": year, "eff": eff,
                  "person": person}
        for name, names in plan:
            if names is None:
                out.append(name)
            else:
                out.append("EXECUTE %s(%s)" % (name, ", ".join(literal(values[v]) for v in names)))
    # Single-user mode with -j ends a command at a semicolon followed by an empty line.
    print(";\n\n".join(out) + ";\n")


if __name__ == "__main__":
    main()
