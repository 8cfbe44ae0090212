#!/usr/bin/env bash
# imagelock's main job, end to end, on this machine alone:
#   1. a local registry on 127.0.0.1:5055 that the engine uses as docker.io's mirror, serving
#      two-platform stand-ins for ruby:3.3.0-slim and golang:1.22 (busybox-based, made offline);
#   2. `imagelock lock` on examples/ruby and examples/go, then real `imagelock build`s for
#      linux/amd64 and linux/arm64, pushed to the local registry;
#   3. upstream re-pushes ruby:3.3.0-slim: `imagelock outdated` sees it, a rebuild still uses
#      the locked base, `imagelock update ruby` takes the new one, and the next build uses it.
# Work happens in .demo/ (copies of the examples); the registry stops when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=5055
REG=127.0.0.1:$PORT
WORK=$ROOT/.demo
PLATFORMS=linux/amd64,linux/arm64
CACHE_DIR=${IMAGELOCK_TEST_CACHE:-/var/cache/imagelock-test}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
answers() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; }

step "Provisioning Docker + buildx + registry (scripts/test-env.sh) and .venv"
as_root bash scripts/test-env.sh
bash scripts/venv.sh
export PATH="$ROOT/.venv/bin:$PATH"
docker info --format '{{range .RegistryConfig.Mirrors}}{{.}} {{end}}' | grep -q "$REG" \
  || { echo "demo: the engine does not use http://$REG as docker.io mirror; restart dockerd so /etc/docker/daemon.json applies" >&2; exit 1; }

step "Starting the demo registry on $REG (docker.io's mirror for this engine)"
if answers "http://$REG/v2/"; then
  echo "demo: something already answers on $REG; stop it first (a previous demo?)" >&2; exit 1
fi
rm -rf "$WORK" && mkdir -p "$WORK"
cat > "$WORK/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage: {inmemory: {}, delete: {enabled: true}}
http: {addr: $REG}
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REGISTRY_PID=$!
trap 'kill $REGISTRY_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do answers "http://$REG/v2/" && break; sleep 0.1; done
answers "http://$REG/v2/" || { cat "$WORK/registry.log" >&2; echo "demo: the registry did not start" >&2; exit 1; }

standin() { # REPO TAG RELEASE-TEXT: push a two-platform stand-in as docker.io/library/REPO:TAG
  local ctx="$WORK/standin-$1"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -a "$CACHE_DIR/rootfs" "$ctx/rootfs"
  cp -a scripts/demo/bin "$ctx/bin"
  echo "$3" > "$ctx/release"
  docker buildx build --quiet --platform "$PLATFORMS" -f scripts/demo/standin.Dockerfile \
    -t "$REG/library/$1:$2" --push "$ctx" >/dev/null
  echo "pushed docker.io/library/$1:$2 ($3) to the mirror"
}
step "Upstream publishes ruby:3.3.0-slim and golang:1.22 (two platforms each)"
standin ruby 3.3.0-slim "ruby 3.3.0 build 1"
standin golang 1.22 "go 1.22 build 1"

export IMAGELOCK_MIRRORS="docker.io=http://$REG"
cp -a examples/ruby "$WORK/ruby" && cp -a examples/go "$WORK/go"
rm -f "$WORK/ruby/images.lock" "$WORK/go/images.lock"  # locked afresh against this registry

step "Lock the Ruby app: every tag resolved to its index and per-platform digests"
cd "$WORK/ruby"
run imagelock scan
run imagelock lock --platform "$PLATFORMS"
run cat images.lock

step "Build it for both platforms from the lock, and push"
run imagelock build --platform "$PLATFORMS" -t "$REG/demo/ruby-app:1" --push --progress quiet .

step "Upstream re-pushes ruby:3.3.0-slim with a fix (same tag, new digests)"
cd "$ROOT" && standin ruby 3.3.0-slim "ruby 3.3.0 build 2 (arm64 crash fixed)" && cd "$WORK/ruby"
echo "\$ imagelock outdated"
imagelock outdated && echo "(nothing outdated?)" || echo "(exit $?: an outdated tag was found)"

step "Rebuild: still the locked base, whatever upstream did"
run imagelock build --platform "$PLATFORMS" -t "$REG/demo/ruby-app:2" --push --progress quiet .
run imagelock lock --check

step "Take the update deliberately, then build on the new base"
run imagelock update ruby
run imagelock build --platform "$PLATFORMS" -t "$REG/demo/ruby-app:3" --push --progress quiet .

step "Which base each pushed build sits on, read back from the registry"
python3 "$ROOT/scripts/demo/which_base.py" "$REG" demo/ruby-app 1 2 3

step "The Go example: cross-compiled on the build platform, static runtime"
cd "$WORK/go"
run imagelock lock --platform "$PLATFORMS"
run imagelock build --platform "$PLATFORMS" -t "$REG/demo/go-app:1" --push --progress quiet .

step "Done: images.lock files are in $WORK/ruby and $WORK/go"
