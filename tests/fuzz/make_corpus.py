#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into tests/fuzz/corpus/<target>/ (replacing the
files it names, leaving others, such as crash reproducers, alone). Run it after changing the
route table or the bodies; commit what it writes.

fuzz_bodies inputs are one selector byte and a body. The selector is the route's index among the
POST/PATCH/PUT routes of src/http/routes.c in table order (BODY_ROUTES below must follow it) plus
a multiple of their count choosing the variant (see fuzz_bodies.c): variant 0 is the first role
the route allows with Content-Type application/json.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# POST/PATCH/PUT routes in the order of attachd_routes[] (src/http/routes.c).
BODY_ROUTES = [
    "POST /v1/settlements",
    "POST /v1/polyclinics",
    "PATCH /v1/polyclinics/{id}",
    "POST /v1/polyclinics/{id}/districts",
    "PATCH /v1/districts/{id}",
    "PUT /v1/campaigns/{year}",
    "POST /v1/applications",
    "POST /v1/applications/{id}/approve",
    "POST /v1/applications/{id}/refuse",
    "POST /v1/applications/{id}/withdraw",
    "POST /v1/tokens",
]


def check_digit(prefix11):
    """The IIN/BIN check digit of 11 digits, None when the number is never issued."""
    d = [int(c) for c in prefix11]
    k = sum(x * (i + 1) for i, x in enumerate(d)) % 11
    if k == 10:
        k = sum(x * w for x, w in zip(d, [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2])) % 11
        if k == 10:
            return None
    return k


def with_check(prefix11):
    k = check_digit(prefix11)
    assert k is not None, prefix11
    return prefix11 + str(k)


IIN_ADULT = with_check("90021530012")
IIN_CHILD = with_check("15061060045")
IIN_MOTHER = with_check("88030140077")
BIN = with_check("99034000123")

PERSON = {
    "iin": IIN_ADULT, "last_name": "Сәрсенбаев", "first_name": "Ерлан",
    "middle_name": "Қайратұлы", "birth_date": "1990-02-15", "sex": "male",
    "residency": "citizen",
    "insurance_contract": {"number": "ОСМС-1", "valid_until": "2030-12-31"},
}
APPLICATION = {
    "person": PERSON, "settlement": "750000000", "address": "көш. Төле би, 5, пәтер 7",
    "polyclinic_id": 1, "channel": "egov", "grounds": "relocation",
}
CHILD_APPLICATION = dict(
    APPLICATION,
    person=dict(PERSON, iin=IIN_CHILD, birth_date="2015-06-10", sex="female",
                middle_name=None, insurance_contract=None),
    representative={"iin": IIN_MOTHER, "relation": "mother"},
    birth_certificate="I-АЛ 0001234", district_id=None,
    family_iins=[IIN_MOTHER], channel="in_person", grounds="campaign")
POLYCLINIC = {
    "bin": BIN, "name_kk": "№ 1 емхана", "name_ru": "Поликлиника № 1",
    "settlement": "750000000", "also_serves": ["751000000"], "address": "көш. Абай, 10",
    "lat": 43.238949, "lon": 76.889709, "ownership": "public", "fsms_contract": True,
    "accepting": True, "auto_approve": False,
}

