"""The task verbs (`fx tasks`, `fx status`, `fx task show`, `fx result`,
`fx cancel`) against a scripted broker that keeps tasks in the store's own
states (SPEC 5.0) and their results. What users read is one set of states:
queued, dispatched, succeeded, failed (reason), finished; a function that
raised is never shown as a success; results their client has not taken
are never FETCHed in bulk."""
import os
import pickle
import re
import subprocess
import threading

import pytest

import _fxtest
import fx
from fx import _fx
from test_cli import FX, ScriptedBase, _creds_file

EP, EP_OFF, FN_SQ, FN_BOOM = fx.new_id(), fx.new_id(), fx.new_id(), fx.new_id()


class TaskBroker(ScriptedBase):
    """LIST (tasks, functions, endpoints), STATUS, FETCH and CANCEL over a
    table of tasks: id -> dict(state=TASK_*, function, endpoint, result=None
    or a result record). Records every FETCHed id."""

    def __init__(self, extra_task_columns=None):
        self.tasks = {}            # insertion order = submission order
        self.fetched = []
        self.cancelled = []
        self.extra = extra_task_columns or {}   # column -> function(task id) -> text
        super().__init__()

    def add(self, state, function=FN_SQ, endpoint=EP, result=None):
        tid = fx.new_id()
        self.tasks[tid] = {"state": state, "function": function, "endpoint": endpoint, "result": result}
        return tid

    NAMES = {_fx.TASK_QUEUED: "queued", _fx.TASK_DISPATCHED: "dispatched", _fx.TASK_DONE: "done",
             _fx.TASK_DELIVERED: "delivered", _fx.TASK_FAILED: "failed"}

    def answer(self, rid, t, seq, fields):
        names = self.NAMES
        if t == "LIST" and fields["what"] == _fx.LIST_TASKS:
            cols = ["id", "state", "endpoint", "function", "attempts", *self.extra]
            ids = list(reversed(self.tasks))[:fields["limit"] or 1000]
            rows = [[i, names[self.tasks[i]["state"]], self.tasks[i]["endpoint"], self.tasks[i]["function"],
                     "1", *[f(i) for f in self.extra.values()]] for i in ids]
            self.server.send(rid, "LIST_REPLY", seq, {"columns": cols, "rows": rows})
        elif t == "LIST" and fields["what"] == _fx.LIST_FUNCTIONS:
            self.server.send(rid, "LIST_REPLY", seq, {"columns": ["id", "name", "kind"], "rows": [
                [FN_SQ, "square", "python"], [FN_BOOM, "boom", "python"]]})
        elif t == "LIST":
            self.server.send(rid, "LIST_REPLY", seq, {
                "columns": ["id", "name", "status", "last_seen", "queued", "managers", "workers"],
                "rows": [[EP, "laptop", "online", "never", "0", "1", "2"],
                         [EP_OFF, "cluster", "offline", "never", "0", "0", "0"]]})
        elif t == "STATUS":
            self.server.send(rid, "STATUS_REPLY", seq, {"tasks": [self.status(i) for i in fields["task_ids"]]})
        elif t == "FETCH":
            self.fetched.extend(fields["task_ids"])
            found = [dict(self.tasks[i]["result"], task_id=i) for i in fields["task_ids"]
                     if i in self.tasks and self.tasks[i]["result"]]
            self.server.send(rid, "RESULTS", seq, {"results": found})
        elif t == "CANCEL":
            self.cancelled.extend(fields["task_ids"])
            for i in fields["task_ids"]:
                task = self.tasks.get(i)
                if task and task["state"] == _fx.TASK_QUEUED:
                    task["state"] = _fx.TASK_FAILED
                    task["result"] = error(_fx.E_CANCELLED, "cancelled before it ran")
            self.server.send(rid, "STATUS_REPLY", seq, {"tasks": [self.status(i) for i in fields["task_ids"]]})
        elif t == "PROVENANCE":
            self.server.send(rid, "PROVENANCE_REPLY", seq, {"tasks": [self.provenance(i) for i in fields["task_ids"]]})
        elif t == "FUNCTION_GET":
            self.function_get(rid, seq, fields)

    VERSIONS = [("a" * 40, "c" * 40, "def square(x):\n    return x * x\n"),
                ("b" * 40, "d" * 40, "def square(x):\n    return x ** 2\n")]

    def function_get(self, rid, seq, fields):
        """FN_SQ has two versions; FUNCTION_INFO of the asked one (the newest for "")."""
        if fields["function_id"] != FN_SQ:
            self.server.send(rid, "ERROR", seq, {"code": _fx.E_NOT_FOUND, "text": "no such function"})
            return
        asked = fields["version"] or self.VERSIONS[-1][0]
        pick = [v for v in self.VERSIONS if v[0] == asked]
        if not pick:
            self.server.send(rid, "ERROR", seq, {"code": _fx.E_NOT_FOUND, "text": "no such version"})
            return
        history = [{"version": v, "number": n + 1, "commit": c, "author": "alice",
                    "created_us": 1764583200000000 + n, "serializer": "source"}
                   for n, (v, c, _) in enumerate(self.VERSIONS)]
        self.server.send(rid, "FUNCTION_INFO", seq, {
            "function_id": FN_SQ, "name": "square", "kind": _fx.FN_PYTHON, "entry": "square", "version": asked,
            "description": "squares its argument", "versions": history, "body": pick[0][2].encode()})

    def provenance(self, i):
        task = self.tasks.get(i)
        empty = {"task_id": i, "state": _fx.TASK_UNKNOWN, "function_id": "", "function_version": "",
                 "commit": "", "serializer": "", "py_version": "", "dill_version": "", "endpoint_id": "",
                 "host": "", "worker_pid": 0, "worker_runtime": "", "attempt": 0, "container": "",
                 "image_digest": "", "times": []}
        if not task:
            return empty
        times = [0] * 16
        times[8] = 1764583200000001  # worker started (SPEC 12.5)
        return dict(empty, state=task["state"], function_id=task["function"], function_version="a" * 40,
                    commit="c" * 40, serializer="source+pickle", py_version="3.11.2",
                    endpoint_id=task["endpoint"], host="node17", worker_pid=4321,
                    worker_runtime="python 3.11.2", attempt=2, container="", image_digest="", times=times)

    def status(self, i):
        task = self.tasks.get(i)
        if not task:
            return {"task_id": i, "state": _fx.TASK_UNKNOWN, "endpoint_id": "", "attempts": 0}
        return {"task_id": i, "state": task["state"], "endpoint_id": task["endpoint"], "attempts": 1}



