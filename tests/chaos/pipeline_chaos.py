"""Crash-point matrix on the real pipeline (RELIABILITY test 1), shared by tests/chaos and bench/chaos.py.

A scenario runs `ideamine run IDEA --phases …` as its own process with ``IDEAMINE_CRASH_AT=<point>:
SIGKILL:after=N``, checks that the process died by SIGKILL, then runs `ideamine resume RUN` in a new
process and `ideamine ledger verify RUN`. The model is a local fake OpenAI server (one per scenario,
counting requests) answering each prompt with what the offline rules give for it, so gates pass; the
story loop's `checkpoint.saved` point runs on the `offline` model. Figures compare the resumed run
with an uninterrupted reference run of the same phases: model requests repeated (completed calls, and
the in-flight one a kill after `llm.request_sent` leaves unpaid for), ledger entries lost and
duplicated (by idempotency key with the run id masked), artifact hashes equal.

Processes: with a :class:`Zygote`, each CLI process is forked from a warm process that has already
imported IdeaMine and Dagster (a real, separate process killed by a real SIGKILL; it saves ~4 s of
imports per process, for CI); without one, each is ``python -m ideamine_dagster.cli`` (as a user
runs it, for bench/).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from fake_llm import FakeLLMServer, Reply, user_text  # noqa: E402

IDEA = "Build a collaborative todo app with real-time sync"
MODEL = "openai:gpt-4.1-mini"
INTAKE = ["intake"]
TO_PRD = ["intake", "ideation", "critique", "prd"]
TO_STORY_LOOP = ["intake", "ideation", "critique", "prd", "architecture", "build", "story_loop"]
PRELOAD = ["ideamine_dagster.cli.app", "ideamine_dagster.launcher", "ideamine_dagster.definitions"]
CLI_TIMEOUT = 240.0


# --- processes ---------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A finished CLI process: exit status (negative: killed by that signal), output and duration."""

    returncode: int
    output: str
    seconds: float


def _cli_child(args: list[str], env: dict[str, str], out: str) -> None:
    """In a forked child: become `ideamine ARGS` with exactly `env`, output to `out`; never returns."""
    os.environ.clear()
    os.environ.update(env)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1
    try:
        from ideamine_dagster.cli.app import app

        app(args, prog_name="ideamine")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def zygote() -> None:
    """`python pipeline_chaos.py zygote`: import IdeaMine and Dagster once, then fork one child per
    request line (JSON: id, args, env, out) and answer `{"id", "status"}` when it ends (single thread:
    children are forked from a process that holds no lock)."""
    for module in PRELOAD:
        __import__(module)
    children: dict[int, str] = {}
    stdin = sys.stdin.fileno()
    while True:
        ready, _, _ = select.select([stdin], [], [], 0.02)
        if ready:
            line = sys.stdin.readline()
            if not line:
                break
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                _cli_child(request["args"], request["env"], request["out"])
            children[pid] = request["id"]
        while children and (done := os.waitpid(-1, os.WNOHANG))[0]:
            ident = children.pop(done[0])
            print(json.dumps({"id": ident, "status": os.waitstatus_to_exitcode(done[1])}), flush=True)
    for pid in children:
        os.kill(pid, signal.SIGKILL)


class Zygote:
    """A warm process that forks CLI processes on request (see :func:`zygote`); thread-safe."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE), "zygote"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._lock = threading.Lock()
        self._waiting: dict[str, Future[int]] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            answer = json.loads(line)
            with self._lock:
                future = self._waiting.pop(answer["id"])
            future.set_result(int(answer["status"]))

    def run(self, args: list[str], env: dict[str, str], out: Path, timeout: float = CLI_TIMEOUT) -> int:
        """Fork `ideamine ARGS` and wait for its exit status (negative: killed by that signal)."""
        ident, future = uuid.uuid4().hex, Future()
        with self._lock:
            self._waiting[ident] = future
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"id": ident, "args": args, "env": env, "out": str(out)}) + "\n")
            self.proc.stdin.flush()
        return future.result(timeout)

    def close(self) -> None:
        """Stop the zygote (it kills children still running)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without IdeaMine, Dagster and provider settings, on `home`."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IDEAMINE_", "DAGSTER_", "OPENAI_", "ANTHROPIC_", "DATABASE_URL", "REDIS_URL"))
    }
    return keep | {"IDEAMINE_HOME": str(home), "COLUMNS": "200", "NO_COLOR": "1"} | extra


