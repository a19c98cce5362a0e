#!/usr/bin/env bash
# sign, encrypt, decrypt, verify and contacts through the CLI, and every
# refusal the S/MIME issue lists: tampering, wrong signer, partial coverage,
# several or no signers, mismatched eContent, truncated or oversized input,
# CBC content that does not decrypt (no partial output ever written).
source "$(dirname "$0")/../lib.sh"
command -v openssl >/dev/null || skip_test "openssl is not installed"
TOOL="python3 $(dirname "$0")/../tools/mime_tool.py"
A="$WORK/alice" B="$WORK/bob"
"$MAILSEAL" init alice@example.com --name "Alice" --home "$A" >/dev/null 2>&1
"$MAILSEAL" init bob@example.org --name "Bob" --home "$B" >/dev/null 2>&1
"$MAILSEAL" export certificates -o "$WORK/bob.pem" --home "$B"
"$MAILSEAL" export certificates -o "$WORK/alice.pem" --home "$A"
MESSAGE="$WORK/message.eml"
cat >"$MESSAGE" <<'MAIL'
From: Alice <alice@example.com>
To: Bob <bob@example.org>
Cc: Carol <carol@example.net>
Bcc: dave@example.com
Subject: The plan
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: text/plain; charset=us-ascii

Meet me by the old oak tree.
--mix
Content-Type: application/octet-stream; name="map.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="map.bin"

AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
--mix--
MAIL

note "contacts"
expect_status 0 "contact import of PEM certificates" -- "$MAILSEAL" contact import "$WORK/bob.pem" --json --home "$A"
expect_equal "$(json_field imported.0.address <<<"$OUT")" "bob@example.org" "imported for Bob's address"
expect_status 0 "importing again is harmless" -- "$MAILSEAL" contact import "$WORK/bob.pem" --json --home "$A"
expect_equal "$(json_field imported.0.new <<<"$OUT")" "false" "and says so"
openssl x509 -in "$WORK/bob.pem" -outform DER -out "$WORK/bob.der"
expect_status 0 "contact import of a DER certificate" -- "$MAILSEAL" contact import "$WORK/bob.der" --home "$A"
openssl crl2pkcs7 -nocrl -certfile "$WORK/bob.pem" -outform DER -out "$WORK/bob.p7c"
expect_status 0 "contact import of a .p7c bundle" -- "$MAILSEAL" contact import "$WORK/bob.p7c" --home "$A"
printf 'From: Bob <bob@example.org>\nTo: alice@example.com\nSubject: hello\n\nHi Alice.\n' >"$WORK/from-bob.eml"
"$MAILSEAL" sign "$WORK/from-bob.eml" -o "$WORK/from-bob-signed.eml" --home "$B"
expect_status 0 "contact import of a signed message learns the sender" -- "$MAILSEAL" contact import "$WORK/from-bob-signed.eml" --json --home "$A"
expect_equal "$(json_field imported.0.source <<<"$OUT")" "message" "source: message"
expect_contains "$(json_field imported.0.capabilities <<<"$OUT")" "aes256-gcm" "with the capabilities the signature advertises"
expect_equal "$(python3 -c 'import json,sys; print(any(c["can_encrypt"] for c in json.load(sys.stdin)["imported"]))' <<<"$OUT")" "True" \
  "and the encryption certificate the signature carries, so Alice can reply encrypted"
D="$WORK/dora"
"$MAILSEAL" init dora@example.com --home "$D" >/dev/null 2>&1
"$MAILSEAL" contact import "$WORK/from-bob-signed.eml" --home "$D" >/dev/null
printf 'From: dora@example.com\nTo: bob@example.org\nSubject: reply\n\nThanks.\n' >"$WORK/dora.eml"
expect_status 0 "a signed message alone is enough to encrypt a reply" -- "$MAILSEAL" encrypt "$WORK/dora.eml" -o "$WORK/dora-enc.eml" --home "$D"
expect_status 0 "which Bob reads" -- "$MAILSEAL" decrypt "$WORK/dora-enc.eml" --home "$B"
sed 's/Hi Alice./Hi Mallory./' "$WORK/from-bob-signed.eml" >"$WORK/from-bob-tampered.eml"
expect_status 1 "a message with a broken signature is no source of keys" -- "$MAILSEAL" contact import "$WORK/from-bob-tampered.eml" --home "$A"
printf 'hello\n' >"$WORK/junk"
expect_status 1 "contact import of a file with no certificate" -- "$MAILSEAL" contact import "$WORK/junk" --home "$A"
expect_status 0 "contact list --json" -- "$MAILSEAL" contact list --json --home "$A"
expect_equal "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["contacts"]))' <<<"$OUT")" "2" "Bob's two certificates, listed once each"

