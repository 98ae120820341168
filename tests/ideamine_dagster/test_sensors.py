"""The idea inbox sensor: each distinct idea becomes exactly one partition and one run request.

Ticks are evaluated with `build_sensor_context` on a temporary instance. Duplicate submissions,
including ones within a single tick, collapse to one run key; a resubmitted idea gets one new run.
"""

from __future__ import annotations

import dagster as dg
import yaml
from support import DEMO

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.inbox import IdeaInbox
from ideamine_core.settings import Settings
from ideamine_core.storage.database import open_database
from ideamine_core.storage.run_store import RunStore
from ideamine_dagster.definitions import build_definitions
from ideamine_dagster.sensors import idea_inbox_sensor


def _tick(instance: dg.DagsterInstance, settings: Settings, cursor: str | None) -> dg.SensorResult:
    defs = build_definitions(settings)
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"ideamine": defs.resources["ideamine"]}
    )
    return idea_inbox_sensor(context)


def test_each_idea_runs_exactly_once(instance: dg.DagsterInstance, settings: Settings) -> None:
    inbox = IdeaInbox(open_database(settings.db_url, embedded=True))
    ideas = [IdeaSubmission(idea=f"Build tool number {i} for field engineers") for i in range(12)]
    for idea in ideas + ideas[:4]:  # four duplicates within the first tick
        inbox.submit(idea)
    first = _tick(instance, settings, None)
    keys = [r.run_key for r in first.run_requests]
    assert len(keys) == len(set(keys)) == 12
    assert {r.partition_key for r in first.run_requests} == set(
        first.dynamic_partitions_requests[0].partition_keys
    )
    for idea in ideas[4:8]:  # duplicates in a later tick
        inbox.submit(idea)
    second = _tick(instance, settings, first.cursor)
    assert second.run_requests == [] and second.skip_reason
    again = inbox.submit(ideas[0], resubmit=True)
    third = _tick(instance, settings, first.cursor)
    assert [r.run_key for r in third.run_requests] == [again.idea_key]
    store = RunStore(settings.runs_dir)
    assert store.load_run(again.run_id).submission == ideas[0]


def test_a_retried_tick_asks_for_the_same_runs(instance: dg.DagsterInstance, settings: Settings) -> None:
    inbox = IdeaInbox(open_database(settings.db_url, embedded=True))
    inbox.submit(IdeaSubmission(idea="Build a parts catalogue for bike mechanics"))
    once = _tick(instance, settings, None)
    retried = _tick(instance, settings, None)  # the cursor was never written: same requests
    assert [(r.run_key, r.partition_key) for r in once.run_requests] == [
        (r.run_key, r.partition_key) for r in retried.run_requests
    ]


def test_a_failed_run_is_recorded_in_its_ledger(instance: dg.DagsterInstance, settings: Settings) -> None:
    from pipeline_helpers import run_phases
    from test_gate_blocking import BrokenPersonaResource

    from ideamine_core.ledger import Ledger
    from ideamine_dagster.sensors import run_failure_sensor

    resource = BrokenPersonaResource(home=str(settings.home), config_dir=str(settings.config_dir))
    path = settings.config_dir / "ideation.yaml"
    config = yaml.safe_load(path.read_text())
    config["gate"]["pass_threshold"] = 1.0
    path.write_text(yaml.safe_dump(config))
    run_id, result = run_phases(
        settings, instance, DEMO, phases=["intake", "ideation"], resources={"ideamine": resource}
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "PIPELINE_FAILURE")
    context = dg.build_run_status_sensor_context(
        sensor_name="run_failure_to_ledger",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=failure,
        resources={"ideamine": resource},
    ).for_run_failure()
    run_failure_sensor(context)
    run_failure_sensor(context)  # evaluated twice (a retried tick): still one entry
    ledger = Ledger(open_database(settings.db_url, embedded=True))
    (entry,) = [e for e in ledger.entries(run_id) if e.type == "decision" and e.data["kind"] == "run_failed"]
    assert entry.data["detail"]["dagster_run_id"] == result.run_id
    assert any("ideation" in step for step in entry.data["detail"]["failed_steps"])
