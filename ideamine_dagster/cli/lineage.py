"""`ideamine lineage RUN ARTIFACT`: the artifact's ancestry tree with producers and content hashes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.tree import Tree

from ideamine_core.errors import UserInputError
from ideamine_core.provenance import LineageNode, ProvenanceStore
from ideamine_dagster.cli.common import command, console
from ideamine_dagster.cli.db import open_db


def label(node: LineageNode) -> str:
    """One line: name, producer, hash, and whether the input changed since it was used."""
    art = node.artifact
    if art is None:
        return f"[red]{node.artifact_id}[/] (not recorded) {node.used_hash or ''}"
    producer = art.producer
    made_by = producer.get("agent") or producer.get("tool") or producer.get("kind", "")
    model = f" · {producer['provider']}:{producer['model']}" if producer.get("model") else ""
    version = producer.get("generator_version") or producer.get("version")
    version_text = f" v{version}" if version else ""
    stale = f" [yellow](used {node.used_hash}, since changed)[/]" if node.stale else ""
    more = " [dim](inputs shown above)[/]" if node.repeated else ""
    return f"[bold]{art.name}[/] [dim]{made_by}{model}{version_text}[/] {art.content_hash}{stale}{more}"


def to_tree(node: LineageNode, tree: Tree | None = None) -> Tree:
    """The lineage as a Rich tree."""
    branch = Tree(label(node)) if tree is None else tree.add(label(node))
    for child in node.children:
        to_tree(child, branch)
    return branch


@command
def lineage(
    run: Annotated[str, typer.Argument(help="Run id.")],
    artifact: Annotated[
        str, typer.Argument(help="Artifact: a phase (prd), phase:prd, agent:prd/PRDWriter, …")
    ],
    depth: Annotated[int, typer.Option(help="Maximum depth of the ancestry.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tree as JSON.")] = False,
) -> None:
    """Print which agents, tools, models and input artifacts an artifact came from, recursively."""
    store = ProvenanceStore(open_db())
    tree = store.lineage(run, artifact, max_depth=depth)
    if tree is None:
        known = ", ".join(a.name for a in store.artifacts(run)[:12]) or "none recorded for this run"
        raise UserInputError(f"run {run} has no artifact {artifact!r}", fix=f"use one of: {known}")
    if as_json:
        console.print_json(tree.model_dump_json())
        return
    console.print(to_tree(tree))


def register(app: typer.Typer) -> None:
    """Add `lineage` to the CLI."""
    app.command()(lineage)
