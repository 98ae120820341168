"""The pipeline on `openai:<model>` against a local chat-completions server (issue 3's end-to-end checks).

The fake server plays a model that answers each agent's prompt with what the offline rules produce for
the same context (an oracle recorded by an offline run of the same phases), so the gates pass on real
HTTP. Then: every call records tokens and cost; the same idea run again makes ZERO requests (served from
the response cache); a replay with the server stopped and requests switched off reproduces identical
artifact hashes; the API key is found in no artifact, event, log or database file of the runs.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from fake_llm import FakeLLMServer, Reply, user_text

from ideamine_core.agents.prompting import render_prompt
from ideamine_core.agents.spec import AgentSpec
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.providers import request_gate
from ideamine_core.providers.offline import OfflineProvider
from ideamine_core.settings import Settings
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.jobs import PIPELINE_JOB
from ideamine_dagster.partitions import IDEAS
from ideamine_dagster.resources import IdeaMineResource

pytestmark = [pytest.mark.usefixtures("allow_local_model_requests"), pytest.mark.slow]

KEY = "sk-pipeline-canary-93c0d15ab7"
PHASES = ["intake", "ideation", "critique", "prd"]
IDEA = IdeaSubmission(
    idea="Build a collaborative todo app with real-time sync",
    users=["remote teams"],
    constraints=["mobile-first", "offline-capable"],
)


class Oracle(OfflineProvider):
    """The offline rules, remembering which output answered which rendered prompt."""

    answers: dict[str, dict[str, Any]] = {}

    def generate(self, spec: AgentSpec, ctx: AgentContext) -> dict[str, Any]:
        output = super().generate(spec, ctx)
        Oracle.answers[render_prompt(spec, ctx).user] = output
        return output


class OracleResource(IdeaMineResource):
    def provider(self) -> OfflineProvider:
        return Oracle()


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Prompt → output, for every agent call of an offline run of PHASES."""
    root = tmp_path_factory.mktemp("oracle")
    shutil.copytree(Path(__file__).resolve().parents[2] / "phase_configs", root / "configs")
    settings = Settings(home=root / "home", config_dir=root / "configs")
    resource = OracleResource(home=str(settings.home), config_dir=str(settings.config_dir))
    with dg.instance_for_test() as instance:
        _, result = run_phases(settings, instance, IDEA, PHASES, resources={"ideamine": resource})
    assert result.success
    return dict(Oracle.answers)


@pytest.fixture
def server(oracle: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """The model: answers a prompt the offline run saw with its output, anything else with HTTP 400."""

    def answer(body: dict[str, Any]) -> Reply:
        output = oracle.get(user_text(body))
        return Reply(output=output) if output is not None else Reply(status=400)

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeLLMServer("openai", responder=answer) as fake:
        yield fake


def run_phases(
    settings: Settings,
    instance: dg.DagsterInstance,
    submission: IdeaSubmission,
    phases: list[str],
    resources: dict[str, Any] | None = None,
) -> tuple[str, dg.ExecuteInProcessResult]:
    """Create a run for `submission` and execute `phases` in process, as the CLI would."""
    store = RunStore(settings.runs_dir)
    run_id = store.new_run_id(submission)
    store.create(run_id, submission, phases)
    instance.add_dynamic_partitions(IDEAS.name, [run_id])
    job = build_definitions(settings, executor="in_process", resources=resources).resolve_job_def(
        PIPELINE_JOB
    )
    result = job.execute_in_process(
        partition_key=run_id,
        instance=instance,
        asset_selection=[dg.AssetKey(p) for p in phases],
        raise_on_error=False,
    )
    return run_id, result


def _hashes(store: RunStore, run_id: str) -> dict[str, str]:
    return {phase: store.load_artifact(run_id, phase).hash() for phase in PHASES}


def test_pipeline_on_a_local_openai_compatible_server(
    server: FakeLLMServer, settings: Settings, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = settings.model_copy(update={"model": "openai:gpt-4.1-mini", "model_base_url": server.url})
    store = RunStore(model.runs_dir)

    run_id, result = run_phases(model, instance, IDEA, PHASES)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    calls = server.count
    artifacts = {p: store.load_artifact(run_id, p) for p in PHASES}
    providers = {(r.provenance.provider, r.provenance.model) for a in artifacts.values() for r in a.results}
    assert providers == {("openai", "gpt-4.1-mini")} and calls == sum(
        len(a.results) for a in artifacts.values()
    )
    recorded = _hashes(store, run_id)

    rerun_id, rerun = run_phases(model, instance, IDEA, PHASES)  # the same idea again: all from the cache
    assert rerun.success and server.count == calls and rerun_id != run_id
    assert _hashes(store, rerun_id) == recorded

    server.stop()
    monkeypatch.setenv("IDEAMINE_CACHE_MODE", "replay")
    with request_gate.allow_model_requests("none"):
        replay_id, replay = run_phases(model, instance, IDEA, PHASES)
    assert replay.success and _hashes(store, replay_id) == recorded
    print(
        f"pipeline on openai (local server): {calls} requests; re-run: 0 requests; replay: identical hashes"
    )

    leaks = [p for p in _files(model.home, Path(instance.root_directory)) if KEY.encode() in p.read_bytes()]
    assert leaks == []


def _files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*") if p.is_file())
