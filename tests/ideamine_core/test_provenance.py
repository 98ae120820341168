"""Provenance conformance suite on SQLite and PostgreSQL: artifacts, lineage edges and the recursive query.

Contract: a phase artifact is recorded with its agents' outputs as inputs, each agent output with the
inputs named in its provenance (submission, upstream phases, earlier agents, other inputs); the
lineage of an artifact is its full ancestry with content hashes, each shared ancestor expanded once;
re-recording an input with new content marks the old edge stale; each record appends one ``artifact``
ledger entry, idempotently.
"""

from __future__ import annotations

from ideamine_core.domain.artifact import AgentResult, PhaseArtifact, Provenance, content_hash
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.ledger import Ledger
from ideamine_core.provenance import ProvenanceStore, agent_name, phase_name, tool_name
from ideamine_core.storage.database import Database

RUN = "run-prov"
IDEA = IdeaSubmission(idea="Build a collaborative todo app with real-time sync")


def result(phase: str, agent: str, inputs: dict[str, str], output: dict, iteration: int = 0) -> AgentResult:
    return AgentResult(
        agent=agent,
        phase=phase,
        output=output,
        iteration=iteration,
        provenance=Provenance(
            agent=agent,
            phase=phase,
            provider="offline",
            model="offline",
            generator_version="rules-1",
            inputs=inputs,
            output_hash=content_hash(output),
        ),
    )


def two_phases(store: ProvenanceStore) -> tuple[PhaseArtifact, PhaseArtifact]:
    store.record_submission(RUN, IDEA)
    sub = content_hash(IDEA)
    a = result("intake", "Classifier", {"submission": sub}, {"kind": "app"})
    b = result(
        "intake", "Expander", {"submission": sub, "agent:Classifier": a.provenance.output_hash}, {"x": 1}
    )
    intake = PhaseArtifact(phase="intake", results=[a, b], aggregate={"x": 1}, aggregation_strategy="merge")
    store.record_phase_artifact(RUN, intake)
    c = result(
        "ideation",
        "Strategy",
        {"submission": sub, "phase:intake": intake.hash(), "instruction": content_hash("be brief")},
        {"s": 1},
    )
    ideation = PhaseArtifact(phase="ideation", results=[c], aggregate={"s": 1}, aggregation_strategy="merge")
    store.record_phase_artifact(RUN, ideation)
    return intake, ideation


def test_phase_artifact_records_agents_and_fan_in(db: Database) -> None:
    store = ProvenanceStore(db)
    intake, _ = two_phases(store)
    phase = store.get(RUN, "intake")
    assert phase is not None and phase.name == phase_name("intake") and phase.content_hash == intake.hash()
    assert set(phase.inputs) == {
        f"{RUN}/{agent_name('intake', 'Classifier')}",
        f"{RUN}/agent:intake/Expander",
    }
    expander = store.get(RUN, "agent:intake/Expander")
    assert expander.producer["provider"] == "offline" and expander.producer["agent"] == "Expander"
    assert set(expander.inputs) == {f"{RUN}/submission", f"{RUN}/agent:intake/Classifier"}
    names = [a.name for a in store.artifacts(RUN)]
    assert names == sorted(names) and "input:ideation/Strategy/instruction" in names


def test_lineage_is_the_recursive_ancestry_with_hashes(db: Database) -> None:
    store = ProvenanceStore(db)
    intake, ideation = two_phases(store)
    tree = store.lineage(RUN, "ideation")
    assert tree is not None and tree.artifact.content_hash == ideation.hash()
    strategy = tree.children[0]
    assert strategy.artifact_id == f"{RUN}/agent:ideation/Strategy"
    kids = {c.artifact.name: c for c in strategy.children}
    assert set(kids) == {"submission", "phase:intake", "input:ideation/Strategy/instruction"}
    assert kids["phase:intake"].used_hash == intake.hash() and not kids["phase:intake"].stale
    all_ids = [n.artifact_id for n in tree.walk()]
    assert f"{RUN}/agent:intake/Classifier" in all_ids
    classifier = [n for n in tree.walk() if n.artifact_id == f"{RUN}/agent:intake/Classifier"]
    assert [bool(n.children) for n in classifier] == [True, False], "a shared ancestor is expanded once"
    assert [n.repeated for n in classifier] == [False, True]
    assert store.lineage(RUN, "phase:nothing") is None


def test_rerecorded_input_shows_as_stale(db: Database) -> None:
    store = ProvenanceStore(db)
    two_phases(store)
    store.record(
        RUN, phase_name("intake"), kind="phase", phase="intake", content_hash="sha256:new", producer={}
    )
    tree = store.lineage(RUN, "ideation")
    intake_nodes = [n for n in tree.walk() if n.artifact_id == f"{RUN}/phase:intake"]
    assert intake_nodes and all(n.stale for n in intake_nodes)


def test_tool_outputs_join_the_lineage_and_the_ledger(db: Database) -> None:
    ledger = Ledger(db, signer=None)
    store = ProvenanceStore(db, ledger=ledger)
    two_phases(store)
    commit = store.record(
        RUN,
        tool_name("git", "commit"),
        kind="tool",
        phase="build",
        content_hash="sha1:abc123",
        producer={"kind": "tool", "tool": "git", "version": "2.39"},
        inputs={phase_name("ideation"): store.get(RUN, "ideation").content_hash},
    )
    again = store.record(
        RUN, tool_name("git", "commit"), kind="tool", phase="build", content_hash="sha1:abc123",
        producer={"kind": "tool", "tool": "git", "version": "2.39"},
        inputs={phase_name("ideation"): store.get(RUN, "ideation").content_hash},
    )  # fmt: skip
    assert again.content_hash == commit.content_hash
    tree = store.lineage(RUN, tool_name("git", "commit"))
    assert f"{RUN}/submission" in {n.artifact_id for n in tree.walk()}
    entries = ledger.payloads(RUN, "artifact")
    assert sum(1 for e in entries if e["name"] == "tool:git/commit") == 1
    assert len(entries) == len(store.artifacts(RUN))
    assert ledger.verify(RUN).ok
