"""Catalogues over HTTP (SPEC §2, §8): district kinds, refusal reasons, settlements,
polyclinics and their search, districts, campaigns. Everything a test needs it creates, with
names unique to the run; nothing depends on the demo seed or on today's date."""

import math
import threading
import urllib.parse

import client
from client import ADMIN, ApiTestCase, call, list_all, new_district, new_polyclinic, new_settlement

KAZAKH_LETTERS = "ә ғ қ ң ө ұ ү һ і Ә Ғ Қ Ң Ө Ұ Ү Һ І"
RUSSIAN_LETTERS = "ё Ё ъ щ"

NINE_REASONS = ["INVALID_DATA", "OTHER_SETTLEMENT", "CAPACITY_EXCEEDED", "CHILD_DOCUMENTS_MISSING",
                "NOT_ELIGIBLE", "OUTSIDE_CAMPAIGN", "CLINIC_NOT_ACCEPTING", "ALREADY_ATTACHED",
                "REPEAT_CHANGE"]

KINDS = {
    "gp": (1700, 0, None),
    "therapist": (2200, 15, None),
    "pediatric_0_6": (500, 0, 6),
    "pediatric_0_14": (900, 0, 14),
}

POLYCLINIC_FIELDS = ("bin", "name_kk", "name_ru", "settlement", "also_serves", "address", "lat",
                     "lon", "ownership", "fsms_contract", "accepting", "auto_approve")


def q(value):
    return urllib.parse.quote(str(value), safe=",")


def ids(items):
    return [it["id"] for it in items]


def search(query):
    """Every polyclinic of GET /v1/polyclinics?query (all pages)."""
    return list_all("/v1/polyclinics?" + query)


def free_per_kind(item):
    """Free places per district kind of a polyclinic read view: a {kind: free} object when the
    service gives one, else the sum of `free` over its open districts."""
    for key in ("free", "free_by_kind", "free_places", "free_per_kind"):
        v = item.get(key)
        if isinstance(v, dict) and set(v) <= set(KINDS):
            return {k: v.get(k, 0) for k in KINDS}
    out = {k: 0 for k in KINDS}
    for d in item.get("districts") or []:
        if d.get("open", True):
            out[d["kind"]] += d["free"]
    return out


def haversine_m(lat1, lon1, lat2, lon2):
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


# ----------------------------------------------------------------------------------------------
# District kinds and refusal reasons
# ----------------------------------------------------------------------------------------------

class DistrictKindsTest(ApiTestCase):

    def test_district_kinds_are_seeded_exactly_with_their_norms(self):
        body = self.assertJson(call("GET", "/v1/district-kinds"), 200)
        self.assertIn("items", body)
        items = list_all("/v1/district-kinds")
        got = {it["code"]: (it["norm"], it["min_age"], it["max_age"]) for it in items}
        self.assertEqual(len(items), 4, "exactly four kinds: %r" % items)
        self.assertEqual(got, KINDS)

    def test_refusal_reasons_include_the_nine_codes_with_three_titles(self):
        body = self.assertJson(call("GET", "/v1/refusal-reasons"), 200)
        self.assertIn("items", body)
        by_code = {it["code"]: it for it in list_all("/v1/refusal-reasons")}
        for code in NINE_REASONS:
            with self.subTest(code=code):
                self.assertIn(code, by_code)
                title = by_code[code].get("title")
                self.assertIsInstance(title, dict)
                for lang in ("kk", "ru", "en"):
                    self.assertIsInstance(title.get(lang), str, "%s title %s" % (code, lang))
                    self.assertTrue(title[lang].strip(), "%s title %s is empty" % (code, lang))
        self.assertEqual(len(by_code), len(list_all("/v1/refusal-reasons")),
                         "refusal reason codes are unique")


# ----------------------------------------------------------------------------------------------
# Settlements
# ----------------------------------------------------------------------------------------------

