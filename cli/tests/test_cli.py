"""The `fx` command: arguments, `user create` on a real state directory,
and the wire commands against a scripted broker (fx._fx.TestServer)."""
import os
import stat
import subprocess
import threading
import time

import pytest

import _fxtest
import fx
from fx import _fx

FX = os.path.join(os.environ.get("FX_BIN_DIR", ""), "fx")


def run(*args, timeout=30):
    return subprocess.run([FX, *args], capture_output=True, text=True, timeout=timeout)


VERBS = ["endpoint configure", "endpoint start", "endpoint stop", "endpoint list", "endpoint logs",
         "endpoints", "functions", "tasks", "task show", "result", "cancel", "status", "user create", "help"]


def test_usage_errors_exit_2():
    for args in ([], ["bogus"], ["user"], ["user", "create"], ["user", "create", "a"],
                 ["status"], ["status", "not-an-id"], ["tasks", "--limit", "x"],
                 ["--nope", "tasks"], ["--creds"], ["endpoint"], ["endpoint", "bogus"],
                 ["endpoint", "start"], ["endpoint", "start", "a", "b"], ["endpoint", "list", "x"],
                 ["endpoint", "list", "--force"], ["endpoint", "logs", "a", "-n", "-3"],
                 ["endpoint", "stop", "a", "--wait"], ["endpoint", "start", "a", "--wait", "5"],
                 ["tasks", "--detach"], ["help", "bogus"]):
        r = run(*args)
        assert r.returncode == 2, (args, r)
        assert "usage:" in r.stderr and r.stderr.startswith("fx: "), (args, r.stderr)
        assert r.stdout == "", args
    assert run("--help").returncode == 0


def test_help_lists_every_verb_with_an_example():
    r = run("--help")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    for verb in VERBS:
        at = [i for i, line in enumerate(lines) if line.startswith(f"  {verb} ")]
        assert at, verb
        assert lines[at[0] + 1].strip().startswith("e.g. fx "), verb
    assert "fx endpoint start laptop --detach" in r.stdout
    assert run("help").stdout == r.stdout and run("-h").stdout == r.stdout


def test_each_verb_has_its_help():
    for verb in VERBS:
        for args in ([*verb.split(), "--help"], ["help", *verb.split()], ["--help", *verb.split()]):
            r = run(*args)
            assert r.returncode == 0, args
            assert r.stdout.startswith(f"usage: fx {verb} "), (args, r.stdout)
            assert "  example: fx " in r.stdout, args
    # a group lists its verbs, each with an example
    r = run("endpoint", "--help")
    assert r.returncode == 0
    for verb in ("configure", "start", "stop", "list", "logs"):
        assert f"  fx endpoint {verb} " in r.stdout
    assert r.stdout.count("e.g. fx endpoint ") == 5
    # a usage error shows the verb's usage and where the help is
    r = run("endpoint", "list", "--force")
    assert "'fx endpoint list' does not take --force" in r.stderr
    assert "usage: fx endpoint list [--timeout SECONDS]" in r.stderr
    assert "`fx endpoint list --help`" in r.stderr
    r = run("endpoint", "start")
    assert "'fx endpoint start' needs NAME" in r.stderr
    assert run("--version").stdout.startswith("fx ")


def test_user_create(tmp_path):
    state, creds = tmp_path / "state", tmp_path / "alice.creds"
    r = run("user", "create", "alice", "--state", str(state), "--out", str(creds),
            "--client-addr", "tcp://127.0.0.1:5551", "--endpoint-addr", "tcp://127.0.0.1:5552")
    assert r.returncode == 0, r.stderr
    user_id = r.stdout.strip()
    assert fx.id_valid(user_id)
    assert stat.S_IMODE(os.stat(creds).st_mode) == 0o600
    c = fx.load_credentials(str(creds))
    assert c["user_id"] == user_id and c["broker_client"] == "tcp://127.0.0.1:5551"
    broker_key = (state / "broker.key").read_text()
    assert f"public_key = {c['broker_public_key']}" in broker_key
    # Same name again: refused, and an existing --out is never overwritten silently.
    r = run("user", "create", "alice", "--state", str(state), "--out", str(tmp_path / "x"),
            "--client-addr", "tcp://h:1", "--endpoint-addr", "tcp://h:2")
    assert r.returncode == 1 and "alice" in r.stderr
    r = run("user", "create", "bob", "--state", str(state), "--out", str(creds),
            "--client-addr", "tcp://h:1", "--endpoint-addr", "tcp://h:2")
    assert r.returncode == 1 and "--force" in r.stderr
    r = run("user", "create", "bob", "--state", str(state), "--out", str(tmp_path / "b"),
            "--client-addr", "nowhere", "--endpoint-addr", "tcp://h:2")
    assert r.returncode == 2 and "tcp://HOST:PORT" in r.stderr
    # on a fresh machine ~/.fx does not exist yet: made, 0700
    fresh = tmp_path / "home" / ".fx" / "credentials"
    r = run("user", "create", "carol", "--state", str(state), "--out", str(fresh),
            "--client-addr", "tcp://h:1", "--endpoint-addr", "tcp://h:2")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(fresh.parent).st_mode) == 0o700 and fresh.exists()
    (tmp_path / "file").write_text("")
    r = run("user", "create", "dave", "--state", str(state), "--out", str(tmp_path / "file" / "c"),
            "--client-addr", "tcp://h:1", "--endpoint-addr", "tcp://h:2")
    assert r.returncode == 1 and "cannot write" in r.stderr


