"""``reload: watch``: notice edits of the config file and its conf.d fragments, then reload.

It owns only the noticing. The directory of the main file is watched, recursively (not the
files): editors and config management replace a file by renaming a new one over it, which a
watch on the old inode would miss, and a ``conf.d/`` created later must be seen too. Only
changes of the main file and of ``conf.d/*.yaml`` count. They are debounced (an editor's save
is several events) and handed to ``on_change``, which is ``Supervisor.reload`` — the same
validated path as SIGHUP: a broken edit is logged and rejected, the running config stays.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import structlog
import watchfiles

from logflux_agent.config.fragments import fragment_paths, is_fragment

log = structlog.get_logger(__name__)

DEBOUNCE_MS = 300
CHECK_MS = 2000


def relevant(config_path: str, changed: str) -> bool:
    """A change of the main file or of a fragment (not of every file in /etc/...)."""
    main = os.path.abspath(config_path)
    changed = os.path.abspath(changed)
    return changed == main or is_fragment(main, changed)


def _base_dir(config_path: str) -> str:
    return os.path.dirname(os.path.abspath(config_path))


def snapshot(config_path: str) -> tuple[tuple[str, int, int, int], ...]:
    """(path, inode, size, mtime) of the main file and every fragment: what a reload reads."""
    out = []
    for path in [config_path, *fragment_paths(config_path)]:
        try:
            st = os.stat(path)
        except OSError:
            continue
        out.append((path, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


async def watch_config(config_path: str, on_change: Callable[[], Awaitable[object]]) -> None:
    """Run until cancelled; calls ``on_change`` once per debounced burst of relevant changes.

    Every ``CHECK_MS`` without events the files are also compared with what was last seen: an
    edit made while the watch was being set up (or one inotify missed) still reloads.
    """
    base = _base_dir(config_path)
    seen = snapshot(config_path)

    def wanted(_change: watchfiles.Change, path: str) -> bool:
        return relevant(config_path, path)

    while True:
        try:
            # Recursive, so a conf.d/ created later is seen with its first fragment.
            async for changes in watchfiles.awatch(
                base,
                debounce=DEBOUNCE_MS,
                watch_filter=wanted,
                recursive=True,
                rust_timeout=CHECK_MS,
                yield_on_timeout=True,
            ):
                now = snapshot(config_path)
                if not changes and now == seen:
                    continue
                seen = now
                paths = sorted(p for _, p in changes) or [p for p, *_ in now]
                log.info("reload.file_changed", paths=paths[:5])
                await on_change()
        except (OSError, RuntimeError) as exc:
            # The directory vanished or inotify limits: say so, and try again later.
            log.warning("reload.watch_failed", error=str(exc), retry_in=5)
        await asyncio.sleep(5)
