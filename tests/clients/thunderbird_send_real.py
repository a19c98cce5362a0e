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
(-compose opens no compose window on a profile's first start, so the "New
Message" button and the keyboard write the message), Ctrl+Return sends it,
and the screen is captured (PNG in the results folder, read by tesseract).
The checks: the upstream receives the message, signed by the gateway, which
logged it under the credential `thunderbird`; no password prompt was on the
screen. The control runs the same with logins.json removed after the set-up:
Thunderbird must show its prompt ("Enter your password for thunderbird on
127.0.0.1") and send nothing, so that the no-prompt check is one that can
fail. About 80 seconds. MAILSEAL_DISPLAY=N runs Xvfb on display :N (default
:91), MAILSEAL_RESULTS=DIR keeps the pictures there.
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
user_pref("offline.startup_state", 2);
user_pref("spellchecker.dictionary", "");
user_pref("mail.spellcheck.inline", false);
user_pref("mail.SpellCheckBeforeSend", false);
"""


# On a 1280x900 screen without a window manager: the main window's "New
# Message" button, and the compose window's Subject field and body.
NEW_MESSAGE = (165, 70)
SUBJECT_FIELD = (495, 159)
BODY = (400, 400)


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


def compose_and_send(x_env, results, name):
    """Thunderbird is running: writes the message in a new compose window
    and sends it with Ctrl+Return; the screens as OCR text
    ({"compose", "after-send"}), the pictures in results/NAME-*.png."""
    run("xdotool", "mousemove", str(NEW_MESSAGE[0]), str(NEW_MESSAGE[1]), "click", "1", env=x_env)
    time.sleep(6)
    run("xdotool", "type", "--delay", "40", "bob@example.org", env=x_env)
    for place, text in ((SUBJECT_FIELD, SUBJECT), (BODY, "Hello Bob, no password asked.")):
        run("xdotool", "mousemove", str(place[0]), str(place[1]), "click", "1", env=x_env)
        time.sleep(1)
        run("xdotool", "type", "--delay", "40", text, env=x_env)
    time.sleep(1)
    texts = {"compose": shot(x_env["DISPLAY"], results, f"{name}-1-compose", x_env)}
    run("timeout", "20", "xdotool", "search", "--sync", "--onlyvisible", "--name", "Write", "windowactivate",
        env=x_env)
    run("xdotool", "key", "--clearmodifiers", "ctrl+Return", env=x_env)
    time.sleep(8)
    texts["after-send"] = shot(x_env["DISPLAY"], results, f"{name}-2-after-send", x_env)
    return texts


def thunderbird_sends(alice, work, results, upstream, name, keep_logins):
    """A Thunderbird profile set up by `setup gateway`, the gateway running,
    Thunderbird under Xvfb sending one message (keep_logins False: with
    logins.json removed after the set-up, the control). Returns (set-up
    answer, OCR texts, messages the upstream received within 30 s of the
    send, the gateway's log)."""
    user_home = os.path.join(work, name)
    profile = os.path.join(user_home, "thunderbird-profile")
    os.makedirs(os.path.join(profile, "Mail", "Local Folders"))
    with open(os.path.join(profile, "prefs.js"), "w") as out:
        out.write(PREFS)
    listen = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "MAILSEAL_PASSPHRASE")}
    runtime = os.path.join(user_home, "runtime")
    os.makedirs(runtime, mode=0o700)
    env.update(HOME=user_home, XDG_RUNTIME_DIR=runtime)
    made = subprocess.run([MAILSEAL, "--home", alice.home, "--json", "setup", "gateway", "--upstream",
                           f"127.0.0.1:{upstream.port}", "--listen", listen, "--thunderbird", profile],
                          capture_output=True, text=True, env=env)
    if made.returncode != 0:
        raise RuntimeError(f"setup gateway failed: {made.stderr}")
    if not keep_logins:
        os.unlink(os.path.join(profile, "logins.json"))
    log_file = os.path.join(results, f"{name}-gateway.log")
    log = open(log_file, "wb")
    gateway = subprocess.Popen([MAILSEAL, "--home", alice.home, "gateway", "--listen", listen, "--upstream",
                                f"127.0.0.1:{upstream.port}"], stdout=log, stderr=subprocess.STDOUT)
    display = subprocess.Popen(["Xvfb", f":{DISPLAY}", "-screen", "0", "1280x900x24", "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    x_env = dict(os.environ, DISPLAY=f":{DISPLAY}", MOZ_CRASHREPORTER_DISABLE="1", MOZ_DISABLE_AUTO_SAFE_MODE="1",
                 HOME=user_home)
    thunderbird_log = open(os.path.join(results, f"{name}-thunderbird.log"), "wb")
    # -compose opens no compose window on a profile's first start: the main
    # window's "New Message" button and the keyboard instead.
    thunderbird = subprocess.Popen(["thunderbird", "--no-remote", "-profile", profile], stdout=thunderbird_log,
                                   stderr=subprocess.STDOUT, env=x_env, start_new_session=True)
    received = []
    try:
        time.sleep(WAIT)
        texts = compose_and_send(x_env, results, name)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not received:
            time.sleep(2)
            received = upstream.take()
        texts["end"] = shot(f":{DISPLAY}", results, f"{name}-3-end", x_env)
    finally:
        os.killpg(thunderbird.pid, signal.SIGTERM)
        try:
            thunderbird.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(thunderbird.pid, signal.SIGKILL)
            thunderbird.wait()
        thunderbird_log.close()
        display.terminate()
        display.wait()
        gateway.send_signal(signal.SIGTERM)
        gateway.wait(timeout=20)
        log.close()
    return json.loads(made.stdout), texts, received, open(log_file, errors="replace").read()


results = os.environ.get("MAILSEAL_RESULTS") or tempfile.mkdtemp(prefix="mailseal-thunderbird-send-")
os.makedirs(results, exist_ok=True)
print(f"# results (screenshots, OCR text, logs): {results}", flush=True)
print(f"# {run('thunderbird', '--version').stdout.decode().strip()}", flush=True)

with tempfile.TemporaryDirectory() as work, Upstream() as upstream:
    alice = Home(work, "Alice")
    alice.must("init", "alice@example.com", "--name", "Alice")

    answer, texts, received, gateway_log = thunderbird_sends(alice, work, results, upstream, "saved", True)
    check(answer["thunderbird"]["login"]["origin"] == "smtp://127.0.0.1", "setup gateway saved the password for "
          "smtp://127.0.0.1", answer["thunderbird"])
    check("bob@example.org" in texts["compose"] and SUBJECT in texts["compose"],
          "the compose window is on the screen with the message (OCR of saved-1-compose.png)", texts["compose"])
    check(received and received[0].recipients == ["bob@example.org"],
          "the upstream received the message Thunderbird sent through the gateway", [r.recipients for r in received])
    message = email.message_from_bytes(received[0].content) if received else None
    check(message is not None and message["Subject"] == SUBJECT
          and "application/pkcs7-signature" in received[0].content.decode(errors="replace"),
          "it is Alice's message, signed by the gateway", received[0].content[:600] if received else "")
    check(not asks_for_password(texts["after-send"]) and not asks_for_password(texts["end"]),
          "no password prompt on the screen after sending (OCR of saved-2-after-send.png, saved-3-end.png)",
          texts["after-send"] + "\n---\n" + texts["end"])
    check("(credential thunderbird)" in gateway_log, "the gateway logged the message under the credential "
          "'thunderbird'", gateway_log[-2000:])

    # The control: the same set-up with logins.json removed. Thunderbird must
    # ask (so the check above can fail) and nothing is sent meanwhile.
    _, texts, received, gateway_log = thunderbird_sends(alice, work, results, upstream, "control", False)
    check(asks_for_password(texts["after-send"]) and not received and "(credential thunderbird)" not in gateway_log,
          "control, without logins.json: Thunderbird asks for the password (OCR of control-2-after-send.png) and "
          "sends nothing", texts["after-send"])

finish(minimum=7)
