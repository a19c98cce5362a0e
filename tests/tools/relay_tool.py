"""A key service that lies about trust records: an HTTP relay on 127.0.0.1 in
front of a real `mailseal serve` (service_tool.KeyService) that passes every
request through and changes only the answers to `GET .../records`, as a
hostile service would, answer by answer:

- `other_record_at_position = DEVICE`: in an answer to a fetch that asks for
  DEVICE's records from after a record this device merged (the regular
  fetch: `after` names DEVICE at a number above 0 and names other devices
  too), the first record of DEVICE served is replaced under the same
  number: by `other_record` (bytes, say another record the thief signed),
  or when it is None by the record altered (one bit); a fetch of DEVICE's
  whole log (`after` DEVICE:0) is answered truly. The service serves two
  records under one number in one sync.
- `hidden = DEVICE`: DEVICE's records and head are left out of every answer.

Requests pass through unchanged (the service checks their signatures)."""
import base64
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HOP_BY_HOP = ("content-length", "connection", "transfer-encoding")


def _after(path):
    """A records fetch's `after` parameter: device -> number."""
    query = urllib.parse.parse_qs(urllib.parse.urlparse(path).query).get("after", [""])[0]
    out = {}
    for item in query.split(","):
        device, _, number = item.rpartition(":")
        if device and number.isdigit():
            out[device] = int(number)
    return out


class RecordsRelay:
    def __init__(self, upstream_url):
        upstream = urllib.parse.urlparse(upstream_url)
        self.upstream = (upstream.hostname, upstream.port)
        self.other_record_at_position = None
        self.other_record = None
        self.hidden = None
        self.altered = 0  # records replaced so far
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *arguments):
                pass

            def relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                connection = http.client.HTTPConnection(*relay.upstream, timeout=60)
                headers = {key: value for key, value in self.headers.items()
                           if key.lower() not in ("host", "connection")}
                connection.request(self.command, self.path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
                if self.command == "GET" and "/records" in self.path and answer.status == 200:
                    data = relay.lie(_after(self.path), data)
                self.send_response(answer.status)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def lie(self, after, data):
        batch = json.loads(data)
        if self.hidden:
            batch["records"] = [record for record in batch["records"] if record["device_id"] != self.hidden]
            batch["heads"] = [head for head in batch["heads"] if head["device_id"] != self.hidden]
        device = self.other_record_at_position
        if device and after.get(device, 0) > 0 and len(after) > 1:
            for record in batch["records"]:
                if record["device_id"] == device and record["seq"] == after[device] + 1:
                    sealed = bytearray(base64.b64decode(record["sealed"]))
                    sealed[-1] ^= 1
                    record["sealed"] = base64.b64encode(self.other_record or bytes(sealed)).decode()
                    self.altered += 1
        return json.dumps(batch).encode()

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exception):
        self.server.shutdown()
        self.server.server_close()
        return False
