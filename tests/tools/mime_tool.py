#!/usr/bin/env python3
"""Byte-exact MIME helpers for the interop tests: they move CMS structures in
and out of messages without re-serialising anything (Python's email package
would), so the peers see exactly what mailseal wrote and the reverse.

  mime_tool.py split SIGNED.eml CONTENT_OUT SIGNATURE_OUT   multipart/signed -> part 1 bytes, signature DER
  mime_tool.py body MESSAGE.eml DER_OUT                     application/pkcs7-mime body -> DER
  mime_tool.py wrap TYPE FROM TO DER_IN MESSAGE_OUT         DER -> application/pkcs7-mime message
  mime_tool.py detached FROM TO CONTENT SIGNATURE MESSAGE_OUT   -> multipart/signed message
"""
import base64
import re
import sys


def header_block_and_body(data):
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = data.find(separator)
        if index >= 0:
            return data[:index], data[index + len(separator):]
    raise SystemExit("no header/body separator")


def header(block, name):
    unfolded = re.sub(rb"\r?\n[ \t]+", b" ", block)
    for line in unfolded.splitlines():
        if line.lower().startswith(name.lower() + b":"):
            return line.split(b":", 1)[1].strip()
    return None


def split(path, content_out, signature_out):
    data = open(path, "rb").read()
    block, body = header_block_and_body(data)
    boundary = re.search(rb'boundary="?([^";\s]+)"?', header(block, b"Content-Type")).group(1)
    delimiter = b"--" + boundary
    lines = re.split(rb"(\r?\n)", body)
    # Rebuild offsets of delimiter lines at line starts.
    starts, position, at_line_start = [], 0, True
    for piece in lines:
        if at_line_start and piece.startswith(delimiter):
            starts.append(position)
        at_line_start = piece in (b"\r\n", b"\n")
        position += len(piece)
    first, second = starts[0], starts[1]
    part_start = body.index(b"\n", first) + 1
    part_end = second
    if body[part_end - 1:part_end] == b"\n":
        part_end -= 1
    if body[part_end - 1:part_end] == b"\r":
        part_end -= 1
    open(content_out, "wb").write(body[part_start:part_end])
    signature_part = body[body.index(b"\n", second) + 1:starts[2] if len(starts) > 2 else len(body)]
    _, signature_body = header_block_and_body(signature_part)
    open(signature_out, "wb").write(base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", signature_body)))


def body(path, der_out):
    _, text = header_block_and_body(open(path, "rb").read())
    open(der_out, "wb").write(base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", text)))


def b64lines(data):
    encoded = base64.b64encode(data)
    return b"".join(encoded[i:i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


def common_headers(sender, recipient):
    return (b"From: " + sender.encode() + b"\r\nTo: " + recipient.encode() +
            b"\r\nSubject: interop test\r\nMIME-Version: 1.0\r\n")


def wrap(kind, sender, recipient, der_in, message_out):
    der = open(der_in, "rb").read()
    message = (common_headers(sender, recipient) +
               b"Content-Type: application/pkcs7-mime; smime-type=" + kind.encode() + b"; name=smime.p7m\r\n"
               b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n" +
               b64lines(der))
    open(message_out, "wb").write(message)


def detached(sender, recipient, content, signature, message_out):
    boundary = b"interop-boundary-0123456789"
    message = (common_headers(sender, recipient) +
               b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; '
               b'boundary="' + boundary + b'"\r\n\r\n--' + boundary + b"\r\n" + open(content, "rb").read() +
               b"\r\n--" + boundary + b"\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n" + b64lines(open(signature, "rb").read()) +
               b"--" + boundary + b"--\r\n")
    open(message_out, "wb").write(message)


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {"split": split, "body": body, "wrap": wrap, "detached": detached}[command](*arguments)
