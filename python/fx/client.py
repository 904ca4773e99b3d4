"""fx.client: the public API of one session with an fx broker: Client and
Batch.

A Client checks what the caller asks (ids, limits, options), turns it into
tasks and requests, hands them to its Session (session.py: the I/O thread,
the states, reconnects and resends) and waits for the answers. How
functions, arguments and results become bytes is serialize.py's; the
results it holds, results.py's; the Executor's futures, futures.py's.
"""
import atexit
import concurrent.futures
import os
import threading
import time
import weakref

from . import _fx, serialize
from .errors import ClientClosed, ConnectionError, Error, TimeoutError
from .futures import TaskFuture
from .results import ResultBook
from .serialize import split_output, unpack_result
from .session import Session
from .shell import ShellFunction
from .task import Task, retries as _retries, walltime_ms as _walltime_ms

__all__ = ["Client", "Batch", "TaskFuture", "TASK_STATES", "default_credentials_path",
           "unpack_result"]

TASK_STATES = {
    _fx.TASK_UNKNOWN: "UNKNOWN", _fx.TASK_QUEUED: "QUEUED",
    _fx.TASK_DISPATCHED: "DISPATCHED", _fx.TASK_DONE: "DONE",
    _fx.TASK_DELIVERED: "DELIVERED", _fx.TASK_FAILED: "FAILED",
}

_live_clients = weakref.WeakSet()


