"""SBOM of the workspace project: a real CycloneDX JSON document made by cyclonedx-py, offline.

The generated project is standard-library only, so its SBOM holds the project component and the
test-only requirement (pytest, pinned to the version QA runs). A `requirements.txt` in the workspace wins
over import discovery; the root component comes from its `pyproject.toml` when it has a `[project]` table.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ideamine_core.agents.rules._scan import is_test, third_party
from ideamine_core.errors import ToolError
from ideamine_core.workspace._tools import TIMEOUT, parse_json, run_tool, text_files, tool_version

__all__ = ["SbomResult", "run_sbom"]


class SbomResult(BaseModel):
    """A CycloneDX SBOM of the workspace project."""

    model_config = ConfigDict(extra="forbid")

    tool: str
    seconds: float = Field(ge=0)
    spec_version: str = Field(description="CycloneDX specification version, e.g. '1.6'.")
    document: dict[str, Any] = Field(description="The CycloneDX JSON document.")
    components: list[dict[str, str]] = Field(
        default_factory=list, description="name, version ('' if unpinned), purl, type and scope of each one."
    )


def _requirements(root: Path) -> tuple[list[str], set[str]]:
    """(requirement lines, names only tests import): requirements.txt if present, else the imports."""
    req = root / "requirements.txt"
    if req.is_file():
        lines = [ln.split("#")[0].strip() for ln in req.read_text(encoding="utf-8").splitlines()]
        return [ln for ln in lines if ln and not ln.startswith("-")], set()
    dists = md.packages_distributions()
    out: set[str] = set()
    dev: set[str] = set()
    for name, uses in third_party([f for f in text_files(root) if f.path.endswith(".py")]).items():
        dist = (dists.get(name) or [name])[0]
        if all(is_test(path) for path, _ in uses):
            dev.add(dist.lower())
        try:
            out.add(f"{dist}=={md.version(dist)}")
        except md.PackageNotFoundError:
            out.add(dist)
    return sorted(out), dev


def _pyproject(root: Path, name: str, version: str, scratch: Path) -> Path:
    own = root / "pyproject.toml"
    if own.is_file() and re.search(r"(?m)^\[project\]", own.read_text(encoding="utf-8", errors="replace")):
        return own
    dist = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._") or "workspace"
    target = scratch / "pyproject.toml"
    target.write_text(f'[project]\nname = "{dist}"\nversion = "{version}"\n', encoding="utf-8")
    return target


def _components(doc: dict[str, Any], dev: set[str]) -> list[dict[str, str]]:
    """The components, each marked with its CycloneDX scope (test-only requirements are optional)."""
    out = []
    for c in doc.get("components", []):
        c["scope"] = "optional" if str(c.get("name", "")).lower() in dev else "required"
        out.append({k: str(c.get(k, "")) for k in ("name", "version", "purl", "type", "scope")})
    return out


def run_sbom(
    root: Path, *, project_name: str, version: str = "0.1.0", validate: bool = True, timeout: float = TIMEOUT
) -> SbomResult:
    """A CycloneDX JSON SBOM (spec 1.6) of the project under `root`, made by cyclonedx-py, offline."""
    root = root.resolve()
    tool = tool_version("cyclonedx-bom")
    with tempfile.TemporaryDirectory(prefix="ideamine-sbom-") as tmp:
        scratch = Path(tmp)
        req = scratch / "requirements.txt"
        lines, dev = _requirements(root)
        req.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        args = [
            "requirements",
            str(req),
            "--pyproject",
            str(_pyproject(root, project_name, version, scratch)),
        ]
        args += ["--output-reproducible", "--of", "JSON", "-o", "-", "--sv", "1.6"]
        args += [] if validate else ["--no-validate"]
        out, seconds = run_tool("cyclonedx_py", args, root, tool, timeout)
    doc = parse_json(out, tool)
    if doc.get("bomFormat") != "CycloneDX":
        raise ToolError(f"{tool} did not produce a CycloneDX document", fix="upgrade cyclonedx-bom")
    return SbomResult(
        tool=tool,
        seconds=seconds,
        spec_version=str(doc.get("specVersion")),
        document=doc,
        components=_components(doc, dev),
    )
