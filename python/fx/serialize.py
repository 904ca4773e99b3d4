"""fx.serialize: how functions, arguments and results become bytes and back.

Only the client and the worker read payloads (SPEC 12); every hop between
them passes the bytes through. This module is the client's half:

- Serializer: turns objects into the bytes of a payload frame and back. Its
  `name` is what a task record's `serializer` field says (SPEC 5.0, field
  8), so every task records which serializer made its payload, and the
  client reads that task's result with the same one. Protocol version 1
  knows one, "pickle" (SPEC 12.1.1); others join by register(). A task's
  payload is the serialized `(args, kwargs)`: pack_args().
- function_spec(): the REGISTER_FUNCTION fields of a Python function (its
  source text, or an import for a builtin) or of an fx.ShellFunction.
- unpack_result(): a result record back into a value, or the exception to
  raise (the remote one rebuilt when it can be, with its traceback).
"""
import ast
import collections
import inspect
import pickle
import textwrap

from . import _fx
from .errors import (DeserializationError, Error, PayloadTooLarge, TaskCancelled, TaskError,
                     TaskFailed)
from .shell import ShellFunction, ShellResult

__all__ = ["Serializer", "PickleSerializer", "register", "get", "DEFAULT", "pack_args",
           "function_spec", "FunctionSpec", "unpack_result", "split_output", "TRACEBACK_MARKER"]

# The line a worker writes between the captured output and the traceback.
TRACEBACK_MARKER = "--- remote traceback ---"


class Serializer:
    """One way of turning objects into bytes and back. Subclasses set
    `name` (at most FX_NAME_MAX bytes: it travels in every task record)
    and implement dumps and loads."""

    name = ""

    def dumps(self, obj):
        raise NotImplementedError

    def loads(self, data):
        raise NotImplementedError

    def __repr__(self):
        return f"<fx serializer {self.name!r}>"


class PickleSerializer(Serializer):
    """The standard library's pickle, default protocol: SPEC 12.1.1."""

    name = "pickle"

    def dumps(self, obj):
        return pickle.dumps(obj)

    def loads(self, data):
        return pickle.loads(data)


_registry = {}


def register(serializer):
    """Make a Serializer known by its name; returns it."""
    if not serializer.name or len(serializer.name.encode()) > _fx.NAME_MAX:
        raise ValueError(f"a serializer's name must be 1..{_fx.NAME_MAX} bytes")
    _registry[serializer.name] = serializer
    return serializer


DEFAULT = register(PickleSerializer()).name


def get(name=None):
    """The serializer called `name` (None: the default)."""
    try:
        return _registry[DEFAULT if name is None else name]
    except KeyError:
        raise Error(f"unknown serializer {name!r} (known: {', '.join(sorted(_registry))})") \
            from None


def pack_args(serializer, args, kwargs):
    """The payload frame of a task: (args, kwargs) serialized, checked
    against FX_PAYLOAD_MAX."""
    payload = serializer.dumps((tuple(args), dict(kwargs)))
    if len(payload) > _fx.PAYLOAD_MAX:
        raise PayloadTooLarge(
            f"task arguments serialize ({serializer.name}) to {len(payload)} bytes; the limit "
            f"(FX_PAYLOAD_MAX) is {_fx.PAYLOAD_MAX} bytes: pass large data by reference (a "
            f"file path or URL), not by value", len(payload), _fx.PAYLOAD_MAX)
    return payload


# ---- functions ----------------------------------------------------------------

# What REGISTER_FUNCTION carries (SPEC 5.5), plus the function's own
# walltime (a ShellFunction's; 0 = none), the default of its tasks.
FunctionSpec = collections.namedtuple("FunctionSpec", "kind name entry body walltime_ms")


def function_spec(function, name=None):
    """The FunctionSpec of a plain Python function or an fx.ShellFunction,
    checked against the protocol's limits."""
    if isinstance(function, ShellFunction):
        spec = FunctionSpec(_fx.FN_SHELL, name or function.name, "", function.cmd.encode(),
                            int((function.walltime or 0) * 1000))
    else:
        body = _function_source(function).encode()
        spec = FunctionSpec(_fx.FN_PYTHON, name or function.__qualname__, function.__name__,
                            body, 0)
    spec = spec._replace(name=spec.name[:_fx.NAME_MAX])
    if len(spec.entry.encode()) > _fx.NAME_MAX:
        raise Error(f"function name {spec.entry[:40]}... is longer than {_fx.NAME_MAX} bytes")
    if len(spec.body) > _fx.PAYLOAD_MAX:
        raise PayloadTooLarge(f"function body is {len(spec.body)} bytes; the limit "
                              f"(FX_PAYLOAD_MAX) is {_fx.PAYLOAD_MAX} bytes",
                              len(spec.body), _fx.PAYLOAD_MAX)
    return spec


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


# ---- results --------------------------------------------------------------------

def split_output(output):
    """(what the task printed, the remote traceback or '') of an output frame."""
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


def unpack_result(raw, kind=None, serializer=None):
    """(value, None) or (None, exception) for a raw result record (a dict
    from the RESULTS message). kind: the function's kind if known;
    serializer: the name the task was submitted with (None: the default)."""
    task_id = raw["task_id"]
    status = raw["status"]
    codec = get(serializer)
    if status == _fx.RESULT_OK:
        try:
            value = codec.loads(raw["value"])
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
        _, tb = split_output(raw["output"])
        error_text = raw.get("error_text") or "remote exception"
        exc = None
        if raw["value"]:
            try:
                exc = codec.loads(raw["value"])
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
