"""Which files an input reads: ``paths`` globs minus ``exclude`` globs, and where to watch.

Owns the glob semantics (a small engine rather than ``glob.glob`` so that scanning and matching
an inotify event's path agree exactly): ``*``, ``?`` and ``[...]`` match within one path
component, ``**`` matches zero or more directories, and like a shell a wildcard does not match
a leading ``.`` unless the pattern component starts with one. Symlinks are followed (a file
reached through several links is one file: the input dedupes by identity); directory loops under
``**`` are detected by device + inode and not entered twice; a symlink loop on a file is
reported. ``exclude`` patterns without ``/`` match the file's base name, others the full path.

The finder does no I/O beyond ``scandir``/``stat`` and never logs: problems come back in the
scan result so the input can log each once and count it.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from dataclasses import dataclass, field

_MAGIC = re.compile(r"[*?\[]")


def _component_regex(component: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(component))


@dataclass(slots=True)
class ScanResult:
    """Regular files found (path → stat, symlinks followed) and problems met on the way.

    ``problems`` holds ``(reason, path, detail)``; reason is one of ``missing_dir``,
    ``permission``, ``symlink_loop``, ``io``.
    """

    files: dict[str, os.stat_result] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)


class GlobPattern:
    """One ``paths``/``exclude`` pattern split into a literal base directory and components."""

    __slots__ = ("base", "parts", "pattern", "recursive")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        path = os.path.abspath(os.path.expanduser(pattern))
        components = [c for c in path.split(os.sep) if c]
        base: list[str] = []
        while components and not _MAGIC.search(components[0]) and len(components) > 1:
            base.append(components.pop(0))
        self.base = os.sep + os.sep.join(base)
        parts: list[str | re.Pattern[str]] = []
        for comp in components:
            if comp == "**":
                if not parts or parts[-1] != "**":
                    parts.append("**")
            elif _MAGIC.search(comp):
                parts.append(_component_regex(comp))
            else:
                parts.append(comp)
        if parts and parts[-1] == "**":
            parts.append(_component_regex("*"))
        self.parts = parts
        # Events below the base directory itself are only needed when a directory component
        # follows it.
        self.recursive = len(parts) > 1

    # ---- matching a path (inotify events, excludes) ---------------------------------------

    def matches(self, path: str) -> bool:
        if self.base != os.sep:
            prefix = self.base + os.sep
            if not path.startswith(prefix):
                return False
            rest = path[len(prefix) :]
        else:
            rest = path.lstrip(os.sep)
        return self._match(rest.split(os.sep), 0, 0)

    def _match(self, comps: list[str], ci: int, pi: int) -> bool:
        parts = self.parts
        while pi < len(parts):
            part = parts[pi]
            if part == "**":
                # zero or more directories, never the last component (the file itself)
                for skip in range(ci, len(comps)):
                    if skip > ci and comps[skip - 1].startswith("."):
                        break
                    if self._match(comps, skip, pi + 1):
                        return True
                return False
            if ci >= len(comps):
                return False
            name = comps[ci]
            if isinstance(part, str):
                if name != part:
                    return False
            elif not _name_matches(part, name):
                return False
            ci += 1
            pi += 1
        return ci == len(comps)

    # ---- scanning -------------------------------------------------------------------------

    def scan(self, result: ScanResult) -> None:
        if not os.path.isdir(self.base):
            result.problems.append(("missing_dir", self.base, "directory does not exist"))
            return
        self._walk(self.base, 0, result, set())

    def _walk(
        self, directory: str, pi: int, result: ScanResult, visited: set[tuple[int, int]]
    ) -> None:
        """Match ``parts[pi:]`` below ``directory``: ``**``, a literal name, or a wildcard."""
        part = self.parts[pi]
        if part == "**":
            self._walk_any_depth(directory, pi, result, visited)
            return
        last = pi == len(self.parts) - 1
        if isinstance(part, str):
            path = os.path.join(directory, part)
            if last:
                _add_file(path, result)
            elif os.path.isdir(path):
                self._walk(path, pi + 1, result, visited)
            return
        for entry in self._entries(directory, result):
            if not _name_matches(part, entry.name):
                continue
            if last:
                _add_file(entry.path, result)
            elif _is_dir(entry):
                self._walk(entry.path, pi + 1, result, visited)

    def _walk_any_depth(
        self, directory: str, pi: int, result: ScanResult, visited: set[tuple[int, int]]
    ) -> None:
        """``**``: the rest matched here and in every visible subdirectory, each visited once
        (a symlink loop is walked no further than its first visit)."""
        try:
            st = os.stat(directory)
        except OSError:
            return
        ident = (st.st_dev, st.st_ino)
        if ident in visited:
            return
        visited.add(ident)
        self._walk(directory, pi + 1, result, visited)
        for entry in self._entries(directory, result):
            if entry.name.startswith(".") or not _is_dir(entry):
                continue
            self._walk(entry.path, pi, result, visited)

    @staticmethod
    def _entries(directory: str, result: ScanResult) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as it:
                return sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return []
        except PermissionError as exc:
            result.problems.append(("permission", directory, exc.strerror or "permission denied"))
        except OSError as exc:
            result.problems.append(("io", directory, exc.strerror or str(exc)))
        return []


def _name_matches(regex: re.Pattern[str], name: str) -> bool:
    if name.startswith(".") and not regex.pattern.startswith(r"(?s:\."):
        return False
    return regex.match(name) is not None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows symlinks
    except OSError:
        return False


def _add_file(path: str, result: ScanResult) -> None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except PermissionError as exc:
        result.problems.append(("permission", path, exc.strerror or "permission denied"))
        return
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            result.problems.append(("symlink_loop", path, "too many levels of symbolic links"))
        else:
            result.problems.append(("io", path, exc.strerror or str(exc)))
        return
    if stat.S_ISREG(st.st_mode):
        result.files[path] = st


class Finder:
    """All ``paths`` patterns of one input, minus its ``exclude`` patterns."""

    def __init__(
        self, paths: tuple[str, ...] | list[str], exclude: tuple[str, ...] | list[str] = ()
    ) -> None:
        self.patterns = [GlobPattern(p) for p in paths]
        self._exclude_paths = [GlobPattern(p) for p in exclude if os.sep in p]
        self._exclude_names = [re.compile(fnmatch.translate(p)) for p in exclude if os.sep not in p]

    def excluded(self, path: str) -> bool:
        name = os.path.basename(path)
        if any(rx.match(name) for rx in self._exclude_names):
            return True
        return any(p.matches(path) for p in self._exclude_paths)

    def matches(self, path: str) -> bool:
        """Whether ``path`` (absolute, as an event reports it) is one the input should read."""
        return any(p.matches(path) for p in self.patterns) and not self.excluded(path)

    def scan(self) -> ScanResult:
        result = ScanResult()
        for pattern in self.patterns:
            pattern.scan(result)
        for path in [p for p in result.files if self.excluded(p)]:
            del result.files[path]
        return result

    def watch_roots(self) -> dict[str, bool]:
        """Directories to watch for events → whether recursively (existing ones only)."""
        roots: dict[str, bool] = {}
        for pattern in self.patterns:
            if os.path.isdir(pattern.base):
                roots[pattern.base] = roots.get(pattern.base, False) or pattern.recursive
        # A directory already covered by a recursive watch of an ancestor needs no watch.
        recursive = [d for d, r in roots.items() if r]
        return {
            d: r
            for d, r in roots.items()
            if not any(d != a and d.startswith(a.rstrip(os.sep) + os.sep) for a in recursive)
        }
