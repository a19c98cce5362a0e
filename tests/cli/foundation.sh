#!/usr/bin/env bash
# End to end: init, status, fingerprint, export, import, udf through the CLI,
# and the refusals of the foundation issue (bad input changes nothing).
source "$(dirname "$0")/../lib.sh"

HOME_A="$WORK/alice"
note "init creates a profile and prints its fingerprint and strong address"
expect_status 0 "init" -- "$MAILSEAL" init alice@example.com --name "Alice Example" --device-name laptop --home "$HOME_A"
expect_contains "$OUT" "fingerprint" "init prints the fingerprint"
FP=$("$MAILSEAL" fingerprint --home "$HOME_A")
expect_contains "$OUT" "$FP?alice@example.com" "init prints the strong address (query form)"
LOWER_FP=$(printf '%s' "$FP" | tr 'A-Z' 'a-z')
expect_contains "$OUT" "alice@mm--$LOWER_FP.example.com" "init prints the strong address (strong name form)"
expect_equal "${#FP}" "34" "default fingerprint is 140 bits (7 groups)"
expect_equal "${FP:0:1}" "M" "profile fingerprint is a SHA-2-512 UDF"

note "status"
expect_status 0 "status --json" -- "$MAILSEAL" status --json --home "$HOME_A"
STATUS_JSON=$OUT
expect_equal "$(json_field fingerprint <<<"$STATUS_JSON")" "$FP" "status fingerprint matches"
expect_equal "$(json_field addresses.0 <<<"$STATUS_JSON")" "alice@example.com" "status lists the address"
expect_equal "$(json_field name <<<"$STATUS_JSON")" "Alice Example" "status has the name"
expect_equal "$(json_field suite <<<"$STATUS_JSON")" "compat" "status has the suite"
expect_equal "$(json_field keys_encrypted <<<"$STATUS_JSON")" "false" "keys are not encrypted without a passphrase"
expect_equal "$(json_field devices.0.name <<<"$STATUS_JSON")" "laptop" "status lists this device"
expect_equal "$(json_field schema_version <<<"$STATUS_JSON")" "1" "JSON carries a schema_version"
DEVICE_ID=$(json_field devices.0.device_id <<<"$STATUS_JSON")
expect_equal "${#DEVICE_ID}" "24" "device id is a 100-bit UDF"
# Global options are accepted before the subcommand too.
expect_status 0 "global options before the subcommand" -- "$MAILSEAL" --home "$HOME_A" --json status
expect_equal "$(json_field fingerprint <<<"$OUT")" "$FP" "same profile either way"
MAILSEAL_HOME="$HOME_A" expect_status 0 "MAILSEAL_HOME selects the store" -- "$MAILSEAL" fingerprint
expect_equal "$OUT" "$FP" "MAILSEAL_HOME gives the same profile"

note "fingerprint precision"
expect_status 0 "fingerprint --bits 200" -- "$MAILSEAL" fingerprint --bits 200 --home "$HOME_A"
expect_equal "${OUT:0:34}" "$FP" "a longer presentation extends the shorter one"
expect_status 2 "fingerprint --bits 130 is refused" -- "$MAILSEAL" fingerprint --bits 130 --home "$HOME_A"

note "key files are private"
files_matching "the profile's key files" "$HOME_A/keys" "*.pem"
KEY_FILES=("${FILES[@]}")
expect_equal "${#KEY_FILES[@]}" "5" "the root, two device keys and two mail keys"
for f in "${KEY_FILES[@]}" "$HOME_A/mailseal.db"; do
  expect_equal "$(stat -c %a "$f")" "600" "$(basename "$f") is 0600"
done
expect_equal "$(stat -c %a "$HOME_A")" "700" "the home is 0700"
expect_equal "$(grep -l "ENCRYPTED" "${KEY_FILES[@]}" | wc -l)" "0" "no key is encrypted without a passphrase"
expect_equal "$(grep -l "BEGIN PRIVATE KEY" "${KEY_FILES[@]}" | wc -l)" "${#KEY_FILES[@]}" \
  "every key is plain PKCS#8 without a passphrase"

