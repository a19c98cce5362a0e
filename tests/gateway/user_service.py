#!/usr/bin/python3
"""`mailseal setup gateway`: the gateway as a systemd user unit, read by
systemd's own tools (systemd-analyze verify, systemctl --user enable), its
ExecStart= parsed back as systemd.service(5) says and run as systemd would,
with a store path and a program path that systemd quoting has to survive; the
gateway it starts takes a submission with the credentials the set-up made
and relays it to a real upstream (aiosmtpd). Thunderbird's prefs.js is read
back; `mailseal status` reports the unit. Where a systemd user manager runs
and MAILSEAL_TEST_SYSTEMD_USER=1 allows installing the unit for the real
user, the gateway runs under it (started, restarted after SIGKILL, logging
to the journal); otherwise the script says that part was skipped."""
import fcntl
import json
import os
import re
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402

try:
    from smtp_tool import Upstream, free_port  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")

require_mailseal()
if shutil.which("systemd-analyze") is None or shutil.which("systemctl") is None:
    skip("systemd-analyze and systemctl are not installed (the systemd package)")

UNIT = "mailseal-gateway.service"
# A store and a program path with what systemd reads specially: a space, a
# specifier, both quotes, an environment variable, a backslash.
HOSTILE = ' %h "q" \'p\' $HOME ${USER} \\b'
# systemd refuses quotes and backslashes in an executable's path, escaped or
# not (the set-up refuses such a path, see the unit test); the rest stays.
PROGRAM_HOSTILE = ' %h $HOME ${USER}'


def systemd_specifiers(text):
    """systemd's specifier pass: '%%' is '%'; this test writes no other specifier."""
    out, i = "", 0
    while i < len(text):
        if text[i] == "%":
            if text[i + 1:i + 2] != "%":
                raise ValueError(f"a specifier other than %% in {text!r}")
            i += 1
        out += text[i]
        i += 1
    return out


ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", '"': '"',
           "'": "'", "s": " "}


def systemd_words(text, c_unescape):
    """Words as systemd's extract_first_word() splits them: whitespace
    separates, double or single quotes group, a backslash escapes the next
    character (C escapes with c_unescape, as in command lines)."""
    words, word, quote, i, in_word = [], "", None, 0, False
    while i < len(text):
        c = text[i]
        if c == "\\":
            following = text[i + 1]
            if c_unescape and following == "x":
                word += chr(int(text[i + 2:i + 4], 16))
                i += 4
            else:
                word += ESCAPES.get(following, following) if c_unescape else following
                i += 2
            in_word = True
            continue
        if quote:
            if c == quote:
                quote = None
            else:
                word += c
        elif c in "\"'":
            quote, in_word = c, True
        elif c in " \t":
            if in_word:
                words.append(word)
            word, in_word = "", False
        else:
            word += c
            in_word = True
        i += 1
    if quote:
        raise ValueError(f"unterminated quote in {text!r}")
    if in_word:
        words.append(word)
    return words


def systemd_environment(word):
    """systemd's environment pass over one argument: '$$' is '$'; this test
    expects no variable."""
    if re.search(r"(?<!\$)\$(?!\$)", word.replace("$$", "")):
        raise ValueError(f"an environment variable in {word!r}")
    return word.replace("$$", "$")


def exec_start(unit_text):
    """ExecStart= of a unit file as the argument vector systemd runs (the
    executable is not expanded, the arguments are)."""
    line = next(line for line in unit_text.splitlines() if line.startswith("ExecStart="))
    words = systemd_words(systemd_specifiers(line[len("ExecStart="):]), True)
    return words[:1] + [systemd_environment(word) for word in words[1:]]


def unit_paths(unit_text, key):
    line = next(line for line in unit_text.splitlines() if line.startswith(key + "="))
    return systemd_words(systemd_specifiers(line[len(key) + 1:]), False)


def read_prefs(path):
    """prefs.js as a dict: every user_pref line, its value read as JSON."""
    prefs = {}
    with open(path) as handle:
        for line in handle:
            match = re.fullmatch(r'user_pref\("([^"]+)", (.*)\);\n?', line)
            if match:
                prefs[match.group(1)] = json.loads(match.group(2))
    return prefs