def cli(args: list[str], env: dict[str, str], zygote: Zygote | None = None) -> Proc:
    """Run `ideamine ARGS` in a new process with `env` (forked from `zygote`, else a fresh interpreter)."""
    started = time.perf_counter()
    out = Path(env["IDEAMINE_HOME"]).parent / f"cli-{time.time_ns()}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    if zygote is not None:
        code = zygote.run(args, env, out)
    else:
        cmd = [sys.executable, "-m", "ideamine_dagster.cli", *args]
        with out.open("w") as fh:
            code = subprocess.run(
                cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=CLI_TIMEOUT, check=False
            ).returncode
    return Proc(code, out.read_text(errors="replace"), time.perf_counter() - started)


# --- the model ---------------------------------------------------------------------------------------


def intake_oracle() -> dict[str, dict[str, Any]]:
    """Prompt → output of intake's sequential agents, straight from the offline rules (no run needed)."""
    from ideamine_core.agents.prompting import render_prompt
    from ideamine_core.agents.registry import agents_of_phase
    from ideamine_core.domain.agent import AgentContext
    from ideamine_core.domain.idea import IdeaSubmission

    answers: dict[str, dict[str, Any]] = {}
    previous: dict[str, dict[str, Any]] = {}
    idea = IdeaSubmission(idea=IDEA)
    for spec in agents_of_phase("intake"):
        ctx = AgentContext(run_id="x", phase="intake", agent=spec.name, submission=idea, previous=previous)
        output = spec.offline_rule(ctx).model_dump(mode="json")
        answers[render_prompt(spec, ctx).user] = output
        previous = previous | {spec.name: output}
    return answers


def oracle(phases: list[str], root: Path) -> dict[str, dict[str, Any]]:
    """Prompt → output for every agent call of an offline in-process run of `phases`."""
    if phases == INTAKE:
        return intake_oracle()
    import dagster as dg

    from ideamine_core.agents.prompting import render_prompt
    from ideamine_core.providers.offline import OfflineProvider
    from ideamine_core.settings import Settings
    from ideamine_dagster.resources import IdeaMineResource

    answers: dict[str, dict[str, Any]] = {}

    class Oracle(OfflineProvider):
        def generate(self, spec: Any, ctx: Any) -> dict[str, Any]:
            output = super().generate(spec, ctx)
            answers[render_prompt(spec, ctx).user] = output
            return output

    class OracleResource(IdeaMineResource):
        def provider(self) -> OfflineProvider:
            return Oracle()

    shutil.copytree(REPO / "phase_configs", root / "configs", dirs_exist_ok=True)
    settings = Settings(home=root / "home", config_dir=root / "configs")
    resource = OracleResource(home=str(settings.home), config_dir=str(settings.config_dir))
    with dg.instance_for_test() as instance:
        _, result = run_in_process(settings, instance, phases, {"ideamine": resource})
    assert result.success, "the offline oracle run failed"
    return answers


def run_in_process(settings: Any, instance: Any, phases: list[str], resources: dict | None = None) -> Any:
    """Create a run of IDEA and execute `phases` in process (as the CLI would)."""
    from pipeline_helpers import run_phases

    from ideamine_core.domain.idea import IdeaSubmission

    return run_phases(settings, instance, IdeaSubmission(idea=IDEA), phases, resources=resources)


def fake_server(answers: dict[str, dict[str, Any]]) -> FakeLLMServer:
    """A started fake OpenAI server answering known prompts from `answers` (others: HTTP 400)."""

    def answer(body: dict[str, Any]) -> Reply:
        output = answers.get(user_text(body))
        return Reply(output=output) if output is not None else Reply(status=400)

    return FakeLLMServer("openai", responder=answer).start()


