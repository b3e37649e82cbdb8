# Sourced by scripts/test and scripts/demo: installs what they need on a fresh machine, once.
#   - a Python 3.11+ virtualenv in .venv (or $VENV) with the project and its dev tools; python3.11
#     is picked first, PYTHON=python3.13 (with VENV=.venv-3.13, say) picks another interpreter
#   - the mosquitto broker binary (tests spawn their own brokers on free ports)
#   - the npm packages of the WeChat gateway in gateway/ (tests and the demo run it with the mock puppet)
#   - Debian's chromium, where apt is (the status page's browser test drives it; it skips without)
#   - a second virtualenv, .venv-ha (or $HA_VENV), with a real Home Assistant core for the tests that
#     run one; only where a Python it supports is found (HA_PYTHON=/path/to/python3.13 picks one),
#     else those tests skip and say why. SKIP_HA=1 skips it.
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

ensure_ilink_client() {
  # Tencent's own iLink client, pinned, that tests/unit/ilink/test_tencent_client.py runs against the
  # fake iLink server (with a stub of the few openclaw/plugin-sdk functions it imports).
  local stamp="tests/ilink_client/node_modules/.installed" want
  want="$(sha256sum tests/ilink_client/package-lock.json | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then return 0; fi
  say "installing Tencent's iLink client for the tests (npm ci in tests/ilink_client/)"
  # --engine-strict off: the package asks for Node 22.13; its login, api, send and cdn modules run on 20.
  (cd tests/ilink_client && npm ci --no-audit --no-fund --loglevel=error --engine-strict=false)
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

# Home Assistant pins its Python tightly: the newest release each interpreter can run (HA's
# Requires-Python: 2025.4 takes 3.13.0, 2025.5 to 2026.2 need 3.13.2, 2026.3 and later 3.14.2).
ha_version_for() {
  "$1" - <<'PY'
import sys
v = sys.version_info[:3]
print("2026.11.0" if v >= (3, 14, 2) else "2026.2.3" if v >= (3, 13, 2) else "2025.4.4" if v >= (3, 13, 0) else "")
PY
}

pick_ha_python() {
  local candidate version
  for candidate in "${HA_PYTHON:-}" python3.14 python3.13 "$(command -v pyenv >/dev/null 2>&1 && pyenv root)"/versions/3.1[3-9]*/bin/python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    version="$(ha_version_for "$candidate" 2>/dev/null)" || continue
    if [ -n "$version" ]; then echo "$candidate $version"; return 0; fi
  done
  return 1
}

ensure_home_assistant() {
  [ "${SKIP_HA:-}" = 1 ] && return 0
  local venv="${HA_VENV:-.venv-ha}" picked py version stamp
  if ! picked="$(pick_ha_python)"; then
    say "no Python 3.13+ for Home Assistant: the tests that run a real HA core will skip"
    return 0
  fi
  read -r py version <<<"$picked"
  stamp="$venv/.installed"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then return 0; fi
  say "installing Home Assistant $version into $venv with $py"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "homeassistant==$version"
  # The MQTT integration's own requirements (paho-mqtt), as its manifest pins them.
  "$venv/bin/python" -m pip install -q $("$venv/bin/python" -c 'import json, pathlib
import homeassistant.components.mqtt as mqtt
print(" ".join(json.loads((pathlib.Path(mqtt.__file__).parent / "manifest.json").read_text())["requirements"]))')
  echo "$version" > "$stamp"
}

ensure_python
ensure_mosquitto
ensure_gateway
ensure_ilink_client
ensure_chromium
ensure_home_assistant