def manager_runs():
    state = subprocess.run(["systemctl", "--user", "is-system-running"], capture_output=True, text=True).stdout
    return state.strip() in ("running", "degraded", "starting", "initializing", "maintenance")


def submit(port, credential, secret, sender="alice@example.com"):
    """Sends one message through the gateway; the error text, or None when it was accepted."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30, local_hostname="client.test") as client:
            client.login(credential, secret)
            client.sendmail(sender, ["bob@example.org"],
                            f"From: {sender}\r\nTo: bob@example.org\r\nSubject: via the unit\r\n\r\nhello\r\n")
        return None
    except (smtplib.SMTPException, OSError) as error:
        return str(error)


def start_as_systemd(argv, env):
    """Runs the command line as systemd runs ExecStart=: no shell, the
    arguments as parsed; returns the process and the port it listens on."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    line = process.stdout.readline().decode().strip()
    if ":" not in line:
        process.kill()
        raise RuntimeError("the gateway did not start: " + process.stderr.read().decode(errors="replace"))
    return process, int(line.rsplit(":", 1)[1])


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


with tempfile.TemporaryDirectory() as work, Upstream() as upstream:
    # The program at a hostile path: systemd-analyze verify fails if it reads
    # a different path out of ExecStart=.
    bin_dir = os.path.join(work, "bin" + PROGRAM_HOSTILE)
    os.makedirs(bin_dir)
    # mailseal (the launcher), the program it becomes and the one that hands
    # `setup gateway` to, side by side.
    for name in ("mailseal", "mailseal-cli", "mailseal-setup"):
        source = os.path.join(os.path.dirname(MAILSEAL), name)
        try:
            os.link(source, os.path.join(bin_dir, name))
        except OSError:
            shutil.copy2(source, os.path.join(bin_dir, name))
    program = os.path.join(bin_dir, "mailseal")
    user_home = os.path.join(work, "user home")  # HOME: where the user unit goes
    runtime = os.path.join(work, "runtime")
    os.makedirs(runtime, mode=0o700)
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "MAILSEAL_PASSPHRASE")}
    env.update(HOME=user_home, XDG_RUNTIME_DIR=runtime)
    alice = Home.at(os.path.join(work, "store" + HOSTILE))
    alice.must("init", "alice@example.com", "--name", "Alice")

    thunderbird = os.path.join(work, "thunderbird profile")
    os.makedirs(thunderbird)
    prefs_file = os.path.join(thunderbird, "prefs.js")
    with open(prefs_file, "w") as out:
        out.write('user_pref("mail.identity.id1.useremail", "alice@example.com");\n'
                  'user_pref("mail.identity.id1.smtpServer", "smtp1");\n'
                  'user_pref("mail.identity.id2.useremail", "someone@example.net");\n'
                  'user_pref("mail.identity.id2.smtpServer", "smtp1");\n'
                  'user_pref("mail.smtpservers", "smtp1");\n'
                  'user_pref("mail.smtpserver.smtp1.hostname", "smtp.provider.example");\n'
                  'user_pref("mail.smtpserver.smtp1.port", 587);\n'
                  # left behind by a deleted server: a new entry must not inherit it
                  'user_pref("mail.smtpserver.smtp2.hostname", "stale.example");\n')

    listen = f"127.0.0.1:{free_port()}"
    setup = [program, "--home", alice.home, "--json", "setup", "gateway", "--upstream",
             f"127.0.0.1:{upstream.port}", "--listen", listen, "--thunderbird", thunderbird, "--credential", "phone"]

    # Thunderbird running with the profile (it holds the lock on .parentlock):
    # nothing is changed.
    with open(os.path.join(thunderbird, ".parentlock"), "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        refused = subprocess.run(setup, capture_output=True, text=True, env=env)
        fcntl.lockf(lock, fcntl.LOCK_UN)
    check(refused.returncode != 0 and "Thunderbird is running" in refused.stderr
          and not os.path.exists(os.path.join(user_home, ".config", "systemd", "user", UNIT))
          and "smtp3" not in open(prefs_file).read(),
          "setup gateway while Thunderbird runs: refused, no unit written, prefs.js unchanged", refused.stderr)

    result = subprocess.run(setup, capture_output=True, text=True, env=env)
    check(result.returncode == 0, "setup gateway succeeds without a systemd user manager", result.stderr)
    answer = json.loads(result.stdout)
    service = answer["service"]
    unit_file = os.path.join(user_home, ".config", "systemd", "user", UNIT)
    check(service["unit_file"] == unit_file and os.path.isfile(unit_file),
          "the unit is written to HOME/.config/systemd/user", service)
    running_manager = manager_runs()
    check(service["systemd_user_manager"]["running"] == running_manager and service["started"] == running_manager,
          "it says whether a systemd user manager runs, and starts the service only under one", service)
    check(service["enabled"] and os.path.islink(os.path.join(user_home, ".config", "systemd", "user",
                                                             "default.target.wants", UNIT)),
          "the unit is enabled without a running manager (default.target wants it)", service)
    with open(unit_file) as handle:
        unit_text = handle.read()

    verify = subprocess.run(["systemd-analyze", "verify", "--user", unit_file], capture_output=True, text=True,
                            env=env)
    check(verify.returncode == 0 and verify.stderr.strip() == "" and verify.stdout.strip() == "",
          "systemd-analyze verify --user: the unit is valid, every setting known, the program found",
          verify.stdout + verify.stderr)
    broken = os.path.join(work, "broken", UNIT)
    os.makedirs(os.path.dirname(broken))
    with open(broken, "w") as out:
        out.write(unit_text.replace("%%h", "%h", 1))
    verify_broken = subprocess.run(["systemd-analyze", "verify", "--user", broken], capture_output=True, text=True,
                                   env=env)
    check(verify_broken.returncode != 0 or verify_broken.stderr.strip() != "",
          "systemd-analyze verify notices when the quoting is undone (the test can fail)", verify_broken.stderr)

    argv = exec_start(unit_text)
    check(argv[0] == program and argv[1:3] == ["--home", alice.home] and argv[3:6] == ["gateway", "--listen", listen],
          "ExecStart= parsed as systemd does gives the program, the store and the settings back unchanged", argv)
    # The resident process's unit, written beside the gateway's.
    resident_file = os.path.join(user_home, ".config", "systemd", "user", "mailseal-resident.service")
    resident_service = answer.get("resident_service", {})
    check(resident_service.get("unit_file") == resident_file and os.path.isfile(resident_file)
          and os.path.islink(os.path.join(user_home, ".config", "systemd", "user", "default.target.wants",
                                          "mailseal-resident.service")),
          "the resident process's unit is written and enabled beside the gateway's", resident_service)
    if os.path.isfile(resident_file):
        with open(resident_file) as handle:
            resident_text = handle.read()
        resident_verify = subprocess.run(["systemd-analyze", "verify", "--user", resident_file], capture_output=True,
                                         text=True, env=env)
        check(resident_verify.returncode == 0 and resident_verify.stderr.strip() == "",
              "systemd-analyze verify --user: the resident unit is valid", resident_verify.stderr)
        check(exec_start(resident_text) == [program, "resident"] and "ProtectHome" not in resident_text,
              "the resident unit runs 'PROGRAM resident', without the gateway's sandbox", resident_text)
    check(unit_paths(unit_text, "ReadWritePaths") == [alice.home],
          "ReadWritePaths= names the store, quoted for systemd", unit_text)
    for setting in ("Restart=on-failure", "StandardError=journal", "NoNewPrivileges=yes", "ProtectSystem=strict",
                    "WantedBy=default.target"):
        check(setting in unit_text.splitlines(), f"the unit has {setting}")
    if work.startswith("/tmp/") or work.startswith("/var/tmp/"):
        check("PrivateTmp=yes" not in unit_text and any("temporary directory" in n for n in service["unit_notes"]),
              "a store in /tmp: no PrivateTmp= (it would hide the store), and the set-up says so", service)

    prefs = read_prefs(prefs_file)
    server = answer["thunderbird"]["server"]
    check(server == "smtp3" and prefs.get("mail.smtpservers") == "smtp1,smtp3",
          "prefs.js: a second outgoing server, listed after the provider's, under a key no leftover uses", prefs)
    check(prefs.get(f"mail.smtpserver.{server}.hostname") == "127.0.0.1"
          and prefs.get(f"mail.smtpserver.{server}.port") == int(listen.rsplit(":", 1)[1])
          and prefs.get(f"mail.smtpserver.{server}.authMethod") == 3
          and prefs.get(f"mail.smtpserver.{server}.try_ssl") == 0
          and prefs.get(f"mail.smtpserver.{server}.username") == "thunderbird",
          "prefs.js: the gateway's host and port, normal password, no TLS on loopback, user 'thunderbird'", prefs)
    check(prefs.get("mail.identity.id1.smtpServer") == server and prefs.get("mail.identity.id2.smtpServer") == "smtp1",
          "Alice's identity sends through the gateway; the identity of another address keeps its server", prefs)

    gateway, port = start_as_systemd(argv, env)
    try:
        thunderbird_secret = answer["thunderbird"]["secret"]
        error = submit(port, "thunderbird", thunderbird_secret)
        received = upstream.take()
        check(error is None and len(received) == 1 and b"application/pkcs7-signature" in received[0].content,
              "the gateway the unit starts takes Thunderbird's credential and relays the message signed", error)
        error = submit(port, "phone", answer["other_clients"]["secret"])
        check(error is None and len(upstream.take()) == 1,
              "the credential printed for other clients submits too", error)
        error = submit(port, "thunderbird", "not-the-secret")
        check(error is not None and "535" in error and not upstream.take(),
              "a wrong secret is refused (535), nothing relayed", error)

        # Again, as a person reads it: the server entry is reused, the
        # credential replaced (the old secret stops working), and what to do
        # without systemd is said.
        again = subprocess.run(setup[:3] + setup[4:], capture_output=True, text=True, env=env)
        prefs = read_prefs(prefs_file)
        check(again.returncode == 0 and prefs.get("mail.smtpservers") == "smtp1,smtp3",
              "running the set-up again reuses the gateway's outgoing server", again.stderr)
        check(running_manager or ("systemctl --user" in again.stderr and "autostart" in again.stderr),
              "without a user manager it says how to start the gateway (systemctl --user, or autostart)",
              again.stderr)
        new_secret = re.search(r"the password is: (\S+)", again.stdout)
        check(new_secret and submit(port, "thunderbird", new_secret.group(1)) is None
              and "535" in (submit(port, "thunderbird", thunderbird_secret) or ""),
              "the new secret submits, the replaced one no longer does", again.stdout)
        upstream.take()

        # mutt: its key files and gateway.muttrc with smtp_url and smtp_pass.
        mutt_dir = os.path.join(work, "mutt dir")
        mutt = subprocess.run(setup[:5] + ["gateway", "--upstream", f"127.0.0.1:{upstream.port}", "--listen", listen,
                                           "--mutt", mutt_dir], capture_output=True, text=True, env=env)
        muttrc = open(os.path.join(mutt_dir, "gateway.muttrc")).read() if mutt.returncode == 0 else ""
        mutt_url = re.search(r'set smtp_url = "smtp://mutt@([^/]+)/"', muttrc)
        mutt_pass = re.search(r'set smtp_pass = "([^"]+)"', muttrc)
        check(mutt_url and mutt_url.group(1) == listen and mutt_pass
              and submit(port, "mutt", mutt_pass.group(1)) is None and "other_clients" not in json.loads(mutt.stdout),
              "--mutt: gateway.muttrc points at the gateway, its secret submits; no credential for other clients",
              mutt.stderr + muttrc)
        upstream.take()
    finally:
        stop(gateway)

    status = json.loads(subprocess.run([program, "--home", alice.home, "--json", "status"], capture_output=True,
                                       env=env).stdout)["gateway_service"]
    check(status["installed"] and status["enabled"] == "enabled" and status["unit_file"] == unit_file
          and status["systemd_user_manager"]["running"] == running_manager,
          "status --json: the unit is installed and enabled, and whether a user manager runs", status)
    text = subprocess.run([program, "--home", alice.home, "status"], capture_output=True, text=True, env=env).stdout
    check(re.search(r"^gateway +installed, enabled, ", text, re.M), "status says the same in text", text)

    # Encrypted key files: the unit cannot hold the passphrase, so a file is required.
    bob = Home(work, "bob")
    with_passphrase = dict(env, MAILSEAL_PASSPHRASE="bob's passphrase")
    bob.must("init", "bob@example.org", env=with_passphrase)
    refused = subprocess.run([program, "--home", bob.home, "setup", "gateway", "--upstream", "127.0.0.1:25"],
                             capture_output=True, text=True, env=with_passphrase)
    check(refused.returncode == 2 and "--passphrase-file" in refused.stderr,
          "encrypted key files without --passphrase-file: refused, naming the option", refused.stderr)
    passphrase_file = os.path.join(work, "bob passphrase")
    with open(passphrase_file, "w") as out:
        out.write("bob's passphrase\n")
    os.chmod(passphrase_file, 0o600)
    bob_env = dict(env, HOME=os.path.join(work, "bob's home"))
    made = subprocess.run([program, "--home", bob.home, "--passphrase-file", passphrase_file, "--json", "setup",
                           "gateway", "--upstream", "127.0.0.1:25"], capture_output=True, text=True, env=bob_env)
    bob_unit = open(json.loads(made.stdout)["service"]["unit_file"]).read() if made.returncode == 0 else ""
    check(bob_unit and exec_start(bob_unit)[3:5] == ["--passphrase-file", passphrase_file]
          and "bob's passphrase" not in bob_unit,
          "with --passphrase-file the unit names the file, never the passphrase", made.stderr + bob_unit)



def wait_for(predicate, what, deadline=60):
    """Polls until predicate() holds (a deadline, not a timing assertion)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.5)
    print(f"# gave up waiting for {what}")
    return False


def systemctl(*arguments):
    return subprocess.run(["systemctl", "--user", *arguments], capture_output=True, text=True).stdout.strip()


def under_systemd():
    """The gateway under the real user's systemd user manager: started by the
    set-up, restarted after SIGKILL, logging to the journal; removed again."""
    real_unit = os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.environ["HOME"], ".config"),
                             "systemd", "user", UNIT)
    if os.path.exists(real_unit):
        print(f"# skipped the systemd part: {real_unit} exists and is not the test's to replace")
        return
    with tempfile.TemporaryDirectory(dir=os.environ["HOME"]) as work, Upstream() as upstream:
        carol = Home(work, "carol")
        carol.must("init", "carol@example.com", "--name", "Carol")
        listen = f"127.0.0.1:{free_port()}"
        try:
            made = json.loads(subprocess.run([MAILSEAL, "--home", carol.home, "--json", "setup", "gateway",
                                              "--upstream", f"127.0.0.1:{upstream.port}", "--listen", listen],
                                             capture_output=True, check=True).stdout)
            check(made["service"]["started"] and wait_for(lambda: systemctl("is-active", UNIT) == "active", "active"),
                  "under systemd: the set-up starts the gateway", made["service"])
            port = int(listen.rsplit(":", 1)[1])
            secret = made["other_clients"]["secret"]
            check(wait_for(lambda: submit(port, "mail-client", secret, "carol@example.com") is None, "a submission")
                  and upstream.take(), "under systemd: the gateway relays a submission")
            pid = systemctl("show", "-P", "MainPID", UNIT)
            systemctl("kill", "--signal=SIGKILL", UNIT)
            check(wait_for(lambda: systemctl("show", "-P", "MainPID", UNIT) not in ("0", pid)
                           and systemctl("is-active", UNIT) == "active", "the restart"),
                  "under systemd: killed, it is restarted (Restart=on-failure)")
            journal = subprocess.run(["journalctl", "--user", "-u", UNIT, "--no-pager"], capture_output=True,
                                     text=True).stdout
            check("SMTP gateway for carol@example.com" in journal, "under systemd: it logs to the journal",
                  journal[-800:])
            status = json.loads(subprocess.run([MAILSEAL, "--home", carol.home, "--json", "status"],
                                               capture_output=True).stdout)["gateway_service"]
            check(status["active"] == "active", "under systemd: status says it is active", status)
        finally:
            systemctl("disable", "--now", UNIT)
            if os.path.exists(real_unit):
                os.remove(real_unit)
            systemctl("daemon-reload")


if running_manager and os.environ.get("MAILSEAL_TEST_SYSTEMD_USER") == "1":
    under_systemd()
else:
    print("# skipped: running the gateway under a systemd user manager (started, restarted after SIGKILL, the "
          "journal); " + ("none runs here" if not running_manager else
                          "set MAILSEAL_TEST_SYSTEMD_USER=1 to install the unit for the real user and run it"))
finish(minimum=31)
