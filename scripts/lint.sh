#!/usr/bin/env bash
# clang-format (the repo's .clang-format) and cppcheck over the C sources: the C
# counterpart of the seed's ruff and mypy step. Fails on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=""
for d in src tests/unit tests/fuzz; do [ -d "$d" ] && dirs="$dirs $d"; done
files=$(find $dirs -name '*.[ch]' | sort)
echo "lint: clang-format --dry-run -Werror ($(echo "$files" | wc -l) files)"
clang-format --dry-run -Werror $files
echo "lint: cppcheck"
cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
    --inline-suppr --suppress=missingIncludeSystem -D_GNU_SOURCE -DDLB_VERSION='"lint"' \
    -Isrc --library=posix src
echo "lint: ok"
