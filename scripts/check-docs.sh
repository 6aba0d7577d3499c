#!/usr/bin/env bash
# The configuration table in README.md and .env.example are generated from src/config.h:
# fail when the committed copies differ from what the binary prints.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${DLB_BIN:-build/ducklake-backend}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" --env-example > "$tmp/env"
if ! diff -u .env.example "$tmp/env"; then
    echo "check-docs: .env.example is stale: run '$bin --env-example > .env.example'" >&2
    exit 1
fi
"$bin" --config-markdown > "$tmp/md"
sed -n '/^| variable | default | allowed | meaning |$/,/^$/p' README.md | sed '/^$/d' > "$tmp/readme"
if ! diff -u "$tmp/readme" "$tmp/md"; then
    echo "check-docs: the README configuration table is stale: regenerate it with --config-markdown" >&2
    exit 1
fi
echo "check-docs: README configuration table and .env.example are current"
