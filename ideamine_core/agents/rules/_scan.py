"""Deterministic inspection of generated files: secret patterns, dangerous calls and imports."""

from __future__ import annotations

import ast
import re
import sys

from ideamine_core.agents.outputs._base import Severity
from ideamine_core.agents.outputs.build import SourceFile

Row = tuple[Severity, str, str, str]
"""(severity, title, location, detail) of a finding before it gets an id."""

_SECRETS: tuple[tuple[str, re.Pattern[str], Severity], ...] = (
    ("AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), "critical"),
    ("Private key block", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"), "critical"),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"), "high"),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"), "high"),
    ("API secret key", re.compile(r"\bsk-[A-Za-z0-9_-]{20,}\b"), "high"),
    (
        "Hard-coded credential",
        re.compile(r"(?i)\b(?:password|passwd|secret|api_?key|token)\b\s*[:=]\s*['\"][^'\"\s]{8,}"),
        "high",
    ),
)
_DANGEROUS_CALLS: dict[str, tuple[Severity, str]] = {
    "eval": ("high", "Use of eval() on dynamic input"),
    "exec": ("high", "Use of exec() on dynamic input"),
    "os.system": ("high", "Shell command via os.system()"),
    "os.popen": ("high", "Shell command via os.popen()"),
    "pickle.loads": ("high", "Unsafe deserialization with pickle"),
    "pickle.load": ("high", "Unsafe deserialization with pickle"),
    "marshal.loads": ("high", "Unsafe deserialization with marshal"),
    "yaml.load": ("medium", "yaml.load without SafeLoader"),
    "hashlib.md5": ("low", "Weak hash function md5"),
    "hashlib.sha1": ("low", "Weak hash function sha1"),
}
_FALLBACK = re.compile(r"\b(eval|exec|os\.system|pickle\.loads?)\s*\(|shell\s*=\s*True")


def is_test(path: str) -> bool:
    """Whether a workspace path is test code (tests/, test_*.py, conftest.py)."""
    name = path.rsplit("/", 1)[-1]
    return path.startswith("tests/") or name.startswith("test_") or name == "conftest.py"


def secret_rows(f: SourceFile) -> list[Row]:
    """Secret rows of one file, line by line; the detail gives the length, never the value."""
    rows: list[Row] = []
    for no, line in enumerate(f.content.splitlines(), start=1):
        for title, pattern, sev in _SECRETS:
            for m in pattern.finditer(line):
                detail = f"{len(m.group(0))}-character match, redacted; move it to a secret store"
                rows.append((sev, title, f"{f.path}:{no}", detail))
    return rows


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def sast_rows(f: SourceFile) -> list[Row]:
    """SAST rows of one file by parsing it; a text scan when it does not parse."""
    try:
        tree = ast.parse(f.content)
    except SyntaxError as exc:
        rows: list[Row] = [
            (
                "info",
                "File does not parse; scanned as text",
                f"{f.path}:{exc.lineno or 0}",
                str(exc.msg),
            )
        ]
        for no, line in enumerate(f.content.splitlines(), start=1):
            for m in _FALLBACK.finditer(line):
                rows.append(
                    (
                        "high",
                        f"Dangerous call '{m.group(0).strip()}'",
                        f"{f.path}:{no}",
                        "avoid dynamic code execution and shells",
                    )
                )
        return rows
    rows = []
    for node in ast.walk(tree):
        where = f"{f.path}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in _DANGEROUS_CALLS:
                sev, title = _DANGEROUS_CALLS[name]
                rows.append((sev, title, where, "replace with a safe, explicit alternative"))
            shell = any(
                k.arg == "shell" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            if shell:
                rows.append(("high", "Subprocess with shell=True", where, "pass an argument list"))
        elif isinstance(node, ast.Assert) and not is_test(f.path):
            rows.append(("low", "assert used outside tests", where, "asserts vanish under -O"))
        elif isinstance(node, ast.Constant) and node.value == "0.0.0.0":
            rows.append(("low", "Binds to all interfaces", where, "bind to 127.0.0.1 by default"))
    return rows


_IMPORT = re.compile(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", re.MULTILINE)


def imports_of(f: SourceFile) -> list[tuple[str, int]]:
    """Top-level absolute imports of a Python file as (name, line), in file order."""
    try:
        tree = ast.parse(f.content)
    except SyntaxError:
        return [(m.group(1), f.content.count("\n", 0, m.start()) + 1) for m in _IMPORT.finditer(f.content)]
    out: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name.split(".")[0], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.append((node.module.split(".")[0], node.lineno))
    return sorted(out, key=lambda x: (x[1], x[0]))


def third_party(files: list[SourceFile]) -> dict[str, list[tuple[str, int]]]:
    """Third-party import name → [(path, line)], skipping stdlib and the workspace's own modules."""
    local = {f.path.split("/")[0].removesuffix(".py") for f in files}
    local |= {f.path.rsplit("/", 1)[-1].removesuffix(".py") for f in files}
    found: dict[str, list[tuple[str, int]]] = {}
    for f in files:
        if not f.path.endswith(".py"):
            continue
        for name, line in imports_of(f):
            if name in sys.stdlib_module_names or name in local or name == "__future__":
                continue
            found.setdefault(name, []).append((f.path, line))
    return dict(sorted(found.items()))
