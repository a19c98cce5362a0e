#!/usr/bin/python3
"""The real Thunderbird sends through the gateway with the password `mailseal
setup gateway` saved in its password manager, without asking for it (on
demand; not part of the default CTest run: it needs Thunderbird, Xvfb,
ImageMagick, xdotool and tesseract, which `scripts/install-deps.sh
--real-clients` installs, and Debian's python3-aiosmtpd).

Alice has a mailseal profile and a Thunderbird profile with a local-folders
account (no network) and her identity. `setup gateway --upstream UPSTREAM
--listen 127.0.0.1:PORT --thunderbird PROFILE` points the identity at the
gateway and saves the credential `thunderbird` in logins.json; the gateway
runs (as the unit would, here as a process: no systemd user manager is
assumed) and relays to a local aiosmtpd. Thunderbird then starts under Xvfb
with a composed message (`thunderbird -compose "to=...,subject=...,body=..."`),
Ctrl+Return sends it, and the screen is captured before and after (PNG in the
results folder, read by tesseract). The checks: the upstream receives the
message, signed by the gateway; the gateway logged the AUTH of
`thunderbird`; no password prompt was on the screen ("Enter your password",
"password for"). MAILSEAL_DISPLAY=N runs Xvfb on display :N (default :91).
Usage (with /usr/bin/python3, which sees Debian's aiosmtpd):

  MAILSEAL=build/src/cli/mailseal /usr/bin/python3 tests/clients/thunderbird_send_real.py
"""
import email
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from mailseal_test import MAILSEAL, Home, check, finish, require_mailseal, skip  # noqa: E402
from thunderbird_tool import LOCAL_FOLDERS_PREFS  # noqa: E402

require_mailseal()
for program in ("thunderbird", "Xvfb", "import", "xdotool", "tesseract"):
    if shutil.which(program) is None:
        skip(f"{program} is not installed (scripts/install-deps.sh --real-clients installs it)")
try:
    from smtp_tool import Upstream, free_port  # noqa: E402
except ImportError as missing:
    skip(f"{missing} (install python3-aiosmtpd; Debian's is seen by /usr/bin/python3 only)")

WAIT = float(os.environ.get("MAILSEAL_THUNDERBIRD_WAIT", "14"))
DISPLAY = os.environ.get("MAILSEAL_DISPLAY", "91")
SUBJECT = "Sent through the gateway"

# Thunderbird's local-folders profile, and for sending: no confirmation for
# the send shortcut, no copy to a Sent folder, no spell check, online.
PREFS = LOCAL_FOLDERS_PREFS + """user_pref("mail.identity.id1.fcc", false);
user_pref("mail.identity.id1.compose_html", false);
user_pref("mail.identity.id1.attach_signature", false);
user_pref("mailnews.warn_on_send_accel_key", false);
user_pref("mail.warn_on_send_accel_key", false);
user_pref("offline.autoDetect", false);
user_pref("network.manage-offline-status", false);
user_pref("offline.startup_state", 1);
user_pref("spellchecker.dictionary", "");
user_pref("mail.spellcheck.inline", false);
user_pref("mail.SpellCheckBeforeSend", false);
"""


def run(*arguments, env=None):
    return subprocess.run(list(arguments), capture_output=True, env=env)


def shot(display, results, name, env):
    picture = os.path.join(results, f"{name}.png")
    run("import", "-display", display, "-window", "root", picture, env=env)
    text = run("tesseract", picture, "-", env=env).stdout.decode(errors="replace")
    with open(os.path.join(results, f"{name}.txt"), "w") as out:
        out.write(text)
    return text


def asks_for_password(text):
    lowered = text.lower()
    return "enter your password" in lowered or "password for" in lowered or "use password manager" in lowered


results = os.environ.get("MAILSEAL_RESULTS") or tempfile.mkdtemp(prefix="mailseal-thunderbird-send-")
os.makedirs(results, exist_ok=True)
print(f"# results (screenshots, OCR text, logs): {results}", flush=True)
print(f"# {run('thunderbird', '--version').stdout.decode().strip()}", flush=True)

