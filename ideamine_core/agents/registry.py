"""The agent registry: every agent's spec, built from explicit per-phase lists."""

from __future__ import annotations

from pydantic import BaseModel

from ideamine_core.agents.outputs import aesthetic as o_aesthetic
from ideamine_core.agents.outputs import architecture as o_architecture
from ideamine_core.agents.outputs import beta as o_beta
from ideamine_core.agents.outputs import bizdev as o_bizdev
from ideamine_core.agents.outputs import build as o_build
from ideamine_core.agents.outputs import critique as o_critique
from ideamine_core.agents.outputs import ideation as o_ideation
from ideamine_core.agents.outputs import intake as o_intake
from ideamine_core.agents.outputs import prd as o_prd
from ideamine_core.agents.outputs import qa as o_qa
from ideamine_core.agents.outputs import release as o_release
from ideamine_core.agents.outputs import security as o_security
from ideamine_core.agents.outputs import story_loop as o_story_loop
from ideamine_core.agents.rules import (
    aesthetic,
    architecture,
    beta,
    bizdev,
    build,
    critique,
    ideation,
    intake,
    prd,
    qa,
    release,
    security,
    story_loop,
)
from ideamine_core.agents.spec import AgentSpec, OfflineRule

__all__ = ["AGENTS", "PHASES", "agent_names", "agents_of_phase", "get_agent"]

PHASES: tuple[str, ...] = (
    "intake",
    "ideation",
    "critique",
    "prd",
    "bizdev",
    "architecture",
    "build",
    "security",
    "story_loop",
    "aesthetic",
    "qa",
    "release",
    "beta",
)
"""The thirteen default phases, in pipeline order."""

_Row = tuple[str, str, type[BaseModel], OfflineRule]
"""(agent name, role, output model, offline rule)."""