note "sign: multipart/mixed with an attachment, detached and opaque"
for form in detached opaque; do
  flag=""; [ "$form" = opaque ] && flag=--opaque
  expect_status 0 "sign ($form)" -- "$MAILSEAL" sign $flag "$MESSAGE" -o "$WORK/signed-$form.eml" --home "$A"
  expect_status 0 "verify ($form)" -- "$MAILSEAL" verify "$WORK/signed-$form.eml" --json -o "$WORK/verified-$form.eml"
  expect_equal "$(json_field valid <<<"$OUT")" "true" "valid ($form)"
  expect_equal "$(json_field from_matches <<<"$OUT")" "true" "From matches ($form)"
  expect_contains "$(cat "$WORK/verified-$form.eml")" "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" "the attachment survives ($form)"
  expect_status 0 "openssl verifies it ($form)" -- openssl cms -verify -in "$WORK/signed-$form.eml" -noverify -out /dev/null
done
cat "$MESSAGE" | "$MAILSEAL" sign --home "$A" >"$WORK/signed-stdin.eml"
expect_status 0 "sign from stdin to stdout" -- "$MAILSEAL" verify "$WORK/signed-stdin.eml"
expect_status 0 "verify from stdin" -- sh -c "'$MAILSEAL' verify <'$WORK/signed-stdin.eml'"

