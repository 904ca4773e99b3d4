"""fx.client: the Client, one session with an fx broker.

Threads: one background I/O thread owns the _fx.Connection (ZeroMQ sockets
are not thread-safe). Caller threads hand it work through a queue and a
wake-up pipe, and wait on futures. On every pass the I/O thread reads what
the broker sent, then drains the queue, packing all waiting tasks into as
few SUBMIT messages as the limits allow, then runs its timers (heartbeat,
liveness, FETCH retries).

Reliability: every request sent and not yet answered is kept by its seq. A
HEARTBEAT goes out every period; if nothing at all is heard for
`missed_beats` periods, or the broker answers FX_E_NO_SESSION, the I/O
thread opens a new socket, HELLOs again with the same client_id, resends
every unanswered request (SUBMITs carry the same task ids, so the broker
commits each task once). Results are pushed by the broker, and pushed again
after each HELLO until acknowledged; each RESULTS is acknowledged at once
and deduplicated by task id. Results of tasks another client submitted are
FETCHed, again every heartbeat period until they arrive.
"""
import ast
import atexit
import collections
import concurrent.futures
import inspect
import logging
import os
import pickle
import platform
import queue
import textwrap
import threading
import time
import weakref

from . import _fx
from .errors import (ClientClosed, ConnectionError, DeserializationError, Error,
                     PayloadTooLarge, ProtocolError, RequestError, TaskCancelled, TaskError,
                     TaskFailed, TimeoutError)
from .shell import ShellFunction, ShellResult

__all__ = ["Client", "Batch", "TaskFuture", "TASK_STATES", "default_credentials_path"]

log = logging.getLogger("fx")

TASK_STATES = {
    _fx.TASK_UNKNOWN: "UNKNOWN", _fx.TASK_QUEUED: "QUEUED",
    _fx.TASK_DISPATCHED: "DISPATCHED", _fx.TASK_DONE: "DONE",
    _fx.TASK_DELIVERED: "DELIVERED", _fx.TASK_FAILED: "FAILED",
}

# The line a worker writes between the captured output and the traceback.
TRACEBACK_MARKER = "--- remote traceback ---"

# Bytes of payload in one SUBMIT: FX_BATCH_MAX tasks of FX_PAYLOAD_MAX each
# would be 40 GiB in one message; this keeps one message a sane size while
# any single task, however large, still goes alone.
SUBMIT_BYTES_MAX = 64 * 1024 * 1024

_live_clients = weakref.WeakSet()


def default_credentials_path():
    """$FX_CREDS, else ~/.fx/credentials."""
    return os.environ.get("FX_CREDS") or os.path.expanduser("~/.fx/credentials")


def _walltime_ms(walltime):
    """Seconds (int or float, None = not given) -> milliseconds for the wire
    (0 = no limit). ValueError naming the limit otherwise."""
    if walltime is None:
        return None
    if isinstance(walltime, bool) or not isinstance(walltime, (int, float)):
        raise TypeError(f"walltime must be a number of seconds, not {type(walltime).__name__}")
    if not 0 <= walltime < float("inf"):
        raise ValueError(f"walltime must be 0 (no limit) or a positive number of seconds, "
                         f"not {walltime!r}")
    ms = int(round(walltime * 1000))
    if walltime > 0 and ms == 0:
        ms = 1
    if ms > 0xFFFFFFFF:
        raise ValueError(f"walltime {walltime!r} s is over the protocol's limit of "
                         f"{0xFFFFFFFF // 1000} s")
    return ms


def _retries(retries):
    """Worker deaths a task survives (None = not given); ValueError naming
    FX_RETRIES_MAX otherwise."""
    if retries is None:
        return None
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise TypeError(f"retries must be an int, not {type(retries).__name__}")
    if not 0 <= retries <= _fx.RETRIES_MAX:
        raise ValueError(f"retries must be 0..{_fx.RETRIES_MAX} (FX_RETRIES_MAX), not {retries}")
    return retries


class _Task:
    """One task on its way: what goes into SUBMIT, and who waits for it.
    walltime_ms and retries may stay None until sent: run_batch fills in
    its own options, then the function's walltime and FX_RETRIES_DEFAULT."""

    __slots__ = ("task_id", "endpoint_id", "function_id", "payload", "walltime_ms",
                 "retries", "fn_walltime_ms", "kind", "max_batch", "submitted", "future",
                 "py_version")

    def __init__(self, endpoint_id, function_id, payload, walltime_ms, kind, max_batch,
                 future=None, retries=None, fn_walltime_ms=0):
        self.task_id = _fx.new_id()
        self.py_version = platform.python_version()
        self.endpoint_id = endpoint_id
        self.function_id = function_id
        self.payload = payload
        self.walltime_ms = walltime_ms
        self.retries = retries
        self.fn_walltime_ms = fn_walltime_ms
        self.kind = kind
        self.max_batch = max_batch
        self.submitted = concurrent.futures.Future()  # result: True once committed
        self.future = future                          # an Executor's future, if any

    def defaults(self, walltime_ms=None, retries=None):
        """Fill the options not given per task."""
        if self.walltime_ms is None:
            self.walltime_ms = walltime_ms
        if self.retries is None:
            self.retries = retries

    def record(self):
        walltime_ms = self.fn_walltime_ms if self.walltime_ms is None else self.walltime_ms
        retries = _fx.RETRIES_DEFAULT if self.retries is None else self.retries
        return (self.task_id, self.endpoint_id, self.function_id, self.py_version, "pickle",
                walltime_ms, self.payload, retries)


