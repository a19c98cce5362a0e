#!/usr/bin/env bash
# -o never replaces what is not a regular file: a FIFO and a character device
# are written in place and stay what they are; a symbolic link is followed
# (its target is replaced atomically) and stays a link; a regular file is
# replaced whole. Run as root, `mailseal encrypt big.eml -o /dev/null` once
# replaced the system's /dev/null with a regular file. The device node here is
# made with mknod in the test's own folder; the real /dev/null is never used.
# Covers the streaming output (sign, encrypt) and the whole-file one (decrypt,
# verify, export certificates).
source "$(dirname "$0")/../lib.sh"

A="$WORK/alice" B="$WORK/bob" DIR="$WORK/out"
"$MAILSEAL" init alice@example.com --home "$A" >/dev/null 2>&1
"$MAILSEAL" init bob@example.org --home "$B" >/dev/null 2>&1
"$MAILSEAL" export certificates -o "$WORK/bob.pem" --home "$B"
"$MAILSEAL" contact import "$WORK/bob.pem" --home "$A" >/dev/null
mkdir "$DIR"
# Larger than the output's 64 KiB chunks, so that bytes flow before the end.
python3 - "$WORK/big.eml" <<'PY'
import sys
with open(sys.argv[1], "w") as out:
    out.write("From: alice@example.com\nTo: bob@example.org\nSubject: big\n\n")
    out.write("".join(f"line {n} of a message larger than one chunk\n" for n in range(40000)))
PY
"$MAILSEAL" sign "$WORK/big.eml" -o "$WORK/signed.eml" --home "$A"

kind() { stat -c %F "$1"; }  # lstat: a link is "symbolic link"
# decrypts FILE: Bob reads it back (the last line of the message is in it).
decrypts() {
  local plain
  plain=$("$MAILSEAL" decrypt "$1" --no-learn --home "$B" 2>/dev/null) || return 1
  [[ $plain == *"line 39999 of a message"* ]]
}
# Reads a FIFO to FILE in the background (bounded, so that a writer that never
# comes cannot hang the test); wait for it with `wait "$READER"`.
read_fifo() {
  timeout 120 cat "$1" >"$2" &
  READER=$!
}
leftovers() { find "$DIR" -name '*.tmp-*' | wc -l; }

note "a FIFO is written in place, by every kind of output"
mkfifo -m 640 "$DIR/pipe"
read_fifo "$DIR/pipe" "$WORK/through-pipe.eml"
expect_status 0 "encrypt -o FIFO (streamed)" -- "$MAILSEAL" encrypt "$WORK/big.eml" -o "$DIR/pipe" --no-sign --gcm --home "$A"
wait "$READER" && pass "the reader got to the end" || fail "the reader did not get to the end"
expect_equal "$(kind "$DIR/pipe")" "fifo" "the FIFO is still a FIFO"
expect_equal "$(stat -c %a "$DIR/pipe")" "640" "with its own mode"
decrypts "$WORK/through-pipe.eml" && pass "what came through it decrypts" || fail "what came through the FIFO does not decrypt"
read_fifo "$DIR/pipe" "$WORK/decrypted-through-pipe.eml"
expect_status 0 "decrypt -o FIFO (written whole)" -- "$MAILSEAL" decrypt "$WORK/through-pipe.eml" -o "$DIR/pipe" --no-learn --home "$B"
wait "$READER" || true
expect_contains "$(tail -c 200 "$WORK/decrypted-through-pipe.eml")" "line 39999 of a message" "the plaintext came through"
read_fifo "$DIR/pipe" "$WORK/certificates-through-pipe.pem"
expect_status 0 "export certificates -o FIFO" -- "$MAILSEAL" export certificates -o "$DIR/pipe" --home "$A"
wait "$READER" || true
expect_equal "$(grep -c 'BEGIN CERTIFICATE' "$WORK/certificates-through-pipe.pem")" "3" "the certificates came through"
expect_equal "$(kind "$DIR/pipe")" "fifo" "still a FIFO after three commands"
expect_equal "$(leftovers)" "0" "no temporary file beside it"

