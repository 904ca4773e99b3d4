"""The versioned registry and provenance through a real federation (issue 8):
versions of one function id run as pinned, and provenance tells a retried
task and a cancelled one apart from one that ran once; a forged client
Python version is refused on the endpoint with both versions named.

Every task here runs on real workers; nothing sleeps: tasks that must be
held wait on a file the test creates.
"""
import os
import platform
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.dirname(__file__))

PYTHON = "/usr/bin/python3"


def test_three_versions_run_as_pinned(running):
    """SPEC 12.3: one function id, three versions; a task pinned to v1 or v3
    runs that version's code, an unpinned one the newest, and provenance
    names the version and the commit each result came from."""
    client, ep = running.client, running.endpoint

    def v1(x):
        return ("v1", x)

    def v2(x):
        return ("v2", x)

    def v3(x):
        return ("v3", x)

    fid = client.register_function(v1, name="versioned")
    client.register_function(v2, name="versioned", function_id=fid)
    client.register_function(v3, name="versioned", function_id=fid)
    regs = client.registrations(fid)
    assert [r.number for r in regs] == [1, 2, 3]
    assert len({r.version for r in regs}) == 3 and len({r.commit for r in regs}) == 3

    info = client.get_function(fid)
    assert [v["version"] for v in info["versions"]] == [r.version for r in regs]

    pinned = {name: client.run(7, endpoint_id=ep.endpoint_id, function_id=fid, function_version=reg.version)
              for name, reg in (("v1", regs[0]), ("v3", regs[2]))}
    newest = client.run(8, endpoint_id=ep.endpoint_id, function_id=fid)
    assert client.get_result(pinned["v1"], timeout=60) == ("v1", 7)
    assert client.get_result(pinned["v3"], timeout=60) == ("v3", 7)
    assert client.get_result(newest, timeout=60) == ("v3", 8)

    rows = client.get_provenance([pinned["v1"], pinned["v3"], newest])
    assert [(r["function_version"], r["commit"]) for r in rows] == [
        (regs[0].version, regs[0].commit), (regs[2].version, regs[2].commit),
        (regs[2].version, regs[2].commit)]


def test_provenance_of_a_retried_task(running, tmp_path):
    """A task whose first run kills its worker is retried (SPEC 8.5); its
    result's provenance says attempt 2, and names the worker that finished it."""
    client, ep = running.client, running.endpoint
    marker = str(tmp_path / "first-run")

    def dies_once(path):
        import os
        if not os.path.exists(path):
            open(path, "w").close()
            os._exit(3)          # the worker dies mid-task
        return os.getpid()

    fid = client.register_function(dies_once)
    tid = client.run(marker, endpoint_id=ep.endpoint_id, function_id=fid, retries=1)
    pid = client.get_result(tid, timeout=120)
    row = client.get_provenance(tid)
    assert row["attempt"] == 2, row
    assert row["worker_pid"] == pid
    assert row["times_named"].get("worker_finished")


def test_provenance_of_a_cancelled_task(running):
    """A task cancelled while queued at the broker (its endpoint is not
    connected) never ran: provenance says so, with no host, worker or
    attempt, and its result is the cancellation."""
    import fx
    from fx import _fx
    client = running.client
    # an endpoint registered but never started: its tasks stay queued
    public_key = _fx.keypair_new()[0]
    offline = client.register_endpoint("never-started", public_key)

    def never(x):
        return x

    fid = client.register_function(never)
    tid = client.run(1, endpoint_id=offline, function_id=fid)
    assert client.status(tid)["state"] == "queued"
    client.cancel(tid)
    with pytest.raises(fx.TaskCancelled):
        client.get_result(tid, timeout=30)
    row = client.get_provenance(tid)
    assert row["task_id"] == tid and row["function_id"] == fid
    assert row["attempt"] == 0 and row["worker_pid"] == 0 and row["host"] == "", row
    assert not row["times_named"].get("worker_started"), row


FORGED_PYTHON = """
import json, os, platform
import fx
client = fx.Client(credentials=os.environ["FX_TEST_CREDS"])
EP = os.environ["FX_TEST_ENDPOINT"]

def double(x):
    return 2 * x

fid = client.register_function(double)
platform.python_version = lambda: "2.7.18"     # what an old client would announce
tid = client.run(4, endpoint_id=EP, function_id=fid)
try:
    client.get_result(tid, timeout=60)
    print(json.dumps({"raised": None}))
except Exception as exc:
    print(json.dumps({"raised": type(exc).__name__, "str": str(exc)}))
"""


FORGED_DILL = """
import json, os, sys
sys.path.insert(0, os.getcwd())
import fx
import fx.functions
import fx_only_on_this_client           # a module the endpoint does not have
client = fx.Client(credentials=os.environ["FX_TEST_CREDS"])
EP = os.environ["FX_TEST_ENDPOINT"]

def uses_local_module(x):
    return fx_only_on_this_client.SCALE * x

fx.functions.dill_version = lambda: "0.1.0"      # what a client with an old dill would record
fid = client.register_function(uses_local_module, strategy="dill")
tid = client.run(4, endpoint_id=EP, function_id=fid)
try:
    client.get_result(tid, timeout=60)
    print(json.dumps({"raised": None}))
except Exception as exc:
    print(json.dumps({"raised": type(exc).__name__, "str": str(exc)}))
"""


def _raised_by_script(running, tmp_path, name, code):
    """Runs code as the script tmp_path/name against the running federation;
    what its last line reports: {"raised": type name or None, "str": ...}."""
    import json
    script = tmp_path / name
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, FX_TEST_CREDS=running.creds, FX_TEST_ENDPOINT=running.endpoint.endpoint_id)
    proc = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, env=env, timeout=120,
                          cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_forged_dill_version_is_named_beside_the_endpoints(running, tmp_path):
    """SPEC 12.2: a dill body that does not load on the endpoint (a module
    only the client has) names the module, the client's dill as the body
    records it and the endpoint's own; the task is not a lost worker."""
    (tmp_path / "fx_only_on_this_client.py").write_text("SCALE = 3\n")
    got = _raised_by_script(running, tmp_path, "old_dill.py", FORGED_DILL)
    assert got["raised"] == "TaskError", got
    text = got["str"]
    import dill
    assert "fx_only_on_this_client" in text, text
    assert "dill 0.1.0 on the client" in text and f"dill {dill.__version__} on the endpoint" in text, text
    assert "on the endpoint" in text and "WORKER_LOST" not in text, text


def test_a_forged_client_python_is_refused_naming_both_versions(running, tmp_path):
    """SPEC 12.2: a task from a client whose Python differs in major.minor
    is not unpickled; the error says it happened on the endpoint and names
    the client's and the worker's versions."""
    got = _raised_by_script(running, tmp_path, "old_client.py", FORGED_PYTHON)
    assert got["raised"] == "TaskError", got
    text = got["str"]
    worker = ".".join(platform.python_version().split(".")[:2])
    assert "2.7.18" in text and f"worker Python {worker}" in text, text
    assert "on the endpoint" in text, text
