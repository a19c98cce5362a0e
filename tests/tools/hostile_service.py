"""A "key service" that is a raw socket, for tests of the client's deadline
(docs/service.md, "Deadlines"): it relays to a real service ("forward"), or
reads the request and answers one byte a second forever ("trickle": every
read of the client gets a byte in time, so per-read timeouts never fire),
or answers nothing at all ("silent"). The mode can change while it runs; it
counts the connections taken in each mode."""
import socket
import threading
import time

# What a trickling service sends, a byte at a time: an answer that never ends.
TRICKLE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n" + b" " * 100000


class HostileService:
    def __init__(self, mode, upstream=None):
        self.mode = mode
        self.upstream = upstream  # (host, port) for "forward"
        self.connections = {"forward": 0, "trickle": 0, "silent": 0}
        self._stopping = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._lock = threading.Lock()

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exception):
        self._stopping.set()
        self._listener.close()
        return False

    def taken(self, mode):
        with self._lock:
            return self.connections[mode]

    def wait_for_connection(self, mode, seconds=30):
        """True once a connection was taken in `mode` (within `seconds`)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.taken(mode) > 0:
                return True
            time.sleep(0.05)
        return False

    def _accept(self):
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            mode = self.mode
            with self._lock:
                self.connections[mode] += 1
            serve = {"forward": self._forward, "trickle": self._trickle, "silent": self._silent}[mode]
            threading.Thread(target=serve, args=(connection,), daemon=True).start()

    def _read_some(self, connection):
        connection.settimeout(1)
        try:
            connection.recv(65536)
        except OSError:
            pass

    def _trickle(self, connection):
        with connection:
            self._read_some(connection)
            for byte in TRICKLE:
                if self._stopping.wait(1):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the client gave up: what the test wants

    def _silent(self, connection):
        with connection:
            self._read_some(connection)
            while not self._stopping.wait(0.5):
                try:
                    connection.settimeout(0.01)
                    if connection.recv(65536) == b"":
                        return  # the client gave up
                except socket.timeout:
                    continue
                except OSError:
                    return

    def _forward(self, connection):
        try:
            upstream = socket.create_connection(self.upstream, timeout=30)
        except OSError:
            connection.close()
            return

        def pump(source, sink):
            try:
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                for end in (source, sink):
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        back = threading.Thread(target=pump, args=(upstream, connection), daemon=True)
        back.start()
        pump(connection, upstream)
        back.join(timeout=30)
        connection.close()
        upstream.close()
