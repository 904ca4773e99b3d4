"""Functions written the way scientists write them (issue 8), end to end.

Each case is a real script run as `python3 script.py` (so its functions live
in __main__, as in a user's script), or code typed at a prompt (`python3 -`
reading stdin: no source file at all). The script registers its functions
with a real broker, runs them on a real endpoint and prints one JSON line
per check; the test reads those lines. Nothing here knows how fx serializes.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.dirname(__file__))

PYTHON = "/usr/bin/python3"

# The preamble every script starts with: a client for the running federation
# and report(name, value) printing one JSON line.
PREAMBLE = """
import json, os, sys
import fx
client = fx.Client(credentials=os.environ["FX_TEST_CREDS"])
EP = os.environ["FX_TEST_ENDPOINT"]
def report(name, value):
    print(json.dumps({"name": name, "value": value}), flush=True)
def call(fn, *args, **kwargs):
    fid = client.register_function(fn)
    tid = client.run(*args, endpoint_id=EP, function_id=fid, **kwargs)
    return client.get_result(tid, timeout=60)
"""

SCRIPT = """
import math
import numpy
from collections import Counter

SCALE = 3.0
WEIGHTS = {"a": 1, "b": 2}

def helper(x):
    return math.sqrt(x) * SCALE

def uses_module_and_helper(x):
    return helper(x) + math.pi

class Accumulator:
    def __init__(self, k):
        self.k = k
    def add(self, x):
        return x + self.k

def uses_class(x):
    return Accumulator(10).add(x)

def make_scaler(k):
    def scale(x):
        return x * k
    return scale

def with_defaults(x, extra=(1, 2, 3), weights=WEIGHTS):
    return x + sum(extra) + weights["b"]

def counts(words):
    return dict(Counter(words))

def runs_python_subprocess():
    import subprocess, sys
    out = subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True)
    return out.stdout.strip()

def doubles(a):
    return a * 2

report("module_and_helper", round(call(uses_module_and_helper, 16.0), 6))
report("class", call(uses_class, 5))
report("closure", call(make_scaler(7), 6))
report("lambda", call(lambda x: x ** 2 + SCALE, 4))
report("defaults", call(with_defaults, 1))
report("from_import", call(counts, ["a", "b", "a"]))
report("sys_executable", call(runs_python_subprocess))
arr = numpy.arange(1_000_000, dtype=numpy.float64)
back = call(doubles, arr)
report("numpy", [back.shape[0], float(back[-1]), bool((back == arr * 2).all())])
"""

INTERACTIVE = """
import math
def typed_here(x):
    return math.floor(x) + 1
report("prompt_function", call(typed_here, 2.5))
square = lambda v: v * v
report("prompt_lambda", call(square, 9))
"""

REMOTE_ERRORS = """
def needs_missing_module():
    import fx_no_such_module_anywhere
    return 1

def raises_value_error(x):
    raise ValueError(f"bad value {x}")

for name, fn, args in (("missing_module", needs_missing_module, ()),
                       ("value_error", raises_value_error, (3,))):
    try:
        call(fn, *args)
        report(name, "no exception")
    except BaseException as exc:
        report(name, {"type": type(exc).__name__, "str": str(exc)})
"""

CANNOT_TRAVEL = """
import threading
handle = open(os.devnull)
lock = threading.Lock()

def reads_open_file():
    return handle.read()

def make_locked():
    def locked():
        with lock:
            return 1
    return locked

for name, fn in (("open_file", reads_open_file), ("lock_in_closure", make_locked())):
    try:
        client.register_function(fn)
        report(name, "registered")
    except BaseException as exc:
        report(name, {"type": type(exc).__name__, "str": str(exc)})