class _Pending:
    """A request sent (or to send) and not yet answered, kept by seq."""

    __slots__ = ("type", "send", "on_reply", "future", "tasks", "sent")

    def __init__(self, type_, send, on_reply=None, future=None, tasks=None):
        self.type = type_          # message type name, for stats and errors
        self.send = send           # send(conn, seq) -> bool
        self.on_reply = on_reply   # on_reply(type, fields) -> value for the future
        self.future = future
        self.tasks = tasks
        self.sent = False


def _cancelled_result(task_id, text):
    """The error result of a task cancelled here, before the broker had it."""
    return {"task_id": task_id, "status": _fx.RESULT_ERROR, "error_code": _fx.E_CANCELLED,
            "error_name": _fx.errname(_fx.E_CANCELLED), "error_text": text,
            "value": b"", "output": b""}


def _settle(future, value=None, exc=None):
    """Resolve an Executor future unless something (cancel(), another
    result) got there first."""
    if future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
    except concurrent.futures.InvalidStateError:
        pass


class TaskFuture(concurrent.futures.Future):
    """An Executor's future for one fx task; .task_id is known at once.

    cancel() keeps concurrent.futures' meaning: True if the task will not
    run. A task not yet handed to the broker is cancelled locally. One
    already submitted is cancelled only if it is still queued at the broker
    (CANCEL with queued_only=1, waiting up to the client's cancel_timeout
    for the answer); once it reached an endpoint, cancel() returns False
    (use Client.cancel to stop a running task: the future then ends with
    fx.TaskCancelled). Called from the client's I/O thread (a done
    callback), cancel() cannot wait for the broker and returns False for a
    submitted task."""

    def __init__(self, client, task_id=None):
        super().__init__()
        self._fx_client = weakref.ref(client)
        self._fx_cancelling = False      # a queued_only CANCEL awaits its answer
        self.task_id = task_id

    def cancel(self):
        if super().cancel():             # not yet handed to the broker
            return True
        if self.done():
            return self.cancelled()
        client = self._fx_client()
        if client is None:
            return False
        return client._cancel_futures([self])[0]

    def _fx_mark_cancelled(self):
        """Cancel a future that is RUNNING (submitted): the broker said the
        task will not run. concurrent.futures has no public way to cancel
        a running future, so this does what cancel() plus
        set_running_or_notify_cancel() would. False if already done."""
        with self._condition:
            if self._state in (_FUTURE_FINISHED, _FUTURE_CANCELLED,
                               _FUTURE_CANCELLED_AND_NOTIFIED):
                return False
            self._state = _FUTURE_CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        return True


# The states of concurrent.futures.Future, by their (stable) names.
_FUTURE_CANCELLED = concurrent.futures._base.CANCELLED
_FUTURE_CANCELLED_AND_NOTIFIED = concurrent.futures._base.CANCELLED_AND_NOTIFIED
_FUTURE_FINISHED = concurrent.futures._base.FINISHED


class Batch:
    """Tasks to submit together: client.create_batch(), batch.add(...),
    client.run_batch(batch) -> task ids (one SUBMIT per FX_BATCH_MAX tasks).
    walltime (seconds) and retries: per task in add(), else the batch's,
    else run_batch's, else the function's walltime and FX_RETRIES_DEFAULT."""

    def __init__(self, client, endpoint_id=None, function_id=None, walltime=None,
                 retries=None):
        self._client = client
        self.endpoint_id = endpoint_id
        self.function_id = function_id
        self.walltime_ms = _walltime_ms(walltime)
        self.retries = _retries(retries)
        self.tasks = []

    def add(self, *args, endpoint_id=None, function_id=None, walltime=None, retries=None,
            **kwargs):
        endpoint_id = endpoint_id or self.endpoint_id
        function_id = function_id or self.function_id
        task = self._client._make_task(endpoint_id, function_id, args, kwargs,
                                       walltime=walltime, retries=retries)
        task.defaults(self.walltime_ms, self.retries)
        self.tasks.append(task)

    def __len__(self):
        return len(self.tasks)


def _function_source(fn):
    """Source text of a plain function, dedented, decorators dropped. A
    function without Python source (a builtin such as abs, or a C function
    such as math.sqrt) is sent by reference: an import of its module, which
    the endpoint's Python must then have."""
    if getattr(fn, "__name__", "") == "<lambda>":
        raise Error("cannot register a lambda: fx sends the function's source text, "
                    "so define it with def")
    owner = getattr(fn, "__self__", None)
    if inspect.isbuiltin(fn) and (owner is None or inspect.ismodule(owner)):
        module = getattr(fn, "__module__", None) or "builtins"
        name = getattr(fn, "__name__", "")
        if name.isidentifier() and all(p.isidentifier() for p in module.split(".")):
            return f"from {module} import {name}\n"
    if not inspect.isfunction(fn):
        raise Error(f"cannot register {fn!r}: fx registers plain Python functions "
                    "(def ...) or fx.ShellFunction")
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise Error(f"cannot read the source of {fn.__name__}: {exc} (functions typed "
                    "at an interactive prompt have no source file; put it in a file)") from exc
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.decorator_list:
                source = "".join(source.splitlines(True)[node.lineno - 1:])
            break
    return source


def _split_output(output):
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    printed, marker, tb = text.partition(TRACEBACK_MARKER)
    if not marker:
        return text, ""
    return printed.rstrip("\n") + ("\n" if printed.strip() else ""), tb.lstrip("\n")


def _augment(exc, task_id, tb):
    """Put the remote traceback into the exception's message, keep it as
    .remote_traceback."""
    note = f"\n\n{TRACEBACK_MARKER} (task {task_id})\n{tb.rstrip()}" if tb else ""
    if note:
        if len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (exc.args[0] + note,)
        else:
            exc.args = tuple(exc.args) + (note,)
    for name, value in (("remote_traceback", tb), ("task_id", task_id)):
        try:
            setattr(exc, name, value)
        except (AttributeError, TypeError):
            pass
    return exc


