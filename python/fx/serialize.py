"""fx.serialize: how functions, arguments and results become bytes and back.

Only the client and the worker read payloads (SPEC 12); every hop between
them passes the bytes through. This module is the client's half:

- Serializer: turns objects into the bytes of a payload frame and back. Its
  `name` is the PAYLOAD half of a task's `serializer` (SPEC 12.1.1), so
  every task records which format its payload is in, and the client reads
  that task's result with the same one: "pickle" (one stream) and
  "pickle5" (the default: protocol 5 with out-of-band buffers in the FXP5
  framing, so a numpy array is copied once into the frame and read back
  without a copy); others join by register(). A task's payload is the
  serialized `(args, kwargs)`: pack_args().
- function_spec(): the REGISTER_FUNCTION fields of a Python function (its
  body by strategy, fx.functions) or of an fx.ShellFunction.
- unpack_result(): a result record back into a value, or the exception to
  raise (the remote one rebuilt when it can be, with its traceback).
"""
import collections
import pickle
import platform

from . import _fx, functions
from .errors import (DeserializationError, Error, PayloadTooLarge, TaskCancelled, TaskError,
                     TaskFailed)
from .shell import ShellFunction, ShellResult

__all__ = ["Serializer", "PickleSerializer", "Pickle5Serializer", "register", "get", "DEFAULT",
           "pack_args", "pack_many", "function_spec", "FunctionSpec", "unpack_result",
           "split_output", "fxp5_dumps", "fxp5_loads", "TRACEBACK_MARKER"]

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


# The FXP5 framing (SPEC 12.1.1): magic, u32 buffer count N, N u64 buffer
# lengths, the u64 length of the pickle stream (all little-endian), the
# stream, the buffers.
FXP5_MAGIC = b"FXP5"


def fxp5_dumps(obj):
    """obj as one FXP5 frame: pickle protocol 5, buffers out of band, each
    copied once, into the frame."""
    buffers = []
    stream = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    head = [FXP5_MAGIC, len(views).to_bytes(4, "little")]
    head += [v.nbytes.to_bytes(8, "little") for v in views]
    head.append(len(stream).to_bytes(8, "little"))
    return b"".join(head + [stream] + views)


def fxp5_loads(data):
    """The object of an FXP5 frame; its buffers are memoryviews of data (no
    copy: an array made from them is read-only when data is bytes)."""
    mv = memoryview(data).cast("B")
    size = len(mv)
    if size < 16 or mv[:4] != FXP5_MAGIC:
        raise ValueError("not an FXP5 frame (b'FXP5', a buffer count, lengths)")
    count = int.from_bytes(mv[4:8], "little")
    at = 8 + 8 * (count + 1)
    if at > size:
        raise ValueError(f"FXP5 frame: {count} buffers do not fit in {size} bytes")
    lengths = [int.from_bytes(mv[8 + 8 * i:16 + 8 * i], "little") for i in range(count + 1)]
    stream_len = lengths.pop()
    if at + stream_len + sum(lengths) != size:
        raise ValueError(f"FXP5 frame: its lengths add up to {at + stream_len + sum(lengths)} "
                         f"bytes, the frame has {size}")
    stream = mv[at:at + stream_len]
    at += stream_len
    views = []
    for n in lengths:
        views.append(mv[at:at + n])
        at += n
    return pickle.loads(stream, buffers=views)


class Pickle5Serializer(Serializer):
    """Pickle protocol 5 with out-of-band buffers, FXP5-framed (12.1.1).
    It also reads a plain pickle stream (a worker's exception may be one)."""

    name = "pickle5"

    def dumps(self, obj):
        return fxp5_dumps(obj)

    def loads(self, data):
        if data[:4] == FXP5_MAGIC:
            return fxp5_loads(data)
        return pickle.loads(data)


_registry = {}


def register(serializer):
    """Make a Serializer known by its name; returns it."""
    if not serializer.name or len(serializer.name.encode()) > _fx.NAME_MAX:
        raise ValueError(f"a serializer's name must be 1..{_fx.NAME_MAX} bytes")
    _registry[serializer.name] = serializer
    return serializer


