"""A Python runtime the sandbox's unprivileged user can read: this interpreter, its stdlib, pytest, coverage.

The sandbox drops to uid 65534 before bubblewrap (so RLIMIT_NPROC holds), and that uid cannot enter
root's 0700 home where pyenv or a venv usually lives. So the interpreter binary, its shared library, the
standard library and the distributions pytest and coverage need (their files listed by
`importlib.metadata`) are hard-linked — copied when linking is impossible — into a world-readable
directory keyed by their versions, built once, atomically, and reused. Extra trusted modules (the QA
plugin) are written into its site-packages. The generated project itself needs nothing else: it is
standard-library only.
"""

from __future__ import annotations

import compileall
import hashlib
import importlib.metadata as md
import json
import os
import secrets
import shutil
import stat
import sys
import sysconfig
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

from ideamine_core.errors import SandboxError

__all__ = ["PythonRuntime", "default_runtime_dir", "ensure_runtime"]

ROOTS: tuple[str, ...] = ("pytest", "coverage")
"""Distributions the sandboxed tests need; their requirements are followed."""

_SKIP_STDLIB = frozenset(
    {"site-packages", "dist-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip"}
)
_MARKER = ".complete"


@dataclass(frozen=True)
class PythonRuntime:
    """A world-readable Python installation: `prefix/bin/pythonX.Y`, `prefix/lib/pythonX.Y/...`."""

    prefix: Path
    """Host path of the runtime's root."""
    version: str
    """'3.11'."""
    packages: dict[str, str] = field(default_factory=dict)
    """Distribution → version available in its site-packages."""

    def python(self, prefix: str | Path | None = None) -> str:
        """The interpreter's path under `prefix` (the mount point inside a sandbox) or on the host."""
        return f"{prefix or self.prefix}/bin/python{self.version}"

    def library_dir(self, prefix: str | Path | None = None) -> str:
        """The directory holding libpython (for LD_LIBRARY_PATH)."""
        return f"{prefix or self.prefix}/lib"


def _closure(roots: tuple[str, ...]) -> dict[str, md.Distribution]:
    """The installed distributions `roots` need (markers evaluated without extras)."""
    found: dict[str, md.Distribution] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in found:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError as exc:
            if name in roots:
                raise SandboxError(
                    f"{name} is not installed in this Python",
                    fix=f"pip install {name} (a runtime dependency)",
                ) from exc
            continue
        found[key] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return found


def _readable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IROTH)


def _place(src: Path, dst: Path) -> None:
    """Hard-link `src` at `dst` when it is world-readable, else copy it readable."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if _readable(src):
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)
    dst.chmod(dst.stat().st_mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _stdlib_files(stdlib: Path) -> list[Path]:
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(stdlib):
        if Path(dirpath) == stdlib:
            dirnames[:] = [d for d in dirnames if d not in _SKIP_STDLIB]
        out += [Path(dirpath, name) for name in filenames]
    return out


def _build(target: Path, version: str, dists: dict[str, md.Distribution], extra: dict[str, str]) -> None:
    _place(Path(os.path.realpath(sys.executable)), target / "bin" / f"python{version}")
    soname = sysconfig.get_config_var("INSTSONAME")
    libdir = sysconfig.get_config_var("LIBDIR")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and soname and libdir and Path(libdir, soname).exists():
        _place(Path(libdir, soname), target / "lib" / soname)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    lib = target / "lib" / f"python{version}"
    for src in _stdlib_files(stdlib):
        if not src.is_symlink():
            _place(src, lib / src.relative_to(stdlib))
    site = lib / "site-packages"
    for dist in dists.values():
        for rel in dist.files or []:
            src = Path(str(dist.locate_file(rel)))
            if ".." not in Path(rel).parts and src.is_file():
                _place(src, site / rel)
    for name, source in extra.items():
        (site / name).write_text(source, encoding="utf-8")
    compileall.compile_dir(site, quiet=2, workers=1)
    for dirpath, _, _ in os.walk(target):
        os.chmod(dirpath, 0o755)


def _check_dir(base: Path) -> None:
    """`base` must be ours, not writable by others, and reachable by every user (o+x on each ancestor)."""
    st = base.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise SandboxError(
            f"the sandbox runtime folder {base} is not a private directory of this user",
            fix=f"remove {base} (it may have been planted) or pass another runtime folder",
        )
    for parent in [base, *base.parents]:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise SandboxError(
                f"the sandbox runtime folder {base} is not reachable by other users ({parent} lacks o+x)",
                fix="choose a runtime folder outside private home directories, e.g. /var/cache/ideamine",
            )


def default_runtime_dir() -> Path:
    """`/var/cache/ideamine/sandbox` when it can be created, else `<tmp>/ideamine-sandbox-<uid>`."""
    for candidate in (
        Path("/var/cache/ideamine/sandbox"),
        Path(tempfile.gettempdir()) / f"ideamine-sandbox-{os.geteuid()}",
    ):
        try:
            candidate.mkdir(mode=0o755, parents=True, exist_ok=True)
            _check_dir(candidate)
            return candidate
        except (OSError, SandboxError):
            continue
    raise SandboxError(
        "no folder for the sandbox runtime can be created",
        fix="make /var/cache/ideamine writable for this user",
    )


def ensure_runtime(
    base_dir: Path | None = None, extra_modules: dict[str, str] | None = None
) -> PythonRuntime:
    """The runtime for this interpreter and the installed pytest/coverage, built on first use.

    `extra_modules` maps a module file name ('ideamine_qa_plugin.py') to its source; it is part of the key.
    """
    base = base_dir or default_runtime_dir()
    base.mkdir(mode=0o755, parents=True, exist_ok=True)
    _check_dir(base)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    dists = _closure(ROOTS)
    extra = dict(sorted((extra_modules or {}).items()))
    packages = {key: dist.version for key, dist in sorted(dists.items())}
    key_src = {"python": sys.version, "exe": os.path.realpath(sys.executable), "packages": packages}
    key_src["extra"] = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in extra.items()}
    key = hashlib.sha256(json.dumps(key_src, sort_keys=True).encode()).hexdigest()[:16]
    target = base / f"python{version}-{key}"
    if not (target / _MARKER).exists():
        tmp = base / f".build-{key}-{secrets.token_hex(4)}"
        try:
            _build(tmp, version, dists, extra)
            (tmp / _MARKER).write_text(json.dumps(key_src, indent=1), encoding="utf-8")
            try:
                os.rename(tmp, target)
            except OSError:
                if not (target / _MARKER).exists():
                    raise
        except OSError as exc:
            raise SandboxError(
                f"cannot build the sandbox runtime in {base}: {exc}",
                fix="free disk space or pass another folder",
            ) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return PythonRuntime(prefix=target, version=version, packages=packages)