def unpack_result(raw, kind=None):
    """(value, None) or (None, exception) for a raw result record
    (a dict from the RESULTS message)."""
    task_id = raw["task_id"]
    status = raw["status"]
    if status == _fx.RESULT_OK:
        try:
            value = pickle.loads(raw["value"])
        except Exception as exc:
            return None, DeserializationError(
                f"cannot unpickle the result of task {task_id} here: "
                f"{type(exc).__name__}: {exc}")
        # A shell function's value is a dict; of a task not submitted here the
        # kind is unknown, so the dict's exact shape decides.
        if isinstance(value, dict) and (
                (kind == _fx.FN_SHELL and "returncode" in value)
                or (kind is None and set(value) == {"returncode", "stdout", "stderr"})):
            value = ShellResult(value.get("returncode", -1), value.get("stdout", ""),
                                value.get("stderr", ""))
        return value, None
    if status == _fx.RESULT_EXCEPTION:
        _, tb = _split_output(raw["output"])
        error_text = raw.get("error_text") or "remote exception"
        exc = None
        if raw["value"]:
            try:
                exc = pickle.loads(raw["value"])
            except Exception:
                exc = None
        if isinstance(exc, BaseException):
            return None, _augment(exc, task_id, tb)
        message = f"task {task_id} raised {error_text}"
        if tb:
            message += f"\n\n{TRACEBACK_MARKER}\n{tb.rstrip()}"
        return None, TaskFailed(message, task_id=task_id, error_text=error_text,
                                remote_traceback=tb)
    name = raw.get("error_name") or _fx.errname(raw.get("error_code", 0))
    text = raw.get("error_text") or _fx.strerror(raw.get("error_code", 0))
    if raw.get("error_code") == _fx.E_CANCELLED:
        # the endpoint's text names the task already ("task T cancelled while ...")
        message = text if task_id in text else f"task {task_id} cancelled: {text}"
        return None, TaskCancelled(message, task_id=task_id,
                                   code=_fx.E_CANCELLED, name=name, text=text)
    return None, TaskError(f"task {task_id} failed: {name}: {text}", task_id=task_id,
                           code=raw.get("error_code", 0), name=name, text=text)


