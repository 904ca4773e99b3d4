"""The `fx endpoint` verbs as a user types them, with a real broker (from
fxharness, which also makes the user's credentials): configure, start
--detach, list, logs, Python tasks through the endpoint and the task verbs
on them (tasks, result, task show, cancel), stop; then no process of the
endpoint is left. FX_HOME is a folder of the test's own, so
nothing touches the real ~/.fx."""
import os
import re
import shutil
import subprocess
import time

import pytest

import fx
from fxharness import FX_BIN, Federation, leftovers, pids_of, wait_for

FX = os.path.join(FX_BIN, "fx")


def square(x):
    return x * x


def boom(x):
    raise ValueError(f"no good: {x}")


def nap(seconds):
    import time
    time.sleep(seconds)
    return seconds


class User:
    """Runs fx in a shell-like environment: FX_HOME set, FX_CREDS not."""

    def __init__(self, home):
        self.env = dict(os.environ, FX_HOME=home)
        self.env.pop("FX_CREDS", None)

    def fx(self, *args, ok=True, timeout=120):
        r = subprocess.run([FX, *args], capture_output=True, text=True, timeout=timeout, env=self.env)
        if ok:
            assert r.returncode == 0, f"fx {' '.join(args)}: {r.returncode}\n{r.stdout}{r.stderr}"
        return r


def table(text):
    """The rows of a table fx printed, as dicts by column (a column starts
    where its header does: cells are padded to the widest); notes left out."""
    lines = [line for line in text.splitlines() if line and not line.startswith(("note:", "page "))]
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    names = lines[0].split()
    return [dict(zip(names, (line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line)]))))
            for line in lines[1:]]


def list_row(user, name):
    """The row of `fx endpoint list` for name."""
    r = user.fx("endpoint", "list")
    for row in table(r.stdout):
        if row["NAME"] == name:
            return row, r.stdout
    raise AssertionError(f"no row for {name}:\n{r.stdout}")


@pytest.fixture
def fed():
    f = Federation()
    f.start_broker()
    yield f
    f.stop()


