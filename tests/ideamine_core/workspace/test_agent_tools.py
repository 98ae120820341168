"""Tool agents read the workspace as their inputs describe it, not as a phase running beside them left it.

Security and story_loop both start after build; story_loop commits story by story while security scans.
A scanner agent scans the last commit made by a phase it depends on ('build: …'), so the same inputs
give the same scan (and the same artifact) whatever story_loop has committed meanwhile.
"""

from __future__ import annotations

import time
from pathlib import Path

from support import DEMO

from ideamine_core.agents.registry import get_agent
from ideamine_core.domain.agent import AgentContext
from ideamine_core.domain.artifact import PhaseArtifact
from ideamine_core.workspace.agent_tools import ToolEnv, _input_commit, run_tool_agent

BUILD = {
    "app/__init__.py": "",
    "app/service.py": "import json\n\n\ndef load(text):\n    return json.loads(text)\n",
}
STORY = {"app/sync.py": "import requests\n\n\ndef push(url):\n    return requests.post(url, timeout=5)\n"}


def _ctx(agent: str) -> AgentContext:
    build = PhaseArtifact(phase="build", results=[], aggregate={}, aggregation_strategy="merge")
    return AgentContext(run_id="r", phase="security", agent=agent, submission=DEMO, upstream={"build": build})


def test_scanners_scan_the_last_commit_of_their_upstream_phases(tmp_path: Path) -> None:
    env = ToolEnv(tmp_path / "run", time.time())
    ws = env.workspace()
    ws.write_files(list(BUILD.items()))
    build_sha = ws.commit("build: Implementer (iteration 0)")
    ws.write_files(list(STORY.items()))
    story_sha = ws.commit("story_loop: US-1 Sync tasks")  # committed beside security, not its input

    secrets = run_tool_agent(get_agent("Secrets"), _ctx("Secrets"), env)
    deps = run_tool_agent(get_agent("Dependencies"), _ctx("Dependencies"), env)
    assert secrets.record.commit == build_sha != story_sha
    assert secrets.output.scanned_files == len(BUILD)  # type: ignore[attr-defined]
    assert deps.output.dependencies == []  # type: ignore[attr-defined]  # `requests` came with the story

    story_loop = PhaseArtifact(phase="story_loop", results=[], aggregate={}, aggregation_strategy="merge")
    beside = _ctx("Dependencies")
    after = beside.model_copy(update={"upstream": beside.upstream | {"story_loop": story_loop}})
    assert _input_commit(ws, after) == story_sha  # a phase that depends on story_loop sees its commits
