"""Blockers guard: hard limits measured from security, QA and build outputs (secrets, critical findings,
failed tests, code that does not compile), each finding named by id and location, never by value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ideamine_core.domain.evidence import GateReason, GuardResult
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.claims import clean_text, excerpt, has_invisible
from ideamine_core.phase.guards.base import GuardInput, count_result

DEFAULT_METRICS = ("secrets_found", "critical_findings", "tests_failed", "build_errors")
"""What the blockers guard limits when its YAML names no `metrics`."""

KNOWN_METRICS = (
    "secrets_found",
    "critical_findings",
    "high_findings",
    "sast_critical",
    "sast_high",
    "sast_medium",
    "sast_low",
    "vulnerable_dependencies_critical",
    "vulnerable_dependencies_high",
    "injection_signals",
    "scanner_errors",
    "tests_failed",
    "build_errors",
    "contradictions_found",
    "injection_markers",
    "hidden_characters",
)
"""Every metric a gate can limit (guard `metrics` param and `gate.hard_blockers`)."""

INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|rubric|rules|guards?|gate|prompt)\b|"
    r"\b(?:mark|let)\b.{0,30}\b(?:as passed|pass(?:es)?)\b.{0,20}\b(?:gate|check|rubric)\b|"
    r"\bsystem prompt\b|\byou are now\b",
    re.I | re.S,
)
"""Text addressed to an evaluator rather than to the product's reader."""


@dataclass
class Measured:
    """Blocker metrics of one attempt and the reasons behind each non-zero metric."""

    metrics: dict[str, float] = field(default_factory=lambda: dict.fromkeys(KNOWN_METRICS, 0.0))
    reasons: dict[str, list[GateReason]] = field(default_factory=dict)

    def add(self, metric: str, reason: GateReason) -> None:
        """Count one blocker under `metric`."""
        self.metrics[metric] = self.metrics.get(metric, 0.0) + 1
        self.reasons.setdefault(metric, []).append(reason)


def _finding_reason(agent: str, finding: Mapping[str, Any], metric: str) -> GateReason:
    ident = excerpt(str(finding.get("id", "?")), 40)
    where = excerpt(str(finding.get("location", "")), 120)
    title = excerpt(str(finding.get("title", "")), 120)
    severity = excerpt(str(finding.get("severity", "")), 20)
    return GateReason(
        code=metric, item=where or ident, detail=f"{ident} [{severity}] {title}", agents=[agent]
    )


def _findings(measured: Measured, agent: str, output: Mapping[str, Any]) -> None:
    items = output.get("findings")
    if not isinstance(items, list):
        return
    for finding in (f for f in items if isinstance(f, Mapping)):
        severity = str(finding.get("severity", "")).lower()
        metrics = []
        if agent == "Secrets":
            metrics.append("secrets_found")
        if severity in ("critical", "high"):
            metrics.append(f"{severity}_findings")
        if agent == "SAST" and severity in ("critical", "high", "medium", "low"):
            metrics.append(f"sast_{severity}")
        if agent == "Dependencies" and severity in ("critical", "high"):
            metrics.append(f"vulnerable_dependencies_{severity}")
        for metric in metrics:
            measured.add(metric, _finding_reason(agent, finding, metric))


def _reported(measured: Measured, agent: str, output: Mapping[str, Any]) -> None:
    """A `metrics` mapping an agent reports (e.g. real scanners) raises a metric to at least its value."""
    reported = output.get("metrics")
    if not isinstance(reported, Mapping):
        return
    for name, value in reported.items():
        if name in KNOWN_METRICS and isinstance(value, int | float) and not isinstance(value, bool):
            missing = int(value - measured.metrics.get(name, 0.0))
            for _ in range(max(missing, 0)):
                measured.add(
                    name,
                    GateReason(
                        code=name, item=agent, agents=[agent], detail=f"{agent} reports {name} = {value:g}"
                    ),
                )


def _failure(agent: str, name: str, detail: str) -> GateReason:
    return GateReason(
        code="tests_failed", item=excerpt(name, 120), agents=[agent], detail=excerpt(detail, 200)
    )


