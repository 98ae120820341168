"""Cost of the agent call path, side by side in one run, as ratios to calling the offline rule directly.

Measures per call: (1) the rule plus schema validation (the path before pydantic-ai), (2) the offline
model through pydantic-ai (prompt, request hash, FunctionModel, validation, record), (3) a hosted
model on a local fake OpenAI server, cache miss (HTTP + write-ahead cache on SQLite), (4) the same
request again, served from the cache.

    python bench/agent_call_overhead.py --calls 50
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "integration"))

from fake_llm import FakeLLMServer, Reply  # noqa: E402

from ideamine_core.agents.registry import get_agent  # noqa: E402
from ideamine_core.agents.runner import run_agent  # noqa: E402
from ideamine_core.domain.agent import AgentContext  # noqa: E402
from ideamine_core.domain.idea import IdeaSubmission  # noqa: E402
from ideamine_core.providers.cache import ResponseCache  # noqa: E402
from ideamine_core.providers.caller import CallerConfig, ModelCaller  # noqa: E402
from ideamine_core.storage.database import Database  # noqa: E402

SUB = IdeaSubmission(idea="Build a collaborative todo app with real-time sync", users=["remote teams"])
SPEC = get_agent("Expander")


def _ctx(i: int) -> AgentContext:
    return AgentContext(
        run_id="bench", phase="intake", agent=SPEC.name, submission=SUB, instruction=f"call {i}"
    )


def _per_call(fn: Callable[[int], object], calls: int) -> float:
    fn(-1)  # warm up
    started = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - started) / calls


def main() -> None:
    """Print the four figures and their ratios to the direct rule call."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    calls = parser.parse_args().calls
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    good = SPEC.offline_rule(_ctx(0)).model_dump(mode="json")
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeLLMServer(responder=lambda body: Reply(output=good)) as server,
    ):
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.setup()
        offline = ModelCaller()
        hosted = ModelCaller(
            CallerConfig(models=("openai:gpt-4.1-mini",), openai_base_url=server.url), cache=ResponseCache(db)
        )
        figures = {
            "rule + validation (before)": _per_call(
                lambda i: SPEC.output_model.model_validate(
                    SPEC.offline_rule(_ctx(i)).model_dump(mode="json")
                ),
                calls,
            ),
            "offline via pydantic-ai": _per_call(lambda i: run_agent(SPEC, _ctx(i), offline), calls),
            "openai local, cache miss": _per_call(lambda i: run_agent(SPEC, _ctx(i), hosted), calls),
            "openai local, cache hit": _per_call(lambda i: run_agent(SPEC, _ctx(i), hosted), calls),
        }
        db.dispose()
    base = figures["rule + validation (before)"]
    for name, seconds in figures.items():
        print(f"{name:28s} {seconds * 1000:8.2f} ms/call  ×{seconds / base:7.1f}")
    print(f"mean of {calls} calls per figure, measured side by side in one process")


if __name__ == "__main__":
    main()
