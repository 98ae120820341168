"""Offline rules of the architecture phase: SystemDesigner, DataModeler, APIDesigner, ADRWriter."""

from __future__ import annotations

import re

from ideamine_core.agents.outputs.architecture import (
    ADR,
    ADRLog,
    APIDesign,
    DataModel,
    Endpoint,
    Entity,
    EntityField,
    SystemComponent,
    SystemDesign,
)
from ideamine_core.agents.rules._ctx import features, notes, output_of
from ideamine_core.agents.rules._domain import entity_names, fields_of
from ideamine_core.agents.rules._openapi import openapi_document
from ideamine_core.agents.rules._text import human, kebab, pascal, plural, split_camel, unique
from ideamine_core.agents.rules.ideation import tech_stack_of
from ideamine_core.agents.rules.intake import idea_spec_of
from ideamine_core.agents.rules.prd import stories_of
from ideamine_core.domain.agent import AgentContext

__all__ = [
    "adr_writer",
    "api_designer",
    "collection_path",
    "data_modeler",
    "endpoints_of",
    "entities_of",
    "system_designer",
]

CHANGE = "Change"
"""The sync-feed entity, present when stories need sync (realtime, offline, collaborate)."""

_SYNC_ACTIONS = frozenset({"realtime", "offline", "collaborate"})
_ALIASES = {"owner": "User", "author": "User"}


def collection_path(entity: str) -> str:
    """The REST collection path of an entity: 'TaskList' -> '/task-lists'."""
    return "/" + plural(kebab(entity))


def _relations(name: str, fields: list[EntityField], names: list[str]) -> list[str]:
    out: list[str] = []
    for f in fields:
        if not f.name.endswith("_id"):
            continue
        stem = f.name[:-3]
        for target in names:
            words = [w.lower() for w in split_camel(target)]
            if target == _ALIASES.get(stem) or stem in ("_".join(words), words[-1]):
                out.append(f"{name}.{f.name} -> {target}")
                break
    return out


def derive_entities(ctx: AgentContext) -> list[Entity]:
    """Entities from the idea's and the stories' nouns (lexicon), plus the stories' entities."""
    sub = ctx.submission
    stories = stories_of(ctx)
    texts = [sub.idea, *(f"{s.title} {s.i_want} {human(s.entity)}" for s in stories)]
    from_stories = [s.entity for s in stories if re.fullmatch(r"[A-Z][A-Za-z0-9]*", s.entity)]
    lexicon = entity_names(texts, with_user=features(sub).collaborative)
    core = unique([*(n for n in lexicon if n != "User"), *from_stories])
    if len(core) > 1 and "Item" not in from_stories:
        core = [n for n in core if n != "Item"]
    names = [*core[:4], *(["User"] if "User" in lexicon and "User" not in core else [])]
    if any(s.action in _SYNC_ACTIONS for s in stories):
        names.append(CHANGE)
    title = idea_spec_of(ctx).title
    entities: list[Entity] = []
    for name in names:
        if name == CHANGE:
            specs = (
                ("entity", "string", True),
                ("op", "string", True),
                ("record_id", "string", True),
                ("version", "integer", True),
            )
            desc = "One recorded change: the feed behind sync and live updates."
        else:
            specs = fields_of(name)
            desc = f"A {human(name)} in {title}."
        fields = [EntityField(name=n, type=t, required=r) for n, t, r in specs]  # type: ignore[arg-type]
        entities.append(
            Entity(
                name=name,
                description=desc,
                fields=fields,
                relations=_relations(name, fields, names),
            )
        )
    return entities


def entities_of(ctx: AgentContext) -> list[Entity]:
    """The data model's entities: DataModeler's output (previous or upstream), else derived."""
    found = output_of(ctx, "architecture", "DataModeler", DataModel)
    return found.entities if found is not None else derive_entities(ctx)


def derive_endpoints(entities: list[Entity]) -> list[Endpoint]:
    """CRUD endpoints per entity (the sync feed only lists)."""
    out: list[Endpoint] = []
    for ent in entities:
        col, e, es = collection_path(ent.name), human(ent.name), plural(human(ent.name))
        one, many = pascal(ent.name), pascal(plural(human(ent.name)))
        rows = [("GET", col, f"List {es}", f"list{many}")]
        if ent.name == CHANGE:
            rows = [("GET", col, "List changes after a version (sync feed)", "listChanges")]
        else:
            rows += [
                ("POST", col, f"Create a {e}", f"create{one}"),
                ("GET", col + "/{id}", f"Get a {e} by id", f"get{one}"),
                ("PUT", col + "/{id}", f"Update a {e}", f"update{one}"),
                ("DELETE", col + "/{id}", f"Delete a {e}", f"delete{one}"),
            ]
        out += [
            Endpoint(method=m, path=p, summary=s, entity=ent.name, operation_id=o)  # type: ignore[arg-type]
            for m, p, s, o in rows
        ]
    return out