class SettlementsTest(ApiTestCase):

    def create(self, kato, name_kk, name_ru):
        return call("POST", "/v1/settlements",
                    {"kato": kato, "name_kk": name_kk, "name_ru": name_ru})

    def free_kato(self):
        for _ in range(50):
            k = client.random_kato()
            if call("GET", "/v1/settlements/" + k).status == 404:
                return k
        self.fail("no free KATO found")

    def test_create_settlement_is_201_with_location_and_get_returns_it(self):
        kato = self.free_kato()
        name_kk, name_ru = "Жаңа ауыл " + client.unique(), "Новое село " + client.unique()
        r = self.create(kato, name_kk, name_ru)
        body = self.assertJson(r, 201)
        self.assertEqual(body, {"kato": kato, "name_kk": name_kk, "name_ru": name_ru})
        location = r.headers.get("Location")
        self.assertIsNotNone(location, "201 carries a Location header")
        self.assertTrue(location.endswith("/v1/settlements/" + kato), location)
        got = self.assertJson(call("GET", "/v1/settlements/" + kato), 200)
        self.assertEqual(got, body)

    def test_duplicate_settlement_is_409(self):
        kato = new_settlement()
        r = self.create(kato, "Қайталау", "Повтор")
        self.assertProblem(r, 409)
        got = self.assertJson(call("GET", "/v1/settlements/" + kato), 200)
        self.assertNotEqual(got["name_kk"], "Қайталау", "a refused duplicate changed nothing")

    def test_concurrent_creates_of_one_settlement_give_one_201_and_409s(self):
        kato = self.free_kato()
        statuses = []

        def create():
            statuses.append(call("POST", "/v1/settlements",
                                 {"kato": kato, "name_kk": "Жарыс", "name_ru": "Гонка"}).status)
        threads = [threading.Thread(target=create) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(statuses), [201] + [409] * 11)
        self.assertJson(call("GET", "/v1/settlements/" + kato), 200)

    def test_bad_kato_is_422_naming_kato(self):
        for bad in ("75111000", "7511100000", "75111000a", "", " 75111000", "７５１１１００００"):
            with self.subTest(kato=bad):
                self.assertFieldError(self.create(bad, "Ауыл", "Село"), "kato")
        self.assertFieldError(call("POST", "/v1/settlements",
                                   {"kato": 751110000, "name_kk": "А", "name_ru": "Б"}), "kato")

    def test_missing_settlement_names_are_422_naming_them(self):
        r = call("POST", "/v1/settlements", {"kato": self.free_kato()})
        body = self.assertFieldError(r, "name_kk")
        self.assertIn("name_ru", [e.get("field") for e in body["errors"]])

    def test_unknown_settlement_is_404(self):
        kato = self.free_kato()
        self.assertProblem(call("GET", "/v1/settlements/" + kato), 404)

    def test_kazakh_and_russian_names_round_trip_exactly(self):
        kato = self.free_kato()
        name_kk = "Әлімқұлүһі ауылы %s (%s)" % (KAZAKH_LETTERS, client.unique())
        name_ru = "Посёлок Ёлкино «Щёкино» %s (%s)" % (RUSSIAN_LETTERS, client.unique())
        body = self.assertJson(self.create(kato, name_kk, name_ru), 201)
        self.assertEqual((body["name_kk"], body["name_ru"]), (name_kk, name_ru))
        got = self.assertJson(call("GET", "/v1/settlements/" + kato), 200)
        self.assertEqual((got["name_kk"], got["name_ru"]), (name_kk, name_ru))
        listed = [s for s in list_all("/v1/settlements", limit=500) if s["kato"] == kato]
        self.assertEqual(len(listed), 1)
        self.assertEqual((listed[0]["name_kk"], listed[0]["name_ru"]), (name_kk, name_ru))

    def test_limit_out_of_range_is_422(self):
        for bad in ("0", "-1", "abc", "100000"):
            with self.subTest(limit=bad):
                self.assertFieldError(call("GET", "/v1/settlements?limit=" + bad), "limit")

    def test_paging_with_limit_1_walks_without_duplicates_or_gaps(self):
        mine = [new_settlement() for _ in range(3)]
        everything = list_all("/v1/settlements", limit=500)
        keys = [s["kato"] for s in everything]
        self.assertEqual(len(keys), len(set(keys)), "the big-page walk has no duplicates")
        # limit=1 normally; bigger only if the catalogue is huge, so the walk stays short.
        limit = max(1, -(-len(keys) // 3000))
        walked, cursor, pages, inserted = [], None, 0, None
        while True:
            path = "/v1/settlements?limit=%d" % limit
            if cursor is not None:
                path += "&cursor=" + q(cursor)
            page = self.assertJson(call("GET", path), 200)
            pages += 1
            self.assertLessEqual(len(page["items"]), limit)
            self.assertIn("next_cursor", page)
            walked.extend(s["kato"] for s in page["items"])
            cursor = page["next_cursor"]
            if pages == 2 and inserted is None:
                # stable under inserts: a settlement created mid-walk must not disturb it
                inserted = new_settlement()
            if cursor is None:
                break
            self.assertGreater(len(page["items"]), 0, "a page with a next cursor is not empty")
            self.assertLess(pages, len(keys) + 10, "the walk does not end")
        self.assertEqual(len(walked), len(set(walked)), "no settlement is listed twice")
        present = [k for k in walked if k != inserted]
        self.assertEqual(present, keys, "the limit=%d walk equals the big-page walk" % limit)
        for k in mine:
            self.assertIn(k, walked)


# ----------------------------------------------------------------------------------------------
# Polyclinics
# ----------------------------------------------------------------------------------------------

class PolyclinicsTest(ApiTestCase):

    def assertPolyclinicMatches(self, got, sent):
        for f in POLYCLINIC_FIELDS:
            self.assertIn(f, got, "polyclinic field %s" % f)
            if f in ("lat", "lon"):
                self.assertAlmostEqual(got[f], sent[f], places=5, msg=f)
            elif f == "also_serves":
                self.assertEqual(sorted(got[f]), sorted(sent[f]), f)
            else:
                self.assertEqual(got[f], sent[f], f)

    def test_create_polyclinic_is_201_and_get_returns_it(self):
        home, border = new_settlement(), new_settlement()
        sent = client.polyclinic_body(home, also_serves=[border], ownership="private",
                                      auto_approve=True, lat=51.128207, lon=71.430411,
                                      name_kk="Қалалық емхана " + client.unique(),
                                      name_ru="Городская поликлиника «Ёлка» " + client.unique())
        body = self.assertJson(call("POST", "/v1/polyclinics", sent), 201)
        self.assertIsInstance(body.get("id"), int)
        self.assertPolyclinicMatches(body, sent)
        got = self.assertJson(call("GET", "/v1/polyclinics/%d" % body["id"]), 200)
        self.assertEqual(got["id"], body["id"])
        self.assertPolyclinicMatches(got, sent)
        self.assertEqual(got.get("districts"), [], "a new polyclinic has no districts")

    def test_unknown_polyclinic_is_404(self):
        self.assertProblem(call("GET", "/v1/polyclinics/999999999"), 404)
        self.assertProblem(call("GET", "/v1/polyclinics/not-a-number"), 404)

    def test_patch_polyclinic_changes_only_given_fields_and_replaces_also_serves(self):
        home, a, b = new_settlement(), new_settlement(), new_settlement()
        p = new_polyclinic(home, also_serves=[a])
        new_name = "Поликлиника переименована " + client.unique()
        r = call("PATCH", "/v1/polyclinics/%d" % p["id"],
                 {"name_ru": new_name, "accepting": False, "also_serves": [b]})
        body = self.assertJson(r, 200)
        expected = dict(p, name_ru=new_name, accepting=False, also_serves=[b])
        self.assertPolyclinicMatches(body, expected)
        got = self.assertJson(call("GET", "/v1/polyclinics/%d" % p["id"]), 200)
        self.assertPolyclinicMatches(got, expected)
        self.assertEqual(got["also_serves"], [b], "also_serves is replaced, not merged")

    def test_patch_unknown_polyclinic_is_404(self):
        self.assertProblem(call("PATCH", "/v1/polyclinics/999999999", {"accepting": False}), 404)

    def test_patch_polyclinic_with_bad_value_is_422_and_changes_nothing(self):
        p = new_polyclinic(new_settlement())
        r = call("PATCH", "/v1/polyclinics/%d" % p["id"],
                 {"ownership": "state", "name_ru": "Не должно сохраниться"})
        self.assertFieldError(r, "ownership")
        got = self.assertJson(call("GET", "/v1/polyclinics/%d" % p["id"]), 200)
        self.assertEqual((got["ownership"], got["name_ru"]), (p["ownership"], p["name_ru"]))

    def test_bin_with_bad_checksum_is_422_naming_bin(self):
        body = client.polyclinic_body(new_settlement())
        body["bin"] = client.break_checksum(body["bin"])
        self.assertFieldError(call("POST", "/v1/polyclinics", body), "bin")

    def test_iin_given_as_bin_is_422_naming_bin(self):
        body = client.polyclinic_body(new_settlement())
        iin = client.valid_iin("1985-04-12", "female")
        self.assertTrue(client.checksum_ok(iin) and iin[4] in "0123")
        body["bin"] = iin
        self.assertFieldError(call("POST", "/v1/polyclinics", body), "bin")

    def test_bin_of_wrong_length_is_422_naming_bin(self):
        body = client.polyclinic_body(new_settlement())
        body["bin"] = body["bin"][:11]
        self.assertFieldError(call("POST", "/v1/polyclinics", body), "bin")

    def test_unknown_settlement_is_422(self):
        free = None
        for _ in range(50):
            k = client.random_kato()
            if call("GET", "/v1/settlements/" + k).status == 404:
                free = k
                break
        body = client.polyclinic_body(free)
        self.assertFieldError(call("POST", "/v1/polyclinics", body), "settlement")
        body = client.polyclinic_body(new_settlement(), also_serves=[free])
        self.assertFieldError(call("POST", "/v1/polyclinics", body),
                              {"also_serves", "also_serves[0]"})

    def test_bad_ownership_is_422(self):
        body = client.polyclinic_body(new_settlement(), ownership="state")
        self.assertFieldError(call("POST", "/v1/polyclinics", body), "ownership")

    def test_duplicate_bin_is_409(self):
        kato = new_settlement()
        p = new_polyclinic(kato)
        again = client.polyclinic_body(kato, bin=p["bin"])
        self.assertProblem(call("POST", "/v1/polyclinics", again), 409)

    def test_search_by_settlement_includes_polyclinics_that_also_serve_it(self):
        a, b, c = new_settlement(), new_settlement(), new_settlement()
        serving = new_polyclinic(a, also_serves=[b])
        home = new_polyclinic(b)
        other = new_polyclinic(c)
        found = ids(search("settlement=" + b))
        self.assertIn(home["id"], found)
        self.assertIn(serving["id"], found, "a polyclinic that also serves the settlement")
        self.assertNotIn(other["id"], found)
        self.assertEqual(len(found), len(set(found)), "no polyclinic listed twice")
        self.assertEqual(set(ids(search("settlement=" + c))), {other["id"]})
        self.assertEqual(set(ids(search("settlement=" + a))), {serving["id"]})

    def test_search_by_accepting(self):
        s = new_settlement()
        yes = new_polyclinic(s, accepting=True)
        no = new_polyclinic(s, accepting=False)
        not_accepting = search("settlement=%s&accepting=false" % s)
        self.assertEqual(ids(not_accepting), [no["id"]])
        self.assertIs(not_accepting[0]["accepting"], False)
        self.assertEqual(ids(search("settlement=%s&accepting=true" % s)), [yes["id"]])
        everywhere = ids(search("accepting=false"))
        self.assertIn(no["id"], everywhere)
        self.assertNotIn(yes["id"], everywhere)

    def test_search_near_sorts_by_distance_and_gives_distance_m(self):
        s = new_settlement()
        lat, lon = 43.25, 76.95
        far = new_polyclinic(s, lat=lat + 0.05, lon=lon)       # about 5.6 km
        near = new_polyclinic(s, lat=lat + 0.001, lon=lon)     # about 111 m
        mid = new_polyclinic(s, lat=lat, lon=lon + 0.02)       # about 1.6 km
        items = search("settlement=%s&near=%s" % (s, q("%s,%s" % (lat, lon))))
        self.assertEqual(ids(items), [near["id"], mid["id"], far["id"]])
        distances = [it.get("distance_m") for it in items]
        for d, p in zip(distances, (near, mid, far)):
            self.assertIsInstance(d, (int, float), "distance_m of %r" % p["id"])
            expected = haversine_m(lat, lon, p["lat"], p["lon"])
            self.assertAlmostEqual(d, expected, delta=expected * 0.02 + 2)
        self.assertEqual(distances, sorted(distances))

    def test_search_near_with_bad_coordinates_is_422(self):
        for bad in ("abc", "43.25", "91,76.9", "43.25,181"):
            with self.subTest(near=bad):
                self.assertFieldError(call("GET", "/v1/polyclinics?near=" + q(bad)), "near")

    def test_has_room_for_age_excludes_polyclinics_without_a_fitting_district(self):
        s = new_settlement()
        therapist_only = new_polyclinic(s)
        new_district(therapist_only["id"], "therapist")
        pediatric = new_polyclinic(s)
        new_district(pediatric["id"], "pediatric_0_6", capacity=10)
        gp = new_polyclinic(s)
        new_district(gp["id"], "gp")
        empty = new_polyclinic(s)
        for_child = set(ids(search("settlement=%s&has_room_for_age=3" % s)))
        self.assertEqual(for_child, {pediatric["id"], gp["id"]})
        for_adult = set(ids(search("settlement=%s&has_room_for_age=30" % s)))
        self.assertEqual(for_adult, {therapist_only["id"], gp["id"]})
        self.assertNotIn(empty["id"], for_child | for_adult)

    def test_has_room_for_age_ignores_closed_districts(self):
        s = new_settlement()
        p = new_polyclinic(s)
        d = new_district(p["id"], "pediatric_0_14")
        self.assertEqual(ids(search("settlement=%s&has_room_for_age=10" % s)), [p["id"]])
        self.assertJson(call("PATCH", "/v1/districts/%d" % d["id"], {"open": False}), 200)
        self.assertEqual(ids(search("settlement=%s&has_room_for_age=10" % s)), [])

    def test_search_items_carry_free_places_per_district_kind(self):
        s = new_settlement()
        p = new_polyclinic(s)
        new_district(p["id"], "gp", capacity=1200)
        new_district(p["id"], "gp")
        new_district(p["id"], "pediatric_0_6", capacity=300)
        items = search("settlement=" + s)
        self.assertEqual(ids(items), [p["id"]])
        free = free_per_kind(items[0])
        self.assertEqual(free, {"gp": 2900, "therapist": 0, "pediatric_0_6": 300,
                                "pediatric_0_14": 0})

    def test_bad_search_parameters_are_422(self):
        self.assertFieldError(call("GET", "/v1/polyclinics?accepting=maybe"), "accepting")
        self.assertFieldError(call("GET", "/v1/polyclinics?has_room_for_age=-1"),
                              "has_room_for_age")


# ----------------------------------------------------------------------------------------------
# Districts
# ----------------------------------------------------------------------------------------------

class DistrictsTest(ApiTestCase):

    def post(self, polyclinic_id, body):
        return call("POST", "/v1/polyclinics/%d/districts" % polyclinic_id, body)

    def test_district_capacity_defaults_to_norm(self):
        p = new_polyclinic(new_settlement())
        for number, (kind, (norm, _, _)) in enumerate(KINDS.items(), start=1):
            with self.subTest(kind=kind):
                body = self.assertJson(self.post(p["id"], {"number": str(number), "kind": kind}),
                                       201)
                self.assertIsInstance(body.get("id"), int)
                self.assertEqual(body["polyclinic_id"], p["id"])
                self.assertEqual(body["number"], str(number))
                self.assertEqual(body["kind"], kind)
                self.assertEqual(body["capacity"], norm)
                self.assertEqual(body["load"], 0)
                self.assertEqual(body["free"], norm)
                self.assertIs(body["open"], True)

    def test_capacity_below_norm_is_kept(self):
        p = new_polyclinic(new_settlement())
        body = self.assertJson(self.post(p["id"], {"number": "5", "kind": "therapist",
                                                    "capacity": 1500}), 201)
        self.assertEqual((body["capacity"], body["free"]), (1500, 1500))

    def test_capacity_equal_to_norm_is_accepted(self):
        p = new_polyclinic(new_settlement())
        body = self.assertJson(self.post(p["id"], {"number": "1", "kind": "pediatric_0_6",
                                                    "capacity": 500}), 201)
        self.assertEqual(body["capacity"], 500)

    def test_capacity_over_norm_is_422(self):
        p = new_polyclinic(new_settlement())
        for number, (kind, (norm, _, _)) in enumerate(KINDS.items(), start=1):
            with self.subTest(kind=kind):
                r = self.post(p["id"], {"number": str(number), "kind": kind, "capacity": norm + 1})
                self.assertFieldError(r, "capacity")
        self.assertEqual(list_all("/v1/polyclinics/%d/districts" % p["id"]), [],
                         "no district was created")

    def test_negative_capacity_is_422(self):
        p = new_polyclinic(new_settlement())
        self.assertFieldError(self.post(p["id"], {"number": "1", "kind": "gp", "capacity": -5}),
                              "capacity")

    def test_duplicate_district_number_is_409(self):
        s = new_settlement()
        p, other = new_polyclinic(s), new_polyclinic(s)
        self.assertJson(self.post(p["id"], {"number": "12", "kind": "gp"}), 201)
        self.assertProblem(self.post(p["id"], {"number": "12", "kind": "therapist"}), 409)
        body = self.assertJson(self.post(other["id"], {"number": "12", "kind": "gp"}), 201,)
        self.assertEqual(body["polyclinic_id"], other["id"],
                         "the same number in another polyclinic is fine")

    def test_unknown_district_kind_is_422(self):
        p = new_polyclinic(new_settlement())
        self.assertFieldError(self.post(p["id"], {"number": "1", "kind": "surgeon"}), "kind")

    def test_district_of_unknown_polyclinic_is_404(self):
        self.assertProblem(self.post(999999999, {"number": "1", "kind": "gp"}), 404)

    def test_list_districts_of_a_polyclinic(self):
        s = new_settlement()
        p, other = new_polyclinic(s), new_polyclinic(s)
        d1 = new_district(p["id"], "gp", capacity=1000)
        d2 = new_district(p["id"], "pediatric_0_14")
        new_district(other["id"], "gp")
        body = self.assertJson(call("GET", "/v1/polyclinics/%d/districts" % p["id"]), 200)
        self.assertIn("items", body)
        items = list_all("/v1/polyclinics/%d/districts" % p["id"])
        self.assertEqual(sorted(ids(items)), sorted([d1["id"], d2["id"]]))
        by_id = {d["id"]: d for d in items}
        self.assertEqual((by_id[d1["id"]]["capacity"], by_id[d1["id"]]["free"]), (1000, 1000))
        self.assertEqual((by_id[d2["id"]]["capacity"], by_id[d2["id"]]["kind"]),
                         (900, "pediatric_0_14"))

    def test_close_a_district(self):
        p = new_polyclinic(new_settlement())
        d = new_district(p["id"], "gp")
        body = self.assertJson(call("PATCH", "/v1/districts/%d" % d["id"], {"open": False}), 200)
        self.assertIs(body["open"], False)
        self.assertEqual((body["number"], body["kind"], body["capacity"]),
                         (d["number"], d["kind"], d["capacity"]))
        listed = {x["id"]: x for x in list_all("/v1/polyclinics/%d/districts" % p["id"])}
        self.assertIs(listed[d["id"]]["open"], False)
        body = self.assertJson(call("PATCH", "/v1/districts/%d" % d["id"], {"open": True}), 200)
        self.assertIs(body["open"], True)

    def test_patch_district_capacity(self):
        p = new_polyclinic(new_settlement())
        d = new_district(p["id"], "pediatric_0_6")
        body = self.assertJson(call("PATCH", "/v1/districts/%d" % d["id"], {"capacity": 350}),
                               200)
        self.assertEqual((body["capacity"], body["free"], body["open"]), (350, 350, True))
        self.assertFieldError(call("PATCH", "/v1/districts/%d" % d["id"], {"capacity": 501}),
                              "capacity")
        listed = {x["id"]: x for x in list_all("/v1/polyclinics/%d/districts" % p["id"])}
        self.assertEqual(listed[d["id"]]["capacity"], 350)

    def test_patch_unknown_district_is_404(self):
        self.assertProblem(call("PATCH", "/v1/districts/999999999", {"open": False}), 404)

    def test_polyclinic_shows_districts_with_capacity_load_and_free(self):
        p = new_polyclinic(new_settlement())
        d1 = new_district(p["id"], "gp", capacity=1600)
        d2 = new_district(p["id"], "therapist")
        got = self.assertJson(call("GET", "/v1/polyclinics/%d" % p["id"]), 200)
        districts = {d["id"]: d for d in got["districts"]}
        self.assertEqual(set(districts), {d1["id"], d2["id"]})
        for d, cap in ((d1, 1600), (d2, 2200)):
            shown = districts[d["id"]]
            self.assertEqual((shown["capacity"], shown["load"], shown["free"]), (cap, 0, cap))
            self.assertEqual((shown["number"], shown["kind"]), (d["number"], d["kind"]))


# ----------------------------------------------------------------------------------------------
# Campaigns
# ----------------------------------------------------------------------------------------------

class CampaignsTest(ApiTestCase):

    def put(self, year, body, token=ADMIN):
        return call("PUT", "/v1/campaigns/%d" % year, body, token=token)

    def test_put_campaign_creates_then_replaces(self):
        y = client.free_campaign_year()
        first = {"opens_on": "%d-03-01" % y, "closes_on": "%d-04-30" % y}
        body = self.assertJson(self.put(y, first), 201)
        self.assertEqual(body, dict(body, year=y, opens_on=first["opens_on"],
                                    closes_on=first["closes_on"],
                                    effective_on="%d-01-01" % (y + 1), max_changes=1))
        second = {"opens_on": "%d-03-01" % y, "closes_on": "%d-05-31" % y,
                  "effective_on": "%d-07-01" % y, "max_changes": 2}
        body = self.assertJson(self.put(y, second), 200)
        self.assertEqual(body, dict(body, year=y, **second))
        listed = [c for c in list_all("/v1/campaigns") if c.get("year") == y]
        self.assertEqual(len(listed), 1)
        self.assertEqual(listed[0], dict(listed[0], year=y, **second))

    def test_get_campaign_of_a_year(self):
        y = client.free_campaign_year()
        self.assertProblem(call("GET", "/v1/campaigns/%d" % y), 404)
        window = {"opens_on": "%d-01-01" % y, "closes_on": "%d-12-31" % y, "max_changes": 3}
        self.assertJson(self.put(y, window), 201)
        got = self.assertJson(call("GET", "/v1/campaigns/%d" % y), 200)
        self.assertEqual(got, dict(got, year=y, effective_on="%d-01-01" % (y + 1), **window))

    def test_overlapping_campaign_window_is_409(self):
        y = client.free_campaign_year(span=2)
        self.assertJson(self.put(y, {"opens_on": "%d-09-01" % y, "closes_on": "%d-12-31" % y}),
                        201)
        r = self.put(y + 1, {"opens_on": "%d-12-01" % y, "closes_on": "%d-02-01" % (y + 1)})
        self.assertProblem(r, 409)
        self.assertNotIn(y + 1, [c.get("year") for c in list_all("/v1/campaigns")],
                         "the overlapping campaign was not stored")

    def test_opens_after_closes_is_422(self):
        y = client.free_campaign_year()
        r = self.put(y, {"opens_on": "%d-11-01" % y, "closes_on": "%d-09-01" % y})
        self.assertFieldError(r, {"opens_on", "closes_on"})
        self.assertNotIn(y, [c.get("year") for c in list_all("/v1/campaigns")])

    def test_bad_campaign_dates_are_422(self):
        y = client.free_campaign_year()
        self.assertFieldError(self.put(y, {"opens_on": "%d-02-30" % y,
                                           "closes_on": "%d-09-01" % y}), "opens_on")
        self.assertFieldError(self.put(y, {"opens_on": "%d-09-01" % y}), "closes_on")
        self.assertFieldError(self.put(y, {"opens_on": "%d-09-01" % y,
                                           "closes_on": "%d-10-01" % y, "max_changes": -1}),
                              "max_changes")

    def test_campaign_year_that_is_not_a_number_is_rejected(self):
        r = call("PUT", "/v1/campaigns/next", {"opens_on": "2090-09-01", "closes_on": "2090-10-01"})
        self.assertIn(r.status, (404, 422), r.body)
        self.assertProblem(r, r.status)

    def test_campaigns_list_is_paged_items(self):
        body = self.assertJson(call("GET", "/v1/campaigns"), 200)
        self.assertIsInstance(body.get("items"), list)
        self.assertIn("next_cursor", body)
        for c in list_all("/v1/campaigns"):
            for f in ("year", "opens_on", "closes_on", "effective_on", "max_changes"):
                self.assertIn(f, c)
            self.assertLessEqual(c["opens_on"], c["closes_on"])

    def test_current_campaign_is_200_or_404_problem(self):
        r = call("GET", "/v1/campaigns/current")
        self.assertIn(r.status, (200, 404), r.body)
        if r.status == 200:
            body = self.assertJson(r, 200)
            # "current" is this year's campaign (or the one running now): never a far-future one
            self.assertIsInstance(body.get("year"), int)
            self.assertLessEqual(body["year"], client.today_almaty().year + 1)
            self.assertTrue(body["opens_on"] <= body["closes_on"])
            self.assertIn("effective_on", body)
            self.assertIsInstance(body.get("max_changes"), int)
        else:
            self.assertProblem(r, 404)


class HolidaysTest(ApiTestCase):
    """The holidays catalogue (SPEC §2: admin-editable)."""

    def test_fixed_holidays_are_seeded(self):
        body = self.assertJson(call("GET", "/v1/holidays?year=2030"), 200)
        days = {h["day"]: h["name"] for h in body["items"]}
        for day in ("2030-01-01", "2030-03-22", "2030-12-16"):
            self.assertIn(day, days)
        self.assertEqual(sorted(days), [h["day"] for h in body["items"]], "ordered by day")

    def test_put_rename_and_delete(self):
        day = "2097-%02d-%02d" % (client._rng.randrange(1, 13), client._rng.randrange(1, 29))
        call("DELETE", "/v1/holidays/" + day, token=ADMIN)  # a leftover of an earlier run
        created = self.assertJson(call("PUT", "/v1/holidays/" + day, {"name": "Құрбан айт"},
                                       token=ADMIN), 201)
        self.assertEqual(created, {"day": day, "name": "Құрбан айт"})
        renamed = self.assertJson(call("PUT", "/v1/holidays/" + day, {"name": "Курбан айт"},
                                       token=ADMIN), 200)
        self.assertEqual(renamed["name"], "Курбан айт")
        listed = self.assertJson(call("GET", "/v1/holidays?year=2097"), 200)["items"]
        self.assertIn({"day": day, "name": "Курбан айт"}, listed)
        self.assertStatus(call("DELETE", "/v1/holidays/" + day, token=ADMIN), 204)
        self.assertProblem(call("DELETE", "/v1/holidays/" + day, token=ADMIN), 404)
        listed = self.assertJson(call("GET", "/v1/holidays?year=2097"), 200)["items"]
        self.assertNotIn(day, [h["day"] for h in listed])

    def test_bad_holidays_are_rejected(self):
        self.assertFieldError(call("PUT", "/v1/holidays/2097-05-05", {"name": ""}, token=ADMIN),
                              "name")
        self.assertFieldError(call("PUT", "/v1/holidays/2097-05-05",
                                   {"name": "x", "day": "2097-05-06"}, token=ADMIN), "day")
        self.assertProblem(call("PUT", "/v1/holidays/2097-02-30", {"name": "x"}, token=ADMIN), 404)
        self.assertFieldError(call("GET", "/v1/holidays?year=twenty"), "year")
        self.assertProblem(call("PUT", "/v1/holidays/2097-05-05", {"name": "x"},
                                token=client.PORTAL), 403)
