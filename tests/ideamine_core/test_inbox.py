"""The idea inbox: one item per distinct idea, a new attempt only on resubmit, drop-folder ingestion.

Run ids derive from the idea key, so they are stable across retries and valid partition keys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import UserInputError
from ideamine_core.inbox import IdeaInbox, read_idea_file
from ideamine_core.storage.database import Database
from ideamine_core.storage.run_store import RunStore

IDEA = IdeaSubmission(idea="Build a habit tracker for night-shift nurses", users=["nurses"])


def test_the_same_idea_twice_is_one_item(db: Database) -> None:
    inbox = IdeaInbox(db)
    first, second = inbox.submit(IDEA), inbox.submit(IDEA)
    assert first.idea_key == second.idea_key and first.run_id == second.run_id
    assert [i.idea_key for i in inbox.after(0)] == [first.idea_key]
    assert inbox.find(IDEA) == first
    assert inbox.find(IdeaSubmission(idea="Something never submitted")) is None


def test_resubmit_opens_a_new_attempt_with_a_new_run(db: Database) -> None:
    inbox = IdeaInbox(db)
    first = inbox.submit(IDEA)
    again = inbox.submit(IDEA, resubmit=True)
    assert again.attempt == first.attempt + 1
    assert again.run_id != first.run_id and again.idea_key != first.idea_key
    assert [i.attempt for i in inbox.after(0)] == [1, 2]
    assert inbox.after(first.seq) == [again]


def test_run_ids_are_valid_run_folder_names(db: Database, tmp_path: Path) -> None:
    item = IdeaInbox(db).submit(IdeaSubmission(idea="Ünïcode & punctuation!!! " + "x" * 300))
    assert RunStore(tmp_path).run_dir(item.run_id).name == item.run_id


def test_drop_folder_ingests_good_files_and_rejects_bad_ones(db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.txt").write_text("Build a recipe planner for students")
    (folder / "b.json").write_text('{"idea": "Build a bike-share map", "users": ["commuters"]}')
    (folder / "c.yaml").write_text("idea: ''\n")
    (folder / "d.json").write_text("{not json")
    items = IdeaInbox(db).ingest_folder(folder)
    assert sorted(i.submission.idea for i in items) == [
        "Build a bike-share map",
        "Build a recipe planner for students",
    ]
    assert all(i.source == "folder" for i in items)
    assert len(list((folder / "processed").iterdir())) == 2
    errors = sorted((folder / "rejected").glob("*.error"))
    assert len(errors) == 2 and "empty" in errors[0].read_text() + errors[1].read_text()
    assert not any(p.is_file() for p in folder.iterdir())


def test_unreadable_idea_file_names_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "idea.json"
    path.write_text("[1, 2]")
    with pytest.raises(UserInputError) as info:
        read_idea_file(path)
    assert "idea.json" in info.value.explain() and "idea" in info.value.fix
