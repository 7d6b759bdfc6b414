#!/usr/bin/env python3
"""Checks that a pgbench baseline script runs the same SQL as attachd.

    sql_check.py LOG OFFSET SCRIPT OUT

LOG is the PostgreSQL server log, written with log_statement = 'all' and log_line_prefix
'%m [%p] %a: ' while attachd served one request of the scenario; OFFSET is the log's size in
bytes before that request. The statements attachd's sessions (application_name attachd) ran
are read in log order and compared with the SQL commands of SCRIPT after both are normalised:
parameters ($1, :id) become '?', runs of blanks one space, a final ';' dropped. pgbench cannot
send a NULL parameter, so where attachd sent NULL the script writes the literal NULL: such a
parameter is compared as NULL. Left out, as they are not per-request work: the token lookup
(auth.c caches it per thread for a second), the setting of attachd.actor (pool.c sets it
once per connection and principal) and the reading of the slow catalogues (applications.c
keeps them per thread until their version or the day changes: q_catalogue_texts).
The live statements are written to OUT as a pgbench script (parameters kept as $n, with the
values of this request in a comment), for reference and for writing new baselines.

Exit status: 0 same SQL, 1 different (a diff is printed), 2 usage or nothing captured.
"""
import difflib
import re
import sys

LINE = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] ([^:]*): (LOG|DETAIL):  (.*)$")
EXECUTE = re.compile(r"^execute [^:]+: (.*)$")
STATEMENT = re.compile(r"^statement: (.*)$")


def live_statements(log, offset):
    """[(sql, parameters or None)] that attachd ran after offset, in order."""
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    out = []
    for line in text.splitlines():
        m = LINE.match(line)
        if not m or m.group(2) != "attachd":
            continue
        kind, body = m.group(3), m.group(4)
        if kind == "DETAIL":
            if out and body.startswith("parameters: ") and out[-1][1] is None:
                out[-1] = (out[-1][0], body[len("parameters: "):])
            continue
        e = EXECUTE.match(body) or STATEMENT.match(body)
        if e:
            out.append((e.group(1), None))
    return [s for s in out
            if not re.search(r"\bFROM tokens\b|set_config\('attachd\.actor'|"
                             r"refusal_json\(code, NULL\)", s[0])]


def null_parameters(params):
    """The numbers of the parameters logged as NULL in "$1 = '..', $2 = NULL, ..."."""
    found = re.findall(r"\$(\d+) = (NULL|'(?:[^']|'')*')", params or "")
    return {int(n) for n, v in found if v == "NULL"}


def with_nulls(sql, params):
    """sql with each parameter attachd sent as NULL written as the literal NULL."""
    nulls = null_parameters(params)
    return re.sub(r"\$(\d+)", lambda m: "NULL" if int(m.group(1)) in nulls else m.group(0), sql)


def script_statements(path):
    """The SQL commands of a pgbench script written one per line, ending in ';'."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("--") or line.startswith("\\"):
                continue
            out.append(line)
    return out


def normalise(sql):
    sql = re.sub(r"\s+", " ", sql).strip().rstrip(";").strip()
    sql = re.sub(r"\$\d+", "?", sql)
    return re.sub(r"(?<![:\w]):[A-Za-z_]\w*", "?", sql)


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    log, offset, script, out = argv[1], int(argv[2]), argv[3], argv[4]
    live = live_statements(log, offset)
    with open(out, "w", encoding="utf-8") as f:
        f.write("-- SQL attachd ran for one request (from the server log); parameters as $n\n")
        for sql, params in live:
            if params:
                f.write("-- parameters: %s\n" % params)
            f.write(sql.rstrip(";") + ";\n")
    if not live:
        print("no attachd statement in the log after offset %d" % offset, file=sys.stderr)
        return 2
    want = [normalise(with_nulls(s, p)) for s, p in live]
    have = [normalise(s) for s in script_statements(script)]
    if want == have:
        return 0
    print("%s does not run the SQL attachd runs (live SQL in %s):" % (script, out),
          file=sys.stderr)
    for line in difflib.unified_diff(have, want, "pgbench script", "attachd", lineterm=""):
        print("  " + line[:400], file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
