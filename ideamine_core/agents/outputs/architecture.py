"""Output models of the architecture phase: SystemDesigner, DataModeler, APIDesigner, ADRWriter."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ideamine_core.agents.outputs._base import AgentOutput, Strict

__all__ = [
    "ADR",
    "ADRLog",
    "APIDesign",
    "DataModel",
    "Endpoint",
    "Entity",
    "EntityField",
    "FieldType",
    "SystemComponent",
    "SystemDesign",
]

FieldType = Literal["string", "integer", "number", "boolean", "datetime"]
"""Types an entity field may have."""


class SystemComponent(Strict):
    """One component of the system."""

    name: str = Field(min_length=1, description="Component name.")
    responsibility: str = Field(min_length=1, description="What it is responsible for.")
    technology: str = Field(min_length=1, description="How it is built.")
    depends_on: list[str] = Field(default_factory=list, description="Components it calls.")


class SystemDesign(AgentOutput):
    """SystemDesigner: architecture style and components."""

    style: str = Field(min_length=1, description="Architecture style.")
    components: list[SystemComponent] = Field(min_length=1, description="Components.")


class EntityField(Strict):
    """One field of an entity."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="snake_case field name.")
    type: FieldType = Field(description="Field type.")
    required: bool = Field(description="Whether a value must be given on create.")


class Entity(Strict):
    """One domain entity; every entity also has an implicit string 'id'."""

    name: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", description="PascalCase entity name.")
    description: str = Field(min_length=1, description="What it represents.")
    fields: list[EntityField] = Field(min_length=1, description="Fields besides 'id'.")
    relations: list[str] = Field(default_factory=list, description="'Task.list_id -> TaskList'.")


class DataModel(AgentOutput):
    """DataModeler: the domain entities."""

    entities: list[Entity] = Field(min_length=1, description="Entities, primary first.")


class Endpoint(Strict):
    """One HTTP endpoint."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(description="HTTP method.")
    path: str = Field(pattern=r"^/", description="Path template, e.g. '/tasks/{id}'.")
    summary: str = Field(min_length=1, description="What it does.")
    entity: str = Field(min_length=1, description="Entity it serves.")
    operation_id: str = Field(min_length=1, description="OpenAPI operationId.")


class APIDesign(AgentOutput):
    """APIDesigner: endpoints and the OpenAPI 3.0 document."""

    endpoints: list[Endpoint] = Field(min_length=1, description="Endpoints, grouped by entity.")
    openapi: dict[str, Any] = Field(description="A minimal OpenAPI 3.0 document.")

    @field_validator("openapi")
    @classmethod
    def _is_openapi_30(cls, value: dict[str, Any]) -> dict[str, Any]:
        version = str(value.get("openapi", ""))
        if not version.startswith("3.0."):
            raise ValueError(f"openapi must be '3.0.x', got {version!r}")
        info = value.get("info")
        if not isinstance(info, dict) or not info.get("title") or not info.get("version"):
            raise ValueError("openapi.info needs a title and a version")
        if not isinstance(value.get("paths"), dict) or not value["paths"]:
            raise ValueError("openapi.paths must be a non-empty object")
        return value


class ADR(Strict):
    """One architecture decision record."""

    id: str = Field(pattern=r"^ADR-\d{3}$", description="ADR id, 'ADR-001', ...")
    title: str = Field(min_length=1, description="Decision title.")
    status: Literal["proposed", "accepted", "superseded"] = Field(description="ADR status.")
    context: str = Field(min_length=1, description="Forces at play.")
    decision: str = Field(min_length=1, description="What was decided.")
    consequences: list[str] = Field(min_length=1, description="What follows from it.")


class ADRLog(AgentOutput):
    """ADRWriter: architecture decision records."""

    adrs: list[ADR] = Field(min_length=1, description="ADRs in order.")
