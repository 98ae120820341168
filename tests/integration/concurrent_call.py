"""Child process of the cache concurrency test: wait for the go signal, make one agent call, print its record.

Usage: python concurrent_call.py DB_URL BASE_URL SYNC_DIR NAME
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ideamine_core.agents.registry import get_agent
from ideamine_core.agents.runner import run_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.providers.cache import ResponseCache
from ideamine_core.providers.caller import CallerConfig, ModelCaller
from ideamine_core.storage.database import Database


def main(db_url: str, base_url: str, sync_dir: str, name: str) -> None:
    """Signal ready, wait for go, call the Classifier on the fake server, print the result as JSON."""
    sub = IdeaSubmission(idea="Build a collaborative todo app with real-time sync")
    ctx = AgentContext(run_id=f"run-{name}", phase="intake", agent="Classifier", submission=sub)
    caller = ModelCaller(
        CallerConfig(models=("openai:gpt-4.1-mini",), openai_base_url=base_url),
        cache=ResponseCache(Database(db_url), poll_seconds=0.02),
    )
    sync = Path(sync_dir)
    (sync / f"ready-{name}").touch()
    while not (sync / "go").exists():
        time.sleep(0.005)
    result = run_agent(get_agent("Classifier"), ctx, caller)
    print(
        result.model_dump_json(exclude={"provenance"}), result.call.model_dump_json() if result.call else ""
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
