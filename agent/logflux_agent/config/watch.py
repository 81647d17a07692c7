"""``reload: watch``: notice edits of the config file and its conf.d fragments, then reload.

It owns only the noticing. The directories are watched (not the files): editors and config
management replace a file by renaming a new one over it, which a watch on the old inode would
miss. Changes are debounced (an editor's save is several events) and handed to ``on_change``,
which is ``Supervisor.reload`` — the same validated path as SIGHUP: a broken edit is logged
and rejected, the running config stays.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

import structlog
import watchfiles

from logflux_agent.config.fragments import FRAGMENT_DIR, is_fragment

log = structlog.get_logger(__name__)

DEBOUNCE_MS = 300


def watched_dirs(config_path: str) -> list[str]:
    base = os.path.dirname(os.path.abspath(config_path))
    dirs = [base]
    fragments = os.path.join(base, FRAGMENT_DIR)
    if os.path.isdir(fragments):
        dirs.append(fragments)
    return dirs


def relevant(config_path: str, changed: str) -> bool:
    """A change of the main file or of a fragment (not of every file in /etc/...)."""
    main = os.path.abspath(config_path)
    changed = os.path.abspath(changed)
    return changed == main or is_fragment(main, changed)


async def watch_config(config_path: str, on_change: Callable[[], Awaitable[object]]) -> None:
    """Run until cancelled; calls ``on_change`` once per debounced burst of relevant changes."""
    stop = asyncio.Event()
    while True:
        dirs = watched_dirs(config_path)
        try:
            async for changes in watchfiles.awatch(
                *dirs, debounce=DEBOUNCE_MS, stop_event=stop, recursive=False
            ):
                paths = {p for _, p in changes}
                if any(relevant(config_path, p) for p in paths):
                    log.info("reload.file_changed", paths=sorted(paths)[:5])
                    await on_change()
                if len(watched_dirs(config_path)) != len(dirs):
                    break  # conf.d appeared or vanished: watch the new set
        except (OSError, RuntimeError) as exc:
            # The directory vanished or inotify limits: say so, and try again later.
            log.warning("reload.watch_failed", error=str(exc), retry_in=5)
            await asyncio.sleep(5)
