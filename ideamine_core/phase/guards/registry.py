"""The guard registry: guard type → function, and running a phase's configured guards."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ideamine_core.domain.evidence import GuardResult
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.guards.base import GuardInput
from ideamine_core.phase.guards.blockers import blockers
from ideamine_core.phase.guards.contradictions import contradictions
from ideamine_core.phase.guards.coverage import coverage
from ideamine_core.phase.guards.grounding import grounding
from ideamine_core.phase.guards.schema import schema

GuardFn = Callable[[GuardSpec, GuardInput], GuardResult]

GUARDS: dict[str, GuardFn] = {
    "contradictions": contradictions,
    "grounding": grounding,
    "coverage": coverage,
    "schema": schema,
    "blockers": blockers,
}
"""Every guard type a phase YAML may name."""


def run_guards(specs: Sequence[GuardSpec], data: GuardInput) -> list[GuardResult]:
    """Each configured guard's result, in configuration order."""
    return [GUARDS[spec.type](spec, data) for spec in specs]
