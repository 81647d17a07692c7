"""Rotation recovery of the file input: copies left by copytruncate, identities moved while stopped.

The input (input.py) follows renames and notices truncation by itself; this module owns what
goes beyond following a path, always looking only at the *siblings* of a file (same directory,
name starting with the file's name, not compressed, at most ``MAX_SIBLINGS`` of them):

* **copytruncate, live.** A new file whose first bytes hold the whole fingerprint of a file
  being followed in the same directory is a copy of it: it is *parked* (not read) until the
  original is truncated. Then the copy (or, when none is followed, a sibling found by its first
  bytes and a size >= the read offset) is read from where the original's reading stopped, and
  the truncated file from 0 after it. No copy at all: a warning names the file and the byte
  range known to be unread, counted as ``input_errors_total{reason="truncated_unread"}``.
* **While stopped.** A checkpointed identity whose path now holds another file (rename
  rotations while the agent was down), or whose file was truncated (copytruncate while down),
  is looked for among the siblings — by device + inode + fingerprint, or by fingerprint and
  size for a copy — and finished from its checkpoint. Siblings modified after it that the agent
  never saw (intermediate generations) are read whole, oldest first; the file now at the path
  waits for them, so lines stay in order. When every checkpointed file of a path is gone
  (rotation deleted it), a counted warning names it, and the siblings no checkpoint knows that
  were modified after its ``saved_at`` are read whole the same way.

A recovered file outside the globs is read to its end and then let go, like a renamed file;
inside the globs it is followed as usual.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

import structlog

from logflux_agent.inputs.file.identity import Fingerprint, Match, Saved, stream_key
from logflux_agent.inputs.file.tailer import Tailer
from logflux_agent.observe import metrics

if TYPE_CHECKING:
    from logflux_agent.inputs.file.input import FileInput

log = structlog.get_logger(__name__)

# At most this many siblings of one file are looked at (the most recently modified ones).
MAX_SIBLINGS = 16
# A fingerprint shorter than this is too weak to call another file a copy of it.
MIN_COPY_FINGERPRINT = 64
# Entries of files absent this many rescans (and at least GC_MIN_SECONDS) are dropped (by the
# checkpointer, from what input.py reports present).
GC_RESCANS = 3
GC_MIN_SECONDS = 30.0
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4", ".z")


def siblings(path: str, limit: int = MAX_SIBLINGS) -> list[tuple[str, os.stat_result]]:
    """Regular files next to ``path`` whose name starts with its name, oldest first."""
    directory, name = os.path.split(path)
    found: list[tuple[str, os.stat_result]] = []
    try:
        with os.scandir(directory or ".") as entries:
            for entry in entries:
                other = entry.name
                if other == name or not other.startswith(name):
                    continue
                if other.lower().endswith(_COMPRESSED):
                    continue
                try:
                    st = os.stat(entry.path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    found.append((entry.path, st))
    except OSError:
        return []
    found.sort(key=lambda item: item[1].st_mtime_ns)
    return found[-limit:]


def read_head(path: str, size: int) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        return os.pread(fd, size, 0)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _found_again(saved: Saved, base: str) -> tuple[str, os.stat_result] | None:
    """The sibling of ``base`` that is ``saved``'s file: device + inode + fingerprint."""
    for path, sib in siblings(base):
        if (sib.st_dev, sib.st_ino) == (saved.dev, saved.ino):
            fp = saved.fingerprint
            if fp.compare(read_head(path, fp.length)) is Match.SAME:
                return path, sib
    return None


