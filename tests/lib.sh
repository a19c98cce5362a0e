# Helpers for the end-to-end and interop test scripts. Each script sources
# this, runs mailseal ($MAILSEAL) and peers in a private temporary folder, and
# exits 0 (pass), 1 (fail) or 77 (skipped, as CTest's SKIP_RETURN_CODE).
#
# Setup steps fail loudly: errexit is on, and a command that fails outside a
# check (a condition, `||`, `&&`, or expect_status) ends the script with
# "FAIL - setup step ..." naming the line and the command. A command that may
# fail on purpose is run through expect_status or guarded with `|| true`.
set -Eeuo pipefail

: "${MAILSEAL:?MAILSEAL must point to the mailseal binary}"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mailseal-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# (Only in the script's own shell: a command substitution that fails is a
# value for a check, not a setup step.)
trap 'setup_status=$?; [ "$BASH_SUBSHELL" -ne 0 ] ||
  printf "FAIL - setup step failed (exit %s) at %s line %s: %s\n" "$setup_status" "${BASH_SOURCE[0]##*/}" "$LINENO" "$BASH_COMMAND"' ERR
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
  STATUS=0
  OUT=$("$@" 2>"$WORK/stderr") || STATUS=$?
  ERR=$(cat "$WORK/stderr")
  if [ "$STATUS" -eq "$expected" ]; then
    pass "$description (exit $STATUS)"
  else
    fail "$description: expected exit $expected, got $STATUS; stderr: $ERR"
  fi
}

# Substring tests without a pipe: under pipefail, `printf | grep -q` fails
# whenever grep stops reading before printf has written everything (SIGPIPE).
expect_contains() {
  local haystack=$1 needle=$2 description=$3
  if [[ $haystack == *"$needle"* ]]; then
    pass "$description"
  else
    fail "$description: '$needle' not found in: $haystack"
  fi
}

expect_not_contains() {
  local haystack=$1 needle=$2 description=$3
  if [[ $haystack == *"$needle"* ]]; then
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

# require_corpora [FOLDER...]: sets CORPORA to the shared corpora folder, or
# skips the whole test (exit 77, saying which) where it or one of the named
# folders in it is absent. Call it directly, not in $(...), so the exit is the
# script's. What a folder that is there lacks is a failure, not a skip.
require_corpora() {
  CORPORA=${MAILSEAL_CORPORA:-}
  if [ -z "$CORPORA" ] || [ ! -d "$CORPORA" ]; then
    skip_test "../shared/corpora is absent (MAILSEAL_CORPORA='$CORPORA')"
  fi
  local folder
  for folder in "$@"; do
    [ -d "$CORPORA/$folder" ] || skip_test "the corpus folder $CORPORA/$folder is absent"
  done
}

# files_matching DESCRIPTION DIR GLOB: sets FILES to the paths in DIR that
# GLOB matches; a glob that matches nothing is a failed check, never an empty
# loop that passes.
files_matching() {
  local description=$1 directory=$2 glob=$3 path restore
  FILES=()
  restore=$(shopt -p nullglob || true)
  shopt -s nullglob
  for path in "$directory"/$glob; do
    FILES+=("$path")
  done
  eval "$restore"
  if [ ${#FILES[@]} -gt 0 ]; then
    pass "$description: ${#FILES[@]} file(s)"
  else
    fail "$description: nothing matches $directory/$glob"
  fi
}

# finish MINIMUM: the summary; fails when a check failed or fewer than
# MINIMUM checks ran (set it close to the script's real count), so that a
# script whose checks stopped running, or never started, does not pass.
finish() {
  local minimum=${1:?finish needs the minimum number of checks}
  if [ "$CHECKS" -lt "$minimum" ]; then
    printf 'FAIL - only %s checks ran, at least %s expected: some were never reached\n' "$CHECKS" "$minimum"
    FAILURES=$((FAILURES + 1))
  fi
  note "$CHECKS checks, $FAILURES failed"
  if [ "$FAILURES" -eq 0 ]; then
    exit 0
  fi
  exit 1
}