# (file name, route, variant, body) -- body: dict/list (dumped as JSON) or bytes as they are.
BODIES = [
    ("settlement", "POST /v1/settlements", 0,
     {"kato": "750000000", "name_kk": "Алматы", "name_ru": "Алматы"}),
    ("settlement-bad-kato", "POST /v1/settlements", 0,
     {"kato": "75000000X", "name_kk": "", "name_ru": "x" * 201}),
    ("polyclinic", "POST /v1/polyclinics", 0, POLYCLINIC),
    ("polyclinic-no-coords", "POST /v1/polyclinics", 0,
     {k: v for k, v in POLYCLINIC.items() if k not in ("lat", "lon", "also_serves")}),
    ("polyclinic-patch", "PATCH /v1/polyclinics/{id}", 0,
     {"accepting": False, "also_serves": [], "lat": 91, "lon": -180.0}),
    ("district", "POST /v1/polyclinics/{id}/districts", 0,
     {"number": "12A/1", "kind": "gp", "capacity": 2000, "open": True}),
    ("district-patch", "PATCH /v1/districts/{id}", 0, {"capacity": 1700, "open": False}),
    ("campaign", "PUT /v1/campaigns/{year}", 0,
     {"year": 2026, "opens_on": "2026-09-15", "closes_on": "2026-11-15",
      "effective_on": "2027-01-01", "max_changes": 1}),
    ("campaign-leap", "PUT /v1/campaigns/{year}", 0,
     {"opens_on": "2024-02-29", "closes_on": "2023-02-29"}),
    ("application-portal", "POST /v1/applications", 0, APPLICATION),
    ("application-registrar", "POST /v1/applications", 1,
     dict(APPLICATION, channel="in_person")),
    ("application-child", "POST /v1/applications", 1, CHILD_APPLICATION),
    ("application-idempotent", "POST /v1/applications", 12, APPLICATION),
    ("approve", "POST /v1/applications/{id}/approve", 0, {"district_id": 3}),
    ("approve-empty", "POST /v1/applications/{id}/approve", 0, b""),
    ("refuse", "POST /v1/applications/{id}/refuse", 0,
     {"reason": "NO_CAPACITY", "comment": "Нет мест"}),
    ("withdraw", "POST /v1/applications/{id}/withdraw", 0, {}),
    ("token-registrar", "POST /v1/tokens", 0,
     {"role": "registrar", "polyclinic_id": 1, "name": "регистратура"}),
    ("token-portal", "POST /v1/tokens", 0, {"role": "portal", "name": "egov"}),
    ("wrong-role", "POST /v1/tokens", 1, {"role": "admin"}),
    ("text-plain", "POST /v1/settlements", 6, {"kato": "750000000"}),
    # Edge cases, on whichever route.
    ("not-json", "POST /v1/settlements", 0, b"{\"kato\": 7500"),
    ("array", "POST /v1/polyclinics", 0, [1, 2, 3]),
    ("null", "PUT /v1/campaigns/{year}", 0, None),
    ("duplicate-keys", "POST /v1/tokens", 0, b'{"role":"admin","role":"portal"}'),
    ("nul-in-string", "POST /v1/settlements", 0,
     b'{"kato":"750000000\\u0000","name_kk":"a","name_ru":"b"}'),
    ("nul-in-array", "POST /v1/polyclinics", 0,
     json.dumps(dict(POLYCLINIC, also_serves=["751000000"])).encode()
     .replace(b'"751000000"', b'"751000000\\u0000x"')),
    ("long-unicode-key", "POST /v1/settlements", 0,
     ("{\"" + "ж" * 120 + "\": 1}").encode()),
    # Regressions. A key longer than a field path holds, cut inside a UTF-8 character, made
    # the error unrecordable: with no other error the PATCH answered 200 with an empty body.
    ("long-unicode-key-only", "PATCH /v1/districts/{id}", 0,
     ("{\"" + "ж" * 120 + "\": 1}").encode()),
    # jansson quotes the text near an error, here half a character after a bad escape: the
    # 400's detail was not UTF-8 and was dropped.
    ("bad-escape-unicode", "POST /v1/settlements", 0, '{"name_kk": "№ 1\\емхана"}'.encode()),
    ("huge-int", "POST /v1/polyclinics/{id}/districts", 0,
     b'{"number":"1","kind":"gp","capacity":99999999999999999999999}'),
    ("deep", "POST /v1/applications", 0, b"[" * 3000),
    ("bad-utf8", "POST /v1/settlements", 0, b'{"kato":"\xff\xfe"}'),
    ("wrong-types", "POST /v1/applications", 0,
     {"person": [], "settlement": 750000000, "polyclinic_id": "1", "channel": None,
      "grounds": True, "family_iins": [1, "x"], "representative": "mother"}),
]

