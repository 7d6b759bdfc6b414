#!/usr/bin/env python3
"""Runs the attachd HTTP integration tests against a running instance.

    ATTACHD_URL=http://127.0.0.1:8080 ATTACHD_ADMIN_TOKEN=... ATTACHD_PORTAL_TOKEN=... \
        python3 tests/integration/run.py [-k PATTERN]... [-v] [-x]

Discovers tests/integration/test_*.py, runs them one after another, prints one line per test,
the details of every failure, and closes with a line `N passed, N failed, N skipped`. Errors
count as failures. Exit status: 0 when nothing failed, 1 otherwise.

-k PATTERN selects tests whose id (module.Class.test_name) contains PATTERN, or matches it as a
shell pattern (`*` and `?`); give -k several times to select more. ATTACHD_WAIT (seconds,
default 15) is how long to wait for /healthz before starting.
"""

import argparse
import fnmatch
import os
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import client  # noqa: E402  (after the path is set)


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def selected(test_id, patterns):
    if not patterns:
        return True
    for p in patterns:
        if any(ch in p for ch in "*?["):
            if fnmatch.fnmatchcase(test_id, p) or fnmatch.fnmatchcase(test_id, "*" + p + "*"):
                return True
        elif p in test_id:
            return True
    return False


class CountingResult(unittest.TestResult):
    """Prints a line per test as it ends; keeps what it needs for the summary."""

    def __init__(self, verbose):
        super().__init__()
        self.verbose = verbose
        self.passed = 0
        self.problems = []  # (label, test, text)
        self.started_at = 0.0

    def _line(self, test, outcome):
        self.printed = True
        ms = (time.monotonic() - self.started_at) * 1000
        print("%-6s %s (%.0f ms)" % (outcome, test.id(), ms), flush=True)

    def startTest(self, test):
        super().startTest(test)
        self.started_at = time.monotonic()
        self.printed = False

    def stopTest(self, test):
        super().stopTest(test)
        if not self.printed:  # only subtests failed: unittest reports no outcome of its own
            self._line(test, "FAIL")

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.problems.append(("FAIL", test, self.failures[-1][1]))
        self._line(test, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        self.problems.append(("ERROR", test, self.errors[-1][1]))
        self._line(test, "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, "skip")
        if self.verbose:
            print("       skipped: %s" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line(test, "xfail")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.problems.append(("UNEXPECTED SUCCESS", test, "marked expectedFailure but passed\n"))
        self._line(test, "FAIL")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            label = "FAIL" if issubclass(err[0], test.failureException) else "ERROR"
            self.problems.append((label, subtest, self._exc_info_to_string(err, test)))


def wait_until_up(seconds):
    """Waits for GET /healthz to answer; returns a message when it never did."""
    deadline = time.monotonic() + seconds
    last = None
    while True:
        try:
            conn = client.new_connection(timeout=5)
            conn.request("GET", client.full_path("/healthz"))
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return None
            last = "GET /healthz answered %d" % status
        except OSError as e:
            last = "cannot reach %s: %s" % (client.base_url(), e)
        if time.monotonic() >= deadline:
            return last
        time.sleep(0.5)


def main(argv):
    ap = argparse.ArgumentParser(description="attachd HTTP integration tests")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="run only tests whose id contains (or matches) PATTERN")
    ap.add_argument("-v", "--verbose", action="store_true", help="show skip reasons")
    ap.add_argument("-x", "--failfast", action="store_true", help="stop at the first failure")
    ap.add_argument("--list", action="store_true", help="list the selected tests and exit")
    args = ap.parse_args(argv)

    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = [t for t in iter_tests(suite) if selected(t.id(), args.patterns)]
    # Import errors of a test module show up as unittest.loader._FailedTest: always keep them.
    tests += [t for t in iter_tests(suite)
              if type(t).__name__ == "_FailedTest" and t not in tests]
    if args.list:
        for t in tests:
            print(t.id())
        return 0

    try:
        client.base_url()
        client.admin_token()
    except client.ConfigError as e:
        print("error: %s" % e, file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    if not tests:
        print("warning: no test matches %r" % args.patterns, file=sys.stderr)

    problem = wait_until_up(float(os.environ.get("ATTACHD_WAIT", "15")))
    if problem:
        print("warning: attachd does not look up (%s); running anyway" % problem,
              file=sys.stderr, flush=True)

    print("attachd integration tests against %s (run %s, %d tests)"
          % (client.base_url(), client.RUN_ID, len(tests)), flush=True)
    result = CountingResult(args.verbose)
    result.failfast = args.failfast
    started = time.monotonic()
    unittest.TestSuite(tests).run(result)
    elapsed = time.monotonic() - started

    for label, test, text in result.problems:
        print()
        print("=" * 78)
        print("%s: %s" % (label, test.id() if hasattr(test, "id") else test))
        print("-" * 78)
        print(text.rstrip())
    if result.problems:
        print()
    # A test with failing subtests is not counted as passed by unittest either.
    failed_ids = {getattr(t, "test_case", t).id() for _, t, _ in result.problems}
    nfailed = len(failed_ids)
    nskipped = len(result.skipped)
    print("ran %d tests in %.1f s" % (result.testsRun, elapsed))
    if "contract" in sys.modules:
        c = sys.modules["contract"].counts
        print("%d answers checked against /openapi.json (%d to requests malformed on purpose)"
              % (c["checked"], c["malformed"]))
    print("%d passed, %d failed, %d skipped" % (result.passed, nfailed, nskipped))
    return 1 if nfailed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        traceback.print_exc()
        print("0 passed, 1 failed")
        sys.exit(1)
