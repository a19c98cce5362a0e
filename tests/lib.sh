# Helpers for the end-to-end and interop test scripts. Each script sources
# this, runs mailseal ($MAILSEAL) and peers in a private temporary folder, and
# exits 0 (pass), 1 (fail) or 77 (skipped, as CTest's SKIP_RETURN_CODE).
set -uo pipefail

: "${MAILSEAL:?MAILSEAL must point to the mailseal binary}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mailseal-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
FAILURES=0
CHECKS=0

note() { printf '# %s\n' "$*"; }
pass() { CHECKS=$((CHECKS + 1)); printf 'ok - %s\n' "$*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); printf 'FAIL - %s\n' "$*"; }

skip_test() {
  printf 'SKIP: %s\n' "$*"
  exit 77
}

# expect_status CODE DESCRIPTION -- COMMAND...: runs COMMAND, keeps its output
# in $OUT and $ERR, and checks the exit status.
expect_status() {
  local expected=$1 description=$2
  shift 3
  OUT=$("$@" 2>"$WORK/stderr")
  STATUS=$?
  ERR=$(cat "$WORK/stderr")
  if [ "$STATUS" -eq "$expected" ]; then
    pass "$description (exit $STATUS)"
  else
    fail "$description: expected exit $expected, got $STATUS; stderr: $ERR"
  fi
}

expect_contains() {
  local haystack=$1 needle=$2 description=$3
  if printf '%s' "$haystack" | grep -qF -- "$needle"; then
    pass "$description"
  else
    fail "$description: '$needle' not found in: $haystack"
  fi
}

expect_not_contains() {
  local haystack=$1 needle=$2 description=$3
  if printf '%s' "$haystack" | grep -qF -- "$needle"; then
    fail "$description: '$needle' unexpectedly found"
  else
    pass "$description"
  fi
}

expect_equal() {
  local actual=$1 expected=$2 description=$3
  if [ "$actual" = "$expected" ]; then
    pass "$description"
  else
    fail "$description: expected '$expected', got '$actual'"
  fi
}

# A digest of every file (names, modes, contents) under a folder, to prove
# that a refused command changed nothing.
snapshot() {
  local dir=$1
  if [ ! -e "$dir" ]; then
    echo "absent"
    return
  fi
  (cd "$dir" && find . -type f -printf '%p %m\n' | sort && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) | sha256sum
}

# Reads a JSON field with python3 (json.loads; prints the value or '').
json_field() {
  python3 -c 'import json,sys
data=json.load(sys.stdin)
for part in sys.argv[1].split("."):
    data = data[int(part)] if isinstance(data, list) else data.get(part)
print("" if data is None else (json.dumps(data) if isinstance(data,(dict,list,bool)) else data))' "$1"
}

# Sets CORPORA to the shared corpora folder, or skips the whole test (exit 77)
# where it is absent. Call it directly, not in $(...), so the exit is the script's.
require_corpora() {
  CORPORA=${MAILSEAL_CORPORA:-}
  if [ -z "$CORPORA" ] || [ ! -d "$CORPORA" ]; then
    skip_test "../shared/corpora is absent"
  fi
}

finish() {
  note "$CHECKS checks, $FAILURES failed"
  [ "$FAILURES" -eq 0 ]
  exit $?
}
