"""Renderers of the generated project's code: models, story tests and API tests."""

from __future__ import annotations

from typing import Any

from ideamine_core.agents.outputs.architecture import Entity, EntityField
from ideamine_core.agents.outputs.prd import UserStory
from ideamine_core.agents.rules._build_templates import render
from ideamine_core.agents.rules._text import human, snake

_PY_TYPES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "datetime": "str"}

CONFTEST_PY = '''"""Make the generated package importable when pytest runs from the workspace root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
'''

TEST_API_PY = '''"""API tests: routing, status codes and errors; then the real HTTP server on loopback."""

import http.client
import json
import socket
import threading

import pytest

from __PKG__.api import FEED, MAX_BODY, ROUTES, Handler, route
from __PKG__.service import Store

SAMPLE = __SAMPLE__
PATCH = __PATCH__
PATH = __PATH__


def test_create_then_get_round_trips() -> None:
    """POST then GET by id returns the same record."""
    store = Store()
    status, created = route("POST", PATH, dict(SAMPLE), store)
    assert status == 201
    assert route("GET", f"{PATH}/{created['id']}", None, store) == (200, created)


def test_update_list_and_delete() -> None:
    """PUT changes a record, GET lists it, DELETE removes it, and other methods are refused."""
    store = Store()
    _, created = route("POST", PATH, dict(SAMPLE), store)
    item = f"{PATH}/{created['id']}"
    status, updated = route("PUT", item, dict(PATCH), store)
    assert status == 200 and all(updated[k] == v for k, v in PATCH.items())
    assert route("GET", PATH, None, store) == (200, [updated])
    assert route("DELETE", item, None, store) == (204, None)
    assert route("GET", PATH, None, store) == (200, [])
    status, payload = route("PATCH", item, {}, store)
    assert status == 405 and "allowed methods" in payload["error"]


def test_invalid_body_is_rejected_with_a_helpful_error() -> None:
    """A body that is not an object gives 400 and names the fields."""
    status, payload = route("POST", PATH, "not an object", Store())
    assert status == 400
    assert "JSON object" in payload["error"]


def test_unknown_resource_lists_the_collections() -> None:
    """An unknown path gives 404 and lists what exists."""
    status, payload = route("GET", "/no-such-thing", None, Store())
    assert status == 404
    assert all("/" + name in payload["error"] for name in ROUTES)


def test_missing_record_is_not_found() -> None:
    """GET of an unknown id gives 404."""
    status, payload = route("GET", f"{PATH}/missing-id", None, Store())
    assert status == 404
    assert "missing-id" in payload["error"]


def test_change_feed_returns_changes_since_a_version() -> None:
    """The sync feed lists changes after ?since=N and rejects a bad N (404 when there is no feed)."""
    store = Store()
    route("POST", PATH, dict(SAMPLE), store)
    if FEED is None:
        assert route("GET", "/changes", None, store)[0] == 404
        return
    status, changes = route("GET", f"/{FEED}?since=0", None, store)
    assert status == 200 and [c["op"] for c in changes] == ["create"]
    assert route("GET", f"/{FEED}?since=x", None, store)[0] == 400


def _call(base: str, method: str, path: str, body: bytes | None = None) -> tuple[int, object]:
    conn = http.client.HTTPConnection(base.removeprefix("http://"), timeout=5)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        conn.close()


@pytest.fixture
def server_url():
    """The API served on an ephemeral loopback port for the duration of one test."""
    from http.server import ThreadingHTTPServer

    try:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    except OSError as exc:
        pytest.skip(f"no loopback network here: {exc}")
    try:
        socket.create_connection(server.server_address, timeout=2).close()
    except OSError as exc:
        server.server_close()
        pytest.skip(f"the loopback network is down here: {exc}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_server_round_trip(server_url: str) -> None:
    """Over real HTTP: create, read back, delete; bad JSON gives 400."""
    status, created = _call(server_url, "POST", PATH, json.dumps(SAMPLE).encode())
    assert status == 201
    assert _call(server_url, "GET", f"{PATH}/{created['id']}") == (200, created)
    assert _call(server_url, "DELETE", f"{PATH}/{created['id']}") == (204, None)
    status, payload = _call(server_url, "POST", PATH, b"{not json")
    assert status == 400 and "not valid JSON" in payload["error"]


def test_http_server_refuses_oversized_bodies(server_url: str) -> None:
    """A declared body over MAX_BODY bytes is refused with 413 before anything is read."""
    conn = http.client.HTTPConnection(server_url.removeprefix("http://"), timeout=5)
    conn.putrequest("POST", PATH)
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and "bytes" in json.loads(response.read())["error"]
    conn.close()
'''