register(PickleSerializer())
DEFAULT = register(Pickle5Serializer()).name


def get(name=None):
    """The serializer called `name` (None: the default); a task's
    `STRATEGY+PAYLOAD` names its PAYLOAD's."""
    if name is not None and "+" in name:
        name = name.partition("+")[2]
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
        _too_large(serializer, payload)
    return payload


def pack_many(serializer, calls):
    """The payload frames of many tasks, one per (args tuple, kwargs dict)
    of calls, checked against FX_PAYLOAD_MAX."""
    dumps = serializer.dumps
    payloads = [dumps(call) for call in calls]
    if payloads and max(map(len, payloads)) > _fx.PAYLOAD_MAX:
        _too_large(serializer, next(p for p in payloads if len(p) > _fx.PAYLOAD_MAX))
    return payloads


def _too_large(serializer, payload):
    raise PayloadTooLarge(
        f"task arguments serialize ({serializer.name}) to {len(payload)} bytes; the limit "
        f"(FX_PAYLOAD_MAX) is {_fx.PAYLOAD_MAX} bytes: pass large data by reference (a "
        f"file path or URL), not by value", len(payload), _fx.PAYLOAD_MAX)


# ---- functions ----------------------------------------------------------------

# What REGISTER_FUNCTION carries (SPEC 5.5), plus the function's own
# walltime (a ShellFunction's; 0 = none), the default of its tasks.
FunctionSpec = collections.namedtuple(
    "FunctionSpec", "kind name entry body walltime_ms serializer dill_version description")


def function_spec(function, name=None, strategy=None, description=None):
    """The FunctionSpec of a Python function (its body by strategy: None =
    fx.functions.choose) or of an fx.ShellFunction, checked against the
    protocol's limits."""
    if isinstance(function, ShellFunction):
        spec = FunctionSpec(_fx.FN_SHELL, name or function.name, "", function.cmd.encode(),
                            int((function.walltime or 0) * 1000), "shell", "", description)
    else:
        if not callable(function):
            raise Error(f"cannot register {function!r}: not callable")
        strategy = strategy or functions.choose(function)
        entry, body, dill_version = functions.body(function, strategy)
        label = getattr(function, "__qualname__", None) or getattr(function, "__name__", "function")
        spec = FunctionSpec(_fx.FN_PYTHON, name or label, entry, body, 0, strategy, dill_version,
                            description)
    spec = spec._replace(name=spec.name[:_fx.NAME_MAX])
    if len(spec.entry.encode()) > _fx.NAME_MAX:
        raise Error(f"function name {spec.entry[:40]}... is longer than {_fx.NAME_MAX} bytes")
    if len(spec.body) > _fx.PAYLOAD_MAX:
        raise PayloadTooLarge(f"function body is {len(spec.body)} bytes; the limit "
                              f"(FX_PAYLOAD_MAX) is {_fx.PAYLOAD_MAX} bytes",
                              len(spec.body), _fx.PAYLOAD_MAX)
    return spec


# ---- results --------------------------------------------------------------------

def split_output(output):
    """(what the task printed, the remote traceback or '') of an output frame."""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    printed, marker, tb = text.partition(TRACEBACK_MARKER)
    if not marker:
        return text, ""
    return printed.rstrip("\n") + ("\n" if printed.strip() else ""), tb.lstrip("\n")


# Per exception class, a subclass whose str() adds the remote traceback.
_with_traceback = {}


def _traceback_class(cls):
    """cls's subclass (same name) whose str() ends with the remote
    traceback, whatever cls's own __str__ makes of its args (ImportError's
    msg, OSError's errno, KeyError's repr); it pickles as cls. None for a
    class that cannot be subclassed."""
    sub = _with_traceback.get(cls)
    if sub is None and cls not in _with_traceback:
        def __str__(self):
            return cls.__str__(self) + self.__dict__.get("_fx_note", "")

        def __reduce__(self):
            state = {k: v for k, v in self.__dict__.items() if k != "_fx_note"}
            return cls, self.args, state or None
        try:
            sub = type(cls.__name__, (cls,), {"__str__": __str__, "__reduce__": __reduce__,
                                              "__module__": cls.__module__,
                                              "__qualname__": cls.__qualname__})
        except TypeError:
            sub = None
        _with_traceback[cls] = sub
    return sub