note "binary and quoted-printable bodies"
python3 - "$WORK/binary.eml" <<'PY'
import sys
body = bytes(range(256)) * 4
open(sys.argv[1], "wb").write(b"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: bytes\r\n"
                              b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" + body)
PY
expect_status 0 "sign a binary body (detached)" -- "$MAILSEAL" sign "$WORK/binary.eml" -o "$WORK/binary-signed.eml" --home "$A"
expect_contains "$(grep -a -c 'Content-Transfer-Encoding: base64' "$WORK/binary-signed.eml")" "2" "the binary body travels base64-encoded"
expect_status 0 "verify it" -- "$MAILSEAL" verify "$WORK/binary-signed.eml" -o "$WORK/binary-verified.eml"
python3 - "$WORK/binary-verified.eml" <<'PY' && pass "every byte of the binary body survives" || fail "binary body changed"
import base64, sys
data = open(sys.argv[1], "rb").read()
body = data.split(b"\r\n\r\n", 1)[1]
sys.exit(0 if base64.b64decode(body) == bytes(range(256)) * 4 else 1)
PY
expect_status 0 "encrypt a binary body" -- "$MAILSEAL" encrypt "$WORK/binary.eml" --to bob@example.org -o "$WORK/binary-enc.eml" --home "$A"
expect_status 0 "Bob decrypts it" -- "$MAILSEAL" decrypt "$WORK/binary-enc.eml" -o "$WORK/binary-dec.eml" --home "$B"
python3 - "$WORK/binary-dec.eml" <<'PY' && pass "binary content intact inside encryption (base64-encoded there too)" || fail "binary content changed"
import base64, sys
data = open(sys.argv[1], "rb").read()
head, body = data.split(b"\r\n\r\n", 1)
sys.exit(0 if b"Content-Transfer-Encoding: base64" in head and base64.b64decode(body) == bytes(range(256)) * 4 else 1)
PY
printf 'From: alice@example.com\nTo: bob@example.org\nSubject: qp\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nGr=C3=BC=C3=9Fe aus K=C3=B6ln, a long line that is soft-broken =\nhere.\n' >"$WORK/qp.eml"
expect_status 0 "sign a quoted-printable body" -- "$MAILSEAL" sign "$WORK/qp.eml" -o "$WORK/qp-signed.eml" --home "$A"
expect_contains "$(cat "$WORK/qp-signed.eml")" "Gr=C3=BC=C3=9Fe aus K=C3=B6ln" "quoted-printable passes through unchanged"
expect_status 0 "verify it" -- "$MAILSEAL" verify "$WORK/qp-signed.eml"

note "sign refuses a From that is not the profile's"
sed 's/^From: Alice <alice@example.com>/From: Mallory <mallory@example.com>/' "$MESSAGE" >"$WORK/not-mine.eml"
expect_status 1 "sign as someone else" -- "$MAILSEAL" sign "$WORK/not-mine.eml" -o "$WORK/x.eml" --home "$A"
expect_contains "$ERR" "mallory@example.com" "names the address"
[ ! -e "$WORK/x.eml" ] && pass "no output file" || fail "an output file was written"
printf 'Subject: no sender\n\nbody\n' >"$WORK/no-from.eml"
expect_status 2 "sign a message without From" -- "$MAILSEAL" sign "$WORK/no-from.eml" --home "$A"
expect_status 1 "sign something that is not a message" -- sh -c "printf '\\n\\nnot a message' | '$MAILSEAL' sign --home '$A'"

note "encrypt: recipients from To/Cc/Bcc, header protection, Bcc hidden"
expect_status 1 "encrypt with a recipient lacking a certificate" -- "$MAILSEAL" encrypt "$MESSAGE" -o "$WORK/e.eml" --home "$A"
expect_contains "$ERR" "carol@example.net" "names Carol"
expect_contains "$ERR" "dave@example.com" "and Dave"
expect_not_contains "$ERR" "bob@example.org" "not Bob, who has a certificate"
[ ! -e "$WORK/e.eml" ] && pass "nothing written" || fail "output written"
expect_status 0 "encrypt --to bob" -- "$MAILSEAL" encrypt "$MESSAGE" --to bob@example.org -o "$WORK/to-bob.eml" --json --home "$A"
expect_equal "$(json_field content_cipher <<<"$OUT")" "AES-256-CBC" "CBC to a mailseal profile too (what every client reads)"
expect_not_contains "$(cat "$WORK/to-bob.eml")" "The plan" "the Subject is not in the clear"
expect_contains "$(cat "$WORK/to-bob.eml")" "Subject: [...]" "the outer Subject is neutral"
# Only the header block: "Bcc" turns up in about 3% of base64 bodies by chance.
expect_not_contains "$(sed '/^\r\{0,1\}$/q' "$WORK/to-bob.eml")" "Bcc:" "no Bcc header outside"
expect_not_contains "$(cat "$WORK/to-bob.eml")" "oak tree" "no plaintext"
expect_status 0 "Bob decrypts" -- "$MAILSEAL" decrypt "$WORK/to-bob.eml" --json -o "$WORK/bob-reads.eml" --home "$B"
expect_equal "$(json_field content_cipher <<<"$OUT")" "AES-256-CBC" "AES-256-CBC"
expect_equal "$(json_field authenticated <<<"$OUT")" "true" "authenticated by the signature inside"
expect_equal "$(json_field signature.valid <<<"$OUT")" "true" "signed by Alice inside"
expect_contains "$(cat "$WORK/bob-reads.eml")" "Subject: The plan" "the real Subject is restored"
expect_contains "$(cat "$WORK/bob-reads.eml")" "Cc: Carol <carol@example.net>" "Cc is restored"
expect_not_contains "$(cat "$WORK/bob-reads.eml")" "dave@example.com" "Bcc stays hidden inside too"
expect_contains "$(cat "$WORK/bob-reads.eml")" "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" "the attachment is intact"
expect_status 0 "Alice reads her own copy" -- "$MAILSEAL" decrypt "$WORK/to-bob.eml" --home "$A"
expect_status 0 "encrypt --no-sign" -- "$MAILSEAL" encrypt "$MESSAGE" --to bob@example.org --no-sign -o "$WORK/unsigned-cbc.eml" --home "$A"
expect_contains "$ERR" "--allow-unauthenticated" "warns that the reader withholds unsigned CBC"
expect_status 1 "decrypt withholds the unsigned CBC message" -- "$MAILSEAL" decrypt "$WORK/unsigned-cbc.eml" --home "$B"
expect_status 0 "decrypt --allow-unauthenticated reads it" -- "$MAILSEAL" decrypt "$WORK/unsigned-cbc.eml" --allow-unauthenticated --home "$B"
expect_status 0 "encrypt --no-sign --gcm" -- "$MAILSEAL" encrypt "$MESSAGE" --to bob@example.org --no-sign --gcm -o "$WORK/unsigned.eml" --home "$A"
expect_equal "$ERR" "" "no warning: AES-GCM authenticates"
expect_status 0 "decrypt an unsigned GCM message" -- "$MAILSEAL" decrypt "$WORK/unsigned.eml" --json --home "$B"
expect_equal "$(json_field signature <<<"$OUT")" "" "no signature"
expect_equal "$(json_field authenticated <<<"$OUT")" "true" "AEAD still authenticates"
C="$WORK/carol"
"$MAILSEAL" init carol@example.net --home "$C" >/dev/null 2>&1
expect_status 1 "someone else cannot decrypt" -- "$MAILSEAL" decrypt "$WORK/to-bob.eml" -o "$WORK/carol-reads.eml" --home "$C"
expect_contains "$ERR" "not encrypted to any" "says the message is not for this profile"
[ ! -e "$WORK/carol-reads.eml" ] && pass "nothing written" || fail "output written"
expect_status 1 "decrypt refuses a message that is only signed" -- "$MAILSEAL" decrypt "$WORK/signed-detached.eml" --home "$B"

note "tampering: flipped bytes anywhere are refused, and no partial output is written"
flips=0 detected=0
size=$(wc -c <"$WORK/to-bob.eml")
for offset in $(seq 700 97 $((size - 5))); do
  cp "$WORK/to-bob.eml" "$WORK/flipped.eml"
  byte=$(dd if="$WORK/flipped.eml" bs=1 skip="$offset" count=1 2>/dev/null)
  case "$byte" in [A-Za-z0-9+/]) ;; *) continue ;; esac
  replacement=A; [ "$byte" = A ] && replacement=B
  printf '%s' "$replacement" | dd of="$WORK/flipped.eml" bs=1 seek="$offset" conv=notrunc 2>/dev/null
  flips=$((flips + 1))
  rm -f "$WORK/flipped-out.eml"
  if "$MAILSEAL" decrypt "$WORK/flipped.eml" -o "$WORK/flipped-out.eml" --home "$B" >/dev/null 2>&1; then
    cmp -s "$WORK/flipped-out.eml" "$WORK/bob-reads.eml" || fail "a flip at $offset changed the output undetected"
  else
    detected=$((detected + 1))
    [ -e "$WORK/flipped-out.eml" ] && fail "a refused decryption at $offset left output behind"
  fi