class Client:
    """A session with an fx broker.

    Client(credentials=PATH) reads the credentials file written by
    `fx user create` (or takes a dict with the same keys), connects, and
    HELLOs. If the broker does not answer within hello_timeout seconds,
    raises fx.ConnectionError (a key the broker does not know gets no
    answer at all: CurveZMQ denies the handshake silently).

    heartbeat (s) is the beat period until the broker's WELCOME names its
    own; the broker is given up on (and the session reopened) after
    missed_beats silent periods (FX_HEARTBEAT_MISSED_DEFAULT).
    cancel_timeout bounds how long Future.cancel() waits for the broker.
    """

    def __init__(self, credentials=None, *, hello_timeout=10.0, request_timeout=60.0,
                 heartbeat=_fx.HEARTBEAT_MS_DEFAULT / 1000.0,
                 missed_beats=_fx.HEARTBEAT_MISSED_DEFAULT, cancel_timeout=10.0, timeout=None):
        if timeout is not None:          # the short name: how long to wait for the broker
            hello_timeout = timeout
        if credentials is None:
            credentials = default_credentials_path()
        if isinstance(credentials, (str, os.PathLike)):
            creds = _fx.load_credentials(credentials)
        else:
            creds = dict(credentials)
        self.address = creds["broker_client"]
        self.user_id = creds.get("user_id", "")
        self.client_id = _fx.new_id()
        self.request_timeout = request_timeout
        self.cancel_timeout = cancel_timeout
        self._heartbeat_s = heartbeat
        self._missed_beats = missed_beats
        try:
            self._conn = _fx.Connection(self.address, creds["broker_public_key"],
                                        creds["public_key"], creds["secret_key"])
        except Error as exc:
            raise ConnectionError(str(exc)) from None

        self._inbox = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._wake_flag = False
        self._wake_lock = threading.Lock()   # guards the pipe's write end and _io_done
        self._io_done = False                # the I/O thread has stopped

        self._lock = threading.Lock()        # guards the four below
        self._results = {}                   # task_id -> raw result dict
        self._waiters = {}                   # task_id -> [Future of raw result]
        self._kinds = {}                     # task_id -> fn kind, for tasks we submitted
        self._fetching = set()               # task ids not ours that someone waits for
        self._fn_lock = threading.Lock()
        self._cancel_lock = threading.Lock()  # guards TaskFuture._fx_cancelling
        self._fn_cache = weakref.WeakKeyDictionary()   # function object -> function_id
        self._fn_info = {}                   # function_id -> (kind, walltime_ms)

        self._stats = collections.Counter()
        self._received = collections.Counter()
        self._raw_counts = collections.Counter()   # task_id -> result records received
        self._closing = False
        self._closed = False
        self._fatal = None
        self._welcome = concurrent.futures.Future()
        self.server_version = ""

        # I/O-thread state.
        self._seq = 0
        self._pending = {}                   # seq -> _Pending
        self._in_session = False
        self._hello_seq = None
        self._awaiting = {}                  # own task_id -> _Task, submitted, no result yet
        self._welcomed_before = False        # FETCH own results after a re-HELLO only
        self._held = []                      # tasks queued, not yet in a SUBMIT

        self._thread = threading.Thread(target=self._io_main, name=f"fx-io-{self.client_id[:8]}",
                                        daemon=True)
        self._thread.start()
        _live_clients.add(self)
        try:
            self._welcome.result(timeout=hello_timeout)
        except concurrent.futures.TimeoutError:
            self.close()
            raise ConnectionError(
                f"broker at {self.address} did not answer: is it running, and is your key "
                f"registered (fx user create)?") from None
        except Error:
            self.close()
            raise

    # ---- public API -----------------------------------------------------

    @property
    def stats(self):
        """Messages sent, by type name: {"SUBMIT": 3, "HEARTBEAT": 12, ...}."""
        return dict(self._stats)

    @property
    def raw_result_counts(self):
        """How many result records arrived per task id, duplicates included
        (the application sees each result once whatever these say)."""
        return dict(self._raw_counts)

    @property
    def stats_received(self):
        """Messages received, by type name."""
        return dict(self._received)

    def register_function(self, function, name=None):
        """Register a Python function (source text + entry name) or an
        fx.ShellFunction; returns its function id. Registered once per
        function object per client."""
        with self._fn_lock:
            try:
                cached = self._fn_cache.get(function)
            except TypeError:
                cached = None
            if cached is not None:
                return cached
            if isinstance(function, ShellFunction):
                kind, entry = _fx.FN_SHELL, ""
                body = function.cmd.encode()
                fname = name or function.name
                walltime_ms = int((function.walltime or 0) * 1000)
            else:
                kind = _fx.FN_PYTHON
                body = _function_source(function).encode()
                entry = function.__name__
                fname = name or function.__qualname__
                walltime_ms = 0
            fname = fname[:_fx.NAME_MAX]
            if len(entry.encode()) > _fx.NAME_MAX:
                raise Error(f"function name {entry[:40]}... is longer than {_fx.NAME_MAX} bytes")
            if len(body) > _fx.PAYLOAD_MAX:
                raise PayloadTooLarge(f"function body is {len(body)} bytes; the limit "
                                      f"(FX_PAYLOAD_MAX) is {_fx.PAYLOAD_MAX} bytes",
                                      len(body), _fx.PAYLOAD_MAX)
            function_id = _fx.new_id()

            def send(conn, seq):
                return conn.register_function(seq, function_id, fname, kind, entry, body)

            def on_reply(type_, fields):
                return fields.get("function_id") or function_id

            fid = self._request("REGISTER_FUNCTION", send, on_reply)
            self._fn_info[fid] = (kind, walltime_ms)
            try:
                self._fn_cache[function] = fid
            except TypeError:
                pass
            return fid

    def register_endpoint(self, name, public_key, endpoint_id=None):
        """Register an endpoint (its name and CurveZMQ public key); returns its id."""
        endpoint_id = endpoint_id or _fx.new_id()

        def send(conn, seq):
            return conn.register_endpoint(seq, endpoint_id, name, public_key)

        return self._request("REGISTER_ENDPOINT", send,
                             lambda t, f: f.get("endpoint_id") or endpoint_id)

    def run(self, *args, endpoint_id=None, function_id=None, walltime=None, retries=None,
            **kwargs):
        """Submit one task; returns its id once the broker has committed it.
        walltime: seconds the task may run (None: the function's own, else
        no limit); retries: worker deaths it survives (None:
        FX_RETRIES_DEFAULT). These names (and endpoint_id, function_id) are
        not passed on to the function."""
        task = self._make_task(endpoint_id, function_id, args, kwargs, walltime=walltime,
                               retries=retries)
        self._submit([task], wait=True)
        return task.task_id

    def create_batch(self, endpoint_id=None, function_id=None, walltime=None, retries=None):
        """A Batch to fill with batch.add(*args, **kwargs) and pass to run_batch."""
        return Batch(self, endpoint_id, function_id, walltime, retries)

    def run_batch(self, batch, endpoint_id=None, function_id=None, walltime=None,
                  retries=None):
        """Submit many tasks in as few SUBMIT messages as possible; returns
        their ids (in order) once all are committed. batch is a Batch, or an
        iterable of (args, kwargs) pairs run with endpoint_id/function_id.
        walltime (seconds) and retries apply to the tasks that did not set
        their own (in Batch.add or create_batch)."""
        walltime_ms, retries = _walltime_ms(walltime), _retries(retries)
        if isinstance(batch, Batch):
            tasks = list(batch.tasks)
            for t in tasks:
                t.defaults(walltime_ms, retries)
        else:
            tasks = [self._make_task(endpoint_id, function_id, tuple(a), dict(k or {}),
                                     walltime=walltime, retries=retries)
                     for a, k in batch]
        if tasks:
            self._submit(tasks, wait=True)
        return [t.task_id for t in tasks]

    batch_run = run_batch

    def get_result(self, task_id, timeout=None):
        """The task's return value. Re-raises the remote exception (with the
        remote traceback in its message and as .remote_traceback), or raises
        fx.TaskFailed if it cannot be rebuilt here, fx.TaskError if fx could
        not run the task, fx.TimeoutError after timeout seconds."""
        raw = self._wait_raw(task_id, timeout)
        value, exc = unpack_result(raw, self._kind_of(task_id))
        if exc is not None:
            raise exc
        return value

    def get_output(self, task_id, timeout=None):
        """What the task printed (stdout and stderr), without the traceback."""
        raw = self._wait_raw(task_id, timeout)
        printed, _ = _split_output(raw["output"])
        return printed

    def get_remote_traceback(self, task_id, timeout=None):
        """The remote traceback text of a task that raised, else ''."""
        raw = self._wait_raw(task_id, timeout)
        return _split_output(raw["output"])[1]

    def status(self, task_ids):
        """Task states from the broker. For one id (str): a dict
        {"task_id", "state" ("QUEUED", ...), "state_code", "endpoint_id",
        "attempts"}; for a list: {task_id: that dict}."""
        single = isinstance(task_ids, str)
        ids = [task_ids] if single else list(task_ids)
        out = {}
        for i in range(0, len(ids), _fx.IDS_MAX):
            chunk = ids[i:i + _fx.IDS_MAX]

            def send(conn, seq, chunk=chunk):
                return conn.status(seq, chunk)

            rows = self._request("STATUS", send, lambda t, f: f.get("tasks", []))
            for row in rows:
                out[row["task_id"]] = {
                    "task_id": row["task_id"],
                    "state": TASK_STATES.get(row["state"], str(row["state"])),
                    "state_code": row["state"],
                    "endpoint_id": row["endpoint_id"],
                    "attempts": row["attempts"],
                }
        if single:
            return out.get(task_ids, {"task_id": task_ids, "state": "UNKNOWN",
                                      "state_code": _fx.TASK_UNKNOWN, "endpoint_id": "",
                                      "attempts": 0})
        return out

    def cancel(self, task_ids):
        """Cancel tasks (one id or a list); returns {task_id: state name}
        as the broker has it after the cancel. A task still queued at the
        broker ends at once ("FAILED"; its result is the error
        FX_E_CANCELLED, "cancelled before it ran"); a running one is killed
        on its worker and its result comes back the same way a little
        later (state still "DISPATCHED" here); a finished one is left as it
        is. A cancelled task's get_result raises fx.TaskCancelled, and an
        Executor future ends with that exception. A task submitted here but
        not yet sent is dropped locally ("FAILED")."""
        ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        for t in ids:
            if not isinstance(t, str) or not _fx.id_valid(t):
                raise ValueError(f"task id {t!r} is not a canonical UUID")
        self._check_usable()
        self._check_not_io_thread("Client.cancel")
        out = {}
        for i in range(0, len(ids), _fx.IDS_MAX):
            chunk = ids[i:i + _fx.IDS_MAX]
            future = concurrent.futures.Future()
            self._post(("cancel", chunk, False, future, None))
            rows = self._wait(future, f"CANCEL of {len(chunk)} task(s)")
            for row in rows:
                out[row["task_id"]] = TASK_STATES.get(row["state"], str(row["state"]))
        for t in ids:
            out.setdefault(t, "UNKNOWN")
        return out

    def list_endpoints(self, limit=0):
        """The user's endpoints, as a list of dicts (columns as the broker names them)."""
        return self._list("endpoints", limit)

    def list_functions(self, limit=0):
        return self._list("functions", limit)

    def list_tasks(self, limit=0):
        return self._list("tasks", limit)

    def close(self):
        """Stop the I/O thread and close the socket. Waiting calls raise
        fx.ClientClosed. Safe to call twice."""
        if self._closed:
            return
        self._closing = True
        self._post(("close",))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=10)
        self._closed = True
        _live_clients.discard(self)

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<fx.Client {self.address} client_id={self.client_id}>"

    # ---- helpers for caller threads ---------------------------------------

    def _check_usable(self):
        if self._fatal is not None:
            raise self._fatal
        if self._closing or self._closed:
            raise ClientClosed("the fx client is closed")

    def _post(self, item):
        """Hand work to the I/O thread and wake it. Once that thread has
        stopped, whoever waits on the item hears so at once."""
        with self._wake_lock:
            if self._io_done:
                self._fail_item(item, self._fatal or ClientClosed("the fx client is closed"))
                return
            self._inbox.put(item)
            if not self._wake_flag:
                self._wake_flag = True
                try:
                    os.write(self._wake_w, b"x")
                except OSError:
                    pass

    def _check_not_io_thread(self, what):
        if threading.current_thread() is self._thread:
            raise Error(f"{what} cannot wait for the broker from a done callback (it runs on "
                        f"the client's I/O thread, which brings the answer): call it from "
                        f"another thread")

    def _request(self, type_, send, on_reply):
        """Send one request through the I/O thread and wait for its answer."""
        self._check_usable()
        self._check_not_io_thread(type_)
        future = concurrent.futures.Future()
        pending = _Pending(type_, send, on_reply, future)
        self._post(("request", pending))
        return self._wait(future, f"{type_} request")

    def _wait(self, future, what, timeout=-1):
        timeout = self.request_timeout if timeout == -1 else timeout
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{what}: no answer from the broker at {self.address} "
                               f"within {timeout} s") from None

    def _make_task(self, endpoint_id, function_id, args, kwargs, future=None, max_batch=None,
                   walltime=None, retries=None):
        self._check_usable()
        walltime_ms, retries = _walltime_ms(walltime), _retries(retries)
        if endpoint_id is None:
            raise ValueError("endpoint_id is required (the id `fx-endpoint` printed)")
        if not _fx.id_valid(endpoint_id):
            raise ValueError(f"endpoint_id {endpoint_id!r} is not a canonical UUID")
        if function_id is None:
            raise ValueError("function_id is required (from register_function)")
        if callable(function_id) or isinstance(function_id, ShellFunction):
            function_id = self.register_function(function_id)
        if not _fx.id_valid(function_id):
            raise ValueError(f"function_id {function_id!r} is not a canonical UUID")
        payload = pickle.dumps((tuple(args), dict(kwargs)))
        if len(payload) > _fx.PAYLOAD_MAX:
            raise PayloadTooLarge(
                f"task arguments pickle to {len(payload)} bytes; the limit (FX_PAYLOAD_MAX) "
                f"is {_fx.PAYLOAD_MAX} bytes: pass large data by reference (a file path or "
                f"URL), not by value", len(payload), _fx.PAYLOAD_MAX)
        kind, fn_walltime_ms = self._fn_info.get(function_id, (_fx.FN_PYTHON, 0))
        return _Task(endpoint_id, function_id, payload, walltime_ms, kind,
                     max_batch or _fx.BATCH_MAX, future, retries, fn_walltime_ms)

    def _submit(self, tasks, wait):
        with self._lock:
            for t in tasks:
                self._kinds[t.task_id] = t.kind
        self._post(("submit", tasks))
        if not wait:
            return
        deadline = None if self.request_timeout is None else time.monotonic() + self.request_timeout
        for t in tasks:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            self._wait(t.submitted, f"SUBMIT of task {t.task_id}", left)

    def _cancel_futures(self, futures):
        """TaskFuture.cancel() for many futures, with one CANCEL
        (queued_only=1) per IDS_MAX ids for those already submitted; waits
        up to cancel_timeout for the broker. [future.cancelled()...]"""
        remote = [f for f in futures
                  if not concurrent.futures.Future.cancel(f) and not f.done()]
        usable = not (self._closing or self._closed or self._fatal is not None)
        if remote and usable and threading.current_thread() is not self._thread:
            with self._cancel_lock:
                for f in remote:
                    f._fx_cancelling = True
            by_id = {f.task_id: f for f in remote}
            ids = list(by_id)
            waits = []
            for i in range(0, len(ids), _fx.IDS_MAX):
                chunk = ids[i:i + _fx.IDS_MAX]
                w = concurrent.futures.Future()
                self._post(("cancel", chunk, True, w, {t: by_id[t] for t in chunk}))
                waits.append(w)
            deadline = time.monotonic() + (self.cancel_timeout or 0)
            for w in waits:
                try:
                    w.result(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:     # no answer in time, refused, closed: not cancelled
                    pass
            with self._cancel_lock:
                for f in remote:
                    f._fx_cancelling = False
        return [f.cancelled() for f in futures]

    def _kind_of(self, task_id):
        with self._lock:
            return self._kinds.get(task_id)

    def _wait_raw(self, task_id, timeout):
        if not isinstance(task_id, str):
            raise TypeError("task_id must be a str")
        with self._lock:
            raw = self._results.get(task_id)
            if raw is not None:
                return raw
            if self._fatal is not None:
                raise self._fatal
            if self._closing or self._closed:
                raise ClientClosed("the fx client is closed")
            future = concurrent.futures.Future()
            self._waiters.setdefault(task_id, []).append(future)
            foreign = task_id not in self._kinds
            if foreign:
                self._fetching.add(task_id)
        if foreign:
            self._post(("fetch", [task_id]))
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            with self._lock:
                waiters = self._waiters.get(task_id, [])
                if future in waiters:
                    waiters.remove(future)
                if not waiters:
                    self._waiters.pop(task_id, None)
                    self._fetching.discard(task_id)
            raise TimeoutError(f"no result for task {task_id} within {timeout} s") from None

    def _list(self, what, limit):
        limit = max(0, min(int(limit), _fx.LIST_ROWS_MAX))
        def send(conn, seq):
            return conn.list(seq, what, limit)

        table = self._request("LIST", send, lambda t, f: f)
        cols = table.get("columns", [])
        return [dict(zip(cols, row)) for row in table.get("rows", [])]

    # ---- the I/O thread ----------------------------------------------------

    def _next_seq(self):
        self._seq = (self._seq % 0xFFFFFFFF) + 1
        return self._seq

    def _count(self, type_, sent):
        if sent:
            self._stats[type_] += 1
        return sent

    def _io_main(self):
        try:
            self._io_loop()
        except BaseException as exc:   # never die silently
            log.exception("fx client I/O thread stopped")
            self._fatal = ClientClosed(f"the fx client's I/O thread stopped: "
                                       f"{type(exc).__name__}: {exc}")
        finally:
            self._shutdown_io()

    def _io_loop(self):
        period = self._heartbeat_s
        self._send_hello()
        now = time.monotonic()
        self._last_recv = now
        next_beat = now + period
        while True:
            now = time.monotonic()
            wait = max(0.0, min(next_beat, self._last_recv + self._missed_beats * period) - now)
            try:
                msg = self._conn.recv(int(wait * 1000) + 1, self._wake_r)
            except ProtocolError as exc:
                log.warning("fx: dropped a message from the broker that did not decode: %s", exc)
                msg = None
            # Everything already queued on the socket, without blocking.
            budget = 10000
            while msg is not None and budget > 0:
                self._last_recv = time.monotonic()
                self._handle(*msg)
                budget -= 1
                try:
                    msg = self._conn.recv(0)
                except ProtocolError as exc:
                    log.warning("fx: dropped a message that did not decode: %s", exc)
                    msg = None
            if self._fatal is not None:
                return
            self._wake_flag = False
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except (BlockingIOError, OSError):
                pass
            if self._drain_inbox():
                return
            period = self._heartbeat_s
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + period
                if self._in_session:
                    self._count("HEARTBEAT", self._conn.heartbeat(self._next_seq()))
                    self._fetch_foreign()
            if now - self._last_recv > self._missed_beats * period:
                log.info("fx: nothing heard from %s for %.1f s; reconnecting", self.address,
                         now - self._last_recv)
                self._reconnect()

    def _drain_inbox(self):
        """Take every queued command. True if the client is closing."""
        closing = False
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            kind = item[0]
            if kind == "submit":
                self._held.extend(item[1])
            elif kind == "request":
                self._add_pending(item[1])
            elif kind == "fetch":
                if self._in_session:
                    self._send_fetch(item[1])
            elif kind == "cancel":
                self._start_cancel(*item[1:])
            elif kind == "close":
                closing = True
        self._flush_held()
        return closing

    def _flush_held(self):
        """Send the tasks held back, as few SUBMITs as the limits allow.
        While a SUBMIT is unanswered, new tasks wait for its SUBMITTED
        (one round trip at most) and then go together: a loop of
        Executor.submit calls becomes a handful of messages, whatever the
        thread scheduling."""
        if not self._held or not self._in_session:
            return
        if any(p.type == "SUBMIT" for p in self._pending.values()):
            return
        tasks, self._held = self._held, []
        self._send_tasks(tasks)

    def _add_pending(self, pending):
        seq = self._next_seq()
        self._pending[seq] = pending
        if self._in_session:
            self._send_pending(seq, pending)

    def _send_pending(self, seq, pending):
        try:
            pending.sent = self._count(pending.type, pending.send(self._conn, seq))
        except Exception as exc:   # a field over a limit: the caller's mistake
            self._pending.pop(seq, None)
            self._fail_pending(pending, exc if isinstance(exc, Error)
                               else Error(f"cannot send {pending.type}: {exc}"))

    def _send_tasks(self, tasks):
        batch, size, cap = [], 0, _fx.BATCH_MAX
        for task in tasks:
            if task.future is not None and not task.future.set_running_or_notify_cancel():
                self._store_local_result(_cancelled_result(
                    task.task_id, "cancelled before it was sent to the broker"))
                if not task.submitted.done():
                    task.submitted.set_result(True)
                continue
            limit = min(cap, task.max_batch)
            if batch and (len(batch) >= limit or size + len(task.payload) > SUBMIT_BYTES_MAX):
                self._send_submit(batch)
                batch, size, cap = [], 0, _fx.BATCH_MAX
                limit = task.max_batch
            batch.append(task)
            size += len(task.payload)
            cap = min(cap, task.max_batch)
        if batch:
            self._send_submit(batch)

    def _send_submit(self, batch):
        records = [t.record() for t in batch]

        def send(conn, seq):
            return conn.submit(seq, records)

        def on_reply(type_, fields):
            for t in batch:
                self._awaiting[t.task_id] = t
                if not t.submitted.done():
                    t.submitted.set_result(True)
            return len(batch)

        self._add_pending(_Pending("SUBMIT", send, on_reply, None, batch))

    def _start_cancel(self, ids, queued_only, future, futures):
        """CANCEL ids (I/O thread). Tasks still held here never reach the
        broker: they end locally. futures: {task_id: TaskFuture} whose
        cancel() waits for this answer (queued_only), else None."""
        wanted = set(ids)
        local = [t for t in self._held if t.task_id in wanted]
        rows = []
        if local:
            self._held = [t for t in self._held if t.task_id not in wanted]
            for t in local:
                if t.future is not None:
                    concurrent.futures.Future.cancel(t.future)
                    try:
                        t.future.set_running_or_notify_cancel()   # wakes wait()/as_completed()
                    except RuntimeError:
                        pass
                self._store_local_result(_cancelled_result(
                    t.task_id, "cancelled before it was sent to the broker"))
                if not t.submitted.done():
                    t.submitted.set_result(True)
                rows.append({"task_id": t.task_id, "state": _fx.TASK_FAILED,
                             "endpoint_id": t.endpoint_id, "attempts": 0})
            wanted -= {t.task_id for t in local}
        rest = [t for t in ids if t in wanted]
        if not rest:
            if not future.done():
                future.set_result(rows)
            return

        def send(conn, seq):
            return conn.cancel(seq, rest, queued_only)

        def on_reply(type_, fields):
            if type_ != "STATUS_REPLY":
                raise ProtocolError(f"the broker answered CANCEL with {type_}, "
                                    f"not STATUS_REPLY")
            got = fields.get("tasks", [])
            for row in got:
                f = (futures or {}).get(row["task_id"])
                if f is not None and row["state"] == _fx.TASK_FAILED:
                    self._cancel_running_future(f)     # cancelled before it ran
            return rows + got

        self._add_pending(_Pending("CANCEL", send, on_reply, future))

    def _cancel_running_future(self, future):
        """Mark a submitted TaskFuture cancelled if its cancel() still
        waits for the broker (I/O thread). True if marked."""
        with self._cancel_lock:
            if not getattr(future, "_fx_cancelling", False):
                return False
            marked = future._fx_mark_cancelled()
        if marked:
            future._invoke_callbacks()
        return marked

    def _store_local_result(self, raw):
        """A result made here (a task cancelled before it was sent):
        get_result and its waiters see it as if the broker had sent it."""
        task_id = raw["task_id"]
        with self._lock:
            if task_id in self._results:
                return
            self._results[task_id] = raw
            waiters = self._waiters.pop(task_id, [])
            self._fetching.discard(task_id)
        self._awaiting.pop(task_id, None)
        for w in waiters:
            _settle(w, raw)

    def _send_fetch(self, ids):
        for i in range(0, len(ids), _fx.IDS_MAX):
            chunk = list(ids[i:i + _fx.IDS_MAX])
            seq = self._next_seq()
            self._count("FETCH", self._conn.fetch(seq, chunk))

    def _fetch_foreign(self):
        """Ask again for results someone waits for that the broker does not push to us."""
        with self._lock:
            ids = [t for t in self._fetching if t in self._waiters and t not in self._results]
            self._fetching = set(ids)
        if ids:
            self._send_fetch(ids)

    def _send_hello(self):
        self._in_session = False
        self._hello_seq = self._next_seq()
        self._count("HELLO", self._conn.hello(self._hello_seq, self.client_id, _fx.VERSION,
                                              platform.python_version()))

    def _reconnect(self):
        self._conn.reconnect()
        for pending in self._pending.values():
            pending.sent = False
        self._last_recv = time.monotonic()
        self._send_hello()

    def _on_welcome(self, fields):
        self._in_session = True
        self.server_version = fields.get("server_version", "")
        beat_ms = fields.get("heartbeat_ms") or 0
        if beat_ms > 0:
            self._heartbeat_s = beat_ms / 1000.0
        # Resend, in order, everything not answered on the old socket.
        for seq in sorted(self._pending):
            pending = self._pending.get(seq)
            if pending is not None:
                self._send_pending(seq, pending)
        # The broker pushes each result once (it marks it pushed, durably,
        # before it sends), so a push lost with the old connection or with a
        # broker killed mid-send is not pushed again: after every HELLO but
        # the first, FETCH what we still wait for. The broker leaves out of
        # its FETCH reply what it pushed to this session meanwhile.
        if self._welcomed_before:
            with self._lock:
                own = [t for t in self._awaiting if t not in self._results]
            if own:
                self._send_fetch(own)
        self._welcomed_before = True
        self._fetch_foreign()
        if not self._welcome.done():
            self._welcome.set_result(fields)

    def _handle(self, type_, seq, fields):
        self._received[type_] += 1
        if type_ == "WELCOME":
            if seq == self._hello_seq or not self._in_session:
                self._on_welcome(fields)
            return
        if type_ == "RESULTS":
            self._on_results(seq, fields.get("results", []))
            pending = self._pending.get(seq)
            if pending is not None and pending.type == "FETCH":
                self._pending.pop(seq, None)
            return
        if type_ == "ERROR":
            self._on_error(seq, fields)
            return
        if type_ == "HEARTBEAT":
            return
        pending = self._pending.pop(seq, None)
        if pending is None:
            log.debug("fx: %s with seq %d answers no request of ours", type_, seq)
            return
        try:
            value = pending.on_reply(type_, fields) if pending.on_reply else fields
        except Exception as exc:
            self._fail_pending(pending, exc)
            return
        if pending.future is not None and not pending.future.done():
            pending.future.set_result(value)

    def _on_error(self, seq, fields):
        code = fields.get("code", 0)
        name = fields.get("name") or _fx.errname(code)
        text = fields.get("text", "")
        if seq == self._hello_seq and not self._in_session:
            exc = ConnectionError(f"broker at {self.address} refused the session: {name}: {text}")
            if not self._welcome.done():
                self._welcome.set_exception(exc)
            elif code in (_fx.E_VERSION, _fx.E_AUTH, _fx.E_FORBIDDEN):
                # No point retrying: fail everyone now (SPEC 6.1: CLOSED).
                log.error("fx: %s", exc)
                self._fatal = exc        # the I/O loop stops and fails every waiter
            else:
                log.warning("fx: %s; will retry", exc)
            return
        if code == _fx.E_NO_SESSION:
            log.info("fx: broker at %s lost our session (%s); reconnecting", self.address, text)
            self._reconnect()
            return
        pending = self._pending.pop(seq, None)
        if pending is None:
            log.warning("fx: broker error for seq %d: %s: %s", seq, name, text)
            return
        what = f"{pending.type}"
        if pending.tasks:
            what += f" of {len(pending.tasks)} task(s)"
        self._fail_pending(pending, RequestError(f"broker refused {what}: {name}: {text}",
                                                 code, name, text))

    def _fail_pending(self, pending, exc):
        if pending.future is not None and not pending.future.done():
            pending.future.set_exception(exc)
        for t in pending.tasks or ():
            if not t.submitted.done():
                t.submitted.set_exception(exc)
            if t.future is not None:
                _settle(t.future, exc=exc)
            with self._lock:
                self._kinds.pop(t.task_id, None)

    def _on_results(self, seq, results):
        acks = []
        resolved = []
        for raw in results:
            task_id = raw["task_id"]
            acks.append(task_id)
            self._raw_counts[task_id] += 1
            with self._lock:
                if task_id in self._results:
                    continue
                self._results[task_id] = raw
                waiters = self._waiters.pop(task_id, [])
                self._fetching.discard(task_id)
                kind = self._kinds.get(task_id)
            task = self._awaiting.pop(task_id, None)
            resolved.append((raw, kind, task, waiters))
        # Acknowledge first (echoing the RESULTS' seq: 0 for a push, the
        # FETCH's for a reply): the broker marks them delivered.
        for i in range(0, len(acks), _fx.IDS_MAX):
            self._count("RESULTS_ACK", self._conn.results_ack(seq, acks[i:i + _fx.IDS_MAX]))
        for raw, kind, task, waiters in resolved:
            for w in waiters:
                if not w.done():
                    w.set_result(raw)
            if task is not None and task.future is not None and not task.future.done():
                value, exc = unpack_result(raw, kind)
                # A TaskFuture.cancel() waiting for the broker: the task
                # was cancelled before it ran, so the future is cancelled.
                if isinstance(exc, TaskCancelled) and self._cancel_running_future(task.future):
                    continue
                _settle(task.future, value, exc)

    def _fail_item(self, item, exc):
        if item[0] == "submit":
            self._fail_pending(_Pending("SUBMIT", None, tasks=item[1]), exc)
        elif item[0] == "request":
            self._fail_pending(item[1], exc)
        elif item[0] == "cancel":
            _settle(item[3], exc=exc)

    def _shutdown_io(self):
        """Close the socket; everyone still waiting hears why."""
        try:
            self._conn.close()
        except Exception:
            pass
        exc = self._fatal or ClientClosed("the fx client was closed before the answer came")
        if not self._welcome.done():
            self._welcome.set_exception(exc)
        for pending in list(self._pending.values()):
            self._fail_pending(pending, exc)
        self._pending.clear()
        for task in list(self._awaiting.values()):
            if task.future is not None and not task.future.done():
                task.future.set_exception(exc)
        self._awaiting.clear()
        if self._held:
            self._fail_pending(_Pending("SUBMIT", None, tasks=self._held), exc)
            self._held = []
        with self._wake_lock:
            self._io_done = True
            while True:
                try:
                    self._fail_item(self._inbox.get_nowait(), exc)
                except queue.Empty:
                    break
            for fd in (self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        with self._lock:
            waiters = self._waiters
            self._waiters = {}
        for futures in waiters.values():
            for w in futures:
                if not w.done():
                    w.set_exception(exc)


@atexit.register
def _close_all_clients():
    for client in list(_live_clients):
        try:
            client.close()
        except Exception:
            pass
