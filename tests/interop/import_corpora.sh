#!/usr/bin/env bash
# import pkcs12 adopts identities made by other implementations: the
# Thunderbird/NSS test identities (password "nss") and the LAMPS sample
# bob.p12 (RC2-40, through OpenSSL's legacy provider).
source "$(dirname "$0")/../lib.sh"
# A corpus folder that is absent skips; a file missing from one that is there fails.
require_corpora thunderbird autocrypt-protected-headers notmuch

import_case() {
  local file=$1 password=$2 address=$3 expected_keys=$4
  local home
  home="$WORK/$(echo "$file" | tr '/.' '__')"
  if [ ! -f "$CORPORA/$file" ]; then
    fail "$file is missing from the corpus"
    return
  fi
  "$MAILSEAL" init "$address" --suite modern --home "$home" >/dev/null 2>&1
  printf '%s' "$password" >"$WORK/password"
  expect_status 0 "import $file" -- "$MAILSEAL" import pkcs12 "$CORPORA/$file" --password-file "$WORK/password" --json --home "$home"
  expect_equal "$(json_field imported.0.address <<<"$OUT")" "$address" "$file: key adopted for $address"
  expect_status 0 "status after importing $file" -- "$MAILSEAL" status --json --home "$home"
  local imported
  imported=$(python3 -c 'import json,sys; print(sum(1 for k in json.load(sys.stdin)["mail_keys"] if k["origin"]=="imported"))' <<<"$OUT")
  expect_equal "$imported" "$expected_keys" "$file: $expected_keys imported key(s) in the store"
  # The imported key works for export again, chain included.
  expect_status 0 "re-export including $file's key" -- "$MAILSEAL" export pkcs12 -o "$WORK/re.p12" --password-file "$WORK/password" --home "$home"
}

import_case thunderbird/mailnews-test-data-smime/Alice.p12 nss alice@example.com 1
import_case thunderbird/mailnews-test-data-smime/Bob.p12 nss bob@example.com 1
import_case thunderbird/mailnews-test-data-smime/Alice-ec.p12 nss alice-ec@example.com 1
import_case thunderbird/mailnews-test-data-smime/Fran.p12 nss fran@example.com 1
import_case thunderbird/mail-test-browser-smime-data/Bob.p12 nss bob@example.com 1
import_case autocrypt-protected-headers/bob.p12 bob bob@smime.example 1
import_case notmuch/test/smime/bob.p12 "" bob@smime.example 1

note "the Thunderbird identities keep their NSS test CA chain"
H="$WORK/chain"
"$MAILSEAL" init alice@example.com --suite modern --home "$H" >/dev/null 2>&1
printf 'nss' >"$WORK/nss"
expect_status 0 "import Alice.p12" -- "$MAILSEAL" import pkcs12 "$CORPORA/thunderbird/mailnews-test-data-smime/Alice.p12" --password-file "$WORK/nss" --json --home "$H"
expect_contains "$(json_field imported.0.issuer <<<"$OUT")" "NSS Test CA" "issued by the NSS test CA"
expect_equal "$(json_field imported.0.chain_length <<<"$OUT")" "1" "with the CA certificate as its chain"

note "refusals with corpus files"
BEFORE=$(snapshot "$H")
expect_status 1 "the wrong password for a Thunderbird identity" -- "$MAILSEAL" import pkcs12 "$CORPORA/thunderbird/mailnews-test-data-smime/Bob.p12" --home "$H"
expect_status 1 "another person's identity" -- "$MAILSEAL" import pkcs12 "$CORPORA/thunderbird/mailnews-test-data-smime/Bob.p12" --password-file "$WORK/nss" --home "$H"
expect_contains "$ERR" "bob@example.com" "names the certificate's address"
expect_equal "$(snapshot "$H")" "$BEFORE" "the store is unchanged"

finish 42
