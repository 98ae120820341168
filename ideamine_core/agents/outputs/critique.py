"""Output models of the critique phase: RedTeam, PreMortem and AssumptionHunter."""

from __future__ import annotations

from pydantic import Field

from ideamine_core.agents.outputs._base import AgentOutput, Level, Severity, Strict

__all__ = [
    "Assumption",
    "AssumptionLog",
    "FailureScenario",
    "PreMortemReport",
    "Risk",
    "RiskRegister",
]


class Risk(Strict):
    """One risk with severity, likelihood and mitigation."""

    id: str = Field(pattern=r"^RISK-\d+$", description="Risk id, 'RISK-1', ...")
    title: str = Field(min_length=1, description="What could go wrong.")
    severity: Severity = Field(description="Impact if it happens.")
    likelihood: Level = Field(description="How likely it is.")
    mitigation: str = Field(min_length=1, description="How to prevent or soften it.")


class RiskRegister(AgentOutput):
    """RedTeam: risks and counter-arguments against the idea."""

    risks: list[Risk] = Field(min_length=1, description="Risks, most severe first.")
    counter_arguments: list[str] = Field(
        default_factory=list, description="Arguments a sceptic would make against the idea."
    )


class FailureScenario(Strict):
    """One imagined way the product failed, with its early signal."""

    id: str = Field(pattern=r"^FS-\d+$", description="Scenario id, 'FS-1', ...")
    headline: str = Field(min_length=1, description="The failure, as a headline.")
    cause: str = Field(min_length=1, description="Root cause.")
    early_signal: str = Field(min_length=1, description="What would have warned us.")
    prevention: str = Field(min_length=1, description="What to do now to prevent it.")


class PreMortemReport(AgentOutput):
    """PreMortem: failure scenarios imagined from the future."""

    horizon: str = Field(min_length=1, description="When the imagined failure happened.")
    scenarios: list[FailureScenario] = Field(min_length=1, description="Failure scenarios.")


class Assumption(Strict):
    """One assumption to test, and how."""

    id: str = Field(pattern=r"^AS-\d+$", description="Assumption id, 'AS-1', ...")
    statement: str = Field(min_length=1, description="What we believe without evidence.")
    risk_if_wrong: str = Field(min_length=1, description="Consequence if it is false.")
    how_to_test: str = Field(min_length=1, description="A cheap experiment that tests it.")
    success_signal: str = Field(min_length=1, description="Result that confirms it.")
    confidence: Level = Field(description="Current confidence in it.")


class AssumptionLog(AgentOutput):
    """AssumptionHunter: assumptions to test."""

    assumptions: list[Assumption] = Field(min_length=1, description="Assumptions, riskiest first.")
