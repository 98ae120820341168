"""Tests of the phase YAML loader: the shipped configs load; every bad file gives file, field and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from ideamine_core.config.loader import load_phase_configs, load_phase_file
from ideamine_core.domain.phase import Parallelism
from ideamine_core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
PHASE_CONFIGS = REPO / "phase_configs"

VALID = """\
phase: {name}
depends_on: {deps}
parallelism: parallel
agents:
  - name: Alpha
  - name: Beta
gate:
  max_attempts: 3
timebox: PT30M
"""


def write(directory: Path, file: str, text: str) -> Path:
    """Write `text` to directory/file and return the path."""
    path = directory / file
    path.write_text(text, encoding="utf-8")
    return path


def valid(name: str, deps: str = "[]") -> str:
    """A minimal valid phase file."""
    return VALID.format(name=name, deps=deps)


def assert_explains(exc: ConfigError, file: str, field: str, *snippets: str) -> None:
    """The explanation names the file and field, has a Fix, and contains each snippet."""
    text = exc.explain()
    assert exc.file == file
    assert exc.field == field
    assert file in text
    assert f"field `{field}`" in text
    assert "Fix: " in text
    for snippet in snippets:
        assert snippet in text, f"{snippet!r} not in {text!r}"


def test_shipped_phase_configs_load() -> None:
    graph = load_phase_configs(PHASE_CONFIGS)
    assert len(graph.phases) == 13
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
    assert graph.phases["ideation"].parallelism == 4
    assert graph.phases["story_loop"].parallelism is Parallelism.ITERATIVE
    assert graph.phases["story_loop"].max_iterations == 25
    assert graph.phases["security"].gate.hard_blockers["secrets_found"] == 0
    assert graph.phases["prd"].agent_names == ["StoryCutter", "PRDWriter", "UXFlow", "NFRs", "TraceMatrix"]
    assert graph.source_of("qa") == PHASE_CONFIGS / "qa.yaml"
    assert {c.aggregation_strategy.value for c in graph.phases.values()} <= {"merge", "concat"}


def test_shipped_phase_configs_accept_their_agents() -> None:
    agents = {a for f in PHASE_CONFIGS.glob("*.yaml") for a in load_phase_file(f).agent_names}
    graph = load_phase_configs(PHASE_CONFIGS, known_agents=agents)
    assert sum(len(c.agents) for c in graph.phases.values()) == len(agents) == 42


def test_valid_file_loads(tmp_path: Path) -> None:
    config = load_phase_file(write(tmp_path, "alpha.yaml", valid("alpha")), known_agents={"Alpha", "Beta"})
    assert config.phase == "alpha"
    assert config.gate.max_attempts == 3
    assert config.timebox_seconds() == 1800


BAD_FILES = [
    # unknown top-level key: suggests the close key and lists the allowed ones
    pytest.param(
        valid("alpha") + "parallelsm: 4\n",
        None,
        "parallelsm",
        [
            "unknown key",
            "did you mean `parallelism`? Otherwise remove it; allowed keys are: phase, description",
        ],
        id="unknown-key",
    ),
    # unknown key inside a list item: the field has its index
    pytest.param(
        valid("alpha").replace("  - name: Beta\n", "  - name: Beta\n    temperature: 0.2\n"),
        None,
        "agents[1].temperature",
        ["allowed keys are: name, model, prompt, instruction"],
        id="unknown-nested-key",
    ),
    # wrong type in a union field: both alternatives are named
    pytest.param(
        valid("alpha").replace("parallelism: parallel", "parallelism: fast"),
        None,
        "parallelism",
        ["got 'fast'", "one of 'sequential', 'parallel' or 'iterative', or an integer"],
        id="wrong-type-parallelism",
    ),
    # wrong type in a nested mapping
    pytest.param(
        valid("alpha").replace("max_attempts: 3", "max_attempts: many"),
        None,
        "gate.max_attempts",
        ["got 'many', expected an integer", "set `gate.max_attempts` to an integer"],
        id="wrong-type-max-attempts",
    ),
    # out-of-range value
    pytest.param(
        valid("alpha").replace("max_attempts: 3", "max_attempts: 0"),
        None,
        "gate.max_attempts",
        ["expected a number ≥ 1"],
        id="max-attempts-below-minimum",
    ),
    # several errors: the first is reported, the rest counted
    pytest.param(
        valid("alpha").replace("max_attempts: 3", "max_attempts: many") + "extra1: 1\nextra2: 2\n",
        None,
        "gate.max_attempts",
        ["(and 2 more)"],
        id="several-errors",
    ),
    # bad ISO-8601 timebox
    pytest.param(
        valid("alpha").replace("PT30M", "30 minutes"),
        None,
        "timebox",
        ["not an ISO-8601 duration", "PT30M"],
        id="bad-timebox",
    ),
    # missing required key
    pytest.param(
        "phase: alpha\n",
        None,
        "agents",
        ["required key is missing", "add `agents`"],
        id="missing-agents",
    ),
    # a non-text key (YAML reads `1:` as an integer)
    pytest.param(
        valid("alpha") + "1: 2\n",
        None,
        "1",
        ["key is not text", "quote the key"],
        id="non-text-key",
    ),
    # an agent written as a bare name instead of a mapping
    pytest.param(
        "phase: alpha\nagents:\n  - Alpha\n",
        None,
        "agents[0]",
        ["got 'Alpha', expected a mapping", "write each agent as a mapping, e.g. `- name: Alpha`"],
        id="agent-not-a-mapping",
    ),
    # model-level check of PhaseConfig mapped to its field
    pytest.param(
        valid("alpha").replace("  - name: Beta\n", "  - name: Alpha\n"),
        None,
        "agents",
        ["listed twice: Alpha", "list each agent once"],
        id="agent-listed-twice",
    ),
    # YAML syntax error: line and column
    pytest.param(
        "phase: alpha\nagents: [Alpha\ntimebox: PT1H\n",
        None,
        "(whole file)",
        ["YAML syntax error at line 3, column 8", "correct the YAML at line 3, column 8"],
        id="yaml-syntax",
    ),
    # duplicate key, which PyYAML would silently accept
    pytest.param(
        valid("alpha") + "timebox: PT1H\n",
        None,
        "timebox",
        ["appears twice (second time at line 10)", "keep a single `timebox:` entry"],
        id="duplicate-key",
    ),
    # empty file
    pytest.param("", None, "(whole file)", ["the file is empty", "add the phase definition"], id="empty"),
    # comments only count as empty
    pytest.param("# nothing yet\n", None, "(whole file)", ["the file is empty"], id="comments-only"),
    # a list at the top level
    pytest.param("- phase: alpha\n", None, "(whole file)", ["not a mapping"], id="not-a-mapping"),
    # unknown agent with known_agents: close match and where agents are registered
    pytest.param(
        valid("alpha").replace("name: Beta", "name: Betta"),
        {"Alpha", "Beta", "Gamma"},
        "agents[1].name",
        ["unknown agent 'Betta'", "did you mean 'Beta'?", "ideamine_core/agents/registry.py"],
        id="unknown-agent",
    ),
    # file name and phase field disagree
    pytest.param(
        valid("beta"),
        None,
        "phase",
        ["phase 'beta' does not match the file name 'alpha.yaml'", "rename the file to beta.yaml"],
        id="name-mismatch",
    ),
    # phase name not lower_snake_case
    pytest.param(
        valid("Alpha"),
        None,
        "phase",
        ["is not lower_snake_case", "use a lower_snake_case name"],
        id="bad-phase-name",
    ),
]


@pytest.mark.parametrize(("text", "known_agents", "field", "snippets"), BAD_FILES)
def test_bad_file_is_explained(
    tmp_path: Path, text: str, known_agents: set[str] | None, field: str, snippets: list[str]
) -> None:
    path = write(tmp_path, "alpha.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_phase_file(path, known_agents=known_agents)
    assert_explains(info.value, str(path), field, *snippets)


def test_invalid_utf8_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    path.write_bytes(b"phase: alpha\ndescription: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_phase_file(path)
    assert_explains(info.value, str(path), "(whole file)", "not UTF-8", "save the file as UTF-8")


def test_missing_file_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "alpha.yaml"
    with pytest.raises(ConfigError) as info:
        load_phase_file(path)
    assert_explains(info.value, str(path), "(whole file)", "cannot read the file")


def test_path_is_shown_relative_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "configs").mkdir()
    path = write(tmp_path / "configs", "alpha.yaml", "")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_phase_file(path)
    assert info.value.file == str(Path("configs") / "alpha.yaml")


BAD_DIRS = [
    # the directory does not exist
    pytest.param({}, "missing", "(directory)", ["config directory does not exist"], id="missing-dir"),
    # the directory holds no YAML file
    pytest.param({"notes.txt": "hi"}, ".", "(directory)", ["no *.yaml or *.yml files"], id="no-yaml"),
    # depends_on names a phase nobody defines: close match and the known phases
    pytest.param(
        {"alpha.yaml": valid("alpha"), "beta.yaml": valid("beta", "[alfa]")},
        "beta.yaml",
        "depends_on",
        ["unknown phase 'alfa'", "did you mean 'alpha'?", "depend only on defined phases: alpha, beta"],
        id="unknown-dependency",
    ),
    # the same phase in alpha.yaml and alpha.yml: both files are named
    pytest.param(
        {"alpha.yaml": valid("alpha"), "alpha.yml": valid("alpha")},
        "alpha.yml",
        "phase",
        ["phase 'alpha' is defined twice", "alpha.yaml", "rename the phase in one of the two files"],
        id="duplicate-phase",
    ),
    # a → b → c → a
    pytest.param(
        {"a.yaml": valid("a", "[c]"), "b.yaml": valid("b", "[a]"), "c.yaml": valid("c", "[b]")},
        "a.yaml",
        "depends_on",
        ["dependency cycle: a → b → c → a", "remove one of the edges"],
        id="cycle",
    ),
    # a bad file inside the directory is reported with its own name
    pytest.param(
        {"alpha.yaml": valid("alpha"), "beta.yaml": valid("beta").replace("PT30M", "soon")},
        "beta.yaml",
        "timebox",
        ["'soon' is not an ISO-8601 duration"],
        id="bad-file-in-dir",
    ),
]


@pytest.mark.parametrize(("files", "blamed", "field", "snippets"), BAD_DIRS)
def test_bad_directory_is_explained(
    tmp_path: Path, files: dict[str, str], blamed: str, field: str, snippets: list[str]
) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    target = tmp_path / "missing" if blamed == "missing" else tmp_path
    with pytest.raises(ConfigError) as info:
        load_phase_configs(target)
    expected = target if blamed in ("missing", ".") else tmp_path / blamed
    assert_explains(info.value, str(expected), field, *snippets)


def test_directory_loads_yaml_and_yml_sorted_and_skips_others(tmp_path: Path) -> None:
    write(tmp_path, "b.yml", valid("b", "[a]"))
    write(tmp_path, "a.yaml", valid("a"))
    write(tmp_path, "README.md", "not a phase")
    write(tmp_path, ".c.yaml", "editor backup: [")
    graph = load_phase_configs(tmp_path, known_agents=["Alpha", "Beta"])
    assert graph.order() == ["a", "b"]
    assert graph.source_of("b") == tmp_path / "b.yml"


def test_directory_checks_agents(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", valid("a"))
    with pytest.raises(ConfigError) as info:
        load_phase_configs(tmp_path, known_agents=["Alpha"])
    assert_explains(info.value, str(path), "agents[1].name", "unknown agent 'Beta'", "registry.py")
