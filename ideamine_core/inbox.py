"""The idea inbox: submitted ideas waiting for the inbox sensor, each to become exactly one run.

An idea's key is its content hash plus an attempt number. Submitting the same idea again returns
the existing item (one run per idea); ``resubmit=True`` opens a new attempt, hence a new key and a
new run. Run ids are derived from the key, so a sensor tick retried after a crash asks for the same
run again and Dagster's ``run_key`` de-duplication keeps it to one.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
import yaml
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from ideamine_core.domain.idea import IdeaSubmission
from ideamine_core.errors import UserInputError
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import IdeaInboxRow

DROP_SUFFIXES = (".txt", ".json", ".yaml", ".yml")


@dataclass(frozen=True)
class InboxItem:
    """One submitted idea and the run it becomes."""

    seq: int
    idea_key: str
    attempt: int
    submission: IdeaSubmission
    source: str
    status: str
    created_at: float

    @property
    def run_id(self) -> str:
        """The run id (and Dagster partition key) this item becomes; stable across retries."""
        return f"{self.submission.slug()}-{self.idea_key.split(':')[0][:10]}-a{self.attempt}"


def _item(row: sa.Row) -> InboxItem:
    return InboxItem(
        seq=row.seq,
        idea_key=row.idea_key,
        attempt=row.attempt,
        submission=IdeaSubmission.model_validate(row.submission),
        source=row.source,
        status=row.status,
        created_at=row.created_at,
    )


class IdeaInbox:
    """Submit ideas, list new ones for the sensor, and ingest a drop folder."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(self, submission: IdeaSubmission, *, source: str = "cli", resubmit: bool = False) -> InboxItem:
        """Queue `submission`; the same idea again returns its existing item unless `resubmit`."""
        digest = submission.content_hash()

        def txn(conn: Connection) -> int:
            table = IdeaInboxRow.__table__
            latest = conn.execute(
                sa.select(sa.func.max(table.c.attempt)).where(table.c.content_hash == digest)
            ).scalar_one_or_none()
            if latest is not None and not resubmit:
                return latest
            attempt = (latest or 0) + 1
            conn.execute(
                sa.insert(table).values(
                    idea_key=f"{digest}:{attempt}",
                    content_hash=digest,
                    attempt=attempt,
                    submission=submission.model_dump(mode="json"),
                    status="pending",
                    source=source,
                    created_at=time.time(),
                )
            )
            return attempt

        attempt = self.db.write(txn)
        return self.get(f"{digest}:{attempt}")

    def find(self, submission: IdeaSubmission) -> InboxItem | None:
        """The latest attempt of `submission`, or None if it was never submitted."""
        table = IdeaInboxRow.__table__
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(table)
                .where(table.c.content_hash == submission.content_hash())
                .order_by(table.c.attempt.desc())
                .limit(1)
            ).first()
        return _item(row) if row is not None else None

    def get(self, idea_key: str) -> InboxItem:
        """The item with `idea_key`; UserInputError when there is none."""
        with self.db.read() as conn:
            row = conn.execute(
                sa.select(IdeaInboxRow.__table__).where(IdeaInboxRow.idea_key == idea_key)
            ).first()
        if row is None:
            raise UserInputError(f"no submitted idea {idea_key!r}", fix="submit it with `ideamine submit`")
        return _item(row)

    def after(self, seq: int, limit: int = 100) -> list[InboxItem]:
        """Items submitted after `seq`, oldest first (what a sensor tick has not handled yet)."""
        table = IdeaInboxRow.__table__
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(table).where(table.c.seq > seq).order_by(table.c.seq).limit(limit)
            ).all()
        return [_item(r) for r in rows]

    def mark(self, idea_key: str, status: str, run_id: str | None = None) -> None:
        """Record what became of an item (e.g. ``requested`` with its run id)."""
        table = IdeaInboxRow.__table__
        self.db.write(
            lambda conn: conn.execute(
                sa.update(table).where(table.c.idea_key == idea_key).values(status=status, run_id=run_id)
            )
        )

    def ingest_folder(self, folder: Path) -> list[InboxItem]:
        """Submit every idea file dropped in `folder`; move it to ``processed/`` or ``rejected/``.

        A ``.txt`` file holds the idea text; ``.json``/``.yaml`` files hold ``idea``, ``users`` and
        ``constraints``. A rejected file gets a ``.error`` file next to it saying why.
        """
        items: list[InboxItem] = []
        if not folder.is_dir():
            return items
        for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in DROP_SUFFIXES):
            try:
                submission = read_idea_file(path)
            except UserInputError as exc:
                _move(path, folder / "rejected", error=exc.explain())
                continue
            items.append(self.submit(submission, source="folder"))
            _move(path, folder / "processed")
        return items


def read_idea_file(path: Path) -> IdeaSubmission:
    """Parse a dropped idea file; UserInputError naming the file and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
        data = (
            {"idea": text}
            if path.suffix == ".txt"
            else json.loads(text)
            if path.suffix == ".json"
            else yaml.safe_load(text)
        )
        if not isinstance(data, dict):
            raise ValueError("expected a mapping with an `idea` key")
        return IdeaSubmission.model_validate(data)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError, ValidationError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise UserInputError(
            f"idea file {path.name} cannot be read: {detail}",
            fix="write the idea as plain text (.txt) or as JSON/YAML with `idea`, `users`, `constraints`",
        ) from exc


def _move(path: Path, target_dir: Path, error: str | None = None) -> None:
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{int(time.time() * 1000)}-{path.name}"
    shutil.move(str(path), target)
    if error:
        target.with_name(target.name + ".error").write_text(error + "\n", encoding="utf-8")
