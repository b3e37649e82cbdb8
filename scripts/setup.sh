# Sourced by scripts/test and scripts/demo: installs what the caller needs on a fresh machine, once.
#   SETUP_FOR=demo source scripts/setup.sh   what ./scripts/demo runs: the virtualenv with the bridge,
#                                            mosquitto, the gateway's npm packages; nothing else, quietly
#   source scripts/setup.sh                  (SETUP_FOR=test) all of that, plus the dev tools in the
#                                            virtualenv, Debian's chromium and a Home Assistant core
# (An environment variable, not an argument: a sourced script sees its caller's arguments, which
# for scripts/test are pytest's.)
# What each step installs:
#   - a Python 3.11+ virtualenv in .venv (or $VENV) with the project (and, for tests, its dev tools):
#     the newest supported Python found (3.13, then 3.12, then 3.11; on PATH or in pyenv), or
#     PYTHON=/path/to/python (with VENV=.venv-3.12, say, to keep both)
#   - the mosquitto broker binary (tests spawn their own brokers on free ports)
#   - for tests: Tencent's own iLink client (tests/ilink_client/, npm ci), run against the fake iLink server
#   - the npm packages of the WeChat gateway in gateway/ (tests and the demo run it with the mock puppet)
#   - tests only: Debian's chromium, where apt is (the status page's browser test drives it; it skips without)
#   - tests only: a second virtualenv, .venv-ha (or $HA_VENV), with a real Home Assistant core for the
#     tests that run one; only where a Python it supports is found (HA_PYTHON=/path/to/python3.13 picks
#     one), else those tests skip and say why. SKIP_HA=1 skips it.
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
  # Another apt (unattended-upgrades, a second terminal) may hold dpkg's lock: wait for it, as a
  # person would, instead of failing with "Could not get lock". Two minutes covers an upgrade run.
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120)
  as_root "${apt[@]}" update -qq
  as_root "${apt[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
}

#: The Pythons the suite was run on, newest first: the first one found is used.
SUPPORTED_PYTHONS=(3.13 3.12 3.11)

python_version() {  # "3.13.0" when $1 runs and is 3.11 or newer, else nothing and status 1
  "$1" -c 'import sys; v = sys.version_info
raise SystemExit(print("%d.%d.%d" % v[:3]) if v[:2] >= (3, 11) else 1)' 2>/dev/null
}

pick_python() {  # prints "<interpreter> <version> <why>"
  local candidate version minor pyenv_root=""
  if [ -n "${PYTHON:-}" ]; then  # asked for by name: that one or none (a pyenv shim may exist and not run)
    if version="$(python_version "$PYTHON")"; then echo "$PYTHON $version because PYTHON=$PYTHON"; return 0; fi
    echo "PYTHON=$PYTHON does not run, or is older than 3.11 (with pyenv: give its full path," \
      "e.g. $(command -v pyenv >/dev/null 2>&1 && pyenv root || echo ~/.pyenv)/versions/3.13.0/bin/python3)" >&2
    return 1
  fi
  command -v pyenv >/dev/null 2>&1 && pyenv_root="$(pyenv root)"
  for minor in "${SUPPORTED_PYTHONS[@]}"; do
    # On PATH first; then pyenv's installed versions, which count even when not selected (their
    # shims then refuse to run). The newest patch release of that minor version wins.
    for candidate in "python$minor" $(ls -d "$pyenv_root"/versions/"$minor".*/bin/python3 2>/dev/null | sort -rV); do
      version="$(python_version "$candidate")" || continue
      echo "$candidate $version because it is the newest supported Python found (tried ${SUPPORTED_PYTHONS[*]}; PYTHON=... picks another)"
      return 0
    done
  done
  if version="$(python_version python3)"; then
    echo "python3 $version because no ${SUPPORTED_PYTHONS[*]} was found and python3 is $version (not a tested version)"
    return 0
  fi
  echo "Python 3.11 or newer is required; set PYTHON=/path/to/python" >&2
  return 1
}

#: What `pip install -e` installs: the bridge alone (the demo), or with its dev tools (the tests).
venv_extras() { if [ "$1" = demo ]; then echo ""; else echo "[dev]"; fi; }

ensure_python() {
  local purpose="$1" stamp="$VENV/.installed" want have picked py version why extras
  extras="$(venv_extras "$purpose")"
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  have="$(cat "$stamp" 2>/dev/null || true)"
  picked="$(pick_python)" || return 1
  read -r py version why <<<"$picked"
  if [ -x "$VENV/bin/python" ]; then
    local made; made="$(python_version "$VENV/bin/python" || echo "a Python that no longer runs")"
    if [ "$made" != "$version" ]; then
      say "$VENV was made with Python $made, not $version ($py, picked $why): keeping it; rm -rf $VENV to switch"
    fi
  fi
  # The stamp is "<hash of pyproject.toml> <extras>": a demo install serves the demo, a test install both.
  if [ -x "$VENV/bin/python" ] && { [ "$have" = "$want [dev]" ] || [ "$have" = "$want $extras" ]; }; then return 0; fi
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with Python $version ($py), picked $why"
    "$py" -m venv "$VENV" || { apt_install python3-venv && "$py" -m venv "$VENV"; }
  fi
  # The demo's install is quiet but for errors (-qq): pip's warnings (a configured index that is
  # missing, say) are about the machine, not the demo, and the demo prints only its own story.
  local quiet=-q
  if [ "$purpose" = demo ]; then say "installing the bridge into $VENV"; quiet=-qq
  else say "installing the bridge and its test tools into $VENV"; fi
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install "$quiet" -e ".$extras"
  echo "$want $extras" > "$stamp"
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
  # npm ci prints its summary ("added 300 packages in 16s") on stdout whatever the log level:
  # only its errors and warnings (stderr) are worth a newcomer's attention.
  (cd gateway && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
}

ensure_ilink_client() {
  # Tencent's own iLink client, pinned, that tests/unit/wechat/ilink/test_tencent_client.py runs against the
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

case "${SETUP_FOR:-test}" in
  demo) ensure_python demo; ensure_mosquitto; ensure_gateway ;;
  test) ensure_python test; ensure_mosquitto; ensure_gateway; ensure_ilink_client; ensure_chromium; ensure_home_assistant ;;
  functions) ;;  # define the steps, run none (tests/test_setup.py)
  *) echo "scripts/setup.sh: SETUP_FOR is demo or test, not '$SETUP_FOR'" >&2; return 2 ;;
esac