with tempfile.TemporaryDirectory() as work, Upstream() as upstream:
    alice = Home(work, "Alice")
    alice.must("init", "alice@example.com", "--name", "Alice")
    user_home = os.path.join(work, "home")
    profile = os.path.join(user_home, "thunderbird-profile")
    os.makedirs(os.path.join(profile, "Mail", "Local Folders"))
    with open(os.path.join(profile, "prefs.js"), "w") as out:
        out.write(PREFS)
    port = free_port()
    listen = f"127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "MAILSEAL_PASSPHRASE")}
    runtime = os.path.join(work, "runtime")
    os.makedirs(runtime, mode=0o700)
    env.update(HOME=user_home, XDG_RUNTIME_DIR=runtime)
    made = subprocess.run([MAILSEAL, "--home", alice.home, "--json", "setup", "gateway", "--upstream",
                           f"127.0.0.1:{upstream.port}", "--listen", listen, "--thunderbird", profile],
                          capture_output=True, text=True, env=env)
    check(made.returncode == 0, "setup gateway --thunderbird", made.stderr)
    answer = json.loads(made.stdout)
    check(answer["thunderbird"]["login"]["origin"] == "smtp://127.0.0.1", "the password is saved for smtp://127.0.0.1")
    log = open(os.path.join(results, "gateway.log"), "wb")
    gateway = subprocess.Popen([MAILSEAL, "--home", alice.home, "gateway", "--listen", listen, "--upstream",
                                f"127.0.0.1:{upstream.port}"], stdout=log, stderr=subprocess.STDOUT)
    display = subprocess.Popen(["Xvfb", f":{DISPLAY}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    x_env = dict(os.environ, DISPLAY=f":{DISPLAY}", MOZ_CRASHREPORTER_DISABLE="1", MOZ_DISABLE_AUTO_SAFE_MODE="1",
                 HOME=user_home)
    thunderbird_log = open(os.path.join(results, "thunderbird.log"), "wb")
    thunderbird = subprocess.Popen(["thunderbird", "--no-remote", "-profile", profile, "-compose",
                                    f"to=bob@example.org,subject={SUBJECT},body=Hello Bob, no password asked."],
                                   stdout=thunderbird_log, stderr=subprocess.STDOUT, env=x_env,
                                   start_new_session=True)
    received = []
    try:
        time.sleep(WAIT)
        before = shot(f":{DISPLAY}", results, "1-compose", x_env)
        check(SUBJECT.split()[0] in before or "bob@example.org" in before,
              "the compose window is on the screen (OCR of 1-compose.png)", before)
        run("xdotool", "search", "--sync", "--onlyvisible", "--name", "Write", "windowactivate", env=x_env)
        run("xdotool", "key", "--clearmodifiers", "ctrl+Return", env=x_env)
        deadline = time.monotonic() + 40
        shots = []
        while time.monotonic() < deadline and not received:
            time.sleep(3)
            received = upstream.take()
            if not shots:
                shots.append(shot(f":{DISPLAY}", results, "2-after-send", x_env))
        after = shot(f":{DISPLAY}", results, "3-end", x_env)
        check(received and received[0].recipients == ["bob@example.org"],
              "the upstream received the message Thunderbird sent through the gateway", [r.recipients for r in received])
        message = email.message_from_bytes(received[0].content) if received else None
        check(message is not None and message["Subject"] == SUBJECT
              and "application/pkcs7-signature" in received[0].content.decode(errors="replace"),
              "it is Alice's message, signed by the gateway", received[0].content[:600] if received else "")
        check(not any(asks_for_password(text) for text in shots + [after]),
              "no password prompt on the screen after sending (OCR of 2-after-send.png, 3-end.png)",
              "\n---\n".join(shots + [after]))
    finally:
        os.killpg(thunderbird.pid, signal.SIGTERM)
        try:
            thunderbird.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(thunderbird.pid, signal.SIGKILL)
            thunderbird.wait()
        display.terminate()
        display.wait()
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=20)
        log.close()
    gateway_log = open(os.path.join(results, "gateway.log"), errors="replace").read()
    check("thunderbird" in gateway_log, "the gateway logged the credential 'thunderbird'", gateway_log[-2000:])

finish(minimum=7)
