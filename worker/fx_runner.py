"""fx_runner: the Python half of fx-worker.

fx-worker (C) owns the socket and the loop; for each task it calls run()
below with the task's fields and sends back the 5-tuple run() returns:

    (status, error_code, error_text, value, output)

status is OK, EXCEPTION or ERROR (fx_result_status_t); error_code an fx_err_t
when status is ERROR; value and output are bytes (the result's two frames).
run() never raises: whatever goes wrong becomes an error result.

The common case does not come here (fx_pyrun.c, "the fast path"): a Python
task whose function is already in _cache, with the worker's major.minor
and a well-formed pickle of (args, kwargs), is run by the C side itself,
which unpickles, swaps sys.stdout and sys.stderr for _capture, calls the
function and pickles its value with the same steps as _run_python below,
and calls back into this module only for what it does not do itself: the
captured output when something was written (_capture.take), an exception
(exception_answer), a value that cannot be pickled or is too large
(value_answer). Everything else (a first call, any error before the call,
shell tasks) goes through run(). The two paths give the same results.

This file is compiled into the fx-worker binary (worker/embed.cmake), so the
binary needs nothing beside it. The C side sets the constants that mirror
proto/ (OK, E_LOAD, OUTPUT_MAX, ...) in this module's namespace before it
runs this file, so the numbers live in one place: proto/fx_error.h and
proto/fx_limits.h.

Semantics: /work/fx-contracts.md, "Task body".
"""
import builtins
import io
import linecache
import os
import pickle
import selectors
import shlex
import signal
import subprocess
import sys
import time
import traceback

import _fxworker  # built into fx-worker: child process bookkeeping

PY_VERSION = "%d.%d.%d" % sys.version_info[:3]
_RUNNER_FILE = "<fx-runner>"  # co_filename of this code (see fx_pyrun.c)

# Compiled functions by function_id, so a warm worker compiles each once:
# function_id -> (body, entry, callable). The oldest entry goes first when
# full; a function whose body changed under the same id is compiled again.
_CACHE_MAX = 256
_cache = {}


class _LoadError(Exception):
    """The task cannot be loaded: not the user's code raising."""


class _Sink:
    """Keeps the first `cap` bytes written to it and counts the rest; `n`
    is every byte written (the C side reads it to see whether a task wrote
    anything at all)."""

    def __init__(self, cap):
        self.data = bytearray()
        self.cap = cap
        self.cut = 0
        self.n = 0

    def add(self, chunk):
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.cut += max(0, len(chunk) - max(room, 0))
        self.n += len(chunk)

    def text(self):
        return _cut_text(bytes(self.data), self.cut)

    def reset(self):
        self.data = bytearray()
        self.cut = 0
        self.n = 0


class _Capture(io.TextIOBase):
    """sys.stdout and sys.stderr during a task (one stream, interleaved as
    written); sys.stdout.buffer feeds the same sink. One for the worker's
    life (_capture), emptied at the start of each task, so that a task that
    prints nothing costs no allocation."""

    encoding = "utf-8"
    errors = "replace"

    def __init__(self, cap):
        super().__init__()
        self.sink = _Sink(cap)
        self.buffer = _BinaryCapture(self.sink)

    def begin(self):
        """A task starts: drop whatever was written since the last one."""
        if self.sink.n:
            self.sink.reset()

    def take(self):
        """What the task wrote, as text with the cut marker; emptied."""
        text = self.sink.text()
        self.sink.reset()
        return text

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not %s" % type(s).__name__)
        self.sink.add(s.encode("utf-8", "replace"))
        return len(s)

    def getvalue(self):
        return self.sink.text()


class _BinaryCapture(io.RawIOBase):
    """sys.stdout.buffer during a task."""

    def __init__(self, sink):
        super().__init__()
        self._sink = sink

    def writable(self):
        return True

    def write(self, b):
        data = bytes(b)
        self._sink.add(data)
        return len(data)


def _cut_text(data, cut):
    """data as text (bytes, UTF-8), with the marker the contract names when
    `cut` bytes were dropped."""
    text = data.decode("utf-8", "replace")
    if cut:
        if text and not text.endswith("\n"):
            text += "\n"
        text += "[... %d bytes cut]\n" % cut
    return text


def _describe(e):
    """'TypeName: message', or 'TypeName' when the message is empty."""
    name = type(e).__name__
    try:
        msg = str(e)
    except BaseException:
        msg = "(str() of the exception failed)"
    return "%s: %s" % (name, msg) if msg else name


