#!/usr/bin/env bash
# The certificates and PKCS#12 files mailseal writes, checked by the real
# peers: openssl verify/x509/pkcs12, NSS pk12util/certutil, gpgsm.
source "$(dirname "$0")/../lib.sh"

for tool in openssl certutil pk12util gpgsm; do
  command -v "$tool" >/dev/null || skip_test "$tool is not installed (scripts/install-deps.sh installs it)"
done

# Splits a PEM bundle into cert-1.pem, cert-2.pem, ... in a folder.
split_pem() {
  local bundle=$1 dir=$2
  mkdir -p "$dir"
  awk -v dir="$dir" '/BEGIN CERTIFICATE/{n++} {print > (dir "/cert-" n ".pem")}' "$bundle"
}

for suite in compat modern; do
  note "suite $suite"
  H="$WORK/home-$suite"
  "$MAILSEAL" init alice@example.com --name "Alice Example" --suite "$suite" --home "$H" >/dev/null 2>&1 ||
    { fail "init ($suite)"; continue; }
  "$MAILSEAL" export certificates -o "$WORK/$suite.pem" --home "$H"
  split_pem "$WORK/$suite.pem" "$WORK/$suite"
  ROOT="$WORK/$suite/cert-3.pem"

  expect_status 0 "openssl x509 reads the root" -- openssl x509 -in "$ROOT" -noout -text
  expect_contains "$OUT" "X509v3 Name Constraints" "the root has name constraints"
  expect_contains "$OUT" "Permitted:" "they permit a subtree"
  expect_contains "$OUT" "email:alice@example.com" "the profile's address"
  expect_contains "$OUT" "CA:TRUE, pathlen:0" "the root is a CA for end entities only"

  expect_status 0 "openssl verify: signing certificate, purpose smimesign" -- \
    openssl verify -x509_strict -purpose smimesign -CAfile "$ROOT" "$WORK/$suite/cert-1.pem"
  if [ "$suite" = compat ]; then
    expect_status 0 "openssl verify: encryption certificate, purpose smimeencrypt" -- \
      openssl verify -x509_strict -purpose smimeencrypt -CAfile "$ROOT" "$WORK/$suite/cert-2.pem"
  else
    # RFC 5480 forbids keyEncipherment on EC keys; OpenSSL's smimeencrypt
    # purpose demands it, so the EC encryption certificate is checked as a chain
    # and for keyAgreement.
    expect_status 0 "openssl verify: EC encryption certificate chain" -- \
      openssl verify -x509_strict -CAfile "$ROOT" "$WORK/$suite/cert-2.pem"
    expect_status 0 "openssl x509 shows its key usage" -- openssl x509 -in "$WORK/$suite/cert-2.pem" -noout -ext keyUsage
    expect_contains "$OUT" "Key Agreement" "keyUsage keyAgreement (RFC 5480)"
  fi
  expect_status 0 "openssl x509 shows the S/MIME extensions" -- openssl x509 -in "$WORK/$suite/cert-1.pem" -noout -ext extendedKeyUsage,subjectAltName,keyUsage,authorityKeyIdentifier
  expect_contains "$OUT" "E-mail Protection" "extendedKeyUsage emailProtection"
  expect_contains "$OUT" "email:alice@example.com" "subjectAltName rfc822Name"
  expect_contains "$OUT" "Digital Signature" "keyUsage digitalSignature"

  # A certificate for an address outside the constraints, signed with the
  # root's own key by openssl, must fail to verify.
  ROOT_KEY=$(ls "$H"/keys/root-*.pem)
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/mallory.key" \
    -subj "/CN=Mallory" -out "$WORK/mallory.csr" 2>/dev/null
  printf 'subjectAltName=email:mallory@example.org\nextendedKeyUsage=emailProtection\nkeyUsage=digitalSignature\n' >"$WORK/ext.cnf"
  openssl x509 -req -in "$WORK/mallory.csr" -CA "$ROOT" -CAkey "$ROOT_KEY" -CAcreateserial -days 1 \
    -extfile "$WORK/ext.cnf" -out "$WORK/mallory-$suite.pem" 2>/dev/null
  expect_status 2 "openssl verify refuses an address outside the name constraints" -- \
    openssl verify -CAfile "$ROOT" "$WORK/mallory-$suite.pem"
  expect_contains "$OUT$ERR" "permitted subtree violation" "because of the name constraints"

  printf 'export-password\n' >"$WORK/pw"
  "$MAILSEAL" export pkcs12 -o "$WORK/$suite.p12" --password-file "$WORK/pw" --home "$H" >/dev/null
  expect_status 0 "openssl pkcs12 reads the default PKCS#12" -- openssl pkcs12 -in "$WORK/$suite.p12" -passin file:"$WORK/pw" -info -nokeys
  expect_contains "$ERR" "PBES2" "protected with PBES2"
  expect_contains "$ERR" "AES-256-CBC" "and AES-256"
  expect_contains "$ERR" "MAC: sha256" "with a SHA-256 MAC"
  expect_equal "$(printf '%s' "$OUT" | grep -c 'BEGIN CERTIFICATE')" "3" "two mail certificates and the root, once"
  expect_status 0 "openssl pkcs12 extracts both keys" -- openssl pkcs12 -in "$WORK/$suite.p12" -passin file:"$WORK/pw" -nocerts -nodes
  expect_equal "$(printf '%s' "$OUT" | grep -c 'BEGIN PRIVATE KEY')" "2" "two private keys"

  NSSDB="$WORK/nss-$suite"
  mkdir -p "$NSSDB"
  certutil -N -d "sql:$NSSDB" --empty-password
  expect_status 0 "pk12util imports the default PKCS#12 into a fresh NSS database" -- \
    pk12util -i "$WORK/$suite.p12" -d "sql:$NSSDB" -w "$WORK/pw"
  expect_status 0 "certutil lists the certificates" -- certutil -L -d "sql:$NSSDB"
  expect_contains "$OUT" "alice@example.com (signing)" "the signing certificate, by its friendly name"
  expect_contains "$OUT" "alice@example.com (encryption)" "the encryption certificate"
  expect_status 0 "certutil lists the private keys" -- certutil -K -d "sql:$NSSDB"
  expect_equal "$(printf '%s' "$OUT" | grep -c 'alice@example.com')" "2" "both keys are in NSS"
  # NSS validates the chain for S/MIME once the root is trusted.
  ROOT_NICK=$(certutil -L -d "sql:$NSSDB" | awk 'NR>4 && !/alice@example.com/ {sub(/[ \t]+[A-Za-z,]*,[A-Za-z,]*,[A-Za-z,]*[ \t]*$/,""); if (!found) print; found = 1}')
  certutil -M -d "sql:$NSSDB" -n "$ROOT_NICK" -t "C,C,C" 2>/dev/null
  expect_status 0 "certutil -V validates the signing certificate as an email signer" -- \
    certutil -V -d "sql:$NSSDB" -n "alice@example.com (signing)" -u S
  expect_status 0 "certutil -V validates the encryption certificate as an email recipient" -- \
    certutil -V -d "sql:$NSSDB" -n "alice@example.com (encryption)" -u R
