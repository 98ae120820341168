"""PhaseGraph: the validated DAG of phases built from their `depends_on` lists."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.errors import ConfigError, UserInputError


def display_path(path: Path | str) -> str:
    """The path relative to the working directory if it lies below it, else as passed."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.relative_to(Path.cwd()))
    except (ValueError, OSError):
        return str(p)


def _did_you_mean(name: str, choices: Iterable[str]) -> str:
    """'did you mean 'x' or 'y'? ' for close matches of `name`, else ''."""
    close = difflib.get_close_matches(name, sorted(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(c) for c in close) + "? "


class PhaseGraph:
    """The phases and their dependencies, validated (no duplicates, unknown deps or cycles)."""

    def __init__(self, entries: Iterable[tuple[PhaseConfig, Path | str]]) -> None:
        """Build and validate the graph from (config, source file) pairs."""
        configs: dict[str, PhaseConfig] = {}
        self._sources: dict[str, Path] = {}
        for config, source in entries:
            if config.phase in configs:
                first = display_path(self._sources[config.phase])
                raise ConfigError(
                    display_path(source),
                    "phase",
                    f"phase '{config.phase}' is defined twice: in {first} and in {display_path(source)}",
                    f"rename the phase in one of the two files or delete one of them "
                    f"({first}, {display_path(source)})",
                )
            configs[config.phase] = config
            self._sources[config.phase] = Path(source)
        self._check_dependencies(configs)
        self._levels = self._kahn_levels(configs)
        self._order = [name for level in self._levels for name in level]
        self._rank = {name: i for i, name in enumerate(self._order)}
        self.phases: dict[str, PhaseConfig] = {name: configs[name] for name in self._order}
        self._downstream: dict[str, set[str]] = {name: set() for name in self._order}
        for name, config in configs.items():
            for dep in config.depends_on:
                self._downstream[dep].add(name)

    def _check_dependencies(self, configs: dict[str, PhaseConfig]) -> None:
        """Raise ConfigError for the first `depends_on` entry naming an undefined phase."""
        for name, config in configs.items():
            for dep in config.depends_on:
                if dep not in configs:
                    known = ", ".join(sorted(configs))
                    raise ConfigError(
                        display_path(self._sources[name]),
                        "depends_on",
                        f"unknown phase '{dep}' (no config file defines it)",
                        f"{_did_you_mean(dep, configs)}depend only on defined phases: {known}",
                    )

    def _kahn_levels(self, configs: dict[str, PhaseConfig]) -> list[list[str]]:
        """Kahn's algorithm, one sorted ready set per level; raise ConfigError on a cycle."""
        waiting = {name: set(config.depends_on) for name, config in configs.items()}
        levels: list[list[str]] = []
        done: set[str] = set()
        while waiting:
            ready = sorted(name for name, deps in waiting.items() if deps <= done)
            if not ready:
                self._raise_cycle(waiting, done)
            levels.append(ready)
            done.update(ready)
            for name in ready:
                del waiting[name]
        return levels

    def _raise_cycle(self, waiting: dict[str, set[str]], done: set[str]) -> None:
        """Find one cycle among the blocked phases and raise a ConfigError naming it."""
        node, path = min(waiting), []
        while node not in path:
            path.append(node)
            node = min(waiting[node] - done)
        cycle = path[path.index(node) :]  # each phase depends on the next one
        cycle.reverse()  # flow order: each phase feeds the next one
        start = cycle.index(min(cycle))
        cycle = cycle[start:] + cycle[:start]
        head, tail = cycle[0], cycle[-1]
        shown = " → ".join([*cycle, head])
        raise ConfigError(
            display_path(self._sources[head]),
            "depends_on",
            f"dependency cycle: {shown}",
            f"remove one of the edges, e.g. drop '{tail}' from the `depends_on` of '{head}'",
        )

    def __len__(self) -> int:
        """Number of phases."""
        return len(self._order)

    def __iter__(self) -> Iterator[str]:
        """Phase names in topological order."""
        return iter(self._order)

    def __contains__(self, phase: object) -> bool:
        """Whether a phase of that name exists."""
        return phase in self._rank

    def source_of(self, phase: str) -> Path:
        """The file the phase was loaded from."""
        return self._sources[self._check(phase)]

    def order(self) -> list[str]:
        """Deterministic topological order (the levels, flattened)."""
        return list(self._order)

    def levels(self) -> list[list[str]]:
        """Phases grouped by depth; a level's phases only depend on earlier levels."""
        return [list(level) for level in self._levels]

    def upstream(self, phase: str, transitive: bool = True) -> list[str]:
        """The phases `phase` depends on (all ancestors if transitive), in topological order."""
        edges = {name: set(config.depends_on) for name, config in self.phases.items()}
        return self._reach(self._check(phase), edges, transitive)

    def downstream(self, phase: str, transitive: bool = True) -> list[str]:
        """The phases depending on `phase` (all descendants if transitive), in topological order."""
        return self._reach(self._check(phase), self._downstream, transitive)

    def _reach(self, phase: str, edges: dict[str, set[str]], transitive: bool) -> list[str]:
        """Nodes reachable from `phase` along `edges`, sorted topologically."""
        seen: set[str] = set()
        stack = list(edges[phase])
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                if transitive:
                    stack.extend(edges[node])
        return sorted(seen, key=self._rank.__getitem__)

    def select(self, phases: Iterable[str]) -> list[str]:
        """Validate phase names and return them deduplicated, in topological order."""
        wanted = list(phases)
        unknown = [name for name in dict.fromkeys(wanted) if name not in self._rank]
        if unknown:
            hints = "".join(_did_you_mean(name, self._order) for name in unknown)
            raise UserInputError(
                "unknown phase(s): " + ", ".join(repr(name) for name in unknown),
                fix=f"{hints}choose from the valid phases: {', '.join(self._order)}",
            )
        return sorted(set(wanted), key=self._rank.__getitem__)

    def missing_upstream(self, selected: Iterable[str]) -> dict[str, list[str]]:
        """For each selected phase with direct deps outside the selection, those deps."""
        chosen = self.select(selected)
        missing: dict[str, list[str]] = {}
        for name in chosen:
            outside = [dep for dep in self.upstream(name, transitive=False) if dep not in chosen]
            if outside:
                missing[name] = outside
        return missing

    def plan(self, phases: list[str] | None, produced: Callable[[str], bool] | None = None) -> list[str]:
        """Validate a run's phase selection (None: every phase), in topological order.

        Every dependency must be selected too, or already `produced` for the run (a partial run that
        continues an earlier one); otherwise a UserInputError names what is missing and the fix.
        """
        selected = self.select(phases) if phases else self.order()
        missing = {
            phase: [d for d in deps if not (produced and produced(d))]
            for phase, deps in self.missing_upstream(selected).items()
        }
        missing = {p: d for p, d in missing.items() if d}
        if missing:
            needs = "; ".join(f"{p} needs {', '.join(d)}" for p, d in sorted(missing.items()))
            add = sorted({d for deps in missing.values() for d in deps})
            raise UserInputError(
                f"the selected phases depend on phases this run has not produced ({needs})",
                fix=f"add them to --phases, e.g. --phases {','.join(add + selected)}",
            )
        return selected

    def _check(self, phase: str) -> str:
        """Return `phase` if it exists, else raise UserInputError."""
        return self.select([phase])[0]
