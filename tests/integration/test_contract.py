"""SPEC §11 "Strict queries" and §12 "The contract is the document".

A query parameter an operation does not declare in /openapi.json is a 422 naming it (field path
= the parameter's name), answered before the handler runs, so nothing changes. Every answer of
this suite is also checked against the document by client.call (contract.py); the tests here
check the document itself: every operation lists its roles, its statuses and their problems.
"""

import os
import unittest
import urllib.parse

import client
from apphelpers import application_body, db_available, make_clinic, new_person, psql, NO_DB
from client import ADMIN, PORTAL, ApiTestCase, call

UNKNOWN = "zz_not_a_parameter"


def document():
    return call("GET", "/openapi.json", token=None).body


def declared_queries(doc, method, template):
    op = doc["paths"][template][method.lower()]
    shared = doc.get("components", {}).get("parameters", {})
    names = set()
    for p in op.get("parameters", []):
        if "$ref" in p:
            p = shared[p["$ref"].rsplit("/", 1)[1]]
        if p.get("in") == "query":
            names.add(p["name"])
    return names


def audit_high_water():
    """The newest audit id: every write to the register's tables adds a row (0003_audit.sql)."""
    return int(psql("SELECT coalesce(max(id), 0) FROM audit") or 0)


class StrictQueryTest(ApiTestCase):

    def assertUnknownParameter(self, resp, name):
        body = self.assertFieldError(resp, name)
        message = next(e["message"] for e in body["errors"] if e["field"] == name)
        self.assertIn("not a query parameter", message)
        return body

    def test_dry_run_on_submission_is_422_and_stores_nothing(self):
        clinic = make_clinic()
        person = new_person()
        body = application_body(clinic.body, person=person)
        r = call("POST", "/v1/applications?dry_run=true", body, token=PORTAL)
        self.assertUnknownParameter(r, "dry_run")
        # nothing stored: the person has no application and no attachment on record
        self.assertProblem(call("GET", "/v1/persons/%s/attachment" % person["iin"]), 404)
        self.assertEqual(client.list_all("/v1/applications?polyclinic_id=%d" % clinic.id), [])

    def test_radius_on_polyclinic_search_is_422(self):
        r = call("GET", "/v1/polyclinics?near=43.2,76.9&radius=5000")
        body = self.assertUnknownParameter(r, "radius")
        fields = [e["field"] for e in body["errors"]]
        self.assertNotIn("near", fields, "a declared parameter is not an error")

    def test_campaign_stats_take_settlement_but_refuse_what_they_do_not_know(self):
        # finding 10 of issue 8: `settlement` was silently ignored; now it is a filter, and a
        # parameter the route does not know is a 422 naming it
        self.assertIn("settlement", declared_queries(document(), "GET", "/v1/stats/campaigns/{year}"))
        r = call("GET", "/v1/stats/campaigns/2026?settlement=751110000&region=almaty")
        self.assertUnknownParameter(r, "region")

    def test_unknown_parameter_on_each_list_route_is_422(self):
        doc = document()
        clinic = make_clinic()
        iin = new_person()["iin"]
        lists = []
        for template, item in doc["paths"].items():
            op = item.get("get")
            schema = (op or {}).get("responses", {}).get("200", {}).get("content", {}) \
                .get("application/json", {}).get("schema", {})
            ref = schema.get("$ref", "")
            target = doc["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {}) if ref else {}
            if "items" not in target.get("properties", {}):
                continue
            lists.append(template)
            path = (template.replace("{id}", str(clinic.id)).replace("{iin}", iin)
                    .replace("{kato}", clinic.kato).replace("{year}", "2026"))
            with self.subTest(route=template):
                self.assertUnknownParameter(call("GET", path + "?" + UNKNOWN + "=1"), UNKNOWN)
                # beside a declared one with a bad value, only the unknown one is named: the
                # answer comes before the handler reads its parameters
                known = sorted(declared_queries(doc, "GET", template))
                if known:
                    r = call("GET", "%s?%s=1&%s=%%00bad" % (path, UNKNOWN, known[0]),
                             malformed=True)
                    body = self.assertUnknownParameter(r, UNKNOWN)
                    self.assertEqual([e["field"] for e in body["errors"]], [UNKNOWN])
        self.assertGreaterEqual(len(lists), 10, "list routes found: %r" % lists)

    @unittest.skipUnless(db_available(), NO_DB)
    def test_unknown_parameter_on_every_operation_changes_nothing(self):
        doc = document()
        clinic = make_clinic()
        registrar = clinic.reg
        tokens = {"admin": ADMIN, "portal": PORTAL, "registrar": registrar}
        before = audit_high_water()
        n = 0
        for template, item in doc["paths"].items():
            for method, op in item.items():
                roles = op.get("x-roles", [])
                token = tokens[roles[0]] if roles else None
                path = (template.replace("{id}", str(clinic.id))
                        .replace("{iin}", new_person()["iin"]).replace("{kato}", clinic.kato)
                        .replace("{year}", "2026").replace("{day}", "2099-12-31"))
                body = {} if "requestBody" in op else None
                with self.subTest(operation="%s %s" % (method.upper(), template)):
                    r = call(method.upper(), "%s?%s" % (path, urllib.parse.urlencode({UNKNOWN: "1"})),
                             body, token=token)
                    self.assertUnknownParameter(r, UNKNOWN)
                n += 1
        self.assertEqual(audit_high_water(), before, "an unknown parameter changed something")
        self.assertGreater(n, 30)

    def test_parameter_without_value_and_percent_encoded_name_are_named(self):
        self.assertUnknownParameter(call("GET", "/v1/settlements?flag"), "flag")
        self.assertUnknownParameter(call("GET", "/v1/settlements?%C3%A4rger=1"), "ärger")

    def test_declared_parameters_still_work(self):
        r = call("GET", "/v1/settlements?limit=1")
        self.assertEqual(len(self.assertJson(r, 200)["items"]), 1)


class DocumentTest(ApiTestCase):

    def test_every_operation_lists_roles_statuses_and_problems(self):
        doc = document()
        for template, item in doc["paths"].items():
            for method, op in item.items():
                with self.subTest(operation="%s %s" % (method.upper(), template)):
                    self.assertIn("operationId", op)
                    self.assertIsInstance(op.get("x-roles"), list)
                    responses = op["responses"]
                    self.assertIn("422", responses)
                    if op["x-roles"]:
                        for status in ("401", "403", "503"):
                            self.assertIn(status, responses)
                    if "requestBody" in op:
                        for status in ("400", "413", "415"):
                            self.assertIn(status, responses)
                        media = op["requestBody"]["content"]["application/json"]
                        self.assertIn("example", media, "an example of the body")

    def test_answers_carry_x_request_id_and_echo_a_usable_one(self):
        r = call("GET", "/healthz", token=None, headers={"X-Request-Id": "itest-" + client.RUN_ID})
        self.assertEqual(r.headers.get("X-Request-Id"), "itest-" + client.RUN_ID)
        r = call("GET", "/healthz", token=None, headers={"X-Request-Id": "x" * 201})
        self.assertRegex(r.headers.get("X-Request-Id", ""), r"^[0-9a-f]{8}(-[0-9a-f]{8}){3}$")
        a = call("GET", "/healthz", token=None).headers.get("X-Request-Id")
        b = call("GET", "/healthz", token=None).headers.get("X-Request-Id")
        self.assertNotEqual(a, b)

    def test_the_contract_check_catches_a_wrong_answer(self):
        # the checker itself can fail: a body the schema does not allow is reported
        r = call("GET", "/v1/district-kinds")
        with self.assertRaises(AssertionError):
            client.check_contract("GET", "/v1/district-kinds", 200, r.headers,
                                  {"items": [{"code": 7}], "next_cursor": None})
        with self.assertRaises(AssertionError):
            client.check_contract("GET", "/v1/district-kinds", 418, r.headers, r.body)
