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
SERVICE_PID="" SINK_PID="" GATEWAY_PID="" RESIDENT_PID=""
cleanup() {
  # shellcheck disable=SC2086
  [ -n "$SERVICE_PID$SINK_PID$GATEWAY_PID$ALICE_GATEWAY_PID$RESIDENT_PID" ] &&
    kill $SERVICE_PID $SINK_PID $GATEWAY_PID $ALICE_GATEWAY_PID $RESIDENT_PID 2>/dev/null
  wait 2>/dev/null
  rm -rf "$DEMO"
}
trap cleanup EXIT
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

say "Her keys go into the mail clients she has: PKCS#12 for any client (a password is generated and shown)..."
run "$MAILSEAL" export pkcs12 -o "$DEMO/alice.p12" --home "$DEMO/alice"
say "... an Apple configuration profile for iPhone, iPad and macOS Mail ..."
run "$MAILSEAL" export mobileconfig -o "$DEMO/alice.mobileconfig" --home "$DEMO/alice"
say "... and Thunderbird, set up directly: keys into its NSS database, certificates selected for her account."
mkdir "$DEMO/thunderbird"
printf 'user_pref("mail.identity.id1.fullName", "Alice Example");\nuser_pref("mail.identity.id1.useremail", "alice@example.com");\n' \
  >"$DEMO/thunderbird/prefs.js"
run "$MAILSEAL" setup thunderbird --profile "$DEMO/thunderbird" --home "$DEMO/alice"
run certutil -L -d "sql:$DEMO/thunderbird"
grep -a 'cert_name\|sign_mail' "$DEMO/thunderbird/prefs.js" | sed 's/^/    /'

say "Bob has a profile too. Alice learns his key from a signed message he sends her (trust on first use)."
run "$MAILSEAL" init bob@example.org --name "Bob Example" --home "$DEMO/bob"
printf 'From: Bob <bob@example.org>\nTo: Alice <alice@example.com>\nSubject: Hi\n\nHi Alice, here is my key.\n' >"$DEMO/hello.eml"
run "$MAILSEAL" sign "$DEMO/hello.eml" -o "$DEMO/hello-signed.eml" --home "$DEMO/bob"
run "$MAILSEAL" verify "$DEMO/hello-signed.eml" --home "$DEMO/alice"

say "Alice writes back. mailseal signs, then encrypts to Bob and to herself; the Subject is hidden."
printf 'From: Alice <alice@example.com>\nTo: Bob <bob@example.org>\nSubject: The secret plan\n\nMeet me by the old oak tree.\n' >"$DEMO/reply.eml"
run "$MAILSEAL" encrypt "$DEMO/reply.eml" -o "$DEMO/reply-encrypted.eml" --json --home "$DEMO/alice"
sed -n '1,8p' "$DEMO/reply-encrypted.eml" | sed 's/^/    /'

say "Bob decrypts: the signature inside is Alice's, the real Subject comes back."
run "$MAILSEAL" decrypt "$DEMO/reply-encrypted.eml" --home "$DEMO/bob"

say "Any S/MIME client reads it too: here OpenSSL, with Bob's key exported as PKCS#12."
printf 'demo-password' >"$DEMO/bob-pw"
"$MAILSEAL" export pkcs12 --purpose encryption -o "$DEMO/bob.p12" --password-file "$DEMO/bob-pw" --home "$DEMO/bob" >/dev/null
openssl pkcs12 -in "$DEMO/bob.p12" -passin file:"$DEMO/bob-pw" -nodes -nocerts -out "$DEMO/bob.key" 2>/dev/null
openssl pkcs12 -in "$DEMO/bob.p12" -passin file:"$DEMO/bob-pw" -nokeys -clcerts -out "$DEMO/bob.crt" 2>/dev/null
printf '$ openssl cms -decrypt -in reply-encrypted.eml -recip bob.crt -inkey bob.key | grep Subject\n'
openssl cms -decrypt -in "$DEMO/reply-encrypted.eml" -recip "$DEMO/bob.crt" -inkey "$DEMO/bob.key" | grep -a '^Subject' | sed 's/^/    /'

