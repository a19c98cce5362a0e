#!/usr/bin/env python3
"""The resident process (docs/resident.md), end to end with the real programs:
a command run through it is the command run alone (output, exit status,
relative paths, environment, umask); it runs in a child of the resident
process, not in a process the launcher started; two encryptions in two
children draw different random numbers; an interrupted launcher takes its
command with it; raw, hostile connections are refused without stopping it;
a socket folder another user could have made is not used; an updated
program is not run stale. The child forked ahead of the next command (the
idle child) holds nothing of a launcher, is replaced when killed, never runs
a command after an update, and ends with the resident process."""
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from mailseal_test import MAILSEAL, check, finish, require_mailseal  # noqa: E402

require_mailseal()
work = tempfile.mkdtemp(prefix="mailseal-resident.")
programs = os.path.join(work, "bin")
os.mkdir(programs)
# Copies of the programs, so that "updating" one below touches no one else's.
for name in ("mailseal", "mailseal-cli"):
    shutil.copy2(os.path.join(os.path.dirname(MAILSEAL), name), programs)
launcher = os.path.join(programs, "mailseal")
socket_folder = os.path.join(work, "run")
os.mkdir(socket_folder, 0o700)
socket_path = os.path.join(socket_folder, "socket")
home = os.path.join(work, "alice")
bob = os.path.join(work, "bob")
message = (b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: hello\r\n\r\n"
           b"A note through the resident process.\r\n")
through = dict(os.environ, MAILSEAL_RESIDENT=socket_path)
alone = dict(os.environ, MAILSEAL_RESIDENT="off")


def run(arguments, env, stdin=b"", cwd=None):
    return subprocess.run([launcher, *arguments], input=stdin, capture_output=True, env=env, cwd=cwd, timeout=60)


