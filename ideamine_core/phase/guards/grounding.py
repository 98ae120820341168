"""Grounding guard: the share of a draft's claims supported by the idea and upstream artifacts.

The measure is the Q/A/V grounding score: claims one context passage supports, plus claims the
Validator ACCEPTed from the Answer agent's evidence. The gatekeeper runs Q/A/V once per attempt
and hands its result in; run alone, the guard clarifies offline itself (nothing persisted).
"""

from __future__ import annotations

from ideamine_core.domain.evidence import GateReason, GuardResult
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.phase.claims import excerpt
from ideamine_core.phase.guards.base import GuardInput, share_result
from ideamine_core.phase.qav import Clarifier, QAVPolicy, QAVResult


def clarification(spec: GuardSpec, data: GuardInput) -> QAVResult:
    """The attempt's Q/A/V result: the gatekeeper's, or an offline one computed now."""
    if data.qav is not None:
        return data.qav
    return Clarifier().run("", data.config.phase, 0, data.results, data.context, QAVPolicy.from_spec(spec))


def grounding(spec: GuardSpec, data: GuardInput) -> GuardResult:
    """Grounding share ≥ threshold passes; each ungrounded claim is a reason naming its item."""
    result = clarification(spec, data)
    s = result.summary
    reasons = [
        GateReason(code="grounding", item=c.item, detail=f'{why}: "{excerpt(c.text, 140)}"', agents=[c.agent])
        for c, why in result.ungrounded()
    ]
    if not result.claims:
        reasons.append(
            GateReason(
                code="grounding",
                item=data.config.phase,
                detail="no checkable claims",
                agents=list(data.config.agent_names),
            )
        )
    metrics = {
        "claims": float(s.claims),
        "claims_supported": float(s.supported),
        "qav_accepted": float(s.accepted),
        "qav_rejected": float(s.rejected),
        "qav_unknown": float(s.unknown),
        "ungrounded_claims": float(len(reasons)),
    }
    notes = [f"{s.not_asked} unsupported claim(s) beyond the question budget"] if s.not_asked else []
    return share_result(spec, s.grounding, reasons, metrics, notes)
