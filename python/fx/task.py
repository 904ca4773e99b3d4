"""fx.task: one task on its way from a caller to the broker (what goes into
SUBMIT, and who waits for it), and the checks of its options, walltime and
retries, shared by Client, Batch and Executor.
"""
import concurrent.futures
import platform

from . import _fx

__all__ = ["Task", "walltime_ms", "retries"]


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


class Task:
    """One task on its way: what goes into SUBMIT, and who waits for it.
    walltime_ms and retries may stay None until sent: run_batch fills in
    its own options, then the function's walltime and FX_RETRIES_DEFAULT.
    serializer is the name of the serializer that made the payload."""

    __slots__ = ("task_id", "endpoint_id", "function_id", "payload", "serializer",
                 "walltime_ms", "retries", "fn_walltime_ms", "kind", "max_batch", "submitted",
                 "future", "py_version")

    def __init__(self, endpoint_id, function_id, payload, serializer, walltime_ms, kind,
                 max_batch, future=None, retries=None, fn_walltime_ms=0):
        self.task_id = _fx.new_id()
        self.py_version = platform.python_version()
        self.endpoint_id = endpoint_id
        self.function_id = function_id
        self.payload = payload
        self.serializer = serializer
        self.walltime_ms = walltime_ms
        self.retries = retries
        self.fn_walltime_ms = fn_walltime_ms
        self.kind = kind
        self.max_batch = max_batch
        self.submitted = concurrent.futures.Future()  # result: True once committed
        self.future = future                          # an Executor's TaskFuture, if any

    def defaults(self, walltime_ms=None, retries=None):
        """Fill the options not given per task."""
        if self.walltime_ms is None:
            self.walltime_ms = walltime_ms
        if self.retries is None:
            self.retries = retries

    def record(self):
        """The task as Connection.submit takes it."""
        walltime_ms = self.fn_walltime_ms if self.walltime_ms is None else self.walltime_ms
        retries = _fx.RETRIES_DEFAULT if self.retries is None else self.retries
        return (self.task_id, self.endpoint_id, self.function_id, self.py_version,
                self.serializer, walltime_ms, self.payload, retries)

    def cancelled_result(self, text):
        """The error result of this task cancelled here, before the broker had it."""
        return {"task_id": self.task_id, "status": _fx.RESULT_ERROR,
                "error_code": _fx.E_CANCELLED, "error_name": _fx.errname(_fx.E_CANCELLED),
                "error_text": text, "value": b"", "output": b""}
