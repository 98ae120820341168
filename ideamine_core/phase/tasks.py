"""One agent task, durably: lease and heartbeat, budget, model or tool, result, ledger.

Order of durable writes (RELIABILITY decision 4): the task's result file, then its ledger entries
(fenced by the lease's token, idempotent); a checkpoint pointer, where a caller
keeps one, moves only after this returns. The heartbeat stops vouching for a task silent longer than
`heartbeat.max_silence_seconds` (default: the phase timebox), so the supervisor can judge it stalled;
such a task, if it ever returns, is fenced out before its durable writes and retried.
A task re-executed after a crash finds its durable result
(same inputs) and returns it without calling a model or a tool again, so a resumed run never pays
twice and never writes a second task entry.
"""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from ideamine_core.agents.prompting import render_prompt
from ideamine_core.agents.runner import input_hashes, run_agent
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import AgentResult, Provenance, ToolRecord, content_hash
from ideamine_core.domain.phase import HeartbeatSpec, PhaseConfig
from ideamine_core.errors import (
    ContextLengthExceededError,
    IdeaMineError,
    LeaseHeldError,
    StaleFencingTokenError,
    TaskTakenOverError,
)
from ideamine_core.ledger import DecisionPayload, TaskPayload
from ideamine_core.ledger.payloads import CostPayload, cost_payloads
from ideamine_core.phase.chunking import (
    SplitPlan,
    chunk_budget,
    combined_call,
    largest_input,
    merge_context,
    part_context,
    plan_split,
)
from ideamine_core.providers.base import CallRecord, FallbackStep, Provider
from ideamine_core.providers.caller import ModelCaller
from ideamine_core.resilience.checkpoints import StepCheckpointer
from ideamine_core.resilience.crash import crash_point
from ideamine_core.resilience.decisions import Decision, Strategy
from ideamine_core.resilience.heartbeat_thread import HeartbeatThread, worker_id
from ideamine_core.resilience.heartbeats import HeartbeatStore
from ideamine_core.resilience.leases import Lease
from ideamine_core.resilience.unstickers import approx_tokens
from ideamine_core.runtime import Runtime
from ideamine_core.storage.fencing import Fence
from ideamine_core.storage.run_store import atomic_write
from ideamine_core.storage.tables import ModelCallRow
from ideamine_core.tracing import set_figures, span_for_task, span_for_tool
from ideamine_core.workspace.agent_tools import ToolEnv, after_model, is_tool_agent, run_tool_agent
from ideamine_core.workspace.injection import sanitize_value

log = logging.getLogger(__name__)

AgentLookup = Callable[[str], AgentSpec]
Unstick = Callable[..., Decision | None]
"""The supervisor's decision for a task's error: unstick(ctx, exc, max_input_tokens=, evidence=)."""
TOOL_VERSION = "ideamine-tools/1"
CALL_KEY, TOOL_KEY = "_call", "_tool"
"""Keys of the call and tool records in a durable result file (beside the result's own fields)."""


def task_id_of(ctx: AgentContext) -> str:
    """The task's id: run, phase, agent and iteration (an auto-fix re-run is a new iteration)."""
    return f"{ctx.run_id}/{ctx.phase}/{ctx.agent}/{ctx.iteration}"


