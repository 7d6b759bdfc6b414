"""Every answer the integration suite receives is checked against the service's own OpenAPI
document (SPEC §12: "every answer the service gives validates against it").

check(method, path, status, headers, body, malformed=False) raises AssertionError, failing the
test that made the call, unless:
  - the path and method name an operation of the document and the status is one it lists, and
  - the answer's media type is one that response documents (no body where it documents none),
  - the body validates against that response's schema (JSON Schema 2020-12, formats date and
    date-time checked), and
  - the answer carries X-Request-Id, and a 201 carries Location.
A path or method the document does not know must answer a problem (404 ROUTE_NOT_FOUND or
405), and a request sent malformed on purpose (malformed=True) may answer a status its
operation does not list, but still only with a problem that validates against the document's
Problem schema.

Uses python3-jsonschema (Debian 12: 4.10; newer ones with `referencing` work too).
"""

import datetime
import json
import re
import threading

import jsonschema

import client

# A base URI that urljoin() understands (RefResolver joins "#/..." refs to it); never fetched:
# the document is handed to the resolver under that name.
DOC_URI = "https://attachd.invalid/openapi.json"

_lock = threading.Lock()
_state = {}
counts = {"checked": 0, "malformed": 0}  # answers checked, of which sent malformed on purpose


def _document():
    with _lock:
        if "doc" not in _state:
            r = client.call("GET", "/openapi.json", token=None, check=False)
            if r.status != 200 or not isinstance(r.body, dict):
                raise AssertionError("GET /openapi.json -> %s %r" % (r.status, r.body))
            _state["doc"] = r.body
            _state["routes"] = _routes(r.body)
            _state["validators"] = {}
        return _state["doc"]


def _routes(doc):
    """(regex, template) of every path, literal segments first (/v1/campaigns/current before
    /v1/campaigns/{year}), as the router matches."""
    out = []
    for template in doc.get("paths", {}):
        rx = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        out.append((template.count("{"), re.compile(rx), template))
    out.sort(key=lambda t: t[0])
    return [(rx, template) for _, rx, template in out]


def _pointer(*parts):
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date", raises=ValueError)
    def is_date(value):
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("not YYYY-MM-DD")
        datetime.date.fromisoformat(value)
        return True

    @checker.checks("date-time", raises=ValueError)
    def is_date_time(value):
        if not isinstance(value, str):
            return True
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value):
            raise ValueError("not an RFC 3339 date-time")
        return True

    return checker


def _validator(pointer):
    """A validator of the schema at pointer (inside the document), refs resolved in it."""
    doc = _document()
    with _lock:
        v = _state["validators"].get(pointer)
        if v:
            return v
        schema = {"$ref": DOC_URI + pointer}
        cls = jsonschema.Draft202012Validator
        try:
            from referencing import Registry, Resource  # jsonschema >= 4.18
            from referencing.jsonschema import DRAFT202012
            registry = Registry().with_resource(
                DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012))
            v = cls(schema, registry=registry, format_checker=_format_checker())
        except ImportError:
            resolver = jsonschema.RefResolver(DOC_URI, doc, store={DOC_URI: doc})
            v = cls(schema, resolver=resolver, format_checker=_format_checker())
        _state["validators"][pointer] = v
        return v


def _resolve(doc, obj, pointer):
    """Follows a local $ref: (object, pointer of the object)."""
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        pointer = ref
        obj = doc
        for part in ref[2:].split("/"):
            obj = obj[part.replace("~1", "/").replace("~0", "~")]
    return obj, pointer


def _media_type(headers):
    return (headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _validate_body(pointer, body, what):
    errors = sorted(_validator(pointer).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join("at %s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(body)",
                                         e.message[:300]) for e in errors[:5])
        raise AssertionError("contract: %s does not validate against %s: %s\nbody: %s"
                             % (what, pointer, shown, json.dumps(body, ensure_ascii=False)[:1500]))


def _problem(status, headers, body, what):
    if _media_type(headers) != "application/problem+json":
        raise AssertionError("contract: %s: %d answered %r, not a problem"
                             % (what, status, _media_type(headers)))
    _validate_body("#/components/schemas/Problem", body, what)


def check(method, path, status, headers, body, malformed=False):
    doc = _document()
    with _lock:
        counts["checked"] += 1
        counts["malformed"] += 1 if malformed else 0
    route_path = path.split("?", 1)[0]
    what = "%s %s -> %d" % (method, route_path, status)
    if not headers.get("X-Request-Id"):
        raise AssertionError("contract: %s has no X-Request-Id" % what)
    op_method = "get" if method == "HEAD" else method.lower()
    template = next((t for rx, t in _state["routes"] if rx.match(route_path)), None)
    item = doc["paths"].get(template) if template else None
    op = item.get(op_method) if item else None
    if op is None:
        # not an operation: the router's 404 or 405, as problems
        if status not in (404, 405):
            raise AssertionError("contract: %s: no operation, yet not 404/405" % what)
        if method != "HEAD":
            _problem(status, headers, body, what)
        return
    op_pointer = ("paths", template, op_method)
    responses = op.get("responses", {})
    key = str(status) if str(status) in responses else None
    if key is None:
        if malformed and status >= 400:
            if method != "HEAD":
                _problem(status, headers, body, what + " (malformed on purpose)")
            return
        raise AssertionError("contract: %s: status %d is not documented (documented: %s)"
                             % (what, status, ", ".join(sorted(responses))))
    resp, resp_pointer = _resolve(doc, responses[key],
                                  _pointer(*op_pointer, "responses", key))
    if status == 201 and not headers.get("Location"):
        raise AssertionError("contract: %s has no Location" % what)
    content = resp.get("content")
    if method == "HEAD":
        return
    if not content:
        if body not in (None, "", b""):
            raise AssertionError("contract: %s documents no body, got %r" % (what, body))
        return
    mtype = _media_type(headers)
    if mtype not in content:
        raise AssertionError("contract: %s answered %r; documented: %s"
                             % (what, mtype, ", ".join(content)))
    schema = content[mtype].get("schema")
    if schema is None:
        return
    if resp_pointer.startswith("#/components/"):
        pointer = resp_pointer + _pointer("content", mtype, "schema")[1:]
    else:
        pointer = _pointer(*op_pointer, "responses", key, "content", mtype, "schema")
    if not (mtype == "application/json" or mtype.endswith("+json")):
        if not isinstance(body, str):
            raise AssertionError("contract: %s: %s body is not text" % (what, mtype))
        return
    _validate_body(pointer, body, what)
