"""What the end-to-end test scripts share: checks that print "ok - ..." or
"FAIL - ..." with the detail that explains a failure; the summary at the end,
which fails a script that ran fewer checks than it should (a script that
checks nothing must not pass); skipping (exit 77, as CTest's
SKIP_RETURN_CODE) with a message; a mailseal profile home; the shared corpora;
and a seeded random generator whose seed is printed, so a failure can be
replayed (MAILSEAL_TEST_SEED)."""
import glob
import json
import os
import random
import subprocess
import sys

MAILSEAL = os.environ.get("MAILSEAL", "")

_counts = {"checks": 0, "failures": 0}


def check(condition, description, detail=""):
    _counts["checks"] += 1
    print(("ok - " if condition else "FAIL - ") + description, flush=True)
    if not condition:
        _counts["failures"] += 1
        if detail:
            print("    " + str(detail).strip().replace("\n", "\n    "), flush=True)
    return bool(condition)


def skip(reason):
    """Skips the whole script: exit 77, saying why."""
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def finish(minimum):
    """Prints the summary and exits: 1 if any check failed or fewer than
    `minimum` checks ran (set it close to the script's real count), else 0."""
    checks, failures = _counts["checks"], _counts["failures"]
    if checks < minimum:
        print(f"FAIL - only {checks} checks ran, at least {minimum} expected: some were never reached", flush=True)
        failures += 1
    print(f"{checks - _counts['failures']}/{checks} checks passed", flush=True)
    sys.exit(1 if failures else 0)


def seeded_random(what="this run"):
    """A random.Random whose seed is printed; MAILSEAL_TEST_SEED replays it."""
    text = os.environ.get("MAILSEAL_TEST_SEED", "")
    seed = int(text) if text else random.SystemRandom().randrange(2 ** 32)
    print(f"# random seed for {what}: {seed} (replay with MAILSEAL_TEST_SEED={seed})", flush=True)
    return random.Random(seed)


def require_mailseal():
    if not MAILSEAL or not os.access(MAILSEAL, os.X_OK):
        print("error: MAILSEAL must point to the mailseal binary", file=sys.stderr)
        sys.exit(2)


def mailseal(*arguments, stdin=None, env=None):
    """Runs mailseal with these arguments; the CompletedProcess (bytes)."""
    return subprocess.run([MAILSEAL, *arguments], capture_output=True, input=stdin, env=env)


def sanitizer_memory_allowance_mib():
    """MiB to add to a peak-memory bound when mailseal is built with
    AddressSanitizer, whose shadow memory and quarantine add 60 to 90 MiB to
    a peak (the most for a message read through two temporary files): the
    release build checks the bound itself."""
    linked = subprocess.run(["ldd", MAILSEAL], capture_output=True, text=True).stdout
    return 96 if "libasan" in linked else 0


def run_tool(*arguments, stdin=None):
    """Runs a peer tool (openssl...) for a test's set-up: its stdout, or an
    exception with its stderr when it fails."""
    result = subprocess.run(list(arguments), capture_output=True, input=stdin)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout


_MEASURE = ("import resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[1:]).returncode\n"
            "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n")


def run_measured(arguments, env=None):
    """Runs a command in a process of its own: (exit code, its peak resident
    memory in MiB, its stderr, its stdout)."""
    result = subprocess.run([sys.executable, "-c", _MEASURE, *arguments], capture_output=True, env=env)
    lines = result.stderr.decode(errors="replace").strip().splitlines()
    code, peak = lines[-1].split()
    return int(code), int(peak) / 1024, "\n".join(lines[:-1]), result.stdout.decode(errors="replace")


class Home:
    """One mailseal home (a person's profile, or one of their devices) in the
    test's work folder. `must` raises when a step that sets a test up fails,
    so that a broken setup is reported as such, never passed over."""

    def __init__(self, work, name):
        self.name = name
        self.work = work
        self.home = os.path.join(work, name.lower())

    @classmethod
    def at(cls, path):
        """The home in the folder `path`, named after it."""
        home = cls(os.path.dirname(path), os.path.basename(path))
        home.home = path
        return home

    def run(self, *arguments, stdin=None, env=None):
        return mailseal("--home", self.home, *arguments, stdin=stdin, env=env)

    def must(self, *arguments, stdin=None, env=None):
        result = self.run(*arguments, stdin=stdin, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"{self.name}: mailseal {' '.join(map(str, arguments))} failed "
                               f"(exit {result.returncode}): {result.stderr.decode(errors='replace')}")
        return result

    def json(self, *arguments, stdin=None):
        """The JSON document of a command that must succeed."""
        return json.loads(self.must("--json", *arguments, stdin=stdin).stdout)

    def path(self, name):
        """A file of this person's in the work folder."""
        return os.path.join(self.work, f"{self.name.lower()}-{name}")

    def certificates(self):
        """Exports the current certificates (mail ones, then the root) to a PEM file; its path."""
        out = self.path("certificates.pem")
        self.must("export", "certificates", "-o", out)
        return out

    def device_id(self):
        return next(d["device_id"] for d in self.json("device", "list")["devices"] if d["this_device"])


def faketime_environment(offset=None, timestamp_file=None, multithreaded=False):
    """The environment that runs a program with its clock moved by libfaketime,
    preloaded directly: the `faketime` wrapper forks, so a signal sent to it
    left the program running, and its pid-named semaphore was once refused
    ("sem_open: File exists"). Either a fixed `offset` ("+3600") or a file
    the clock's offset is read from on every look (FAKETIME_TIMESTAMP_FILE);
    the monotonic clock stays real."""
    name = "libfaketimeMT.so.1" if multithreaded else "libfaketime.so.1"
    library = next(iter(glob.glob(f"/usr/lib/*/faketime/{name}")), None)
    if library is None:
        raise RuntimeError("libfaketime is not installed (scripts/install-deps.sh installs faketime)")
    # An AddressSanitizer build wants its runtime first; libfaketime, preloaded, comes before it.
    asan = ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
    environment = dict(os.environ, LD_PRELOAD=library, ASAN_OPTIONS=asan, FAKETIME_DONT_FAKE_MONOTONIC="1")
    environment.pop("FAKETIME", None)
    if offset is not None:
        environment["FAKETIME"] = offset
    if timestamp_file is not None:
        environment.update(FAKETIME_TIMESTAMP_FILE=timestamp_file, FAKETIME_NO_CACHE="1")
    return environment


def corpus(*parts):
    """The folder of a shared corpus (../shared/corpora/PARTS). Skips the
    script, saying which, where the corpora or that folder are absent (a fresh
    clone has none); a folder that is there must hold what the test reads."""
    base = os.environ.get("MAILSEAL_CORPORA", "")
    if not base or not os.path.isdir(base):
        skip(f"../shared/corpora is absent (MAILSEAL_CORPORA={base!r})")
    folder = os.path.join(base, *parts)
    if not os.path.isdir(folder):
        skip(f"the corpus folder {folder} is absent")
    return folder


def corpus_files(folder, suffix, at_least=1):
    """The names in `folder` ending with `suffix`, sorted. A folder that holds
    fewer than `at_least` is a failed check, not a pass over nothing."""
    names = sorted(name for name in os.listdir(folder) if name.endswith(suffix))
    check(len(names) >= at_least, f"{folder} holds {suffix} files ({len(names)}, at least {at_least})")
    return names