note "a symbolic link is followed and stays a link"
printf 'old contents\n' >"$DIR/real.eml"
ln -s real.eml "$DIR/link.eml"
expect_status 0 "encrypt -o LINK" -- "$MAILSEAL" encrypt "$WORK/big.eml" -o "$DIR/link.eml" --no-sign --gcm --home "$A"
expect_equal "$(kind "$DIR/link.eml")" "symbolic link" "the link is still a link"
expect_equal "$(readlink "$DIR/link.eml")" "real.eml" "pointing where it did"
decrypts "$DIR/real.eml" && pass "its target holds the new output" || fail "the link's target does not hold the output"
expect_equal "$(stat -c %a "$DIR/real.eml")" "600" "the target is 0600 like any output"
ln -s "$DIR/not-yet.pem" "$DIR/ahead.pem"
expect_status 0 "export certificates -o a link to a file not there yet" -- "$MAILSEAL" export certificates -o "$DIR/ahead.pem" --home "$A"
expect_equal "$(kind "$DIR/ahead.pem")" "symbolic link" "that link stays too"
expect_equal "$(grep -c 'BEGIN CERTIFICATE' "$DIR/not-yet.pem")" "3" "the file is made where it points"
ln -s pipe "$DIR/to-pipe"
read_fifo "$DIR/pipe" "$WORK/signed-through-link.eml"
expect_status 0 "sign -o a link to the FIFO" -- "$MAILSEAL" sign "$WORK/big.eml" -o "$DIR/to-pipe" --home "$A"
wait "$READER" || true
expect_status 0 "the signature that came through verifies" -- "$MAILSEAL" verify "$WORK/signed-through-link.eml"
expect_equal "$(kind "$DIR/to-pipe")/$(kind "$DIR/pipe")" "symbolic link/fifo" "the link and the FIFO stay as they were"
expect_equal "$(leftovers)" "0" "no temporary file left"

note "a regular file is replaced whole (a new file renamed over it)"
printf 'old\n' >"$DIR/regular.eml"
before=$(stat -c %i "$DIR/regular.eml")
expect_status 0 "verify -o a regular file" -- "$MAILSEAL" verify "$WORK/signed.eml" -o "$DIR/regular.eml"
expect_contains "$(tail -c 200 "$DIR/regular.eml")" "line 39999 of a message" "it holds the verified message"
[ "$(stat -c %i "$DIR/regular.eml")" != "$before" ] && pass "it is a new file (rename), not rewritten in place" ||
  fail "the regular file was rewritten in place"

note "a directory is refused, and stays as it was"
mkdir "$DIR/folder"
expect_status 1 "encrypt -o a directory" -- "$MAILSEAL" encrypt "$WORK/big.eml" -o "$DIR/folder" --no-sign --gcm --home "$A"
expect_contains "$ERR" "$DIR/folder" "the error names it"
expect_equal "$(kind "$DIR/folder")" "directory" "it is still a directory"
expect_equal "$(leftovers)" "0" "and nothing was left beside it"

note "a character device is written in place (a node made here, never the real /dev/null)"
expected_checks=30
if mknod -m 666 "$DIR/null" c 1 3 2>/dev/null && : >"$DIR/null" 2>/dev/null; then
  expected_checks=$((expected_checks + 9))
  expect_status 0 "encrypt -o DEVICE (streamed)" -- "$MAILSEAL" encrypt "$WORK/big.eml" -o "$DIR/null" --no-sign --gcm --home "$A"
  expect_status 0 "sign -o DEVICE" -- "$MAILSEAL" sign "$WORK/big.eml" -o "$DIR/null" --home "$A"
  expect_status 0 "decrypt -o DEVICE" -- "$MAILSEAL" decrypt "$DIR/real.eml" -o "$DIR/null" --no-learn --home "$B"
  expect_status 0 "export certificates -o DEVICE" -- "$MAILSEAL" export certificates -o "$DIR/null" --home "$A"
  ln -s null "$DIR/to-null"
  expect_status 0 "encrypt -o a link to the DEVICE" -- "$MAILSEAL" encrypt "$WORK/big.eml" -o "$DIR/to-null" --no-sign --gcm --home "$A"
  expect_equal "$(kind "$DIR/null")" "character special file" "the device is still a device"
  expect_equal "$(stat -c '%t,%T %a' "$DIR/null")" "1,3 666" "the same device (1,3) with its own mode"
  expect_equal "$(kind "$DIR/to-null")" "symbolic link" "the link to it is still a link"
  expect_equal "$(leftovers)" "0" "no temporary file beside it"
else
  rm -f "$DIR/null"
  note "skipped the device case: mknod is not permitted here (it needs CAP_MKNOD, and the device cgroup must allow 1,3)"
fi

finish "$expected_checks"
