"""Homes whose mailseal commands run with the clock moved forward (libfaketime,
mailseal_test.faketime_environment), for the tests that live years ahead
(tests/devices/renewal.py, root_renewal.py). One offset for the whole test:
ClockedHome.offset, set by the test as it moves on."""
import email.utils
import secrets
import time

from mailseal_test import Home, faketime_environment


class ClockedHome(Home):
    """A home whose commands run at the test's current clock offset."""
    offset = 0

    def run(self, *arguments, stdin=None, env=None):
        clock = faketime_environment(offset=f"+{ClockedHome.offset}") if ClockedHome.offset else None
        return super().run(*arguments, stdin=stdin, env=env or clock)

    def decrypts(self, message, text):
        result = self.run("decrypt", "--no-learn", message)
        return result.returncode == 0 and text.encode() in result.stdout, result.stderr.decode()


def dated_message(sender, to, subject, body):
    """A message dated by the test's clock (a Date far from the signing time makes a signature bad)."""
    date = email.utils.formatdate(time.time() + ClockedHome.offset)
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
            f"Message-ID: <{secrets.token_hex(8)}@test>\r\n\r\n{body}\r\n").encode()
