#!/usr/bin/env bash
# Refresh vendored front-end assets from the npm registry (see fleet/static/vendor/README.md).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent swagger-ui-dist@5.35.0 @picocss/pico@2.1.1 jsqr@1.4.0 >/dev/null
for t in *.tgz; do mkdir "${t%.tgz}"; tar xzf "$t" -C "${t%.tgz}"; done
v="$root/fleet/static/vendor"
cp swagger-ui-dist-5.35.0/package/{swagger-ui-bundle.js,swagger-ui.css,LICENSE,NOTICE} "$v/swagger-ui/"
cp picocss-pico-2.1.1/package/css/pico.min.css picocss-pico-2.1.1/package/LICENSE.md "$v/pico/"
mkdir -p "$v/jsqr" && cp jsqr-1.4.0/package/dist/jsQR.js jsqr-1.4.0/package/LICENSE "$v/jsqr/"
echo "vendored assets refreshed in $v"
