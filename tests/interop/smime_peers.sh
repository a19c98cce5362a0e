#!/usr/bin/env bash
# S/MIME messages across the real peers, both directions:
#   mailseal signs      -> openssl cms, gpgsm, NSS cmsutil verify
#   peers sign          -> mailseal verify
#   mailseal encrypts (CBC path) -> openssl, gpgsm, cmsutil decrypt
#   openssl (GCM, OAEP), gpgsm, cmsutil encrypt -> mailseal decrypt
source "$(dirname "$0")/../lib.sh"
for tool in openssl certutil pk12util cmsutil gpgsm python3; do
  command -v "$tool" >/dev/null || skip_test "$tool is not installed (scripts/install-deps.sh installs it)"
done
TOOL="python3 $(dirname "$0")/../tools/mime_tool.py"
A="$WORK/alice" B="$WORK/bob"
"$MAILSEAL" init alice@example.com --name "Alice Example" --home "$A" >/dev/null 2>&1 || fail "init alice"
"$MAILSEAL" init bob@example.org --name "Bob Example" --home "$B" >/dev/null 2>&1 || fail "init bob"
printf 'pw\n' >"$WORK/pw"
"$MAILSEAL" export certificates -o "$WORK/alice-certs.pem" --home "$A"
"$MAILSEAL" export certificates -o "$WORK/bob-certs.pem" --home "$B"
awk -v d="$WORK/alice-" '/BEGIN CERT/{n++} {print > (d n ".pem")}' "$WORK/alice-certs.pem"   # 1 sign, 2 enc, 3 root
awk -v d="$WORK/bob-" '/BEGIN CERT/{n++} {print > (d n ".pem")}' "$WORK/bob-certs.pem"

# Carol: an identity made by OpenSSL, the kind of correspondent mailseal knows
# nothing about (no capabilities): encrypting to her takes the CBC path.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/carol-ca.key" -out "$WORK/carol-ca.pem" -days 30 \
  -subj "/CN=Carol CA" -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$WORK/carol.key" -out "$WORK/carol.csr" -subj "/CN=Carol/emailAddress=carol@example.net" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\nsubjectAltName=email:carol@example.net\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$WORK/carol.ext"
openssl x509 -req -in "$WORK/carol.csr" -CA "$WORK/carol-ca.pem" -CAkey "$WORK/carol-ca.key" -CAcreateserial -days 30 \
  -extfile "$WORK/carol.ext" -out "$WORK/carol.pem" 2>/dev/null
openssl pkcs12 -export -legacy -inkey "$WORK/carol.key" -in "$WORK/carol.pem" -certfile "$WORK/carol-ca.pem" \
  -passout pass:pw -out "$WORK/carol.p12" 2>/dev/null