def ok(value, output=b""):
    return {"status": _fx.RESULT_OK, "error_code": 0, "error_text": None, "value": pickle.dumps(value),
            "output": output}


def exception(text, traceback="Traceback (most recent call last):\n  ...\nValueError: no good\n"):
    return {"status": _fx.RESULT_EXCEPTION, "error_code": 0, "error_text": text,
            "value": pickle.dumps(ValueError("no good")),
            "output": b"printed before\n--- remote traceback ---\n" + traceback.encode()}


def error(code, text):
    return {"status": _fx.RESULT_ERROR, "error_code": code, "error_text": text, "value": b"", "output": b""}


@pytest.fixture
def broker(tmp_path):
    b = TaskBroker()
    b.creds = _creds_file(tmp_path, b.server.endpoint, b.pub)
    yield b
    b.close()


def fxc(b, *args):
    env = dict(os.environ, FX_PYTHON="/usr/bin/python3")
    return subprocess.run([FX, "--creds", b.creds, *args], capture_output=True, text=True, timeout=60, env=env)


def table(text):
    """Rows of a printed table as dicts, columns cut where the header's start."""
    lines = [line for line in text.splitlines() if line and not line.startswith(("note:", "page "))]
    starts = [m.start() for m in re.finditer(r"\S+", lines[0])]
    names = lines[0].split()
    return [dict(zip(names, (line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line)]))))
            for line in lines[1:]]


def world(b):
    """One task in each situation, oldest first."""
    return {
        "queued": b.add(_fx.TASK_QUEUED),
        "running": b.add(_fx.TASK_DISPATCHED, endpoint=EP_OFF),
        "ok": b.add(_fx.TASK_DELIVERED, result=ok(49)),
        "raised": b.add(_fx.TASK_DELIVERED, function=FN_BOOM, result=exception("ValueError: no good")),
        "cancelled": b.add(_fx.TASK_FAILED, result=error(_fx.E_CANCELLED, "cancelled before it ran")),
        "lost": b.add(_fx.TASK_FAILED, result=error(_fx.E_WORKER_LOST, "worker lost (pid 12 signal 9)")),
        "untaken": b.add(_fx.TASK_DONE, result=ok(1)),
    }


