"""Normalized findings: severity shifts, per-severity counts, hard-blocker metrics and the agents' records.

Contract: every metric key is always present; secrets count whatever their severity; SAST counts are by
severity; dependency findings at 'info' are inventory, not vulnerabilities; output ids are stable.
"""

from __future__ import annotations

import pytest

from ideamine_core.workspace.findings import (
    METRICS,
    ScanFinding,
    counts_by_severity,
    hard_blocker_metrics,
    shift,
    to_output_findings,
)


def _f(category: str, severity: str, path: str = "app.py", line: int = 1, rule: str = "R1") -> ScanFinding:
    return ScanFinding(
        tool="tool 1.0",
        rule=rule,
        category=category,  # type: ignore[arg-type]
        severity=severity,  # type: ignore[arg-type]
        title="something",
        path=path,
        line=line,
    )


@pytest.mark.parametrize(
    ("severity", "steps", "expected"),
    [
        ("medium", 1, "high"),  # up one
        ("critical", 1, "critical"),  # clamped at the top
        ("low", -1, "info"),  # down one
        ("info", -3, "info"),  # clamped at the bottom
    ],
)
def test_shift(severity: str, steps: int, expected: str) -> None:
    assert shift(severity, steps) == expected  # type: ignore[arg-type]


def test_metrics_count_by_category_and_severity() -> None:
    findings = [
        _f("secret", "high"),
        _f("secret", "critical", line=2),
        _f("sast", "critical", line=3),
        _f("sast", "high", line=4),
        _f("sast", "low", line=5),
        _f("dependency", "info", line=6),
        _f("dependency", "critical", line=7),
        _f("injection", "medium", line=8),
    ]
    metrics = hard_blocker_metrics(findings)
    assert set(metrics) == set(METRICS)
    assert metrics["secrets_found"] == 2 and metrics["sast_critical"] == 1 and metrics["sast_high"] == 1
    assert metrics["sast_low"] == 1 and metrics["vulnerable_dependencies_critical"] == 1
    assert metrics["injection_signals"] == 1 and metrics["sast_medium"] == 0
    assert hard_blocker_metrics([]) == dict.fromkeys(METRICS, 0)
    assert counts_by_severity(findings) == {"info": 1, "low": 1, "medium": 1, "high": 2, "critical": 3}


def test_output_findings_are_ordered_numbered_and_deduplicated() -> None:
    a, b = _f("sast", "low", "b.py", 3), _f("sast", "critical", "a.py", 9, rule="B307")
    out = to_output_findings([a, b, a], "SAST")
    assert [f.id for f in out] == ["SAST-1", "SAST-2"]
    assert out[0].location == "a.py:9" and out[0].severity == "critical" and "[B307]" in out[0].title
    assert "tool 1.0" in out[0].detail
    assert a.fingerprint == _f("sast", "low", "b.py", 3).fingerprint != b.fingerprint