def model_env(home: Path, server: FakeLLMServer | None, **extra: str) -> dict[str, str]:
    """CLI environment on `home`: the fake server's model, or `offline` without a server."""
    if server is None:
        return clean_env(home, IDEAMINE_MODEL="offline", **extra)
    return clean_env(
        home,
        IDEAMINE_MODEL=MODEL,
        IDEAMINE_MODEL_BASE_URL=server.url,
        OPENAI_API_KEY="sk-chaos-test-0000",
        IDEAMINE_ALLOW_MODEL_REQUESTS="local",
        **extra,
    )


# --- one scenario ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a finished run left: request bodies, ledger keys, artifact hashes, ledger verified."""

    run_id: str
    requests: list[str] = field(default_factory=list)
    ledger: Counter[str] = field(default_factory=Counter)
    hashes: dict[str, str] = field(default_factory=dict)
    verified: bool = False


def _single_run_id(home: Path) -> str:
    (run_dir,) = [p for p in (home / "runs").iterdir() if (p / "run.json").exists()]
    return run_dir.name


def collect(home: Path, phases: list[str], bodies: list[str], verify: Proc | None = None) -> Outcome:
    """Read a home's only run: ledger keys (run id masked), artifact hashes, verify status."""
    from ideamine_core.ledger import Ledger
    from ideamine_core.storage.database import Database
    from ideamine_core.storage.run_store import RunStore

    run_id = _single_run_id(home)
    db = Database(f"sqlite:///{home / 'ideamine.db'}")
    try:
        keys = Counter(
            e.idempotency_key.replace(run_id, "RUN")
            for e in Ledger(db).entries(run_id)
            if e.type != "signature"  # keyed by head position: a resumed run signs other heads
        )
    finally:
        db.dispose()
    store = RunStore(home / "runs")
    hashes = {p: store.load_artifact(run_id, p).hash() for p in phases if store.has_artifact(run_id, p)}
    ok = verify is not None and verify.returncode == 0
    return Outcome(run_id, bodies, keys, hashes, ok)


def _bodies(server: FakeLLMServer | None, start: int = 0) -> list[str]:
    if server is None:
        return []
    return [json.dumps(r.body, sort_keys=True) for r in server.received[start:]]


def reference(root: Path, phases: list[str], answers: dict | None, zygote: Zygote | None = None) -> Outcome:
    """An uninterrupted `ideamine run` of `phases` (fake server if `answers`, else offline)."""
    home = root / "home"
    server = fake_server(answers) if answers is not None else None
    try:
        env = model_env(home, server)
        done = cli(["run", IDEA, "--phases", ",".join(phases)], env, zygote)
        assert done.returncode == 0, done.output[-3000:]
        run_id = _single_run_id(home)
        verify = cli(["ledger", "verify", run_id], env, zygote)
        return collect(home, phases, _bodies(server), verify)
    finally:
        if server is not None:
            server.stop()


@dataclass
class Crashed:
    """A run killed at a crash point and resumed: what the processes did and what the run left."""

    point: str
    after: int
    run: Proc
    resume: Proc | None = None
    outcome: Outcome | None = None
    before: list[str] = field(default_factory=list)
    after_kill: list[str] = field(default_factory=list)


def crash_and_resume(
    root: Path,
    point: str,
    phases: list[str],
    answers: dict | None,
    *,
    after: int = 1,
    zygote: Zygote | None = None,
) -> Crashed:
    """SIGKILL `ideamine run` at the `after`-th hit of `point`, then resume it in a new process."""
    home = root / "home"
    server = fake_server(answers) if answers is not None else None
    try:
        crash_env = model_env(home, server, IDEAMINE_CRASH_AT=f"{point}:SIGKILL:after={after}")
        crashed = Crashed(point, after, cli(["run", IDEA, "--phases", ",".join(phases)], crash_env, zygote))
        crashed.before = _bodies(server)
        if crashed.run.returncode != -signal.SIGKILL:
            return crashed
        env, run_id = model_env(home, server), _single_run_id(home)
        crashed.resume = cli(["resume", run_id], env, zygote)
        verify = cli(["ledger", "verify", run_id], env, zygote)
        crashed.after_kill = _bodies(server, len(crashed.before))
        crashed.outcome = collect(home, phases, crashed.before + crashed.after_kill, verify)
        return crashed
    finally:
        if server is not None:
            server.stop()


