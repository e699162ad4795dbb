#!/bin/bash
# Makes the Dockerfile's base image (debian:bookworm-slim) from Debian's packages, without a
# registry: mmdebstrap (minbase, merged /usr, documentation excluded as in the official slim image) then
# `podman import`, tagged localhost/debian:bookworm-slim, the name `FROM debian:bookworm-slim`
# resolves to with --pull=never. Does nothing if that image exists (`--force` remakes it).
set -euo pipefail
TAG=${BASE_TAG:-localhost/debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
if [ "${1:-}" != "--force" ] && podman image exists "$TAG"; then
  echo "base image $TAG exists (cached; container/base.sh --force remakes it)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# merged-usr hook: the /usr merge made directly, as in the official images (minbase would otherwise
# install the usrmerge package, which brings full perl: 46 MB).
mmdebstrap --quiet --variant=minbase --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  bookworm "$tmp/base.tar" \
  "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" "deb $SECURITY bookworm-security main"
podman import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --message "mmdebstrap --variant=minbase bookworm ($(date -u +%Y-%m-%d))" \
  "$tmp/base.tar" "$TAG" >/dev/null
echo "base image $TAG made from Debian packages: $(podman image inspect --format '{{.Size}}' "$TAG") bytes"
