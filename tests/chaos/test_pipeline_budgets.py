"""RELIABILITY 25 on the pipeline: a phase whose budget is capped stops with a report naming it, or
degrades to a cheaper model of its ladder when that one fits.

Intake runs on `openai:gpt-4.1-mini` against a local fake server that counts the tokens it bills. An
uncapped run gives each call's tokens and cost; a probe run with a tiny cap and the ladder
`[gpt-4.1-mini, gpt-4.1-nano]` is refused before its first call on both models (it degrades, then
stops) and reports the first model's reservation. Then intake's config copy caps `tokens` (or
`cost_usd`) between the first call and the first two. Expected: the run stops at intake, a ledger
`decision` and a `budget.exhausted` event name the budget, usage overshoots the cap by at most one
call, and the ledger's `cost` entries add up exactly to what the server billed. With the same
`cost_usd` cap and the ladder, the calls the expensive model no longer fits move down to the cheaper
one (each step a ledger `degrade_model` decision naming the budget) and the phase completes. A
`wallclock_minutes` cap with slow answers stops the phase at the first heartbeat past the cap: the
overshoot is at most one call in flight plus one heartbeat interval.
"""

from __future__ import annotations

import shutil
import threading
from collections import Counter
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
    config["budgets"].update({k: v for k, v in changes.items() if k not in ("models", "heartbeat")})
    if "models" in changes:
        config["models"] = changes["models"]
    config["heartbeat"].update(changes.get("heartbeat", {}))
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


def _degrades(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    """The ledger's `degrade_model` decisions: a budget too tight for a model, the call moved down."""
    entries = Runtime.of(settings).ledger.entries(run_id)
    return [e.data for e in entries if e.type == "decision" and e.data.get("kind") == "degrade_model"]


CHEAPER = "openai:gpt-4.1-nano"
LADDER = [pc.MODEL, CHEAPER]


def _probe(
    settings: Settings, server: BillingServer, instance: dg.DagsterInstance, budget: str, name: str
) -> tuple[bool, dict[str, Any], list[dict[str, Any]]]:
    """Intake with a tiny cap and the ladder: no model fits, so it degrades once, then stops before any
    request. (success, the stop decision, the degrade decisions; the first carries the first model's
    reservation for the first call)."""
    tiny = 1 if budget == "tokens" else 1e-9
    before = server.count
    probe_settings, probe_id, probe = _run(
        settings, server, instance, name, **{budget: tiny, "models": LADDER}
    )
    stop, _ = _decision(probe_settings, probe_id)
    assert server.count == before, "a refused call was sent"
    return probe.success, stop, _degrades(probe_settings, probe_id)


@pytest.mark.parametrize("budget", ["tokens", "cost_usd"])
def test_a_capped_phase_stops_naming_the_budget(
    settings: Settings, server: BillingServer, instance: dg.DagsterInstance, budget: str
) -> None:
    free_settings, free_id, free = _run(settings, server, instance, "free")
    assert free.success
    calls = [_amount(budget, c) for c in _costs(free_settings, free_id)]
    # a cheaper model after the first, but a cap that no model fits: degrade once, then stop
    probe_ok, probe_stop, probe_degrades = _probe(settings, server, instance, budget, "probe")
    requested = probe_degrades[0]["detail"]["requested"]  # the first call's pre-call reservation
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
        f"probe_strategy={probe_stop['strategy']} ledger_tokens={ledger_tokens} server_billed={billed} "
        f"report={stop['reason'][:100]!r}"
    )
    assert not probe_ok and probe_stop["strategy"] == "stop" and f"`{budget}`" in probe_stop["reason"]
    assert [(d["detail"]["from_model"], d["detail"]["to_model"]) for d in probe_degrades] == [
        (pc.MODEL, CHEAPER)
    ]
    assert probe_stop["evidence"]["ladder_exhausted"] and probe_stop["evidence"]["model"] == CHEAPER
    assert not result.success and stop["strategy"] == "stop" and len(costs) >= 1
    assert RunStore(capped.runs_dir).load_phase(run_id, "intake").status == "error"
    assert f"`{budget}`" in stop["reason"] and events[0]["evidence"]["budget"] == budget
    assert used - cap <= max(calls)
    assert ledger_tokens == billed


