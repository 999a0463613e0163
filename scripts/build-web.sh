#!/usr/bin/env bash
# build-web.sh: builds the web pages from web/src into web/dist, the folder
# every gateway serves (QW_STATIC_DIR). The one third-party file, the QR code
# generator (npm qrcode-generator, pinned in web/package-lock.json), is copied
# into web/dist/assets: the pages load nothing from another host at run time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$ROOT/web/node_modules/qrcode-generator/dist/qrcode.js" ]; then
  (cd "$ROOT/web" && npm ci --no-audit --no-fund --silent)
fi
rm -rf "$ROOT/web/dist.tmp"
mkdir -p "$ROOT/web/dist.tmp/assets"
cp "$ROOT"/web/src/*.html "$ROOT/web/dist.tmp/"
cp "$ROOT"/web/src/assets/* "$ROOT/web/dist.tmp/assets/"
cp "$ROOT/web/node_modules/qrcode-generator/dist/qrcode.js" "$ROOT/web/dist.tmp/assets/qrcode.js"
rm -rf "$ROOT/web/dist"
mv "$ROOT/web/dist.tmp" "$ROOT/web/dist"