def figures(crashed: Crashed, ref: Outcome) -> dict[str, Any]:
    """The scenario's figures against the uninterrupted reference run."""
    run, resume = crashed.run, crashed.resume
    base: dict[str, Any] = {
        "point": crashed.point,
        "after": crashed.after,
        "killed": run.returncode == -signal.SIGKILL,
        "completed": resume is not None and resume.returncode == 0,
    }
    if resume is None or crashed.outcome is None:
        return base | {"detail": f"the run was not killed (exit {run.returncode}): {run.output[-2000:]}"}
    detail = "" if resume.returncode == 0 else resume.output[-3000:]
    compared = _compare(crashed.point, ref, crashed.outcome, crashed.before, crashed.after_kill)
    return base | compared | {"resume_s": round(resume.seconds, 2), "detail": detail}


def _compare(point: str, ref: Outcome, got: Outcome, before: list[str], after: list[str]) -> dict[str, Any]:
    repeated = [body for body in after if body in set(before)]
    in_flight = int(point == "llm.request_sent" and bool(before) and before[-1] in after)
    return {
        "requests": len(got.requests),
        "reference_requests": len(ref.requests),
        "completed_calls_repeated": len(repeated) - in_flight,
        "in_flight_repeated": in_flight,
        "ledger_lost": sum((ref.ledger - got.ledger).values()),
        "ledger_duplicated": sum((got.ledger - ref.ledger).values()),
        "extra_entries": sorted((got.ledger - ref.ledger).keys())[:5],
        "lost_entries": sorted((ref.ledger - got.ledger).keys())[:5],
        "ledger_verified": got.verified,
        "hashes_equal": got.hashes == ref.hashes and len(got.hashes) == len(ref.hashes),
    }


def summary(figures: dict[str, Any]) -> str:
    """One line of figures."""
    keys = (
        "point", "after", "killed", "completed", "requests", "reference_requests",
        "completed_calls_repeated", "in_flight_repeated", "ledger_lost", "ledger_duplicated",
        "ledger_verified", "hashes_equal", "resume_s",
    )  # fmt: skip
    return " ".join(f"{k}={figures.get(k)}" for k in keys)


# --- a blocked agent on the pipeline (RELIABILITY 8) -------------------------------------------------

STALL_INTERVAL, STALL_THRESHOLD, STALL_SILENCE, STALL_BLOCK = 0.2, 3, 0.4, 4.0


