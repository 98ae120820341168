"""Provenance: record artifacts (content hash, producer, inputs) and query their lineage recursively.

Artifact names are stable within a run and say what made them:

- ``submission`` — the idea as submitted;
- ``agent:<phase>/<agent>`` (``#<iteration>`` after the first iteration) — one agent's output;
- ``phase:<phase>`` — a phase artifact, the fan-in of its agents' outputs;
- ``tool:<tool>/<name>`` — a tool's output (a workspace commit, a test report, an SBOM);
- ``dossier`` — the release dossier; ``input:<phase>/<agent>/<name>`` — any other input an agent saw.

The id is ``<run_id>/<name>``. Each edge in ``artifact_inputs`` keeps the input's hash *as it was
used*, so a later re-recorded input shows up as stale in the lineage. Recording an artifact can also
append its ``artifact`` ledger entry in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, content_hash
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.ledger import ArtifactPayload, Ledger
from ideamine_core.redaction import default_redactor
from ideamine_core.storage.database import Database
from ideamine_core.storage.fencing import Fence
from ideamine_core.storage.tables import ArtifactInputRow, ArtifactRow

SUBMISSION = "submission"
DOSSIER = "dossier"
MAX_DEPTH = 64

_ARTIFACTS = ArtifactRow.__table__
_EDGES = ArtifactInputRow.__table__


def phase_name(phase: str) -> str:
    """Name of a phase artifact."""
    return f"phase:{phase}"


def agent_name(phase: str, agent: str, iteration: int = 0) -> str:
    """Name of one agent's output in a phase (iterations after the first get ``#<n>``)."""
    return f"agent:{phase}/{agent}" + (f"#{iteration}" if iteration else "")


def tool_name(tool: str, name: str) -> str:
    """Name of a tool's output, e.g. ``tool:git/commit`` or ``tool:pytest/report``."""
    return f"tool:{tool}/{name}"


def artifact_id(run_id: str, name: str) -> str:
    """The id of artifact `name` in `run_id`."""
    return f"{run_id}/{name}"


class ArtifactRecord(BaseModel):
    """A recorded artifact and the inputs it was made from."""

    model_config = ConfigDict(extra="forbid")

    artifact_id: str
    run_id: str
    name: str
    kind: str = Field(description="submission, agent, phase, tool, dossier or input.")
    phase: str | None = None
    content_hash: str
    producer: dict[str, Any] = Field(description="agent/tool, provider, model and versions.")
    path: str | None = None
    created_at: float
    inputs: dict[str, str] = Field(default_factory=dict, description="Input artifact id → hash when used.")


