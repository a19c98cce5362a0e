#!/usr/bin/env bash
# Installs the Debian 12 packages mailseal builds, tests, demonstrates and
# benchmarks with, skipping the ones already installed. Run as root (or with
# sudo available). Packages are installed with --no-install-recommends, so
# every capability a test uses is named here by the package that provides it,
# never left to a recommendation (swaks's TLS and gpgsm's agent are both only
# recommended by their packages).
set -euo pipefail

packages=(
  # build: the compiler, CMake and make, pkg-config for GMime
  g++ cmake make pkg-config
  # libraries (DESIGN.md section 10)
  libssl-dev libgmime-3.0-dev libsqlite3-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libcpp-httplib-dev libqrencode-dev
  # NSS (libnss3-dev): `setup gateway --thunderbird` saves the gateway's password in Thunderbird's
  # logins.json, encrypted with the key in the profile's key4.db (src/clients/sdr.cc)
  libnss3-dev
  # the key service's HTTP server: libmicrohttpd (event-driven, built for hostile clients; docs/service.md)
  libmicrohttpd-dev
  # the key service's PostgreSQL back end (`serve --db postgresql://...`): libpq; and the server
  # (postgresql: initdb, pg_ctl, psql, pg_dump) for the throwaway clusters its tests start
  # (tests/tools/postgres_tool.py), run as nobody through runuser (util-linux) where the tests run as root
  libpq-dev postgresql util-linux
  # the peers the tests check mailseal's output with:
  #   openssl (x509, verify, pkcs12, cms, req, dgst: interop, client set-up, gateway, service signatures)
  #   libnss3-tools (certutil, pk12util, cmsutil: interop, Thunderbird set-up, and what mailseal itself runs)
  #   gpgsm, and gpg-agent, which holds the keys gpgsm imports (gpgsm only recommends it); gpgconf stops it
  openssl libnss3-tools gpgsm gpg-agent gpgconf
  # the SMTP side of the gateway tests, the demo and the gateway benchmark:
  #   python3-aiosmtpd (the upstream server; Debian's is seen only by /usr/bin/python3)
  #   swaks (the mail client), and libnet-ssleay-perl, its TLS (Net::SSLeay: STARTTLS, which swaks
  #   only recommends and whose absence fails the STARTTLS cases)
  python3-aiosmtpd swaks libnet-ssleay-perl
  # faketime (with libfaketime, its dependency): the key service of tests/devices runs on a clock
  # the test moves forward instead of sleeping until a PIN expires (tests/tools/service_tool.py)
  faketime
  # systemd (systemd-analyze, systemctl): tests/gateway/user_service.py checks the gateway's user
  # unit with `systemd-analyze verify --user` and enables it with `systemctl --user`
  systemd
  # the key service's pages in a real browser (tests/service/web_pages.py): Debian's chromium,
  # headless, driven by chromium-driver (chromedriver) through python3-selenium
  chromium chromium-driver python3-selenium
  # bind9-utils (named-checkzone): tests/service/smimea checks the RFC 8162 zone lines
  # `mailseal service smimea` prints with the DNS server's own zone parser
  bind9-utils
  # Python 3 (/usr/bin/python3 with its standard library: sqlite3, ssl, plistlib, smtplib,
  # http.client, email) for the test scripts, tests/tools and the benchmarks
  python3
  # sqlite3, to look into a store or the key service's database by hand
  sqlite3
  # what the shell tests, the demo and the scripts run besides (all part of a Debian system,
  # named so that nothing is assumed): bash; dash (sh); coreutils (mktemp, stat, dd, timeout, mkfifo,
  # mknod, sha256sum, base64, seq, nproc, ...); findutils (find, xargs); diffutils (cmp);
  # grep; sed; mawk (awk)
  bash dash coreutils findutils diffutils grep sed mawk
)

# On demand only (`scripts/install-deps.sh --real-clients`; the default run and CI never install
# them): the real mail clients that tests/clients/thunderbird_real.py drives, with what it needs
# to drive and see them: thunderbird (Debian's, an ESR with its own NSS), xvfb (Xvfb, a display
# without a screen), imagemagick (import: screenshots), xdotool (clicks and keys), tesseract-ocr
# (reads the screenshots), x11-apps (xwd, for capturing by hand).
real_client_packages=(thunderbird xvfb imagemagick xdotool tesseract-ocr x11-apps)
# On demand only (`scripts/install-deps.sh --bench`): what bench/service_bench.py measures the key
# service with and against: wrk (the HTTP load generator) and nginx-light (nginx, the peer serving
# the same profile document as a static file), python3-cryptography (signs the publishes it
# sends, each with its own nonce). PostgreSQL's rows (--db postgresql) also use Debian's
# postgresql (initdb, pg_ctl of PostgreSQL 15). valgrind: bench/gateway_instructions.py counts the
# gateway's instructions per message with callgrind (callgrind_control).
bench_packages=(nginx-light wrk python3-cryptography valgrind)
case "${1:-}" in
  "") ;;
  --real-clients) packages+=("${real_client_packages[@]}") ;;
  --bench) packages+=("${bench_packages[@]}") ;;
  *) echo "usage: scripts/install-deps.sh [--real-clients | --bench]" >&2; exit 2 ;;
esac

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
