#!/usr/bin/env bash
# Installs pymesos 0.3.15 (the real third-party Mesos client the mesos-local
# tests check against) into a private directory, for use with PYTHONPATH:
#   scripts/install-pymesos.sh DIR
# Installs pymesos, six and addict with pip --target (no system changes), and
# the pure-Python http_parser package from the http-parser 0.9.0 sdist (its C
# extension does not build on Python 3.11), with http_parser.parser backed by
# the pure parser. Idempotent: does nothing when DIR is complete. Needs PyPI.
set -euo pipefail

dest="${1:?usage: install-pymesos.sh DIR}"
python="${PYTHON:-/usr/bin/python3}"
marker="$dest/.pymesos-0.3.15-installed"
[ -f "$marker" ] && exit 0

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
site="$work/site"
export PIP_ROOT_USER_ACTION=ignore
pip=("$python" -m pip --disable-pip-version-check --no-input --quiet)

# --break-system-packages only lifts Debian's guard against installing into
# the system; with --target nothing outside DIR is touched.
extra=()
if "${pip[@]}" install --help 2>/dev/null | grep -q -- --break-system-packages; then
  extra+=(--break-system-packages)
fi
"${pip[@]}" install "${extra[@]}" --no-deps --target "$site" pymesos==0.3.15 six addict
"${pip[@]}" download --no-deps --no-binary :all: --dest "$work" http-parser==0.9.0
tar -xzf "$work/http-parser-0.9.0.tar.gz" -C "$work"
mkdir -p "$site/http_parser"
cp "$work"/http-parser-0.9.0/http_parser/*.py "$site/http_parser/"
cat > "$site/http_parser/parser.py" <<'PY'
"""http_parser.parser backed by the pure-Python parser (the C extension of
http-parser 0.9.0 does not build on Python 3.11)."""
from http_parser.pyparser import *  # noqa: F401,F403
from http_parser.pyparser import HttpParser  # noqa: F401
PY
PYTHONPATH="$site" "$python" -c 'import pymesos, addict, six, http_parser.http, http_parser.parser'

mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mv "$site" "$dest.partial"
rm -rf "$dest"
mv "$dest.partial" "$dest"
touch "$marker"
echo "install-pymesos: pymesos 0.3.15 installed in $dest"