def _traceback_text(e):
    """The exception's traceback without this runner's own frames."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _RUNNER_FILE:
        tb = tb.tb_next
    try:
        text = "".join(traceback.format_exception(type(e), e, tb))
    except BaseException as fmt_error:
        text = "(traceback could not be formatted: %s)\n" % _describe(fmt_error)
    data = text.encode("utf-8", "replace")
    return _cut_text(data[:OUTPUT_MAX], max(0, len(data) - OUTPUT_MAX))


def _error(code, text, output=""):
    return (ERROR, code, text, b"", output.encode("utf-8", "replace"))


def _exception(e, output):
    """An EXCEPTION result: the pickled exception (b"" if it does not survive
    a pickle round trip), 'TypeName: message', output + remote traceback."""
    try:
        value = pickle.dumps(e)
        pickle.loads(value)  # a client that cannot load it is better off with b""
    except BaseException:
        value = b""
    if len(value) > PAYLOAD_MAX:
        value = b""
    if output and not output.endswith("\n"):
        output += "\n"
    output += "--- remote traceback ---\n" + _traceback_text(e)
    return (EXCEPTION, 0, _describe(e), value, output.encode("utf-8", "replace"))


def _load_arguments(payload):
    """(args, kwargs) from the payload frame; an empty payload means none."""
    if not payload:
        return (), {}
    obj = pickle.loads(payload)
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2
            and isinstance(obj[0], (tuple, list)) and isinstance(obj[1], dict)):
        raise TypeError("the payload must be pickle.dumps((args, kwargs)) with args a tuple "
                        "and kwargs a dict, got a %s" % type(obj).__name__)
    if not all(isinstance(k, str) for k in obj[1]):
        raise TypeError("keyword argument names must be str")
    return tuple(obj[0]), obj[1]


def _function(function_id, entry, body):
    """The callable `entry` defined by the source `body`, compiled once per
    function_id. Raises _LoadError for what is not the user's code raising;
    SyntaxError and exceptions from the body's top level propagate."""
    hit = _cache.get(function_id)
    if hit is not None and hit[0] == body and hit[1] == entry:
        return hit[2]
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _LoadError("the function body is not UTF-8 text (%s); send Python source" % e)
    if not entry.isidentifier():
        raise _LoadError("entry %r is not a Python identifier; name the function to call" % entry)
    filename = "<fx function %s>" % function_id
    code = compile(source, filename, "exec")
    # Tracebacks show the source lines (mtime None: never checked on disk).
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": "__fx__", "__builtins__": builtins}
    exec(code, namespace)
    fn = namespace.get(entry)
    if fn is None:
        names = sorted(k for k, v in namespace.items() if callable(v) and not k.startswith("__"))
        raise _LoadError("the function body defines no %r (it defines: %s); check the entry name"
                         % (entry, ", ".join(names) or "nothing callable"))
    if not callable(fn):
        raise _LoadError("%r in the function body is a %s, not a function" % (entry, type(fn).__name__))
    if len(_cache) >= _CACHE_MAX:
        _cache.pop(next(iter(_cache)))
    _cache[function_id] = (body, entry, fn)
    return fn


_capture = _Capture(OUTPUT_MAX)


def _run_python(function_id, entry, body, args, kwargs):
    capture = _capture
    capture.begin()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = capture
    try:
        fn = _function(function_id, entry, body)
        value = fn(*args, **kwargs)
    except _LoadError as e:
        return _error(E_LOAD, str(e), capture.take())
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the worker lives on
        return _exception(e, capture.take())
    finally:
        sys.stdout, sys.stderr = saved
    output = capture.take()
    try:
        data = pickle.dumps(value)
    except BaseException as e:
        return value_answer(entry, None, e, output)
    if len(data) > PAYLOAD_MAX:
        return value_answer(entry, data, None, output)
    return (OK, 0, None, data, output.encode("utf-8", "replace"))


def value_answer(entry, data, e, output):
    """The answer for a return value that cannot be pickled (e) or pickles
    to more than PAYLOAD_MAX (data): also the fast path's."""
    if e is not None:
        return (EXCEPTION, 0, "%s: the return value of %s cannot be pickled: %s"
                % (type(e).__name__, entry, e), b"", output.encode("utf-8", "replace"))
    return _error(E_TOO_LARGE, "the return value of %s pickles to %d bytes, over the %d-byte "
                  "limit; store large data elsewhere and return a reference"
                  % (entry, len(data), PAYLOAD_MAX), output)


