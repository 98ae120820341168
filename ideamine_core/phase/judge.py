"""The model-as-judge seam: a Protocol the caller backs with a model, prompts, and safe combination.

A judge gets a task name, a rendered prompt and the pydantic model its answer must validate
against, and returns an instance of that model (structured output). IdeaMine never lets a judge
make a gate more lenient: its findings are added to the rule-based ones and its score can only
lower a guard's value, so text in an artifact that talks the judge into "pass" changes nothing.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, Protocol, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ideamine_core.domain.evidence import GateReason, GuardResult
from ideamine_core.domain.phase import GuardSpec
from ideamine_core.errors import IdeaMineError, RetryClass
from ideamine_core.phase.claims import clean_text, excerpt
from ideamine_core.phase.guards.base import count_score

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
MAX_PROMPT_CHARS = 60_000


class Judge(Protocol):
    """Answer `prompt` with an instance of `output` (the lead backs this with the model caller)."""

    def __call__(self, task: str, prompt: str, output: type[M]) -> M:
        """Return the model's structured answer; raise an IdeaMineError when the call fails."""
        ...


class JudgeFinding(BaseModel):
    """One problem the judge found, naming the item."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(description="The offending item, e.g. 'REQ-3' or 'Strategy.vision'.")
    detail: str = Field(description="Why it is a problem.")


class JudgeFindings(BaseModel):
    """A judge's verdict on one guard: a score in [0, 1] and the problems found."""

    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0, le=1, description="1 = no problem at all.")
    findings: list[JudgeFinding] = Field(default_factory=list)


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("ideamine_core", "agents/prompts"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def as_data(text: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """Artifact text made safe to quote in a prompt: clean, bounded, and unable to close its fence."""
    cleaned = clean_text(text).replace("</data>", "</ data>")
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "\n[… truncated]"


def render_prompt(template: str, **values: Any) -> str:
    """Render `agents/prompts/<template>` with `values`."""
    return _env().get_template(template).render(**values)


def ask(judge: Judge, task: str, prompt: str, output: type[M]) -> M | str:
    """Call the judge; a recoverable failure (model error, bad output) comes back as a note string."""
    try:
        answer = judge(task, prompt, output)
        return answer if isinstance(answer, output) else output.model_validate(answer)
    except IdeaMineError as exc:
        if exc.retry_class is RetryClass.FATAL:
            raise
        log.warning("model judge for %s failed: %s", task, exc.message)
        return f"model judge unavailable ({type(exc).__name__}); rules only"
    except ValidationError as exc:
        return f"model judge returned invalid output ({exc.error_count()} error(s)); rules only"


def judge_guard(spec: GuardSpec, result: GuardResult, artifact_text: str, judge: Judge | None) -> GuardResult:
    """Add a model judge's findings to a rule-based guard result, when the YAML asks for it."""
    if not spec.use_model_judge:
        return result
    if judge is None:
        return result.model_copy(
            update={"notes": [*result.notes, "model judge requested but none configured"]}
        )
    prompt = render_prompt(
        "qav_judge_guard.j2",
        guard=spec.type,
        threshold=spec.threshold,
        rule_reasons=[f"{r.item}: {r.detail}" for r in result.reasons],
        artifact=as_data(artifact_text),
    )
    answer = ask(judge, f"guard.{spec.type}", prompt, JudgeFindings)
    if isinstance(answer, str):
        return result.model_copy(update={"notes": [*result.notes, answer]})
    return combine(result, answer)


def combine(result: GuardResult, answer: JudgeFindings) -> GuardResult:
    """The stricter of rules and judge: new findings are added, the value can only get worse."""
    named = {r.item for r in result.reasons}
    extra = [
        GateReason(
            code=result.guard, item=excerpt(f.item, 80), detail=f"model judge: {excerpt(f.detail, 200)}"
        )
        for f in answer.findings
        if excerpt(f.item, 80) not in named
    ]
    if result.mode == "min":
        value = min(result.value, answer.score)
        score, passed = round(value, 4), value >= result.threshold
    else:
        value = result.value + len(extra)
        score, passed = count_score(value, result.threshold), value <= result.threshold
    return result.model_copy(
        update={
            "value": round(value, 4),
            "score": score,
            "passed": passed and result.passed,
            "reasons": [*result.reasons, *extra],
            "judged_by": ["rules", "model"],
        }
    )