def _tests(measured: Measured, agent: str, output: Mapping[str, Any]) -> None:
    run = output.get("execution") if isinstance(output.get("execution"), Mapping) else output
    failures = [f for f in run.get("failures") or [] if f]
    for f in failures:
        if isinstance(f, Mapping):
            kind, message = f.get("kind", "failed"), f.get("message", "")
            measured.add("tests_failed", _failure(agent, str(f.get("test_id", "?")), f"{kind}: {message}"))
        else:
            measured.add("tests_failed", _failure(agent, str(f), "reported as failing"))
    counted = sum(_int(run.get(k)) for k in ("failed", "errors", "tests_failed"))
    for i in range(max(counted - len(failures), 0)):
        measured.add("tests_failed", _failure(agent, f"failure {i + 1}", f"{agent} reports a failing test"))
    if run.get("timed_out") is True or run.get("tampering"):
        why = (
            "the test run timed out" if run.get("timed_out") is True else "signs of tampering with the result"
        )
        measured.add("tests_failed", _failure(agent, "test run", why))
    for error in output.get("parse_errors") or []:
        measured.add(
            "tests_failed", _failure(agent, str(error), "test file does not parse, so its tests cannot pass")
        )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _build_errors(measured: Measured, agent: str, output: Mapping[str, Any]) -> None:
    for f in output.get("files") or []:
        if not isinstance(f, Mapping) or not str(f.get("path", "")).endswith(".py"):
            continue
        try:
            compile(clean_text(f.get("content", "")), str(f.get("path")), "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"{excerpt(str(f.get('path')), 120)}:{line or 1}"
            measured.add(
                "build_errors",
                GateReason(
                    code="build_errors",
                    item=where,
                    agents=[agent],
                    detail=f"does not compile: {excerpt(str(exc), 120)}",
                ),
            )


def _text_markers(measured: Measured, agent: str, value: Any, path: str = "") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key != "content":  # code is scanned by the security phase, not read as prose
                _text_markers(measured, agent, item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _text_markers(measured, agent, item, f"{path}[{i}]")
    elif isinstance(value, str):
        where = f"{agent}.{excerpt(path, 100)}"
        if has_invisible(value):
            measured.add(
                "hidden_characters",
                GateReason(
                    code="hidden_characters",
                    item=where,
                    agents=[agent],
                    detail="invisible characters in the text",
                ),
            )
        if INJECTION.search(clean_text(value)[:100_000]):
            measured.add(
                "injection_markers",
                GateReason(
                    code="injection_markers",
                    item=where,
                    agents=[agent],
                    detail="text addresses the evaluator (injected instruction)",
                ),
            )


def measure(data: GuardInput) -> Measured:
    """Every blocker metric of the attempt's latest outputs (contradictions are counted by their guard)."""
    measured = Measured()
    for agent in sorted(data.latest):
        output = data.latest[agent].output
        if not isinstance(output, Mapping):
            continue
        _findings(measured, agent, output)
        _reported(measured, agent, output)
        _tests(measured, agent, output)
        _build_errors(measured, agent, output)
        _text_markers(measured, agent, output)
    return measured


def metrics_param(spec: GuardSpec) -> list[str]:
    """The metrics this guard limits: its `metrics` param (comma-separated) or DEFAULT_METRICS."""
    raw = spec.params.get("metrics")
    return [m.strip() for m in str(raw).split(",") if m.strip()] if raw else list(DEFAULT_METRICS)


def blockers(spec: GuardSpec, data: GuardInput) -> GuardResult:
    """Count blockers over the limited metrics; each above `threshold` fails with the findings named."""
    measured = measure(data)
    over: list[GateReason] = []
    count = 0.0
    for metric in metrics_param(spec):
        value = measured.metrics.get(metric, 0.0)
        if value > spec.threshold:
            count += value - spec.threshold
            over.extend(measured.reasons.get(metric, []))
    return count_result(
        spec, count, over, {k: v for k, v in measured.metrics.items() if v or k in DEFAULT_METRICS}
    )
