"""Load `phase_configs/*.yaml` into PhaseConfigs and a PhaseGraph; every failure is a ConfigError."""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ideamine_core.config.graph import PhaseGraph, display_path
from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.errors import ConfigError, ModelConfigError
from ideamine_core.providers.model_id import parse_model_id

AGENT_REGISTRY = "ideamine_core/agents/registry.py"
WHOLE_FILE = "(whole file)"
DIRECTORY = "(directory)"

_EXPECTED = {
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text (a string)",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "invalid_key": "text keys",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "≥"),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "≤"),
    "less_than": ("lt", "<"),
}
_MODEL_LEVEL = {  # phrase of a PhaseConfig model-validator message → field it is about
    "custom_aggregator": "custom_aggregator",
    "listed twice": "agents",
    "depend on itself": "depends_on",
}


class _DuplicateKey(Exception):
    """A mapping in the YAML repeats a key (PyYAML would silently keep the last one)."""

    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Construct the mapping, raising _DuplicateKey on a repeated key."""
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _read_yaml(path: Path, shown: str) -> object:
    """Parse the file, turning I/O, encoding and syntax problems into ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as exc:
        problem = f"key `{exc.key}` appears twice (second time at line {exc.line})"
        fix = f"keep a single `{exc.key}:` entry in that mapping; YAML would keep only the last"
        raise ConfigError(shown, exc.key, problem, fix) from None
    except UnicodeDecodeError as exc:
        problem = f"not UTF-8 text (bad byte at offset {exc.start})"
        raise ConfigError(shown, WHOLE_FILE, problem, "save the file as UTF-8") from None
    except OSError as exc:
        problem = f"cannot read the file: {exc.strerror or exc}"
        fix = "check that the file exists and is readable, or pass the right path"
        raise ConfigError(shown, WHOLE_FILE, problem, fix) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problem = f"YAML syntax error{where}: {what}"
        fix = f"correct the YAML{where} (check indentation, colons, quotes and `- ` list items)"
        raise ConfigError(shown, WHOLE_FILE, problem, fix) from None


def _model_of(annotation: Any) -> tuple[Any, bool]:
    """(inner annotation, is a union of several non-None types) of a field annotation."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return (members[0], False) if len(members) == 1 else (None, True)
    return annotation, False


def _locate(loc: tuple[int | str, ...]) -> tuple[str, type[BaseModel] | None]:
    """Dotted field path of a pydantic loc (union tags dropped) and the model owning its end."""
    parts: list[str] = []
    current: Any = PhaseConfig
    owner: type[BaseModel] | None = None
    skip_tag = False
    for part in loc:
        if skip_tag:  # pydantic names the union member tried, e.g. 'constrained-int'
            skip_tag, current = False, None
            continue
        if part == "[key]":  # pydantic's marker for an invalid dict key, already named
            continue
        if isinstance(part, int) and typing.get_origin(current) is not dict:
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
        owner = current if isinstance(current, type) and issubclass(current, BaseModel) else None
        if owner is not None:
            field = owner.model_fields.get(str(part))
            current, skip_tag = _model_of(field.annotation) if field else (None, False)
        elif typing.get_origin(current) in (list, dict):
            current, skip_tag = _model_of(typing.get_args(current)[-1])
        else:
            current = None
    return "".join(parts) or "phase", owner


def _expected(error: Any) -> str:
    """What a type or constraint error expected, in words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind in _BOUNDS:
        key, sign = _BOUNDS[kind]
        return f"a number {sign} {ctx.get(key)}"
    if kind in ("enum", "literal_error"):
        return f"one of {ctx.get('expected')}"
    if kind == "too_short":
        return f"at least {ctx.get('min_length')} item(s)"
    return str(error["msg"]).removeprefix("Input should be ")