class LineageNode(BaseModel):
    """One node of an ancestry tree: the artifact, the hash it had when used, and its own inputs."""

    model_config = ConfigDict(extra="forbid")

    artifact_id: str
    artifact: ArtifactRecord | None = Field(description="None when the input was never recorded.")
    used_hash: str | None = Field(default=None, description="Hash recorded on the edge (None for the root).")
    repeated: bool = Field(default=False, description="Already shown earlier in the tree; children omitted.")
    children: list[LineageNode] = Field(default_factory=list)

    @property
    def stale(self) -> bool:
        """True when the artifact changed after it was used as this input."""
        return bool(self.artifact and self.used_hash and self.used_hash != self.artifact.content_hash)

    def walk(self) -> Iterable[LineageNode]:
        """This node and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def _upsert(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(_ARTIFACTS)
    columns = ("kind", "phase", "content_hash", "producer", "path", "created_at")
    return stmt.on_conflict_do_update(
        index_elements=["artifact_id"], set_={c: stmt.excluded[c] for c in columns}
    )


class ProvenanceStore:
    """Artifacts and lineage edges on the IdeaMine database (with optional ``artifact`` ledger entries)."""

    def __init__(self, db: Database, ledger: Ledger | None = None) -> None:
        """With `ledger`, every recorded artifact also appends its ``artifact`` entry atomically."""
        self.db, self.ledger = db, ledger
        self._upsert = _upsert(db.dialect)

    def record(
        self,
        run_id: str,
        name: str,
        *,
        kind: str,
        content_hash: str,
        producer: Mapping[str, Any],
        inputs: Mapping[str, str] | None = None,
        phase: str | None = None,
        path: str | None = None,
        fence: Fence | None = None,
    ) -> ArtifactRecord:
        """Record (or re-record) one artifact; `inputs` maps input names or ids to the hashes used.

        Names, producer and path are redacted first: an artifact row never carries a secret.
        """
        clean = default_redactor()
        name = clean.redact(name)
        record = ArtifactRecord(
            artifact_id=artifact_id(run_id, name),
            run_id=run_id,
            name=name,
            kind=kind,
            phase=phase,
            content_hash=content_hash,
            producer=clean.redact_value(dict(producer)),
            path=clean.redact(path) if path else path,
            created_at=time.time(),
            inputs={self._resolve(run_id, clean.redact(k)): v for k, v in (inputs or {}).items()},
        )
        return self.db.write(lambda conn: self._write(conn, record, fence))

    @staticmethod
    def _resolve(run_id: str, name_or_id: str) -> str:
        return name_or_id if name_or_id.startswith(f"{run_id}/") else artifact_id(run_id, name_or_id)

    def _write(self, conn: Connection, record: ArtifactRecord, fence: Fence | None) -> ArtifactRecord:
        existing = conn.execute(
            sa.select(_ARTIFACTS.c.content_hash).where(_ARTIFACTS.c.artifact_id == record.artifact_id)
        ).scalar_one_or_none()
        if existing != record.content_hash:
            row = record.model_dump(exclude={"inputs"})
            conn.execute(self._upsert.values(**row))
            conn.execute(sa.delete(_EDGES).where(_EDGES.c.artifact_id == record.artifact_id))
            edges = [
                {"artifact_id": record.artifact_id, "input_id": i, "input_hash": h}
                for i, h in sorted(record.inputs.items())
            ]
            if edges:
                conn.execute(sa.insert(_EDGES), edges)
        if self.ledger is not None:
            payload = ArtifactPayload(**record.model_dump(include=set(ArtifactPayload.model_fields)))
            self.ledger.append_in(
                conn, record.run_id, payload.entry_type, payload, key=payload.default_key(),
                phase=record.phase, fence=fence,
            )  # fmt: skip
        return record

    def record_submission(self, run_id: str, submission: IdeaSubmission) -> ArtifactRecord:
        """Record the submitted idea (the root of every lineage)."""
        return self.record(
            run_id,
            SUBMISSION,
            kind="submission",
            content_hash=content_hash(submission),
            producer={"kind": "user", "tool": "ideamine submit"},
        )

    def record_agent_result(
        self, run_id: str, result: AgentResult, *, siblings: Mapping[tuple[str, str], str] | None = None
    ) -> ArtifactRecord:
        """Record one agent's output with the inputs named in its provenance.

        `siblings` maps (agent, output hash) to the artifact name of other outputs of the same phase,
        so ``agent:<name>`` inputs resolve to the right iteration; without it iteration 0 is assumed.
        """
        prov = result.provenance
        inputs: dict[str, str] = {}
        for name, used in prov.inputs.items():
            inputs[self._input_name(run_id, result, name, used, siblings or {})] = used
        return self.record(
            run_id,
            agent_name(result.phase, result.agent, result.iteration),
            kind="agent",
            phase=result.phase,
            content_hash=prov.output_hash,
            producer={
                "kind": "agent",
                "agent": prov.agent,
                "provider": prov.provider,
                "model": prov.model,
                "generator_version": prov.generator_version,
                "iteration": result.iteration,
            },
            inputs=inputs,
        )

    def _input_name(
        self,
        run_id: str,
        result: AgentResult,
        name: str,
        used: str,
        siblings: Mapping[tuple[str, str], str],
    ) -> str:
        if name == SUBMISSION or name.startswith("phase:"):
            return name
        if name.startswith("agent:"):
            agent = name.removeprefix("agent:")
            return siblings.get((agent, used)) or agent_name(result.phase, agent)
        recorded = self.record(
            run_id,
            f"input:{result.phase}/{result.agent}/{name}",
            kind="input",
            phase=result.phase,
            content_hash=used,
            producer={"kind": "config", "input": name},
        )
        return recorded.name

    def record_phase_artifact(self, run_id: str, artifact: PhaseArtifact) -> list[ArtifactRecord]:
        """Record a finished phase: each agent output, then the phase artifact (their fan-in).

        Call it after the gate result is set on `artifact`, so the hash is the one stored downstream.
        """
        siblings = {
            (r.agent, r.provenance.output_hash): agent_name(r.phase, r.agent, r.iteration)
            for r in artifact.results
        }
        records = [self.record_agent_result(run_id, r, siblings=siblings) for r in artifact.results]
        records.append(
            self.record(
                run_id,
                phase_name(artifact.phase),
                kind="phase",
                phase=artifact.phase,
                content_hash=artifact.hash(),
                producer={
                    "kind": "fan_in",
                    "tool": "ideamine.fan_in",
                    "strategy": artifact.aggregation_strategy,
                    "gate_passed": artifact.gate.passed if artifact.gate else None,
                },
                inputs={r.name: r.content_hash for r in records},
            )
        )
        return records

    def get(self, run_id: str, name: str) -> ArtifactRecord | None:
        """An artifact by name (``phase:prd``, ``agent:prd/PRDWriter``), id, or bare phase name."""
        for candidate in (name, phase_name(name)):
            found = self._load(run_id, [self._resolve(run_id, candidate)])
            if found:
                return next(iter(found.values()))
        return None

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        """Every recorded artifact of a run, by name."""
        query = sa.select(_ARTIFACTS.c.artifact_id).where(_ARTIFACTS.c.run_id == run_id)
        ids = self.db.read_with_retry(lambda conn: list(conn.execute(query).scalars()))
        return sorted(self._load(run_id, ids).values(), key=lambda r: r.name)

    def _load(self, run_id: str, ids: list[str]) -> dict[str, ArtifactRecord]:
        def read(conn: Connection) -> dict[str, ArtifactRecord]:
            rows = conn.execute(sa.select(_ARTIFACTS).where(_ARTIFACTS.c.artifact_id.in_(ids))).mappings()
            found = {r["artifact_id"]: dict(r) | {"inputs": {}} for r in rows}
            edges = conn.execute(sa.select(_EDGES).where(_EDGES.c.artifact_id.in_(list(found)))).mappings()
            for edge in edges:
                found[edge["artifact_id"]]["inputs"][edge["input_id"]] = edge["input_hash"]
            return {k: ArtifactRecord.model_validate(v) for k, v in found.items()}

        return self.db.read_with_retry(read) if ids else {}

    def lineage(self, run_id: str, name: str, *, max_depth: int = MAX_DEPTH) -> LineageNode | None:
        """The ancestry tree of an artifact (recursive CTE over ``artifact_inputs``), or None if unknown."""
        root = self.get(run_id, name)
        if root is None:
            return None
        edges = self.db.read_with_retry(lambda conn: ancestry_edges(conn, root.artifact_id, max_depth))
        known = self._load(run_id, sorted({root.artifact_id} | {e[1] for e in edges}))
        children: dict[str, list[tuple[str, str]]] = {}
        for parent, child, used in sorted(set(edges)):
            children.setdefault(parent, []).append((child, used))
        seen: set[str] = set()

        def build(node_id: str, used: str | None) -> LineageNode:
            node = LineageNode(artifact_id=node_id, artifact=known.get(node_id), used_hash=used)
            if node_id in seen:
                node.repeated = bool(children.get(node_id))
                return node
            seen.add(node_id)
            node.children = [build(c, h) for c, h in children.get(node_id, [])]
            return node

        return build(root.artifact_id, None)


def ancestry_edges(conn: Connection, root_id: str, max_depth: int = MAX_DEPTH) -> list[tuple[str, str, str]]:
    """Every (artifact, input, input hash) edge reachable from `root_id`, by a recursive CTE."""
    edges = _EDGES
    base = (
        sa.select(edges.c.artifact_id, edges.c.input_id, edges.c.input_hash, sa.literal(1).label("depth"))
        .where(edges.c.artifact_id == root_id)
        .cte("lineage", recursive=True)
    )
    step = sa.select(edges.c.artifact_id, edges.c.input_id, edges.c.input_hash, base.c.depth + 1).join(
        base, edges.c.artifact_id == base.c.input_id
    )
    tree = base.union(step.where(base.c.depth < max_depth))
    rows = conn.execute(sa.select(tree.c.artifact_id, tree.c.input_id, tree.c.input_hash).distinct())
    return [(r.artifact_id, r.input_id, r.input_hash) for r in rows]
