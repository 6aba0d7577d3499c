#!/usr/bin/env bash
# Builds the container image: ./build.sh v1.0.2 tags ducklake-backend:v1.0.2 and :latest.
#   REGISTRY=ghcr.io/acme ./build.sh v1.0.2   also tags REGISTRY/ducklake-backend:... and pushes
#   PLATFORM=linux/amd64 ./build.sh v1.0.2    passes --platform (buildx)
# Without an argument the tag is v$(cat VERSION).
set -euo pipefail
cd "$(dirname "$0")"

tag=${1:-v$(cat VERSION)}
case "$tag" in
v[0-9]*.[0-9]*.[0-9]* | latest) ;;
*)
    echo "build.sh: tag must look like v1.2.3 (got '$tag')" >&2
    exit 2
    ;;
esac
image=${IMAGE:-ducklake-backend}
command -v docker >/dev/null 2>&1 || {
    echo "build.sh: docker is not installed" >&2
    exit 1
}

args=(--tag "$image:$tag" --tag "$image:latest"
    --label "org.opencontainers.image.version=$tag"
    --label "org.opencontainers.image.revision=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    --label "org.opencontainers.image.created=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
[ -n "${PLATFORM:-}" ] && args+=(--platform "$PLATFORM")
if [ -n "${REGISTRY:-}" ]; then
    args+=(--tag "$REGISTRY/$image:$tag" --tag "$REGISTRY/$image:latest")
fi

echo "build.sh: building $image:$tag"
docker build "${args[@]}" .
docker run --rm --entrypoint /app/build/ducklake-backend "$image:$tag" --version

if [ -n "${REGISTRY:-}" ]; then
    docker push "$REGISTRY/$image:$tag"
    docker push "$REGISTRY/$image:latest"
fi
echo "build.sh: done: $image:$tag"
