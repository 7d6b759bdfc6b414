"""Reads answered without a waiting worker (docs/PERFORMANCE.md, round 5): a worker sends the
reads of many requests on one database session, several to a flight, and each answer must go
back to the request that asked it, a missing row and a bad request included."""

import threading

from client import ApiTestCase, call, new_district, new_polyclinic, new_settlement


class ManyReadsAtOnceTest(ApiTestCase):
    def test_each_concurrent_read_gets_its_own_answer(self):
        clinic = new_polyclinic(new_settlement())
        districts = [new_district(clinic["id"], number=str(n)) for n in range(1, 9)]
        missing = max(d["id"] for d in districts) + 1_000_000
        wrong = []

        def reader(k):
            for i in range(40):
                d = districts[(k + i) % len(districts)]
                if i % 7 == 3:  # a district nobody has: 404, in the same flights
                    st, _, body = call("GET", f"/v1/districts/{missing + k}")
                    if st != 404:
                        wrong.append(("missing", k, i, st, body))
                    continue
                if i % 11 == 5:  # the polyclinic, another statement in the same flights
                    st, _, body = call("GET", f"/v1/polyclinics/{clinic['id']}")
                    if st != 200 or body.get("id") != clinic["id"]:
                        wrong.append(("polyclinic", k, i, st, body))
                    continue
                st, _, body = call("GET", f"/v1/districts/{d['id']}")
                if st != 200 or body.get("id") != d["id"] or body.get("number") != d["number"]:
                    wrong.append(("district", k, i, st, body, d["id"]))

        threads = [threading.Thread(target=reader, args=(k,)) for k in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(wrong[:5], [])
