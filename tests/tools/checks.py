"""What the end-to-end test scripts share: checks that print "ok - ..." or
"FAIL - ..." with the detail that explains a failure, and the summary line
and exit status at the end."""
import sys

_counts = {"checks": 0, "failures": 0}


def check(condition, description, detail=""):
    _counts["checks"] += 1
    print(("ok - " if condition else "FAIL - ") + description, flush=True)
    if not condition:
        _counts["failures"] += 1
        if detail:
            print("    " + str(detail).strip().replace("\n", "\n    "))


def finish():
    """Prints the summary and exits 1 if any check failed."""
    checks, failures = _counts["checks"], _counts["failures"]
    print(f"{checks - failures}/{checks} checks passed")
    sys.exit(1 if failures else 0)