# fmt: off
_TABLE: dict[str, tuple[_Row, ...]] = {
    "intake": (
        ("Classifier", "Category, domain keywords, platforms.", o_intake.Classification, intake.classifier),
        ("Expander", "Problem, users, goals, non-goals.", o_intake.IdeaExpansion, intake.expander),
        ("Validator", "The validated, final IdeaSpec.", o_intake.IdeaSpec, intake.validator),
    ),
    "ideation": (
        ("Strategy", "Vision, value proposition, differentiators.", o_ideation.ProductStrategy,
         ideation.strategy),
        ("Competitive", "Competitors and their gaps.", o_ideation.CompetitiveLandscape, ideation.competitive),
        ("TechStack", "Technology that honours the constraints.", o_ideation.TechStack, ideation.tech_stack),
        ("Persona", "3-5 personas and their use cases.", o_ideation.PersonaSet, ideation.persona),
    ),
    "critique": (
        ("RedTeam", "Risks and counter-arguments.", o_critique.RiskRegister, critique.red_team),
        ("PreMortem", "Imagined failure scenarios.", o_critique.PreMortemReport, critique.pre_mortem),
        ("AssumptionHunter", "Assumptions to test, and how.", o_critique.AssumptionLog,
         critique.assumption_hunter),
    ),
    "prd": (
        ("StoryCutter", "User stories with Given/When/Then criteria.", o_prd.StoryMap, prd.story_cutter),
        ("PRDWriter", "Summary, goals and requirements.", o_prd.PRDDocument, prd.prd_writer),
        ("UXFlow", "A UX flow per use case.", o_prd.UXFlowSet, prd.ux_flow),
        ("NFRs", "Measurable non-functional requirements.", o_prd.NFRSet, prd.nfrs),
        ("TraceMatrix", "Use case → stories → requirements.", o_prd.TraceMatrix, prd.trace_matrix),
    ),
    "bizdev": (
        ("Pricing", "Pricing model and tiers.", o_bizdev.PricingPlan, bizdev.pricing),
        ("GoToMarket", "Segments, channels, launch steps.", o_bizdev.GoToMarketPlan, bizdev.go_to_market),
        ("BusinessModel", "Revenue, costs and key metrics.", o_bizdev.BusinessModelCanvas,
         bizdev.business_model),
    ),
    "architecture": (
        ("SystemDesigner", "Components.", o_architecture.SystemDesign, architecture.system_designer),
        ("DataModeler", "Entities and fields.", o_architecture.DataModel, architecture.data_modeler),
        ("APIDesigner", "Endpoints and OpenAPI.", o_architecture.APIDesign, architecture.api_designer),
        ("ADRWriter", "Architecture decisions.", o_architecture.ADRLog, architecture.adr_writer),
    ),
    "build": (
        ("Scaffolder", "Project layout and planned files.", o_build.ScaffoldPlan, build.scaffolder),
        ("Implementer", "The application's source files.", o_build.Implementation, build.implementer),
        ("TestWriter", "Tests from acceptance criteria.", o_build.GeneratedTestSuite, build.test_writer),
    ),
    "security": (
        ("Secrets", "Hard-coded secrets.", o_security.SecretsReport, security.secrets),
        ("SAST", "Dangerous code patterns.", o_security.SASTReport, security.sast),
        ("Dependencies", "Third-party dependencies.", o_security.DependencyReport, security.dependencies),
        ("ThreatModel", "STRIDE threats, missing controls.", o_security.ThreatModelReport,
         security.threat_model),
        ("SBOM", "Software bill of materials.", o_security.SBOMReport, security.sbom),
    ),
    "story_loop": (
        ("StoryImplementer", "Implement the next story.", o_story_loop.StoryImplementation,
         story_loop.story_implementer),
        ("StoryReviewer", "Review it; done when all are in.", o_story_loop.StoryReview,
         story_loop.story_reviewer),
    ),
    "aesthetic": (
        ("UIReview", "Endpoint naming, error messages.", o_aesthetic.UIReviewReport, aesthetic.ui_review),
        ("Accessibility", "Accessibility checks.", o_aesthetic.AccessibilityReport, aesthetic.accessibility),
    ),
    "qa": (
        ("TestRunner", "Planned suites and test counts.", o_qa.QATestPlan, qa.test_runner),
        ("Coverage", "Coverage targets per module.", o_qa.CoveragePlan, qa.coverage),
        ("Performance", "Budgets per endpoint.", o_qa.PerformanceBudgets, qa.performance),
    ),
    "release": (
        ("ReleaseNotes", "Release notes.", o_release.ReleaseNotes, release.release_notes),
        ("DeploymentPlan", "Deployment and canary plan.", o_release.DeploymentPlan, release.deployment_plan),
        ("Rollback", "Rollback triggers and steps.", o_release.RollbackPlan, release.rollback),
    ),
    "beta": (
        ("BetaPlanner", "Cohorts, duration, success metrics.", o_beta.BetaPlan, beta.beta_planner),
        ("FeedbackSynth", "Feedback channels and synthesis.", o_beta.FeedbackPlan, beta.feedback_synth),
    ),
}
# fmt: on

_DONE_FIELDS: dict[str, str] = {"StoryReviewer": "done"}
_PROGRESS_FIELDS: dict[str, str] = {"StoryImplementer": "implemented_story_ids"}
"""Stories done so far: the story loop's progress, as the slope monitor sees it."""


def _build() -> dict[str, AgentSpec]:
    """AgentSpecs from the table, checking phases and unique names."""
    specs: dict[str, AgentSpec] = {}
    for phase, rows in _TABLE.items():
        if phase not in PHASES:
            raise ValueError(f"agent table lists unknown phase {phase!r}")
        for name, role, model, rule in rows:
            if name in specs:
                raise ValueError(f"agent {name!r} is registered twice")
            specs[name] = AgentSpec(
                name=name,
                phase=phase,
                role=role,
                output_model=model,
                offline_rule=rule,
                done_field=_DONE_FIELDS.get(name),
                progress_field=_PROGRESS_FIELDS.get(name),
            )
    return specs


AGENTS: dict[str, AgentSpec] = _build()
"""Every agent by name, in phase order."""


def get_agent(name: str) -> AgentSpec:
    """The spec of agent `name`; KeyError naming the known agents when it is unknown."""
    try:
        return AGENTS[name]
    except KeyError:
        known = ", ".join(agent_names())
        raise KeyError(f"unknown agent {name!r}; known agents: {known}") from None


def agent_names() -> list[str]:
    """Every registered agent name, sorted."""
    return sorted(AGENTS)


def agents_of_phase(phase: str) -> list[AgentSpec]:
    """The agents of one phase, in their default order; [] for an unknown phase."""
    return [AGENTS[name] for name, *_ in _TABLE.get(phase, ())]