def _creds_file(tmp_path, addr, broker_pub):
    pub, sec = fx.keypair_new()
    path = tmp_path / "creds"
    path.write_text(f"broker_client = {addr}\nbroker_endpoint = tcp://127.0.0.1:1\n"
                    f"broker_public_key = {broker_pub}\nuser_id = {fx.new_id()}\n"
                    f"public_key = {pub}\nsecret_key = {sec}\n")
    path.chmod(0o600)
    return str(path)


def test_silent_broker_times_out(tmp_path):
    creds = _creds_file(tmp_path, "tcp://127.0.0.1:9", fx.keypair_new()[0])
    t0 = time.monotonic()
    r = run("--creds", creds, "--timeout", "1", "endpoints")
    assert r.returncode == 1
    assert time.monotonic() - t0 < 5
    assert "did not answer within 1 s" in r.stderr and "fx user create" in r.stderr


class ScriptedBase:
    """A TestServer answering from a thread: HELLO (with noise to skip
    before the WELCOME), every other message by self.answer."""

    def __init__(self):
        self.pub, sec = fx.keypair_new()
        self.server = _fxtest.TestServer(self.pub, sec)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            msg = self.server.recv(50)
            if msg is None:
                continue
            rid, t, seq, fields, _ = msg
            if t == "HELLO":
                self.server.send(rid, "HEARTBEAT", 999, {})     # noise to skip
                self.server.send(rid, "WELCOME", seq, {"heartbeat_ms": 1000})
            else:
                self.answer(rid, t, seq, fields)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.server.close()


class Scripted(ScriptedBase):
    """Answers LIST and STATUS (or every request with an ERROR)."""

    def __init__(self, error=None, endpoints=None, task_state=_fx.TASK_DONE, endpoint_id=""):
        self.endpoints = endpoints          # (columns, rows) for LIST endpoints
        self.task_state = task_state
        self.endpoint_id = endpoint_id
        self.error = error
        super().__init__()

    def answer(self, rid, t, seq, fields):
        if self.error:
            self.server.send(rid, "ERROR", seq, {"code": self.error, "text": "go away"})
        elif t == "LIST" and self.endpoints and fields["what"] == _fx.LIST_ENDPOINTS:
            self.server.send(rid, "LIST_REPLY", seq, {
                "columns": self.endpoints[0], "rows": self.endpoints[1]})
        elif t == "LIST":
            self.server.send(rid, "LIST_REPLY", seq, {
                "columns": ["id", "name"], "rows": [[fx.new_id(), "laptop"]] * fields["limit"]})
        elif t == "STATUS":
            self.server.send(rid, "STATUS_REPLY", seq, {"tasks": [
                {"task_id": i, "state": self.task_state, "endpoint_id": self.endpoint_id,
                 "attempts": 2}
                for i in fields["task_ids"]]})


@pytest.fixture
def scripted():
    s = Scripted()
    yield s
    s.close()


def test_list_and_status(tmp_path, scripted):
    creds = _creds_file(tmp_path, scripted.server.endpoint, scripted.pub)
    r = run("--creds", creds, "endpoints", "--limit", "2")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["id", "name"] and len(lines) == 3 and "laptop" in lines[1]
    r = run("functions", "--limit", "0", "--creds", creds)
    assert r.returncode == 0 and r.stdout == "(no functions)\n"
    ids = [fx.new_id(), fx.new_id()]
    r = run("--creds", creds, "status", *ids)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["TASK_ID", "STATE", "ENDPOINT", "ATTEMPTS", "ENDPOINT_STATUS"]
    assert lines[1].split() == [ids[0], "finished", "-", "2", "-"]


def test_broker_error_is_reported(tmp_path):
    s = Scripted(error=_fx.E_FORBIDDEN)
    try:
        creds = _creds_file(tmp_path, s.server.endpoint, s.pub)
        r = run("--creds", creds, "functions")
        assert r.returncode == 1
        assert "FX_E_FORBIDDEN: go away" in r.stderr
    finally:
        s.close()


def test_endpoint_columns_as_the_broker_sends_them(tmp_path):
    """`fx endpoints` prints whatever columns come (issue 3 adds managers and
    workers); `fx status` finds the endpoint's status column by its name."""
    ep_off, ep_on = fx.new_id(), fx.new_id()
    columns = ["id", "name", "managers", "workers", "status", "last_seen", "queued"]
    rows = [[ep_on, "gpu", "2", "16", "online", "2026-11-27T10:00:00Z", "0"],
            [ep_off, "laptop", "0", "0", "offline", "2026-11-26T09:00:00Z", "3"]]
    s = Scripted(endpoints=(columns, rows), task_state=_fx.TASK_QUEUED, endpoint_id=ep_off)
    try:
        creds = _creds_file(tmp_path, s.server.endpoint, s.pub)
        r = run("--creds", creds, "endpoints")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].split() == columns
        assert lines[1].split() == rows[0] and lines[2].split() == rows[1]
        tid = fx.new_id()
        r = run("--creds", creds, "status", tid)
        assert r.returncode == 0, r.stderr
        line = r.stdout.splitlines()[1]
        assert line.split()[:4] == [tid, "queued", ep_off, "2"]
        assert line.endswith("offline (task waits for it)")
        s.endpoint_id = ep_on
        r = run("--creds", creds, "status", tid)
        assert r.stdout.splitlines()[1].split()[-1] == "online"
    finally:
        s.close()
