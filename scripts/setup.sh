# Sourced by scripts/test and scripts/demo: installs what they need on a fresh machine, once.
#   - a Python 3.11+ virtualenv in .venv (or $VENV) with the project and its dev tools; python3.11
#     is picked first, PYTHON=python3.13 (with VENV=.venv-3.13, say) picks another interpreter
#   - the mosquitto broker binary (tests spawn their own brokers on free ports)
#   - the npm packages of the WeChat gateway in gateway/ (tests and the demo run it with the mock puppet)
#   - Debian's chromium, where apt is (the status page's browser test drives it; it skips without)
# Each step is skipped when already done; a changed pyproject.toml or package-lock.json redoes it.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  say "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pick_python() {
  if [ -n "${PYTHON:-}" ]; then  # asked for by name: that one or none (a pyenv shim may exist and not run)
    if "$PYTHON" -c 'import sys; raise SystemExit(not sys.version_info[:2] >= (3, 11))' 2>/dev/null; then
      echo "$PYTHON"; return 0
    fi
    echo "PYTHON=$PYTHON does not run, or is older than 3.11 (with pyenv: PYENV_VERSION=3.13.0, or its full path)" >&2
    return 1
  fi
  for candidate in python3.11 python3.12 python3.13 python3.14 python3; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; raise SystemExit(not sys.version_info[:2] >= (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Python 3.11 or newer is required; set PYTHON=/path/to/python" >&2
  return 1
}

ensure_python() {
  local stamp="$VENV/.installed" want
  want="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    local py; py="$(pick_python)"
    say "creating $VENV with $py"
    "$py" -m venv "$VENV" || { apt_install python3-venv && "$py" -m venv "$VENV"; }
  fi
  say "installing the bridge and its test tools into $VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[dev]'
  echo "$want" > "$stamp"
}

ensure_mosquitto() {
  if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || [ -x /usr/local/sbin/mosquitto ]; then
    return 0
  fi
  apt_install mosquitto && return 0
  if command -v brew >/dev/null 2>&1; then say "installing mosquitto with brew"; brew install mosquitto && return 0; fi
  echo "cannot install the mosquitto broker here: install it (package 'mosquitto') and run again" >&2
  return 1
}

ensure_gateway() {
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm || { echo "Node.js 18+ with npm is required for the WeChat gateway" >&2; return 1; }
  fi
  local stamp="gateway/node_modules/.installed" want
  want="$(sha256sum gateway/package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  # wechaty-puppet-xp is optional: its frida dependency installs only on Windows, and npm skips it elsewhere.
  say "installing the WeChat gateway (npm ci in gateway/)"
  (cd gateway && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}

ensure_chromium() {
  # Playwright's own browser builds come from a host that is not a package registry: Debian's
  # package is the browser the test drives. A small CJK font, so the page's Chinese headings are
  # drawn in a screenshot (scripts/screenshot.py). No apt (macOS, say): the browser test skips.
  if [ -n "${CHROMIUM:-}" ]; then return 0; fi
  if command -v chromium >/dev/null 2>&1 && { [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] \
      || ! command -v apt-get >/dev/null 2>&1; }; then return 0; fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "no apt-get: the status page's browser test will skip (set CHROMIUM=/path/to/chromium to run it)" >&2
    return 0
  fi
  apt_install chromium fonts-wqy-microhei \
    || echo "could not install chromium: the status page's browser test will skip" >&2
}

ensure_python
ensure_mosquitto
ensure_gateway
ensure_chromium