class TaskRunner:
    """Runs agent tasks of one process against a Runtime."""

    def __init__(
        self, runtime: Runtime, offline: Provider, agents: AgentLookup, *, unstick: Unstick | None = None
    ) -> None:
        self.runtime = runtime
        self.offline = offline
        self.agents = agents
        self.unstick = unstick  # asked for the strategy when a context is too long (without: the task fails)

    def run(self, ctx: AgentContext, config: PhaseConfig) -> AgentResult:
        """Run (or recover) one task and return its result; model and tool errors are raised typed."""
        spec = self.agents(ctx.agent)
        inputs = input_hashes(ctx)
        stored = self._stored(ctx, inputs)
        if stored is not None:
            self._record_task(ctx, stored, fence=None)
            return stored
        meter = self.runtime.meter(ctx.run_id, config)
        with span_for_task(ctx.run_id, ctx.phase, ctx.agent, iteration=ctx.iteration) as span:
            with self._leased(ctx, config, meter.check_wallclock) as beat:
                crash_point("task.started_logged")
                try:
                    result, split = self._execute(spec, ctx, config, meter, beat)
                    beat.set_progress(1.0)  # the call returned: the beats left carry it (task progress 0..1)
                    beat.raise_if_stopped()
                    beat.confirm()  # still ours: a task declared stalled meanwhile writes nothing
                except StaleFencingTokenError as exc:
                    raise TaskTakenOverError(task_id_of(ctx)) from exc
                except IdeaMineError as exc:
                    self._record_failure(ctx, exc, beat.lease)
                    raise
                self._save(ctx, result)
                crash_point("artifact.written")
                self._record_task(ctx, result, fence=beat.lease.fence)
                crash_point("ledger.task_completed")
                if split:  # the result is durable: the parts' checkpoint is done with
                    self.runtime.checkpoints.delete(beat.lease.fence)
            call = result.call
            set_figures(
                span,
                tokens_in=call.tokens_in if call else 0,
                tokens_out=call.tokens_out if call else 0,
                cost_usd=(call.cost_usd or 0.0) if call else 0.0,
            )
        return result

    # --- execution --------------------------------------------------------------------------------

    def _execute(
        self, spec: AgentSpec, ctx: AgentContext, config: PhaseConfig, meter: object, beat: HeartbeatThread
    ) -> tuple[AgentResult, bool]:
        """The task's result, and whether its input was split (it then has a checkpoint to drop)."""
        env = self._env(ctx)
        if is_tool_agent(spec.name):
            meter.before_tool()  # type: ignore[attr-defined]  # a spent tools_minutes budget starts no tool
            with span_for_tool(ctx.run_id, ctx.phase, spec.name, agent=spec.name):
                done = run_tool_agent(spec, ctx, env)
            output = done.output.model_dump(mode="json")
            provenance = Provenance(
                agent=spec.name,
                phase=ctx.phase,
                provider="tool",
                model=done.record.tool,
                generator_version=TOOL_VERSION,
                inputs=input_hashes(ctx),
                output_hash=content_hash(output),
            )
            result = AgentResult(
                agent=spec.name,
                phase=ctx.phase,
                output=output,
                provenance=provenance,
                iteration=ctx.iteration,
            )
            self._charge_tool(meter, ctx, done.record)
            return result.model_copy(update={"tool": done.record}), False
        ref = next((a for a in config.agents if a.name == ctx.agent), None)
        caller = self.runtime.caller(self.offline, meter)  # type: ignore[arg-type]
        models, template = config.models_for(ctx.agent), ref.prompt if ref else None
        plan, failed = self._resumed_split(ctx, beat), None
        if plan is None:
            try:
                result = run_agent(spec, ctx, caller, models=models, template=template)
            except ContextLengthExceededError as exc:
                plan = self._plan_split(spec, ctx, caller, template, exc, beat)
                if plan is None:
                    raise
                failed = getattr(exc, "call_record", None)
        if plan is not None:
            result = self._run_split(spec, ctx, caller, models, template, plan, beat, failed)
        with span_for_tool(ctx.run_id, ctx.phase, "workspace", agent=spec.name):
            record = after_model(spec, ctx, result.output, env)
        if record is not None:
            self._charge_tool(meter, ctx, record)
            self._record_rejections(ctx, record)
        return self._visible(ctx, result).model_copy(update={"tool": record}), plan is not None

    # --- a context too long: split the largest input (map-reduce), checkpointed per part ----------

    def _resumed_split(self, ctx: AgentContext, beat: HeartbeatThread) -> SplitPlan | None:
        """The split an earlier execution of this very task (same inputs) started, from its checkpoint:
        it goes on with the parts without sending the whole prompt again."""
        if beat.lease.token <= 1:  # the task's first execution: no earlier one left a checkpoint to read
            return None
        saved = self.runtime.checkpoints.load(beat.lease.task_id)
        if saved is None or "split" not in saved.data:
            return None
        plan = SplitPlan.model_validate(saved.data["split"])
        return plan if plan.inputs == content_hash(input_hashes(ctx)) else None

    def _plan_split(
        self,
        spec: AgentSpec,
        ctx: AgentContext,
        caller: ModelCaller,
        template: str | None,
        exc: ContextLengthExceededError,
        beat: HeartbeatThread,
    ) -> SplitPlan | None:
        """Plan the split of the task's largest input and ask the supervisor; None when the input cannot
        be split (one item, no room) or the supervisor chose another strategy. The split is a ledger
        `decision` of kind `split_input` (the supervisor's own decision comes with its `task.retry`)."""
        if self.unstick is None:
            return None
        name, size = largest_input(ctx)
        prompt = render_prompt(spec, ctx, template, caller.config.prompt_dirs)
        prompt_size = approx_tokens(prompt.instructions + prompt.user)
        budget = chunk_budget(size, prompt_size, exc.limit_tokens, exc.prompt_tokens)
        plan = plan_split(ctx, name, budget)
        if plan is None:
            return None
        evidence = {"input": name, "input_tokens": size, "chunks": plan.count, "sizes": plan.sizes}
        decision = self.unstick(ctx, exc, max_input_tokens=budget, evidence=evidence)
        if decision is None or decision.strategy is not Strategy.SPLIT_INPUT:
            return None
        if decision.plan.get("max_tokens", budget) != budget:  # the supervisor chose another part size
            plan = plan_split(ctx, name, int(decision.plan["max_tokens"]))
            if plan is None:
                return None
        detail = {
            "input": name,
            "input_tokens": size,
            "max_tokens": plan.max_tokens,
            "chunks": plan.count,
            "sizes": plan.sizes,
            "limit_tokens": exc.limit_tokens,
            "prompt_tokens": exc.prompt_tokens,
            "model": f"{exc.provider}:{exc.model}",
            "decision_id": decision.decision_id,
            "iteration": ctx.iteration,
        }
        payload = DecisionPayload(
            kind="split_input",
            reason=f"the prompt exceeds the context window of {exc.provider}:{exc.model}; {name} "
            f"({size} tokens) split into {plan.count} parts of at most {plan.max_tokens} tokens",
            phase=ctx.phase,
            agent=ctx.agent,
            detail=detail,
        )
        key = f"split:{task_id_of(ctx)}:{plan.inputs[7:23]}:{plan.max_tokens}"
        self.runtime.ledger.record(
            ctx.run_id, payload, key=key, task_id=task_id_of(ctx), fence=beat.lease.fence
        )
        return plan

    def _run_split(
        self,
        spec: AgentSpec,
        ctx: AgentContext,
        caller: ModelCaller,
        models: list[str],
        template: str | None,
        plan: SplitPlan,
        beat: HeartbeatThread,
        failed: CallRecord | None,
    ) -> AgentResult:
        """One call per part, each part's output checkpointed (a restart goes on after the last one
        done), then the merge call; the result has the task's own inputs and every request's cost."""
        checkpointer = StepCheckpointer(self.runtime.checkpoints, beat.lease.fence, run_id=ctx.run_id)
        key = plan.model_dump(mode="json")
        start = checkpointer.resume()
        same = start.state.get("split") == key
        parts: list[dict[str, Any]] = list(start.state.get("parts", [])) if same else []
        if not same:
            if start.checkpoint is not None:  # another plan's checkpoint: start this one afresh
                checkpointer.finish()
            checkpointer.advance(-1, {"split": key, "parts": []}, token="split-planned")
        for index in range(len(parts), plan.count):
            beat.raise_if_stopped()
            done = run_agent(spec, part_context(ctx, plan, index), caller, models=models, template=template)
            call = done.call.model_dump(mode="json") if done.call else None
            parts.append({"output": done.output, "call": call})
            token = f"part-{index + 1}-of-{plan.count}"
            checkpointer.advance(index, {"split": key, "parts": parts}, token=token)
            beat.touch((index + 1) / (plan.count + 1))
        merge = merge_context(ctx, plan, [p["output"] for p in parts])
        merged = run_agent(spec, merge, caller, models=models, template=template)
        calls = [failed] if failed else []
        calls += [CallRecord.model_validate(p["call"]) for p in parts if p["call"]]
        provenance = merged.provenance.model_copy(update={"inputs": input_hashes(ctx)})
        call = combined_call(calls, merged.call) if merged.call else None
        return merged.model_copy(update={"provenance": provenance, "call": call})

    def _visible(self, ctx: AgentContext, result: AgentResult) -> AgentResult:
        """The result with invisible characters stripped from its output before it is stored (RELIABILITY
        22); the stripping, and any payload that was hidden in tag characters, is a ledger decision."""
        output, removed, signals = sanitize_value(result.output)
        if not removed:
            return result
        self.runtime.ledger.record(
            ctx.run_id,
            DecisionPayload(
                kind="injection_signal",
                reason=f"{removed} invisible character(s) removed from the output of {ctx.agent}",
                phase=ctx.phase,
                agent=ctx.agent,
                detail={
                    "iteration": ctx.iteration,
                    "hidden": [f"{s.kind}: {s.excerpt}" for s in signals][:10],
                },
            ),
        )
        provenance = result.provenance.model_copy(update={"output_hash": content_hash(output)})
        return result.model_copy(update={"output": output, "provenance": provenance})

    def _env(self, ctx: AgentContext) -> ToolEnv:
        run = self.runtime.store.load_run(ctx.run_id)
        return ToolEnv(self.runtime.store.run_dir(ctx.run_id), run.created_at)

    @staticmethod
    def _charge_tool(meter: object, ctx: AgentContext, record: ToolRecord) -> None:
        if record.seconds > 0:
            meter.record_tool(f"{task_id_of(ctx)}:{record.tool}", record.seconds)  # type: ignore[attr-defined]

    # --- leases -----------------------------------------------------------------------------------

    @contextmanager
    def _leased(
        self, ctx: AgentContext, config: PhaseConfig, check: Callable[[], None]
    ) -> Iterator[HeartbeatThread]:
        lease = self._acquire(ctx, config)
        silence = config.max_silence_seconds()
        with HeartbeatThread(self.runtime.heartbeats, lease, checks=[check], max_silence=silence) as beat:
            yield beat

    def _acquire(self, ctx: AgentContext, config: PhaseConfig) -> Lease:
        """Take the task's lease (see `acquire_lease`)."""
        return acquire_lease(
            self.runtime.heartbeats,
            task_id_of(ctx),
            run_id=ctx.run_id,
            phase=ctx.phase,
            agent=ctx.agent,
            heartbeat=config.heartbeat,
        )

    # --- durable records --------------------------------------------------------------------------

    def _result_path(self, ctx: AgentContext) -> Path:
        return (
            self.runtime.store.run_dir(ctx.run_id) / "tasks" / ctx.phase / f"{ctx.agent}.{ctx.iteration}.json"
        )

    def _stored(self, ctx: AgentContext, inputs: dict[str, str]) -> AgentResult | None:
        """The durable result of this very task (same inputs), if an earlier execution made it."""
        path = self._result_path(ctx)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            call, tool = data.pop(CALL_KEY, None), data.pop(TOOL_KEY, None)
            result = AgentResult.model_validate(data)
            result = result.model_copy(
                update={
                    "call": CallRecord.model_validate(call) if call else None,
                    "tool": ToolRecord.model_validate(tool) if tool else None,
                }
            )
        except ValueError:
            return None
        return result if result.provenance.inputs == inputs else None

    def _save(self, ctx: AgentContext, result: AgentResult) -> None:
        """The result with its call and tool records (kept out of artifacts), so a recovered task
        records the same ledger cost and task entries as the execution that died before writing them."""
        data = result.model_dump(mode="json")
        for key, record in ((CALL_KEY, result.call), (TOOL_KEY, result.tool)):
            if record is not None:
                data[key] = record.model_dump(mode="json")
        atomic_write(self._result_path(ctx), json.dumps(data))

    def _record_task(self, ctx: AgentContext, result: AgentResult, *, fence: Fence | None) -> None:
        """Ledger cost and task entries of one result (idempotent); provenance is recorded per phase."""
        ledger, run_id = self.runtime.ledger, ctx.run_id
        existing = ledger.get(run_id, _task_key(ctx, result))
        if existing is None:
            for payload in self._cost_payloads(ctx, result.call) if result.call else []:
                ledger.record(run_id, payload, task_id=task_id_of(ctx), fence=fence)
            if result.call is not None:
                self._record_fallbacks(ctx, result.call, _task_key(ctx, result), fence)
            ledger.record(
                run_id,
                _task_payload(ctx, result),
                key=_task_key(ctx, result),
                task_id=task_id_of(ctx),
                fence=fence,
            )

    def _cost_payloads(self, ctx: AgentContext, call: CallRecord) -> list[CostPayload]:
        """Cost entries of the requests sent upstream, and of cache hits this very run paid for in an
        execution killed after caching the response but before its ledger entry (same key: written once)."""
        hits = [r.request_hash for r in call.requests if r.cached]
        if hits:
            table = ModelCallRow.__table__
            query = sa.select(table.c.request_hash).where(
                table.c.request_hash.in_(hits), table.c.run_id == ctx.run_id, table.c.agent == ctx.agent
            )
            made = self.runtime.db.read_with_retry(lambda conn: conn.execute(query).scalars().all())
            paid = {h for h in made if self.runtime.ledger.get(ctx.run_id, f"cost:{h}") is None}
            requests = [
                r.model_copy(update={"cached": False}) if r.request_hash in paid else r for r in call.requests
            ]
            call = call.model_copy(update={"requests": requests})
        return cost_payloads(call)

    def _record_failure(self, ctx: AgentContext, exc: IdeaMineError, lease: Lease) -> None:
        call = getattr(exc, "call_record", None)
        payload = (
            TaskPayload.from_call(call, attempt=lease.token)
            if call is not None
            else TaskPayload(
                phase=ctx.phase,
                agent=ctx.agent,
                status="failed",
                iteration=ctx.iteration,
                attempt=lease.token,
            )
        ).model_copy(update={"status": "failed", "error": f"{type(exc).__name__}: {exc.message}"[:500]})
        try:
            if call is not None:  # what the failed call paid for, and the ladder steps it took
                for cost in self._cost_payloads(ctx, call):
                    self.runtime.ledger.record(ctx.run_id, cost, task_id=task_id_of(ctx), fence=lease.fence)
                self._record_fallbacks(ctx, call, f"{task_id_of(ctx)}:{lease.token}", lease.fence)
            self.runtime.ledger.record(ctx.run_id, payload, task_id=task_id_of(ctx), fence=lease.fence)
        except IdeaMineError as write_error:  # fenced out: the task's new holder records it
            log.warning("task %s: failure not recorded: %s", task_id_of(ctx), write_error.explain())

    def _record_fallbacks(self, ctx: AgentContext, call: CallRecord, key: str, fence: Fence | None) -> None:
        """One ledger `decision` per ladder step the call took (idempotent by `key`): of kind `fallback`
        for a failing model, `degrade_model` (with a `budget.exhausted` event) for a budget refusal."""
        models = [step.model for step in call.fallback_steps] + [call.model_id]
        for index, step in enumerate(call.fallback_steps):
            if step.budget is not None:
                self._record_degrade(ctx, step, models[index + 1], f"degrade:{key}:{index}", fence)
                continue
            payload = DecisionPayload(
                kind="fallback",
                reason=f"{step.model} failed ({step.retry_class.value}): {step.error}"[:500],
                phase=ctx.phase,
                agent=ctx.agent,
                detail={
                    "model": step.model,
                    "retry_class": step.retry_class.value,
                    "next": models[index + 1],
                    "iteration": ctx.iteration,
                },
            )
            self.runtime.ledger.record(
                ctx.run_id, payload, key=f"fallback:{key}:{index}", task_id=task_id_of(ctx), fence=fence
            )

    def _record_degrade(
        self, ctx: AgentContext, step: FallbackStep, to_model: str, key: str, fence: Fence | None
    ) -> None:
        """A budget refused `step.model`'s call before it was made, so the call moved down to `to_model`:
        a ledger `decision` naming the budget and a `budget.exhausted` event (strategy degrade_model)."""
        reason = f"budget `{step.budget}` too tight for {step.model}; degraded to {to_model} ({step.error})"
        plan = {"from_model": step.model, "to_model": to_model, "budget": step.budget}
        detail = plan | {"requested": step.requested, "iteration": ctx.iteration}
        payload = DecisionPayload(
            kind="degrade_model", reason=reason[:500], phase=ctx.phase, agent=ctx.agent, detail=detail
        )
        self.runtime.ledger.record(ctx.run_id, payload, key=key, task_id=task_id_of(ctx), fence=fence)
        evidence = {"budget": step.budget, "requested": step.requested, "model": step.model}
        self.runtime.emit(
            "budget.exhausted",
            ctx.run_id,
            ctx.phase,
            task_id=task_id_of(ctx),
            agent=ctx.agent,
            reason=reason[:500],
            strategy="degrade_model",
            evidence=evidence,
            plan=plan,
        )

    def _record_rejections(self, ctx: AgentContext, record: ToolRecord) -> None:
        for item in [*record.rejected, *({"path": s, "rule": "injection_signal"} for s in record.signals)]:
            kind = "blocked_action" if item.get("rule") != "injection_signal" else "injection_signal"
            self.runtime.ledger.record(
                ctx.run_id,
                DecisionPayload(
                    kind=kind,
                    reason=item.get("message") or f"{item['path']} ({item['rule']})",
                    phase=ctx.phase,
                    agent=ctx.agent,
                    detail={"path": item["path"], "rule": item["rule"], "iteration": ctx.iteration},
                ),
            )


