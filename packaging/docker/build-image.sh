#!/usr/bin/env bash
# Build the container image from the repository's Dockerfile without a Docker engine or a
# registry: a Debian base image bootstrapped with mmdebstrap from this host's own apt sources,
# then `buildah bud --isolation chroot` with that base as PYTHON_IMAGE. The Dockerfile is used
# as it is; only its PYTHON_IMAGE build argument changes.
#
#   packaging/docker/build-image.sh [IMAGE]     (default IMAGE: localhost/logflux-agent:dev)
#
# Needs root, buildah, mmdebstrap and podman (Debian packages of those names). Prints the
# image's name on its last line.
#
# The base tarball is cached in $LOGFLUX_IMAGE_CACHE (default ~/.cache/logflux-agent-image)
# under a key made of the suite, the architecture, the package list and the host's apt
# sources: a second build reuses it. pip inside the build uses this host's pip configuration
# (`pip config list`, PIP_* variables included) and every local file or directory it names
# (CA bundle, constraints, find-links, file:// indexes), mounted read-only, so the build reaches
# exactly the package index the host does. Nothing of that ends up in the image.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
image=${1:-localhost/logflux-agent:dev}
python=${PYTHON:-python3}
cache=${LOGFLUX_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/logflux-agent-image}
# What the Dockerfile needs of its base (the official python:*-slim images have all of it):
# python and venv for the builder stage, pip for `pip wheel`, `python` on PATH, CA
# certificates for pip's TLS, groupadd/useradd for the final stage.
base_packages=python3,python3-venv,python3-pip,python-is-python3,ca-certificates,passwd

for tool in buildah mmdebstrap podman "$python"; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool not found" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "build-image: needs root (buildah and mmdebstrap)" >&2; exit 1; }

# -- the base image --------------------------------------------------------------------------
# The suite and the mirrors are this host's: its codename and its enabled apt sources files.
# shellcheck disable=SC1091
suite=${BASE_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME}")}
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -qE '^[[:space:]]*(deb|Types:)' "$f" && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || { echo "build-image: no apt sources on this host" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/logflux-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
# apt options that decide how the mirrors are reached (proxies, snapshot validity), as the
# host's apt sees them; mmdebstrap does not read the host's apt.conf.d by itself.
apt-config dump Acquire::http Acquire::https Acquire::ftp Acquire::Retries \
  Acquire::Check-Valid-Until Acquire::Check-Date >"$work/apt.conf"
arch=$(dpkg --print-architecture)
# Debian's own merged-/usr layout without the usrmerge package (and the perl it pulls in,
# ~50 MB): mmdebstrap's hook sets up the symlinks and installs usr-is-merged.
hooks=()
merged_usr=/usr/share/mmdebstrap/hooks/merged-usr
[ -d "$merged_usr" ] && hooks=(--hook-dir="$merged_usr")
key=$({ echo "$suite $arch $base_packages ${hooks[*]}"; cat "${sources[@]}" "$work/apt.conf"; } \
  | sha256sum | cut -c1-16)
tarball=$cache/base-$key.tar
base=localhost/logflux-agent-base:$key
mkdir -p "$cache"
if [ ! -s "$tarball" ]; then
  echo "== bootstrapping the base ($suite, $base_packages) into $tarball" >&2
  start=$SECONDS
  # shellcheck disable=SC2016  # $1 is the hook's argument, expanded by mmdebstrap
  mmdebstrap --quiet --variant=minbase --include="$base_packages" --aptopt="$work/apt.conf" \
    "${hooks[@]}" \
    --customize-hook='rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap"' \
    "$suite" "$work/base.tar" "${sources[@]}"
  mv "$work/base.tar" "$tarball"
  # Older bases (another package list or other sources) are of no further use.
  find "$cache" -maxdepth 1 -name 'base-*.tar' ! -name "base-$key.tar" -delete
  podman images --format '{{.Repository}}:{{.Tag}}' localhost/logflux-agent-base \
    | grep -vxF "$base" | xargs -r podman rmi >/dev/null 2>&1 || true
  echo "== base bootstrapped in $((SECONDS - start)) s" >&2
else
  echo "== base from the cache: $tarball" >&2
fi
if ! podman image exists "$base"; then
  podman import --quiet "$tarball" "$base" >/dev/null
fi

# -- pip's configuration, as the host has it ---------------------------------------------------
volumes=()
"$python" - "$work/pip.conf" "$work/pip-mounts" <<'PY'
"""Write the host's effective pip configuration as one file, and list the local paths it names."""
import configparser, os, subprocess, sys

out = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                     capture_output=True, text=True, check=True).stdout
conf = configparser.ConfigParser(interpolation=None)
env = {}
for line in out.splitlines():
    name, _, value = line.partition("=")
    section, _, key = name.rpartition(".")
    value = value.strip().strip("'\"")
    if section == ":env:":      # PIP_* variables win over every file
        env[key] = value
        continue
    if not conf.has_section(section):
        conf.add_section(section)
    conf.set(section, key, value)
if not conf.has_section("global"):
    conf.add_section("global")
for key, value in env.items():
    conf.set("global", key, value)
if not any(conf.has_option(s, "cert") for s in conf.sections()):
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if os.environ.get(var):
            conf.set("global", "cert", os.environ[var])
            break
paths = set()
for section in conf.sections():
    for _, value in conf.items(section):
        for token in value.split():
            if token.startswith("file://"):
                # A file:// index's pages link to files beside it (../../files/...): mount
                # the repository it belongs to, the index's parent directory.
                token = os.path.dirname(token.removeprefix("file://").rstrip("/"))
            if token.startswith("/") and os.path.exists(token):
                paths.add(f"{os.path.realpath(token)}:{token}")
with open(sys.argv[1], "w") as f:
    conf.write(f)
with open(sys.argv[2], "w") as f:
    f.writelines(f"{p}\n" for p in sorted(paths))
PY
volumes+=(-v "$work/pip.conf:/etc/pip.conf:ro")
while IFS= read -r mount; do
  volumes+=(-v "$mount:ro")
done <"$work/pip-mounts"

# -- the image -------------------------------------------------------------------------------
echo "== buildah bud (PYTHON_IMAGE=$base) -> $image" >&2
start=$SECONDS
# docker format: the OCI image config has no HEALTHCHECK, buildah would drop it.
if ! buildah bud --quiet --isolation chroot --format docker --pull=never \
  --build-arg "PYTHON_IMAGE=$base" "${volumes[@]}" \
  -f "$root/Dockerfile" -t "$image" "$root" >"$work/build.log" 2>&1; then
  cat "$work/build.log" >&2
  echo "build-image: buildah bud failed" >&2
  exit 1
fi
echo "== image built in $((SECONDS - start)) s" >&2
echo "$image"
