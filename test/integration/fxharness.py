"""fxharness: start a whole fx federation on 127.0.0.1 for tests and benchmarks.

Every process is started by pid and stopped by pid; every wait has a deadline.
Binaries come from $FX_BIN (the build's bin/ folder)."""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

FX_BIN = os.environ.get("FX_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))


def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout, what):
    """Polls predicate until true or the deadline; raises naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """A child process whose stdout lines are read until a ready line."""

    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.argv = argv
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.out_path = os.path.join(logdir, f"{name}.out")
        self.log = open(self.log_path, "ab")
        self.out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=self.log,
                                     env=env or os.environ.copy(), start_new_session=True)

    @property
    def pid(self):
        return self.proc.pid

    def stdout_text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_ready(self, pattern, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} before it was ready; "
                                   f"log:\n{self.log_text()}")
            return re.search(pattern, self.stdout_text())
        return wait_for(ready, timeout, f"{self.name} to print {pattern!r}")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-8000:]

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self, timeout=20):
        """SIGTERM, wait, then SIGKILL; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        self.out.close()
        return self.proc.returncode


def run_fx(*args, check=True):
    """Runs the fx CLI; returns its stdout."""
    res = subprocess.run([os.path.join(FX_BIN, "fx"), *args], capture_output=True, text=True, timeout=60)
    if check and res.returncode != 0:
        raise RuntimeError(f"fx {' '.join(args)} failed ({res.returncode}): {res.stderr}")
    return res


class Federation:
    """A broker, users and endpoints on loopback, in one temporary folder."""

    def __init__(self, root=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="fx-test-") if root is None else None
        self.root = root or self.tmp.name
        self.state = os.path.join(self.root, "broker")
        self.client_addr = f"tcp://127.0.0.1:{free_port()}"
        self.endpoint_addr = f"tcp://127.0.0.1:{free_port()}"
        self.broker = None
        self.endpoints = []
        self.processes = []

    def start_broker(self, *extra):
        self.broker = Process("broker", [os.path.join(FX_BIN, "fx-broker"), "--state", self.state,
                                         "--client-bind", self.client_addr,
                                         "--endpoint-bind", self.endpoint_addr, *extra], self.root)
        self.processes.append(self.broker)
        self.broker.wait_ready(r"fx-broker: ready")
        return self.broker

    def add_user(self, name):
        creds = os.path.join(self.root, f"{name}.creds")
        run_fx("user", "create", name, "--state", self.state, "--out", creds,
               "--client-addr", self.client_addr, "--endpoint-addr", self.endpoint_addr)
        return creds

    def start_endpoint(self, creds, name="ep", managers=2, workers=2, extra=()):
        epdir = os.path.join(self.root, f"endpoint-{name}")
        stats = os.path.join(self.root, f"endpoint-{name}.stats")
        proc = Process(f"endpoint-{name}", [os.path.join(FX_BIN, "fx-endpoint"), "--creds", creds,
                                            "--dir", epdir, "--name", name,
                                            "--managers", str(managers), "--workers", str(workers),
                                            "--stats-file", stats, *extra], self.root)
        self.processes.append(proc)
        m = proc.wait_ready(r"fx-endpoint: ready endpoint_id=([0-9a-f-]{36})", timeout=60)
        proc.endpoint_id = m.group(1)
        proc.stats_path = stats
        self.endpoints.append(proc)
        return proc

    @staticmethod
    def read_stats(proc):
        """The endpoint's stats file as a dict; {} before its first write
        (the endpoint writes it within its first second), so that waits on
        a counter keep waiting instead of failing."""
        stats = {}
        try:
            with open(proc.stats_path) as f:
                for line in f:
                    if "=" in line:
                        k, v = line.split("=", 1)
                        stats[k.strip()] = v.strip()
        except FileNotFoundError:
            pass
        return stats

    def stop(self):
        """Stops every process by pid (SIGTERM, then SIGKILL), newest first;
        returns their exit codes. Whatever fx process of this federation is
        still alive after that is listed in self.left_behind and killed."""
        codes = {}
        for proc in reversed(self.processes):
            codes[proc.name] = proc.stop()
        # Managers stop on their endpoint's STOP, workers with their manager:
        # give them a bounded time to go by themselves.
        deadline = time.monotonic() + 20
        while leftovers(self) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.left_behind = leftovers(self)
        kill_all(self.left_behind)
        if self.tmp:
            self.tmp.cleanup()
        return codes


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def pids_of(binary, containing=None):
    """Live pids whose program is `binary` (fx-manager, fx-worker, ...) and,
    if given, whose command line contains the text `containing`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(int(entry))
        if not argv or os.path.basename(argv[0].decode(errors="replace")) != binary:
            continue
        if containing and not any(containing.encode() in a for a in argv):
            continue
        with open(f"/proc/{entry}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # a zombie is already dead
                continue
        found.append(int(entry))
    return sorted(found)


def children_of(pid, binary):
    """Live child pids of pid running `binary`."""
    return [p for p in pids_of(binary) if _ppid(p) == pid]


def endpoint_dir(fed, name):
    return os.path.join(fed.root, f"endpoint-{name}")


def managers_of(fed, name):
    """The fx-manager processes of endpoint `name` (their --key-file is in its folder).
    A manager's child between fork and exec of its fx-worker still shows the
    manager's command line; it is left out (its parent is a manager)."""
    found = pids_of("fx-manager", endpoint_dir(fed, name))
    return [p for p in found if _ppid(p) not in found]


def workers_of(fed, name):
    return [w for m in managers_of(fed, name) for w in children_of(m, "fx-worker")]


def leftovers(fed):
    """fx processes still alive that belong to this federation's folder."""
    left = []
    for binary in ("fx-broker", "fx-endpoint", "fx-manager"):
        left += pids_of(binary, fed.root)
    for m in pids_of("fx-manager", fed.root):
        left += children_of(m, "fx-worker")
    return left


def kill_all(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