say "Tampering is caught: one changed letter and the signature no longer holds."
sed 's/here is my key/here is my kez/' "$DEMO/hello-signed.eml" >"$DEMO/hello-tampered.eml"
run "$MAILSEAL" verify "$DEMO/hello-tampered.eml" || true

say "Mallory makes a profile for bob@example.org and signs as Bob. The signature is valid, but Alice saw another key first."
run "$MAILSEAL" init bob@example.org --name "Not Bob" --suite modern --home "$DEMO/mallory"
printf 'From: Bob <bob@example.org>\nTo: Alice <alice@example.com>\nSubject: New key\n\nUse this one now.\n' >"$DEMO/fake.eml"
"$MAILSEAL" sign "$DEMO/fake.eml" -o "$DEMO/fake-signed.eml" --home "$DEMO/mallory"
run "$MAILSEAL" verify "$DEMO/fake-signed.eml" --home "$DEMO/alice"
run "$MAILSEAL" trust bob@example.org --home "$DEMO/alice"
run "$MAILSEAL" encrypt "$DEMO/reply.eml" -o "$DEMO/refused.eml" --home "$DEMO/alice" || true

say "Alice and Bob compare fingerprints on the phone; Alice pins Bob's. The pin decides: full trust."
BOB_FINGERPRINT=$("$MAILSEAL" fingerprint --home "$DEMO/bob")
run "$MAILSEAL" contact pin bob@example.org "$BOB_FINGERPRINT" --home "$DEMO/alice"
run "$MAILSEAL" trust bob@example.org --home "$DEMO/alice"

say "The web of trust: Bob vouches for Carol; Alice lets Bob introduce people at example.org."
run "$MAILSEAL" init carol@example.org --name "Carol Example" --suite modern --home "$DEMO/carol"
"$MAILSEAL" export certificates -o "$DEMO/carol.pem" --home "$DEMO/carol"
"$MAILSEAL" contact import "$DEMO/carol.pem" --home "$DEMO/bob" >/dev/null
run "$MAILSEAL" endorse carol@example.org --amount 90 --home "$DEMO/bob"
"$MAILSEAL" export endorsements -o "$DEMO/bob-endorsements.pem" --home "$DEMO/bob"
run "$MAILSEAL" endorse bob@example.org --depth 1 --scope example.org --home "$DEMO/alice"
run "$MAILSEAL" contact import "$DEMO/carol.pem" --home "$DEMO/alice"
run "$MAILSEAL" contact import "$DEMO/bob-endorsements.pem" --home "$DEMO/alice"
run "$MAILSEAL" trust carol@example.org --home "$DEMO/alice"
printf '$ mailseal trust carol@example.org --dot   # Graphviz, for dot -Tsvg\n'
"$MAILSEAL" trust carol@example.org --dot --home "$DEMO/alice" | sed 's/^/    /'

say "Every device reads the mail. A key service (it only ever holds public data and ciphertext) runs locally."
# On loopback, for a demonstration: addresses listed unverified. A service
# others reach mails a challenge to each address first (serve --smtp).
"$MAILSEAL" serve --listen 127.0.0.1:0 --db "$DEMO/service.db" --unverified >"$DEMO/service.url" 2>"$DEMO/service.log" &
SERVICE_PID=$!
for _ in $(seq 50); do [ -s "$DEMO/service.url" ] && break; sleep 0.1; done
SERVICE=$(head -1 "$DEMO/service.url")
echo "    key service at $SERVICE"
run "$MAILSEAL" publish --service "$SERVICE" --home "$DEMO/alice"

