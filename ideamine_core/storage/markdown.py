"""Markdown rendering of phase artifacts for people to read."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from ideamine_core.domain.artifact import PhaseArtifact


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("ideamine_core", "templates"),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_artifact(artifact: PhaseArtifact) -> str:
    """The artifact as Markdown: gate line, then one section per agent result."""
    text = _env().get_template("artifact.md.j2").render(artifact=artifact, content_hash=artifact.hash())
    return text.rstrip() + "\n"