note "export certificates: every mail certificate, then the root"
expect_status 0 "export certificates" -- "$MAILSEAL" export certificates -o "$WORK/certs.pem" --home "$HOME_A"
expect_equal "$(grep -c 'BEGIN CERTIFICATE' "$WORK/certs.pem")" "3" "two mail certificates and the root"
expect_status 0 "export certificates to stdout" -- "$MAILSEAL" export certificates --home "$HOME_A"
expect_equal "$OUT" "$(cat "$WORK/certs.pem")" "stdout and file agree"

note "export pkcs12 with a generated password"
expect_status 0 "export pkcs12 --json" -- "$MAILSEAL" export pkcs12 -o "$WORK/gen.p12" --json --home "$HOME_A"
GEN_PW=$(json_field password <<<"$OUT")
expect_equal "${#GEN_PW}" "23" "a generated password is printed"
expect_equal "$(stat -c %a "$WORK/gen.p12")" "600" "the PKCS#12 is written 0600"

note "passphrase-protected profile"
HOME_P="$WORK/protected"
printf 'hunter2 but longer\n' >"$WORK/passphrase"
expect_status 0 "init with --passphrase-file" -- "$MAILSEAL" init carol@example.org --suite modern --passphrase-file "$WORK/passphrase" --home "$HOME_P"
expect_status 0 "status" -- "$MAILSEAL" status --json --home "$HOME_P"
expect_equal "$(json_field keys_encrypted <<<"$OUT")" "true" "status says the keys are encrypted"
expect_equal "$(json_field suite <<<"$OUT")" "modern" "modern suite"
expect_equal "$(json_field mail_keys.0.algorithm <<<"$OUT")" "P-256" "modern suite uses P-256 mail keys"
files_matching "the protected profile's key files" "$HOME_P/keys" "*.pem"
expect_equal "$(grep -l 'BEGIN ENCRYPTED PRIVATE KEY' "${FILES[@]}" | wc -l)" "${#FILES[@]}" "every key file is encrypted"
expect_status 1 "export pkcs12 without the passphrase is refused" -- "$MAILSEAL" export pkcs12 -o "$WORK/x.p12" --home "$HOME_P"
expect_contains "$ERR" "passphrase" "the error names the passphrase"
expect_contains "$ERR" "hint:" "and gives a hint"
[ ! -e "$WORK/x.p12" ] && pass "nothing written" || fail "a file was written"
printf 'wrong\n' >"$WORK/wrong"
expect_status 1 "a wrong passphrase is refused" -- "$MAILSEAL" export pkcs12 -o "$WORK/x.p12" --passphrase-file "$WORK/wrong" --home "$HOME_P"
MAILSEAL_PASSPHRASE='hunter2 but longer' expect_status 0 "MAILSEAL_PASSPHRASE unlocks the keys" -- "$MAILSEAL" export pkcs12 -o "$WORK/carol.p12" --password-file "$WORK/passphrase" --home "$HOME_P"

note "import pkcs12: keys made elsewhere become additional keys of their address"
HOME_B="$WORK/bob"
"$MAILSEAL" init carol@example.org --home "$HOME_B" >/dev/null
expect_status 0 "import a PKCS#12 made by another profile" -- "$MAILSEAL" import pkcs12 "$WORK/carol.p12" --password-file "$WORK/passphrase" --home "$HOME_B" --json
expect_equal "$(json_field imported.0.address <<<"$OUT")" "carol@example.org" "imported for its address"
expect_equal "$(json_field imported.0.chain_length <<<"$OUT")" "1" "its chain is kept"
expect_status 0 "status after import" -- "$MAILSEAL" status --json --home "$HOME_B"
expect_equal "$(json_field mail_keys.2.origin <<<"$OUT")" "imported" "status shows the imported key"