def endpoints_of(ctx: AgentContext) -> list[Endpoint]:
    """The API's endpoints: APIDesigner's output (previous or upstream), else derived."""
    found = output_of(ctx, "architecture", "APIDesigner", APIDesign)
    return found.endpoints if found is not None else derive_endpoints(entities_of(ctx))


def system_designer(ctx: AgentContext) -> SystemDesign:
    """SystemDesigner: components of a modular monolith, from the tech stack and entities."""
    stack = tech_stack_of(ctx)
    feats = features(ctx.submission)
    comps = [
        SystemComponent(
            name="Client",
            responsibility="Screens and local state",
            technology=stack.frontend,
            depends_on=["API service"],
        ),
        SystemComponent(
            name="API service",
            responsibility="REST API, validation, auth",
            technology=stack.backend,
            depends_on=["Database"],
        ),
        SystemComponent(
            name="Database",
            responsibility="Durable storage of every entity",
            technology=stack.storage,
        ),
    ]
    if feats.realtime:
        comps.append(
            SystemComponent(
                name="Realtime gateway",
                responsibility="Push changes live",
                technology=stack.realtime,
                depends_on=["API service"],
            )
        )
    if feats.offline:
        comps.append(
            SystemComponent(
                name="Sync engine",
                responsibility="Queue and replay offline changes",
                technology=stack.offline_sync,
                depends_on=["API service"],
            )
        )
    for ent in entities_of(ctx):
        comps.append(
            SystemComponent(
                name=f"{ent.name} module",
                technology="Python module",
                responsibility=f"Rules and storage of {plural(human(ent.name))}",
                depends_on=["Database"],
            )
        )
    return SystemDesign(style="Modular monolith with a REST API", components=comps, notes=notes(ctx))


def data_modeler(ctx: AgentContext) -> DataModel:
    """DataModeler: entities with typed fields, derived from the idea's and stories' nouns."""
    return DataModel(entities=derive_entities(ctx), notes=notes(ctx))


def api_designer(ctx: AgentContext) -> APIDesign:
    """APIDesigner: CRUD endpoints per entity and a minimal OpenAPI 3.0 document."""
    entities = entities_of(ctx)
    endpoints = derive_endpoints(entities)
    doc = openapi_document(idea_spec_of(ctx).title, entities, endpoints, {CHANGE})
    return APIDesign(endpoints=endpoints, openapi=doc, notes=notes(ctx))


def adr_writer(ctx: AgentContext) -> ADRLog:
    """ADRWriter: decisions on style, storage, real-time, offline sync and the prototype."""
    stack = tech_stack_of(ctx)
    feats = features(ctx.submission)
    names = [e.name for e in entities_of(ctx)]
    rows = [
        (
            "Modular monolith",
            f"{len(names)} entities and one small team",
            "One deployable service with a module per entity",
            ["Simple to deploy and debug", "Modules must keep clear boundaries to split later"],
        ),
        (
            "Storage",
            "Durable data, simple queries",
            f"Use {stack.storage}",
            ["Well-known operations", "Schema migrations are needed"],
        ),
        (
            "REST resource naming",
            "Consistent, guessable URLs",
            "Plural kebab-case collections, '/{id}' items, JSON errors with an 'error' field",
            [f"Paths such as {collection_path(names[0])}", "Clients can be generated from OpenAPI"],
        ),
    ]
    if feats.realtime:
        rows.append(
            (
                "Real-time transport",
                "Changes must reach others within a second",
                f"Use {stack.realtime}",
                [
                    "Connections must be load-tested",
                    "A change feed also serves clients that reconnect",
                ],
            )
        )
    if feats.offline:
        rows.append(
            (
                "Offline sync",
                "Users edit without a connection",
                stack.offline_sync,
                [
                    "Conflicts are possible and must be visible",
                    "Every change is recorded with a version",
                ],
            )
        )
    rows.append(
        (
            "Standard-library prototype",
            "The generated code must run anywhere",
            "The prototype uses only the Python standard library",
            ["No dependencies to audit", "http.server is for development, not production"],
        )
    )
    adrs = [
        ADR(
            id=f"ADR-{i + 1:03d}",
            title=t,
            status="accepted",
            context=c,
            decision=d,
            consequences=cons,
        )
        for i, (t, c, d, cons) in enumerate(rows)
    ]
    return ADRLog(adrs=adrs, notes=notes(ctx))
