"""HTTP: routing of Kubernetes API paths onto Api operations, auth, fault injection, chunked watches."""

import json
import logging
import random
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from . import discovery, metrics
from .api import Api
from .auth import Tokens, authorize, request_attributes
from .errors import ApiError, bad_request, status
from .resources import NODES, lookup
from .tables import as_table, wants_table

log = logging.getLogger("kubenode.sim")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
PUBLIC_PATHS = (["version"], ["healthz"], ["readyz"], ["livez"])


SSAR_PATH = ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]


class Faults:
    """--latency-ms, --fail-rate, --conflict-rate; one seeded generator so runs repeat."""

    def __init__(self, latency_ms=0, fail_rate=0.0, conflict_rate=0.0, seed=0):
        self.latency = latency_ms / 1000.0
        self.fail_rate = fail_rate
        self.conflict_rate = conflict_rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def roll(self, rate: float) -> bool:
        if rate <= 0:
            return False
        with self.lock:
            return self.random.random() < rate


class InFlight:
    """Requests being answered right now and the most answered at once (all, and writes alone), counted from the
    moment a request is read until its answer is sent, the --latency-ms delay included (watches, which stay open,
    are not counted). Served at /__sim/stats (POST /__sim/stats/reset starts a new count): tests check that a
    batch reached its concurrency and never went beyond the per-cluster limit."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.writes_now = 0
        self.reset()

    def reset(self):
        """A new count of the most and the total; requests in flight right now stay counted (they leave later)."""
        with self.lock:
            self.most, self.total = self.now, 0
            self.writes_most, self.writes_total = self.writes_now, 0

    def enter(self, write: bool):
        with self.lock:
            self.now += 1
            self.total += 1
            self.most = max(self.most, self.now)
            if write:
                self.writes_now += 1
                self.writes_total += 1
                self.writes_most = max(self.writes_most, self.writes_now)

    def leave(self, write: bool):
        with self.lock:
            self.now -= 1
            if write:
                self.writes_now -= 1

    def snapshot(self) -> dict:
        with self.lock:
            return {"in_flight": self.now, "max_in_flight": self.most, "requests": self.total,
                    "writes_in_flight": self.writes_now, "max_writes_in_flight": self.writes_most,
                    "writes": self.writes_total}


STATS_PATH = "/__sim/stats"


class Route:
    """A parsed resource path: /api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]] or /apis/G/V/..."""

    def __init__(self, group, version, resource, namespace, name, subresource):
        self.group, self.version, self.resource = group, version, resource
        self.namespace, self.name, self.subresource = namespace, name, subresource


def parse_route(parts: list[str]) -> Route | None:
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    res = lookup(group, version, rest[0])
    if res is None or (res.namespaced and namespace is None and len(rest) > 1):
        return None
    if not res.namespaced and namespace is not None:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in res.subresources:
        return None
    route = Route(group, version, res, namespace, name, sub)
    return route


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubenode-sim"
    # set by the server factory
    api: Api = None
    tokens: Tokens = None
    faults: Faults = None
    in_flight: InFlight = None
    eviction_version = "v1"
    serve_metrics = True  # metrics.k8s.io, as metrics-server adds it

    def log_message(self, fmt, *args):
        log.debug("%s - %s", self.address_string(), fmt % args)

    # --- plumbing ------------------------------------------------------------------------------
    def _send(self, code: int, body, headers: dict | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def _read_raw_body(self) -> bytes:
        # Read the whole request body before anything can fail: an error answered with the body still unread
        # would leave it in the keep-alive stream, where it would be parsed as the next request line.
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        return self.rfile.read(length) if length > 0 else b""

    def _body(self):
        raw = self._raw_body
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise bad_request("error decoding request body: invalid JSON") from None

    def _handle(self):
        self._raw_body = self._read_raw_body()
        if self.path.startswith(STATS_PATH):
            if self.command == "POST" and self.path == f"{STATS_PATH}/reset":
                self.in_flight.reset()
            return self._send(200, self.in_flight.snapshot())
        query = parse_qs(urlsplit(self.path).query)
        if query.get("watch", [""])[-1] in ("true", "1"):  # open for as long as the client watches: not counted
            return self._answer()
        write = self.command in WRITE_METHODS
        self.in_flight.enter(write)
        try:
            self._answer()
        finally:
            self.in_flight.leave(write)

    def _answer(self):
        try:
            if self.faults.latency:
                time.sleep(self.faults.latency)
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            parts = [p for p in url.path.split("/") if p]
            if self.command == "GET" and parts in PUBLIC_PATHS:  # like system:public-info-viewer
                return self._send(200, self._discovery(parts))
            user = self.tokens.user(self.headers.get("Authorization"))
            self._dispatch(user, parts, query)
        except ApiError as err:
            self._send(err.code, err.body, err.headers)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bug in the simulator: still answer like an API server
            log.exception("simulator error")
            self._send(500, status(500, f"Internal error occurred: {type(exc).__name__}: {exc}"))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815

    # --- routing -------------------------------------------------------------------------------
    def _dispatch(self, user: str, parts: list[str], query: dict):
        method = "GET" if self.command == "HEAD" else self.command
        doc = self._discovery(parts) if method == "GET" else None
        if doc is not None:
            return self._send(200, doc)
        if method == "POST" and parts == SSAR_PATH:
            return self._send(201, self._access_review(user))
        attributes = request_attributes(self.command, parts, query)
        if attributes is not None:  # before routing, as on a real server: a forbidden request learns nothing
            authorize(user, *attributes)
        if self.serve_metrics and parts[:3] == ["apis", metrics.GROUP, metrics.VERSION]:
            if method != "GET":
                raise ApiError(405, f"the server does not allow this method on the requested resource "
                                    f"({self.command})", reason="MethodNotAllowed")
            return self._send(200, metrics.handle(self.api.store, parts[3:], query))
        route = parse_route(parts)
        if route is not None and route.group and \
                route.version not in discovery.groups_for(self.eviction_version).get(route.group, ()):
            route = None  # e.g. policy/v1 while mimicking Kubernetes 1.20
        if route is None:
            raise ApiError(404, "the server could not find the requested resource", reason="NotFound",
                           details={"causes": [{"reason": "UnexpectedServerResponse",
                                                "message": "404 page not found"}]})
        res = route.resource
        verb = self._verb(method, route, query)
        if method in WRITE_METHODS:
            if self.faults.roll(self.faults.fail_rate):
                raise ApiError(500, "Internal error occurred: injected failure (--fail-rate)")
            if res is NODES and method != "POST" and self.faults.roll(self.faults.conflict_rate):
                raise ApiError(409, f'Operation cannot be fulfilled on nodes "{route.name}": the object has been '
                                    f'modified; please apply your changes to the latest version and try again',
                               reason="Conflict", details={"name": route.name, "kind": "nodes"})
        api = self.api
        if verb == "watch":
            return self._watch(route, query)
        if verb == "list":
            body = api.list(res, route.namespace, query, route.version)
            if wants_table(self.headers.get("Accept")):
                return self._send(200, as_table(res, json.loads(body)))
            if route.version != res.versions[0]:  # e.g. PDBs read through policy/v1beta1
                listing = json.loads(body)
                listing["items"] = [dict(o, apiVersion=res.api_version(route.version)) for o in listing["items"]]
                body = listing
            return self._send(200, body)
        if verb == "get":
            obj = api.get(res, route.namespace, route.name)
            if route.version != res.versions[0]:
                obj = dict(obj, apiVersion=res.api_version(route.version))
            if wants_table(self.headers.get("Accept")) and not route.subresource:
                return self._send(200, as_table(res, {"metadata": {"resourceVersion": obj["metadata"][
                    "resourceVersion"]}, "items": [obj]}))
            return self._send(200, obj)
        if verb == "create" and route.subresource == "eviction":
            versions = discovery.groups_for(self.eviction_version)["policy"]
            return self._send(201, api.evict(route.namespace, route.name, self._body(), versions))
        if verb == "create":
            return self._send(201, api.create(res, route.namespace, self._body(), route.version))
        if verb == "update":
            return self._send(200, api.update(res, route.namespace, route.name, self._body(), route.subresource))
        if verb == "patch":
            body = self._body()
            if body is None:
                raise bad_request("the body of the request was empty")
            return self._send(200, api.patch(res, route.namespace, route.name, self.headers.get("Content-Type"),
                                             body, route.subresource))
        if verb == "delete":
            options = self._body() or {}
            if "gracePeriodSeconds" in query:
                options["gracePeriodSeconds"] = int(query["gracePeriodSeconds"])
            obj = api.delete(res, route.namespace, route.name, options)
            return self._send(200, obj)
        raise ApiError(405, f"the server does not allow this method on the requested resource ({self.command})",
                       reason="MethodNotAllowed")

    def _access_review(self, user: str) -> dict:
        """SelfSubjectAccessReview (authorization.k8s.io/v1): what the caller's token may do."""
        review = self._body() or {}
        attrs = (review.get("spec") or {}).get("resourceAttributes") or {}
        resource = attrs.get("resource") or ""
        if attrs.get("subresource"):
            resource = f"{resource}/{attrs['subresource']}"
        try:
            authorize(user, attrs.get("verb") or "", resource, attrs.get("name") or "", attrs.get("namespace"),
                      attrs.get("group") or "")
            allowed, reason = True, "allowed by the simulator's admin role" if user == "admin" else "read access"
        except ApiError:
            allowed, reason = False, ""
        return {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None}, "spec": review.get("spec") or {},
                "status": {"allowed": allowed, **({"reason": reason} if reason else {})}}

    @staticmethod
    def _verb(method, route, query) -> str:
        if method == "GET":
            if route.name:
                return "get"
            return "watch" if query.get("watch") in ("true", "1") else "list"
        if route.name is None and method != "POST":
            raise ApiError(405, f"the server does not allow this method on the requested resource ({method})",
                           reason="MethodNotAllowed")
        if route.subresource == "eviction" and method != "POST":
            raise ApiError(405, "the server does not allow this method on the requested resource",
                           reason="MethodNotAllowed")
        if method == "POST" and route.name and route.subresource != "eviction":
            raise ApiError(405, "the server does not allow this method on the requested resource (post)",
                           reason="MethodNotAllowed")
        return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}[method]

    def _discovery(self, parts: list[str]):
        if parts == ["version"]:
            return discovery.VERSION
        if parts == ["healthz"] or parts == ["readyz"] or parts == ["livez"]:
            return {"status": "ok"}
        if parts == ["api"]:
            return discovery.core_versions(f"127.0.0.1:{self.server.server_address[1]}")
        if parts == ["apis"]:
            doc = discovery.group_list(self.eviction_version)
            if self.serve_metrics:
                doc["groups"].append(metrics.group_doc())
            return doc
        if self.serve_metrics and parts == ["apis", metrics.GROUP]:
            return {"kind": "APIGroup", "apiVersion": "v1", **metrics.group_doc()}
        if self.serve_metrics and parts == ["apis", metrics.GROUP, metrics.VERSION]:
            return metrics.resource_list()
        if len(parts) == 2 and parts[0] == "api":
            return discovery.resource_list("", parts[1], self.eviction_version)
        if len(parts) == 2 and parts[0] == "apis":
            return discovery.group(parts[1], self.eviction_version)
        if len(parts) == 3 and parts[0] == "apis":
            return discovery.resource_list(parts[1], parts[2], self.eviction_version)
        return None

    def _watch(self, route, query):
        events = self.api.watch(route.resource, route.namespace, query, stop=lambda: self.server.stopping)
        first = next(events, None)  # raises ApiError (e.g. bad selector) before any byte is sent
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if first is not None:
                self._chunk(first)
                for event in events:
                    self._chunk(event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _chunk(self, event: dict):
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()


def make_handler(api: Api, tokens: Tokens, faults: Faults, eviction_version: str = "v1",
                 in_flight: InFlight | None = None, serve_metrics: bool = True):
    return type("BoundSimHandler", (SimHandler,), {"api": api, "tokens": tokens, "faults": faults,
                                                  "eviction_version": eviction_version,
                                                  "in_flight": in_flight or InFlight(),
                                                  "serve_metrics": serve_metrics})

