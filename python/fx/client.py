"""fx.client: the public API of one session with an fx broker: Client and
Batch.

A Client checks what the caller asks (ids, limits, options), turns it into
tasks and requests, hands them to its Session (session.py: the I/O thread,
the states, reconnects and resends) and waits for the answers. How
functions, arguments and results become bytes is serialize.py's; the
results it holds, results.py's; the Executor's futures, futures.py's.
"""
import atexit
import collections
import os
import platform
import threading
import time
import weakref

from . import _fx, functions, provenance, serialize, states
from .errors import ClientClosed, ConnectionError, Error, ProtocolError, TimeoutError
from .futures import TaskFuture
from .serialize import split_output, unpack_result
from .session import Session
from .shell import ShellFunction
from .task import TaskGroup, retries as _retries, walltime_ms as _walltime_ms

__all__ = ["Client", "Batch", "Registration", "TaskFuture", "TASK_STATES", "CONTAINER_RUNTIMES",
           "default_credentials_path", "unpack_result"]

#: The store's task states by code (SPEC 5.0), as Client.status gives them in
#: "store_state" beside the users' "state".
TASK_STATES = {
    _fx.TASK_UNKNOWN: "UNKNOWN", _fx.TASK_QUEUED: "QUEUED",
    _fx.TASK_DISPATCHED: "DISPATCHED", _fx.TASK_DONE: "DONE",
    _fx.TASK_DELIVERED: "DELIVERED", _fx.TASK_FAILED: "FAILED",
}

_live_clients = weakref.WeakSet()

# What one REGISTER_FUNCTION made (FUNCTION_REGISTERED, SPEC 5.6) and how it
# was sent: version is the body's blob id, number its place in the history.
Registration = collections.namedtuple(
    "Registration", "function_id version number commit serializer dill_version")


# The runtimes a container may name (SPEC 5.33): image "" only for bwrap.
CONTAINER_RUNTIMES = ("bwrap", "podman", "docker", "apptainer", "singularity")


def _container_id(container):
    """A task's or version's container: None/"" = none, else a canonical
    container id (from Client.register_container)."""
    if container is None or container == "":
        return ""
    if not isinstance(container, str) or not _fx.id_valid(container):
        raise ValueError(f"container {container!r} is not a container id (a canonical UUID from "
                         f"Client.register_container or Client.containers())")
    return container


def _oid_valid(text):
    """A version id: "" or OID_LEN lowercase hex digits (SPEC 5.0, oid)."""
    return text == "" or (len(text) == _fx.OID_LEN and all(c in "0123456789abcdef" for c in text))


def _expect(reply_type):
    """An on_reply that takes the fields of a reply_type answer."""
    def on_reply(type_, fields):
        if type_ != reply_type:
            raise ProtocolError(f"the broker answered with {type_}, not {reply_type}")
        return fields
    return on_reply


def default_credentials_path():
    """$FX_CREDS, else ~/.fx/credentials."""
    return os.environ.get("FX_CREDS") or os.path.expanduser("~/.fx/credentials")


class Batch:
    """Tasks to submit together: client.create_batch(), batch.add(...),
    client.run_batch(batch) -> task ids (one SUBMIT per FX_BATCH_MAX tasks).
    walltime (seconds) and retries: per task in add(), else the batch's,
    else run_batch's, else the function's walltime and FX_RETRIES_DEFAULT.
    container: the container id the tasks run in instead of their function
    version's (per task in add(), else the batch's)."""

    def __init__(self, client, endpoint_id=None, function_id=None, walltime=None,
                 retries=None, function_version=None, container=None):
        self._client = client
        self.endpoint_id = endpoint_id
        self.function_id = function_id
        self.function_version = function_version
        self.container = _container_id(container)
        self.walltime_ms = _walltime_ms(walltime)
        self.retries = _retries(retries)
        self.tasks = []      # (target, payload, walltime_ms or None, retries or None)

    def add(self, *args, endpoint_id=None, function_id=None, walltime=None, retries=None,
            function_version=None, container=None, **kwargs):
        target = self._client._target(endpoint_id or self.endpoint_id,
                                      function_id or self.function_id,
                                      function_version or self.function_version,
                                      container or self.container)
        walltime_ms, retries = _walltime_ms(walltime), _retries(retries)
        payload = serialize.pack_args(self._client._serializer, args, kwargs)
        self.tasks.append((target, payload,
                           self.walltime_ms if walltime_ms is None else walltime_ms,
                           self.retries if retries is None else retries))

    def __len__(self):
        return len(self.tasks)