def stall_scenario(root: Path) -> dict[str, Any]:
    """Intake with Expander's first offline call blocked for STALL_BLOCK s, in process, while the
    supervisor sensor ticks (0.1 s apart); figures on detection, decisions, retry and the run."""
    import dagster as dg
    import yaml

    from ideamine_core.providers.offline import OfflineProvider
    from ideamine_core.runtime import Runtime
    from ideamine_core.settings import Settings
    from ideamine_core.storage.run_store import RunStore
    from ideamine_dagster.definitions import build_definitions
    from ideamine_dagster.resources import IdeaMineResource

    blocked: dict[str, float] = {}

    class BlockingOnce(OfflineProvider):
        def generate(self, spec: Any, ctx: Any) -> dict[str, Any]:
            if spec.name == "Expander" and "at" not in blocked:
                blocked["at"] = time.time()
                time.sleep(STALL_BLOCK)
            return super().generate(spec, ctx)

    class BlockingResource(IdeaMineResource):
        def provider(self) -> OfflineProvider:
            return BlockingOnce()

    shutil.copytree(REPO / "phase_configs", root / "configs")
    path = root / "configs" / "intake.yaml"
    config = yaml.safe_load(path.read_text())
    config["heartbeat"] = {
        "interval_seconds": STALL_INTERVAL,
        "stall_threshold": STALL_THRESHOLD,
        "max_silence_seconds": STALL_SILENCE,
    }
    path.write_text(yaml.safe_dump(config))
    settings = Settings(home=root / "home", config_dir=root / "configs")
    resource = BlockingResource(home=str(settings.home), config_dir=str(settings.config_dir))
    sensor = build_definitions(settings, resources={"ideamine": resource}).resolve_sensor_def("supervisor")
    outcome: dict[str, Any] = {}
    with dg.instance_for_test() as instance:

        def run() -> None:
            outcome["run"] = run_in_process(settings, instance, ["intake"], {"ideamine": resource})

        worker = threading.Thread(target=run)
        worker.start()
        starts: list[float] = []
        while worker.is_alive() and len(starts) < 600:
            starts.append(time.time())
            sensor(dg.build_sensor_context(instance=instance, resources={"ideamine": resource}))
            time.sleep(0.1)
        worker.join(timeout=60)
        run_id, result = outcome["run"]
        failures = [e.message for e in result.all_events if e.is_failure]
    events = RunStore(settings.runs_dir).event_log(run_id).read()
    ledger = Runtime.of(settings).ledger.entries(run_id)
    decisions = [e.data for e in ledger if e.type == "decision" and e.data.get("mode") == "stall"]
    tick_gap = max((b - a for a, b in zip(starts, starts[1:], strict=False)), default=0.0)
    tasks = [e.data for e in ledger if e.type == "task" and e.data["status"] == "succeeded"]
    return {
        "run_success": result.success,
        "failures": failures,
        "stalled_events": [e.data["task_id"] for e in events if e.type == "phase.stalled"],
        "retry_strategies": [e.data["strategy"] for e in events if e.type == "task.retry"],
        "decisions": len(decisions),
        "latency_s": round(decisions[0]["decided_at"] - blocked["at"], 3) if decisions else None,
        # the supervisor sees a stall (N + 1) beats after the work fell silent, at its next tick
        "bound_s": round(STALL_SILENCE + (STALL_THRESHOLD + 1) * STALL_INTERVAL + tick_gap, 3),
        "max_tick_gap_s": round(tick_gap, 3),
        "succeeded_agents": sorted(t["agent"] for t in tasks),
        "run_id": run_id,
        "ticks": len(starts),
    }


# --- a tool-minutes budget on the real tools (RELIABILITY 25) -----------------------------------------

TO_BUILD = ["intake", "ideation", "critique", "prd", "architecture", "build"]


def tools_budget_scenario(root: Path, tools_minutes: float = 0.0005) -> dict[str, Any]:
    """intake → build offline in process with build's `tools_minutes` capped at `tools_minutes`:
    the real workspace tools (git commits of the writers) spend it; figures on the stop."""
    import dagster as dg
    import yaml

    from ideamine_core.config.loader import load_phase_file
    from ideamine_core.runtime import Runtime
    from ideamine_core.settings import Settings
    from ideamine_core.storage.run_store import RunStore

    shutil.copytree(REPO / "phase_configs", root / "configs")
    path = root / "configs" / "build.yaml"
    config = yaml.safe_load(path.read_text())
    config["budgets"]["tools_minutes"] = tools_minutes
    path.write_text(yaml.safe_dump(config))
    settings = Settings(home=root / "home", config_dir=root / "configs")
    with dg.instance_for_test() as instance:
        run_id, result = run_in_process(settings, instance, TO_BUILD)
    runtime, store = Runtime.of(settings), RunStore(settings.runs_dir)
    decisions = [
        e.data
        for e in runtime.ledger.entries(run_id)
        if e.type == "decision" and e.data.get("mode") == "budget_exhausted"
    ]
    usage = runtime.meter(run_id, load_phase_file(path)).usage()
    events = [e.data for e in store.event_log(run_id).read() if e.type == "budget.exhausted"]
    build = store.load_phase(run_id, "build")
    return {
        "run_success": result.success,
        "build_status": build.status if build else None,
        "cap_minutes": tools_minutes,
        "used_minutes": round(usage.tools_minutes, 5),
        "strategy": decisions[0]["strategy"] if decisions else None,
        "budget": events[0]["evidence"]["budget"] if events else None,
        "report": decisions[0]["reason"][:160] if decisions else None,
    }


if __name__ == "__main__" and sys.argv[1:] == ["zygote"]:
    zygote()