def exception_answer(e):
    """The fast path's answer when the function raised e: as _run_python's."""
    return _exception(e, _capture.take())


def _shell_child_setup():
    # In the forked child, before exec: die with the worker.
    _fxworker.child_setup()


def _run_shell(template_bytes, args, kwargs, walltime_ms):
    try:
        template = template_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        return _error(E_LOAD, "the shell command template is not UTF-8 text (%s)" % e)
    try:
        command = template.format(*[shlex.quote(str(a)) for a in args],
                                  **{k: shlex.quote(str(v)) for k, v in kwargs.items()})
    except BaseException as e:
        return _error(E_SHELL, "command template %r cannot be filled from the task's arguments "
                      "(%s); pass one argument per {} field" % (template[:200], _describe(e)))
    try:
        proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, preexec_fn=_shell_child_setup)
    except OSError as e:
        return _error(E_SHELL, "cannot start /bin/sh for the command: %s" % e)
    _fxworker.child(proc.pid)
    try:
        streams = {proc.stdout: _Sink(OUTPUT_MAX), proc.stderr: _Sink(OUTPUT_MAX)}
        out, err = streams[proc.stdout], streams[proc.stderr]
        timed_out = _pump(proc, streams, walltime_ms)
        if timed_out:
            os.killpg(proc.pid, signal.SIGKILL)
        returncode = proc.wait()
    finally:
        _fxworker.child(0)
        for stream in (proc.stdout, proc.stderr):
            stream.close()
    if timed_out:
        return _error(E_WALLTIME, "shell command ran over its walltime of %d ms and was killed"
                      % walltime_ms, out.text() + err.text())
    value = pickle.dumps({"returncode": returncode, "stdout": out.text(), "stderr": err.text()})
    return (OK, 0, None, value, b"")


def _pump(proc, streams, walltime_ms):
    """Reads both pipes until they close, keeping what the caps allow.
    Returns True if the walltime ran out first."""
    deadline = time.monotonic() + walltime_ms / 1000.0 if walltime_ms else None
    with selectors.DefaultSelector() as sel:
        for stream in streams:
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            events = sel.select(timeout)
            if not events and deadline is not None and time.monotonic() >= deadline:
                return True
            for key, _ in events:
                chunk = os.read(key.fd, 65536)
                if chunk:
                    streams[key.fileobj].add(chunk)
                else:
                    sel.unregister(key.fileobj)
    return False


def _run(kind, function_id, entry, body, payload, py_version, serializer, walltime_ms):
    if serializer not in ("", "pickle"):
        return _error(E_LOAD, "serializer %r is not supported by this worker; send pickle" % serializer)
    serializer = serializer or "pickle"
    if py_version and py_version.split(".")[:2] != PY_VERSION.split(".")[:2]:
        return _error(E_VERSION_MISMATCH,
                      "client Python %s (%s) vs worker Python %s (%s): pickled data needs the same "
                      "major.minor on both sides; run the endpoint with Python %s"
                      % (py_version, serializer, PY_VERSION, serializer,
                         ".".join(py_version.split(".")[:2])))
    try:
        args, kwargs = _load_arguments(payload)
    except BaseException as e:
        return _error(E_LOAD, "cannot unpickle the task's arguments: %s (client Python %s vs worker "
                      "Python %s)" % (_describe(e), py_version or "unknown", PY_VERSION))
    if kind == FN_PYTHON:
        return _run_python(function_id, entry, body, args, kwargs)
    if kind == FN_SHELL:
        return _run_shell(body, args, kwargs, walltime_ms)
    return _error(E_LOAD, "unknown function kind %d; this worker runs %d (python) and %d (shell)"
                  % (kind, FN_PYTHON, FN_SHELL))


def run(kind, function_id, entry, body, payload, py_version, serializer, walltime_ms):
    """Runs one task; see the module docstring. Never raises."""
    try:
        return _run(kind, function_id, entry, body, payload, py_version, serializer, walltime_ms)
    except BaseException as e:  # a fault in this runner, never in the user's code
        return _error(E_INTERNAL, "fx-worker's runner failed: %s" % _describe(e),
                      "".join(traceback.format_exception(type(e), e, e.__traceback__)))
