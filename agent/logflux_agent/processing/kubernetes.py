"""``kubernetes``: pod metadata from a container log file's path alone (no API server).

The kubelet writes container logs in two layouts, and both names carry the metadata:

- ``/var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log`` (also the
  rotated ``<n>.log.<date>``), the kubelet's own directory;
- ``/var/log/containers/<pod>_<namespace>_<container>-<container id>.log``, its symlinks.

Namespaces and pod names are DNS labels/subdomains, so they never contain ``_``; a container
id is 64 hex digits. The metadata becomes shared attributes (``<prefix>namespace``, ``pod``,
``pod_uid``, ``container``, and ``restart_count`` or ``container_id``), computed once per file
and cached; a path in neither layout is counted once per file and left alone.
"""

from __future__ import annotations

import re

from logflux_agent.config.processors import KubernetesProcessor
from logflux_agent.processing.attributes import fit_attributes
from logflux_agent.processing.report import Reporter
from logflux_agent.processing.rows import Rows

_PODS = re.compile(
    r"(?:^|/)pods/(?P<namespace>[^/_]+)_(?P<pod>[^/_]+)_(?P<pod_uid>[^/_]+)/"
    r"(?P<container>[^/]+)/(?P<restart_count>\d+)\.log(?:\.[^/]*)?$"
)
_CONTAINERS = re.compile(
    r"(?:^|/)containers/(?P<pod>[^/_]+)_(?P<namespace>[^/_]+)_(?P<container>[^/]+)-"
    r"(?P<container_id>[0-9a-f]{64})\.log$"
)
_CACHE_MAX = 4096


def metadata(path: str) -> dict[str, str] | None:
    """The pod metadata in ``path``, or None when it has neither kubelet layout."""
    for pattern in (_PODS, _CONTAINERS):
        match = pattern.search(path)
        if match is not None:
            return match.groupdict()
    return None


class KubernetesStep:
    name = "kubernetes"

    def __init__(self, cfg: KubernetesProcessor, reporter: Reporter) -> None:
        self.prefix = cfg.prefix
        self.reporter = reporter
        # (source, id(shared attrs)) → (the attrs dict, kept alive so its id stays unique,
        # and the attrs with the metadata added)
        self._cache: dict[tuple[str, int], tuple[dict[str, str], dict[str, str]]] = {}
        self._paths: dict[str, dict[str, str] | None] = {}

    def _meta(self, source: str) -> dict[str, str] | None:
        if source in self._paths:
            return self._paths[source]
        found = metadata(source)
        if found is None:
            self.reporter.problem(self.name, "not_kubernetes_path")
        else:
            found = {self.prefix + k: v for k, v in found.items()}
        if len(self._paths) >= _CACHE_MAX:
            self._paths.clear()
        self._paths[source] = found
        return found

    def _with(self, source: str, attrs: dict[str, str]) -> dict[str, str]:
        key = (source, id(attrs))
        hit = self._cache.get(key)
        if hit is not None:
            return hit[1]
        meta = self._meta(source)
        result = attrs if meta is None else fit_attributes(meta, attrs).attributes
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[key] = (attrs, result)
        return result

    def __call__(self, rows: Rows) -> Rows:
        sources, attrs = rows.source, rows.attrs
        if not sources:
            return rows
        first_source, first_attrs = sources[0], attrs[0]
        # The usual case, one file per emitted list: one look-up for the whole column.
        if sources.count(first_source) == len(sources) and len(set(map(id, attrs))) == 1:
            rows.attrs = [self._with(first_source, first_attrs)] * len(sources)
        else:
            rows.attrs = list(map(self._with, sources, attrs))
        return rows