def docstring(text: str, indent: str) -> str:
    """A docstring statement at `indent`; a repr() literal when triple quotes would be unsafe."""
    if '"""' in text or "\\" in text or text.endswith('"'):
        return f"{indent}{text!r}"
    first, *rest = text.split("\n")
    body = "\n".join([first, *((indent + line) if line else "" for line in rest)])
    return f'{indent}"""{body}{indent if text.endswith(chr(10)) else ""}"""'


def render_models(entities: list[Entity]) -> str:
    """models.py: a dataclass per entity, FIELDS (type, required) and MODELS by name."""
    lines = [
        '"""Domain models: one dataclass per entity, plus field specs for validation."""',
        "",
        "from __future__ import annotations",
        "",
        "from dataclasses import asdict, dataclass",
        "from typing import Any",
        "",
    ]
    for ent in entities:
        req = [f for f in ent.fields if f.required]
        opt = [f for f in ent.fields if not f.required]
        lines += [
            "",
            "@dataclass",
            f"class {ent.name}:",
            docstring(ent.description, "    "),
            "",
            "    id: str",
        ]
        lines += [f"    {f.name}: {_PY_TYPES[f.type]}" for f in req]
        lines += [f"    {f.name}: {_PY_TYPES[f.type]} | None = None" for f in opt]
        lines += [
            "",
            "    def to_dict(self) -> dict[str, Any]:",
            f'        """The {human(ent.name)} as a JSON-ready dict."""',
            "        return asdict(self)",
            "",
        ]
    fields = {e.name: {f.name: (f.type, f.required) for f in e.fields} for e in entities}
    models = "{" + ", ".join(f"{e.name!r}: {e.name}" for e in entities) + "}"
    lines += [
        "",
        f"FIELDS: dict[str, dict[str, tuple[str, bool]]] = {fields!r}",
        f"MODELS: dict[str, type] = {models}",
        "",
    ]
    return "\n".join(lines)


def sample(f: EntityField) -> Any:
    """A valid sample value for a field."""
    if f.type == "string":
        return "ada@example.com" if "email" in f.name else f"sample {f.name.replace('_', ' ')}"
    table: dict[str, Any] = {
        "integer": 1,
        "number": 9.5,
        "boolean": False,
        "datetime": "2025-01-01T09:00:00Z",
    }
    return table[f.type]


def changed(f: EntityField, value: Any) -> Any:
    """A valid value for the field that differs from `value`."""
    table: dict[str, Any] = {
        "string": "updated",
        "integer": 2,
        "number": 11.0,
        "boolean": True,
        "datetime": "2025-02-01T09:00:00Z",
    }
    return table[f.type] if value != table[f.type] else value


