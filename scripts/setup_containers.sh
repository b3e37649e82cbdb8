# Sourced by scripts/test after setup.sh: makes podman usable for the containers tier (tests/containers/).
#   - installs podman, buildah, podman-compose, runc and debootstrap with apt-get where missing
#   - writes the containers.conf this kind of VM needs and exports CONTAINERS_CONF
#   - builds the local test base `localhost/debian:trixie-slim` with debootstrap (once; skipped
#     while the image exists), with this machine's CA certificates in it: here the package
#     registries are reached through extra CAs, and pip/npm inside a build fail without them. Only
#     this local base carries them; docker/*.Dockerfile never do.
#   - starts `podman system service` on a unix socket for testcontainers, stopped when the
#     sourcing shell exits
# When any step fails, the tier is skipped, not failed: BRIDGE_CONTAINERS_SKIP says why
# (tests/containers/conftest.py reads it). SKIP_CONTAINERS=1 skips on purpose.

containers_dir="${CONTAINERS_DIR:-$ROOT/.containers}"
BRIDGE_TEST_BASE="${BRIDGE_TEST_BASE:-localhost/debian:trixie-slim}"
export BRIDGE_TEST_BASE

write_containers_conf() {
  mkdir -p "$containers_dir"
  # Without these, crun fails on `setrlimit RLIMIT_NOFILE` and on this VM's hybrid cgroups.
  cat > "$containers_dir/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
}

install_container_tools() {
  local missing=() tool
  for tool in podman buildah podman-compose runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
  done
  # podman 4.3 on Debian 12 networks through CNI: its dnsname plugin gives compose's service-name DNS.
  [ -x /usr/lib/cni/dnsname ] || missing+=(golang-github-containernetworking-plugin-dnsname)
  [ "${#missing[@]}" = 0 ] && return 0
  apt_install "${missing[@]}" uidmap slirp4netns fuse-overlayfs
}

# Bump when build_test_base changes: an image of another recipe is rebuilt.
TEST_BASE_RECIPE=2

build_test_base() {
  if podman image exists "$BRIDGE_TEST_BASE" && [ "$(podman image inspect --format \
      '{{ index .Labels "wechat-mqtt-bridge.test-base" }}' "$BRIDGE_TEST_BASE")" = "$TEST_BASE_RECIPE" ]; then
    return 0
  fi
  local rootfs started=$SECONDS
  rootfs="$(mktemp -d /var/tmp/trixie-rootfs.XXXXXX)"
  say "building $BRIDGE_TEST_BASE with debootstrap (minbase trixie, about a minute)"
  debootstrap --variant=minbase trixie "$rootfs" http://deb.debian.org/debian >"$containers_dir/debootstrap.log" 2>&1 \
    || { tail -5 "$containers_dir/debootstrap.log" >&2; rm -rf "$rootfs"; return 1; }
  # As the official slim image: no docs, manuals or translations, now or from later installs (so
  # image sizes measured here are those of the real base), and no apt lists or caches.
  cat > "$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
DPKG
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda,locale}/*
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/* "$rootfs"/var/cache/debconf/*-old
  # This machine's CA certificates, for the test base only. /usr/local/share/ca-certificates is
  # where Debian's ca-certificates package picks extra CAs up when an image installs it; the
  # bundle serves what runs before that (npm, pip with PIP_CERT).
  mkdir -p "$rootfs/usr/local/share/ca-certificates" "$rootfs/etc/ssl/certs"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | podman import \
    --change 'CMD ["bash"]' \
    --change "LABEL wechat-mqtt-bridge.test-base=$TEST_BASE_RECIPE" \
    --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' \
    - "$BRIDGE_TEST_BASE" >/dev/null
  rm -rf "$rootfs"
  say "built $BRIDGE_TEST_BASE in $((SECONDS - started)) s"
}

containers_setup() {
  [ "$(uname -s)" = Linux ] || { echo "podman runs containers on Linux only"; return 1; }
  [ "$(id -u)" = 0 ] || { echo "the containers tier runs rootful podman: run as root"; return 1; }
  install_container_tools || { echo "could not install podman, buildah, podman-compose, runc, debootstrap with apt-get"; return 1; }
  write_containers_conf
  export CONTAINERS_CONF="$containers_dir/containers.conf"
  podman info >"$containers_dir/podman-info.log" 2>&1 \
    || { echo "podman info fails: $(tail -1 "$containers_dir/podman-info.log")"; return 1; }
  build_test_base || { echo "debootstrap of the trixie test base failed (see $containers_dir/debootstrap.log)"; return 1; }
}

start_podman_service() {  # in the sourcing shell: it keeps the service's pid and exports
  local socket="$containers_dir/podman.sock" tries=0
  rm -f "$socket"
  # --time=0: no idle exit; the EXIT trap below ends it with the test run.
  podman system service --time=0 "unix://$socket" >"$containers_dir/service.log" 2>&1 &
  PODMAN_SERVICE_PID=$!
  trap 'kill "$PODMAN_SERVICE_PID" 2>/dev/null || true' EXIT
  until [ -S "$socket" ] && podman --url "unix://$socket" version >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 100 ]; then reason="podman system service did not answer on $socket"; return 1; fi
    sleep 0.1
  done
  export DOCKER_HOST="unix://$socket"
  # Ryuk (the reaper container) comes from Docker Hub, out of reach here; the fixtures remove what they start.
  export TESTCONTAINERS_RYUK_DISABLED=true
  # This VM has a /.dockerenv, which makes testcontainers look for the gateway address of a
  # container it believes it runs in; the containers are reached on the host's own ports instead.
  export TESTCONTAINERS_CONNECTION_MODE=docker_host
}

if [ "${SKIP_CONTAINERS:-}" = 1 ]; then
  export BRIDGE_CONTAINERS_SKIP="SKIP_CONTAINERS=1 was set"
else
  say "podman for the containers tier"
  mkdir -p "$containers_dir"
  set +e
  # A subshell outside any `if`, so `set -e` holds inside it; the last line it prints is the reason.
  reason="$(set -eo pipefail; containers_setup | tail -1; exit "${PIPESTATUS[0]}")"
  status=$?
  set -e
  if [ "$status" = 0 ]; then
    export CONTAINERS_CONF="$containers_dir/containers.conf"
    start_podman_service || status=1
  fi
  if [ "$status" != 0 ]; then
    export BRIDGE_CONTAINERS_SKIP="${reason:-podman could not be set up}"
    say "containers tier will skip: $BRIDGE_CONTAINERS_SKIP"
  fi
fi
