"""Workspace path policy: which proposed file paths may be written, and writing them without following links.

The rule, applied to every path a model or a rule proposes (lexical checks first, then the filesystem):

- a non-empty ``str`` of at most 4096 UTF-8 bytes, relative (no leading ``/`` or ``~``), ``/``-separated
  (no backslash), without NUL or other control characters and without invisible format characters
  (zero-width, bidi controls, Unicode tags);
- normalised to NFC first; then every character must be an ASCII letter or digit, one of ``. _ - + @ = ,``,
  an inner space, or a Latin letter whose canonical decomposition is an ASCII letter plus combining marks
  (``é``, ``ñ``). Everything else is rejected: compatibility forms (fullwidth ``ａ``, ligatures, the
  fullwidth solidus), letters of other scripts that look like Latin ones (Cyrillic ``а``, Greek ``ο``)
  and punctuation outside the list (``: * ? " < > |`` ...);
- ``.`` and empty components are dropped (``./a//b`` is ``a/b``); ``..`` is rejected, as are a trailing
  ``/``, components over 255 bytes, more than 32 components, components that start with ``-`` or a space
  or end with ``.`` or a space, Windows device names (``CON``, ``nul.txt``, ``COM1``...) and ``.git``;
- when writing: every directory on the way is opened with ``O_NOFOLLOW`` relative to its parent's file
  descriptor (a planted symlink anywhere fails), the target must not be a symlink, a directory, a special
  file or a hard link, and the content is written to a temporary file that is renamed over the target.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import string
import unicodedata
from dataclasses import dataclass

from ideamine_core.errors import PathPolicyError

__all__ = ["PathPolicy", "check_path"]

MAX_PATH_BYTES = 4096
MAX_COMPONENT_BYTES = 255
MAX_DEPTH = 32
MAX_FILE_BYTES = 2_000_000

_PORTABLE = frozenset(string.ascii_letters + string.digits + "._-+@=,")
_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$", "clock$"}
    | {f"{kind}{n}" for kind in ("com", "lpt") for n in [*"0123456789", "¹", "²", "³"]}
)
_FIX = "propose a relative path inside the workspace such as 'pkg/module.py' (letters, digits, '._-')"


def _reject(path: object, rule: str, reason: str, fix: str = _FIX) -> PathPolicyError:
    return PathPolicyError(path, rule, reason, fix=fix)


def _char_rule(ch: str) -> tuple[str, str] | None:
    """(rule, reason) when a character of an NFC path is not allowed, else None."""
    if ch in _PORTABLE or ch in " /":
        return None
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "unnamed")
    category = unicodedata.category(ch)
    if category in ("Cf", "Zl", "Zp") or 0xFE00 <= ord(ch) <= 0xFE0F or 0xE0100 <= ord(ch) <= 0xE01EF:
        return "invisible_character", f"it contains the invisible character {code} ({name})"
    base = unicodedata.normalize("NFD", ch)
    if name.startswith("LATIN ") and base[0] in string.ascii_letters:
        if all(unicodedata.category(c) == "Mn" for c in base[1:]):
            return None
    if unicodedata.normalize("NFKC", ch) != ch:
        return "lookalike_character", f"{code} ({name}) is a compatibility form of another character"
    if category.startswith("L") or category.startswith("N"):
        return "lookalike_character", f"{code} ({name}) is not an ASCII or accented Latin character"
    return "character_not_allowed", f"the character {code} ({name}) is not allowed in workspace paths"


def _lexical(path: object) -> str:
    """Checks that do not depend on the component split; returns the NFC form."""
    if not isinstance(path, str):
        raise _reject(path, "not_a_string", f"a path must be a string, not {type(path).__name__}")
    if not path.strip():
        raise _reject(path, "empty", "the path is empty")
    if "\x00" in path:
        raise _reject(path, "nul_byte", "it contains a NUL byte")
    if any(unicodedata.category(c) == "Cc" for c in path):
        raise _reject(path, "control_character", "it contains a control character")
    if "\\" in path:
        raise _reject(path, "backslash", "it contains a backslash; use '/' between directories")
    if path.startswith("/"):
        raise _reject(path, "absolute", "it is absolute; paths are relative to the workspace root")
    if path.startswith("~"):
        raise _reject(path, "home_directory", "it starts with '~' (a home directory)")
    if len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        raise _reject(path, "path_too_long", f"it is longer than {MAX_PATH_BYTES} bytes")
    nfc = unicodedata.normalize("NFC", path)
    for ch in dict.fromkeys(nfc):
        found = _char_rule(ch)
        if found is not None:
            raise _reject(path, *found)
    return nfc


def _component(path: str, part: str) -> None:
    if part == "..":
        raise _reject(path, "parent_reference", "it contains '..', which leaves the directory")
    if len(part.encode()) > MAX_COMPONENT_BYTES:
        raise _reject(path, "name_too_long", f"a component is longer than {MAX_COMPONENT_BYTES} bytes")
    if part.startswith(("-", " ")) or part.endswith((".", " ")):
        raise _reject(
            path,
            "ambiguous_name",
            f"the component {part[:40]!r} starts with '-' or a space, or ends with '.' or a space",
        )
    if part.split(".")[0].rstrip(" ").casefold() in _DEVICES:
        raise _reject(path, "device_name", f"{part[:40]!r} is a reserved Windows device name")
    if part.casefold() == ".git":
        raise _reject(
            path, "git_metadata", "it writes into .git, which only IdeaMine's commits may change", fix=_FIX
        )


def check_path(path: object) -> str:
    """The canonical form of a proposed workspace path; PathPolicyError naming the broken rule otherwise."""
    nfc = _lexical(path)
    if nfc.endswith("/"):
        raise _reject(path, "directory", "it ends with '/', which names a directory, not a file")
    parts = [p for p in nfc.split("/") if p not in ("", ".")]
    if not parts:
        raise _reject(path, "empty", "the path names the workspace root itself")
    if len(parts) > MAX_DEPTH:
        raise _reject(path, "too_deep", f"it has more than {MAX_DEPTH} components")
    for part in parts:
        _component(str(path), part)
    return "/".join(parts)


@dataclass(frozen=True)
class PathPolicy:
    """The path policy plus its filesystem side: write and delete files under a root, links never followed."""

    max_file_bytes: int = MAX_FILE_BYTES
    """Largest file content accepted, in bytes."""

    def check(self, path: object) -> str:
        """The canonical form of `path` (see `check_path`)."""
        return check_path(path)

    def write(self, root: str | os.PathLike[str], path: object, data: bytes) -> str:
        """Write `data` at `path` under `root` (a trusted directory); returns the canonical path."""
        rel = self.check(path)
        if len(data) > self.max_file_bytes:
            raise _reject(path, "file_too_large", f"the content is over {self.max_file_bytes} bytes")
        *dirs, name = rel.split("/")
        fd = _open_root(root)
        try:
            for part in dirs:
                fd = _enter(fd, part, path, create=True)
            _check_target(fd, name, path)
            _replace(fd, name, data)
        except OSError as exc:
            raise _os_error(path, exc) from exc
        finally:
            os.close(fd)
        return rel

    def read(self, root: str | os.PathLike[str], path: object) -> bytes | None:
        """The content of the regular file at `path` under `root`, links never followed; None if absent."""
        rel = self.check(path)
        *dirs, name = rel.split("/")
        fd = _open_root(root)
        try:
            for part in dirs:
                fd = _enter(fd, part, path, create=False)
            if not _check_target(fd, name, path):
                return None
            file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            with os.fdopen(file_fd, "rb") as fh:
                return fh.read(self.max_file_bytes + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(path, exc) from exc
        finally:
            os.close(fd)

    def delete(self, root: str | os.PathLike[str], path: object) -> bool:
        """Remove the regular file at `path` under `root`; False when it does not exist."""
        rel = self.check(path)
        *dirs, name = rel.split("/")
        fd = _open_root(root)
        try:
            for part in dirs:
                fd = _enter(fd, part, path, create=False)
            if not _check_target(fd, name, path):
                return False
            os.unlink(name, dir_fd=fd)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _os_error(path, exc) from exc
        finally:
            os.close(fd)


def _open_root(root: str | os.PathLike[str]) -> int:
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _enter(parent: int, part: str, path: object, *, create: bool) -> int:
    """The fd of directory `part` under `parent`, opened without following a link; `parent` is then closed.

    On error `parent` stays open (the caller's `finally` closes it).
    """
    child = _open_dir(parent, part, path, create=create)
    os.close(parent)
    return child


def _open_dir(parent: int, part: str, path: object, *, create: bool) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        try:
            return os.open(part, flags, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(part, 0o755, dir_fd=parent)
            except FileExistsError:
                pass
            return os.open(part, flags, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            _check_target(parent, part, path, directory=True)
        raise


def _check_target(dir_fd: int, name: str, path: object, *, directory: bool = False) -> bool:
    """Whether `name` exists; PathPolicyError if it is a symlink, a hard link or the wrong kind of file."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        raise _reject(
            path,
            "symlink",
            f"{name[:40]!r} is a symbolic link in the workspace; links are never followed",
            fix="remove the link from the workspace, or write the file under another path",
        )
    if directory and not stat.S_ISDIR(st.st_mode):
        raise _reject(path, "not_a_directory", f"{name[:40]!r} is a file, not a directory")
    if not directory and stat.S_ISDIR(st.st_mode):
        raise _reject(path, "is_a_directory", f"{name[:40]!r} is a directory")
    if not directory and not stat.S_ISREG(st.st_mode):
        raise _reject(path, "special_file", f"{name[:40]!r} is a device, socket or pipe")
    if not directory and st.st_nlink > 1:
        raise _reject(path, "hard_link", f"{name[:40]!r} is a hard link shared with another path")
    return True


def _replace(dir_fd: int, name: str, data: bytes) -> None:
    tmp = f".ideamine-{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        raise


def _os_error(path: object, exc: OSError) -> PathPolicyError:
    """A filesystem refusal as a policy error (the file system is the last line of the policy)."""
    rules = {errno.ENAMETOOLONG: "path_too_long", errno.ELOOP: "symlink", errno.ENOTDIR: "not_a_directory"}
    rule = rules.get(exc.errno or 0, "filesystem_error")
    return _reject(path, rule, f"the file system refused it: {exc.strerror or exc}")
