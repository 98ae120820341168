"""Waivers: recorded, expiring decisions that let one named gate violation of a phase pass.

`WaiverStore` keeps them in the `waivers` table; `parse_expiry` reads what a person types after
`--expires` (an ISO date or date-time, or a duration such as `7d`, `12h`, `PT12H`, `P1DT2H`).
A waiver's id is derived from what it says, so recording the same waiver twice stores it once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from collections.abc import Sequence
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from ideamine_core.domain.evidence import Waiver
from ideamine_core.domain.phase import PhaseConfig
from ideamine_core.errors import UserInputError
from ideamine_core.storage.database import Database
from ideamine_core.storage.tables import WaiverRow

_SHORT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)\s*$", re.I)
_ISO = re.compile(
    r"^P(?=.)(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$", re.I
)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
EXPIRY_HELP = "an ISO date or date-time (2026-12-31, 2026-12-31T18:00Z) or a duration (7d, 12h, 30m, PT12H)"


class WaiverSource(Protocol):
    """Anything that lists the waivers active for a phase of a run at a time."""

    def active(self, run_id: str, phase: str, now: float) -> list[Waiver]:
        """Unexpired waivers of (run, phase)."""
        ...


class StaticWaivers:
    """A fixed list of waivers (tests, or waivers given on a command line)."""

    def __init__(self, waivers: Sequence[Waiver] = ()) -> None:
        self.waivers = list(waivers)

    def active(self, run_id: str, phase: str, now: float) -> list[Waiver]:
        """The listed waivers of (run, phase) that have not expired."""
        return [w for w in self.waivers if w.run_id == run_id and w.phase == phase and w.is_active(now)]


def parse_expiry(text: str, now: float | None = None) -> float:
    """Epoch seconds from a date, date-time or duration; UserInputError naming the accepted forms.

    A date alone means the end of that day (UTC); a date-time without a zone is read as UTC.
    """
    now = time.time() if now is None else now
    raw = text.strip()
    if m := _SHORT.match(raw):
        return now + float(m.group(1)) * _UNIT_SECONDS[m.group(2).lower()]
    if (m := _ISO.match(raw)) and any(m.groups()):
        w, d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        return now + w * 604800 + d * 86400 + h * 3600 + mi * 60 + s
    try:
        if len(raw) == 10:
            day = dt.date.fromisoformat(raw)
            return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UserInputError(f"cannot read the expiry {text!r}", fix=f"give {EXPIRY_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def violation_names(config: PhaseConfig) -> list[str]:
    """What a waiver on this phase may name: its guard types (schema always) and hard-blocker metrics."""
    names = ["schema", *(g.type for g in config.guards), *config.gate.hard_blockers]
    return list(dict.fromkeys(names))


def waiver_id(run_id: str, phase: str, violation: str, owner: str, reason: str, expires_at: float) -> str:
    """A deterministic id: the same waiver recorded twice is one waiver."""
    text = f"{run_id}|{phase}|{violation}|{owner}|{reason}|{expires_at:.3f}"
    return "wv-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _insert(conn: Connection) -> sa.Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(WaiverRow.__table__)


class WaiverStore:
    """Waivers in the IdeaMine database; `active()` is what the gate asks at every attempt."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        run_id: str,
        phase: str,
        violation: str,
        owner: str,
        reason: str,
        expires_at: float,
        now: float | None = None,
    ) -> Waiver:
        """Validate and store a waiver (idempotent); UserInputError if it is already expired or blank."""
        now = time.time() if now is None else now
        if expires_at <= now:
            raise UserInputError(
                "the waiver would already be expired", fix=f"give a future expiry: {EXPIRY_HELP}"
            )
        fields = {"owner": owner, "reason": reason, "violation": violation}
        blank = [name for name, value in fields.items() if not value.strip()]
        if blank:
            raise UserInputError(
                f"the waiver's {blank[0]} is empty",
                fix="say who accepts the risk (--owner), why (--reason) and which violation",
            )
        waiver = Waiver(
            waiver_id=waiver_id(run_id, phase, violation.strip(), owner.strip(), reason.strip(), expires_at),
            run_id=run_id,
            phase=phase,
            violation=violation,
            owner=owner,
            reason=reason,
            expires_at=expires_at,
            created_at=now,
        )

        def write(conn: Connection) -> None:
            conn.execute(_insert(conn).values(waiver.model_dump()).on_conflict_do_nothing())

        self.db.write(write)
        return waiver

    def list(self, run_id: str | None = None, phase: str | None = None) -> list[Waiver]:
        """Every waiver (of a run, of a phase), oldest first."""
        t = WaiverRow.__table__
        query = sa.select(t).order_by(t.c.created_at, t.c.waiver_id)
        if run_id is not None:
            query = query.where(t.c.run_id == run_id)
        if phase is not None:
            query = query.where(t.c.phase == phase)
        rows = self.db.read_with_retry(lambda conn: conn.execute(query).mappings().all())
        return [Waiver.model_validate(dict(r)) for r in rows]

    def active(self, run_id: str, phase: str, now: float) -> list[Waiver]:
        """Unexpired waivers of (run, phase) at `now`."""
        t = WaiverRow.__table__
        query = (
            sa.select(t)
            .where(t.c.run_id == run_id, t.c.phase == phase, t.c.expires_at > now)
            .order_by(t.c.created_at, t.c.waiver_id)
        )
        rows = self.db.read_with_retry(lambda conn: conn.execute(query).mappings().all())
        return [Waiver.model_validate(dict(r)) for r in rows]


__all__ = [
    "StaticWaivers",
    "WaiverSource",
    "WaiverStore",
    "parse_expiry",
    "violation_names",
    "waiver_id",
]