def test_tasks_shows_states_users_read(broker):
    t = world(broker)
    r = fxc(broker, "tasks")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["TASK", "FUNCTION", "STATE", "SUBMITTED", "FINISHED", "ENDPOINT",
                                                "ATTEMPTS"]
    rows = {row["TASK"]: row for row in table(r.stdout)}
    assert [row["TASK"] for row in table(r.stdout)] == list(reversed(list(t.values())))   # newest first
    assert rows[t["queued"]]["STATE"] == "queued" and rows[t["queued"]]["ENDPOINT"] == "laptop"
    assert rows[t["running"]]["STATE"] == "dispatched" and rows[t["running"]]["ENDPOINT"] == "cluster"
    assert rows[t["ok"]]["STATE"] == "succeeded" and rows[t["ok"]]["FUNCTION"] == "square"
    # a function that raised is not a success
    assert rows[t["raised"]]["STATE"] == "failed (exception)" and rows[t["raised"]]["FUNCTION"] == "boom"
    # fx ended these; their results were not read in bulk, so no reason yet
    assert rows[t["cancelled"]]["STATE"] == "failed" and rows[t["lost"]]["STATE"] == "failed"
    assert rows[t["untaken"]]["STATE"] == "finished"
    assert "1 task(s) show 'finished'" in r.stdout
    assert rows[t["ok"]]["SUBMITTED"] == "-" and rows[t["ok"]]["FINISHED"] == "-"
    # only results their client took were read
    assert sorted(broker.fetched) == sorted([t["ok"], t["raised"]])


def test_status_uses_the_same_names(broker):
    t = world(broker)
    ids = [t["queued"], t["ok"], t["raised"], t["untaken"], fx.new_id()]
    r = fxc(broker, "status", *ids)
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert [row["STATE"] for row in rows] == ["queued", "succeeded", "failed (exception)", "finished", "unknown"]
    assert rows[0]["ENDPOINT_STATUS"] == "online"
    assert sorted(broker.fetched) == sorted([t["ok"], t["raised"]])


def test_tasks_filters_and_pages(broker):
    t = world(broker)
    more = [broker.add(_fx.TASK_DELIVERED, result=ok(i)) for i in range(5)]
    r = fxc(broker, "tasks", "--state", "succeeded")
    assert [row["TASK"] for row in table(r.stdout)] == list(reversed(more)) + [t["ok"]]
    assert "could not be judged by --state" in r.stdout     # the one nobody took
    r = fxc(broker, "tasks", "--state", "failed")
    assert {row["TASK"] for row in table(r.stdout)} == {t["raised"], t["cancelled"], t["lost"]}
    r = fxc(broker, "tasks", "--state", "exception")
    assert [row["TASK"] for row in table(r.stdout)] == [t["raised"]]
    r = fxc(broker, "tasks", "--state", "queued")
    assert [row["TASK"] for row in table(r.stdout)] == [t["queued"]]
    r = fxc(broker, "tasks", "--function", "boom")
    assert [row["TASK"] for row in table(r.stdout)] == [t["raised"]]
    r = fxc(broker, "tasks", "--function", FN_BOOM)
    assert [row["TASK"] for row in table(r.stdout)] == [t["raised"]]
    r = fxc(broker, "tasks", "--endpoint", "cluster")
    assert [row["TASK"] for row in table(r.stdout)] == [t["running"]]
    r = fxc(broker, "tasks", "--endpoint", EP_OFF)
    assert [row["TASK"] for row in table(r.stdout)] == [t["running"]]
    # pages, newest first
    everything = list(reversed(list(t.values()) + more))
    r = fxc(broker, "tasks", "--limit", "5")
    assert [row["TASK"] for row in table(r.stdout)] == everything[:5]
    assert "page 1: tasks 1-5 of 6; --page 2" in r.stdout
    r = fxc(broker, "tasks", "--limit", "5", "--page", "2")
    assert [row["TASK"] for row in table(r.stdout)] == everything[5:10]
    assert "page 2: tasks 6-10 of 11; --page 3" in r.stdout
    r = fxc(broker, "tasks", "--limit", "5", "--page", "3")
    assert [row["TASK"] for row in table(r.stdout)] == everything[10:]
    assert "--page 4" not in r.stdout
    r = fxc(broker, "tasks", "--limit", "5", "--page", "9")
    assert r.returncode == 0 and "(no tasks on page 9)" in r.stdout
    r = fxc(broker, "tasks", "--since", "1h")
    assert "(no tasks match)" in r.stdout and "does not say when tasks were submitted" in r.stdout
    r = fxc(broker, "tasks", "--function", "nothing-like-it")
    assert "(no tasks match)" in r.stdout


