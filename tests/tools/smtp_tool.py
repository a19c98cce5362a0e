"""Test helpers for the SMTP gateway: a real SMTP server (aiosmtpd) as the
upstream that keeps what it receives, the gateway itself as a process, and a
raw line-level SMTP client for hostile input. Needs /usr/bin/python3 (Debian's
python3-aiosmtpd)."""
import base64
import json
import logging
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


# aiosmtpd logs every failed handshake with a traceback; the tests provoke them.
logging.getLogger("mail.log").setLevel(logging.CRITICAL)
# The AUTH upstream runs without TLS on loopback on purpose.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_credential(mailseal, home, name, *addresses):
    """A gateway credential made with `mailseal credential add --json`:
    (name, secret)."""
    command = [mailseal, "--home", home, "--json", "credential", "add", name]
    for address in addresses:
        command += ["--address", address]
    result = subprocess.run(command, capture_output=True, check=True)
    made = json.loads(result.stdout)
    return made["name"], made["secret"]


def auth_plain(name, secret):
    """The AUTH PLAIN command line for a credential."""
    return "AUTH PLAIN " + base64.b64encode(b"\0" + name.encode() + b"\0" + secret.encode()).decode()


class Received:
    def __init__(self, mail_from, recipients, content):
        self.mail_from = mail_from
        self.recipients = recipients
        self.content = content  # bytes, CRLF line endings as received


class Handler:
    """Keeps every message; `refuse` maps a stage ('RCPT', 'DATA') to a reply
    to give instead of accepting."""

    def __init__(self):
        self.messages = []
        self.refuse = {}
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, options):
        if "RCPT" in self.refuse and address in self.refuse.get("RCPT_ADDRESSES", [address]):
            return self.refuse["RCPT"]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if "DATA" in self.refuse:
            return self.refuse["DATA"]
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content
                                          or envelope.content))
        return "250 Message accepted for delivery"

    def take(self):
        with self.lock:
            taken, self.messages = self.messages, []
        return taken


def check_credentials(user, password):
    return user == b"alice" and password == b"correct horse"


class Upstream:
    """aiosmtpd on 127.0.0.1. tls: None, 'starttls' or 'tls' (with the
    certificate and key given); auth: require AUTH (user alice, password
    'correct horse')."""

    def __init__(self, tls=None, certificate=None, key=None, auth=False):
        self.handler = Handler()
        self.port = free_port()
        kwargs = {}
        if tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(certificate, key)
            if tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        if auth:
            def authenticator(server, session, envelope, mechanism, data):
                if mechanism in ("PLAIN", "LOGIN") and check_credentials(data.login, data.password):
                    return AuthResult(success=True)
                return AuthResult(success=False, handled=False)
            kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
        # server_hostname: without it aiosmtpd asks DNS for this machine's name
        # on every connection, inside its event loop (5 s stalls where the
        # host name is not in /etc/hosts, as in a bare chroot).
        self.controller = Controller(self.handler, hostname="127.0.0.1", server_hostname="upstream.test",
                                     port=self.port, **kwargs)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exception):
        self.stop()
        return False

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def take(self):
        return self.handler.take()


class Gateway:
    """`mailseal gateway` as a process; stderr is drained all the time (a log pipe nobody reads would stop the
    gateway once it is full) and collected in `log`."""

    def __init__(self, mailseal, home, upstream_port, *extra, env=None, listen="127.0.0.1"):
        self.command = [mailseal, "--home", home, "gateway", "--listen", f"{listen}:0", "--upstream",
                        f"127.0.0.1:{upstream_port}", *extra]
        self.listen = listen
        self.env = env
        self.process = None
        self.port = None
        self.log = b""

    def __enter__(self):
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env)
        line = self.process.stdout.readline().decode().strip()
        if not line.startswith(self.listen + ":"):
            self.process.kill()
            raise RuntimeError("the gateway did not start: " + self.process.stderr.read().decode())
        self.port = int(line.rsplit(":", 1)[1])
        self._collected = []
        self._drain = threading.Thread(target=self._read_log, daemon=True)
        self._drain.start()
        return self

    def _read_log(self):
        for line in self.process.stderr:
            self._collected.append(line)

    def log_so_far(self):
        """What the gateway has logged until now."""
        return b"".join(self._collected)

    def wait_for_log(self, text, seconds=30):
        """The log once it holds `text`, or what it holds after `seconds`."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            log = self.log_so_far().decode(errors="replace")
            if text in log:
                return log
            time.sleep(0.1)
        return self.log_so_far().decode(errors="replace")

    def alive(self):
        return self.process.poll() is None

    def stop(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.process.poll() is not None:
            self._drain.join(timeout=20)
            self.log = self.log_so_far()
            return self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            status = None
        self._drain.join(timeout=20)
        self.log = self.log_so_far()
        return status

    def __exit__(self, *exception):
        self.stop()
        return False


class RawClient:
    """Lines in, replies out, nothing checked: for input no real client sends."""

    def __init__(self, port, timeout=20, source=None, host="127.0.0.1"):
        self.socket = socket.create_connection((host, port), timeout=timeout,
                                               source_address=(source, 0) if source else None)
        self.buffer = b""
        self.greeting = self.reply()

    def send(self, data):
        self.socket.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buffer:
            chunk = self.socket.recv(65536)
            if not chunk:
                raise EOFError("the gateway closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode(errors="replace")

    def reply(self):
        """(code, [lines])"""
        lines = []
        while True:
            line = self.line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def command(self, text):
        self.send(text + "\r\n")
        return self.reply()

    def start_tls(self):
        """STARTTLS, trusting any certificate (the tests' are self-signed): the reply code."""
        code = self.command("STARTTLS")[0]
        if code == 220:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self.socket = context.wrap_socket(self.socket)
        return code

    def login(self, credential, name="client.test"):
        """EHLO and AUTH PLAIN with (name, secret); returns AUTH's reply code."""
        self.command("EHLO " + name)
        return self.command(auth_plain(*credential))[0]

    def received_until_closed(self, timeout=20):
        """Everything the gateway sends until it closes the connection (None if
        it is still open after `timeout` seconds)."""
        received = self.buffer
        self.buffer = b""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.socket.settimeout(remaining)
            try:
                chunk = self.socket.recv(65536)
            except ConnectionResetError:
                return received
            except socket.timeout:
                return None
            if not chunk:
                return received
            received += chunk

    def closed(self, timeout=5):
        """True when the gateway has closed the connection."""
        self.socket.settimeout(timeout)
        try:
            return self.socket.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def wait_closed(self, timeout=20):
        """Reads (and drops) whatever the gateway still sends until it closes
        the connection: True then, False if it is still open after `timeout`
        seconds."""
        return self.received_until_closed(timeout) is not None

    def close(self):
        self.socket.close()