def _task_key(ctx: AgentContext, result: AgentResult) -> str:
    """One succeeded task entry per task and output, however often it is recovered."""
    return f"task:{ctx.phase}:{ctx.agent}:{ctx.iteration}:{result.provenance.output_hash[7:23]}"


def _task_payload(ctx: AgentContext, result: AgentResult) -> TaskPayload:
    tool = result.tool.seconds if result.tool else 0.0
    if result.call is not None:
        payload = TaskPayload.from_call(
            result.call, tool_seconds=tool, output_hash=result.provenance.output_hash
        )
        return payload.model_copy(update={"status": "succeeded", "error": None})
    return TaskPayload(
        phase=ctx.phase,
        agent=ctx.agent,
        status="succeeded",
        iteration=ctx.iteration,
        provider=result.provenance.provider,
        model=result.provenance.model,
        tool_seconds=tool,
        output_hash=result.provenance.output_hash,
    )


def acquire_lease(
    store: HeartbeatStore, task_id: str, *, run_id: str, phase: str, agent: str, heartbeat: HeartbeatSpec
) -> Lease:
    """Take a task's lease (ttl = interval × stall threshold); take it over from a worker of this host
    that is gone (killed run); wait for another live holder's lease to end (LeaseHeldError after
    ttl + one interval)."""
    hb = heartbeat
    ttl = hb.interval_seconds * hb.stall_threshold
    me = worker_id()
    deadline = time.monotonic() + ttl + hb.interval_seconds
    while True:
        try:
            return store.acquire(
                task_id, me, ttl, run_id=run_id, phase=phase, agent=agent, interval=hb.interval_seconds
            )
        except LeaseHeldError as exc:
            if _owner_is_gone(exc.owner):
                log.info("taking over task %s from %s, whose process is gone", task_id, exc.owner)
                return store.take_over(task_id, me, ttl, interval=hb.interval_seconds)
            if time.monotonic() > deadline:
                raise
            time.sleep(min(1.0, hb.interval_seconds))


def _owner_is_gone(owner: str) -> bool:
    """True when a lease owner (host:pid:thread) is a process of this host that no longer runs."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not psutil.pid_exists(int(parts[1]))