done

note "gpgsm imports the legacy PKCS#12 (compat suite)"
H="$WORK/home-compat"
# gpgsm 2.2 reads the first key of a PKCS#12 only: one file a key.
"$MAILSEAL" export pkcs12 --legacy --purpose signing -o "$WORK/legacy.p12" --password-file "$WORK/pw" --home "$H" >/dev/null
"$MAILSEAL" export pkcs12 --legacy --purpose encryption -o "$WORK/legacy-enc.p12" --password-file "$WORK/pw" --home "$H" >/dev/null
expect_status 0 "openssl reads the legacy PKCS#12" -- openssl pkcs12 -in "$WORK/legacy.p12" -passin file:"$WORK/pw" -info -nokeys -noout
expect_contains "$ERR" "pbeWithSHA1And3-KeyTripleDES-CBC" "3DES protection"
expect_contains "$ERR" "MAC: sha1" "SHA-1 MAC"
export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
printf 'allow-loopback-pinentry\n' >"$GNUPGHOME/gpg-agent.conf"
printf 'disable-crl-checks\n' >"$GNUPGHOME/gpgsm.conf"
expect_status 0 "gpgsm --import (batch) accepts the legacy PKCS#12" -- \
  sh -c 'gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import "$1" <"$2"' gpgsm "$WORK/legacy.p12" "$WORK/pw"
expect_contains "$ERR" "secret keys imported: 1" "the signing key is imported"
expect_status 0 "gpgsm --import the encryption key's legacy PKCS#12" -- \
  sh -c 'gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import "$1" <"$2"' gpgsm "$WORK/legacy-enc.p12" "$WORK/pw"
expect_contains "$ERR" "secret keys imported: 1" "the encryption key is imported"
expect_status 0 "gpgsm lists the secret keys" -- gpgsm --batch --with-colons --list-secret-keys
expect_equal "$(printf '%s\n' "$OUT" | grep -c '^crs')" "2" "two secret keys"
expect_contains "$OUT" "alice@example.com" "for alice@example.com"
# Trust the root and let gpgsm validate the chain of the signing certificate.
ROOT_FPR=$(gpgsm --batch --with-colons --list-keys "/CN=Alice Example" 2>/dev/null | awk -F: '/^fpr/ && !found {print $10; found = 1}')
printf '%s S relax\n' "$ROOT_FPR" >"$GNUPGHOME/trustlist.txt"
expect_status 0 "gpgsm validates the chain (name constraints included)" -- gpgsm --batch --with-validation --list-keys alice@example.com
expect_not_contains "$OUT$ERR" "not supported" "no unsupported critical extension"
expect_not_contains "$OUT$ERR" "invalid" "nothing invalid"
gpgconf --kill gpg-agent 2>/dev/null || true  # cleanup: the agent would outlive the test
expect_status 1 "openssl refuses the default PKCS#12 with a wrong password" -- \
  openssl pkcs12 -in "$WORK/compat.p12" -passin pass:wrong -info -noout

finish 72
