#!/usr/bin/env bash
# Builds a Debian 12 base image with python3 and its venv module, for the Dockerfile's BASE where no registry can be
# pulled from: debootstrap from Debian's mirror, then `podman import`. Idempotent: an existing image is kept.
#   deploy/image/debian-base.sh [IMAGE]          (as root; needs debootstrap and podman)
set -euo pipefail
image="${1:-localhost/helpstream-base:bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if podman image exists "$image"; then
  echo "$image exists"
  exit 0
fi
work="$(mktemp -d /var/tmp/helpstream-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
echo "debootstrap bookworm (minbase, python3) from $mirror into $work: a few minutes"
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$work/root" "$mirror" \
  > "$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
# What an image needs no copy of: package lists, caches, docs.
rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/"*.bin "$work/root/usr/share/doc" \
  "$work/root/usr/share/man"
tar -C "$work/root" -c . | podman import --change 'CMD ["python3"]' - "$image"
echo "$image built"
