"""Tests of PhaseGraph: validation errors, deterministic order, levels and selection helpers."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ideamine_core.config.graph import PhaseGraph
from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.errors import ConfigError, UserInputError

# The shipped DAG, as (phase, depends_on).
DEFAULT_DAG = [
    ("intake", []),
    ("ideation", ["intake"]),
    ("critique", ["ideation"]),
    ("prd", ["critique"]),
    ("bizdev", ["prd"]),
    ("architecture", ["prd"]),
    ("build", ["architecture"]),
    ("security", ["build"]),
    ("story_loop", ["build"]),
    ("aesthetic", ["build"]),
    ("qa", ["security", "story_loop"]),
    ("release", ["qa", "aesthetic", "bizdev"]),
    ("beta", ["release"]),
]


def phase(name: str, *deps: str) -> PhaseConfig:
    """A minimal PhaseConfig."""
    return PhaseConfig(phase=name, depends_on=list(deps), agents=[{"name": "Agent"}])


def graph_of(dag: list[tuple[str, list[str]]]) -> PhaseGraph:
    """A PhaseGraph whose phases come from cfg/<name>.yaml."""
    return PhaseGraph((phase(name, *deps), Path("cfg") / f"{name}.yaml") for name, deps in dag)


@pytest.fixture
def graph() -> PhaseGraph:
    return graph_of(DEFAULT_DAG)


def test_order_and_levels(graph: PhaseGraph) -> None:
    assert graph.levels() == [
        ["intake"],
        ["ideation"],
        ["critique"],
        ["prd"],
        ["architecture", "bizdev"],
        ["build"],
        ["aesthetic", "security", "story_loop"],
        ["qa"],
        ["release"],
        ["beta"],
    ]
    assert graph.order() == [name for level in graph.levels() for name in level]
    assert list(graph.phases) == graph.order()
    assert list(graph) == graph.order()
    assert len(graph) == 13
    assert "qa" in graph and "nope" not in graph


def test_order_is_deterministic_whatever_the_input_order(graph: PhaseGraph) -> None:
    rng = random.Random(7)
    for _ in range(20):
        shuffled = DEFAULT_DAG[:]
        rng.shuffle(shuffled)
        other = graph_of(shuffled)
        assert other.order() == graph.order()
        assert other.levels() == graph.levels()


def test_order_respects_every_dependency(graph: PhaseGraph) -> None:
    position = {name: i for i, name in enumerate(graph.order())}
    for name, config in graph.phases.items():
        assert all(position[dep] < position[name] for dep in config.depends_on)


def test_source_of(graph: PhaseGraph) -> None:
    assert graph.source_of("qa") == Path("cfg") / "qa.yaml"
    with pytest.raises(UserInputError):
        graph.source_of("qq")


@pytest.mark.parametrize(
    ("target", "transitive", "expected"),
    [
        # root has no upstream
        ("intake", True, []),
        # direct deps only, in topological order (not depends_on order)
        ("release", False, ["bizdev", "aesthetic", "qa"]),
        # all ancestors of qa, topologically ordered; aesthetic and bizdev are not among them
        (
            "qa",
            True,
            ["intake", "ideation", "critique", "prd", "architecture", "build", "security", "story_loop"],
        ),
    ],
)
def test_upstream(graph: PhaseGraph, target: str, transitive: bool, expected: list[str]) -> None:
    assert graph.upstream(target, transitive=transitive) == expected


def test_downstream(graph: PhaseGraph) -> None:
    assert graph.downstream("build") == ["aesthetic", "security", "story_loop", "qa", "release", "beta"]
    assert graph.downstream("build", transitive=False) == ["aesthetic", "security", "story_loop"]
    assert graph.downstream("beta") == []


def test_select_orders_and_deduplicates(graph: PhaseGraph) -> None:
    assert graph.select(["qa", "intake", "qa", "build"]) == ["intake", "build", "qa"]
    assert graph.select([]) == []


def test_select_rejects_unknown_phases(graph: PhaseGraph) -> None:
    with pytest.raises(UserInputError) as info:
        graph.select(["qa", "secruity", "nope"])
    text = info.value.explain()
    assert "unknown phase(s): 'secruity', 'nope'" in text
    assert "did you mean 'security'?" in text
    assert "Fix: " in text and "choose from the valid phases: intake, ideation" in text


def test_missing_upstream(graph: PhaseGraph) -> None:
    assert graph.missing_upstream(["intake", "ideation"]) == {}
    assert graph.missing_upstream(["qa", "security"]) == {"security": ["build"], "qa": ["story_loop"]}
    assert graph.missing_upstream(["release"]) == {"release": ["bizdev", "aesthetic", "qa"]}
    with pytest.raises(UserInputError):
        graph.missing_upstream(["relase"])


def test_plan_needs_every_dependency_selected_or_already_produced(graph: PhaseGraph) -> None:
    assert graph.plan(None) == graph.order()
    assert graph.plan(["ideation", "intake"]) == ["intake", "ideation"]
    with pytest.raises(UserInputError) as info:
        graph.plan(["qa", "security"])
    text = info.value.explain()
    assert "qa needs story_loop; security needs build" in text
    assert "--phases build,story_loop,security,qa" in text
    produced = {"build", "story_loop"}
    assert graph.plan(["qa", "security"], produced.__contains__) == ["security", "qa"]


def test_empty_graph() -> None:
    empty = PhaseGraph([])
    assert empty.order() == [] and empty.levels() == []


@pytest.mark.parametrize(
    ("dag", "file", "snippets"),
    [
        # two-phase cycle, reported from the alphabetically first phase
        ([("b", ["a"]), ("a", ["b"])], "a.yaml", ["dependency cycle: a → b → a", "drop 'b'"]),
        # cycle behind a valid prefix: only the cycle is named, not the phases leading to it
        (
            [("root", []), ("x", ["root", "z"]), ("y", ["x"]), ("z", ["y"])],
            "x.yaml",
            ["dependency cycle: x → y → z → x", "drop 'z' from the `depends_on` of 'x'"],
        ),
    ],
)
def test_cycle_is_named(dag: list[tuple[str, list[str]]], file: str, snippets: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        graph_of(dag)
    assert info.value.file == str(Path("cfg") / file)
    assert info.value.field == "depends_on"
    text = info.value.explain()
    assert "Fix: remove one of the edges" in text
    for snippet in snippets:
        assert snippet in text


def test_duplicate_phase_names_both_files() -> None:
    with pytest.raises(ConfigError) as info:
        PhaseGraph([(phase("a"), Path("one.yaml")), (phase("a"), Path("two.yaml"))])
    assert info.value.file == "two.yaml"
    assert info.value.field == "phase"
    assert "defined twice: in one.yaml and in two.yaml" in info.value.explain()


def test_unknown_dependency_lists_known_phases() -> None:
    with pytest.raises(ConfigError) as info:
        graph_of([("intake", []), ("ideation", ["intak"])])
    assert info.value.file == str(Path("cfg") / "ideation.yaml")
    assert info.value.field == "depends_on"
    text = info.value.explain()
    assert "unknown phase 'intak'" in text
    assert "Fix: did you mean 'intake'? depend only on defined phases: ideation, intake" in text
