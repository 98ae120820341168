"""The workspace path policy: hostile paths are refused with a named rule, legitimate ones are written inside.

RELIABILITY test 20: hypothesis proposes hostile paths (``..``, absolute, sibling prefixes, planted
symlinks, NUL, backslashes, look-alike Unicode, normalisation forms, long names, device names); no file
may appear outside the workspace, every refusal is a `PathPolicyError` with a rule and a fix, and a
1,000-path legitimate corpus is accepted in full. (10,000 cases: ``bench/path_policy_fuzz.py``.)
"""

from __future__ import annotations

import os
import random
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ideamine_core.errors import PathPolicyError
from ideamine_core.workspace.policy import PathPolicy, check_path


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("../x.py", "parent_reference"),  # leaves the workspace
        ("a/../../b.py", "parent_reference"),  # leaves it from a subdirectory
        ("../workspace_evil/x.py", "parent_reference"),  # sibling-prefix directory
        ("/etc/passwd", "absolute"),  # absolute path
        ("//server/share/x", "absolute"),  # UNC-like absolute path
        ("~/.bashrc", "home_directory"),  # home directory
        ("a\\..\\b.py", "backslash"),  # Windows separator
        ("C:/x.py", "character_not_allowed"),  # drive letter
        ("a\x00b.py", "nul_byte"),  # NUL byte
        ("a\nb.py", "control_character"),  # newline in a name
        ("a\u200bb.py", "invisible_character"),  # zero-width space
        ("a\u202eyp.b", "invisible_character"),  # right-to-left override (Trojan Source)
        ("x\U000e0041.py", "invisible_character"),  # Unicode tag character
        ("ｐkg/x.py", "lookalike_character"),  # fullwidth letter
        ("pkg\uff0fx.py", "lookalike_character"),  # fullwidth solidus
        ("pаyments.py", "lookalike_character"),  # Cyrillic a
        ("\u2024\u2024/x.py", "lookalike_character"),  # one-dot leaders that look like '..'
        ("ﬁle.py", "lookalike_character"),  # ligature
        ("CON", "device_name"),  # Windows device
        ("docs/nul.txt", "device_name"),  # device with an extension
        ("com1.py", "device_name"),  # serial port
        (".git/config", "git_metadata"),  # git metadata
        ("sub/.GIT/hooks/pre-commit", "git_metadata"),  # case variant
        (".git", "git_metadata"),  # a .git file redirecting the git dir
        ("x" * 256 + ".py", "name_too_long"),  # component over 255 bytes
        ("a/" * 2100 + "b", "path_too_long"),  # path over 4096 bytes
        ("a/" * 33 + "b.py", "too_deep"),  # over 32 components
        ("-rf", "ambiguous_name"),  # reads as a command-line option
        ("notes.", "ambiguous_name"),  # trailing dot (Windows strips it)
        ("pkg/ x.py", "ambiguous_name"),  # leading space
        ("pkg/", "directory"),  # a directory, not a file
        ("", "empty"),  # empty
        ("./", "directory"),  # the root itself
        ("a*b?.py", "character_not_allowed"),  # shell/Windows wildcard
        (b"x.py", "not_a_string"),  # bytes, not text
    ],
)
def test_hostile_paths_are_refused_with_a_named_rule(path: object, rule: str) -> None:
    with pytest.raises(PathPolicyError) as info:
        check_path(path)
    assert info.value.rule == rule
    text = info.value.explain()
    assert f"[{rule}]" in text and "Fix:" in text


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("pkg/models.py", "pkg/models.py"),  # plain
        ("./README.md", "README.md"),  # leading ./
        ("a//b/./c.py", "a/b/c.py"),  # empty and . components
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),  # hidden directory
        ("docs/User Guide.md", "docs/User Guide.md"),  # inner space
        ("caf\u0065\u0301/menu.md", "caf\u00e9/menu.md"),  # NFD normalised to NFC
        ("src/c++/x@2=ok,v.txt", "src/c++/x@2=ok,v.txt"),  # allowed punctuation
        ("console.py", "console.py"),  # 'con' only as a whole stem is a device
    ],
)
def test_legitimate_paths_get_a_canonical_form(path: str, canonical: str) -> None:
    assert check_path(path) == canonical


def _legit_corpus(n: int, seed: int = 20) -> list[str]:
    """n distinct realistic project paths (code, tests, docs, config, accented names)."""
    rng = random.Random(seed)
    dirs = ["", "src/", "pkg/", "pkg/api/", "tests/", "tests/unit/", "docs/", ".github/workflows/", "css/"]
    stems = ["models", "service", "api", "utils", "test_orders", "README", "config", "café", "Ünïcode-notes"]
    exts = [".py", ".md", ".txt", ".yml", ".json", ".toml", ".cfg", ".min.css", ""]
    out: set[str] = set()
    while len(out) < n:
        stem = rng.choice(stems) + rng.choice(["", "_v2", "-old", str(rng.randrange(1000)), " copy"])
        out.add(unicodedata.normalize("NFC", rng.choice(dirs) + stem + rng.choice(exts)))
    return sorted(out)


