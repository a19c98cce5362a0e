"""One person's profile on several devices, and correspondents who publish
theirs, against a key service: what the tests of tests/devices set up."""
from mailseal_test import Home


def devices_of_one_profile(work, url, roles=("full",)):
    """Device 1 (the admin, `init` with alice@example.com) and one device per role in `roles`, each
    joined by PIN and synced: the Homes, device 1 first."""
    one = Home(work, "device1")
    one.must("init", "alice@example.com", "--name", "Alice", "--suite", "modern", "--device-name", "device1",
             "--service", url)
    devices = [one]
    for number, role in enumerate(roles, start=2):
        device = Home(work, f"device{number}")
        invite = one.json("device", "invite", "--role", role)
        device.must("device", "join", "alice@example.com", "--service", url, "--pin", invite["pin"], "--wait", "0",
                    "--name", device.name)
        one.must("sync")
        device.must("sync")
        devices.append(device)
    return devices


def correspondents(work, url, names, devices=()):
    """Each name's own profile (NAME@example.org), published; every device looks each one up. Their fingerprints."""
    people = {}
    for name in names:
        person = Home(work, name)
        person.must("init", f"{name}@example.org", "--suite", "modern", "--service", url)
        people[name] = person.json("status")["fingerprint"]
        for device in devices:
            device.must("lookup", f"{name}@example.org")
    return people