# Peer key stores: gpgsm and NSS hold Alice's signing key, Carol's key, and
# trust the roots.
export GNUPGHOME="$WORK/gnupg"
mkdir -m 700 "$GNUPGHOME"
printf 'allow-loopback-pinentry\n' >"$GNUPGHOME/gpg-agent.conf"
printf 'disable-crl-checks\n' >"$GNUPGHOME/gpgsm.conf"
# The agent is started before the first import: started on demand by two imports in a
# row, it lost the second key once in a CI run (2026-11-30) on a loaded machine.
gpgconf --launch gpg-agent
gpg_import_p12() {
  gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 --import "$1" <"$WORK/pw" >"$WORK/gpgsm-import.log" 2>&1 ||
    { cat "$WORK/gpgsm-import.log" >&2; return 1; }
}
# gpgsm protects imported keys with the PKCS#12 password; operations give it back.
gpgsm_with_key() { gpgsm --batch --pinentry-mode loopback --passphrase-fd 0 "$@" <"$WORK/pw"; }
"$MAILSEAL" export pkcs12 --legacy --purpose signing -o "$WORK/alice-sign.p12" --password-file "$WORK/pw" --home "$A" >/dev/null
gpg_import_p12 "$WORK/alice-sign.p12" || fail "gpgsm imports Alice's signing key"
gpg_import_p12 "$WORK/carol.p12" || fail "gpgsm imports Carol's key"
gpgsm --batch --import "$WORK/bob-2.pem" "$WORK/bob-3.pem" >/dev/null 2>&1
for root in "$WORK/alice-3.pem" "$WORK/bob-3.pem" "$WORK/carol-ca.pem"; do
  fpr=$(openssl x509 -in "$root" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
  printf '%s S relax\n' "$fpr" >>"$GNUPGHOME/trustlist.txt"
done
NSS="$WORK/nss"
mkdir "$NSS" && certutil -N -d "sql:$NSS" --empty-password
"$MAILSEAL" export pkcs12 -o "$WORK/alice.p12" --password-file "$WORK/pw" --home "$A" >/dev/null
pk12util -i "$WORK/alice.p12" -d "sql:$NSS" -w "$WORK/pw" >/dev/null || fail "pk12util imports Alice"
pk12util -i "$WORK/carol.p12" -d "sql:$NSS" -w "$WORK/pw" >/dev/null || fail "pk12util imports Carol"
certutil -A -d "sql:$NSS" -n "Bob Example" -t ",," -i "$WORK/bob-2.pem"
certutil -A -d "sql:$NSS" -n "Bob root" -t "C,C,C" -i "$WORK/bob-3.pem"
certutil -A -d "sql:$NSS" -n "Alice root" -t "C,C,C" -i "$WORK/alice-3.pem" 2>/dev/null ||
  certutil -M -d "sql:$NSS" -n "Alice Example" -t "C,C,C"
certutil -A -d "sql:$NSS" -n "Carol root" -t "C,C,C" -i "$WORK/carol-ca.pem" 2>/dev/null ||
  certutil -M -d "sql:$NSS" -n "Carol CA" -t "C,C,C"

MESSAGE="$WORK/message.eml"
printf 'From: Alice Example <alice@example.com>\nTo: Bob Example <bob@example.org>\nSubject: Quarterly figures\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nThe figures are attached in spirit.\nGr\xc3\xbc\xc3\x9fe, Alice\n' >"$MESSAGE"

note "mailseal signs; openssl, gpgsm and NSS verify"
for form in detached opaque; do
  flag=""
  [ "$form" = opaque ] && flag="--opaque"
  expect_status 0 "mailseal sign ($form)" -- "$MAILSEAL" sign $flag "$MESSAGE" -o "$WORK/signed-$form.eml" --home "$A"
  expect_status 0 "openssl cms -verify accepts the $form signature (chain to Alice's root, purpose smimesign)" -- \
    openssl cms -verify -in "$WORK/signed-$form.eml" -CAfile "$WORK/alice-3.pem" -purpose smimesign -out "$WORK/openssl-out-$form"
  if [ "$form" = detached ]; then
    # An 8bit body travels base64-encoded in a detached signature (7-bit safe).
    expect_contains "$(cat "$WORK/openssl-out-$form")" "Content-Transfer-Encoding: base64" "openssl recovers the detached content, base64-encoded"
    expect_contains "$(cat "$WORK/openssl-out-$form")" "VGhlIGZpZ3VyZXMgYXJlIGF0dGFjaGVk" "with the text"
  else
    expect_contains "$(cat "$WORK/openssl-out-$form")" "figures are attached" "openssl recovers the opaque content"
  fi
done
$TOOL split "$WORK/signed-detached.eml" "$WORK/content.txt" "$WORK/sig.der"
expect_status 0 "gpgsm --verify accepts the detached signature" -- gpgsm --batch --verify "$WORK/sig.der" "$WORK/content.txt"
expect_contains "$ERR" "Good signature" "gpgsm: good signature"
expect_status 0 "NSS cmsutil -D accepts the detached signature" -- cmsutil -D -d "sql:$NSS" -i "$WORK/sig.der" -c "$WORK/content.txt" -n -h 1
expect_contains "$OUT" "signer0.status=GoodSignature" "cmsutil: GoodSignature"
$TOOL body "$WORK/signed-opaque.eml" "$WORK/opaque.der"
expect_status 0 "gpgsm --verify accepts the opaque signature" -- gpgsm --batch --verify "$WORK/opaque.der"
expect_contains "$ERR" "Good signature" "gpgsm: good signature (opaque)"
expect_status 0 "NSS cmsutil -D accepts the opaque signature" -- cmsutil -D -d "sql:$NSS" -i "$WORK/opaque.der" -h 1
expect_contains "$OUT" "signer0.status=GoodSignature" "cmsutil: GoodSignature (opaque)"
# A tampered copy fails in every peer.
sed 's/VGhlIGZpZ3VyZXMgYXJl/VGhlIGZpZ3VyZXMgYXJm/' "$WORK/content.txt" >"$WORK/tampered.txt"
cmp -s "$WORK/content.txt" "$WORK/tampered.txt" && fail "the tampered copy differs"
expect_status 2 "gpgsm rejects tampered content" -- gpgsm --batch --verify "$WORK/sig.der" "$WORK/tampered.txt"
expect_contains "$ERR" "invalid signature" "gpgsm: invalid signature"
cmsutil -D -d "sql:$NSS" -i "$WORK/sig.der" -c "$WORK/tampered.txt" -n -h 1 >"$WORK/cmsutil.out" 2>&1 || true  # checked below
expect_not_contains "$(cat "$WORK/cmsutil.out")" "status=GoodSignature" "cmsutil does not call tampered content good"

note "openssl, gpgsm and NSS sign; mailseal verifies"
openssl pkcs12 -in "$WORK/alice-sign.p12" -passin file:"$WORK/pw" -nodes -nocerts -out "$WORK/alice-sign.key" 2>/dev/null
openssl pkcs12 -in "$WORK/alice-sign.p12" -passin file:"$WORK/pw" -nokeys -clcerts -out "$WORK/alice-sign.pem" 2>/dev/null
printf 'Hello Bob, signed by a peer.\n' >"$WORK/body.txt"
openssl cms -sign -text -in "$WORK/body.txt" -signer "$WORK/alice-sign.pem" -inkey "$WORK/alice-sign.key" \
  -certfile "$WORK/alice-3.pem" -from alice@example.com -to bob@example.org -subject "openssl detached" -out "$WORK/openssl-detached.eml"
expect_status 0 "mailseal verifies openssl's detached signature" -- "$MAILSEAL" verify "$WORK/openssl-detached.eml" --json --home "$B"
expect_equal "$(json_field signer.address <<<"$OUT")" "alice@example.com" "signer is Alice"
openssl cms -sign -nodetach -text -in "$WORK/body.txt" -signer "$WORK/alice-sign.pem" -inkey "$WORK/alice-sign.key" \
  -from alice@example.com -to bob@example.org -subject "openssl opaque" -out "$WORK/openssl-opaque.eml"
expect_status 0 "mailseal verifies openssl's opaque signature" -- "$MAILSEAL" verify "$WORK/openssl-opaque.eml" --home "$B"
printf 'Content-Type: text/plain\r\n\r\nHello Bob, signed by gpgsm.\r\n' >"$WORK/gpgsm-content.txt"
expect_status 0 "gpgsm --detach-sign" -- gpgsm_with_key --detach-sign -u alice@example.com --include-certs -1 -o "$WORK/gpgsm-sig.der" "$WORK/gpgsm-content.txt"
$TOOL detached alice@example.com bob@example.org "$WORK/gpgsm-content.txt" "$WORK/gpgsm-sig.der" "$WORK/gpgsm-signed.eml"
expect_status 0 "mailseal verifies gpgsm's detached signature" -- "$MAILSEAL" verify "$WORK/gpgsm-signed.eml" --json
expect_equal "$(json_field valid <<<"$OUT")" "true" "valid"
printf 'Content-Type: text/plain\r\n\r\nHello Bob, signed by NSS.\r\n' >"$WORK/nss-content.txt"
cmsutil -S -N "alice@example.com (signing)" -d "sql:$NSS" -i "$WORK/nss-content.txt" -o "$WORK/nss-sig.der" -T -G -P -H SHA256 -p "" 2>/dev/null
$TOOL detached alice@example.com bob@example.org "$WORK/nss-content.txt" "$WORK/nss-sig.der" "$WORK/nss-signed.eml"
expect_status 0 "mailseal verifies NSS's detached signature" -- "$MAILSEAL" verify "$WORK/nss-signed.eml" --json
expect_equal "$(json_field digest <<<"$OUT")" "SHA-256" "SHA-256"
cmsutil -S -N "alice@example.com (signing)" -d "sql:$NSS" -i "$WORK/nss-content.txt" -o "$WORK/nss-opaque.der" -G -P -H SHA256 -p "" 2>/dev/null
$TOOL wrap signed-data alice@example.com bob@example.org "$WORK/nss-opaque.der" "$WORK/nss-opaque.eml"
expect_status 0 "mailseal verifies NSS's opaque signature" -- "$MAILSEAL" verify "$WORK/nss-opaque.eml"
# The same peer signatures under another From address are refused.
sed 's/^From: alice@example.com/From: mallory@example.com/' "$WORK/nss-signed.eml" >"$WORK/nss-forged.eml"
expect_status 1 "mailseal refuses a peer signature under a different From" -- "$MAILSEAL" verify "$WORK/nss-forged.eml" --json
expect_contains "$(json_field problems <<<"$OUT")" "mallory@example.com" "names the From mismatch"

note "mailseal encrypts to a legacy recipient (CBC, RSA v1.5); openssl, gpgsm and NSS decrypt"
"$MAILSEAL" contact import "$WORK/carol.pem" --home "$A" >/dev/null
expect_status 0 "mailseal encrypt to Carol" -- "$MAILSEAL" encrypt "$MESSAGE" --to carol@example.net -o "$WORK/to-carol.eml" --json --home "$A"
expect_equal "$(json_field content_cipher <<<"$OUT")" "AES-256-CBC" "CBC for a recipient without capabilities"
expect_equal "$(json_field key_transport <<<"$OUT")" "RSAES-PKCS1-v1_5" "RSA PKCS#1 v1.5 key transport"
expect_status 0 "openssl cms -decrypt" -- openssl cms -decrypt -in "$WORK/to-carol.eml" -recip "$WORK/carol.pem" -inkey "$WORK/carol.key"
expect_contains "$OUT" "Subject: Quarterly figures" "openssl sees the protected Subject inside"
$TOOL body "$WORK/to-carol.eml" "$WORK/to-carol.der"
expect_status 0 "gpgsm --decrypt" -- gpgsm_with_key --decrypt "$WORK/to-carol.der"
expect_contains "$OUT" "Subject: Quarterly figures" "gpgsm decrypts it"
expect_status 0 "NSS cmsutil -D decrypts" -- cmsutil -D -d "sql:$NSS" -i "$WORK/to-carol.der" -p ""
expect_contains "$OUT" "Subject: Quarterly figures" "NSS decrypts it"
expect_status 0 "and Alice reads her own sent copy" -- "$MAILSEAL" decrypt "$WORK/to-carol.eml" --home "$A"

note "peers encrypt; mailseal decrypts"
expect_status 0 "openssl cms -encrypt AES-256-GCM (AuthEnvelopedData)" -- \
  openssl cms -encrypt -aes-256-gcm -in "$WORK/body.txt" -text -from carol@example.net -to bob@example.org -subject gcm -out "$WORK/openssl-gcm.eml" "$WORK/bob-2.pem"
expect_status 0 "mailseal decrypts openssl's GCM message" -- "$MAILSEAL" decrypt "$WORK/openssl-gcm.eml" --json -o "$WORK/gcm-out.eml" --home "$B"
expect_equal "$(json_field content_cipher <<<"$OUT")" "AES-256-GCM" "AES-256-GCM"
expect_equal "$(json_field authenticated <<<"$OUT")" "true" "authenticated encryption"
expect_contains "$(cat "$WORK/gcm-out.eml")" "signed by a peer" "content recovered"
expect_status 0 "openssl cms -encrypt with RSA-OAEP (SHA-256)" -- \
  openssl cms -encrypt -aes256 -in "$WORK/body.txt" -text -from carol@example.net -to bob@example.org -subject oaep \
  -recip "$WORK/bob-2.pem" -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256 -out "$WORK/openssl-oaep.eml"
# Unsigned CBC content is withheld unless asked for (docs/smime.md: EFAIL).
expect_status 1 "unsigned CBC from openssl is withheld by default" -- "$MAILSEAL" decrypt "$WORK/openssl-oaep.eml" --home "$B"
expect_status 0 "mailseal decrypts openssl's OAEP message" -- "$MAILSEAL" decrypt "$WORK/openssl-oaep.eml" --json --allow-unauthenticated --home "$B"
expect_equal "$(json_field content_cipher <<<"$OUT")" "AES-256-CBC" "AES-256-CBC"
printf 'Content-Type: text/plain\r\n\r\nEncrypted by gpgsm.\r\n' >"$WORK/gpgsm-plain.txt"
gpgsm --batch --encrypt -r bob@example.org -o "$WORK/gpgsm-enc.der" "$WORK/gpgsm-plain.txt" 2>"$WORK/gpgsm-enc.log"
$TOOL wrap enveloped-data carol@example.net bob@example.org "$WORK/gpgsm-enc.der" "$WORK/gpgsm-enc.eml"
expect_status 0 "mailseal decrypts gpgsm's message" -- "$MAILSEAL" decrypt "$WORK/gpgsm-enc.eml" --allow-unauthenticated --home "$B"
expect_contains "$OUT" "Encrypted by gpgsm." "content recovered"
printf 'Content-Type: text/plain\r\n\r\nEncrypted by NSS.\r\n' >"$WORK/nss-plain.txt"
cmsutil -E -r bob@example.org -d "sql:$NSS" -i "$WORK/nss-plain.txt" -o "$WORK/nss-enc.der" 2>"$WORK/nss-enc.log"
$TOOL wrap enveloped-data carol@example.net bob@example.org "$WORK/nss-enc.der" "$WORK/nss-enc.eml"
expect_status 0 "mailseal decrypts NSS's message" -- "$MAILSEAL" decrypt "$WORK/nss-enc.eml" --allow-unauthenticated --home "$B"
expect_contains "$OUT" "Encrypted by NSS." "content recovered"

note "mailseal to mailseal: AES-256-CBC signed inside by default (what every client reads); AES-256-GCM with --gcm"
"$MAILSEAL" contact import "$WORK/bob-certs.pem" --home "$A" >/dev/null
expect_status 0 "encrypt to Bob" -- "$MAILSEAL" encrypt "$MESSAGE" -o "$WORK/to-bob.eml" --json --home "$A"
expect_equal "$(json_field content_cipher <<<"$OUT")" "AES-256-CBC" "CBC although Bob's certificates advertise GCM"
expect_equal "$(json_field key_transport <<<"$OUT")" "RSAES-PKCS1-v1_5" "with RSA PKCS#1 v1.5"
expect_equal "$(json_field signed <<<"$OUT")" "true" "signed inside"
"$MAILSEAL" export pkcs12 --purpose encryption -o "$WORK/bob-enc.p12" --password-file "$WORK/pw" --home "$B" >/dev/null
openssl pkcs12 -in "$WORK/bob-enc.p12" -passin file:"$WORK/pw" -nodes -nocerts -out "$WORK/bob-enc.key" 2>/dev/null
expect_status 0 "openssl decrypts it" -- openssl cms -decrypt -in "$WORK/to-bob.eml" -recip "$WORK/bob-2.pem" -inkey "$WORK/bob-enc.key"
expect_contains "$OUT" "Subject: Quarterly figures" "and sees the protected headers"
$TOOL body "$WORK/to-bob.eml" "$WORK/to-bob.der"
expect_status 0 "NSS cmsutil -D decrypts Alice's copy of it" -- cmsutil -D -d "sql:$NSS" -i "$WORK/to-bob.der" -p ""
expect_contains "$OUT" "application/pkcs7-signature" "NSS finds the signature inside"
expect_status 0 "Bob's mailseal releases it: the signature inside authenticates the CBC content" -- \
  "$MAILSEAL" decrypt "$WORK/to-bob.eml" --json -o "$WORK/to-bob-out.eml" --home "$B"
expect_equal "$(json_field signature.valid <<<"$OUT")" "true" "the inner signature is valid"
expect_equal "$(json_field authenticated <<<"$OUT")" "true" "so the content counts as authenticated"
expect_status 0 "encrypt --gcm to Bob" -- "$MAILSEAL" encrypt "$MESSAGE" --gcm -o "$WORK/to-bob-gcm.eml" --json --home "$A"
expect_equal "$(json_field content_cipher <<<"$OUT")" "AES-256-GCM" "GCM when asked for and Bob advertises it"
expect_equal "$(json_field key_transport <<<"$OUT")" "RSAES-OAEP" "with RSA-OAEP"
expect_status 0 "openssl decrypts the GCM message too" -- openssl cms -decrypt -in "$WORK/to-bob-gcm.eml" -recip "$WORK/bob-2.pem" -inkey "$WORK/bob-enc.key"
expect_contains "$OUT" "Subject: Quarterly figures" "and sees the protected headers"
expect_status 1 "encrypt --gcm to Carol (no capabilities) writes nothing" -- \
  "$MAILSEAL" encrypt "$MESSAGE" --to carol@example.net --gcm -o "$WORK/to-carol-gcm.eml" --home "$A"
expect_contains "$ERR" "carol@example.net" "the error names her"
[ ! -e "$WORK/to-carol-gcm.eml" ] && pass "no file" || fail "a file was written"
expect_status 0 "encrypt --no-sign warns" -- "$MAILSEAL" encrypt "$MESSAGE" --no-sign -o "$WORK/to-bob-unsigned.eml" --home "$A"
expect_contains "$ERR" "allow-unauthenticated" "the warning names what the reader must do"
expect_contains "$(head -c 2000 "$WORK/to-bob-unsigned.eml")" "smime-type=enveloped-data" "unsigned is CBC too (Thunderbird reads it)"

note "a certificate re-issued for the same key (as client set-ups do): NSS still finds the key"
"$MAILSEAL" contact import "$WORK/alice-certs.pem" --home "$B" >/dev/null   # Bob holds Alice's first certificates
expect_status 0 "Alice's export --ask-for-cbc re-issues her encryption certificate" -- \
  "$MAILSEAL" export pkcs12 --ask-for-cbc -o "$WORK/alice-reissued.p12" --password-file "$WORK/pw" --home "$A"
NSS2="$WORK/nss-reissued"
mkdir "$NSS2" && certutil -N -d "sql:$NSS2" --empty-password
pk12util -i "$WORK/alice-reissued.p12" -d "sql:$NSS2" -w "$WORK/pw" >/dev/null || fail "pk12util imports the re-issued identity"
printf 'From: bob@example.org\r\nTo: alice@example.com\r\nSubject: Early\r\n\r\nWritten to the first certificate.\r\n' >"$WORK/early.txt"
expect_status 0 "Bob encrypts to the certificate he learned first" -- "$MAILSEAL" encrypt "$WORK/early.txt" -o "$WORK/early.eml" --home "$B"
$TOOL body "$WORK/early.eml" "$WORK/early.der"
expect_contains "$(openssl cms -cmsout -print -inform DER -in "$WORK/early.der")" "subjectKeyIdentifier" "the key is also named by its key identifier"
expect_status 0 "NSS cmsutil -D decrypts it with only the re-issued certificate" -- cmsutil -D -d "sql:$NSS2" -i "$WORK/early.der" -p ""
expect_contains "$OUT" "application/pkcs7-signature" "and finds Bob's signature inside"

note "the Subject: obscured by default, in clear with --subject-in-clear; mailseal reads both markers"
expect_contains "$(head -c 2000 "$WORK/to-bob.eml")" "Subject: [...]" "by default the outer Subject is [...]"
expect_status 0 "encrypt --subject-in-clear" -- "$MAILSEAL" encrypt "$MESSAGE" --subject-in-clear -o "$WORK/clear-subject.eml" --home "$A"
expect_contains "$(head -c 2000 "$WORK/clear-subject.eml")" "Subject: Quarterly figures" "the outer Subject is the real one"
expect_status 0 "openssl decrypts it" -- openssl cms -decrypt -in "$WORK/clear-subject.eml" -recip "$WORK/bob-2.pem" -inkey "$WORK/bob-enc.key"
expect_contains "$OUT" 'hp="cipher"' "the payload still carries the protected headers (RFC 9788)"
expect_status 0 "mailseal reads it" -- "$MAILSEAL" decrypt "$WORK/clear-subject.eml" --json --home "$B"
expect_equal "$(json_field warnings <<<"$OUT")" "[]" "without a warning: outer and protected Subject agree"
printf 'From: carol@example.net\r\nTo: bob@example.org\r\nSubject: Draft marker subject\r\nContent-Type: text/plain; charset=us-ascii; protected-headers="v1"\r\n\r\nProtected the LAMPS draft way.\r\n' >"$WORK/v1-inner.txt"
openssl cms -encrypt -aes-256-gcm -binary -in "$WORK/v1-inner.txt" -from carol@example.net -to bob@example.org -subject "..." \
  -out "$WORK/v1.eml" "$WORK/bob-2.pem" 2>/dev/null
expect_status 0 "mailseal decrypts a protected-headers=\"v1\" message made by openssl" -- "$MAILSEAL" decrypt "$WORK/v1.eml" --home "$B"
expect_contains "$OUT" "Subject: Draft marker subject" "the protected Subject is the message's"
expect_not_contains "$OUT" "Subject: ..." "not the outer placeholder"

note "RFC 9788 Legacy Display: the obscured Subject at the top of the body, for clients that do not read protected headers"
expect_status 0 "openssl decrypts the default message" -- openssl cms -decrypt -in "$WORK/to-bob.eml" -recip "$WORK/bob-2.pem" -inkey "$WORK/bob-enc.key"
expect_contains "$OUT" 'hp="cipher"; hp-legacy-display="1"' "the body part is marked hp-legacy-display=\"1\""
expect_contains "$OUT" $'\r\n\r\nSubject: Quarterly figures\r\n\r\nThe figures are attached in spirit.' \
  "the decrypted body starts with the Subject line and an empty line"
expect_status 0 "mailseal decrypts it" -- "$MAILSEAL" decrypt "$WORK/to-bob.eml" --home "$B"
expect_not_contains "$OUT" "hp-legacy-display" "mailseal's output has no mark"
expect_contains "$OUT" $'hp="cipher"\r\nContent-Transfer-Encoding: 8bit\r\n\r\nThe figures are attached in spirit.' \
  "and is the original body"
expect_status 0 "openssl decrypts the --subject-in-clear message" -- openssl cms -decrypt -in "$WORK/clear-subject.eml" -recip "$WORK/bob-2.pem" -inkey "$WORK/bob-enc.key"
expect_not_contains "$OUT" "hp-legacy-display" "nothing obscured, no element"
legacy_inner() {  # a payload made without mailseal: protected fields, a marked part, BODY
  printf 'From: carol@example.net\r\nTo: bob@example.org\r\nSubject: Made elsewhere\r\nContent-Type: text/plain; charset=us-ascii; hp="cipher"; hp-legacy-display="1"\r\n\r\n%s' "$1"
}
legacy_inner $'Subject: Made elsewhere\r\n\r\nThe body.\r\n' >"$WORK/legacy-inner.txt"
openssl cms -encrypt -aes-256-gcm -binary -in "$WORK/legacy-inner.txt" -from carol@example.net -to bob@example.org -subject "[...]" \
  -out "$WORK/legacy.eml" "$WORK/bob-2.pem" 2>/dev/null
expect_status 0 "mailseal decrypts an element made by openssl" -- "$MAILSEAL" decrypt "$WORK/legacy.eml" --home "$B"
expect_contains "$OUT" $'hp="cipher"\r\n\r\nThe body.' "the element (a repeat of the protected Subject) is removed, and the mark"
legacy_inner $'X-Note: pay Mallory\r\n\r\nThe body.\r\n' >"$WORK/crafted-inner.txt"
openssl cms -encrypt -aes-256-gcm -binary -in "$WORK/crafted-inner.txt" -from carol@example.net -to bob@example.org -subject "[...]" \
  -out "$WORK/crafted.eml" "$WORK/bob-2.pem" 2>/dev/null
expect_status 0 "mailseal decrypts a crafted element" -- "$MAILSEAL" decrypt "$WORK/crafted.eml" --json -o "$WORK/crafted-out.eml" --home "$B"
expect_contains "$(json_field warnings <<<"$OUT")" "legacy display element" "which it reports"
expect_contains "$(cat "$WORK/crafted-out.eml")" $'\r\n\r\nX-Note: pay Mallory\r\n\r\nThe body.' "and keeps: it is no protected field"
gpgconf --kill gpg-agent 2>/dev/null || true  # cleanup: the agent would outlive the test
finish 98
