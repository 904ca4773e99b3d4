"""fx.errors: every exception the fx client raises.

All derive from fx.Error. Those with a natural built-in meaning also derive
from the built-in (fx.ConnectionError is a ConnectionError, fx.TimeoutError a
TimeoutError, fx.PayloadTooLarge a ValueError), so generic handlers work.
"""
import builtins

from ._fx import Error, ProtocolError

# The base under a second name, for code that prefers it.
FxError = Error

__all__ = [
    "Error", "FxError", "ProtocolError", "ConnectionError", "TimeoutError", "PayloadTooLarge",
    "RequestError", "TaskFailed", "TaskError", "TaskCancelled", "DeserializationError",
    "ClientClosed",
]


class ConnectionError(Error, builtins.ConnectionError):
    """The broker cannot be reached, refused the session, or never answered."""


class TimeoutError(Error, builtins.TimeoutError):
    """A wait (for a reply or a result) ran past its deadline."""


class PayloadTooLarge(Error, ValueError):
    """A task's pickled arguments (or a function body) exceed FX_PAYLOAD_MAX."""

    def __init__(self, message, size=None, limit=None):
        super().__init__(message)
        self.size = size
        self.limit = limit


class RequestError(Error):
    """The broker answered a request with ERROR: .code, .name, .text."""

    def __init__(self, message, code=0, name="", text=""):
        super().__init__(message)
        self.code = code
        self.name = name
        self.text = text


class TaskFailed(Error):
    """The remote function raised an exception that could not be rebuilt
    here (not picklable, or its class is not importable locally).
    .error_text is "TypeName: message", .remote_traceback the formatted
    remote traceback, .task_id the task."""

    def __init__(self, message, task_id="", error_text="", remote_traceback=""):
        super().__init__(message)
        self.task_id = task_id
        self.error_text = error_text
        self.remote_traceback = remote_traceback


class TaskError(Error):
    """fx could not run the task (FX_RESULT_ERROR): .code (int), .name
    ("FX_E_VERSION_MISMATCH"), .text (the sentence from the worker or broker),
    .task_id."""

    def __init__(self, message, task_id="", code=0, name="", text=""):
        super().__init__(message)
        self.task_id = task_id
        self.code = code
        self.name = name
        self.text = text


class TaskCancelled(TaskError):
    """The task was cancelled (Client.cancel) before or while it ran: its
    result is the error FX_E_CANCELLED. .code == fx._fx.E_CANCELLED, .text
    says when ("cancelled before it ran", "cancelled while running on worker
    pid N")."""


class DeserializationError(Error):
    """A result arrived but its value could not be unpickled here."""


class ClientClosed(Error):
    """The client was closed (or its I/O thread stopped) before the answer came."""