def test_tasks_bad_filters_exit_2(broker):
    for args in (["--state", "done"], ["--state", "DELIVERED"], ["--since", "yesterday"], ["--page", "0"],
                 ["--limit", "1001"], ["--since"]):
        r = fxc(broker, "tasks", *args)
        assert r.returncode == 2 and "usage: fx tasks" in r.stderr, args
    r = fxc(broker, "tasks", "--state", "bogus")
    assert "queued, dispatched, succeeded, failed" in r.stderr


def test_tasks_uses_what_a_broker_says_itself(tmp_path):
    """A broker that sends the outcome and times as columns (what cli/README.md
    asks for): fx shows them, --since works, nothing is FETCHed."""
    times = {}
    b = TaskBroker(extra_task_columns={
        "function_name": lambda i: "square",
        "submitted": lambda i: times[i][0],
        "finished": lambda i: times[i][1],
        "reason": lambda i: times[i][2],
        "error": lambda i: times[i][3],
    })
    try:
        b.creds = _creds_file(tmp_path, b.server.endpoint, b.pub)
        old = b.add(_fx.TASK_DONE)
        times[old] = ("2020-01-01T00:00:00Z", "2020-01-01T00:00:01Z", "", "")
        new = b.add(_fx.TASK_FAILED)
        times[new] = ("2099-01-01T00:00:00Z", "2099-01-01T00:00:05Z", "walltime", "exceeded 5 s")
        r = fxc(b, "tasks")
        rows = {row["TASK"]: row for row in table(r.stdout)}
        assert rows[new]["STATE"] == "failed (walltime)" and rows[new]["SUBMITTED"] == "2099-01-01T00:00:00Z"
        assert rows[new]["FINISHED"] == "2099-01-01T00:00:05Z" and rows[new]["FUNCTION"] == "square"
        r = fxc(b, "tasks", "--since", "2021-06-01")
        assert [row["TASK"] for row in table(r.stdout)] == [new]
        r = fxc(b, "tasks", "--state", "walltime")
        assert [row["TASK"] for row in table(r.stdout)] == [new]
        assert b.fetched == []
    finally:
        b.close()


def test_result_prints_value_error_and_traceback(broker):
    t = world(broker)
    tid = broker.add(_fx.TASK_DELIVERED, result=ok({"x": [1, 2]}, output=b"hello\n"))
    r = fxc(broker, "result", tid)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "{'x': [1, 2]}\n" and "hello" in r.stderr
    raw = subprocess.run([FX, "--creds", broker.creds, "result", t["ok"], "--raw"], capture_output=True,
                         timeout=60)
    assert raw.returncode == 0 and raw.stdout == pickle.dumps(49)
    r = fxc(broker, "result", t["raised"])
    assert r.returncode == 1
    assert f"task {t['raised']} failed (exception): ValueError: no good" in r.stderr
    assert "--- remote traceback ---" in r.stderr and "printed before" in r.stderr and r.stdout == ""
    r = fxc(broker, "result", t["cancelled"])
    assert r.returncode == 1 and "failed (cancelled): cancelled before it ran" in r.stderr
    r = fxc(broker, "result", t["lost"])
    assert r.returncode == 1 and "failed (worker lost)" in r.stderr
    # one task asked for by id: read even though its client has not taken it
    r = fxc(broker, "result", t["untaken"])
    assert r.returncode == 0 and r.stdout == "1\n"
    r = fxc(broker, "result", t["queued"])
    assert r.returncode == 1 and "is queued: no result yet; --wait SECONDS" in r.stderr
    r = fxc(broker, "result", fx.new_id())
    assert r.returncode == 1 and "no task" in r.stderr
    r = fxc(broker, "result", "nope")
    assert r.returncode == 2


