"""Source templates of the generated standard-library project; '__PKG__' is the package name."""

from __future__ import annotations

SERVICE_PY = '''"""Service layer: validation, an in-memory store and a versioned change feed for sync."""

from __future__ import annotations

import copy
from typing import Any

from __PKG__.models import FIELDS, MODELS

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "datetime": (str,),
}


class ValidationError(ValueError):
    """Input that does not fit the model; the message names the field and the fix."""


class NotFoundError(LookupError):
    """A record that does not exist."""


def _check_entity(entity: str) -> dict[str, tuple[str, bool]]:
    if entity not in FIELDS:
        known = ", ".join(sorted(FIELDS))
        raise ValidationError(f"unknown entity {entity!r}; expected one of: {known}")
    return FIELDS[entity]


def validate(entity: str, data: Any, partial: bool = False) -> dict[str, Any]:
    """Check `data` against the fields of `entity` and return the accepted values."""
    spec = _check_entity(entity)
    if not isinstance(data, dict):
        raise ValidationError(f"a {entity} must be a JSON object with fields {sorted(spec)}")
    unknown = sorted(set(data) - set(spec))
    if unknown:
        allowed = ", ".join(sorted(spec))
        raise ValidationError(
            f"unknown field(s) {', '.join(unknown)} for {entity}; allowed fields: {allowed}"
        )
    if not partial:
        missing = sorted(n for n, (_, req) in spec.items() if req and data.get(n) is None)
        if missing:
            raise ValidationError(
                f"missing required field(s) for {entity}: {', '.join(missing)}"
            )
    for name, value in data.items():
        kind, required = spec[name]
        if value is None and not required:
            continue
        numeric = kind in ("integer", "number")
        if not isinstance(value, _TYPES[kind]) or (numeric and isinstance(value, bool)):
            raise ValidationError(
                f"field {name!r} of {entity} must be a {kind}, got {type(value).__name__}"
            )
    return dict(data)


class Store:
    """An in-memory store of every entity, with a versioned change feed."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {name: {} for name in MODELS}
        self._changes: list[dict[str, Any]] = []
        self._next_id = 1

    @property
    def version(self) -> int:
        """The number of changes recorded so far."""
        return len(self._changes)

    def create(self, entity: str, data: Any) -> dict[str, Any]:
        """Validate and add a record; returns it with its new id."""
        values = validate(entity, data)
        record_id = f"{entity.lower()}-{self._next_id}"
        self._next_id += 1
        record = MODELS[entity](id=record_id, **values)
        self._rows[entity][record_id] = record
        return self._record(entity, "create", record)

    def get(self, entity: str, record_id: str) -> dict[str, Any]:
        """One record by id."""
        return self._find(entity, record_id).to_dict()

    def list_all(self, entity: str) -> list[dict[str, Any]]:
        """Every record of an entity, oldest first."""
        _check_entity(entity)
        return [record.to_dict() for record in self._rows[entity].values()]

    def update(self, entity: str, record_id: str, data: Any) -> dict[str, Any]:
        """Change some fields of a record."""
        values = validate(entity, data, partial=True)
        record = self._find(entity, record_id)
        for name, value in values.items():
            setattr(record, name, value)
        return self._record(entity, "update", record)

    def delete(self, entity: str, record_id: str) -> None:
        """Remove a record."""
        record = self._find(entity, record_id)
        del self._rows[entity][record_id]
        self._record(entity, "delete", record)

    def changes_since(self, version: int = 0) -> list[dict[str, Any]]:
        """Changes recorded after `version`, oldest first."""
        if version < 0:
            raise ValidationError("version must be 0 or more, e.g. ?since=0")
        return copy.deepcopy(self._changes[version:])

    def apply(self, change: dict[str, Any]) -> None:
        """Replay a change recorded by another replica (offline sync); last writer wins."""
        entity, op, data = change["entity"], change["op"], dict(change["data"])
        _check_entity(entity)
        record_id = data.pop("id")
        if op == "delete":
            record = self._rows[entity].pop(record_id, None)
        else:
            record = MODELS[entity](id=record_id, **validate(entity, data))
            self._rows[entity][record_id] = record
        if record is not None:
            self._record(entity, op, record)

    def _find(self, entity: str, record_id: str) -> Any:
        _check_entity(entity)
        if record_id not in self._rows[entity]:
            raise NotFoundError(f"no {entity} with id {record_id!r}; list them to see valid ids")
        return self._rows[entity][record_id]

    def _record(self, entity: str, op: str, record: Any) -> dict[str, Any]:
        data = record.to_dict()
        change = {"version": len(self._changes) + 1, "entity": entity, "op": op}
        change.update({"record_id": record.id, "data": copy.deepcopy(data)})
        self._changes.append(change)
        return data
'''