def start_resident(env=through):
    process = subprocess.Popen([launcher, "resident"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready = process.stdout.readline().decode().strip()
    return process, ready


IDLE_NAME = "mailseal-idle"  # what an idle child shows in /proc/PID/comm


def process_status(pid):
    """(name, state, parent, session) of a process, or None when it has gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return name, fields[0], int(fields[1]), int(fields[3])


def alive(pid):
    status = process_status(pid)
    return status is not None and status[1] != "Z"


def children_of(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            status = process_status(int(entry))
            if status and status[2] == pid and status[1] != "Z":
                found.append(int(entry))
    return found


def shares_descriptor_table(child, pid):
    """Whether `child` shares `pid`'s table of descriptors (clone with
    CLONE_FILES): LeakSanitizer's tracer does, which a sanitizer build's
    resident process starts when it ends, to check for leaks. A command never
    does (it holds the launcher's streams, not the listening socket)."""
    held = descriptors_of(child)
    return bool(held) and held == descriptors_of(pid)


def commands_of(pid):
    """The resident's children that run a command (not the idle one, nor a
    sanitizer's tracer)."""
    return [child for child in children_of(pid)
            if (process_status(child) or ("",))[0] != IDLE_NAME and not shares_descriptor_table(child, pid)]


def idle_children_of(pid):
    return [child for child in children_of(pid) if (process_status(child) or ("",))[0] == IDLE_NAME]


def descriptors_of(pid):
    """(descriptor, what it refers to) for each one the process holds, in order."""
    held = []
    try:
        numbers = sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return held
    for fd in numbers:
        try:
            held.append((fd, os.readlink(f"/proc/{pid}/fd/{fd}")))
        except FileNotFoundError:
            pass  # closed between the listing and the reading
    return held


def wait_for(condition, seconds=20):
    deadline = time.time() + seconds
    while not condition() and time.time() < deadline:
        time.sleep(0.02)
    return condition()


def raw_connection():
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(socket_path)
    connection.settimeout(10)
    return connection


def request_bytes(arguments, environment=(), umask=0o22):
    body = b"MSR1" + struct.pack("<III", umask, len(arguments), len(environment))
    for text in list(arguments) + list(environment):
        body += struct.pack("<I", len(text)) + text
    return body


def read_all(connection):
    data = b""
    try:
        while True:
            chunk = connection.recv(4096)
            if not chunk:
                return data
            data += chunk
    except socket.timeout:
        return data + b"<timeout>"


try:
    subprocess.run([launcher, "init", "alice@example.com", "--home", home], check=True, capture_output=True,
                   env=alone)
    subprocess.run([launcher, "init", "bob@example.org", "--home", bob], check=True, capture_output=True, env=alone)
    certificates = os.path.join(work, "bob.pem")
    subprocess.run([launcher, "export", "certificates", "-o", certificates, "--home", bob], check=True,
                   capture_output=True, env=alone)
    subprocess.run([launcher, "contact", "import", certificates, "--home", home], check=True, capture_output=True,
                   env=alone)

    resident, ready = start_resident()
    check(ready == socket_path, "mailseal resident prints its socket once it listens", ready)
    mode = stat.S_IMODE(os.stat(socket_path).st_mode)
    check(mode == 0o600, "the socket is the user's alone (0600)", oct(mode))

    # The same commands alone and through the resident process.
    signed_alone = run(["sign", "--home", home], alone, message)
    signed_through = run(["sign", "--home", home], through, message)
    check(signed_through.returncode == 0 and b"application/pkcs7-signature" in signed_through.stdout,
          "sign runs through the resident process", signed_through.stderr)
    verified = run(["--json", "verify", "--home", bob], through, signed_through.stdout)
    check(verified.returncode == 0 and b'"valid":true' in verified.stdout.replace(b" ", b""),
          "what it signed verifies, through the resident process too", verified.stdout + verified.stderr)
    tampered = signed_through.stdout.replace(b"A note through", b"A note changed")
    bad_alone, bad_through = run(["verify", "--home", bob], alone, tampered), run(["verify", "--home", bob],
                                                                                  through, tampered)
    check(bad_through.returncode == bad_alone.returncode == 1 and bad_through.stderr == bad_alone.stderr,
          "a failed verification: the same exit status and the same words as alone",
          (bad_alone.returncode, bad_through.returncode, bad_alone.stderr, bad_through.stderr))
    usage_alone, usage_through = run(["sign", "--no-such-option"], alone), run(["sign", "--no-such-option"], through)
    check(usage_through.returncode == usage_alone.returncode == 2 and usage_through.stderr == usage_alone.stderr,
          "a usage error: exit 2 and the same message", (usage_alone.returncode, usage_through.returncode))
    # A command that ends at once (a usage error) ends before the resident
    # process has done anything more: it must still run once, never twice.
    doubled = [run(["sign", "--no-such-option"], through).stderr.count(b"error:") for _ in range(25)]
    check(doubled == [1] * 25, "25 quick commands each ran exactly once", doubled)
    check(signed_alone.returncode == 0 and signed_alone.stdout.count(b"\n") == signed_through.stdout.count(b"\n"),
          "signing alone and through the resident give messages of the same shape")

    # The environment, the working folder and the umask are the launcher's.
    folder = os.path.join(work, "elsewhere")
    os.mkdir(folder)
    modes = {}
    for how, env in (("alone", alone), ("through", through)):
        old_umask = os.umask(0o002)
        try:
            written = run(["encrypt", "--to", "bob@example.org", "-o", how + ".eml"], dict(env, MAILSEAL_HOME=home),
                          message, cwd=folder)
        finally:
            os.umask(old_umask)
        output = os.path.join(folder, how + ".eml")
        modes[how] = stat.S_IMODE(os.stat(output).st_mode) if os.path.exists(output) else None
    check(written.returncode == 0 and modes["through"] is not None,
          "a relative -o lands in the launcher's folder; MAILSEAL_HOME from its environment", written.stderr)
    check(modes["through"] == modes["alone"], "the file's mode is the one it gets alone under the same umask", modes)
    if modes["through"] is not None:
        decrypted = run(["decrypt", "--home", bob, output], through)
        check(decrypted.returncode == 0 and b"A note through the resident process." in decrypted.stdout,
              "decrypt through the resident process", decrypted.stderr)

    # Two children must not share the random generator's state.
    first = run(["encrypt", "--no-sign", "--to", "bob@example.org", "--home", home], through, message)
    second = run(["encrypt", "--no-sign", "--to", "bob@example.org", "--home", home], through, message)
    check(first.returncode == second.returncode == 0 and first.stdout != second.stdout,
          "two encryptions in two forked children differ (each draws its own keys and nonces)")

    # The idle child: forked ahead of the next command, holding nothing of a
    # launcher (only the standard streams the resident process had, and its
    # end of the hand-off pair), in a session of its own.
    check(wait_for(lambda: len(idle_children_of(resident.pid)) == 1),
          "the resident process keeps one child forked ahead, idle", children_of(resident.pid))
    idle = (idle_children_of(resident.pid) or [None])[0]
    if idle:
        # While it prepares (reading its own /proc/self/maps to populate its
        # pages) it briefly holds that file: what counts is what it holds
        # once it waits for a command, and a leaked descriptor stays.
        def holds_its_handoff_end_alone():
            held = descriptors_of(idle)
            return [fd for fd, _ in held[:3]] == [0, 1, 2] and len(held) == 4 and held[3][1].startswith("socket:")
        check(wait_for(holds_its_handoff_end_alone),
              "the idle child holds no launcher's stream, store or listening socket: its hand-off end alone",
              descriptors_of(idle))
        check(process_status(idle)[3] == idle, "the idle child leads a session of its own", process_status(idle))
    # Two encryptions in idle children forked one after the other, both
    # before the commands came: each still draws its own keys and nonces.
    third = run(["encrypt", "--no-sign", "--to", "bob@example.org", "--home", home], through, message)
    check(third.returncode == 0 and third.stdout not in (first.stdout, second.stdout),
          "an encryption in a child forked ahead differs from the others", third.stderr)

    # A killed idle child is replaced, and the next command runs once.
    wait_for(lambda: len(idle_children_of(resident.pid)) == 1)
    idle = (idle_children_of(resident.pid) or [None])[0]
    if idle:
        os.kill(idle, signal.SIGKILL)
    check(idle and wait_for(lambda: not alive(idle) and len(idle_children_of(resident.pid)) == 1),
          "a killed idle child is replaced", children_of(resident.pid))
    once = os.path.join(folder, "once.eml")
    replaced = run(["encrypt", "--to", "bob@example.org", "--home", home, "-o", once], through, message)
    check(replaced.returncode == 0 and os.path.exists(once), "and the next command runs in its successor",
          replaced.stderr)
    # A stopped idle child (SIGSTOP from another process of the user) is
    # ended and replaced: the next command does not wait on it for good.
    wait_for(lambda: len(idle_children_of(resident.pid)) == 1)
    stopped = (idle_children_of(resident.pid) or [None])[0]
    if stopped:
        os.kill(stopped, signal.SIGSTOP)
    try:
        after_stop = subprocess.run([launcher, "sign", "--home", home], input=message, capture_output=True,
                                    env=through, timeout=20)
        ran = after_stop.returncode == 0 and b"application/pkcs7-signature" in after_stop.stdout
    except subprocess.TimeoutExpired:
        ran = False
    check(stopped and ran and wait_for(lambda: not alive(stopped)),
          "a stopped idle child is ended and the next command runs in another", stopped)
    if stopped and alive(stopped):
        os.kill(stopped, signal.SIGKILL)
    # Killed right before a command: the hand-off finds it gone (or it dies
    # with the command), and the command still runs at most once, never twice.
    outcomes = []
    for _ in range(10):
        if wait_for(lambda: len(idle_children_of(resident.pid)) == 1):
            for child in idle_children_of(resident.pid):
                os.kill(child, signal.SIGKILL)
        quick = run(["sign", "--no-such-option"], through)
        outcomes.append((quick.returncode, quick.stderr.count(b"error:")))
    check(all(outcome in ((2, 1), (-signal.SIGKILL, 0)) for outcome in outcomes)
          and outcomes.count((2, 1)) >= 1, "an idle child killed as a command comes: the command runs once or "
          "ends by SIGKILL as a killed command does, never twice", outcomes)

    # The command runs in a child of the resident process, and an interrupted
    # launcher takes it with it: its standard input is a pipe left open.
    waiting = subprocess.Popen([launcher, "sign", "--home", home], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=through)
    deadline = time.time() + 20
    while not commands_of(resident.pid) and time.time() < deadline:
        time.sleep(0.05)
    running = commands_of(resident.pid)
    check(len(running) == 1, "the command runs in a child of the resident process", running)
    check(not children_of(waiting.pid), "the launcher started no process of its own", children_of(waiting.pid))
    waiting.send_signal(signal.SIGTERM)
    waiting.wait(timeout=20)
    deadline = time.time() + 20
    while commands_of(resident.pid) and time.time() < deadline:
        time.sleep(0.05)
    check(not commands_of(resident.pid), "an interrupted launcher's command is ended too", commands_of(resident.pid))
    waiting.stdin.close()

    def runs_alone(arguments, env=through, prefix=()):
        """Starts a launcher whose stdin stays open and says whether its
        command ran in the launcher's own process (which became
        mailseal-cli) rather than in a child of the resident process."""
        process = subprocess.Popen([*prefix, launcher, *arguments], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env)
        alone_seen, deadline = False, time.time() + 20
        while time.time() < deadline and not alone_seen and not commands_of(resident.pid):
            try:
                alone_seen = os.readlink(f"/proc/{process.pid}/exe").endswith("/mailseal-cli")
            except OSError:
                pass
            time.sleep(0.05)
        in_resident = bool(commands_of(resident.pid))
        process.communicate(message, timeout=60)
        return alone_seen and not in_resident, process.returncode

    # A sandboxed process of the user (no_new_privs here; also another mount
    # namespace or a seccomp filter) runs its command itself, inside its
    # sandbox: through the resident process it would run outside it.
    if shutil.which("setpriv"):
        alone_now, code = runs_alone(["sign", "--home", home], prefix=("setpriv", "--no-new-privs"))
        check(alone_now and code == 0, "a launcher under no_new_privs runs its command itself", code)
    # A launcher naming another OpenSSL configuration than the resident loaded.
    alone_now, code = runs_alone(["sign", "--home", home], env=dict(through, OPENSSL_CONF="/dev/null"))
    check(alone_now and code == 0, "a launcher with another OPENSSL_CONF runs its command itself", code)

    # A launcher with a standard stream closed would hand the resident its
    # own connection in its place: it runs the command itself, failing as
    # it fails alone.
    for stream, redirect in (("stdout", ">&-"), ("stdin", "<&-")):
        outcomes = [subprocess.run(["sh", "-c", f'exec "$0" sign --home "$1" {redirect}', launcher, home],
                                   input=message if stream == "stdout" else None, capture_output=True, env=env,
                                   timeout=60)
                    for env in (alone, through)]
        check(outcomes[0].returncode == outcomes[1].returncode != 0 and not commands_of(resident.pid),
              f"{stream} closed: the same failure as alone, and nothing left in the resident process",
              [(o.returncode, o.stderr[-200:]) for o in outcomes])

    # A command ended by a signal ends the launcher by the same signal.
    waiting = subprocess.Popen([launcher, "sign", "--home", home], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=through)
    deadline = time.time() + 20
    while not commands_of(resident.pid) and time.time() < deadline:
        time.sleep(0.05)
    for child in commands_of(resident.pid):
        os.kill(child, signal.SIGKILL)
    waiting.wait(timeout=20)
    check(waiting.returncode == -signal.SIGKILL, "a command killed by SIGKILL: the launcher dies by SIGKILL too",
          waiting.returncode)
    waiting.stdin.close()

    # A stopped resident process: the launcher runs the command itself after
    # its deadline, and the resident, woken, does not run it again.
    os.kill(resident.pid, signal.SIGSTOP)
    try:
        target = os.path.join(folder, "while-stopped.eml")
        stopped = run(["encrypt", "--to", "bob@example.org", "--home", home, "-o", target], through, message)
        written_at = os.stat(target).st_mtime_ns if os.path.exists(target) else None
    finally:
        os.kill(resident.pid, signal.SIGCONT)
    time.sleep(1.5)
    check(stopped.returncode == 0 and written_at is not None, "a stopped resident: the launcher runs it itself",
          stopped.stderr)
    check(written_at is not None and os.stat(target).st_mtime_ns == written_at and not commands_of(resident.pid),
          "and the resident process, woken, does not run it a second time")

    # Raw connections: each is refused, and the resident process goes on.
    refusals = {
        "garbage": b"\x10\x00\x00\x00" + b"not a request at all",
        "a length over 1 MiB": struct.pack("<I", 2 << 20) + b"MSR1",
        "a request for serve": "serve",
        "descriptors with the request": "with-request",
        "Go without descriptors": "go-bare",
    }
    for name, payload in refusals.items():
        connection = raw_connection()
        body = request_bytes([b"mailseal", b"serve" if payload == "serve" else b"sign"], [b"A=b"])
        framed = struct.pack("<I", len(body)) + body
        with open(os.devnull, "rb") as null_in, open(os.devnull, "wb") as null_out:
            descriptors = [null_in.fileno(), null_out.fileno(), null_out.fileno()]
            if payload == "with-request":
                socket.send_fds(connection, [framed], descriptors)
            elif isinstance(payload, bytes):
                connection.sendall(payload)
            else:
                connection.sendall(framed)
                if payload == "go-bare":
                    offered = connection.recv(1)
                    check(offered == b"O", "a well-formed request is offered", offered)
                    connection.sendall(b"G")
        answer = read_all(connection)
        connection.close()
        check(answer.startswith(b"R"), f"{name}: refused, with a reason", answer[:120])
    # An offer the launcher never takes up runs nothing.
    connection = raw_connection()
    body = request_bytes([b"mailseal", b"sign"], [b"A=b"])
    connection.sendall(struct.pack("<I", len(body)) + body)
    offered = connection.recv(1)
    connection.close()
    time.sleep(0.5)
    check(offered == b"O" and not commands_of(resident.pid), "an offer not taken up runs nothing", offered)
    # A connection that sends nothing is dropped by the deadline, and others
    # are served meanwhile.
    silent = raw_connection()
    during = run(["sign", "--home", home], through, message)
    check(during.returncode == 0, "a launcher is served while a silent connection waits", during.stderr)
    answer = read_all(silent)
    silent.close()
    check(answer.startswith(b"Rthe request did not arrive in time"), "the silent connection is dropped", answer[:80])
    check(resident.poll() is None, "the resident process survived every hostile connection")

    # An update of the program: the resident process does not run it stale,
    # nor lets the child it forked before the update run it.
    check(wait_for(lambda: len(idle_children_of(resident.pid)) == 1), "an idle child waits before the update")
    stale = (idle_children_of(resident.pid) or [0])[0]
    os.utime(os.path.join(programs, "mailseal-cli"))
    alone_now, code = runs_alone(["sign", "--home", home])
    check(alone_now and code == 0, "after an update the launcher runs the command itself", (alone_now, code))
    check(wait_for(lambda: not alive(stale)), "and the idle child forked before the update is ended", stale)
    try:
        code = resident.wait(timeout=20)
    except subprocess.TimeoutExpired:
        code = None
    check(code == 0, "the stale resident process stops", code)
    check(not os.path.exists(socket_path), "and removes its socket")
    stderr = resident.stderr.read().decode(errors="replace")
    check("stopped after" in stderr and "stopped after 0 command" not in stderr,
          "it reports the commands it ran", stderr)

    # A socket folder others may enter is not used, and not listened at.
    os.chmod(socket_folder, 0o755)
    open_folder = run(["sign", "--home", home], through, message)
    check(open_folder.returncode == 0 and b"not a folder closed to everyone but you" in open_folder.stderr,
          "a launcher does not use a folder others can enter, says so, and runs the command itself",
          open_folder.stderr)
    refused, _ = start_resident()
    refused_code = refused.wait(timeout=30)
    refused_error = refused.stderr.read().decode(errors="replace")
    check(refused_code == 1 and "not a folder of yours closed to everyone else" in refused_error,
          "mailseal resident refuses to listen in it", refused_error)
    os.chmod(socket_folder, 0o700)

    # SIGTERM stops it cleanly, its idle child with it.
    resident, ready = start_resident()
    check(run(["sign", "--home", home], through, message).returncode == 0, "a new resident process serves")
    wait_for(lambda: len(idle_children_of(resident.pid)) == 1)
    idle = idle_children_of(resident.pid)
    resident.send_signal(signal.SIGTERM)
    check(resident.wait(timeout=20) == 0 and not os.path.exists(socket_path),
          "SIGTERM stops it and removes its socket")
    check(len(idle) == 1 and wait_for(lambda: not alive(idle[0])), "SIGTERM ends the idle child too", idle)

    # Killed outright, it cannot end its idle child: the child dies with it.
    resident, ready = start_resident()
    wait_for(lambda: len(idle_children_of(resident.pid)) == 1)
    idle = idle_children_of(resident.pid)
    resident.kill()
    resident.wait(timeout=20)
    check(len(idle) == 1 and wait_for(lambda: not alive(idle[0])), "the idle child dies with a killed resident", idle)
finally:
    for process in [p for p in (globals().get("resident"),) if p and p.poll() is None]:
        process.kill()
    shutil.rmtree(work, ignore_errors=True)

finish(minimum=40)
