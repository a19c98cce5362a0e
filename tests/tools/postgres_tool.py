"""A throwaway PostgreSQL cluster for the key service's tests
(docs/service.md, "Back ends"): initdb and pg_ctl from Debian's postgresql
package in a temporary folder, listening only on a Unix socket in that
folder, stopped and removed at the end whatever happens. initdb refuses to
run as root (CI's tests do), so there the cluster runs as `nobody`.

    with Cluster() as cluster:
        uri = cluster.create_database("name")   # postgresql:///name?host=...

tests/tools/with_postgres.py runs a whole test script against one cluster;
tests/tools/service_tool.py's KeyService then gives each service folder its
own database in it."""
import glob
import os
import shutil
import subprocess
import tempfile
import urllib.parse


class Unavailable(Exception):
    """PostgreSQL's server programs are not installed."""


def server_programs():
    """The folder of initdb and pg_ctl (the newest installed version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0)
    if not found or shutil.which("psql") is None:
        raise Unavailable("PostgreSQL's initdb or psql is not installed (scripts/install-deps.sh installs postgresql)")
    return os.path.dirname(found[-1])


def base_uri():
    """The maintenance database of the cluster that with_postgres.py runs
    (MAILSEAL_POSTGRES), or None."""
    return os.environ.get("MAILSEAL_POSTGRES") or None


def database_uri(server, name):
    """The URI of database `name` on the cluster whose URI is `server`."""
    address, _, query = server.partition("?")
    return address.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")


def psql(uri, sql):
    """Runs SQL on the database at `uri`; the rows, each a tuple of text
    (None for NULL)."""
    result = subprocess.run(["psql", "--no-psqlrc", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-F", "\x1f",
                             "-P", "null=\x1e", "-d", uri, "-c", sql], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"psql failed: {result.stderr.strip()}")
    rows = []
    for line in result.stdout.splitlines():
        rows.append(tuple(None if cell == "\x1e" else cell for cell in line.split("\x1f")))
    return rows


def create_database(server, name):
    """Creates database `name` (if absent) on the cluster at `server`; its URI."""
    if not psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
        psql(server, f'CREATE DATABASE "{name}"')
    return database_uri(server, name)


class Cluster:
    def __init__(self):
        self.folder = None
        self.bin = None
        self.as_user = []

    def run(self, *command):
        subprocess.run([*self.as_user, *command], check=True, capture_output=True)

    def __enter__(self):
        self.bin = server_programs()
        self.folder = tempfile.mkdtemp(prefix="mailseal-pg-")
        try:
            os.chmod(self.folder, 0o755)
            data = os.path.join(self.folder, "data")
            if os.geteuid() == 0:
                # initdb refuses root: the cluster is nobody's, in a folder only it writes.
                os.makedirs(data, mode=0o700)
                shutil.chown(data, "nobody")
                shutil.chown(self.folder, "nobody")
                self.as_user = ["runuser", "-u", "nobody", "--"]
            self.run(os.path.join(self.bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                     "--no-sync")
            # No TCP: only the socket in the folder. No fsync: a test's data need not survive a crash.
            self.run(os.path.join(self.bin, "pg_ctl"), "-D", data, "-l", os.path.join(self.folder, "log"), "-w",
                     "-t", "60", "-o", f"-k {self.folder} -c listen_addresses= -F", "start")
        except BaseException:
            self.__exit__()
            raise
        self.uri = "postgresql:///postgres?" + urllib.parse.urlencode({"host": self.folder, "user": "postgres"})
        return self

    def create_database(self, name):
        return create_database(self.uri, name)

    def __exit__(self, *exception):
        if self.folder is None:
            return False
        data = os.path.join(self.folder, "data")
        if os.path.exists(os.path.join(data, "postmaster.pid")):
            subprocess.run([*self.as_user, os.path.join(self.bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w",
                            "stop"], capture_output=True)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None
        return False