done
[ "$flips" -gt 20 ] && [ "$detected" -gt 0 ] && pass "$detected of $flips flipped ciphertext bytes refused, none changed the output" || fail "flip test ($detected/$flips)"
python3 - "$WORK/signed-detached.eml" "$WORK/signed-flipped.eml" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[data.index(b"old oak tree")] ^= 0x20
open(sys.argv[2], "wb").write(data)
PY
expect_status 1 "verify refuses a flipped byte in the signed text" -- "$MAILSEAL" verify "$WORK/signed-flipped.eml" --json
expect_contains "$(json_field problems <<<"$OUT")" "does not match" "the signature does not match"
head -c 2000 "$WORK/to-bob.eml" >"$WORK/truncated.eml"
expect_status 1 "a truncated encrypted message" -- "$MAILSEAL" decrypt "$WORK/truncated.eml" -o "$WORK/t-out.eml" --home "$B"
[ ! -e "$WORK/t-out.eml" ] && pass "nothing written" || fail "output written"
head -c 1500 "$WORK/signed-opaque.eml" >"$WORK/truncated-opaque.eml"
expect_status 1 "a truncated opaque signature" -- "$MAILSEAL" verify "$WORK/truncated-opaque.eml"

note "CBC content that fails to decrypt cleanly: no partial plaintext"
openssl cms -encrypt -aes256 -in "$MESSAGE" -binary -out "$WORK/cbc.der" -outform DER "$(awk '/BEGIN CERT/{n++} n==2' "$WORK/bob.pem" >"$WORK/bob-enc.pem"; echo "$WORK/bob-enc.pem")"
python3 - "$WORK/cbc.der" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[-20] ^= 0x01  # inside the last ciphertext block: the padding breaks
open(sys.argv[1], "wb").write(data)
PY
$TOOL wrap enveloped-data alice@example.com bob@example.org "$WORK/cbc.der" "$WORK/cbc-bad.eml"
expect_status 1 "bad CBC padding is refused" -- "$MAILSEAL" decrypt "$WORK/cbc-bad.eml" -o "$WORK/cbc-out.eml" --home "$B"
expect_contains "$ERR" "does not decrypt cleanly" "with a clear message"
[ ! -e "$WORK/cbc-out.eml" ] && pass "no partial plaintext written" || fail "partial plaintext written"

note "signatures that do not cover the message, or come from the wrong signer"
python3 - "$WORK/signed-detached.eml" "$WORK/partial.eml" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
head, body = data.split(b"\r\n\r\n", 1)
signed_type = head[head.index(b"Content-Type: multipart/signed"):]
out = (b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: partial\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\n"
       b"Pay Mallory 1000 EUR today.\r\n--outer\r\n" + signed_type + b"\r\n\r\n" + body + b"\r\n--outer--\r\n")