API_PY = '''"""HTTP API: a small standard-library server over the service layer."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from __PKG__.service import NotFoundError, Store, ValidationError

ROUTES: dict[str, str] = __ROUTES__
FEED: str | None = __FEED__
MAX_BODY = 1_000_000
STORE = Store()


def _crud(store: Store, method: str, entity: str, parts: list[str], body: Any) -> tuple[int, Any]:
    if len(parts) == 1 and method == "GET":
        return 200, store.list_all(entity)
    if len(parts) == 1 and method == "POST":
        return 201, store.create(entity, body)
    if len(parts) == 2 and method == "GET":
        return 200, store.get(entity, parts[1])
    if len(parts) == 2 and method == "PUT":
        return 200, store.update(entity, parts[1], body)
    if len(parts) == 2 and method == "DELETE":
        store.delete(entity, parts[1])
        return 204, None
    allowed = "GET, POST" if len(parts) == 1 else "GET, PUT, DELETE"
    return 405, {"error": f"{method} is not allowed here; allowed methods: {allowed}"}


def route(
    method: str, target: str, body: Any = None, store: Store | None = None
) -> tuple[int, Any]:
    """Handle one request and return (status, JSON payload)."""
    store = STORE if store is None else store
    url = urlsplit(target)
    parts = [p for p in url.path.split("/") if p]
    if FEED is not None and parts == [FEED] and method == "GET":
        since = parse_qs(url.query).get("since", ["0"])[0]
        if not since.isdigit():
            return 400, {"error": "query parameter 'since' must be a whole number, e.g. ?since=0"}
        return 200, store.changes_since(int(since))
    if not parts or parts[0] not in ROUTES or len(parts) > 2:
        known = ", ".join("/" + name for name in sorted(ROUTES))
        return 404, {"error": f"no resource at {url.path}; available collections: {known}"}
    try:
        return _crud(store, method, ROUTES[parts[0]], parts, body)
    except ValidationError as exc:
        return 400, {"error": str(exc)}
    except NotFoundError as exc:
        return 404, {"error": str(exc)}


class Handler(BaseHTTPRequestHandler):
    """Maps HTTP requests to `route` and writes JSON responses."""

    def _reply(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = None
        if length > MAX_BODY:
            self._reply(413, {"error": f"the request body is over {MAX_BODY} bytes; send less"})
            return
        if length:
            try:
                body = json.loads(self.rfile.read(length))
            except (ValueError, UnicodeDecodeError):
                self._reply(400, {"error": "the request body is not valid JSON"})
                return
        self._reply(*route(method, self.path, body))

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        """Handle GET."""
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        """Handle POST."""
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        """Handle PUT."""
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        """Handle DELETE."""
        self._handle("DELETE")


def main(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API until interrupted."""
    server = ThreadingHTTPServer((host, port), Handler)
    print(f"serving on http://{host}:{port}")
    server.serve_forever()


if __name__ == "__main__":
    main()
'''

README_MD = """# __TITLE__

Generated by IdeaMine (offline provider): a small standard-library Python project.

- Run the API: `python -m __PKG__.api` (serves on http://127.0.0.1:8000)
- Run the tests: `python -m pytest -q`

## Endpoints

__ENDPOINTS__
"""


def render(template: str, **values: str) -> str:
    """Fill `__NAME__` placeholders: render(API_PY, PKG='todo') replaces '__PKG__'."""
    out = template
    for key, value in sorted(values.items()):
        out = out.replace(f"__{key}__", value)
    return out
