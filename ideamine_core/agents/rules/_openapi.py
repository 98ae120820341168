"""A minimal OpenAPI 3.0.3 document built from the architecture's entities and endpoints."""

from __future__ import annotations

from typing import Any

from ideamine_core.agents.outputs.architecture import Endpoint, Entity

SCHEMA_TYPES: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "datetime": {"type": "string", "format": "date-time"},
}
"""Entity field type → OpenAPI schema."""

_ERROR = {
    "description": "Error with a message that names the fix",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(ep: Endpoint, feed: bool) -> dict[str, Any]:
    """One operation object: summary, id, body, responses (errors: 400 on writes, 404 on items)."""
    op: dict[str, Any] = {"summary": ep.summary, "operationId": ep.operation_id}
    op["tags"] = [ep.entity]
    is_item = ep.path.endswith("}")
    if ep.method in ("POST", "PUT", "PATCH"):
        op["requestBody"] = {"required": True, "content": _json(_ref(f"{ep.entity}Input"))}
    if feed:
        since = {"type": "integer", "minimum": 0}
        op["parameters"] = [{"name": "since", "in": "query", "required": False, "schema": since}]
    if ep.method == "DELETE":
        responses: dict[str, Any] = {"204": {"description": "Deleted"}}
    else:
        many = ep.method == "GET" and not is_item
        body = {"type": "array", "items": _ref(ep.entity)} if many else _ref(ep.entity)
        code = "201" if ep.method == "POST" else "200"
        responses = {code: {"description": "OK", "content": _json(body)}}
    if ep.method in ("POST", "PUT", "PATCH") or feed:
        responses["400"] = _ERROR
    if is_item:
        responses["404"] = _ERROR
    op["responses"] = responses
    return op


def _schemas(entities: list[Entity], feeds: set[str]) -> dict[str, Any]:
    """Error, then per entity '<Name>Input' (writable fields) and '<Name>' (with id)."""
    error = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}
    schemas: dict[str, Any] = {"Error": error}
    for ent in entities:
        props = {f.name: dict(SCHEMA_TYPES[f.type]) for f in ent.fields}
        required = [f.name for f in ent.fields if f.required]
        if ent.name not in feeds:
            schemas[f"{ent.name}Input"] = {"type": "object", "properties": props}
            schemas[f"{ent.name}Input"]["additionalProperties"] = False
            if required:
                schemas[f"{ent.name}Input"]["required"] = required
        full = {"id": {"type": "string"}, **props}
        schemas[ent.name] = {"type": "object", "required": ["id", *required], "properties": full}
    return schemas


def openapi_document(
    title: str, entities: list[Entity], endpoints: list[Endpoint], feeds: set[str]
) -> dict[str, Any]:
    """A minimal OpenAPI 3.0.3 document; `feeds` are read-only entities listed with '?since='."""
    paths: dict[str, Any] = {}
    for ep in endpoints:
        item = paths.setdefault(ep.path, {})
        if "{id}" in ep.path and "parameters" not in item:
            param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            item["parameters"] = [param]
        item[ep.method.lower()] = _operation(ep, ep.entity in feeds)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": "0.1.0"},
        "paths": paths,
        "components": {"schemas": _schemas(entities, feeds)},
    }