note "bad input: a clear message, a non-zero exit, and the store exactly as it was"
BEFORE=$(snapshot "$HOME_B")
expect_status 1 "importing the same PKCS#12 twice" -- "$MAILSEAL" import pkcs12 "$WORK/carol.p12" --password-file "$WORK/passphrase" --home "$HOME_B"
expect_contains "$ERR" "already" "says it is there already"
expect_status 1 "a wrong PKCS#12 password" -- "$MAILSEAL" import pkcs12 "$WORK/carol.p12" --password-file "$WORK/wrong" --home "$HOME_B"
expect_contains "$ERR" "wrong password" "says the password is wrong"
head -c 700 "$WORK/carol.p12" >"$WORK/truncated.p12"
expect_status 1 "a truncated PKCS#12" -- "$MAILSEAL" import pkcs12 "$WORK/truncated.p12" --password-file "$WORK/passphrase" --home "$HOME_B"
expect_contains "$ERR" "damaged or truncated" "says the file is damaged"
cp "$WORK/carol.p12" "$WORK/damaged.p12"
printf '\x55\x55\x55\x55' | dd of="$WORK/damaged.p12" bs=1 seek=300 conv=notrunc 2>/dev/null
expect_status 1 "a damaged PKCS#12" -- "$MAILSEAL" import pkcs12 "$WORK/damaged.p12" --password-file "$WORK/passphrase" --home "$HOME_B"
printf 'not a pkcs12 at all' >"$WORK/garbage.p12"
expect_status 1 "a file that is not a PKCS#12" -- "$MAILSEAL" import pkcs12 "$WORK/garbage.p12" --home "$HOME_B"
expect_status 1 "a PKCS#12 for another address" -- "$MAILSEAL" import pkcs12 "$WORK/gen.p12" --password-file <(printf '%s' "$GEN_PW") --home "$HOME_B"
expect_contains "$ERR" "not for an address of this profile" "names the address problem"
expect_status 1 "a missing file" -- "$MAILSEAL" import pkcs12 "$WORK/missing.p12" --home "$HOME_B"
expect_status 1 "a second init" -- "$MAILSEAL" init carol@example.org --home "$HOME_B"
expect_contains "$ERR" "exists already" "says a profile exists"
expect_equal "$(snapshot "$HOME_B")" "$BEFORE" "the store is unchanged after every refusal"

for bad in "notanaddress" "alice@" "@example.com" "a b@example.com" "alice@localhost" "alice@[10.0.0.1]"; do
  expect_status 2 "init '$bad' is a usage error" -- "$MAILSEAL" init "$bad" --home "$WORK/never"
done
[ ! -e "$WORK/never" ] && pass "no store is created for an invalid address" || fail "a store was created"
expect_status 2 "init without an address" -- "$MAILSEAL" init --home "$WORK/never"
expect_status 2 "an address given twice" -- "$MAILSEAL" init a@example.com A@example.com --home "$WORK/never"
expect_status 2 "an unknown suite" -- "$MAILSEAL" init a@example.com --suite rot13 --home "$WORK/never"
[ ! -e "$WORK/never" ] && pass "still nothing created" || fail "a store was created"

touch "$WORK/a-file"
expect_status 1 "an unwritable home (its parent is a file)" -- "$MAILSEAL" init dave@example.com --home "$WORK/a-file/home"
expect_contains "$ERR" "a-file" "the error names the path"
if [ "$(id -u)" -ne 0 ]; then
  mkdir -m 500 "$WORK/readonly"
  expect_status 1 "a read-only home" -- "$MAILSEAL" init dave@example.com --home "$WORK/readonly/home"
fi
expect_status 1 "status without a profile" -- "$MAILSEAL" status --home "$WORK/empty"
expect_contains "$ERR" "mailseal init" "hints at init"
[ ! -e "$WORK/empty" ] && pass "status creates nothing" || fail "status created a store"