def test_configure_start_list_logs_task_stop(fed):
    home = os.path.join(fed.root, "home", ".fx")
    os.makedirs(home, mode=0o700)
    # as the README says: the credentials from `fx user create` at ~/.fx/credentials
    shutil.copy(fed.add_user("alice"), os.path.join(home, "credentials"))
    user = User(home)
    epdir = os.path.join(home, "endpoints", "laptop")

    r = user.fx("endpoint", "configure", "laptop")
    assert f"wrote {epdir}/config.yaml" in r.stdout and "cannot be read" not in r.stdout
    row, _ = list_row(user, "laptop")
    assert row["STATE"] == "never started" and row["ID"] == "-"

    t0 = time.monotonic()
    r = user.fx("endpoint", "start", "laptop", "--detach")
    m = re.search(r"endpoint laptop is running: id ([0-9a-f-]{36}), pid (\d+)", r.stdout)
    assert m, r.stdout
    endpoint_id, pid = m.group(1), int(m.group(2))
    assert time.monotonic() - t0 < 30
    assert pids_of("fx-endpoint", epdir) == [pid]
    assert open(os.path.join(epdir, "endpoint.pid")).read().strip() == str(pid)
    # the daemon left the terminal's session and has no terminal
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert int(fields[3]) == pid and int(fields[4]) == 0, fields   # session leader, tty_nr 0
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/1") == os.path.join(epdir, "endpoint.log")

    r = user.fx("endpoint", "start", "laptop", "--detach", ok=False)
    assert r.returncode == 1 and f"running already (pid {pid})" in r.stderr

    # the broker's view arrives with the endpoint's status (within a heartbeat)
    def online():
        row, text = list_row(user, "laptop")
        return row if row["BROKER"] == "online" and row["MANAGERS"] == "1" and row["WORKERS"] != "0" else None
    row = wait_for(online, 30, "fx endpoint list to show laptop online with its manager")
    assert row["ID"] == endpoint_id and row["STATE"] == "running" and row["PID"] == str(pid)
    assert row["BLOCKS"] == "1" and row["LAST_SCALING"].startswith("scale out by 1 block(s)")

    r = user.fx("endpoint", "logs", "laptop")
    assert f"fx-endpoint: ready endpoint_id={endpoint_id}" in r.stdout
    assert re.search(r"info fx-manager\[\d+\] ", r.stdout), "the managers log to the same file"
    assert len(user.fx("endpoint", "logs", "laptop", "-n", "2").stdout.splitlines()) == 2

    with fx.Client(credentials=os.path.join(home, "credentials")) as client:
        fid = client.register_function(square)
        good = client.run(7, endpoint_id=endpoint_id, function_id=fid)
        assert client.get_result(good, timeout=60) == 49
        bad = client.register_function(boom)
        raised = client.run(3, endpoint_id=endpoint_id, function_id=bad)
        with pytest.raises(Exception, match="no good: 3"):
            client.get_result(raised, timeout=60)
        slow = client.run(60, endpoint_id=endpoint_id, function_id=client.register_function(nap))
        wait_for(lambda: "dispatched" in user.fx("status", slow).stdout, 30, "the slow task to be dispatched")

        # the task verbs, on what the client just did (its acks reach the
        # broker a moment after get_result returns: wait for them)
        def settled():
            rows = {r["TASK"]: r for r in table(user.fx("tasks").stdout)}
            return rows if rows[good]["STATE"] == "succeeded" and rows[raised]["STATE"] != "finished" else None
        rows = wait_for(settled, 30, "fx tasks to show the client's results as taken")
        assert rows[good]["FUNCTION"] == "square" and rows[good]["ENDPOINT"] == "laptop"
        assert rows[raised]["STATE"] == "failed (exception)" and rows[raised]["FUNCTION"] == "boom"
        assert rows[slow]["STATE"] == "dispatched"
        assert user.fx("result", good).stdout == "49\n"
        r = user.fx("result", raised, ok=False)
        assert r.returncode == 1 and "failed (exception): ValueError: no good: 3" in r.stderr
        assert "--- remote traceback ---" in r.stderr
        assert "state      failed (exception)" in user.fx("task", "show", raised).stdout
        assert [r["TASK"] for r in table(user.fx("tasks", "--state", "exception").stdout)] == [raised]
        r = user.fx("cancel", slow)
        assert f"{slow}: cancelling" in r.stdout
        r = user.fx("result", slow, "--wait", "30", ok=False)
        assert r.returncode == 1 and "failed (cancelled)" in r.stderr, r.stderr

    managers = pids_of("fx-manager", epdir)
    assert len(managers) == 1
    r = user.fx("endpoint", "stop", "laptop")
    assert f"stopping endpoint laptop (pid {pid}): waiting up to" in r.stdout
    assert "endpoint laptop stopped" in r.stdout
    assert not os.path.exists(os.path.join(epdir, "endpoint.pid"))
    # nothing of the endpoint is left: not it, not its manager, not their workers
    assert pids_of("fx-endpoint", epdir) == [] and pids_of("fx-manager", epdir) == []
    assert [p for p in leftovers(fed) if p != fed.broker.pid] == []
    row, _ = list_row(user, "laptop")
    assert row["STATE"] == "stopped" and row["PID"] == "-" and row["ID"] == endpoint_id
    assert "endpoint.log" in os.listdir(epdir)
    r = user.fx("endpoint", "stop", "laptop")
    assert "endpoint laptop is not running" in r.stdout

    # and it starts again, as the same endpoint
    r = user.fx("endpoint", "start", "laptop", "--detach")
    assert f"id {endpoint_id}," in r.stdout
    user.fx("endpoint", "stop", "laptop")
    assert [p for p in leftovers(fed) if p != fed.broker.pid] == []
