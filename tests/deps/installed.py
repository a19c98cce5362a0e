#!/usr/bin/env python3
"""A fresh machine passes: every program, Python module and Perl module that
the tests, the demo and the benchmarks use comes from a package that
scripts/install-deps.sh names, or from a dependency of one (Depends and
Pre-Depends only: the script installs with --no-install-recommends, so a
recommended package may be missing on a new machine even where it is
installed here). Reads the installed packages' own metadata with dpkg-query,
so it needs no package lists. Skips (77) where dpkg is absent.

When a test starts running another program, add it to PROGRAMS below and its
package to scripts/install-deps.sh."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import check, finish, skip  # noqa: E402

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
INSTALL_DEPS = os.path.join(SOURCE, "scripts", "install-deps.sh")

# What the tests (tests/), the demo (scripts/demo.sh, scripts/smtp-sink.py),
# the build and test scripts and the benchmarks (bench/) run, and mailseal
# itself (certutil and pk12util for `setup thunderbird`).
PROGRAMS = [
    # peers
    "openssl", "certutil", "pk12util", "cmsutil", "gpgsm", "gpg-agent", "gpgconf", "swaks",
    # a clock a test moves (the key service in tests/devices runs under it)
    "faketime",
    # the gateway's user unit, checked and enabled (tests/gateway/user_service.py)
    "systemd-analyze", "systemctl",
    # the browser that tests/service/web_pages.py drives
    "chromium", "chromedriver",
    # the zone parser the SMIMEA lines are checked with (tests/service/smimea)
    "named-checkzone",
    # the throwaway PostgreSQL clusters of the key service's tests (tests/tools/postgres_tool.py)
    "/usr/lib/postgresql/15/bin/initdb", "/usr/lib/postgresql/15/bin/pg_ctl", "psql", "pg_dump", "runuser",
    # interpreters
    "/usr/bin/python3", "bash", "sh",
    # build
    "g++", "cmake", "ctest", "make", "pkg-config",
    # shell tools
    "mktemp", "stat", "dd", "timeout", "mkfifo", "mknod", "sha256sum", "base64", "seq", "nproc", "find", "xargs",
    "cmp", "grep", "sed", "awk", "sort", "head", "tail", "wc", "tr", "cp", "mkdir", "touch", "id", "env", "ls", "ln",
    "readlink", "basename", "dirname", "rm", "cat", "sleep",
    # whether mailseal is built with AddressSanitizer (tests/tools/mailseal_test.py)
    "ldd",
]
# Modules the scripts import with /usr/bin/python3 (the gateway and client
# tests, the demo's SMTP sink, the benchmarks) beyond the interpreter itself.
PYTHON_MODULES = ["aiosmtpd", "aiosmtpd.controller", "sqlite3", "ssl", "plistlib", "smtplib", "http.client",
                  "email.utils", "concurrent.futures", "csv", "resource", "hashlib", "ctypes",
                  "selenium.webdriver"]
# swaks's STARTTLS (and implicit TLS).
PERL_MODULES = ["Net::SSLeay"]
# Libraries the build finds with pkg-config: the key service's HTTP server
# (libmicrohttpd), its PostgreSQL client (libpq) and its client (cpp-httplib),
# NSS for Thunderbird's saved passwords (src/clients/sdr.cc).
PKG_CONFIG_MODULES = ["libmicrohttpd", "libpq", "cpp-httplib", "nss"]


def listed_packages():
    text = open(INSTALL_DEPS).read()
    body = text[text.index("packages=(") + len("packages=("):]
    body = body[:body.index("\n)")]
    words = []
    for line in body.splitlines():
        words += line.split("#", 1)[0].split()
    return words


def installed_metadata():
    """{package: (depends, provides)} of installed packages."""
    output = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\t${Pre-Depends}, "
                             "${Depends}\t${Provides}\n"], capture_output=True, text=True, check=True).stdout
    packages = {}
    for line in output.splitlines():
        name, status, depends, provides = (line.split("\t") + ["", "", ""])[:4]
        if status == "installed":
            packages[name] = (depends, provides)
    return packages


def names_in(field):
    """[[alternative, ...], ...] of a Depends field, versions and architectures dropped."""
    groups = []
    for group in field.split(","):
        alternatives = [re.sub(r"[\s(].*$", "", item.strip()).split(":")[0] for item in group.split("|")]
        alternatives = [name for name in alternatives if name]
        if alternatives:
            groups.append(alternatives)
    return groups


def closure(roots, packages):
    """Every installed package the roots pull in through Depends and Pre-Depends."""
    providers = {}
    for name, (_, provides) in packages.items():
        for group in names_in(provides):
            for virtual in group:
                providers.setdefault(virtual, set()).add(name)
    seen = set()
    queue = [name for name in roots if name in packages]
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        for alternatives in names_in(packages[name][0]):
            for alternative in alternatives:
                candidates = ({alternative} if alternative in packages else set()) | providers.get(alternative, set())
                if candidates:
                    queue.extend(candidates)
                    break  # one installed alternative satisfies the dependency
    return seen


def candidates_of(path):
    """The names dpkg may know `path` by (usr-merged paths are registered under /bin, /sbin, /lib)."""
    names = [path, os.path.realpath(path)]
    for name in list(names):
        for prefix in ("/usr/bin/", "/usr/sbin/", "/usr/lib/"):
            if name.startswith(prefix):
                names.append(name[len("/usr"):])
    return names


def owners(paths):
    """{path: package} for every path dpkg knows, in one dpkg-query call."""
    wanted = sorted({name for path in paths for name in candidates_of(path)})
    output = subprocess.run(["dpkg-query", "-S", *wanted], capture_output=True, text=True).stdout
    by_name = {}
    for line in output.splitlines():
        if line.startswith("diversion by"):  # "diversion by dash from: /bin/sh" names no owner
            continue
        package, _, name = line.partition(": ")
        by_name.setdefault(name.strip(), package.split(",")[0].split(":")[0].strip())
    return {path: next((by_name[name] for name in candidates_of(path) if name in by_name), None) for path in paths}


def resolve(program):
    if program.startswith("/"):
        return program if os.path.exists(program) else None
    # Debian's own copy: /usr/bin first, whatever else PATH holds (pyenv, ~/.local).
    return shutil.which(program, path="/usr/bin:/bin:/usr/sbin:/sbin")


if shutil.which("dpkg-query") is None:
    skip("dpkg-query is absent: not a Debian system")

packages = installed_metadata()
listed = listed_packages()
check(all(name in packages for name in listed), "every package install-deps.sh names is installed",
      [name for name in listed if name not in packages])
provided = closure(listed, packages)
essential = {line.split("\t")[0] for line in subprocess.run(
    ["dpkg-query", "-W", "-f", "${Package}\t${Essential}\n"], capture_output=True, text=True).stdout.splitlines()
    if line.endswith("\tyes")}


# What each program and module is, and where it is (None when it is not installed).
found = [(program, resolve(program)) for program in PROGRAMS]
for module in PYTHON_MODULES:
    result = subprocess.run(["/usr/bin/python3", "-c", f"import {module}; print({module}.__file__)"],
                            capture_output=True, text=True)
    path = result.stdout.strip() if result.returncode == 0 else ""
    found.append((f"Python module {module}", path if path and os.path.exists(path) else None))
for module in PERL_MODULES:
    key = module.replace("::", "/") + ".pm"
    result = subprocess.run(["perl", f"-M{module}", "-e", f"print $INC{{'{key}'}}"], capture_output=True, text=True)
    found.append((f"Perl module {module}", result.stdout.strip() if result.returncode == 0 else None))

for module in PKG_CONFIG_MODULES:
    result = subprocess.run(["pkg-config", "--variable=pcfiledir", module], capture_output=True, text=True)
    path = os.path.join(result.stdout.strip(), module + ".pc") if result.returncode == 0 else ""
    found.append((f"pkg-config module {module}", path if path and os.path.exists(path) else None))

owner = owners([path for _, path in found if path])
for description, path in found:
    if not check(path is not None, f"{description} is installed"):
        continue
    package = owner[path]
    check(package is not None and package in provided,
          f"{description} ({path}) comes from {package}, which install-deps.sh brings",
          f"{package} is not {'essential but ' if package in essential else ''}named in install-deps.sh "
          f"nor a dependency of a package it names")

finish(minimum=2 * (len(PROGRAMS) + len(PYTHON_MODULES) + len(PERL_MODULES) + len(PKG_CONFIG_MODULES)))