"""


def run_script(fed, body, as_file=True, tmp_path=None):
    """Runs PREAMBLE + body as a user would; returns {name: value}."""
    code = PREAMBLE + textwrap.dedent(body)
    env = dict(os.environ, FX_TEST_CREDS=fed.creds, FX_TEST_ENDPOINT=fed.endpoint.endpoint_id)
    if as_file:
        script = tmp_path / "science.py"
        script.write_text(code)
        argv, stdin = [PYTHON, str(script)], None
    else:
        argv, stdin = [PYTHON, "-"], code
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, timeout=300,
                          cwd=str(tmp_path))
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        pytest.fail(f"the script failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return {line["name"]: line["value"] for line in lines}


def test_script_functions_run_as_written(running, tmp_path):
    got = run_script(running, SCRIPT, tmp_path=tmp_path)
    assert got["module_and_helper"] == round(4.0 * 3.0 + 3.141592653589793, 6)
    assert got["class"] == 15
    assert got["closure"] == 42
    assert got["lambda"] == 19.0
    assert got["defaults"] == 1 + 6 + 2
    assert got["from_import"] == {"a": 2, "b": 1}
    assert got["sys_executable"] == "42"
    assert got["numpy"] == [1_000_000, 1_999_998.0, True]


def test_functions_typed_at_a_prompt(running, tmp_path):
    got = run_script(running, INTERACTIVE, as_file=False, tmp_path=tmp_path)
    assert got == {"prompt_function": 3, "prompt_lambda": 81}


def test_remote_errors_name_the_problem_and_carry_the_traceback(running, tmp_path):
    got = run_script(running, REMOTE_ERRORS, tmp_path=tmp_path)
    missing = got["missing_module"]
    assert missing != "no exception"
    assert "fx_no_such_module_anywhere" in missing["str"]
    assert "remote traceback" in missing["str"]
    value = got["value_error"]
    assert value["type"] == "ValueError"
    assert "bad value 3" in value["str"] and "remote traceback" in value["str"]


def test_what_cannot_travel_is_refused_at_registration(running, tmp_path):
    got = run_script(running, CANNOT_TRAVEL, tmp_path=tmp_path)
    for name, offender in (("open_file", "handle"), ("lock_in_closure", "lock")):
        assert got[name] != "registered", f"{name} was registered"
        assert offender in got[name]["str"], got[name]


def test_a_body_crosses_the_broker_link_once(running):
    """SPEC 5.27/5.28.1: the broker's TASKS carry no body once the
    interchange announced its cache; the interchange fetches each version
    once, however many tasks use it."""
    from fxharness import Federation, wait_for

    def tripled(x):
        return 3 * x

    ep = running.endpoint

    def stats():
        return {k: int(v) for k, v in Federation.read_stats(ep).items() if v.isdigit()}

    def fresh():   # a rewrite that happened after everything before this line
        mtime = os.stat(ep.stats_path).st_mtime_ns
        wait_for(lambda: os.stat(ep.stats_path).st_mtime_ns != mtime, 10, "the stats file rewritten")
        return stats()

    before = fresh()
    fid = running.client.register_function(tripled)
    tids = running.client.run_batch([((i,), {}) for i in range(1000)], endpoint_id=ep.endpoint_id,
                                    function_id=fid)
    assert [running.client.get_result(t, timeout=120) for t in tids] == [3 * i for i in range(1000)]
    def counted():   # the stats file is rewritten every second
        now = fresh()
        return now if now.get("tasks_received", 0) - before.get("tasks_received", 0) >= 1000 else None

    after = wait_for(counted, 30, "1,000 tasks counted in the endpoint's stats")
    assert after["tasks_received"] - before["tasks_received"] >= 1000
    assert after["versions_fetched"] - before["versions_fetched"] == 1, (before, after)
    assert after["bodies_from_tasks"] - before["bodies_from_tasks"] == 0, (before, after)


def test_provenance_of_every_task_of_a_batch(running):
    """SPEC 12.6: every result of a 1,000-task batch traces to the exact
    version and commit, the host, worker and runtime that made it, with the
    stamps of its way; PROV-JSON names the same version."""
    import socket

    def cubed(x):
        return x ** 3

    client, ep = running.client, running.endpoint
    fid = client.register_function(cubed)
    reg = client.registration(fid)
    tids = client.run_batch([((i,), {}) for i in range(1000)], endpoint_id=ep.endpoint_id, function_id=fid)
    assert [client.get_result(t, timeout=120) for t in tids] == [i ** 3 for i in range(1000)]
    rows = client.get_provenance(tids)
    assert len(rows) == 1000 and [r["task_id"] for r in rows] == tids
    for r in rows:
        assert r["function_id"] == fid and r["function_version"] == reg.version and r["commit"] == reg.commit
        assert r["endpoint_id"] == ep.endpoint_id and r["host"] == socket.gethostname()
        assert r["worker_pid"] > 0 and r["worker_runtime"].startswith("python 3.")
        assert r["attempt"] >= 1 and r["serializer"].endswith("+pickle5")
        named = r["times_named"]
        for event in ("broker_received", "broker_written", "broker_dispatched", "ix_received",
                      "ix_dispatched", "manager_received", "worker_started", "worker_finished",
                      "manager_sent", "broker_result"):
            assert named.get(event), (event, named)
        assert named["worker_started"] <= named["worker_finished"]
    doc = client.get_provenance(tids[:3], prov_json=True)
    assert reg.version in str(doc)