class _Registering:
    """A function being registered by one thread while others wait for its id."""

    def __init__(self):
        self.done = threading.Event()
        self.function_id = None
        self.exc = None


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
        self._fn_lock = threading.Lock()         # guards the two below; never held while waiting
        self._fn_cache = weakref.WeakKeyDictionary()   # function -> id, or a Future while registering
        self._fn_info = {}                       # function_id -> (kind, walltime_ms, strategy)
        self._registrations = {}                 # function_id -> [Registration], oldest first
        self._closing = False
        self._closed = False
        self._session = Session(conn, self.client_id, self.address, heartbeat, missed_beats)
        self._book = self._session.book
        self._session.start()
        _live_clients.add(self)
        try:
            welcomed = self._session.wait(self._session.welcome, hello_timeout)
            if welcomed:
                self._session.welcome.result()
        except Error:
            self.close()
            raise
        if not welcomed:
            self.close()
            raise ConnectionError(
                f"broker at {self.address} did not answer: is it running, and is your key "
                f"registered (fx user create)?")

    # ---- public API -----------------------------------------------------

    @property
    def stats(self):
        """Messages sent, by type name: {"SUBMIT": 3, "HEARTBEAT": 12, ...}."""
        return dict(self._session.stats)

    @property
    def raw_result_counts(self):
        """How many result records arrived per task id, duplicates included
        (the application sees each result once whatever these say), for the
        results the client holds (fx.results says which) and every task id
        that got a record it had no use for."""
        return self._session.raw_counts

    @property
    def stats_received(self):
        """Messages received, by type name."""
        return dict(self._session.received)

    @property
    def server_version(self):
        """The broker's software version, from its WELCOME."""
        return self._session.server_version

    def register_function(self, function, name=None, *, function_id=None, strategy=None,
                          description=None, container=None):
        """Register a Python function or an fx.ShellFunction; returns its
        function id. strategy: how the body travels (SPEC 12.1.1):
        "reference" (module:qualname, importable on the endpoint),
        "source" (its source text alone) or "dill" (by value, with what it
        uses); None chooses (fx.functions.choose). function_id: an id of
        yours to add this as a new version of. Without either, registered
        once per function object per client. container: the id of one of
        your containers (Client.register_container) that this version's
        tasks run in (None: on the endpoint's host); an unknown one is
        refused by the broker (fx.RequestError, FX_E_NOT_FOUND). What the
        broker answered (version, number, commit) is
        client.registration(function_id)."""
        container = _container_id(container)
        if function_id is not None or strategy is not None or description is not None or container:
            if function_id is not None and not _fx.id_valid(function_id):
                raise ValueError(f"function_id {function_id!r} is not a canonical UUID")
            if strategy is not None and strategy not in functions.STRATEGIES:
                raise ValueError(f"strategy must be one of {', '.join(functions.STRATEGIES)}, "
                                 f"not {strategy!r}")
            return self._register(function, name, function_id, strategy, description, container)
        mine = None
        with self._fn_lock:
            try:
                known = self._fn_cache.get(function)
                if known is None:
                    self._fn_cache[function] = mine = _Registering()
            except TypeError:            # not weakly referable: registered each time
                known = None
        if isinstance(known, str):
            return known
        if known is not None:            # another thread registers it now
            if not known.done.wait(self.request_timeout):
                raise TimeoutError(f"REGISTER_FUNCTION request: no answer from the broker at "
                                   f"{self.address} within {self.request_timeout} s")
            if known.exc is not None:
                raise known.exc
            return known.function_id
        try:
            function_id = self._register(function, name)
        except BaseException as exc:
            if mine is not None:
                with self._fn_lock:
                    if self._fn_cache.get(function) is mine:
                        del self._fn_cache[function]
                mine.exc = exc
                mine.done.set()
            raise
        if mine is not None:
            with self._fn_lock:
                self._fn_cache[function] = function_id
            mine.function_id = function_id
            mine.done.set()
        return function_id

    def registration(self, function_id):
        """The newest fx.Registration (function_id, version, number,
        commit, serializer, dill_version) this client made of function_id,
        or None; registrations(function_id) lists them all, oldest first."""
        with self._fn_lock:
            made = self._registrations.get(function_id)
            return made[-1] if made else None

    def registrations(self, function_id):
        with self._fn_lock:
            return list(self._registrations.get(function_id, ()))

    def get_function(self, function_id, version=None):
        """A function's history and one version's body (FUNCTION_GET): a
        dict with function_id, name, kind, entry, version, description,
        serializer (that version's strategy), body (bytes), source (the
        body as text for source, reference and shell; None for dill) and
        versions (one dict per version, oldest first: version, number,
        commit, author, created_us, serializer). version: None = the newest."""
        if not _fx.id_valid(function_id):
            raise ValueError(f"function_id {function_id!r} is not a canonical UUID")

        def send(conn, seq):
            return conn.send("FUNCTION_GET", seq, {"function_id": function_id,
                                                    "version": version or ""})

        info = self._request("FUNCTION_GET", send, _expect("FUNCTION_INFO"))
        versions = [dict(v) for v in info.get("versions", [])]
        strategy = next((v["serializer"] for v in versions if v["version"] == info["version"]),
                        "")
        body = info.get("body", b"")
        text = None if strategy == "dill" else body.decode("utf-8", "replace")
        return {"function_id": info["function_id"], "name": info["name"], "kind": info["kind"],
                "entry": info["entry"], "version": info["version"],
                "description": info.get("description"), "serializer": strategy, "body": body,
                "source": text, "versions": versions}

    def get_provenance(self, task_ids, prov_json=False):
        """What made the results of these tasks (PROVENANCE, SPEC 12.6): for
        one id a dict, for a list a list of dicts in order (task_id, state,
        function_id, function_version, commit, serializer, py_version,
        dill_version, endpoint_id, host, worker_pid, worker_runtime,
        attempt, container, image_digest, times, and times_named: the
        stamps by event name). prov_json=True: one W3C PROV-JSON document
        for all of them instead (fx.provenance.prov_json)."""
        one = isinstance(task_ids, str)
        ids = [task_ids] if one else list(task_ids)
        for t in ids:
            if not _fx.id_valid(t):
                raise ValueError(f"task id {t!r} is not a canonical UUID")
        rows = []
        for i in range(0, len(ids), _fx.IDS_MAX):
            chunk = ids[i:i + _fx.IDS_MAX]

            def send(conn, seq, chunk=chunk):
                return conn.send("PROVENANCE", seq, {"task_ids": chunk})

            reply = self._request("PROVENANCE", send, _expect("PROVENANCE_REPLY"))
            rows.extend(provenance.record(r) for r in reply.get("tasks", []))
        if prov_json:
            return provenance.prov_json(rows, self.user_id)
        return rows[0] if one and rows else rows

    def register_container(self, name, runtime, image="", description=None, *, container_id=None):
        """Register a container (SPEC 5.33, 12.7): name (for listings and
        endpoint configs' `containers:` entries), runtime (one of
        fx.CONTAINER_RUNTIMES: bwrap, podman, docker, apptainer,
        singularity), image (a registry reference, a .sif path, or for
        bwrap a root folder; "" only for bwrap, meaning the host's /).
        Returns its id, minted here unless container_id gives one of yours:
        registering it again with other fields updates it (tasks dispatched
        after that get the new definition). Name it in
        register_function(fn, container=ID) for every task of that version,
        or per task: run(..., container=ID), create_batch/Batch.add(...,
        container=ID), Executor(container=ID)."""
        if runtime not in CONTAINER_RUNTIMES:
            raise ValueError(f"runtime {runtime!r} is not one of {', '.join(CONTAINER_RUNTIMES)}")
        if not isinstance(name, str) or not name:
            raise ValueError("a container needs a name")
        if not isinstance(image, str):
            raise TypeError(f"image must be a str, not {type(image).__name__}")
        if not image and runtime != "bwrap":
            raise ValueError(f"runtime {runtime} needs an image (a registry reference or a .sif "
                             f"path); only bwrap may leave it empty (the host's root)")
        if container_id is not None and not _fx.id_valid(container_id):
            raise ValueError(f"container_id {container_id!r} is not a canonical UUID")
        container_id = container_id or _fx.new_id()
        fields = {"container_id": container_id, "name": name, "runtime": runtime,
                  "image": image, "description": description}

        def send(conn, seq):
            return conn.send("REGISTER_CONTAINER", seq, fields)

        reply = self._request("REGISTER_CONTAINER", send, _expect("CONTAINER_REGISTERED"))
        return reply.get("container_id") or container_id

    def containers(self, limit=0):
        """Your containers at the broker, oldest first: a list of dicts with
        id, name, runtime, image, description."""
        return self._list("containers", limit)

    list_containers = containers

    def register_endpoint(self, name, public_key, endpoint_id=None):
        """Register an endpoint (its name and CurveZMQ public key); returns its id."""
        endpoint_id = endpoint_id or _fx.new_id()

        def send(conn, seq):
            return conn.register_endpoint(seq, endpoint_id, name, public_key)

        return self._request("REGISTER_ENDPOINT", send,
                             lambda t, f: f.get("endpoint_id") or endpoint_id)

    def run(self, *args, endpoint_id=None, function_id=None, walltime=None, retries=None,
            function_version=None, container=None, **kwargs):
        """Submit one task; returns its id once the broker has committed it.
        walltime: seconds the task may run (None: the function's own, else
        no limit); retries: worker deaths it survives (None:
        FX_RETRIES_DEFAULT); function_version: the version to run (None:
        the newest when the broker stores the task; function_id may also be
        "ID@VERSION"); container: a container id of yours this task runs in
        instead of its version's (None: the version's; SPEC 5.6). These
        names (and endpoint_id, function_id) are not passed on to the
        function."""
        walltime_ms, retries = _walltime_ms(walltime), _retries(retries)
        target = self._target(endpoint_id, function_id, function_version, container)
        payload = serialize.pack_args(self._serializer, args, kwargs)
        group = self._group(target, [payload], walltime_ms, retries)
        self._submit([group])
        return group.ids[0]

    def create_batch(self, endpoint_id=None, function_id=None, walltime=None, retries=None,
                     function_version=None, container=None):
        """A Batch to fill with batch.add(*args, **kwargs) and pass to run_batch."""
        return Batch(self, endpoint_id, function_id, walltime, retries, function_version,
                     container)

    def run_batch(self, batch, endpoint_id=None, function_id=None, walltime=None,
                  retries=None, function_version=None, container=None):
        """Submit many tasks in as few SUBMIT messages as possible; returns
        their ids (in order) once all are committed. batch is a Batch, or an
        iterable of (args, kwargs) pairs run with endpoint_id/function_id.
        walltime (seconds) and retries apply to the tasks that did not set
        their own (in Batch.add or create_batch); container to the pairs'
        tasks (a Batch's tasks carry their own)."""
        walltime_ms, retries = _walltime_ms(walltime), _retries(retries)
        if isinstance(batch, Batch):
            groups = self._batch_groups(batch.tasks, walltime_ms, retries)
        else:
            target = self._target(endpoint_id, function_id, function_version, container)
            payloads = serialize.pack_many(self._serializer,
                                           ((tuple(a), dict(k or {})) for a, k in batch))
            groups = [self._group(target, payloads, walltime_ms, retries)] if payloads else []
        if groups:
            self._submit(groups)
        return [t for g in groups for t in g.ids]

    batch_run = run_batch

    def get_result(self, task_id, timeout=None):
        """The task's return value. Re-raises the remote exception (with the
        remote traceback in its message and as .remote_traceback), or raises
        fx.TaskFailed if it cannot be rebuilt here, fx.TaskError if fx could
        not run the task, fx.TimeoutError after timeout seconds."""
        result, (kind, serializer) = self._wait_result(task_id, timeout)
        value, exc = unpack_result(result, kind, serializer)
        if exc is not None:
            raise exc
        return value

    def get_output(self, task_id, timeout=None):
        """What the task printed (stdout and stderr), without the traceback."""
        result, _ = self._wait_result(task_id, timeout)
        printed, _ = split_output(result.output)
        return printed

    def get_remote_traceback(self, task_id, timeout=None):
        """The remote traceback text of a task that raised, else ''."""
        result, _ = self._wait_result(task_id, timeout)
        return split_output(result.output)[1]

    def status(self, task_ids):
        """Task states, in the users' words (SPEC 5.0, as `fx status` and
        LIST tasks say them). For one id (str): a dict

            {"task_id", "state", "reason", "state_code", "store_state",
             "endpoint_id", "attempts"}

        for a list: {task_id: that dict}. state is "queued", "dispatched",
        "succeeded", "failed" (reason then says why: "exception",
        "cancelled", "worker lost", "walltime", "load error", "version
        mismatch", "shell error", "container" or "error"), or "unknown" (not
        a task of yours). A task that ended has its outcome in its result,
        which status reads: from this client if it holds it, else from the
        broker if the task is this client's own (its result is on its way)
        or its client took it already (store state DELIVERED). It does not
        read a result another client has not taken yet (SPEC 8.6: that
        could keep it from that client): such a task is "finished", or
        "failed" with reason None. reason is None unless failed.
        state_code is the store's precise state (fx._fx.TASK_*) and
        store_state its name ("QUEUED", "DISPATCHED", "DONE", "DELIVERED",
        "FAILED", "UNKNOWN"; what "state" held before issue 9)."""
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
                    "state_code": row["state"],
                    "store_state": TASK_STATES.get(row["state"], str(row["state"])),
                    "endpoint_id": row["endpoint_id"],
                    "attempts": row["attempts"],
                }
        for t in ids:
            out.setdefault(t, {"task_id": t, "state_code": _fx.TASK_UNKNOWN, "store_state": "UNKNOWN",
                               "endpoint_id": "", "attempts": 0})
        results = self._outcomes({t: r["state_code"] for t, r in out.items()})
        for t, row in out.items():
            row["state"], row["reason"] = states.from_store(row["state_code"], results.get(t))
        return out[task_ids] if single else out

    def _outcomes(self, codes):
        """{task_id: Result} of the ended tasks among codes ({task_id: the
        store's state}) whose results status may read (its docstring): the
        ones held here, then the others asked for all at once and waited
        for together, at most request_timeout s."""
        out, waiting = {}, []
        for tid, code in codes.items():
            if code not in states.ENDED:
                continue
            held, own = self._session.peek(tid)
            if held is not None:
                out[tid] = held
            elif own or code == _fx.TASK_DELIVERED:
                entry, waiter = self._session.result(tid)
                if entry is not None:
                    out[tid] = entry[0]
                else:
                    waiting.append((tid, waiter))
        deadline = time.monotonic() + self.request_timeout
        for tid, waiter in waiting:
            if self._session.wait(waiter, max(0.0, deadline - time.monotonic())):
                try:
                    out[tid] = waiter.result()[0]
                except Exception:       # the session closed: not read
                    pass
            else:
                self._session.forget(tid, waiter)
        return out

    def cancel(self, task_ids):
        """Cancel tasks (one id or a list); returns {task_id: state} in the
        users' words (as status says them) as the broker has it after the
        cancel. A task still queued at the broker ends at once ("failed";
        its result is the error FX_E_CANCELLED, "cancelled before it ran");
        a running one is killed on its worker and its result comes back
        the same way a little later (still "dispatched" here); a finished
        one is left as it is ("succeeded", "failed", or "finished" if its
        result is not here). A cancelled task's get_result raises
        fx.TaskCancelled, and an Executor future ends with that exception.
        A task submitted here but not yet sent is dropped locally
        ("failed"); an id that is not a task of yours is "unknown"."""
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
                held, _ = self._session.peek(row["task_id"])
                out[row["task_id"]] = states.from_store(row["state"], held)[0]
        for t in ids:
            out.setdefault(t, states.UNKNOWN)
        return out

    def get_endpoint_status(self, endpoint_id):
        """The broker's live view of one of your endpoints (ENDPOINT_QUERY,
        SPEC 5.37): a dict with endpoint_id, name, status ("online" while it
        has a session: heard within the heartbeat threshold, never past it;
        else "offline"), online (bool), last_seen (wall-clock seconds since
        the epoch, None if never), managers, workers, idle (worker slots free
        now), busy (workers minus idle, at least 0), queued (its tasks the
        broker holds), dispatched (sent, no result yet) and containers (per
        container: container_id, managers, idle, busy, starting)."""
        if not _fx.id_valid(endpoint_id):
            raise ValueError(f"endpoint_id {endpoint_id!r} is not a canonical UUID")

        def send(conn, seq):
            return conn.send("ENDPOINT_QUERY", seq, {"endpoint_id": endpoint_id})

        info = self._request("ENDPOINT_QUERY", send, _expect("ENDPOINT_INFO"))
        online = bool(info["online"])
        seen = info["last_seen_us"]
        return {"endpoint_id": info["endpoint_id"], "name": info["name"],
                "status": "online" if online else "offline", "online": online,
                "last_seen": seen / 1e6 if seen else None,
                "managers": info["managers"], "workers": info["workers"], "idle": info["free"],
                "busy": max(0, info["workers"] - info["free"]), "queued": info["queued"],
                "dispatched": info["dispatched"],
                "containers": [dict(c) for c in info.get("containers", [])]}

    def list_endpoints(self, limit=0):
        """The user's endpoints, as a list of dicts (columns as the broker names them)."""
        return self._list("endpoints", limit)

    def list_functions(self, limit=0):
        return self._list("functions", limit)

    def list_tasks(self, limit=0, state=None, endpoint_id=None, function=None, since=None,
                   before=None):
        """One page of your tasks, newest first, as a list of dicts (the
        columns of SPEC 5.17: id, state, endpoint, function, attempts,
        function_name, submitted, finished, reason, error, cursor). The
        broker filters (SPEC 5.16): state, a users' state (fx.states.STATES)
        or a reason of failure (fx.states.REASONS); endpoint_id; function,
        an id or a name; since, tasks submitted at or after this time (a
        datetime, or seconds since the epoch); before, the next page: the
        "cursor" of the last row of the one before. At most limit rows (0:
        FX_LIST_ROWS_MAX, 1,000); a page shorter than that is the last.
        iter_tasks follows the cursor for you."""
        if state is not None and state not in states.STATES and state not in states.REASONS:
            raise ValueError(f"state {state!r}: one of {', '.join(states.STATES + states.REASONS)}")
        if hasattr(since, "timestamp"):
            since = since.timestamp()
        fields = {"state": state or "", "endpoint_id": endpoint_id or "", "function": function or "",
                  "since_ms": max(0, int(since * 1000)) if since else 0,
                  "before": int(before) if before else 0}
        return self._list("tasks", limit, fields)

    def iter_tasks(self, page=1000, **filters):
        """Every task the filters of list_tasks name, newest first, a page
        at a time (following the cursor: no task twice, none skipped while
        new ones arrive; those do not show)."""
        before = None
        while True:
            rows = self.list_tasks(page, before=before, **filters)
            yield from rows
            if len(rows) < (page or _fx.LIST_ROWS_MAX) or not rows:
                return
            before = rows[-1]["cursor"]

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
        """Send one request and wait for its answer."""
        self._check_usable()
        self._check_not_io_thread(type_)
        return self._wait(self._session.request(type_, send, on_reply), f"{type_} request")

    def _wait(self, waiter, what, timeout=-1):
        timeout = self.request_timeout if timeout == -1 else timeout
        if not self._session.wait(waiter, timeout):
            raise TimeoutError(f"{what}: no answer from the broker at {self.address} "
                               f"within {timeout} s")
        return waiter.result()

    def _register(self, function, name, function_id=None, strategy=None, description=None,
                  container=""):
        """REGISTER_FUNCTION for one function (a new version of function_id
        if given, its tasks in container, "" = the host); its id."""
        spec = serialize.function_spec(function, name, strategy, description)
        function_id = function_id or _fx.new_id()
        fields = {"function_id": function_id, "name": spec.name, "kind": spec.kind,
                  "entry": spec.entry, "serializer": spec.serializer,
                  "dill_version": spec.dill_version, "description": spec.description,
                  "container_id": container, "body": spec.body}

        def send(conn, seq):
            return conn.send("REGISTER_FUNCTION", seq, fields)

        def on_reply(type_, f):
            if type_ != "FUNCTION_REGISTERED":
                raise ProtocolError(f"the broker answered REGISTER_FUNCTION with {type_}")
            return Registration(f.get("function_id") or function_id, f.get("version", ""),
                                f.get("number", 0), f.get("commit", ""), spec.serializer,
                                spec.dill_version)

        made = self._request("REGISTER_FUNCTION", send, on_reply)
        with self._fn_lock:
            self._fn_info[made.function_id] = (spec.kind, spec.walltime_ms, spec.serializer)
            self._registrations.setdefault(made.function_id, []).append(made)
        return made.function_id

    def _target(self, endpoint_id, function_id, function_version=None, container=None):
        """Checked (endpoint_id, function_id, function kind, function's
        walltime_ms, function_version, strategy or None, container) for new
        tasks; a function object is registered; "ID@VERSION" pins a
        version; container "" = the version's."""
        self._check_usable()
        _container_id(container)            # checked before anything is registered
        if endpoint_id is None:
            raise ValueError("endpoint_id is required (the id `fx-endpoint` printed)")
        if not _fx.id_valid(endpoint_id):
            raise ValueError(f"endpoint_id {endpoint_id!r} is not a canonical UUID")
        if function_id is None:
            raise ValueError("function_id is required (from register_function)")
        if callable(function_id) or isinstance(function_id, ShellFunction):
            function_id = self.register_function(function_id)
        if isinstance(function_id, str) and "@" in function_id:
            function_id, _, pinned = function_id.partition("@")
            function_version = function_version or pinned
        if not _fx.id_valid(function_id):
            raise ValueError(f"function_id {function_id!r} is not a canonical UUID")
        function_version = function_version or ""
        if not _oid_valid(function_version):
            raise ValueError(f"function_version {function_version!r} is not a version id "
                             f"({_fx.OID_LEN} hex digits, from client.registration() or "
                             f"get_function())")
        with self._fn_lock:
            kind, fn_walltime_ms, strategy = self._fn_info.get(function_id,
                                                               (_fx.FN_PYTHON, 0, None))
            if function_version and strategy is not None:
                # a pinned version's strategy, if this client registered it
                made = self._registrations.get(function_id, ())
                strategy = next((r.serializer for r in made if r.version == function_version),
                                None)
        return (endpoint_id, function_id, kind, fn_walltime_ms, function_version, strategy,
                _container_id(container))

    def _group(self, target, payloads, walltime_ms, retries, max_batch=_fx.BATCH_MAX):
        """A TaskGroup of new tasks for target (from _target), with fresh
        ids. walltime_ms / retries: an int, None (the function's walltime,
        FX_RETRIES_DEFAULT) or a list with one per task."""
        endpoint_id, function_id, kind, fn_walltime_ms, version, strategy, container = target
        if walltime_ms is None:
            walltime_ms = fn_walltime_ms
        if retries is None:
            retries = _fx.RETRIES_DEFAULT
        # STRATEGY+PAYLOAD when this client knows the version's strategy, else
        # PAYLOAD alone (SPEC 5.0, the task record's serializer)
        name = self._serializer.name
        serializer = f"{strategy}+{name}" if strategy else name
        return TaskGroup(endpoint_id, function_id, platform.python_version(), serializer, kind,
                         _fx.new_ids(len(payloads)), payloads, walltime_ms, retries,
                         max_batch=max_batch, function_version=version, container=container)

    def _batch_groups(self, tasks, walltime_ms, retries):
        """A Batch's tasks as groups of neighbours with the same target,
        each task's options resolved (its own, the batch's, run_batch's,
        then the function's)."""
        groups, i = [], 0
        while i < len(tasks):
            target = tasks[i][0]
            j = i
            while j < len(tasks) and tasks[j][0] == target:
                j += 1
            run = tasks[i:j]
            walls = [target[3] if w is None and walltime_ms is None else
                     walltime_ms if w is None else w for _, _, w, _ in run]
            tries = [_fx.RETRIES_DEFAULT if r is None and retries is None else
                     retries if r is None else r for _, _, _, r in run]
            groups.append(self._group(target, [p for _, p, _, _ in run], walls, tries))
            i = j
        return groups

    def _submit(self, groups):
        """Hand groups to the session and wait until all are committed."""
        self._check_not_io_thread("SUBMIT")
        waiters = self._session.submit(groups, wait=True)
        # request_timeout bounds the wait for progress, not the whole batch:
        # the broker commits SUBMITs in order, so a batch of a million tasks
        # legitimately takes longer than one request, while a broker that
        # stops committing is still noticed within request_timeout.
        for group, w in zip(groups, waiters):
            left = group.unanswered
            while not self._session.wait(w, self.request_timeout):
                if self.request_timeout is not None and group.unanswered >= left:
                    raise TimeoutError(
                        f"SUBMIT of {len(group)} task(s): no answer from the broker at "
                        f"{self.address} within {self.request_timeout} s "
                        f"({len(group) - group.unanswered} committed so far)")
                left = group.unanswered
            w.result()

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
            deadline = time.monotonic() + (self.cancel_timeout or 0)
            try:
                waits = [self._session.cancel(ids[i:i + _fx.IDS_MAX], True,
                                              {t: by_id[t] for t in ids[i:i + _fx.IDS_MAX]})
                         for i in range(0, len(ids), _fx.IDS_MAX)]
                for w in waits:
                    self._session.wait(w, max(0.0, deadline - time.monotonic()))
            except Exception:     # refused, closed: not cancelled
                pass
            for f in remote:
                f._fx_wait_cancel(False)
        return [f.cancelled() for f in futures]

    def _cancel_queued(self, task_ids):
        """CANCEL (queued_only=1) tasks nobody waits for any more, waiting
        up to cancel_timeout for the broker's answer; those not yet sent
        end here."""
        if not task_ids or not self._usable():
            return
        deadline = time.monotonic() + (self.cancel_timeout or 0)
        try:
            for i in range(0, len(task_ids), _fx.IDS_MAX):
                waiter = self._session.cancel(task_ids[i:i + _fx.IDS_MAX], True)
                if not self._session.is_io_thread():
                    self._session.wait(waiter, max(0.0, deadline - time.monotonic()))
        except Exception:     # refused, closed: they run
            pass

    def _wait_result(self, task_id, timeout):
        """(Result, (kind, serializer)) of a task, waiting up to timeout s."""
        if not isinstance(task_id, str):
            raise TypeError("task_id must be a str")
        entry, waiter = self._session.result(task_id)
        if entry is not None:
            return entry
        self._check_usable()
        if not self._session.wait(waiter, timeout):
            self._session.forget(task_id, waiter)
            raise TimeoutError(f"no result for task {task_id} within {timeout} s")
        return waiter.result()

    def _list(self, what, limit, filters=None):
        limit = max(0, min(int(limit), _fx.LIST_ROWS_MAX))
        codes = {"endpoints": _fx.LIST_ENDPOINTS, "functions": _fx.LIST_FUNCTIONS,
                 "tasks": _fx.LIST_TASKS, "containers": _fx.LIST_CONTAINERS}

        def send(conn, seq):
            if not filters:
                return conn.list(seq, what, limit)
            return conn.send("LIST", seq, dict(filters, what=codes[what], limit=limit))

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
