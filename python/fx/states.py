"""The task states users read (SPEC 5.0), one list for the Python client,
the fx command and the broker's LIST tasks: queued, dispatched,
succeeded, failed (with a reason: exception, cancelled, worker lost,
walltime, load error, version mismatch, shell error, container, error),
plus unknown (not a task of yours) and finished.

The broker's store keeps other states (fx._fx.TASK_*: QUEUED, DISPATCHED,
DONE, DELIVERED, FAILED). DONE and DELIVERED mean "has a result", a
return value and an exception alike, so whether a finished task succeeded
is in its result. "finished" is what a client says of a task whose result
it did not read (SPEC 8.6: reading a result another client has not taken
yet could keep it from that client), as `fx status` does."""
from . import _fx

QUEUED, DISPATCHED, SUCCEEDED, FAILED = "queued", "dispatched", "succeeded", "failed"
FINISHED, UNKNOWN = "finished", "unknown"

#: The users' states, as LIST's state filter takes them.
STATES = (QUEUED, DISPATCHED, SUCCEEDED, FAILED)

#: The reasons of a failure by error code (a result of status
#: RESULT_ERROR); any other code is "error", an exception "exception".
REASONS_BY_CODE = {
    _fx.E_CANCELLED: "cancelled",
    _fx.E_WORKER_LOST: "worker lost",
    _fx.E_WALLTIME: "walltime",
    _fx.E_LOAD: "load error",
    _fx.E_VERSION_MISMATCH: "version mismatch",
    _fx.E_SHELL: "shell error",
    _fx.E_CONTAINER: "container",
}

#: Every reason, as LIST's state filter takes them.
REASONS = ("exception",) + tuple(REASONS_BY_CODE.values()) + ("error",)

# The store's state -> the users' one where the store's alone says it.
_BY_CODE = {_fx.TASK_QUEUED: QUEUED, _fx.TASK_DISPATCHED: DISPATCHED}
#: The store's states that mean the task has a result.
ENDED = (_fx.TASK_DONE, _fx.TASK_DELIVERED, _fx.TASK_FAILED)


def from_result(result):
    """(state, reason) of a task from its result (an fx._fx.Result or a
    dict with status and error_code): ("succeeded", None), or ("failed",
    reason)."""
    status = result["status"] if isinstance(result, dict) else result.status
    code = (result.get("error_code") if isinstance(result, dict) else result.error_code) or 0
    if status == _fx.RESULT_OK:
        return SUCCEEDED, None
    if status == _fx.RESULT_EXCEPTION:
        return FAILED, "exception"
    return FAILED, REASONS_BY_CODE.get(code, "error")


def from_store(state_code, result=None):
    """(state, reason) of a task from the store's state and, for one that
    ended, its result if read (None: not read: "failed" without a reason
    for FAILED, "finished" for DONE and DELIVERED)."""
    if state_code in _BY_CODE:
        return _BY_CODE[state_code], None
    if state_code not in ENDED:
        return UNKNOWN, None
    if result is not None:
        return from_result(result)
    return (FAILED, None) if state_code == _fx.TASK_FAILED else (FINISHED, None)


def text(state, reason):
    """As fx shows it: "failed (walltime)", "queued"."""
    return f"{state} ({reason})" if reason else state