def test_result_that_cannot_be_loaded_here(broker):
    tid = broker.add(_fx.TASK_DELIVERED, result={**ok(0), "value": b"\x80\x04not a pickle"})
    r = fxc(broker, "result", tid)
    assert r.returncode == 1 and "cannot load the value" in r.stderr and "--raw" in r.stderr


def test_task_show(broker):
    t = world(broker)
    r = fxc(broker, "task", "show", t["raised"])
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(None, 1) for line in r.stdout.splitlines())
    assert lines["state"] == "failed (exception)" and lines["error"] == "ValueError: no good"
    assert lines["function"] == f"boom ({FN_BOOM})" and lines["endpoint"] == f"laptop ({EP}), online"
    assert lines["attempts"] == "1" and f"`fx result {t['raised']}`" in lines["result"]
    r = fxc(broker, "task", "show", t["cancelled"])
    assert "failed (cancelled)" in r.stdout
    r = fxc(broker, "task", "show", t["running"])
    assert "dispatched" in r.stdout and f"cluster ({EP_OFF}), offline" in r.stdout
    r = fxc(broker, "task", "show", fx.new_id())
    assert r.returncode == 1 and "no task" in r.stderr


def test_task_show_provenance(broker):
    """fx task show prints where the result came from (SPEC 12.6)."""
    t = world(broker)
    r = fxc(broker, "task", "show", t["ok"])
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(None, 1) for line in r.stdout.splitlines() if not line.startswith(" "))
    assert lines["version"] == "a" * 40 and lines["commit"] == "c" * 40
    assert lines["serializer"] == "source+pickle (client Python 3.11.2)"
    assert lines["host"] == "node17, worker pid 4321, python 3.11.2"
    assert lines["attempt"] == "2" and lines["container"] == "- (the host)"
    assert "  worker started         2025-12-01 10:00:00.000001 UTC" in r.stdout.splitlines()


def test_function_log_and_show(broker):
    r = fxc(broker, "function", "log", FN_SQ)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == f"function {FN_SQ} (square), 2 versions, oldest first"
    assert out[1].split() == ["1", "version", "a" * 40, "commit", "c" * 40]
    assert out[3].split() == ["2", "version", "b" * 40, "commit", "d" * 40]
    assert "by alice" in out[2] and out[4].endswith("(newest)") and not out[2].endswith("(newest)")
    r = fxc(broker, "function", "show", FN_SQ)
    assert r.returncode == 0, r.stderr
    assert "version     2: " + "b" * 40 in r.stdout and r.stdout.endswith("---\ndef square(x):\n    return x ** 2\n")
    assert "description squares its argument" in r.stdout
    for ref in ("1", "a" * 40):
        r = fxc(broker, "function", "show", f"{FN_SQ}@{ref}")
        assert r.returncode == 0, r.stderr
        assert "version     1: " + "a" * 40 in r.stdout and r.stdout.endswith("return x * x\n")
    r = fxc(broker, "function", "show", f"{FN_SQ}@7")
    assert r.returncode == 1 and "no version 7" in r.stderr
    r = fxc(broker, "function", "show", f"{FN_BOOM}")
    assert r.returncode == 1 and "no such function" in r.stderr
    r = fxc(broker, "function", "log", "not-an-id")
    assert r.returncode == 2


def test_cancel(broker):
    t = world(broker)
    ghost = fx.new_id()
    r = fxc(broker, "cancel", t["queued"], t["running"], t["ok"], ghost)
    assert r.returncode == 1        # the ghost is not ours
    lines = r.stdout.splitlines()
    assert lines[0] == f"{t['queued']}: cancelled (it had not run)"
    assert lines[1].startswith(f"{t['running']}: cancelling: its endpoint stops it")
    assert lines[2].startswith(f"{t['ok']}: already ended, nothing to cancel")
    assert lines[3] == f"{ghost}: no such task of yours"
    assert broker.cancelled == [t["queued"], t["running"], t["ok"], ghost]
    r = fxc(broker, "result", t["queued"])
    assert r.returncode == 1 and "failed (cancelled)" in r.stderr