def test_a_cost_cap_the_first_model_no_longer_fits_degrades_to_the_cheaper_one_and_completes(
    settings: Settings, server: BillingServer, instance: dg.DagsterInstance
) -> None:
    free_settings, free_id, free = _run(settings, server, instance, "free")
    assert free.success
    calls = [c["cost_usd"] for c in _costs(free_settings, free_id)]
    _, _, probe_degrades = _probe(settings, server, instance, "cost_usd", "probe")
    # the first call on the expensive model fits; after it, that model's reservation no longer does,
    # the cheaper model's (about a quarter of it) still does
    cap = probe_degrades[0]["detail"]["requested"] + calls[0] / 2
    start = server.count

    done, run_id, result = _run(settings, server, instance, "degrade", cost_usd=cap, models=LADDER)
    models = [r.body["model"] for r in server.received[start:]]
    degrades = _degrades(done, run_id)
    entries = Runtime.of(done).ledger.entries(run_id)
    tasks = [e.data for e in entries if e.type == "task" and e.data["status"] == "succeeded"]
    stops = [e.data for e in entries if e.type == "decision" and e.data.get("mode") == "budget_exhausted"]
    events = [
        e.data for e in RunStore(done.runs_dir).event_log(run_id).read() if e.type == "budget.exhausted"
    ]
    used = sum(c["cost_usd"] for c in _costs(done, run_id))
    print(
        f"\nRELIABILITY 25 (cost_usd, degrade): cap={cap:g} used={used:g} one_call_max={max(calls):g} "
        f"requests={dict(Counter(models))} degrades={len(degrades)} "
        f"answered_by={[(t['agent'], t['model']) for t in tasks]} reason={degrades[0]['reason'][:90]!r}"
    )
    assert result.success and RunStore(done.runs_dir).load_phase(run_id, "intake").status == "passed"
    # Classifier on the expensive model; after the first degrade only the cheaper one is asked
    assert models == ["gpt-4.1-mini", "gpt-4.1-nano", "gpt-4.1-nano"]
    assert [(t["agent"], t["model"]) for t in tasks] == [
        ("Classifier", "gpt-4.1-mini"),
        ("Expander", "gpt-4.1-nano"),
        ("Validator", "gpt-4.1-nano"),
    ]
    assert [d["agent"] for d in degrades] == ["Expander", "Validator"] and not stops
    for degrade in degrades:
        detail = degrade["detail"]
        assert (detail["from_model"], detail["to_model"], detail["budget"]) == (pc.MODEL, CHEAPER, "cost_usd")
        assert "budget `cost_usd`" in degrade["reason"] and detail["requested"] > cap - used
    assert [(e["strategy"], e["evidence"]["budget"]) for e in events] == [("degrade_model", "cost_usd")] * 2
    assert used <= cap + max(calls)


@pytest.mark.exclusive  # the cap and the kill grace are wall time
def test_a_wallclock_cap_stops_the_phase_within_one_call_and_one_beat(
    settings: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every answer takes `delay`; the heartbeat checks the phase's wall clock every `interval`
    delay, interval, cap_seconds = 0.6, 0.2, 1.0
    answers = pc.intake_oracle()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-budget-test-0000")
    slow = BillingServer(
        "openai", responder=lambda body: Reply(output=answers[pc.user_text(body)], delay=delay)
    )
    with slow:
        capped, run_id, result = _run(
            settings,
            slow,
            instance,
            "wallclock",
            wallclock_minutes=cap_seconds / 60,
            heartbeat={"interval_seconds": interval},
        )
    stop, events = _decision(capped, run_id)
    used_seconds = stop["evidence"]["used"] * 60
    print(
        f"\nRELIABILITY 25 (wallclock_minutes): cap={cap_seconds}s used={used_seconds:.2f}s "
        f"overshoot={used_seconds - cap_seconds:.2f}s calls={len(slow.received)} call={delay}s "
        f"beat={interval}s strategy={stop['strategy']}"
    )
    assert not result.success and stop["strategy"] == "stop"
    assert "`wallclock_minutes`" in stop["reason"] and events[0]["evidence"]["budget"] == "wallclock_minutes"
    assert RunStore(capped.runs_dir).load_phase(run_id, "intake").status == "error"
    # the kill grace: noticed at the first beat past the cap, at most one call in flight then
    assert cap_seconds <= used_seconds <= cap_seconds + delay + interval + 0.5
    assert len(slow.received) <= cap_seconds / delay + 2
