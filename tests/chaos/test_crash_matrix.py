"""RELIABILITY 1 on the real pipeline: `ideamine run` SIGKILLed at each task-path crash point, then
`ideamine resume RUN` in a new process, completes the run with the artifact hashes of an uninterrupted
run, repeats no completed model call (a kill after `llm.request_sent` repeats at most the one in-flight
call), loses and duplicates no ledger entry, and `ideamine ledger verify` passes.

One repetition per point here (runs share two warm zygote processes and run three at a time); full
counts from `python bench/chaos.py`. Each test prints its figures on one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pipeline_chaos as pc
import pytest

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(420)]

POINTS: list[tuple[str, list[str], int]] = [
    # the 2nd task (Expander) dies right after its lease and heartbeat start; Classifier had completed
    ("task.started_logged", pc.INTAKE, 2),
    # Expander's response arrived (paid) but was not cached: the one in-flight call is repeated
    ("llm.request_sent", pc.INTAKE, 2),
    # Expander's response is in the write-ahead cache; its task result and ledger entries are not
    ("llm.response_cached", pc.INTAKE, 2),
    # Expander's durable result file is written; its ledger cost and task entries are not
    ("artifact.written", pc.INTAKE, 2),
    # Expander's ledger entries are written; Dagster has not recorded the step's success
    ("ledger.task_completed", pc.INTAKE, 2),
    # every agent of intake completed; its gate is about to be evaluated
    ("gate.evaluating", pc.INTAKE, 1),
    # the story loop's first iteration checkpoint is being saved (offline model, 7 phases)
    ("checkpoint.saved", pc.TO_STORY_LOOP, 1),
]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """Every point's figures, computed concurrently, against references of the same phases."""
    root = tmp_path_factory.mktemp("crash-matrix")
    zygotes = [pc.Zygote(), pc.Zygote()]
    try:
        answers = pc.oracle(pc.INTAKE, root / "oracle")
        with ThreadPoolExecutor(3) as pool:
            lane = iter(zygotes * len(POINTS) * 2)
            refs: dict[str, Future[pc.Outcome]] = {
                "story": pool.submit(pc.reference, root / "ref-story", pc.TO_STORY_LOOP, None, next(lane)),
                "intake": pool.submit(pc.reference, root / "ref-intake", pc.INTAKE, answers, next(lane)),
            }
            runs = {
                point: pool.submit(
                    pc.crash_and_resume,
                    root / point,
                    point,
                    phases,
                    answers if phases == pc.INTAKE else None,
                    after=after,
                    zygote=next(lane),
                )
                for point, phases, after in sorted(POINTS, key=lambda p: -len(p[1]))
            }
            ref_of = {p: refs["intake" if phases == pc.INTAKE else "story"] for p, phases, _ in POINTS}
            results = {p: pc.figures(runs[p].result(), ref_of[p].result()) for p in runs}
    finally:
        for zygote in zygotes:
            zygote.close()
    yield results


@pytest.mark.parametrize("point", [p for p, _, _ in POINTS])
def test_a_run_killed_at_the_point_resumes_exactly_once(
    matrix: dict[str, dict[str, Any]], point: str
) -> None:
    figures = matrix[point]
    print(f"\nRELIABILITY 1: {pc.summary(figures)}")
    assert figures["killed"], figures["detail"]
    assert figures["completed"], figures["detail"]
    assert figures["completed_calls_repeated"] == 0
    assert figures["in_flight_repeated"] == (1 if point == "llm.request_sent" else 0)
    assert figures["ledger_lost"] == 0, figures["lost_entries"]
    assert figures["ledger_duplicated"] == 0, figures["extra_entries"]
    assert figures["ledger_verified"]
    assert figures["hashes_equal"]