class Rotation:
    """Sibling search and copy handling for one ``FileInput`` (it calls in; this reaches back)."""

    def __init__(self, owner: FileInput) -> None:
        self._in = owner
        # The last recovered generation of a path: the file found there next waits for it.
        self.chain: dict[str, Tailer] = {}

    # ---- copytruncate, live -----------------------------------------------------------------

    def parks(self, tailer: Tailer) -> bool:
        """Whether a new file must wait: it is (or may become) a copy of a followed file."""
        if tailer.path is None:  # renamed away before its first bytes: it is no copy
            tailer.copy_check = False
            return False
        head = tailer.head(self._in.config.fingerprint_bytes)
        if not head:
            return False  # nothing to read yet; look again once it has bytes
        directory = os.path.dirname(tailer.path)
        for other in self._in._by_ident.values():
            fp = other.fingerprint
            if (
                other is tailer
                or other.path is None
                or len(fp) < MIN_COPY_FINGERPRINT
                or os.path.dirname(other.path) != directory
            ):
                continue
            if head.startswith(fp):
                tailer.parked_for = other
                tailer.at_eof = True
                log.info(
                    "file.copy_parked", input=self._in.config.id, path=tailer.path, of=other.source
                )
                return True
        tailer.copy_check = False
        return False

    def on_truncated(
        self,
        tailer: Tailer,
        at: int,
        mid: str | None,
        fingerprint: bytes | Fingerprint,
        *,
        live: bool = True,
    ) -> bool:
        """``tailer``'s content is gone after ``at``: continue in its copy. True if found.

        ``live``: noticed while running (what was unread is known), not at a start.
        """
        if tailer.shrinks > 1:
            log.warning(
                "file.truncated_repeatedly",
                input=self._in.config.id,
                path=tailer.source,
                truncations=tailer.shrinks,
                detail="truncated several times before it could be read again; generations "
                "in between exist only in their copies",
            )
        copy = self._copy_of(tailer, at, fingerprint)
        self._settle_parked(tailer, None if copy is None else copy[1])
        if copy is None:
            unread = (tailer.offset, max(tailer.known_size, tailer.offset))
            if live and unread[1] > unread[0]:
                metrics.INPUT_ERRORS.labels(
                    input=self._in.config.id, reason="truncated_unread"
                ).inc()
                log.warning(
                    "file.truncated_unread",
                    input=self._in.config.id,
                    path=tailer.source,
                    lost_from=unread[0],
                    lost_to=unread[1],
                    detail="truncated before these bytes were read and no copy found next to it",
                )
                # A fact for the receipt ledger (the checkpointer records it; nothing written here).
                self._in._positions.gap(tailer.stream, unread[0], unread[1], "truncated_unread")
            return False
        path, st = copy
        committed = tailer.stream.offset
        resume_at = min(committed if committed is not None else at, at)
        found = self._in._by_ident.get((st.st_dev, st.st_ino))
        if found is not None:
            self._continue(found, at, mid, resume_at)
        else:
            found = self.adopt(path, st, at, mid, committed=resume_at, source=tailer.source)
            if found is None:
                return False
        tailer.after = found
        log.info(
            "file.truncated_copy_found",
            input=self._in.config.id,
            path=tailer.source,
            copy=path,
            offset=at,
        )
        return True

    def _settle_parked(self, tailer: Tailer, chosen: os.stat_result | None) -> None:
        """Copies parked for ``tailer`` other than ``chosen`` hold only what it read: skip them.

        Recorded at their end, so a restart does not take them for new files either.
        """
        for other in list(self._in._by_ident.values()):
            if other.parked_for is not tailer:
                continue
            if chosen is not None and (other.dev, other.ino) == (chosen.st_dev, chosen.st_ino):
                continue
            try:
                size = other.size() if other.fd is not None else other.known_size
            except OSError:
                continue
            self._continue(other, size, None, size)

    def release_parked(self, tailer: Tailer) -> None:
        """``tailer`` is gone: its parked copies go on after what it already read."""
        for other in list(self._in._by_ident.values()):
            if other.parked_for is tailer:
                try:
                    size = other.size() if other.fd is not None else tailer.emitted_end
                except OSError:
                    size = tailer.emitted_end
                at = min(size, tailer.emitted_end)
                self._continue(other, at, None, at)

    def _copy_of(
        self, tailer: Tailer, at: int, fingerprint: bytes | Fingerprint
    ) -> tuple[str, os.stat_result] | None:
        if isinstance(fingerprint, bytes):
            fingerprint = Fingerprint.of(fingerprint)
        if fingerprint.length < MIN_COPY_FINGERPRINT:
            return None
        best: tuple[str, os.stat_result] | None = None
        for path, st in siblings(tailer.source):
            if (st.st_dev, st.st_ino) == (tailer.dev, tailer.ino) or st.st_size < at:
                continue
            known = self._in._by_ident.get((st.st_dev, st.st_ino))
            if known is not None and known.parked_for is not tailer and not known.copy_check:
                continue  # followed on its own account (own checkpoint): not ours to move
            if fingerprint.compare(read_head(path, fingerprint.length)) is Match.SAME:
                best = (path, st)  # oldest first: the last match is the newest copy
        return best

    def _continue(self, copy: Tailer, at: int, mid: str | None, committed: int) -> None:
        copy.parked_for = None
        copy.copy_check = copy.first_open = False
        copy.restart_at(at)
        copy.framer.resume(mid)
        copy.stream = self._in._new_stream(
            copy.stream.path, copy.dev, copy.ino, committed=committed, fingerprint=copy.fingerprint
        )
        # Remembered now: after a crash the copy resumes here instead of counting as new.
        self._in._positions.track(copy.stream, start=committed)
        self._in._queue(copy)

    # ---- recovering a file that is not where its checkpoint says ------------------------------

    def adopt(
        self,
        path: str,
        st: os.stat_result,
        at: int,
        mid: str | None,
        *,
        committed: int,
        source: str,
    ) -> Tailer | None:
        """Follow the file at ``path`` from ``at`` (entries keep ``source``); None if unusable."""
        inp = self._in
        now = inp._clock.monotonic()
        if len(inp._files.opened) >= inp.config.max_open_files:
            log.warning(
                "file.recovery_skipped", input=inp.config.id, path=path, reason="max_open_files"
            )
            return None
        tailer = Tailer(
            source=source,
            dev=st.st_dev,
            ino=st.st_ino,
            # Recorded under the path it belongs to, like a file renamed while followed: a
            # restart then looks for it (and what came after it) among that path's siblings.
            stream=inp._new_stream(source, st.st_dev, st.st_ino, committed=committed),
            framer=inp._framer(at, mid),
            multiline=inp._multiline(),
            offset=at,
            expect_fp=None,
            start_if_new="beginning",
            scan_size=st.st_size,
            now=now,
        )
        tailer.path = path
        tailer.first_open = False
        tailer.copy_check = False
        if not inp._files.open(tailer):
            return None
        try:
            if tailer.refresh_head(inp.config.fingerprint_bytes):
                inp._files.skip_binary(tailer)
                return None
        except OSError:
            inp._files.close(tailer)
            return None
        inp._by_ident[(st.st_dev, st.st_ino)] = tailer
        inp._positions.track(tailer.stream, start=committed)
        if inp._finder.matches(path):
            inp._by_path[path] = tailer
            inp._queue(tailer)
        else:
            inp._lose_path(tailer, now)  # read it to its end, then let it go
        return tailer

    def recover_moved(self) -> None:
        """At start: finish checkpointed identities that rotation moved while the agent was down.

        Oldest first, each after the one before it under the same followed path, so lines
        keep their order across generations.
        """
        inp = self._in
        cfg = inp.config
        found: list[tuple[os.stat_result, Saved, str, str]] = []
        # Followed path -> latest saved_at of its checkpointed files that are gone entirely.
        gone: dict[str, float | None] = {}
        for key, state in list(inp._saved.items()):
            saved = Saved.decode(cfg.id, key, state)
            if saved is None or not saved.path:
                continue
            # The followed path it belongs to. A checkpoint written before recovered files
            # kept it may name a rotated sibling (app.log.3 of app.log).
            base = saved.path if inp._finder.matches(saved.path) else self._followed(saved.path)
            if base is None:
                continue  # no longer in the configuration: not ours to look for
            try:
                st = os.stat(saved.path)
                if (st.st_dev, st.st_ino) == (saved.dev, saved.ino):
                    if base != saved.path:
                        found.append((st, saved, saved.path, base))  # was being finished
                    continue
            except OSError:
                pass
            again = _found_again(saved, base)
            if again is not None:
                found.append((again[1], saved, again[0], base))
            else:
                self._gone(saved, base, state.get("saved_at"), gone)
        for st, saved, path, base in sorted(found, key=lambda item: item[0].st_mtime_ns):
            self._resume(saved, path, st, base)
        for base, since in gone.items():
            if base not in {item[3] for item in found}:
                self._read_unseen(base, since)

    def _gone(self, saved: Saved, base: str, at: Any, gone: dict[str, float | None]) -> None:
        """``saved``'s file is nowhere (rotation deleted it while the agent was down)."""
        cfg = self._in.config
        since = float(at) if isinstance(at, int | float) else None
        before = gone.get(base)
        gone[base] = since if before is None else max(before, since or before)
        metrics.INPUT_ERRORS.labels(input=cfg.id, reason="rotated_away").inc()
        log.warning(
            "file.checkpointed_gone",
            input=cfg.id,
            path=base,
            was_at=saved.path,
            checkpoint_offset=saved.offset,
            detail="its file was rotated away and deleted while the agent was stopped; "
            "whatever it held past the checkpoint is lost",
        )

    def _read_unseen(self, base: str, since: float | None) -> None:
        """Every generation ``base`` had a checkpoint for is gone: read its rotated siblings
        modified after that checkpoint that no checkpoint knows, whole, oldest first; the
        file now at ``base`` waits for them."""
        inp = self._in
        if since is None:  # a checkpoint written before entries had a time: unknown which
            log.warning("file.rotated_unseen_unknown", input=inp.config.id, path=base)
            return
        last = self.chain.get(base)
        read: list[str] = []
        for other, sib in siblings(base):
            if sib.st_mtime_ns <= int(since * 1e9) or self._known(other, sib):
                continue
            nxt = self.adopt(other, sib, 0, None, committed=0, source=base)
            if nxt is not None:
                if last is not None and not last.dead:
                    nxt.after = last
                last = nxt
                read.append(other)
        if last is not None:
            self.chain[base] = last
        if read:
            log.info("file.rotated_unseen_read", input=inp.config.id, path=base, files=read)

    def _known(self, path: str, st: os.stat_result) -> bool:
        """Whether a checkpoint (or this run) knows the file: by device + inode and, for a
        checkpoint, its fingerprint too (an inode number reused by a new file is not it)."""
        inp = self._in
        ident = (st.st_dev, st.st_ino)
        if ident in inp._by_ident or inp._finder.matches(path):
            return True
        key = stream_key(inp.config.id, *ident)
        state = inp._saved.get(key)
        saved = Saved.decode(inp.config.id, key, state) if state is not None else None
        if saved is None:
            return False
        return saved.fingerprint.compare(read_head(path, saved.fingerprint.length)) is Match.SAME

    def _followed(self, path: str) -> str | None:
        """The path the globs match that ``path`` is a sibling of (app.log of app.log.1)."""
        directory, name = os.path.split(path)
        for n in range(len(name) - 1, 0, -1):
            candidate = os.path.join(directory, name[:n])
            if self._in._finder.matches(candidate):
                return candidate
        return None

    def _resume(self, saved: Saved, path: str, st: os.stat_result, base: str) -> None:
        """Finish ``saved`` (now at ``path``) under the followed path ``base``, then the
        generations after it that no checkpoint knows."""
        inp = self._in
        if (st.st_dev, st.st_ino) in inp._by_ident or st.st_size < saved.offset:
            return
        before = self.chain.get(base)
        found = self.adopt(
            path, st, saved.offset, saved.mid_line, committed=saved.offset, source=base
        )
        if found is None:
            return
        if before is not None and not before.dead:
            found.after = before
        log.info("file.recovered", input=inp.config.id, path=base, now_at=path, offset=saved.offset)
        last = found
        # Generations written after it that no checkpoint knows: read whole, oldest first.
        for other, sib in siblings(base):
            if sib.st_mtime_ns <= st.st_mtime_ns or self._known(other, sib):
                continue
            nxt = self.adopt(other, sib, 0, None, committed=0, source=base)
            if nxt is not None:
                nxt.after = last
                last = nxt
        self.chain[base] = last