open(sys.argv[2], "wb").write(out)
PY
expect_status 1 "a signature covering one part among unsigned parts" -- "$MAILSEAL" verify "$WORK/partial.eml" --json
expect_contains "$(json_field notes <<<"$OUT")" "no signature covers the whole message" "says so"
sed 's/^From: Alice <alice@example.com>/From: Bob <bob@example.org>/' "$WORK/signed-detached.eml" >"$WORK/wrong-from.eml"
expect_status 1 "a signature by a certificate for another address" -- "$MAILSEAL" verify "$WORK/wrong-from.eml" --json
expect_equal "$(json_field from_matches <<<"$OUT")" "false" "from_matches false"
ALICE_KEY="$WORK/alice-sign.key"
printf 'pw\n' >"$WORK/pw"
"$MAILSEAL" export pkcs12 --purpose signing -o "$WORK/alice-sign.p12" --password-file "$WORK/pw" --home "$A" >/dev/null
openssl pkcs12 -in "$WORK/alice-sign.p12" -passin file:"$WORK/pw" -nodes -nocerts -out "$ALICE_KEY" 2>/dev/null
openssl pkcs12 -in "$WORK/alice-sign.p12" -passin file:"$WORK/pw" -nokeys -clcerts -out "$WORK/alice-sign.pem" 2>/dev/null
"$MAILSEAL" export pkcs12 --purpose signing -o "$WORK/bob-sign.p12" --password-file "$WORK/pw" --home "$B" >/dev/null
openssl pkcs12 -in "$WORK/bob-sign.p12" -passin file:"$WORK/pw" -nodes -nocerts -out "$WORK/bob-sign.key" 2>/dev/null
openssl pkcs12 -in "$WORK/bob-sign.p12" -passin file:"$WORK/pw" -nokeys -clcerts -out "$WORK/bob-sign.pem" 2>/dev/null
printf 'Two signers.\n' >"$WORK/two.txt"
openssl cms -sign -text -in "$WORK/two.txt" -signer "$WORK/alice-sign.pem" -inkey "$ALICE_KEY" \
  -signer "$WORK/bob-sign.pem" -inkey "$WORK/bob-sign.key" -from alice@example.com -out "$WORK/two-signers.eml"
expect_status 1 "several signerInfos" -- "$MAILSEAL" verify "$WORK/two-signers.eml" --json
expect_contains "$(json_field problems <<<"$OUT")" "2 signers" "says there are 2 signers"
openssl cms -sign -text -nodetach -in "$WORK/two.txt" -signer "$WORK/alice-sign.pem" -inkey "$ALICE_KEY" -outform DER -out "$WORK/one.der"
# The same signature made over other content, carried as eContent inside a
# multipart/signed: the embedded content does not match what is shown.
$TOOL detached alice@example.com bob@example.org "$WORK/two.txt" "$WORK/one.der" "$WORK/econtent.eml"
expect_status 1 "mismatched eContent in a detached signature" -- "$MAILSEAL" verify "$WORK/econtent.eml" --json
expect_contains "$(json_field problems <<<"$OUT")" "eContent" "names the embedded content"
# A signed-data with certificates and no signerInfo (a certs-only structure).
openssl crl2pkcs7 -nocrl -certfile "$WORK/alice-sign.pem" -outform DER -out "$WORK/certs-only.der"
$TOOL wrap signed-data alice@example.com bob@example.org "$WORK/certs-only.der" "$WORK/no-signer.eml"
expect_status 1 "no signerInfo" -- "$MAILSEAL" verify "$WORK/no-signer.eml" --json
expect_contains "$(json_field problems <<<"$OUT")" "no signer" "says there is no signer"

note "oversized and malformed structures"
python3 - "$WORK/huge-length.eml" <<'PY'
import base64, sys
# A CMS SEQUENCE claiming a 2 GiB length with 100 bytes present.
der = bytes([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]) + b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02" + b"\x00" * 89
body = base64.encodebytes(der).replace(b"\n", b"\r\n")
open(sys.argv[1], "wb").write(b"From: alice@example.com\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\n"
                              b"Content-Transfer-Encoding: base64\r\n\r\n" + body)
PY
expect_status 1 "a structure claiming more bytes than exist" -- "$MAILSEAL" verify "$WORK/huge-length.eml"
expect_contains "$ERR" "CMS" "names the CMS structure"
printf 'From: alice@example.com\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n' >"$WORK/bad-base64.eml"
expect_status 1 "invalid base64" -- "$MAILSEAL" decrypt "$WORK/bad-base64.eml" --home "$B"
printf 'From: alice@example.com\r\n\r\n' | cat - /dev/null >"$WORK/empty-body.eml"
expect_status 1 "verify of an unsigned message" -- "$MAILSEAL" verify "$WORK/empty-body.eml"
finish 95