say "Alice's laptop asks to join; both screens show the same witness, and Alice accepts it."
WITNESS=$("$MAILSEAL" device join alice@example.com --service "$SERVICE" --name laptop --json --home "$DEMO/laptop" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["witness"])')
echo "    the laptop shows: $WITNESS"
run "$MAILSEAL" device pending --home "$DEMO/alice"
run "$MAILSEAL" device accept "$WITNESS" --home "$DEMO/alice"
run "$MAILSEAL" sync --home "$DEMO/laptop"

say "Her phone joins with a one-time PIN instead (also shown as a QR code on a terminal): two commands. Alice's always-running gateway (here syncing every 2 s) accepts it; the phone waits for its keys."
"$MAILSEAL" gateway --listen 127.0.0.1:0 --upstream 127.0.0.1:1 --sync 2 --home "$DEMO/alice" \
  >"$DEMO/alice-gateway.addr" 2>"$DEMO/alice-gateway.log" &
ALICE_GATEWAY_PID=$!
PIN=$("$MAILSEAL" device invite --json --home "$DEMO/alice" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pin"])')
echo "    PIN: $PIN"
run "$MAILSEAL" device join alice@example.com --service "$SERVICE" --pin "$PIN" --name phone --wait 60 --home "$DEMO/phone"
grep 'sync:' "$DEMO/alice-gateway.log" | sed 's/^/    /'
run "$MAILSEAL" device list --home "$DEMO/alice"

say "Bob sends mail as always: his mail client submits to the mailseal gateway on localhost, which relays to his provider (here a local SMTP server)."
scripts/smtp-sink.py "$DEMO/inbox" >"$DEMO/sink.port" 2>"$DEMO/sink.log" &
SINK_PID=$!
for _ in $(seq 100); do [ -s "$DEMO/sink.port" ] && break; sleep 0.1; done
"$MAILSEAL" gateway --listen 127.0.0.1:0 --upstream "127.0.0.1:$(head -1 "$DEMO/sink.port")" --home "$DEMO/bob" \
  >"$DEMO/gateway.addr" 2>"$DEMO/gateway.log" &
GATEWAY_PID=$!
for _ in $(seq 100); do [ -s "$DEMO/gateway.addr" ] && break; sleep 0.1; done
GATEWAY=$(head -1 "$DEMO/gateway.addr")
echo "    Bob's gateway listens on $GATEWAY"
run "$MAILSEAL" lookup alice@example.com --service "$SERVICE" --home "$DEMO/bob"
echo "$ mailseal credential add demo-client --home bob   # the secret Bob's mail client authenticates with"
SECRET=$("$MAILSEAL" credential add demo-client --json --home "$DEMO/bob" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')
echo "    (shown once; stored only as a hash)"
send_as_bob() { # SUBJECT BODY: Bob's mail client (swaks) submits through the gateway, authenticated
  printf '$ swaks --server %s --auth PLAIN --auth-user demo-client --from bob@example.org --to alice@example.com --header "Subject: %s"\n' "$GATEWAY" "$1"
  swaks --server "$GATEWAY" --auth PLAIN --auth-user demo-client --auth-password "$SECRET" \
    --from bob@example.org --to alice@example.com --header "Subject: $1" --body "$2" \
    --hide-all --silent 1 || { echo "    the gateway refused the message" >&2; return 1; }
  tail -1 "$DEMO/gateway.log" | sed 's/^/    /'
  for _ in $(seq 100); do [ -s "$DEMO/inbox/$3.eml" ] && break; sleep 0.1; done
}
send_as_bob "For all your devices" "Read me anywhere." 1

say "What the provider stores: an encrypted S/MIME message; even the Subject is hidden."
sed -n '/^Subject/p;/^Content-Type/p' "$DEMO/inbox/1.eml" | head -3 | sed 's/^/    /'

say "Every one of Alice's devices decrypts it."
for device in alice laptop phone; do
  printf '$ mailseal decrypt inbox/1.eml   # on %s\n' "$device"
  "$MAILSEAL" decrypt "$DEMO/inbox/1.eml" --home "$DEMO/$device" 2>"$DEMO/decrypt.log" | grep -a 'Read me anywhere' | sed 's/^/    /'
  grep -i 'good signature' "$DEMO/decrypt.log" | sed 's/^/    /'
done

say "On her laptop Alice has only this one message from Bob: first use, little trust. She compares fingerprints with him and pins his."
run "$MAILSEAL" trust bob@example.org --home "$DEMO/laptop"
run "$MAILSEAL" contact pin bob@example.org "$BOB_FINGERPRINT" --home "$DEMO/laptop"
run "$MAILSEAL" trust bob@example.org --home "$DEMO/laptop"

say "The phone is lost. Alice removes it: her keys rotate, the other devices get the new ones."
PHONE=$("$MAILSEAL" device list --json --home "$DEMO/phone" |
  python3 -c 'import json,sys; print([d["device_id"] for d in json.load(sys.stdin)["devices"] if d["this_device"]][0])')
run "$MAILSEAL" device remove "$PHONE" --home "$DEMO/alice"
run "$MAILSEAL" sync --home "$DEMO/laptop"
"$MAILSEAL" lookup alice@example.com --service "$SERVICE" --home "$DEMO/bob" 2>/dev/null
send_as_bob "After the loss" "Only your remaining devices read this." 2
cp "$DEMO/inbox/2.eml" "$DEMO/after.eml"
run "$MAILSEAL" decrypt "$DEMO/after.eml" --no-learn --home "$DEMO/laptop"
run "$MAILSEAL" decrypt "$DEMO/after.eml" --no-learn --home "$DEMO/phone" || true

say "Recovery: any 2 of 3 shares restore the profile on a new device."
"$MAILSEAL" recovery create --shares 3 --quorum 2 --json --home "$DEMO/alice" >"$DEMO/shares.json"
python3 -c 'import json; [print("    " + s) for s in json.load(open("'"$DEMO"'/shares.json"))["shares"]]'
SHARES=$(python3 -c 'import json; s = json.load(open("'"$DEMO"'/shares.json"))["shares"]; print(s[0], s[2])')
# shellcheck disable=SC2086
run "$MAILSEAL" recovery restore $SHARES --service "$SERVICE" --name new-laptop --home "$DEMO/restored"
run "$MAILSEAL" decrypt "$DEMO/after.eml" --no-learn --home "$DEMO/restored"

say "Fingerprints are UDFs (draft-hallambaker-mesh-udf): the draft's own example."
printf '$ printf "UDF Data Value" | mailseal udf --content-type text/plain\n'
printf 'UDF Data Value' | "$MAILSEAL" udf --content-type text/plain

say "Scripts that run mailseal once per message: 'mailseal resident' keeps it loaded, so each command starts at once (setup gateway installs it as a user service)."
mkdir -m 700 "$DEMO/run"
printf '$ mailseal resident &\n'
MAILSEAL_RESIDENT="$DEMO/run/socket" "$MAILSEAL" resident >"$DEMO/run/ready" 2>/dev/null &
RESIDENT_PID=$!
for _ in $(seq 100); do [ -s "$DEMO/run/ready" ] && break; sleep 0.1; done
sign_50() {
  local start end
  start=$(date +%s%N)
  for _ in $(seq 50); do "$MAILSEAL" sign "$DEMO/reply.eml" --home "$DEMO/alice" >/dev/null; done
  end=$(date +%s%N)
  local microseconds=$(((end - start) / 50000))
  printf '%d.%d' $((microseconds / 1000)) $((microseconds % 1000 / 100))
}
echo "    50 signatures, one mailseal process each: $(MAILSEAL_RESIDENT=off sign_50) ms a message alone," \
  "$(MAILSEAL_RESIDENT="$DEMO/run/socket" sign_50) ms through the resident process"
kill "$RESIDENT_PID" && wait "$RESIDENT_PID" 2>/dev/null || true
RESIDENT_PID=""

say "Done. The temporary home is removed; nothing is left running."
