#!/usr/bin/env bash
# Build the ketamine-fc image with Podman on this machine and check it for real: the participant and group levels
# of a small simulated study, run in the container with bind mounts (inputs read-only, output and work folders
# writable, a non-root --user, no network), give TSVs byte-identical to the same run from a venv that has the
# same pinned requirements (docker/requirements.txt).
#
#   tools/container_test.sh            everything below; idempotent (the base images and the venv are kept)
#
# Needs root (apt-get, rootful podman). No registry is reachable here, so the base image is made locally:
# `debootstrap --variant=minbase` of bookworm from the Debian mirror apt uses, imported with `podman import`,
# and a stand-in for python:3.11-slim-bookworm built on it (a venv at /usr/local/py, first on PATH) and tagged
# with that name, so that docker/Dockerfile builds unchanged with --pull=never. Podman runs with runc (crun
# refuses the hybrid cgroups here) and default_ulimits = [] (in /etc/containers/containers.conf).
# Environment: KFC_CONTAINER_STATE (default /var/lib/ketamine-fc-containers: rootfs tarball, venv),
# KETAMINE_FC_SHARED_DATA (default ../shared/data: the atlases copied into the build context),
# CONTAINER_USER (default: the caller's uid:gid, or 4242:4242, an account the image does not know, for root).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
STATE=${KFC_CONTAINER_STATE:-/var/lib/ketamine-fc-containers}
SHARED=${KETAMINE_FC_SHARED_DATA:-$REPO/../shared/data}
BASE=localhost/debian-bookworm-minbase:python3
PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm
IMAGE=localhost/ketamine-fc:test
CA=/etc/ssl/certs/ca-certificates.crt
PODMAN=(podman --runtime /usr/sbin/runc)
if [ "$(id -u)" -eq 0 ]; then CONTAINER_USER=${CONTAINER_USER:-4242:4242}; else CONTAINER_USER=${CONTAINER_USER:-$(id -u):$(id -g)}; fi

log() { echo "container_test: $*" >&2; }
die() { log "$*"; exit 1; }
now() { date +%s; }
T_START=$(now)
declare -A TOOK
phase() { TOOK[$1]=$(( $(now) - $2 )); log "$1: ${TOOK[$1]} s"; }

[ "$(id -u)" -eq 0 ] || die "run as root (apt-get, rootful podman)"

# ------------------------------------------------------------------------------------------- engine
t=$(now)
missing=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q podman runc debootstrap >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q podman runc debootstrap >/dev/null; }
fi
CONF=/etc/containers/containers.conf
if [ ! -f "$CONF" ]; then
  mkdir -p /etc/containers
  printf '# written by ketamine-fc tools/container_test.sh: no ulimits set in containers (refused here)\n[containers]\ndefault_ulimits = []\n' >"$CONF"
elif ! grep -q "default_ulimits" "$CONF"; then
  # an existing configuration of someone else's: use a copy with the setting for this script's podman only
  mkdir -p "$STATE"
  export CONTAINERS_CONF="$STATE/containers.conf"
  { cat "$CONF"; printf '\n'; } >"$CONTAINERS_CONF"
  if grep -q '^\[containers\]' "$CONTAINERS_CONF"; then
    sed -i 's/^\[containers\]/[containers]\ndefault_ulimits = []/' "$CONTAINERS_CONF"
  else
    printf '[containers]\ndefault_ulimits = []\n' >>"$CONTAINERS_CONF"
  fi
fi
phase engine "$t"

# ------------------------------------------------------------------------------------------- base images
t=$(now)
if ! "${PODMAN[@]}" image exists "$BASE"; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  mkdir -p "$STATE"
  rootfs="$STATE/rootfs"
  if [ ! -s "$STATE/rootfs.tar" ]; then
    log "making the base image: debootstrap minbase bookworm from $mirror (a few minutes)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip bookworm "$rootfs" "$mirror" \
      >"$STATE/debootstrap.log" 2>&1 || die "debootstrap failed (see $STATE/debootstrap.log)"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$STATE/rootfs.tar.part" . && mv "$STATE/rootfs.tar.part" "$STATE/rootfs.tar"
    rm -rf "$rootfs"
  fi
  "${PODMAN[@]}" import --change 'CMD ["/bin/bash"]' "$STATE/rootfs.tar" "$BASE" >/dev/null
fi
if ! "${PODMAN[@]}" image exists "$PYTHON_IMAGE"; then
  log "building the stand-in for $PYTHON_IMAGE on $BASE"
  context=$(mktemp -d)
  cat >"$context/Containerfile" <<EOF
FROM $BASE
ENV LANG=C.UTF-8 PATH=/usr/local/py/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN python3 -m venv /usr/local/py && python --version && pip --version
CMD ["python3"]
EOF
  "${PODMAN[@]}" build --pull=never --network host -t "$PYTHON_IMAGE" "$context" >"$STATE/python-image.log" 2>&1 \
    || die "building the python stand-in failed (see $STATE/python-image.log)"
  rm -rf "$context"
fi
phase "base images" "$t"

