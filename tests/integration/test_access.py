"""Access rules of SPEC §6 and the token endpoints: 401 without or with a bad token, 403 for a
role that may not call a route, registrar tokens bound to a polyclinic, revocation."""

import time

import client
from client import PORTAL, ApiTestCase, call, new_polyclinic, new_settlement

CATALOGUE_READS = ["/v1/settlements", "/v1/district-kinds", "/v1/refusal-reasons",
                   "/v1/campaigns"]


class AuthenticationTest(ApiTestCase):

    def test_no_token_is_401_problem(self):
        for path in CATALOGUE_READS + ["/v1/polyclinics"]:
            with self.subTest(path=path):
                r = call("GET", path, token=None)
                body = self.assertProblem(r, 401)
                self.assertEqual(body["code"], "UNAUTHORIZED")
                self.assertTrue((r.headers.get("WWW-Authenticate") or "").lower()
                                .startswith("bearer"), "401 names the Bearer scheme")
        self.assertProblem(call("POST", "/v1/settlements",
                                {"kato": client.random_kato(), "name_kk": "А", "name_ru": "Б"},
                                token=None), 401)

    def test_bad_token_is_401(self):
        bad = ["atd_" + "x" * 43, "nonsense", client.admin_token() + "x",
               client.admin_token()[:-1], "a" * 300]
        for i, tok in enumerate(bad):
            with self.subTest(case=i):  # never print a secret, even a mangled one
                self.assertProblem(call("GET", "/v1/district-kinds", token=tok), 401)

    def test_authorization_scheme_other_than_bearer_is_401(self):
        r = call("GET", "/v1/district-kinds", token=None,
                 headers={"Authorization": "Basic " + client.admin_token()})
        self.assertProblem(r, 401)
        r = call("GET", "/v1/district-kinds", token=None, headers={"Authorization": "Bearer "})
        self.assertProblem(r, 401)

    def test_operational_endpoints_need_no_token(self):
        for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
            with self.subTest(path=path):
                self.assertStatus(call("GET", path, token=None), 200)

    def test_bearer_scheme_is_case_insensitive(self):
        r = call("GET", "/v1/district-kinds", token=None,
                 headers={"Authorization": "bearer " + client.admin_token()})
        body = self.assertJson(r, 200)
        self.assertEqual(len(body["items"]), 4)


class PortalRoleTest(ApiTestCase):

    def test_portal_reads_catalogues(self):
        for path in CATALOGUE_READS:
            with self.subTest(path=path):
                body = self.assertJson(call("GET", path, token=PORTAL), 200)
                self.assertIsInstance(body.get("items"), list)

    def test_portal_writing_a_settlement_is_403(self):
        kato = client.random_kato()
        r = call("POST", "/v1/settlements", {"kato": kato, "name_kk": "А", "name_ru": "Б"},
                 token=PORTAL)
        self.assertProblem(r, 403, "FORBIDDEN")
        self.assertProblem(call("GET", "/v1/settlements/" + kato), 404)

    def test_portal_creating_a_polyclinic_is_403(self):
        body = client.polyclinic_body(new_settlement())
        self.assertProblem(call("POST", "/v1/polyclinics", body, token=PORTAL), 403, "FORBIDDEN")

    def test_portal_editing_a_polyclinic_is_403(self):
        p = new_polyclinic(new_settlement())
        self.assertProblem(call("PATCH", "/v1/polyclinics/%d" % p["id"], {"accepting": False},
                                token=PORTAL), 403, "FORBIDDEN")

    def test_portal_writing_a_campaign_is_403(self):
        y = client.free_campaign_year()
        r = call("PUT", "/v1/campaigns/%d" % y,
                 {"opens_on": "%d-09-01" % y, "closes_on": "%d-11-01" % y}, token=PORTAL)
        self.assertProblem(r, 403, "FORBIDDEN")
        self.assertNotIn(y, [c.get("year") for c in client.list_all("/v1/campaigns")])

    def test_portal_creating_a_token_is_403(self):
        r = call("POST", "/v1/tokens", {"role": "admin", "name": "escalate"}, token=PORTAL)
        self.assertProblem(r, 403, "FORBIDDEN")