def _show(value: object) -> str:
    """Short repr of an offending value."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _from_validation(shown: str, exc: ValidationError) -> ConfigError:
    """ConfigError for the first error of a ValidationError (union alternatives merged)."""
    errors = exc.errors()
    located = [(_locate(tuple(e["loc"])), e) for e in errors]
    (field, owner), first = located[0]
    group = [e for (f, _), e in located if f == field]
    others = len({f for (f, _), _ in located} - {field})
    more = f" (and {others} more)" if others else ""
    kind = first["type"]
    if kind == "invalid_key":  # the loc ends with the offending key itself, not an index
        parent = _locate(tuple(first["loc"][:-1]))[0] + "." if len(first["loc"]) > 1 else ""
        fix = f"quote the key (e.g. `'{first['input']}':`) or remove it"
        return ConfigError(shown, f"{parent}{first['input']}", f"key is not text{more}", fix)
    if kind == "extra_forbidden":
        allowed = ", ".join(owner.model_fields) if owner else "see the documentation"
        hint = difflib.get_close_matches(field.rsplit(".", 1)[-1], owner.model_fields if owner else [])
        mean = f"did you mean `{hint[0]}`? Otherwise " if hint else ""
        return ConfigError(
            shown, field, f"unknown key{more}", f"{mean}remove it; allowed keys are: {allowed}"
        )
    if kind == "missing":
        info = owner.model_fields.get(field.rsplit(".", 1)[-1]) if owner else None
        about = f" ({info.description.rstrip('.')})" if info and info.description else ""
        return ConfigError(shown, field, f"required key is missing{more}", f"add `{field}`{about}")
    if kind == "value_error":
        message = str(first["msg"]).removeprefix("Value error, ")
        if field == "phase" and not first["loc"]:
            field = next((f for k, f in _MODEL_LEVEL.items() if k in message), "phase")
        fixes = {
            "timebox": "write an ISO-8601 duration such as PT30M, PT2H or P1DT30M",
            "phase": "use a lower_snake_case name such as story_loop, matching the file name",
            "custom_aggregator": "set custom_aggregator: 'module:function' or use another strategy",
            "agents": "list each agent once",
            "depends_on": "remove the phase's own name from depends_on",
        }
        return ConfigError(shown, field, message + more, fixes.get(field, f"correct the value of `{field}`"))
    expected = ", or ".join(dict.fromkeys(_expected(e) for e in group))
    problem = f"got {_show(first['input'])}, expected {expected}{more}"
    fix = f"set `{field}` to {expected}"
    if kind == "model_type" and isinstance(first["input"], str) and field.startswith("agents["):
        fix = f"write each agent as a mapping, e.g. `- name: {first['input']}`"
    return ConfigError(shown, field, problem, fix)


def _check_agents(shown: str, config: PhaseConfig, known_agents: Collection[str]) -> None:
    """Raise ConfigError for the first agent name not in `known_agents`."""
    for i, name in enumerate(config.agent_names):
        if name not in known_agents:
            close = difflib.get_close_matches(name, sorted(known_agents), n=3)
            mean = "did you mean " + " or ".join(map(repr, close)) + "? " if close else ""
            fix = f"{mean}use a registered agent name, or register the agent in {AGENT_REGISTRY}"
            raise ConfigError(shown, f"agents[{i}].name", f"unknown agent '{name}'", fix)


def _check_models(shown: str, config: PhaseConfig) -> None:
    """Raise ConfigError for the first model id that is not 'provider:model' with a known provider."""
    fields = [(f"models[{i}]", m) for i, m in enumerate(config.models)]
    for i, ref in enumerate(config.agents):
        fields += [(f"agents[{i}].model", ref.model)] if ref.model else []
        fields += [(f"agents[{i}].models[{j}]", m) for j, m in enumerate(ref.models)]
    for field, model_id in fields:
        try:
            parse_model_id(model_id)
        except ModelConfigError as exc:
            raise ConfigError(shown, field, exc.message, exc.fix or "write 'provider:model'") from None


def load_phase_file(path: Path, known_agents: Collection[str] | None = None) -> PhaseConfig:
    """Read and validate one phase YAML file; raise ConfigError naming file, field and fix."""
    path = Path(path)
    shown = display_path(path)
    data = _read_yaml(path, shown)
    if data is None:
        fix = "add the phase definition (phase, depends_on, agents, ...) or delete the file"
        raise ConfigError(shown, WHOLE_FILE, "the file is empty (or only comments)", fix)
    if not isinstance(data, dict):
        problem = f"the top level is {type(data).__name__}, not a mapping of keys"
        fix = "write `key: value` lines at the top level, starting with `phase: <name>`"
        raise ConfigError(shown, WHOLE_FILE, problem, fix)
    try:
        config = PhaseConfig.model_validate(data)
    except ValidationError as exc:
        raise _from_validation(shown, exc) from None
    if config.phase != path.stem:
        problem = f"phase '{config.phase}' does not match the file name '{path.name}'"
        fix = f"rename the file to {config.phase}{path.suffix} or set `phase: {path.stem}`"
        raise ConfigError(shown, "phase", problem, fix)
    if known_agents is not None:
        _check_agents(shown, config, known_agents)
    _check_models(shown, config)
    return config


def load_phase_configs(config_dir: Path, known_agents: Collection[str] | None = None) -> PhaseGraph:
    """Load every *.yaml / *.yml file of `config_dir` (sorted) into a validated PhaseGraph."""
    config_dir = Path(config_dir)
    shown = display_path(config_dir)
    if not config_dir.is_dir():
        what = "is not a directory" if config_dir.exists() else "does not exist"
        fix = "pass the directory holding the phase YAML files (the project ships phase_configs/)"
        raise ConfigError(shown, DIRECTORY, f"config directory {what}", fix)
    try:
        files = sorted(
            p
            for p in config_dir.iterdir()
            if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file()
        )
    except OSError as exc:
        problem = f"cannot list the directory: {exc.strerror or exc}"
        raise ConfigError(shown, DIRECTORY, problem, "check the directory's permissions") from None
    if not files:
        fix = "add one <phase>.yaml file per phase, or pass the right directory"
        raise ConfigError(shown, DIRECTORY, "no *.yaml or *.yml files in the directory", fix)
    return PhaseGraph((load_phase_file(p, known_agents), p) for p in files)


@functools.cache
def _cached(config_dir: str, known: tuple[str, ...], _stamp: tuple[tuple[str, int], ...]) -> PhaseGraph:
    return load_phase_configs(Path(config_dir), known_agents=known)


def cached_phase_graph(config_dir: str | Path, known_agents: Collection[str]) -> PhaseGraph:
    """The validated phase graph of `config_dir`, loaded once and re-read whenever a YAML file changes."""
    files = sorted(Path(config_dir).glob("*.y*ml"))
    stamp = tuple((f.name, f.stat().st_mtime_ns) for f in files)
    return _cached(str(config_dir), tuple(sorted(known_agents)), stamp)
