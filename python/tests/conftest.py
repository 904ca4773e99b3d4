"""Shared fixtures: keys, credentials, and FakeBroker, a scripted broker
built on _fxtest.TestServer (a real CurveZMQ ROUTER speaking the real codec)
that also plays the endpoint: it runs submitted Python functions in-process
the way a worker does, and pushes their results.

Waits are event waits with deadlines (wait_for), never bare sleeps."""
import collections
import contextlib
import hashlib
import importlib
import io
import os
import pickle
import threading
import time
import traceback

import pytest

import _fxtest
import fx
from fx import _fx

TIMEOUT = float(os.environ.get("FX_TEST_TIMEOUT", "10")) * float(os.environ.get("FX_TEST_SLOW", "1"))


def wait_for(predicate, timeout=TIMEOUT, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def load_python_function(body, entry, strategy="source"):
    """A registered Python function, as a worker loads it by its strategy
    (SPEC 12.1.1)."""
    if strategy == "dill":
        import dill
        return dill.loads(body)
    if strategy == "reference":
        module, _, qualname = body.decode().partition(":")
        found = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
        return found
    namespace = {}
    exec(compile(body.decode(), "<fx function>", "exec"), namespace)
    return namespace[entry]


def payload_format(serializer):
    """The PAYLOAD half of a task's serializer ("" and "pickle" mean pickle)."""
    return serializer.partition("+")[2] if "+" in serializer else (serializer or "pickle")


def loads(data, fmt):
    return fx.serialize.fxp5_loads(data) if fmt == "pickle5" else pickle.loads(data)


def dumps(obj, fmt):
    return fx.serialize.fxp5_dumps(obj) if fmt == "pickle5" else pickle.dumps(obj)


def run_python_task(fn, payload, fmt="pickle"):
    """What a worker does with one Python task: (status, code, text, value,
    output). fn: the loaded function, or a callable raising why it is not."""
    out = io.StringIO()
    try:
        args, kwargs = loads(payload, fmt)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            value = fn(*args, **kwargs)
        return _fx.RESULT_OK, 0, None, dumps(value, fmt), out.getvalue().encode()
    except Exception as exc:
        tb = traceback.format_exc()
        try:
            value = dumps(exc, fmt)
        except Exception:
            value = b""
        output = out.getvalue() + fx.serialize.TRACEBACK_MARKER + "\n" + tb
        return (_fx.RESULT_EXCEPTION, 0, f"{type(exc).__name__}: {exc}", value,
                output.encode())


def run_shell_task(body, payload, fmt="pickle"):
    args, kwargs = loads(payload, fmt)
    r = fx.ShellFunction(body)(*args, **kwargs)
    value = {"returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
    return _fx.RESULT_OK, 0, None, dumps(value, fmt), b""


def blob_id(body):
    """The git blob id of a body: what the registry names a version by."""
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


class FakeBroker:
    """Answers like a broker. Knobs (set before or during a test):
      execute        run tasks and push results (default True)
      silent         read but answer nothing (a dead broker)
      no_session_on  set of message types answered once with FX_E_NO_SESSION
      reject_submit  answer SUBMIT with this (code, text)
      heartbeat_ms   sent in WELCOME
      hold_submitted keep SUBMITs unanswered until release_submits()
      dispatch       tasks go to the (pretend) endpoint: DISPATCHED, not QUEUED
      cancel_push_first  on CANCEL, push the FX_E_CANCELLED results before
                     the STATUS_REPLY (default: after)
      cancel_silent  read CANCEL, answer nothing
    Record: received (list of (type, seq, fields, routing_id)), acked ids,
    hellos (list of (routing_id, client_id))."""

    def __init__(self, zap=None, heartbeat_ms=1000):
        self.public_key, self.secret_key = fx.keypair_new()
        self.server = _fxtest.TestServer(self.public_key, self.secret_key, zap=zap)
        self.endpoint = self.server.endpoint
        self.heartbeat_ms = heartbeat_ms
        self.execute = True
        self.silent = False
        self.no_session_on = set()
        self.reject_submit = None
        self.hold_submitted = False
        self.held_submits = []     # (rid, seq, fields) not yet answered
        self.dispatch = False
        self.dispatched = set()
        self.cancel_push_first = False
        self.cancel_silent = False
        self.functions = {}        # function_id -> its newest REGISTER_FUNCTION fields
        self.containers = {}       # container_id -> its REGISTER_CONTAINER fields
        self.endpoint_info = None  # ENDPOINT_INFO fields to answer ENDPOINT_QUERY with
        self.task_rows = []        # LIST tasks' rows (dicts with a "cursor"), newest first
        self.versions = {}         # function_id -> [version dict], oldest first
        self._loaded = {}          # version -> the function, loaded
        self.errors = []           # tracebacks of handlers that raised
        self.tasks = {}            # task_id -> submit record
        self.results = {}          # task_id -> result dict
        self.owner = {}            # task_id -> client_id
        self.sessions = {}         # routing_id -> client_id
        self.received = []
        self.acked = []
        self.hellos = []
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def credentials(self):
        pub, sec = fx.keypair_new()
        return {"broker_client": self.endpoint, "broker_endpoint": "tcp://127.0.0.1:1",
                "broker_public_key": self.public_key, "user_id": fx.new_id(),
                "public_key": pub, "secret_key": sec}

    def close(self):
        """Stop; a handler that raised fails the test that used it."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()
        if self.errors:
            raise AssertionError("the fake broker's handlers raised:\n" + "\n".join(self.errors))

    def of_type(self, type_):
        with self.lock:
            return [m for m in self.received if m[0] == type_]

    # -- the loop (its own thread; the only user of self.server) --------

    def _loop(self):
        self._release = False
        while not self._stop.is_set():
            if self._release:
                self._release = False
                held, self.held_submits = self.held_submits, []
                for rid, seq, fields in held:
                    self._guarded(self._on_submit, rid, seq, fields)
            try:
                msg = self.server.recv(50)
            except fx.ProtocolError:
                continue
            if msg is None:
                continue
            rid, type_, seq, fields, _user = msg
            with self.lock:
                self.received.append((type_, seq, fields, rid))
                self.counts[type_] += 1
            if self.silent:
                continue
            if type_ in self.no_session_on:
                self.no_session_on.discard(type_)
                self.sessions.pop(rid, None)
                self.server.send(rid, "ERROR", seq, {"code": _fx.E_NO_SESSION,
                                                     "text": "no session: send HELLO first"})
                continue
            if type_ != "HELLO" and rid not in self.sessions:
                self.server.send(rid, "ERROR", seq, {"code": _fx.E_NO_SESSION,
                                                     "text": "no session: send HELLO first"})
                continue
            self._guarded(getattr(self, "_on_" + type_.lower(), self._on_other), rid, seq, fields)

    def _guarded(self, handler, *args):
        """A handler's exception is recorded (close() raises it) and the
        loop lives on: a bug here must fail the test, not hang it."""
        try:
            handler(*args)
        except Exception:
            with self.lock:
                self.errors.append(traceback.format_exc())

    def _on_other(self, rid, seq, fields):
        self.server.send(rid, "ERROR", seq, {"code": _fx.E_UNEXPECTED, "text": "unexpected"})

    def _on_hello(self, rid, seq, fields):
        self.sessions[rid] = fields["client_id"]
        with self.lock:
            self.hellos.append((rid, fields["client_id"]))
        self.server.send(rid, "WELCOME", seq, {"id": fx.new_id(), "server_version": "fake",
                                               "heartbeat_ms": self.heartbeat_ms})
        # Results not yet acknowledged are pushed again to a returning client.
        pending = [r for t, r in self.results.items()
                   if self.owner.get(t) == fields["client_id"] and t not in self.acked]
        if pending:
            self.push(rid, pending)

    def _on_heartbeat(self, rid, seq, fields):
        self.server.send(rid, "HEARTBEAT", seq, {})

    def _on_register_container(self, rid, seq, fields):
        """SPEC 5.33: kept by id (the same id again updates it)."""
        self.containers[fields["container_id"]] = fields
        self.server.send(rid, "CONTAINER_REGISTERED", seq, {"container_id": fields["container_id"]})

    def _on_endpoint_query(self, rid, seq, fields):
        if self.endpoint_info is None:
            self.server.send(rid, "ERROR", seq, {"code": _fx.E_NOT_FOUND, "text": "no such endpoint"})
        else:
            self.server.send(rid, "ENDPOINT_INFO", seq, self.endpoint_info)

    def _on_register_function(self, rid, seq, fields):
        """A version per new body (SPEC 5.5): the same body again is a no-op.
        A container_id it was not told of is refused (FX_E_NOT_FOUND)."""
        if fields.get("container_id") and fields["container_id"] not in self.containers:
            self.server.send(rid, "ERROR", seq, {
                "code": _fx.E_NOT_FOUND,
                "text": f"you have no container {fields['container_id']}: register it first"})
            return
        fid = fields["function_id"]
        history = self.versions.setdefault(fid, [])
        version = blob_id(fields["body"])
        known = next((v for v in history if v["version"] == version), None)
        if known is None:
            known = {"version": version, "number": len(history) + 1,
                     "commit": hashlib.sha1(version.encode() + b"commit").hexdigest(),
                     "author": "test", "created_us": int(time.time() * 1e6),
                     "serializer": fields["serializer"], "fields": fields}
            history.append(known)
            self.functions[fid] = fields
        self.server.send(rid, "FUNCTION_REGISTERED", seq, {
            "function_id": fid, "version": version, "number": known["number"],
            "commit": known["commit"]})

    def _on_function_get(self, rid, seq, fields):
        history = self.versions.get(fields["function_id"])
        want = fields["version"]
        at = history and (history[-1] if not want else
                          next((v for v in history if v["version"] == want), None))
        if not at:
            self.server.send(rid, "ERROR", seq, {"code": _fx.E_NOT_FOUND, "text": "no such function"})
            return
        f = at["fields"]
        self.server.send(rid, "FUNCTION_INFO", seq, {
            "function_id": fields["function_id"], "name": history[-1]["fields"]["name"],
            "kind": f["kind"], "entry": f["entry"], "version": at["version"],
            "description": f.get("description"), "body": f["body"],
            "versions": [{k: v[k] for k in ("version", "number", "commit", "author", "created_us",
                                              "serializer")} for v in history]})

    def _on_provenance(self, rid, seq, fields):
        rows = []
        for t in fields["task_ids"]:
            task = self.tasks.get(t)
            row = {"task_id": t, "state": self.state(t)}
            if task is not None:
                history = self.versions.get(task["function_id"], [])
                at = next((v for v in history if v["version"] == task["function_version"]),
                          history[-1] if history else None)
                row.update(function_id=task["function_id"],
                           function_version=at["version"] if at else "",
                           commit=at["commit"] if at else "", serializer=task["serializer"],
                           py_version=task["py_version"], endpoint_id=task["endpoint_id"],
                           host="fakehost", worker_pid=4242, worker_runtime="python fake",
                           attempt=1, times=[1_700_000_000_000_000 + i for i in range(10)])
            rows.append(row)
        self.server.send(rid, "PROVENANCE_REPLY", seq, {"tasks": rows})

    def _on_register_endpoint(self, rid, seq, fields):
        self.server.send(rid, "ENDPOINT_REGISTERED", seq, {"endpoint_id": fields["endpoint_id"]})

    def release_submits(self):
        """Answer the SUBMITs held back (from the loop's thread)."""
        self.hold_submitted = False
        self._release = True

    def _on_submit(self, rid, seq, fields):
        if self.hold_submitted:
            self.held_submits.append((rid, seq, fields))
            return
        if self.reject_submit:
            code, text = self.reject_submit
            self.server.send(rid, "ERROR", seq, {"code": code, "text": text})
            return
        new = []
        for t in fields["tasks"]:
            if t["task_id"] in self.tasks:
                continue          # idempotent resend
            self.tasks[t["task_id"]] = t
            self.owner[t["task_id"]] = self.sessions[rid]
            if self.dispatch:
                self.dispatched.add(t["task_id"])
            new.append(t)
        self.server.send(rid, "SUBMITTED", seq, {"accepted": len(fields["tasks"])})
        if self.execute and new:
            results = [self._execute(t) for t in new]
            for r in results:
                self.results[r["task_id"]] = r
            self.push(rid, results)

    def _execute(self, task):
        fn = self.functions.get(task["function_id"])
        if fn is not None and task.get("function_version"):
            at = next((v for v in self.versions[task["function_id"]]
                       if v["version"] == task["function_version"]), None)
            fn = at and at["fields"]
        fmt = payload_format(task["serializer"])
        if fn is None:
            status, code, text, value, output = (_fx.RESULT_ERROR, _fx.E_NOT_FOUND,
                                                 "function not registered", b"", b"")
        elif fn["kind"] == _fx.FN_SHELL:
            status, code, text, value, output = run_shell_task(fn["body"].decode(),
                                                               task["payload"], fmt)
        else:
            status, code, text, value, output = run_python_task(
                self._loaded_function(blob_id(fn["body"]), fn), task["payload"], fmt)
        return {"task_id": task["task_id"], "status": status, "error_code": code,
                "error_text": text, "value": value, "output": output}

    def _loaded_function(self, version, fn):
        """The function, loaded once per version (a worker keeps it
        warm): executing a big batch must not keep the loop from answering
        heartbeats for long."""
        loaded = self._loaded.get(version)
        if loaded is None:
            try:
                loaded = load_python_function(fn["body"], fn["entry"],
                                              fn.get("serializer") or "source")
            except Exception as exc:
                def loaded(*_args, _exc=exc, **_kwargs):
                    raise _exc
            self._loaded[version] = loaded
        return loaded

    def push(self, rid, results, seq=0):
        """RESULTS, in as many messages as FX_BATCH_MAX needs."""
        for i in range(0, max(1, len(results)), _fx.BATCH_MAX):
            self.server.send(rid, "RESULTS", seq, {"results": results[i:i + _fx.BATCH_MAX]})

    def _on_results_ack(self, rid, seq, fields):
        with self.lock:
            self.acked.extend(fields["task_ids"])

    def _on_fetch(self, rid, seq, fields):
        found = [self.results[t] for t in fields["task_ids"] if t in self.results]
        self.push(rid, found, seq)

    def state(self, t):
        if t in self.results:
            if self.results[t]["status"] == _fx.RESULT_ERROR:
                return _fx.TASK_FAILED
            return _fx.TASK_DELIVERED if t in self.acked else _fx.TASK_DONE
        if t in self.dispatched:
            return _fx.TASK_DISPATCHED
        return _fx.TASK_QUEUED if t in self.tasks else _fx.TASK_UNKNOWN

    def _status_rows(self, ids):
        return [{"task_id": t, "state": self.state(t),
                 "endpoint_id": self.tasks[t]["endpoint_id"] if t in self.tasks else "",
                 "attempts": 1} for t in ids]

    def _on_status(self, rid, seq, fields):
        self.server.send(rid, "STATUS_REPLY", seq, {"tasks": self._status_rows(fields["task_ids"])})

    @staticmethod
    def cancelled_result(task_id, text):
        return {"task_id": task_id, "status": _fx.RESULT_ERROR, "error_code": _fx.E_CANCELLED,
                "error_text": text, "value": b"", "output": b""}

    def _on_cancel(self, rid, seq, fields):
        """What the broker does: a QUEUED task ends now (FAILED, result
        pushed); a DISPATCHED one is killed at the endpoint unless
        queued_only (its result comes later: here, right after the reply);
        anything else is left alone."""
        if self.cancel_silent:
            return
        push = []
        for t in fields["task_ids"]:
            state = self.state(t)
            if state == _fx.TASK_QUEUED:
                self.results[t] = self.cancelled_result(t, "cancelled before it ran")
                push.append(self.results[t])
        rows = self._status_rows(fields["task_ids"])
        later = []
        if not fields["queued_only"]:
            for t in fields["task_ids"]:
                if t in self.dispatched and t not in self.results:
                    self.results[t] = self.cancelled_result(
                        t, "cancelled while running on worker pid 4242")
                    later.append(self.results[t])
        owner_rid = rid
        if push and self.cancel_push_first:
            self.push(owner_rid, push)
        self.server.send(rid, "STATUS_REPLY", seq, {"tasks": rows})
        if push and not self.cancel_push_first:
            self.push(owner_rid, push)
        if later:
            self.push(owner_rid, later)

    def _on_list(self, rid, seq, fields):
        if fields["what"] == _fx.LIST_TASKS:   # a page below "before" (SPEC 5.16); no filtering here
            rows = [r for r in self.task_rows
                    if not fields["before"] or int(r["cursor"]) < fields["before"]]
            cols = ["id", "state", "cursor"]
            self.server.send(rid, "LIST_REPLY", seq, {"columns": cols, "rows": [
                [r[c] for c in cols] for r in rows[:fields["limit"] or _fx.LIST_ROWS_MAX]]})
            return
        if fields["what"] == 4:
            cols = ["id", "name", "runtime", "image", "description"]
            self.server.send(rid, "LIST_REPLY", seq, {"columns": cols, "rows": [
                [c["container_id"], c["name"], c["runtime"], c["image"], c["description"] or ""]
                for c in self.containers.values()]})
            return
        self.server.send(rid, "LIST_REPLY", seq, {
            "columns": ["endpoint_id", "name", "state"],
            "rows": [[ENDPOINT, "laptop", "online"]]})


ENDPOINT = "0b7f5d3e-1111-4a2b-9c3d-123456789abc"


@pytest.fixture
def broker():
    b = FakeBroker()
    yield b
    b.close()


@pytest.fixture
def client(broker):
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    yield c
    c.close()
