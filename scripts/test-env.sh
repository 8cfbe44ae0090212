#!/usr/bin/env bash
# Bring up what imagelock's integration tests and demo need, on Debian 12 or 13 as root:
#   - a Docker engine (containerd image store) with buildx, able to build linux/amd64 and linux/arm64
#     (QEMU binfmt for foreign RUN steps);
#   - the CNCF distribution registry binary (`docker-registry`) and skopeo;
#   - busybox-static root filesystems for amd64 and arm64, to make real multi-arch base images offline.
# Idempotent: whatever is installed or running is reused, so a second run takes seconds.
# Prints `export` lines for the variables tests read when run with --print-env.
set -euo pipefail

CACHE_DIR=${IMAGELOCK_TEST_CACHE:-/var/cache/imagelock-test}
DOCKERD_LOG=${IMAGELOCK_DOCKERD_LOG:-/var/log/imagelock-dockerd.log}

log() { printf 'test-env: %s\n' "$*" >&2; }
die() { printf 'test-env: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts dockerd)"
[ -r /etc/os-release ] || die "not a Debian machine (/etc/os-release missing)"
. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm|trixie) ;;
  *) die "supported on Debian 12 (bookworm) or 13 (trixie), found '${PRETTY_NAME:-unknown}'" ;;
esac

export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    apt-get update -qq >/dev/null
    APT_UPDATED=1
  fi
}
missing_pkgs() { # prints the packages (name[:arch]) that dpkg does not have installed
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

# --- trixie as a low-priority source on bookworm (docker 26 + buildx 0.13 exist only there) ---
if [ "$VERSION_CODENAME" = bookworm ]; then
  if [ ! -f /etc/apt/sources.list.d/imagelock-trixie.sources ]; then
    # Reuse the mirror this machine already uses for bookworm, whatever it is.
    uri=""
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
    fi
    if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
      uri=$(awk '$1 == "deb" && $0 ~ /bookworm/ && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
    fi
    [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt to add trixie from"
    log "adding trixie (priority 100) for docker.io, containerd and docker-buildx"
    cat > /etc/apt/sources.list.d/imagelock-trixie.sources <<SRC
Types: deb
URIs: $uri
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    cat > /etc/apt/preferences.d/imagelock-trixie <<PREF
Package: *
Pin: release n=trixie
Pin-Priority: 100
PREF
    APT_UPDATED=0
  fi
  ENGINE_PKGS=(docker.io/trixie containerd/trixie docker-buildx/trixie)
else
  ENGINE_PKGS=(docker.io containerd docker-buildx)
fi

# --- packages ---
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "adding the arm64 architecture (for busybox-static:arm64)"
  dpkg --add-architecture arm64
  APT_UPDATED=0
fi
BASE_PKGS=(runc tini iptables docker-registry skopeo qemu-user-static binfmt-support)
need=$(missing_pkgs docker.io containerd docker-buildx "${BASE_PKGS[@]}")
if [ -n "$need" ]; then
  apt_update
  log "installing: $(echo $need)"
  apt-get install -y -qq --no-install-recommends "${ENGINE_PKGS[@]}" "${BASE_PKGS[@]}" >/dev/null
fi

# --- busybox root filesystems for the base-image fixtures ---
mkdir -p "$CACHE_DIR"
for arch in amd64 arm64; do
  root="$CACHE_DIR/rootfs/$arch"
  if [ ! -x "$root/bin/busybox" ]; then
    apt_update
    log "preparing busybox root filesystem for $arch"
    tmp=$(mktemp -d) && chmod 755 "$tmp"
    (cd "$tmp" && apt-get download -qq "busybox-static:$arch" >/dev/null)
    dpkg-deb -x "$tmp"/busybox-static_*_"$arch".deb "$tmp/x"
    rm -rf "$root" && mkdir -p "$root/bin" "$root/tmp" "$root/etc"
    cp "$tmp/x/bin/busybox" "$root/bin/busybox"
    for app in sh ash cat echo ls uname mkdir rm cp mv touch env sleep true false grep sed head tail wc date id printf test; do
      ln -sf busybox "$root/bin/$app"
    done
    rm -rf "$tmp"
  fi
done

# --- the engine ---
# daemon.json: the containerd image store (multi-platform builds need it) and, for the demo,
# a docker.io mirror on loopback, so examples that say `FROM ruby:3.3.0-slim` build offline from
# the demo registry (BuildKit falls back to Docker Hub when nothing listens there).
DEMO_MIRROR=${IMAGELOCK_DEMO_MIRROR:-http://127.0.0.1:5055}
mkdir -p /etc/docker
daemon_changed=$(python3 - "$DEMO_MIRROR" <<'PY'
import json, sys, pathlib
path = pathlib.Path("/etc/docker/daemon.json")
cfg = json.loads(path.read_text() or "{}") if path.exists() else {}
before = json.dumps(cfg, sort_keys=True)
cfg.setdefault("features", {})["containerd-snapshotter"] = True
mirrors = cfg.setdefault("registry-mirrors", [])
if sys.argv[1] not in mirrors:
    mirrors.append(sys.argv[1])
if json.dumps(cfg, sort_keys=True) != before:
    if path.exists():
        path.with_name("daemon.json.before-imagelock").write_text(path.read_text())
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    print("changed")
PY
)
PIDFILE=/run/imagelock-dockerd.pid
if [ -n "$daemon_changed" ] && docker info >/dev/null 2>&1; then
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    log "restarting dockerd to apply /etc/docker/daemon.json"
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 || break; sleep 1; done
  elif command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
    log "restarting the docker service to apply /etc/docker/daemon.json"
    systemctl restart docker
  else
    log "warning: /etc/docker/daemon.json changed; restart dockerd to apply it"
  fi
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $DOCKERD_LOG)"
  nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  echo $! > "$PIDFILE"
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { tail -n 30 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s"; }
fi
docker buildx version >/dev/null 2>&1 || die "docker buildx is not available to the docker CLI"
docker info --format '{{.DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter' \
  || die "the engine does not use the containerd image store; set features.containerd-snapshotter in /etc/docker/daemon.json and restart dockerd"

# --- QEMU for arm64 RUN steps ---
if [ "$(uname -m)" != aarch64 ]; then
  if ! mountpoint -q /proc/sys/fs/binfmt_misc; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc (QEMU emulation for arm64)"
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64 || die "cannot enable qemu-aarch64 in binfmt_misc"
  fi
fi

command -v docker-registry >/dev/null || die "docker-registry is not installed"
log "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker buildx version | awk '{print "buildx", $2}'), registry $(docker-registry --version 2>/dev/null | awk '{print $NF}')"
