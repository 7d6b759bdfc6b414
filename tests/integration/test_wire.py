"""The wire (SPEC §7) and the operational endpoints (§8): status codes of bad requests,
RFC 9457 problem bodies, body limits, keep-alive, /healthz, /readyz, /metrics, /openapi.json."""

import io
import re
import select
import socket
import ssl
import threading
import http.client

import client
from client import ApiTestCase, call, new_settlement

ONE_MIB = 1024 * 1024


def settlement_body(**over):
    body = {"kato": client.random_kato(), "name_kk": "Сым " + client.unique(),
            "name_ru": "Провод " + client.unique()}
    body.update(over)
    return body


class _BytesSocket:
    """Lets http.client.HTTPResponse parse bytes already read from a socket."""

    def __init__(self, data):
        self.data = data

    def makefile(self, *args, **kwargs):
        return io.BytesIO(self.data)


def raw_exchange(method, path, headers, body_chunks, chunked=False):
    """Sends a request over a plain socket, stopping early when the server answers (a server
    may answer 413 and close without reading the body). Returns (status, headers, body)."""
    scheme, host, port, _ = client._target()
    sock = socket.create_connection((host, port), timeout=client.TIMEOUT)
    if scheme == "https":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    try:
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\n" % (method, client.full_path(path), host, port)
        for k, v in headers.items():
            head += "%s: %s\r\n" % (k, v)
        if chunked:
            head += "Transfer-Encoding: chunked\r\n"
        sock.sendall((head + "\r\n").encode("latin-1"))
        pieces = []
        for chunk in body_chunks:
            pieces.append(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
        if chunked:
            pieces.append(b"0\r\n\r\n")
        for piece in pieces:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered already
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        sock.settimeout(10)
        while True:
            try:
                got = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not got:
                break
            data += got
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", data[:end])
                if m and len(data) >= end + 4 + int(m.group(1)):
                    break
        if not data:
            raise AssertionError("%s %s: the server closed the connection without an answer"
                                 % (method, path))
        resp = http.client.HTTPResponse(_BytesSocket(data), method=method)
        resp.begin()
        payload = resp.read()
        return client.Response(resp.status, resp.headers, client.parse_body(resp.headers,
                                                                            payload))
    finally:
        sock.close()


def metric_samples(text, name):
    """{label text: value} of the samples of one metric in Prometheus text."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)", line)
        if m and m.group(1) == name:
            out[m.group(2) or ""] = float(m.group(3))
    return out


def normalise_path(p):
    return re.sub(r"\{[^}]*\}", "{}", p)


class BadBodiesTest(ApiTestCase):

    def test_malformed_json_is_400(self):
        for raw in ('{"kato": ', '{kato: "751110000"}', "{'kato': '751110000'}",
                    '{"kato": "751110000",}', "", "   ", '{"a": 1} {"b": 2}', '{"a": tru}'):
            with self.subTest(body=raw):
                self.assertProblem(call("POST", "/v1/settlements", raw=raw), 400, "MALFORMED_JSON")

    def test_duplicate_keys_are_400(self):
        k1, k2 = client.random_kato(), client.random_kato()
        raw = '{"kato": "%s", "kato": "%s", "name_kk": "Екі", "name_ru": "Два"}' % (k1, k2)
        self.assertProblem(call("POST", "/v1/settlements", raw=raw), 400)
        self.assertProblem(call("GET", "/v1/settlements/" + k1), 404)
        self.assertProblem(call("GET", "/v1/settlements/" + k2), 404)

    def test_invalid_utf8_is_400(self):
        kato = client.random_kato()
        raw = b'{"kato": "' + kato.encode() + b'", "name_kk": "\xff\xfe", "name_ru": "x"}'
        self.assertProblem(call("POST", "/v1/settlements", raw=raw), 400)
        self.assertProblem(call("GET", "/v1/settlements/" + kato), 404)

    def test_body_that_is_not_json_is_415(self):
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml",
                      None):
            with self.subTest(content_type=ctype):
                r = call("POST", "/v1/settlements", raw='{"kato": "751110000"}',
                         headers={"Content-Type": ctype})
                self.assertProblem(r, 415)

    def test_json_with_charset_parameter_is_accepted(self):
        body = settlement_body()
        r = call("POST", "/v1/settlements", body,
                 headers={"Content-Type": "application/json; charset=utf-8"})
        got = self.assertJson(r, 201)
        self.assertEqual(got["kato"], body["kato"])

    def test_json_array_body_is_422(self):
        for raw in ("[]", '[{"kato": "751110000"}]'):
            with self.subTest(body=raw):
                self.assertProblem(call("POST", "/v1/settlements", raw=raw), 422)

    def test_json_scalar_body_is_422(self):
        # RFC 8259: a bare value is well-formed JSON, so this is 422 (not an object), not 400
        for raw in ("null", "42", '"751110000"', "true"):
            with self.subTest(body=raw):
                self.assertProblem(call("POST", "/v1/settlements", raw=raw), 422)

    def test_unknown_field_is_422_naming_it(self):
        r = call("POST", "/v1/settlements", settlement_body(colour="green"))
        body = self.assertFieldError(r, "colour")
        self.assertEqual(body["code"], "VALIDATION_FAILED")

    def test_wrong_type_is_422_naming_the_field(self):
        r = call("POST", "/v1/settlements", settlement_body(name_kk=["Алматы"]))
        self.assertFieldError(r, "name_kk")

    def test_body_over_1_mib_is_413(self):
        size = ONE_MIB + ONE_MIB // 10
        filler = b'{"kato": "751110000", "name_kk": "' + b"a" * (size - 60)
        body = filler + b'", "name_ru": "b"}'
        chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
        r = raw_exchange("POST", "/v1/settlements",
                         {"Authorization": "Bearer " + client.admin_token(),
                          "Content-Type": "application/json",
                          "Content-Length": str(len(body))}, chunks)
        self.assertProblem(r, 413)
        self.assertStatus(call("GET", "/healthz", token=None), 200, "the server still answers")

    def test_chunked_body_over_1_mib_is_413(self):
        piece = b"a" * 65536
        chunks = [b'{"kato": "751110000", "name_kk": "'] + [piece] * 18 + [b'", "name_ru": "b"}']
        r = raw_exchange("POST", "/v1/settlements",
                         {"Authorization": "Bearer " + client.admin_token(),
                          "Content-Type": "application/json"}, chunks, chunked=True)
        self.assertProblem(r, 413)
        self.assertStatus(call("GET", "/healthz", token=None), 200, "the server still answers")

    def test_body_just_under_the_limit_is_read(self):
        # A valid JSON document of about 1000 KiB: judged on its content (422), not its size.
        body = settlement_body(name_kk="a" * (1000 * 1024))
        r = call("POST", "/v1/settlements", body)
        self.assertFieldError(r, "name_kk")


class RoutesTest(ApiTestCase):

    def test_unknown_route_is_404_problem(self):
        for path in ("/v1/nothing-here", "/v2/settlements", "/v1/settlements/751110000/extra",
                     "/"):
            with self.subTest(path=path):
                self.assertProblem(call("GET", path), 404)

    def test_wrong_method_is_405_with_allow(self):
        cases = [("DELETE", "/v1/settlements", {"GET", "POST"}),
                 ("PUT", "/v1/district-kinds", {"GET"}),
                 ("GET", "/v1/tokens", {"POST"}),
                 ("POST", "/healthz", {"GET"})]
        for method, path, allowed in cases:
            with self.subTest(route="%s %s" % (method, path)):
                r = call(method, path, raw="{}" if method != "DELETE" else None)
                self.assertProblem(r, 405)
                allow = {m.strip() for m in (r.headers.get("Allow") or "").split(",") if m.strip()}
                self.assertTrue(allowed <= allow, "Allow: %r should list %r" % (allow, allowed))
                self.assertNotIn(method, allow)

    def test_every_error_is_a_problem_json(self):
        existing = new_settlement()
        cases = [
            (400, call("POST", "/v1/settlements", raw="{")),
            (401, call("GET", "/v1/settlements", token=None)),
            (403, call("POST", "/v1/settlements", settlement_body(), token=client.PORTAL)),
            (404, call("GET", "/v1/no-such-route")),
            (404, call("GET", "/v1/settlements/" + client.random_kato())),
            (405, call("PATCH", "/v1/settlements", raw="{}")),
            (409, call("POST", "/v1/settlements", settlement_body(kato=existing))),
            (415, call("POST", "/v1/settlements", raw="{}",
                       headers={"Content-Type": "text/plain"})),
            (422, call("POST", "/v1/settlements", settlement_body(kato="abc"))),
        ]
        for status, r in cases:
            with self.subTest(status=status):
                body = self.assertProblem(r, status)
                self.assertRegex(body["code"], r"^[A-Z][A-Z0-9_]+$")


class OperationalEndpointsTest(ApiTestCase):

    def test_healthz_is_200(self):
        r = call("GET", "/healthz", token=None)
        body = self.assertStatus(r, 200)
        if isinstance(body, dict):
            self.assertEqual(body.get("status"), "ok")

    def test_head_is_answered_like_get(self):
        # RFC 9110 9.1: general-purpose servers support HEAD wherever they support GET
        conn = client.new_connection()
        try:
            conn.request("HEAD", client.full_path("/healthz"))
            resp = conn.getresponse()
            self.assertEqual(resp.read(), b"")
            client.check_contract("HEAD", "/healthz", resp.status, resp.headers, None)
            self.assertEqual(resp.status, 200)
        finally:
            conn.close()

    def test_readyz_is_200_ready(self):
        body = self.assertJson(call("GET", "/readyz", token=None), 200)
        self.assertEqual(body.get("status"), "ready")

    def test_metrics_is_prometheus_text_with_requests_and_buckets(self):
        r = call("GET", "/metrics", token=None)
        text = self.assertStatus(r, 200)
        self.assertEqual(client.media_type(r.headers), "text/plain")
        self.assertIsInstance(text, str)
        self.assertIn("attachd_http_requests_total", text)
        self.assertIn("_bucket{", text)
        self.assertRegex(text, r"(?m)^# TYPE attachd_http_requests_total counter$")
        sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"'
                            r'(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*,?)?\})? '
                            r'([-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?)|NaN|[-+]Inf)'
                            r'( -?\d+)?$')
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, sample)
        # every histogram's +Inf bucket equals its _count
        for m in re.finditer(r'(?m)^(\w+)_bucket\{(.*)le="\+Inf"\}\s+(\S+)$', text):
            name, labels, value = m.group(1), m.group(2).rstrip(","), float(m.group(3))
            count = metric_samples(text, name + "_count").get("{%s}" % labels if labels else "")
            self.assertEqual(count, value, "%s{%s} +Inf bucket vs _count" % (name, labels))

    def test_metrics_count_requests(self):
        def healthz_count():
            text = call("GET", "/metrics", token=None).body
            return sum(v for k, v in metric_samples(text, "attachd_http_requests_total").items()
                       if "healthz" in k and "200" in k)
        before = healthz_count()
        for _ in range(3):
            self.assertStatus(call("GET", "/healthz", token=None), 200)
        self.assertGreaterEqual(healthz_count() - before, 3)

    def test_openapi_document_lists_the_routes(self):
        body = self.assertJson(call("GET", "/openapi.json", token=None), 200)
        self.assertRegex(body.get("openapi", ""), r"^3\.1\.\d+$")
        self.assertIsInstance(body.get("info"), dict)
        self.assertTrue(body["info"].get("title"))
        self.assertTrue(body["info"].get("version"))
        paths = {normalise_path(p): ops for p, ops in body.get("paths", {}).items()}
        expected = {
            "/healthz": ["get"], "/readyz": ["get"], "/metrics": ["get"], "/openapi.json": ["get"],
            "/v1/settlements": ["get", "post"], "/v1/settlements/{kato}": ["get"],
            "/v1/district-kinds": ["get"], "/v1/refusal-reasons": ["get"],
            "/v1/polyclinics": ["get", "post"], "/v1/polyclinics/{id}": ["get", "patch"],
            "/v1/polyclinics/{id}/districts": ["get", "post"], "/v1/districts/{id}": ["patch"],
            "/v1/campaigns": ["get"], "/v1/campaigns/current": ["get"],
            "/v1/campaigns/{year}": ["put"], "/v1/tokens": ["post"],
            "/v1/tokens/{id}": ["delete"],
        }
        for path, methods in expected.items():
            with self.subTest(path=path):
                ops = paths.get(normalise_path(path))
                self.assertIsInstance(ops, dict, "paths lacks %s" % path)
                for m in methods:
                    self.assertIn(m, ops, "%s lacks %s" % (path, m))
                    self.assertIn("responses", ops[m])


class KeepAliveTest(ApiTestCase):

    def exchange(self, conn, method, path, token=True, body=None):
        headers = {}
        if token:
            headers["Authorization"] = "Bearer " + client.admin_token()
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, client.full_path(path), body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        client.check_contract(method, path, resp.status, resp.headers,
                              client.parse_body(resp.headers, data))
        return resp.status, resp.will_close, conn.sock.getsockname() if conn.sock else None, data

    def test_50_sequential_requests_on_one_connection(self):
        conn = client.new_connection()
        try:
            paths = ["/healthz", "/v1/district-kinds", "/v1/settlements?limit=2",
                     "/v1/refusal-reasons", "/readyz"]
            seen = set()
            for i in range(50):
                status, closing, local, data = self.exchange(conn, "GET", paths[i % len(paths)])
                self.assertEqual(status, 200, "request %d: %r" % (i, data[:200]))
                self.assertFalse(closing, "request %d: the server closed the connection" % i)
                seen.add(local)
            self.assertEqual(len(seen), 1, "all 50 requests used one TCP connection")
        finally:
            conn.close()

    def test_concurrent_clients_are_all_served(self):
        failures = []

        def client_thread(n):
            for i in range(25):
                path = ("/healthz", "/v1/district-kinds", "/v1/settlements?limit=3")[(n + i) % 3]
                try:
                    r = call("GET", path)
                    if r.status != 200 or not isinstance(r.body, dict):
                        failures.append((path, r.status, r.body))
                except OSError as e:
                    failures.append((path, "exception", repr(e)))
        threads = [threading.Thread(target=client_thread, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [], "200 answers to 8 clients x 25 requests")

    def test_error_answers_keep_the_connection(self):
        conn = client.new_connection()
        try:
            kato = new_settlement()
            steps = [("GET", "/v1/district-kinds", False, None, 401),
                     ("GET", "/v1/no-such-route", True, None, 404),
                     ("POST", "/v1/settlements", True, b'{"kato": "1"', 400),
                     ("POST", "/v1/settlements", True, b'{"kato": "x", "name_kk": "a", '
                      b'"name_ru": "b"}', 422),
                     ("POST", "/v1/settlements", True, ('{"kato": "%s", "name_kk": "a", '
                                                        '"name_ru": "b"}' % kato).encode(), 409),
                     ("DELETE", "/v1/district-kinds", True, None, 405),
                     ("GET", "/v1/settlements/" + kato, True, None, 200)]
            seen = set()
            for method, path, token, body, want in steps:
                status, closing, local, data = self.exchange(conn, method, path, token, body)
                self.assertEqual(status, want, "%s %s: %r" % (method, path, data[:200]))
                self.assertFalse(closing, "%s %s -> %d closed the connection"
                                 % (method, path, status))
                seen.add(local)
            self.assertEqual(len(seen), 1, "every answer came on one TCP connection")
        finally:
            conn.close()