IDS = [
    IIN_ADULT, IIN_CHILD, IIN_MOTHER, BIN, "750000000", "2024-02-29", "2023-02-29", "1799-12-31",
    "1800-01-01", "9999-12-31", "0000-01-01", "2026-04-31", "000000000000", "12345678901",
    "1234567890123", "99999999999X", "\x00\x00\x00\x00\x00\x00\x00\x00\x10",
    "900215\x00300123", "2025-12-31\xff\xff\xff\xff\xff\xff\xff\xff\x0f",
]

ROUTER = [
    # byte 0 method (0 GET 1 HEAD 2 POST 3 PUT 4 PATCH 5 DELETE 6 OPTIONS 7 from the input),
    # byte 1 role (0 admin 1 portal 2 registrar 3 none), byte 2 param buffer, byte 3 Allow buffer
    (0, 0, 255, 64, "/v1/polyclinics?settlement=750000000&accepting=true&limit=20"),
    (0, 0, 255, 64, "/v1/polyclinics?near=43.2,76.9&has_room_for_age=7&cursor=5"),
    (0, 0, 255, 64, "/v1/polyclinics?near=1e999,0&limit=0"),
    (0, 2, 255, 64, "/v1/applications?polyclinic_id=1&status=pending&overdue=true&limit=500"),
    (0, 2, 255, 64, "/v1/applications?cursor=9223372036854775807"),
    (0, 1, 255, 64, "/v1/persons/900215300123/attachment?on=2026-01-01"),
    (0, 1, 255, 64, "/v1/persons/9002153001/attachments"),
    (0, 0, 255, 64, "/v1/polyclinics/1/transfers?direction=in&from=2026-01-01&to=2026-02-30"),
    (0, 0, 255, 64, "/v1/stats/campaigns/2026"),
    (0, 0, 255, 64, "/v1/campaigns/current"),
    (0, 0, 255, 64, "/v1/campaigns/99999"),
    (0, 0, 255, 64, "/v1/settlements?limit=1000&cursor=750000000"),
    (0, 0, 255, 64, "/v1/settlements/75000000"),
    (1, 3, 255, 64, "/healthz"),
    (0, 3, 255, 64, "/openapi.json"),
    (0, 3, 255, 64, "/readyz"),
    (5, 0, 255, 64, "/v1/settlements"),
    (5, 0, 255, 64, "/v1/tokens/18446744073709551616"),
    (2, 2, 255, 64, "/v1/applications/7/approve"),
    (3, 0, 4, 8, "/v1/campaigns/2026"),
    (7, 0, 255, 64, "BREW /v1/polyclinics/1"),
    (0, 0, 255, 64, "/v1/polyclinics/1/districts/"),
    (0, 0, 255, 64, "//v1/polyclinics"),
    (0, 0, 3, 3, "/v1/districts/" + "9" * 300),
    # Regression: a path that is not UTF-8 made the 404's detail unencodable, so it was dropped.
    (0, 0, 255, 64, b"/v1/nope/\xff\xd0"),
]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    n = len(BODY_ROUTES)
    for name, route, variant, body in BODIES:
        sel = BODY_ROUTES.index(route) + n * variant
        assert sel < 256, name
        if not isinstance(body, bytes):
            body = json.dumps(body, ensure_ascii=False).encode()
        write("fuzz_bodies", name, bytes([sel]) + body)
    for i, s in enumerate(IDS):
        write("fuzz_ids", "id-%02d" % i, s.encode("latin-1"))
    for i, (m, role, buf, allow, text) in enumerate(ROUTER):
        raw = text if isinstance(text, bytes) else text.encode()
        write("fuzz_router", "url-%02d" % i, bytes([m, role, buf, allow]) + raw)


if __name__ == "__main__":
    main()
