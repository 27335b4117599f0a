#!/usr/bin/env bash
# Install the Debian 12 packages fleet needs: `run` (serve) or `test` (the whole suite).
# Installs only what is missing; uses sudo when not root. Fails loudly.
set -euo pipefail
what=${1:-run}
run_pkgs=(python3 python3-venv python3-dev gcc fonts-dejavu-core)
test_pkgs=(adb apksigner aapt zipalign android-framework-res zbar-tools poppler-utils chromium
           openssh-server nginx ffmpeg postgresql procps libfribidi0)
pkgs=("${run_pkgs[@]}")
[ "$what" = test ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-system-deps: missing Debian packages ${missing[*]} and no apt-get here" >&2
  exit 1
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