class RegistrarRoleTest(ApiTestCase):

    @classmethod
    def setUpClass(cls):
        cls.kato = new_settlement()
        cls.polyclinic = new_polyclinic(cls.kato)
        cls.district = client.new_district(cls.polyclinic["id"], "gp")
        cls.token = client.registrar_token(cls.polyclinic["id"])

    def test_registrar_token_is_made_through_the_api(self):
        made = client.create_token("registrar", self.polyclinic["id"], "itest registrar")
        self.assertIsInstance(made.get("id"), int)
        self.assertIsInstance(made.get("token"), str)
        self.assertGreaterEqual(len(made["token"]), 20, "a token secret is long and random")
        self.assertNotEqual(made["token"], self.token)
        body = self.assertJson(call("GET", "/v1/district-kinds", token=made["token"]), 200)
        self.assertEqual(len(body["items"]), 4)

    def test_registrar_reads_catalogues(self):
        pid = self.polyclinic["id"]
        for path in CATALOGUE_READS + ["/v1/settlements/" + self.kato,
                                       "/v1/polyclinics?settlement=" + self.kato,
                                       "/v1/polyclinics/%d" % pid,
                                       "/v1/polyclinics/%d/districts" % pid]:
            with self.subTest(path=path):
                body = self.assertJson(call("GET", path, token=self.token), 200)
                if "items" in body:
                    self.assertIsInstance(body["items"], list)
        got = self.assertJson(call("GET", "/v1/polyclinics/%d" % pid, token=self.token), 200)
        self.assertEqual(got["id"], pid)

    def test_registrar_admin_writes_are_403(self):
        pid = self.polyclinic["id"]
        y = client.free_campaign_year()
        writes = [
            ("POST", "/v1/settlements",
             {"kato": client.random_kato(), "name_kk": "А", "name_ru": "Б"}),
            ("POST", "/v1/polyclinics", client.polyclinic_body(self.kato)),
            ("PATCH", "/v1/polyclinics/%d" % pid, {"accepting": False}),
            ("POST", "/v1/polyclinics/%d/districts" % pid, {"number": "99", "kind": "gp"}),
            ("PATCH", "/v1/districts/%d" % self.district["id"], {"open": False}),
            ("PUT", "/v1/campaigns/%d" % y, {"opens_on": "%d-09-01" % y,
                                             "closes_on": "%d-11-01" % y}),
            ("POST", "/v1/tokens", {"role": "registrar", "polyclinic_id": pid, "name": "more"}),
        ]
        for method, path, body in writes:
            with self.subTest(route="%s %s" % (method, path)):
                self.assertProblem(call(method, path, body, token=self.token), 403, "FORBIDDEN")
        got = self.assertJson(call("GET", "/v1/polyclinics/%d" % pid), 200)
        self.assertIs(got["accepting"], self.polyclinic["accepting"], "nothing was changed")
        districts = client.list_all("/v1/polyclinics/%d/districts" % pid)
        self.assertEqual([(d["id"], d["open"]) for d in districts], [(self.district["id"], True)])


class TokensTest(ApiTestCase):

    def test_registrar_token_without_polyclinic_is_422(self):
        r = call("POST", "/v1/tokens", {"role": "registrar", "name": "no polyclinic"})
        self.assertFieldError(r, "polyclinic_id")

    def test_registrar_token_for_unknown_polyclinic_is_422(self):
        r = call("POST", "/v1/tokens", {"role": "registrar", "polyclinic_id": 999999999,
                                        "name": "ghost"})
        self.assertFieldError(r, "polyclinic_id")

    def test_token_of_unknown_role_is_422(self):
        self.assertFieldError(call("POST", "/v1/tokens", {"role": "root", "name": "x"}), "role")

    def test_portal_token_made_by_admin_works(self):
        made = client.create_token("portal")
        body = self.assertJson(call("GET", "/v1/refusal-reasons", token=made["token"]), 200)
        self.assertTrue(body["items"])
        r = call("POST", "/v1/settlements", {"kato": client.random_kato(), "name_kk": "А",
                                            "name_ru": "Б"}, token=made["token"])
        self.assertProblem(r, 403)

    def test_revoked_token_is_401(self):
        made = client.create_token("portal")
        secret = made["token"]
        self.assertJson(call("GET", "/v1/district-kinds", token=secret), 200)
        r = call("DELETE", "/v1/tokens/%d" % made["id"])
        self.assertStatus(r, 204)
        self.assertFalse(r.body, "204 has no body")
        # Token caches may keep it up to about a second: allow two.
        deadline = time.monotonic() + 2.0
        while True:
            r = call("GET", "/v1/district-kinds", token=secret)
            if r.status == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertProblem(r, 401)
        # On a fresh connection (likely another server thread) too.
        while True:
            conn = client.new_connection()
            try:
                conn.request("GET", client.full_path("/v1/district-kinds"),
                             headers={"Authorization": "Bearer " + secret})
                resp = conn.getresponse()
                data = resp.read()
                client.check_contract("GET", "/v1/district-kinds", resp.status, resp.headers,
                                      client.parse_body(resp.headers, data))
            finally:
                conn.close()
            if resp.status == 401 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(resp.status, 401, "a revoked token on a fresh connection")

    def test_revoking_twice_or_unknown_token_is_404(self):
        made = client.create_token("portal")
        self.assertStatus(call("DELETE", "/v1/tokens/%d" % made["id"]), 204)
        self.assertProblem(call("DELETE", "/v1/tokens/%d" % made["id"]), 404)
        self.assertProblem(call("DELETE", "/v1/tokens/999999999"), 404)

    def test_portal_may_not_revoke_tokens(self):
        made = client.create_token("portal")
        self.assertProblem(call("DELETE", "/v1/tokens/%d" % made["id"], token=PORTAL), 403)
        self.assertJson(call("GET", "/v1/district-kinds", token=made["token"]), 200)
