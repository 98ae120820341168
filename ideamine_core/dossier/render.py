"""Write a Dossier as JSON, Markdown, or one self-contained HTML page (Jinja2, inline CSS and SVG)."""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from ideamine_core.dossier.charts import STATUS_COLORS, cost_chart, gate_chart, timeline_chart
from ideamine_core.dossier.model import Dossier
from ideamine_core.errors import StorageError, UserInputError
from ideamine_core.storage.run_store import RunStore, atomic_write

FORMATS: tuple[str, ...] = ("html", "md", "json")
"""Dossier formats; each is also the file extension."""

_MD_SPECIAL = re.compile(r"([\\`*\[\]|])")


def md_escape(value: Any) -> str:
    """Text made inert in Markdown: no HTML, links, emphasis, code or table breaks; one line."""
    text = _MD_SPECIAL.sub(r"\\\1", str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.splitlines())


def _md_finalize(value: Any) -> Any:
    return value if isinstance(value, Markup) else md_escape(value)


def _timestamp(value: float | None) -> str:
    if value is None:
        return "—"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _usd(value: float | None) -> str:
    return "not supplied" if value is None else f"${value:.4f}"


def _fenced(value: str) -> Markup:
    """A Markdown code block whose fence is longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", value)), default=0)
    fence = "`" * max(3, longest + 1)
    return Markup(f"{fence}json\n{value}\n{fence}")


@cache
def _env(kind: str) -> Environment:
    env = Environment(
        loader=PackageLoader("ideamine_core.dossier", "templates"),
        undefined=StrictUndefined,
        autoescape=kind == "html",
        finalize=_md_finalize if kind == "md" else None,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(ts=_timestamp, secs=_seconds, usd=_usd, fenced=_fenced)
    return env


def _context(dossier: Dossier) -> dict[str, Any]:
    phases = dossier.run.phases
    api = dossier.product.api
    return {
        "d": dossier,
        "run": dossier.run,
        "status": {a.key: a for a in dossier.artifacts},
        "present": sum(a.present for a in dossier.artifacts),
        "charts": {
            "cost": cost_chart(phases),
            "gates": gate_chart(phases),
            "timeline": timeline_chart(phases, dossier.generated_at),
        },
        "colors": STATUS_COLORS,
        "openapi_json": json.dumps(api.openapi, indent=2, sort_keys=True) if api else None,
    }


def render_json(dossier: Dossier) -> str:
    """The dossier model as indented JSON (what the `release_dossiers` table stores)."""
    return dossier.model_dump_json(indent=2) + "\n"


def render_markdown(dossier: Dossier) -> str:
    """The dossier as readable Markdown with tables; every artifact value is escaped."""
    return _env("md").get_template("dossier.md.j2").render(_context(dossier)).rstrip() + "\n"


def render_html(dossier: Dossier) -> str:
    """One self-contained HTML page: inline CSS and SVG charts, no script, nothing fetched."""
    return _env("html").get_template("dossier.html.j2").render(_context(dossier))


def render(dossier: Dossier, fmt: str) -> str:
    """The dossier in format `fmt` (html, md or json)."""
    renderers = {"html": render_html, "md": render_markdown, "json": render_json}
    if fmt not in renderers:
        raise UserInputError(f"unknown dossier format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    return renderers[fmt](dossier)


def default_path(store: RunStore, run_id: str, fmt: str) -> Path:
    """Where a run's dossier goes by default: `runs/<id>/dossier.<fmt>`."""
    return store.run_dir(run_id) / f"dossier.{fmt}"


def write_dossier(dossier: Dossier, path: Path, fmt: str) -> Path:
    """Render and write the dossier atomically; returns the path written."""
    text = render(dossier, fmt)
    if path.is_dir():
        raise UserInputError(f"{path} is a folder", fix=f"name a file, e.g. {path / f'dossier.{fmt}'}")
    try:
        atomic_write(path, text)
    except OSError as exc:
        raise StorageError(
            f"cannot write the dossier to {path} ({exc.strerror})", fix="choose a writable file with -o"
        ) from exc
    return path
