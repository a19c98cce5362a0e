#!/usr/bin/env bash
# Installs the Debian 12 packages mailseal builds and tests with, skipping the
# ones already installed. Run as root (or with sudo available).
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config
  # libraries (DESIGN.md section 10)
  libssl-dev libgmime-3.0-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libcpp-httplib-dev libqrencode-dev
  # peers the tests run against
  openssl gpgsm libnss3-tools sqlite3
  # the gateway's upstream SMTP server and clients in tests and the demo
  python3 python3-aiosmtpd swaks
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    echo "install-deps: error: run as root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -q
"${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
