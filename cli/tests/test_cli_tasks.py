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
import time

import pytest

import _fxtest
import fx
from fx import _fx
from test_cli import FX, ScriptedBase, _creds_file

EP, EP_OFF, FN_SQ, FN_BOOM = fx.new_id(), fx.new_id(), fx.new_id(), fx.new_id()


class TaskBroker(ScriptedBase):
    """LIST (tasks, functions, endpoints), STATUS, FETCH and CANCEL over a
    table of tasks: id -> dict(state=TASK_*, function, endpoint, result=None
    or a result record, submitted ms). LIST tasks answers as the broker
    does (SPEC 5.16, 5.17): the users' states and reasons, times, a cursor
    (the task's place, from 1), the filters and the page below `before`.
    Records every LIST tasks' fields and every FETCHed id; on_list (if
    set) runs before each LIST tasks is answered."""

    BASE_MS = 1796119200000        # 2026-12-01T10:00:00Z; task n is submitted n minutes later

    def __init__(self):
        self.tasks = {}            # insertion order = submission order
        self.fetched = []
        self.cancelled = []
        self.lists = []            # the fields of each LIST tasks
        self.on_list = None
        super().__init__()

    def add(self, state, function=FN_SQ, endpoint=EP, result=None):
        tid = fx.new_id()
        self.tasks[tid] = {"state": state, "function": function, "endpoint": endpoint, "result": result,
                           "submitted": self.BASE_MS + 60000 * len(self.tasks)}
        return tid

    @staticmethod
    def utc(ms):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))

    def list_tasks(self, fields):
        self.lists.append(dict(fields))
        if self.on_list:
            self.on_list(len(self.lists))
        f, names = fields, {FN_SQ: "square", FN_BOOM: "boom"}
        rows = []
        for cursor, (i, task) in reversed(list(enumerate(self.tasks.items(), 1))):
            if f["before"] and cursor >= f["before"]:
                continue
            if f["since_ms"] and task["submitted"] < f["since_ms"]:
                break
            state, reason = fx.states.from_store(task["state"], task["result"])
            name = names.get(task["function"], "")
            if ((f["state"] and f["state"] not in (state, reason))
                    or (f["endpoint_id"] and f["endpoint_id"] != task["endpoint"])
                    or (f["function"] and f["function"] not in (task["function"], name))):
                continue
            result = task["result"]
            rows.append([i, state, task["endpoint"], task["function"], "1", name, self.utc(task["submitted"]),
                         self.utc(task["submitted"] + 1000) if result else "", reason or "",
                         (result["error_text"] or "") if reason else "", str(cursor)])
            if len(rows) == (f["limit"] or 1000):
                break
        return {"columns": ["id", "state", "endpoint", "function", "attempts", "function_name", "submitted",
                            "finished", "reason", "error", "cursor"], "rows": rows}

    def answer(self, rid, t, seq, fields):
        if t == "LIST" and fields["what"] == _fx.LIST_TASKS:
            self.server.send(rid, "LIST_REPLY", seq, self.list_tasks(fields))
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
        if task["result"]:
            times[9] = 1764583201250001  # worker finished
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
    lines = [line for line in text.splitlines() if line and not line.startswith(("note:", "page ", "more:"))]
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
    # a function that raised is not a success; the listing says why each failed
    assert rows[t["raised"]]["STATE"] == "failed (exception)" and rows[t["raised"]]["FUNCTION"] == "boom"
    assert rows[t["cancelled"]]["STATE"] == "failed (cancelled)"
    assert rows[t["lost"]]["STATE"] == "failed (worker lost)"
    assert rows[t["untaken"]]["STATE"] == "succeeded"
    assert rows[t["ok"]]["SUBMITTED"] == "2026-12-01T10:02:00Z" and rows[t["ok"]]["FINISHED"] == "2026-12-01T10:02:01Z"
    assert rows[t["queued"]]["FINISHED"] == "-"
    # the broker said it all: no result was read
    assert broker.fetched == []
    assert broker.lists == [{"what": _fx.LIST_TASKS, "limit": 51, "state": "", "endpoint_id": "", "function": "",
                             "since_ms": 0, "before": 0}]
    assert "more:" not in r.stdout


def test_status_uses_the_same_names(broker):
    t = world(broker)
    ids = [t["queued"], t["ok"], t["raised"], t["untaken"], fx.new_id()]
    r = fxc(broker, "status", *ids)
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert [row["STATE"] for row in rows] == ["queued", "succeeded", "failed (exception)", "finished", "unknown"]
    assert rows[0]["ENDPOINT_STATUS"] == "online"
    assert sorted(broker.fetched) == sorted([t["ok"], t["raised"]])