# ------------------------------------------------------------------------------------------- project image
t=$(now)
if [ -d "$SHARED/atlases" ]; then  # atlases from the build context (verified by the build)
  cp -r "$SHARED/atlases/." docker/atlases/
fi
"${PODMAN[@]}" build --pull=never --network host -v "$CA:$CA:ro" --build-arg "PIP_CERT=$CA" \
  -f docker/Dockerfile -t "$IMAGE" . >"$STATE/image.log" 2>&1 || { tail -30 "$STATE/image.log" >&2; die "the image build failed (see $STATE/image.log)"; }
size=$("${PODMAN[@]}" image inspect "$IMAGE" --format '{{.Size}}')
log "built $IMAGE ($(( size / 1000000 )) MB; log $STATE/image.log)"
phase "image build" "$t"

# ------------------------------------------------------------------------------------------- the venv
t=$(now)
VENV="$STATE/venv"
stamp=$(sha256sum docker/requirements.txt | cut -c1-16)
if [ "$(cat "$VENV/.requirements" 2>/dev/null)" != "$stamp" ]; then
  log "making the comparison venv from docker/requirements.txt"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -r docker/requirements.txt >"$STATE/venv.log" 2>&1 \
    || { tail "$STATE/venv.log" >&2; die "the venv install failed (see $STATE/venv.log)"; }
  echo "$stamp" >"$VENV/.requirements"
fi
"$VENV/bin/pip" install --no-deps --no-build-isolation --force-reinstall . >>"$STATE/venv.log" 2>&1 \
  || { tail "$STATE/venv.log" >&2; die "installing this checkout into the venv failed (see $STATE/venv.log)"; }
phase venv "$t"

# ------------------------------------------------------------------------------------------- the study
t=$(now)
WORK=$(mktemp -d /tmp/kfc-container-test.XXXXXX)
chmod 755 "$WORK"
export KETAMINE_FC_DATA="$REPO/docker/atlases"
"$VENV/bin/ketamine-fc-simulate" "$WORK/study" --n-patients 3 --n-controls 2 --n-frames 80 --resolution 3 \
  --seed 7 >"$WORK/simulate.log" 2>&1 || die "simulation failed (see $WORK/simulate.log)"
chmod -R a+rX "$WORK/study"
phase study "$t"

t=$(now)
OPTIONS=(--nprocs 2 --min-frames 40)  # short simulated runs: lower the inclusion threshold so the group level has data
"$VENV/bin/ketamine-fc" "$WORK/study" "$WORK/venv_out" participant -w "$WORK/venv_work" "${OPTIONS[@]}" \
  >"$WORK/venv.log" 2>&1 || { tail "$WORK/venv.log" >&2; die "the venv participant level failed"; }
"$VENV/bin/ketamine-fc" "$WORK/study" "$WORK/venv_out" group -w "$WORK/venv_work" \
  >>"$WORK/venv.log" 2>&1 || { tail "$WORK/venv.log" >&2; die "the venv group level failed"; }
phase "venv run" "$t"

t=$(now)
mkdir -p "$WORK/container_out" "$WORK/container_work"
chown "$CONTAINER_USER" "$WORK/container_out" "$WORK/container_work"
run_container() {
  "${PODMAN[@]}" run --rm --network none --user "$CONTAINER_USER" \
    -v "$WORK/study:$WORK/study:ro" -v "$WORK/container_out:$WORK/container_out" \
    -v "$WORK/container_work:$WORK/container_work" "$IMAGE" "$@"
}
run_container "$WORK/study" "$WORK/container_out" participant -w "$WORK/container_work" "${OPTIONS[@]}" \
  >"$WORK/container.log" 2>&1 || { tail "$WORK/container.log" >&2; die "the container's participant level failed"; }
run_container "$WORK/study" "$WORK/container_out" group -w "$WORK/container_work" \
  >>"$WORK/container.log" 2>&1 || { tail "$WORK/container.log" >&2; die "the container's group level failed"; }
phase "container run" "$t"

# ------------------------------------------------------------------------------------------- compare
owner=$(stat -c %u:%g "$(find "$WORK/container_out" -name '*_desc-network_measures.tsv' | head -n 1)")
[ "$owner" = "$CONTAINER_USER" ] || die "the container's outputs belong to $owner, not $CONTAINER_USER"
n=0; bad=0
while IFS= read -r rel; do
  n=$((n + 1))
  if ! cmp -s "$WORK/venv_out/$rel" "$WORK/container_out/$rel"; then
    bad=$((bad + 1)); log "differs: $rel"
  fi
done < <(cd "$WORK/venv_out" && find sub-* group -name '*.tsv' | sort)
[ "$n" -gt 0 ] || die "no TSV was written"
if [ "$bad" -ne 0 ]; then die "$bad of $n TSVs differ between the container and the venv (outputs in $WORK)"; fi
log "the container ($IMAGE, user $CONTAINER_USER, inputs read-only, no network) and the venv wrote the same $n TSVs, byte for byte"
log "timings: $(for k in engine "base images" "image build" venv study "venv run" "container run"; do printf '%s %ss; ' "$k" "${TOOK[$k]}"; done)total $(( $(now) - T_START )) s"
rm -rf "$WORK"