note "udf"
expect_status 0 "udf of the draft's example" -- sh -c "printf 'UDF Data Value' | '$MAILSEAL' udf --content-type text/plain"
expect_equal "$OUT" "MDDK-7N6A-727A-JZNO-STRX-XKS7-DJAF" "SHA-2 example"
printf 'UDF Data Value' >"$WORK/data"
expect_status 0 "udf --sha3 FILE" -- "$MAILSEAL" udf --content-type text/plain --sha3 "$WORK/data"
expect_equal "$OUT" "KCFI-NCQG-DRKG-47R7-OVPT-TCHZ-7UXY" "SHA-3 example"
printf 'UDF Compressed Document 4187123' >"$WORK/compressed"
expect_status 0 "udf of a compressed example" -- "$MAILSEAL" udf --content-type text/plain "$WORK/compressed"
expect_equal "$OUT" "MGHB-JWIZ-J3LA-EEWD-GCT3-WX6H-C5W2" "compressed example"
expect_status 0 "udf --bits 100" -- "$MAILSEAL" udf --content-type text/plain --bits 100 "$WORK/data"
expect_equal "$OUT" "MDDK-7N6A-727A-JZNO-STRX" "100-bit presentation"
expect_status 2 "udf --bits 30 is refused" -- "$MAILSEAL" udf --bits 30 "$WORK/data"
expect_status 1 "udf of a missing file" -- "$MAILSEAL" udf "$WORK/nothing-here"
note "udf --parse describes fingerprints and strong addresses, and refuses malformed ones"
expect_status 0 "udf --parse of a strong address" -- "$MAILSEAL" udf --json --parse "alice@mm--$LOWER_FP.example.com"
expect_equal "$(json_field kind <<<"$OUT")" "strong address" "recognised as a strong address"
expect_equal "$(json_field address <<<"$OUT")" "alice@example.com" "with its address"
expect_equal "$(json_field udf <<<"$OUT")" "$FP" "and its fingerprint"
expect_equal "$(json_field work_factor_bits <<<"$OUT")" "132" "140 bits give 132 bits of work factor"
expect_status 0 "udf --parse of a compressed fingerprint" -- "$MAILSEAL" udf --json --parse mghb-jwiz-j3la-eewd-gct3-wx6h-c5w2
expect_equal "$(json_field compression_bits <<<"$OUT")" "20" "compression counted"
expect_status 0 "udf --parse of a share" -- "$MAILSEAL" udf --json --parse SAYC-UW4N-56UI-VTTZ-62UN-J6FP-ETD3-O
expect_equal "$(json_field quorum <<<"$OUT")" "3" "share quorum"
for bad in "MDDK-7N6A-727A-JZNO" "MDDK-7N6A-727A-JZNO-STR1" "MDDK-7N6A-727A-JZNO-STRX?not-an-address" \
           "alice@mm--zzzz.example.com" "$(printf 'MDDK\033[2J')" ""; do
  expect_status 1 "udf --parse refuses '$(printf '%q' "$bad")'" -- "$MAILSEAL" udf --parse "$bad"
  expect_contains "$ERR" "mailseal: error:" "with a clear message"
  expect_not_contains "$ERR" "$(printf '\033')" "and no raw control characters"
done

note "the default home follows XDG_DATA_HOME"
XDG_DATA_HOME="$WORK/xdg" HOME="$WORK/nohome" expect_status 0 "init without --home" -- env -u MAILSEAL_HOME "$MAILSEAL" init xdg@example.com
[ -f "$WORK/xdg/mailseal/mailseal.db" ] && pass "store created in \$XDG_DATA_HOME/mailseal" || fail "no store under XDG_DATA_HOME"
HOME="$WORK/plainhome" expect_status 0 "init with only HOME" -- env -u MAILSEAL_HOME -u XDG_DATA_HOME "$MAILSEAL" init home@example.com
[ -f "$WORK/plainhome/.local/share/mailseal/mailseal.db" ] && pass "store created in ~/.local/share/mailseal" || fail "no store under HOME"

expect_status 2 "an unknown command" -- "$MAILSEAL" frobnicate
expect_status 2 "an unknown option" -- "$MAILSEAL" status --frobnicate
expect_status 0 "--help" -- "$MAILSEAL" --help
expect_contains "$OUT" "init" "help lists the commands"

finish 133
