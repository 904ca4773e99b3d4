"""Shared fixtures: keys, credentials, and FakeBroker, a scripted broker
built on _fxtest.TestServer (a real CurveZMQ ROUTER speaking the real codec)
that also plays the endpoint: it runs submitted Python functions in-process
the way a worker does, and pushes their results.

Waits are event waits with deadlines (wait_for), never bare sleeps."""
import collections
import contextlib
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


def run_python_task(body, entry, payload):
    """What a worker does with one Python task: (status, code, text, value, output)."""
    out = io.StringIO()
    try:
        namespace = {}
        exec(compile(body, "<fx function>", "exec"), namespace)
        args, kwargs = pickle.loads(payload)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            value = namespace[entry](*args, **kwargs)
        return _fx.RESULT_OK, 0, None, pickle.dumps(value), out.getvalue().encode()
    except Exception as exc:
        tb = traceback.format_exc()
        try:
            value = pickle.dumps(exc)
        except Exception:
            value = b""
        output = out.getvalue() + fx.serialize.TRACEBACK_MARKER + "\n" + tb
        return (_fx.RESULT_EXCEPTION, 0, f"{type(exc).__name__}: {exc}", value,
                output.encode())


def run_shell_task(body, payload):
    args, kwargs = pickle.loads(payload)
    r = fx.ShellFunction(body)(*args, **kwargs)
    value = {"returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
    return _fx.RESULT_OK, 0, None, pickle.dumps(value), b""


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
        self.functions = {}
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
        self._stop.set()
        self._thread.join(timeout=5)
        self.server.close()

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
                    self._on_submit(rid, seq, fields)
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
            getattr(self, "_on_" + type_.lower(), self._on_other)(rid, seq, fields)

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
            self.server.send(rid, "RESULTS", 0, {"results": pending})

    def _on_heartbeat(self, rid, seq, fields):
        self.server.send(rid, "HEARTBEAT", seq, {})

    def _on_register_function(self, rid, seq, fields):
        self.functions[fields["function_id"]] = fields
        self.server.send(rid, "FUNCTION_REGISTERED", seq, {"function_id": fields["function_id"]})

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
            self.server.send(rid, "RESULTS", 0, {"results": results})

    def _execute(self, task):
        fn = self.functions.get(task["function_id"])
        if fn is None:
            status, code, text, value, output = (_fx.RESULT_ERROR, _fx.E_NOT_FOUND,
                                                 "function not registered", b"", b"")
        elif fn["kind"] == _fx.FN_SHELL:
            status, code, text, value, output = run_shell_task(fn["body"].decode(),
                                                               task["payload"])
        else:
            status, code, text, value, output = run_python_task(fn["body"].decode(), fn["entry"],
                                                                task["payload"])
        return {"task_id": task["task_id"], "status": status, "error_code": code,
                "error_text": text, "value": value, "output": output}

    def push(self, rid, results):
        self.server.send(rid, "RESULTS", 0, {"results": results})

    def _on_results_ack(self, rid, seq, fields):
        with self.lock:
            self.acked.extend(fields["task_ids"])

    def _on_fetch(self, rid, seq, fields):
        found = [self.results[t] for t in fields["task_ids"] if t in self.results]
        self.server.send(rid, "RESULTS", seq, {"results": found})

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
            self.server.send(owner_rid, "RESULTS", 0, {"results": push})
        self.server.send(rid, "STATUS_REPLY", seq, {"tasks": rows})
        if push and not self.cancel_push_first:
            self.server.send(owner_rid, "RESULTS", 0, {"results": push})
        if later:
            self.server.send(owner_rid, "RESULTS", 0, {"results": later})

    def _on_list(self, rid, seq, fields):
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
