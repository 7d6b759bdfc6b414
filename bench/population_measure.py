#!/usr/bin/env python3
"""Measures the attached-population routes of a running attachd (bench/population.sh runs it):
the streamed CSV download of one polyclinic (time, rows/s, attachd's peak RSS), JSON pages,
/population and the reports. Prints a Markdown table. Python 3 standard library only."""

import argparse
import http.client
import json
import statistics
import threading
import time
import urllib.parse


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


class Client:
    def __init__(self, url, token):
        u = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        self.token = token

    def get(self, path, accept="application/json", sink=None):
        """(status, seconds, body or (bytes, lines) when sink)"""
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers={"Authorization": "Bearer " + self.token,
                                                "Accept": accept})
        r = self.conn.getresponse()
        if sink:
            size = lines = 0
            while True:
                chunk = r.read(1 << 16)
                if not chunk:
                    break
                size += len(chunk)
                lines += chunk.count(b"\n")
            body = (size, lines)
        else:
            body = r.read()
        return r.status, time.perf_counter() - t0, body


def ms(xs):
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return "%.1f ms / %.1f ms" % (statistics.median(xs) * 1e3, p95 * 1e3)


def timed(c, path, n):
    times = []
    for _ in range(n):
        st, t, body = c.get(path)
        if st != 200:
            raise SystemExit("GET %s -> %d %s" % (path, st, body[:300]))
        times.append(t)
    return times, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--registrar", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--polyclinic", type=int, default=1)
    a = ap.parse_args()
    admin, reg = Client(a.url, a.admin), Client(a.url, a.registrar)
    base = "/v1/polyclinics/%d" % a.polyclinic
    rows = []

    timed(reg, base + "/attachments", 3)  # warm-up (connections, prepared statements)
    rss0, hwm0 = status_kb(a.pid, "VmRSS"), status_kb(a.pid, "VmHWM")
    rows.append(("attachd RSS / peak RSS (VmHWM) before the downloads", "%d / %d KiB" % (rss0,
                                                                                         hwm0)))

    for i in range(3):
        st, t, (size, lines) = reg.get(base + "/attachments", "text/csv", sink=True)
        if st != 200:
            raise SystemExit("CSV download -> %d" % st)
        people = lines - 1
        rows.append(("CSV download %d (registrar): %d people, %.1f MB" % (i + 1, people,
                                                                         size / 1e6),
                     "%.2f s, %.0f rows/s, peak RSS %d KiB" % (t, people / t,
                                                               status_kb(a.pid, "VmHWM"))))

    results = []

    def download():
        c = Client(a.url, a.admin)
        results.append(c.get(base + "/attachments", "text/csv", sink=True))
    threads = [threading.Thread(target=download) for _ in range(4)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    total = sum(r[2][1] - 1 for r in results)
    rows.append(("4 CSV downloads at once: %d people in all" % total,
                 "%.2f s, %.0f rows/s, peak RSS %d KiB (RSS now %d KiB)" % (
                     wall, total / wall, status_kb(a.pid, "VmHWM"), status_kb(a.pid, "VmRSS"))))

    # Every page of 500, following next_cursor; the cursor of the middle page for the next row.
    cursor, pages, t0, middle = None, 0, time.perf_counter(), None
    while True:
        path = base + "/attachments?limit=500" + ("&cursor=" + cursor if cursor else "")
        st, _, body = admin.get(path)
        page = json.loads(body)
        pages += 1
        cursor = page["next_cursor"]
        if pages == 100:
            middle = cursor
        if not cursor:
            break
    walk = time.perf_counter() - t0
    rows.append(("all JSON pages of 500 in turn (%d pages)" % pages, "%.2f s, %.1f ms a page" % (
        walk, walk / pages * 1e3)))
    times, _ = timed(admin, base + "/attachments", 100)
    rows.append(("JSON first page of 50, median / p95 of 100", ms(times)))
    if middle:
        times, _ = timed(admin, base + "/attachments?cursor=" + middle, 100)
        rows.append(("JSON page of 50 in the middle (cursor %s), median / p95" % middle,
                     ms(times)))
    times, body = timed(admin, base + "/attachments?district_id=%d" % 30, 100)
    rows.append(("JSON first page of 50 of one district, median / p95", ms(times)))
    times, body = timed(admin, base + "/population", 20)
    rows.append(("/population (%d people), median / p95 of 20" % json.loads(body)["total"],
                 ms(times)))
    times, body = timed(admin, base + "/population?on=2020-06-01", 20)
    rows.append(("/population?on=2020-06-01 (%d people), median / p95 of 20" % json.loads(
        body)["total"], ms(times)))
    times, body = timed(admin, "/v1/stats/attached?settlement=000000001", 5)
    rows.append(("/v1/stats/attached?settlement=000000001 (%d people), median / p95 of 5"
                 % json.loads(body)["total"], ms(times)))
    times, body = timed(admin, "/v1/stats/attached", 3)
    rows.append(("/v1/stats/attached, every settlement (%d people), median / p95 of 3"
                 % json.loads(body)["total"], ms(times)))
    rows.append(("attachd RSS / peak RSS (VmHWM) at the end", "%d / %d KiB" % (
        status_kb(a.pid, "VmRSS"), status_kb(a.pid, "VmHWM"))))

    print("| measure | figure |")
    print("|---|---|")
    for k, v in rows:
        print("| %s | %s |" % (k, v))


if __name__ == "__main__":
    main()
