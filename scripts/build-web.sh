#!/usr/bin/env bash
# build-web.sh: builds the web pages from web/src into web/dist, the folder
# every gateway serves (QW_STATIC_DIR). The third-party files, the QR code
# generator (npm qrcode-generator) and the CSV parser of the quiz editor (npm
# papaparse), both pinned in web/package-lock.json, are copied into
# web/dist/assets, with the CSV template of examples/: the pages load nothing
# from another host at run time.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$ROOT/web/node_modules/qrcode-generator/dist/qrcode.js" ] ||
  [ ! -f "$ROOT/web/node_modules/papaparse/papaparse.min.js" ]; then
  (cd "$ROOT/web" && npm ci --no-audit --no-fund --silent)
fi
rm -rf "$ROOT/web/dist.tmp"
mkdir -p "$ROOT/web/dist.tmp/assets"
cp "$ROOT"/web/src/*.html "$ROOT/web/dist.tmp/"
cp "$ROOT"/web/src/assets/* "$ROOT/web/dist.tmp/assets/"
cp "$ROOT/web/node_modules/qrcode-generator/dist/qrcode.js" "$ROOT/web/dist.tmp/assets/qrcode.js"
cp "$ROOT/web/node_modules/papaparse/papaparse.min.js" "$ROOT/web/dist.tmp/assets/papaparse.js"
cp "$ROOT/examples/quiz_template.csv" "$ROOT/web/dist.tmp/assets/quiz_template.csv"
rm -rf "$ROOT/web/dist"
mv "$ROOT/web/dist.tmp" "$ROOT/web/dist"