def test_a_thousand_legitimate_paths_are_written_inside(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    root.mkdir()
    corpus = _legit_corpus(1000)
    rejected = []
    for path in corpus:
        try:
            PathPolicy().write(root, path, path.encode())
        except PathPolicyError as exc:
            rejected.append(exc.explain())
    written = [p for p in root.rglob("*") if p.is_file()]
    print(
        f"path-policy legit corpus: paths={len(corpus)} wrongly_rejected={len(rejected)} files={len(written)}"
    )
    assert rejected == [] and len(written) == 1000
    assert all((root / p).read_text() == p for p in corpus)


# --- the filesystem side: links and special files ------------------------------------------------


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path]:
    """(workspace root, an outside directory) with symlinks planted in the workspace pointing outside."""
    root, outside = tmp_path / "workspace", tmp_path / "workspace_evil"
    root.mkdir()
    outside.mkdir()
    (outside / "target.txt").write_text("outside")
    os.symlink(outside, root / "dirlink")
    os.symlink(outside / "target.txt", root / "filelink.txt")
    os.symlink("../workspace_evil", root / "rel")
    (root / "pkg").mkdir()
    os.symlink("/etc", root / "pkg" / "etc")
    return root, outside


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("dirlink/x.py", "symlink"),  # symlinked directory as the first component
        ("rel/x.py", "symlink"),  # relative symlink to a sibling
        ("pkg/etc/passwd", "symlink"),  # symlink deeper in the path
        ("filelink.txt", "symlink"),  # final component is a symlink to an outside file
    ],
)
def test_planted_symlinks_are_never_followed(box: tuple[Path, Path], path: str, rule: str) -> None:
    root, outside = box
    with pytest.raises(PathPolicyError) as info:
        PathPolicy().write(root, path, b"evil")
    assert info.value.rule == rule
    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
    assert (outside / "target.txt").read_text() == "outside"


def test_hard_links_fifos_and_directories_are_refused(box: tuple[Path, Path]) -> None:
    root, outside = box
    os.link(outside / "target.txt", root / "hard.txt")
    os.mkfifo(root / "pipe")
    (root / "adir").mkdir()
    policy = PathPolicy()
    for path, rule in [("hard.txt", "hard_link"), ("pipe", "special_file"), ("adir", "is_a_directory")]:
        with pytest.raises(PathPolicyError) as info:
            policy.write(root, path, b"x")
        assert info.value.rule == rule, path
    with pytest.raises(PathPolicyError) as info:
        policy.write(root, "hard.txt/x.py", b"x")
    assert info.value.rule == "not_a_directory"
    assert (outside / "target.txt").read_text() == "outside"


def test_read_delete_and_size_limit_go_through_the_policy(box: tuple[Path, Path]) -> None:
    root, _ = box
    policy = PathPolicy(max_file_bytes=10)
    assert policy.write(root, "./pkg/a.py", b"x = 1") == "pkg/a.py"
    assert policy.read(root, "pkg/a.py") == b"x = 1" and policy.read(root, "pkg/none.py") is None
    with pytest.raises(PathPolicyError, match="symlink"):
        policy.read(root, "filelink.txt")
    with pytest.raises(PathPolicyError) as info:
        policy.write(root, "big.txt", b"x" * 11)
    assert info.value.rule == "file_too_large"
    assert policy.delete(root, "pkg/a.py") and not policy.delete(root, "pkg/a.py")
    with pytest.raises(PathPolicyError):
        policy.delete(root, "dirlink/target.txt")


# --- RELIABILITY test 20: hypothesis fuzz ----------------------------------------------------------

_PIECES = [
    "..",
    ".",
    "",
    "/",
    "\\",
    "\x00",
    "~",
    "dirlink",
    "rel",
    "filelink.txt",
    "workspace_evil",
    "workspace",
    ".git",
    "CON",
    "nul.txt",
    "COM1",
    "ｐ",
    "а",
    "\u2024",
    "\u200b",
    "\U000e0041",
    "e\u0301",
    "x" * 300,
    "ok",
    "pkg",
    "a.py",
    "..\\..",
    "%2e%2e",
    ":",
    "\u202e",
    "/etc/passwd",
    "../workspace_evil/x",
]
_paths = st.one_of(
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=8).map("/".join),
    st.lists(st.sampled_from(_PIECES), min_size=1, max_size=4).map("".join),
    st.text(min_size=1, max_size=60),
    st.text(alphabet="./\\~x-", min_size=1, max_size=12),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths)
def test_fuzzed_paths_never_create_files_outside(box: tuple[Path, Path], path: str) -> None:
    root, outside = box
    before = sorted(p.name for p in root.parent.iterdir())
    try:
        written = PathPolicy().write(root, path, b"fuzz")
    except PathPolicyError as exc:
        assert exc.rule and "Fix:" in exc.explain()
    else:
        target = Path(os.path.realpath(root / written))
        assert target.is_relative_to(root) and target.read_bytes() == b"fuzz"
    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
    assert sorted(p.name for p in root.parent.iterdir()) == before