def test_tasks_filters_at_the_broker(broker):
    t = world(broker)
    lists = broker.lists

    def tasks(*args):
        before = len(lists)
        r = fxc(broker, "tasks", *args)
        assert r.returncode == 0, r.stderr
        (asked,) = lists[before:]           # one LIST tasks, the filters in it
        return [row["TASK"] for row in table(r.stdout)] if "(no tasks" not in r.stdout else [], asked, r.stdout

    got, asked, _ = tasks("--state", "failed")
    assert got == [t["lost"], t["cancelled"], t["raised"]] and asked["state"] == "failed"
    got, asked, _ = tasks("--state", "worker-lost")
    assert got == [t["lost"]] and asked["state"] == "worker lost"
    got, asked, _ = tasks("--state", "walltime")
    assert got == [] and asked["state"] == "walltime"
    got, asked, _ = tasks("--state", "succeeded")
    assert got == [t["untaken"], t["ok"]]
    got, asked, _ = tasks("--endpoint", "cluster")
    assert got == [t["running"]] and asked["endpoint_id"] == EP_OFF
    got, asked, _ = tasks("--endpoint", EP_OFF, "--state", "queued")
    assert got == [] and (asked["endpoint_id"], asked["state"]) == (EP_OFF, "queued")
    got, asked, _ = tasks("--function", "boom")
    assert got == [t["raised"]] and asked["function"] == "boom"
    got, asked, _ = tasks("--function", FN_SQ, "--since", "2026-12-01T10:03:00Z")
    assert got == [t["untaken"], t["lost"], t["cancelled"]]
    assert (asked["function"], asked["since_ms"]) == (FN_SQ, TaskBroker.BASE_MS + 180000)
    got, asked, out = tasks("--since", "1h")
    assert got == [] and "(no tasks match)" in out
    assert abs(asked["since_ms"] - (time.time() - 3600) * 1000) < 600000
    got, asked, out = tasks("--function", "nothing-like-it")
    assert got == [] and "(no tasks match)" in out
    assert broker.fetched == []
    r = fxc(broker, "tasks", "--endpoint", "nowhere")
    assert r.returncode == 1 and "no endpoint of yours is named 'nowhere'" in r.stderr


def test_tasks_pages_by_the_cursor(broker):
    ids = [broker.add(_fx.TASK_QUEUED) for _ in range(12)]
    newest = list(reversed(ids))
    r = fxc(broker, "tasks", "--limit", "5")
    assert [row["TASK"] for row in table(r.stdout)] == newest[:5]
    assert broker.lists[-1]["limit"] == 6          # one more: whether there is a next page
    hint = re.search(r"more: `fx tasks --before (\d+)` with the same options shows the next page", r.stdout)
    assert hint and int(hint.group(1)) == 8        # the cursor of the 5th row, task 8
    r = fxc(broker, "tasks", "--limit", "5", "--before", hint.group(1))
    assert [row["TASK"] for row in table(r.stdout)] == newest[5:10] and broker.lists[-1]["before"] == 8
    r = fxc(broker, "tasks", "--limit", "5", "--before", "3")
    assert [row["TASK"] for row in table(r.stdout)] == newest[10:] and "more:" not in r.stdout
    # --all: every page, the header once, while new tasks arrive (not shown, nothing twice)
    first = len(broker.lists)
    broker.on_list = lambda n: broker.add(_fx.TASK_QUEUED) if n > first + 1 else None
    r = fxc(broker, "tasks", "--all", "--limit", "5", "--state", "queued")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("TASK ") == 1
    assert [row["TASK"] for row in table(r.stdout)] == newest
    asked = broker.lists[first:]
    assert [(a["limit"], a["before"], a["state"]) for a in asked] == [(5, 0, "queued"), (5, 8, "queued"),
                                                                      (5, 3, "queued")]


def test_tasks_all_past_1000(broker):
    ids = [broker.add(_fx.TASK_DELIVERED, result=ok(i)) for i in range(1205)]
    r = fxc(broker, "tasks", "--all")
    assert r.returncode == 0, r.stderr
    assert [row["TASK"] for row in table(r.stdout)] == list(reversed(ids))
    assert [(a["limit"], a["before"]) for a in broker.lists] == [(1000, 0), (1000, 206)]
    r = fxc(broker, "tasks", "--limit", "0")
    assert len(table(r.stdout)) == 1000 and "--before 206" in r.stdout and "(if there is one)" in r.stdout


def test_tasks_bad_filters_exit_2(broker):
    for args in (["--state", "done"], ["--state", "DELIVERED"], ["--state", "finished"], ["--since", "yesterday"],
                 ["--before", "abc"], ["--before", "0"], ["--before", "-4"], ["--before", "5", "--all"],
                 ["--page", "2"], ["--limit", "1001"], ["--since"]):
        r = fxc(broker, "tasks", *args)
        assert r.returncode == 2 and "usage: fx tasks" in r.stderr, args
    r = fxc(broker, "tasks", "--state", "bogus")
    assert "queued, dispatched, succeeded, failed" in r.stderr
    assert broker.lists == []


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
    assert lines["ran"] == ("on its worker from 2025-12-01 10:00:00.000001 to 2025-12-01 10:00:01.250001 UTC "
                            "(1.250 s)")
    r = fxc(broker, "task", "show", t["running"])
    assert "ran        on its worker from 2025-12-01 10:00:00.000001 UTC; its result does not say" in r.stdout


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
