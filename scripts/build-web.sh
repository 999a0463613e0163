#!/usr/bin/env bash
# build-web.sh: copies the web pages from web/src into web/dist, the folder
# every gateway serves (QW_STATIC_DIR). Kept as a script so a bundling step
# can be added here without touching the Makefile.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$ROOT/web/dist.tmp"
mkdir -p "$ROOT/web/dist.tmp/assets"
cp "$ROOT"/web/src/*.html "$ROOT/web/dist.tmp/"
cp "$ROOT"/web/src/assets/* "$ROOT/web/dist.tmp/assets/" 2>/dev/null || true
rm -rf "$ROOT/web/dist"
mv "$ROOT/web/dist.tmp" "$ROOT/web/dist"