def _twin(exc):
    """exc rebuilt as its _traceback_class, with the same args, attributes
    and fields, or None."""
    sub = _traceback_class(type(exc))
    if sub is None:
        return None
    try:
        twin = sub.__new__(sub, *exc.args)
        twin.__init__(*exc.args)              # fields set by __init__ (UnicodeError's)
        twin.__dict__.update(exc.__dict__)
        if isinstance(exc, ImportError):
            twin.msg, twin.name, twin.path = exc.msg, exc.name, exc.path
        twin.__cause__, twin.__context__ = exc.__cause__, exc.__context__
        return twin if sub.__str__(twin) is not None else None
    except Exception:
        return None


def _augment(exc, task_id, tb):
    """The remote exception with the remote traceback at the end of its
    str() (for every type) and as .remote_traceback; .task_id names the task."""
    if tb:
        note = f"\n\n{TRACEBACK_MARKER} (task {task_id})\n{tb.rstrip()}"
        twin = _twin(exc)
        if twin is not None:
            twin._fx_note = note
            exc = twin
        elif len(exc.args) == 1 and isinstance(exc.args[0], str):
            exc.args = (exc.args[0] + note,)   # a class that cannot be rebuilt: in its args
        else:
            exc.args = tuple(exc.args) + (note,)
    for name, value in (("remote_traceback", tb), ("task_id", task_id)):
        try:
            setattr(exc, name, value)
        except (AttributeError, TypeError):
            pass
    return exc


def unpack_result(raw, kind=None, serializer=None):
    """(value, None) or (None, exception) for a result record: an
    fx._fx.Result, or a dict with the same fields (task_id, status,
    error_code, error_text, value, output). kind: the function's kind if
    known; serializer: the name the task was submitted with (None: the
    default)."""
    if isinstance(raw, dict):
        raw = _fx.Result((raw["task_id"], raw["status"], raw.get("error_code") or 0,
                          raw.get("error_text"), raw.get("value", b""), raw.get("output", b"")))
    task_id, status, error_code, error_text, value, output = raw
    codec = get(serializer)
    if status == _fx.RESULT_OK:
        try:
            value = codec.loads(value)
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
        _, tb = split_output(output)
        error_text = error_text or "remote exception"
        exc = None
        if value:
            try:
                exc = codec.loads(value)
            except Exception:
                exc = None
        if isinstance(exc, BaseException):
            return None, _augment(exc, task_id, tb)
        message = f"task {task_id} raised {error_text}"
        if tb:
            message += f"\n\n{TRACEBACK_MARKER}\n{tb.rstrip()}"
        return None, TaskFailed(message, task_id=task_id, error_text=error_text,
                                remote_traceback=tb)
    name = _fx.errname(error_code)
    text = error_text or _fx.strerror(error_code)
    if error_code == _fx.E_CANCELLED:
        # the endpoint's text names the task already ("task T cancelled while ...")
        message = text if task_id in text else f"task {task_id} cancelled: {text}"
        return None, TaskCancelled(message, task_id=task_id,
                                   code=_fx.E_CANCELLED, name=name, text=text)
    if error_code in (_fx.E_LOAD, _fx.E_VERSION_MISMATCH):
        # it happened on the endpoint: say so, with this side's versions
        dill = functions.dill_version()
        here = f"Python {platform.python_version()}" + (f", dill {dill}" if dill else "")
        return None, TaskError(f"task {task_id} could not be loaded on the endpoint: {name}: "
                               f"{text} (this client: {here})", task_id=task_id,
                               code=error_code, name=name, text=text)
    return None, TaskError(f"task {task_id} failed: {name}: {text}", task_id=task_id,
                           code=error_code, name=name, text=text)
