#!/usr/bin/env bash
# The README's main command: installs what is missing, builds, and shows
# mailseal on its embedded defaults in a temporary home, narrating each step.
# It leaves nothing behind.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
MAILSEAL="$PWD/${MAILSEAL_BUILD_DIR:-build}/src/cli/mailseal"

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/mailseal-demo.XXXXXX")
trap 'rm -rf "$DEMO"' EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "Alice creates her mailseal identity. No questions: one command."
run "$MAILSEAL" init alice@example.com --name "Alice Example" --device-name "alice-laptop" --home "$DEMO/alice"

say "Her profile: the fingerprint identifies her; the strong address carries it inside an email address."
run "$MAILSEAL" status --home "$DEMO/alice"

say "Her certificates are ordinary S/MIME certificates issued by her own small CA (the profile root)."
"$MAILSEAL" export certificates -o "$DEMO/alice.pem" --home "$DEMO/alice"
awk -v dir="$DEMO" '/BEGIN CERTIFICATE/{n++} {print > (dir "/cert-" n ".pem")}' "$DEMO/alice.pem"
for n in 1 2 3; do
  openssl x509 -in "$DEMO/cert-$n.pem" -noout -subject -issuer -ext keyUsage,extendedKeyUsage,nameConstraints 2>/dev/null |
    sed 's/^/    /'
  echo
done

say "Every S/MIME implementation accepts them: OpenSSL validates the chain for email."
run openssl verify -purpose smimesign -CAfile "$DEMO/cert-3.pem" "$DEMO/cert-1.pem"

say "The root can only vouch for Alice's own addresses (name constraints): a certificate it signs for Mallory fails."
ROOT_KEY=$(ls "$DEMO"/alice/keys/root-*.pem)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DEMO/m.key" -subj "/CN=Mallory" -out "$DEMO/m.csr" 2>/dev/null
printf 'subjectAltName=email:mallory@example.org\n' >"$DEMO/m.cnf"
openssl x509 -req -in "$DEMO/m.csr" -CA "$DEMO/cert-3.pem" -CAkey "$ROOT_KEY" -CAcreateserial -days 1 -extfile "$DEMO/m.cnf" -out "$DEMO/m.pem" 2>/dev/null
printf '$ openssl verify -CAfile root.pem mallory.pem\n'
openssl verify -CAfile "$DEMO/cert-3.pem" "$DEMO/m.pem" 2>&1 | sed 's/^/    /' || true

say "Her keys go into any mail client as PKCS#12 (a password is generated and shown)."
run "$MAILSEAL" export pkcs12 -o "$DEMO/alice.p12" --home "$DEMO/alice"
if command -v pk12util >/dev/null; then
  mkdir "$DEMO/nss" && certutil -N -d "sql:$DEMO/nss" --empty-password
  PASSWORD=$("$MAILSEAL" export pkcs12 -o "$DEMO/alice2.p12" --json --home "$DEMO/alice" | python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])')
  printf '%s' "$PASSWORD" >"$DEMO/pw"
  run pk12util -i "$DEMO/alice2.p12" -d "sql:$DEMO/nss" -w "$DEMO/pw"
  run certutil -L -d "sql:$DEMO/nss"
fi

say "Fingerprints are UDFs (draft-hallambaker-mesh-udf): the draft's own example."
printf '$ printf "UDF Data Value" | mailseal udf --content-type text/plain\n'
printf 'UDF Data Value' | "$MAILSEAL" udf --content-type text/plain

say "Done. The temporary home is removed; nothing is left running."