def default_credentials_path():
    """$FX_CREDS, else ~/.fx/credentials."""
    return os.environ.get("FX_CREDS") or os.path.expanduser("~/.fx/credentials")


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
        try:
            conn = _fx.Connection(self.address, creds["broker_public_key"],
                                  creds["public_key"], creds["secret_key"])
        except Error as exc:
            raise ConnectionError(str(exc)) from None
        self._serializer = serialize.get()       # of the arguments of every task
        self._book = ResultBook()
        self._fn_lock = threading.Lock()         # guards the two below; never held while waiting
        self._fn_cache = weakref.WeakKeyDictionary()   # function -> id, or a Future while registering
        self._fn_info = {}                       # function_id -> (kind, walltime_ms)
        self._closing = False
        self._closed = False
        self._session = Session(conn, self.client_id, self.address, self._book, heartbeat,
                                missed_beats)
        self._session.start()
        _live_clients.add(self)
        try:
            self._session.welcome.result(timeout=hello_timeout)
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
        return dict(self._session.stats)

    @property
    def raw_result_counts(self):
        """How many result records arrived per task id, duplicates included
        (the application sees each result once whatever these say)."""
        return dict(self._session.raw_counts)

    @property
    def stats_received(self):
        """Messages received, by type name."""
        return dict(self._session.received)

    @property
    def server_version(self):
        """The broker's software version, from its WELCOME."""
        return self._session.server_version

    def register_function(self, function, name=None):
        """Register a Python function (source text + entry name) or an
        fx.ShellFunction; returns its function id. Registered once per
        function object per client."""
        mine = None
        with self._fn_lock:
            try:
                known = self._fn_cache.get(function)
                if known is None:
                    self._fn_cache[function] = concurrent.futures.Future()
                    mine = self._fn_cache[function]
            except TypeError:            # not weakly referable: registered each time
                known = None
        if isinstance(known, str):
            return known
        if known is not None:            # another thread registers it now
            return self._wait(known, "REGISTER_FUNCTION request")
        try:
            function_id = self._register(function, name)
        except BaseException as exc:
            if mine is not None:
                with self._fn_lock:
                    if self._fn_cache.get(function) is mine:
                        del self._fn_cache[function]
                mine.set_exception(exc)
            raise
        if mine is not None:
            with self._fn_lock:
                self._fn_cache[function] = function_id
            mine.set_result(function_id)
        return function_id

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
        kind, serializer = self._book.info(task_id)
        value, exc = unpack_result(raw, kind, serializer)
        if exc is not None:
            raise exc
        return value

    def get_output(self, task_id, timeout=None):
        """What the task printed (stdout and stderr), without the traceback."""
        raw = self._wait_raw(task_id, timeout)
        printed, _ = split_output(raw["output"])
        return printed

    def get_remote_traceback(self, task_id, timeout=None):
        """The remote traceback text of a task that raised, else ''."""
        raw = self._wait_raw(task_id, timeout)
        return split_output(raw["output"])[1]

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
            rows = self._wait(self._session.cancel(chunk, False),
                              f"CANCEL of {len(chunk)} task(s)")
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
        self._session.close()
        if not self._session.is_io_thread():
            self._session.join(timeout=10)
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

    def _usable(self):
        return not (self._closing or self._closed or self._session.fatal is not None)

    def _check_usable(self):
        if self._session.fatal is not None:
            raise self._session.fatal
        if self._closing or self._closed:
            raise ClientClosed("the fx client is closed")

    def _check_not_io_thread(self, what):
        if self._session.is_io_thread():
            raise Error(f"{what} cannot wait for the broker from a done callback (it runs on "
                        f"the client's I/O thread, which brings the answer): call it from "
                        f"another thread")

    def _request(self, type_, send, on_reply):
        """Send one request through the I/O thread and wait for its answer."""
        self._check_usable()
        self._check_not_io_thread(type_)
        return self._wait(self._session.request(type_, send, on_reply), f"{type_} request")

    def _wait(self, future, what, timeout=-1):
        timeout = self.request_timeout if timeout == -1 else timeout
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"{what}: no answer from the broker at {self.address} "
                               f"within {timeout} s") from None

    def _register(self, function, name):
        """REGISTER_FUNCTION for one function; its id."""
        spec = serialize.function_spec(function, name)
        function_id = _fx.new_id()

        def send(conn, seq):
            return conn.register_function(seq, function_id, spec.name, spec.kind, spec.entry,
                                          spec.body)

        fid = self._request("REGISTER_FUNCTION", send,
                            lambda t, f: f.get("function_id") or function_id)
        with self._fn_lock:
            self._fn_info[fid] = (spec.kind, spec.walltime_ms)
        return fid

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
        payload = serialize.pack_args(self._serializer, args, kwargs)
        with self._fn_lock:
            kind, fn_walltime_ms = self._fn_info.get(function_id, (_fx.FN_PYTHON, 0))
        return Task(endpoint_id, function_id, payload, self._serializer.name, walltime_ms, kind,
                    max_batch or _fx.BATCH_MAX, future, retries, fn_walltime_ms)

    def _submit(self, tasks, wait):
        self._book.own((t.task_id, t.kind, t.serializer) for t in tasks)
        self._session.submit(tasks)
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
        remote = [f for f in futures if not f._fx_cancel_here() and not f.done()]
        if remote and self._usable() and not self._session.is_io_thread():
            for f in remote:
                f._fx_wait_cancel(True)
            by_id = {f.task_id: f for f in remote}
            ids = list(by_id)
            waits = [self._session.cancel(ids[i:i + _fx.IDS_MAX], True,
                                          {t: by_id[t] for t in ids[i:i + _fx.IDS_MAX]})
                     for i in range(0, len(ids), _fx.IDS_MAX)]
            deadline = time.monotonic() + (self.cancel_timeout or 0)
            for w in waits:
                try:
                    w.result(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:     # no answer in time, refused, closed: not cancelled
                    pass
            for f in remote:
                f._fx_wait_cancel(False)
        return [f.cancelled() for f in futures]

    def _wait_raw(self, task_id, timeout):
        if not isinstance(task_id, str):
            raise TypeError("task_id must be a str")
        raw = self._book.get(task_id)
        if raw is not None:
            return raw
        self._check_usable()
        raw, future, foreign = self._book.wait(task_id)
        if raw is not None:
            return raw
        if foreign:
            self._session.fetch([task_id])
        try:
            return future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            self._book.forget(task_id, future)
            raise TimeoutError(f"no result for task {task_id} within {timeout} s") from None

    def _list(self, what, limit):
        limit = max(0, min(int(limit), _fx.LIST_ROWS_MAX))

        def send(conn, seq):
            return conn.list(seq, what, limit)

        table = self._request("LIST", send, lambda t, f: f)
        cols = table.get("columns", [])
        return [dict(zip(cols, row)) for row in table.get("rows", [])]


@atexit.register
def _close_all_clients():
    for client in list(_live_clients):
        try:
            client.close()
        except Exception:
            pass
