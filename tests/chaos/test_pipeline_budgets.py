"""RELIABILITY 25 on the pipeline: a phase whose budget is capped stops with a report naming it.

Intake runs on `openai:gpt-4.1-mini` against a local fake server that counts the tokens it bills. An
uncapped run gives each call's tokens and cost; then intake's config copy caps `tokens` (or
`cost_usd`) between the first call and the first two (from a probe run refused before its first
call, whose reservation it reports). Expected: the run stops at intake, a ledger `decision` and a
`budget.exhausted` event name the budget, usage overshoots the cap by at most one call, and the ledger's
`cost` entries add up exactly to what the server billed. With a cheaper model after the phase's first
model in its ladder (the probe run), the supervisor's decision is `degrade_model` instead of `stop`.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pipeline_chaos as pc
import pytest
import yaml
from fake_llm import FakeLLMServer, Reply

from ideamine_core.runtime import Runtime
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("allow_local_model_requests"),
]


class BillingServer(FakeLLMServer):
    """The fake server, adding up the tokens of every response it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.billed = 0
        self._billing = threading.Lock()

    def answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        out = super().answer(body, reply)
        with self._billing:
            self.billed += out["usage"]["total_tokens"]
        return out


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[BillingServer]:
    answers = pc.intake_oracle()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-budget-test-0000")
    fake = BillingServer("openai", responder=lambda body: Reply(output=answers[pc.user_text(body)]))
    with fake:
        yield fake


def _run(
    settings: Settings, server: FakeLLMServer, instance: dg.DagsterInstance, name: str, **changes: Any
) -> tuple[Settings, str, Any]:
    """Run intake in a fresh home and config copy `name` (no response cache shared) with intake's
    budgets (and models) changed."""
    config_dir = settings.home.parent / f"configs-{name}"
    shutil.copytree(settings.config_dir, config_dir)
    path = config_dir / "intake.yaml"
    config = yaml.safe_load(path.read_text())
    config["budgets"].update({k: v for k, v in changes.items() if k != "models"})
    if "models" in changes:
        config["models"] = changes["models"]
    path.write_text(yaml.safe_dump(config))
    model = settings.model_copy(
        update={
            "model": pc.MODEL,
            "model_base_url": server.url,
            "config_dir": config_dir,
            "home": settings.home.parent / f"home-{name}",
        }
    )
    return model, *pc.run_in_process(model, instance, ["intake"])


def _costs(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    return [e.data for e in Runtime.of(settings).ledger.entries(run_id) if e.type == "cost"]


def _decision(settings: Settings, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    decisions = [
        e.data
        for e in Runtime.of(settings).ledger.entries(run_id)
        if e.type == "decision" and e.data.get("mode") == "budget_exhausted"
    ]
    log = RunStore(settings.runs_dir).event_log(run_id).read()
    events = [e.data for e in log if e.type == "budget.exhausted"]
    assert decisions and events, "no budget decision recorded"
    return decisions[0], events


def _amount(budget: str, cost: dict[str, Any]) -> float:
    return cost["tokens_in"] + cost["tokens_out"] if budget == "tokens" else cost["cost_usd"]


@pytest.mark.parametrize("budget", ["tokens", "cost_usd"])
def test_a_capped_phase_stops_naming_the_budget(
    settings: Settings, server: BillingServer, instance: dg.DagsterInstance, budget: str
) -> None:
    free_settings, free_id, free = _run(settings, server, instance, "free")
    assert free.success
    calls = [_amount(budget, c) for c in _costs(free_settings, free_id)]
    tiny = 1 if budget == "tokens" else 1e-9
    ladder = [pc.MODEL, "openai:gpt-4.1-nano"]  # a cheaper model after the first: degrade, not stop
    probe_settings, probe_id, probe = _run(
        settings, server, instance, "probe", **{budget: tiny, "models": ladder}
    )
    degrade, _ = _decision(probe_settings, probe_id)
    requested = degrade["evidence"]["requested"]  # the first call's pre-call reservation
    cap = requested + calls[0] / 2
    cap = int(cap) if budget == "tokens" else cap
    billed_before = server.billed

    capped, run_id, result = _run(settings, server, instance, "capped", **{budget: cap})
    stop, events = _decision(capped, run_id)
    costs = _costs(capped, run_id)
    used = sum(_amount(budget, c) for c in costs)
    ledger_tokens = sum(c["tokens_in"] + c["tokens_out"] for c in costs)
    billed = server.billed - billed_before
    print(
        f"\nRELIABILITY 25 ({budget}): cap={cap:g} used={used:g} overshoot={max(0.0, used - cap):g} "
        f"one_call_max={max(calls):g} calls_before_stop={len(costs)} strategy={stop['strategy']} "
        f"probe_strategy={degrade['strategy']} ledger_tokens={ledger_tokens} server_billed={billed} "
        f"report={stop['reason'][:100]!r}"
    )
    assert not probe.success and degrade["strategy"] == "degrade_model"
    assert not result.success and stop["strategy"] == "stop" and len(costs) >= 1
    assert RunStore(capped.runs_dir).load_phase(run_id, "intake").status == "error"
    assert f"`{budget}`" in stop["reason"] and events[0]["evidence"]["budget"] == budget
    assert used - cap <= max(calls)
    assert ledger_tokens == billed
