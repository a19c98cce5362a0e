"""What the gateway benchmarks share (gateway_bench.py, gateway_instructions.py):
the load, small messages from Alice to Bob, and the two profiles behind it."""
import os
import subprocess


def must(*command):
    subprocess.run(command, check=True, capture_output=True)


def message(number):
    """Message `number`: about 1 KB from alice@example.com to bob@example.org."""
    return (f"From: alice@example.com\r\nTo: bob@example.org\r\nSubject: n{number}\r\n"
            f"Message-ID: <{number}@bench>\r\n\r\n" + "A short note, about one kilobyte.\r\n" * 30).encode()


def alice_and_bob(mailseal, work):
    """Alice's and Bob's profiles in `work`, Alice holding Bob's certificates (so that her
    messages to him are signed and encrypted): (alice's home, bob's home, bob's PEM file)."""
    alice, bob = os.path.join(work, "alice"), os.path.join(work, "bob")
    bob_pem = os.path.join(work, "bob.pem")
    must(mailseal, "--home", alice, "init", "alice@example.com")
    must(mailseal, "--home", bob, "init", "bob@example.org")
    must(mailseal, "--home", bob, "export", "certificates", "-o", bob_pem)
    must(mailseal, "--home", alice, "contact", "import", bob_pem)
    return alice, bob, bob_pem
