"""fx.task: tasks on their way from a caller to the broker, and the checks
of their options, walltime and retries, shared by Client, Batch and
Executor.

Tasks travel in groups: one TaskGroup per call (Client.run, run_batch,
Executor.submit or map) holds the tasks that share their endpoint,
function, Python version and serializer, as lists (ids, payloads, the
Executor's futures), so nothing is made per task but its id, its payload
and, for an Executor, its future. The session sends a group in slices, as
many to a SUBMIT as the limits allow; once every slice is SUBMITTED nothing
refers to the group any more.
"""
from . import _fx

__all__ = ["TaskGroup", "walltime_ms", "retries", "cancelled_result"]


def walltime_ms(walltime):
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


def retries(value):
    """Worker deaths a task survives (None = not given); ValueError naming
    FX_RETRIES_MAX otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"retries must be an int, not {type(value).__name__}")
    if not 0 <= value <= _fx.RETRIES_MAX:
        raise ValueError(f"retries must be 0..{_fx.RETRIES_MAX} (FX_RETRIES_MAX), not {value}")
    return value


def cancelled_result(task_id, text):
    """The error result of a task cancelled here, before the broker had it."""
    return _fx.Result((task_id, _fx.RESULT_ERROR, _fx.E_CANCELLED, text, b"", b""))


class TaskGroup:
    """Tasks of one call that share endpoint_id, function_id, py_version,
    serializer, function_version and container. ids and payloads are lists; walltime_ms and retries an int
    for every task or a list with one per task (already resolved: the
    wire's values). futures: Executor.submit's TaskFutures, else None;
    collector: Executor.map's results.Collector, else None. info:
    (function kind, serializer name), kept with each result. committed:
    a waiter the session sets once every task is in the broker's store (or
    with the error that refused them), if the caller waits for that."""

    __slots__ = ("endpoint_id", "function_id", "py_version", "serializer", "info", "ids",
                 "payloads", "walltime_ms", "retries", "futures", "collector", "max_batch",
                 "unanswered", "committed", "dropped", "nbytes", "function_version",
                 "container")

    def __init__(self, endpoint_id, function_id, py_version, serializer, kind, ids, payloads,
                 walltime_ms, retries, futures=None, max_batch=_fx.BATCH_MAX,
                 function_version="", container=""):
        self.endpoint_id = endpoint_id
        self.function_id = function_id
        self.py_version = py_version
        self.serializer = serializer
        self.info = (kind, serializer)
        self.ids = ids
        self.payloads = payloads
        self.walltime_ms = walltime_ms
        self.retries = retries
        self.futures = futures
        self.collector = None          # an Executor.map's results.Collector
        self.max_batch = max_batch
        self.unanswered = len(ids)     # tasks not yet SUBMITTED (nor dropped)
        self.committed = None
        self.dropped = None            # indices cancelled before they were sent
        self.nbytes = sum(map(len, payloads))
        self.function_version = function_version   # "" = the newest
        self.container = container                 # "" = the version's (SPEC 5.6)

    def __len__(self):
        return len(self.ids)

    def part(self, lo, hi):
        """Tasks [lo, hi) as Connection.submit_parts takes them, without
        those dropped (None if none is left)."""
        ids, payloads = self.ids[lo:hi], self.payloads[lo:hi]
        wall, tries = self.walltime_ms, self.retries
        if isinstance(wall, list):
            wall = wall[lo:hi]
        if isinstance(tries, list):
            tries = tries[lo:hi]
        if self.dropped:
            keep = [i - lo for i in range(lo, hi) if i not in self.dropped]
            if not keep:
                return None
            ids = [ids[k] for k in keep]
            payloads = [payloads[k] for k in keep]
            wall = [wall[k] for k in keep] if isinstance(wall, list) else wall
            tries = [tries[k] for k in keep] if isinstance(tries, list) else tries
        part = (self.endpoint_id, self.function_id, self.py_version, self.serializer, ids,
                payloads, wall, tries)
        if self.container:
            return part + (self.function_version, self.container)
        return part + (self.function_version,) if self.function_version else part