def test_body(story: UserStory, ent: Entity) -> list[str]:
    """The body lines of a story's test, by the story's action (unknown actions: create)."""
    e, first = repr(ent.name), ent.fields[0]
    new = f"dict(SAMPLES[{e}])"
    value = changed(first, sample(first))
    patch = f"{{{first.name!r}: {value!r}}}"
    invalid = [
        'with pytest.raises(ValidationError, match="allowed fields"):',
        f'    store.create({e}, {{**SAMPLES[{e}], "not_a_field": 1}})',
    ]
    if any(f.required for f in ent.fields):
        invalid = [
            'with pytest.raises(ValidationError, match="missing required"):',
            f"    store.create({e}, {{}})",
            *invalid,
        ]
    bodies: dict[str, list[str]] = {
        "create": [
            f"created = store.create({e}, {new})",
            'assert created["id"]',
            f'assert store.get({e}, created["id"]) == created',
            f"for key, value in SAMPLES[{e}].items():",
            "    assert created[key] == value",
        ],
        "validate": invalid,
        "list": [
            f"assert store.list_all({e}) == []",
            f"store.create({e}, {new})",
            f"store.create({e}, {new})",
            f"assert len(store.list_all({e})) == 2",
        ],
        "update": [
            f"created = store.create({e}, {new})",
            f'updated = store.update({e}, created["id"], {patch})',
            f"assert updated[{first.name!r}] == {value!r}",
            "with pytest.raises(NotFoundError):",
            f'    store.update({e}, "missing-id", {patch})',
        ],
        "delete": [
            f"created = store.create({e}, {new})",
            f'store.delete({e}, created["id"])',
            f"assert store.list_all({e}) == []",
            "with pytest.raises(NotFoundError):",
            f'    store.get({e}, created["id"])',
        ],
        "collaborate": [
            f"created = store.create({e}, {new})  # a teammate shares the store",
            f'assert store.get({e}, created["id"]) == created',
            "change = store.changes_since(0)[-1]",
            f'assert (change["entity"], change["op"]) == ({e}, "create")',
        ],
        "realtime": [
            f"store.create({e}, {new})",
            "seen = store.version",
            f"store.create({e}, {new})",
            'assert [c["version"] for c in store.changes_since(seen)] == [seen + 1]',
        ],
        "offline": [
            "server = Store()",
            f"store.create({e}, {new})  # made on the device",
            "for change in store.changes_since(0):",
            "    server.apply(change)",
            f"assert server.list_all({e}) == store.list_all({e})",
        ],
    }
    return ["store = Store()", *bodies.get(story.action, bodies["create"])]


def test_name(story: UserStory) -> str:
    """A unique, valid test function name from the story id and title."""
    return f"test_{snake(story.id)}_{snake(story.title)[:48].rstrip('_')}"


def render_story_tests(pkg: str, entities: list[Entity], stories: list[UserStory]) -> str:
    """tests/test_stories.py: one test per story (entity unknown to the model: the first one)."""
    by_name = {e.name: e for e in entities}
    samples = {e.name: {f.name: sample(f) for f in e.fields} for e in entities}
    lines = [
        '"""Acceptance tests, one per user story, generated from the acceptance criteria."""',
        "",
        "import pytest",
        "",
        f"from {pkg}.service import NotFoundError, Store, ValidationError",
        "",
        f"SAMPLES = {samples!r}",
        "",
    ]
    for story in stories:
        ent = by_name.get(story.entity, entities[0])
        doc = f"{story.id} {story.title}.\n\n" + "\n".join(f"- {c}" for c in story.acceptance_criteria)
        lines += ["", f"def {test_name(story)}() -> None:", docstring(doc + "\n", "    ")]
        lines += ["    " + line for line in test_body(story, ent)]
        lines.append("")
    return "\n".join(lines)


def render_api_tests(pkg: str, entity: Entity, path: str) -> str:
    """tests/test_api.py: routing and error tests against the entity's collection `path`."""
    values = {f.name: sample(f) for f in entity.fields}
    first = entity.fields[0]
    patch = {first.name: changed(first, values[first.name])}
    return render(TEST_API_PY, PKG=pkg, SAMPLE=repr(values), PATCH=repr(patch), PATH=repr(path))


test_body.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
test_name.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
