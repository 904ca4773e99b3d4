"""fx_runner: the Python half of fx-worker.

fx-worker (C) owns the socket and the loop; for each task it calls run()
below with the task's fields and sends back the 5-tuple run() returns:

    (status, error_code, error_text, value, output)

status is OK, EXCEPTION or ERROR (fx_result_status_t); error_code an fx_err_t
when status is ERROR; value and output are bytes (the result's two frames).
run() never raises: whatever goes wrong becomes an error result.

The common case does not come here (fx_pyfast.c, "the fast path"): a Python
task whose function is already loaded (_by_version or _by_id), with the
pickle payload format, with the worker's major.minor
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

Semantics: proto/SPEC.md 12.1-12.4. A task's serializer is STRATEGY+PAYLOAD
(12.1.1): the function comes from its body by `source` (exec in a fresh
module namespace), `dill` (dill.loads) or `reference` (module:qualname), or
the body is a `shell` template (kind 2); the payload and the result are
`pickle` or `pickle5` (the FXP5 framing with out-of-band buffers, read
through memoryviews over the task's frame). A bare `pickle` is
`source+pickle`.

Loaded functions are cached by function_version (_by_version, first in
first out, at most BODIES_MAX): the manager sends a version's body to a
worker only the first time, and keeps a copy of this cache's keys in the
same order to know which (manager/fx_mgr_bodies.c), so the two evict alike.
A task without a version (version 1 clients, tests) is cached by
function_id and body (_by_id).
"""
import builtins
import importlib
import importlib.util
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


def _executable():
    """A Python that runs, of this interpreter's version, for sys.executable
    (embedded, it is '': fx-worker is not a Python), so that a task can run
    subprocess.run([sys.executable, ...])."""
    name = "python%d.%d" % sys.version_info[:2]
    for path in (os.path.join(sys.base_prefix, "bin", name), os.path.join("/usr/bin", name),
                 os.path.join(sys.base_prefix, "bin", "python3")):
        if os.access(path, os.X_OK):
            return path
    return sys.executable


sys.executable = sys._base_executable = _executable()

# Loaded functions, so a warm worker loads each once: key -> (body, entry,
# callable or None, strategy). _by_version is keyed by function_version
# and mirrored by the manager (module docstring): a body is added only when
# one arrives for a version not in it, the oldest goes first when full,
# and an entry whose load failed keeps its body (callable None) so that a
# later task of that version, sent without its body, fails the same way.
# _by_id holds tasks without a version, keyed by function_id; a body that
# changed under the same id is loaded again.
_CACHE_MAX = 256  # _by_id; _by_version holds BODIES_MAX (worker/fx_wlink.h)
_by_version = {}
_by_id = {}
_STRATEGIES = ("source", "dill", "reference", "shell")
_FORMATS = ("pickle", "pickle5")


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


def _exception(e, output, fmt="pickle"):
    """An EXCEPTION result: the pickled exception (b"" if it does not survive
    a pickle round trip), 'TypeName: message', output + remote traceback."""
    try:
        value = _dumps(e, fmt)
        _loads(value, fmt)  # a client that cannot load it is better off with b""
    except BaseException:
        value = b""
    if len(value) > PAYLOAD_MAX:
        value = b""
    if output and not output.endswith("\n"):
        output += "\n"
    output += "--- remote traceback ---\n" + _traceback_text(e)
    return (EXCEPTION, 0, _describe(e), value, output.encode("utf-8", "replace"))


# ------------------------------------------------ payload formats (12.1.1)

_FXP5 = b"FXP5"


def _fxp5_loads(data):
    """pickle.loads of an FXP5 frame: its out-of-band buffers are
    memoryviews over `data` (no copy); `data` is a buffer the caller keeps
    alive as long as the objects made from it (fx_pyrun.c hands over an
    object that owns the task's frame)."""
    mv = memoryview(data).cast("B")
    size = len(mv)
    if size < 16 or mv[:4] != _FXP5:
        raise ValueError("a pickle5 payload starts with b'FXP5', a buffer count and lengths")
    count = int.from_bytes(mv[4:8], "little")
    at = 8
    if at + 8 * (count + 1) > size:
        raise ValueError("pickle5 framing: %d buffers do not fit %d bytes" % (count, size))
    lengths = [int.from_bytes(mv[at + 8 * i:at + 8 * i + 8], "little") for i in range(count + 1)]
    at += 8 * (count + 1)
    stream_len = lengths.pop()
    if at + stream_len + sum(lengths) != size:
        raise ValueError("pickle5 framing: the lengths add up to %d bytes, the frame has %d"
                         % (at + stream_len + sum(lengths), size))
    stream = mv[at:at + stream_len]
    at += stream_len
    buffers = []
    for n in lengths:
        buffers.append(mv[at:at + n])
        at += n
    return pickle.loads(stream, buffers=buffers)


def _fxp5_dumps(obj):
    """obj as an FXP5 frame: pickle protocol 5, buffers out of band."""
    buffers = []
    stream = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    head = [_FXP5, len(views).to_bytes(4, "little")]
    head += [len(v).to_bytes(8, "little") for v in views]
    head.append(len(stream).to_bytes(8, "little"))
    return b"".join(head + [stream] + views)


def _loads(data, fmt):
    return _fxp5_loads(data) if fmt == "pickle5" else pickle.loads(data)


def _dumps(obj, fmt):
    return _fxp5_dumps(obj) if fmt == "pickle5" else pickle.dumps(obj)


def _load_arguments(payload, fmt):
    """(args, kwargs) from the payload frame (bytes, or a _fxworker.Frame);
    an empty payload means none."""
    payload = memoryview(payload)
    if not payload.nbytes:
        return (), {}
    obj = _loads(payload, fmt)
    if not (isinstance(obj, (tuple, list)) and len(obj) == 2
            and isinstance(obj[0], (tuple, list)) and isinstance(obj[1], dict)):
        raise TypeError("the payload must be the %s of (args, kwargs) with args a tuple "
                        "and kwargs a dict, got a %s" % (fmt, type(obj).__name__))
    if not all(isinstance(k, str) for k in obj[1]):
        raise TypeError("keyword argument names must be str")
    return tuple(obj[0]), obj[1]


# ------------------------------------------------ strategies (12.1.1)

def _dill_version():
    """The version of the dill this worker would import, without importing
    it (that takes half a second on a loaded machine): None if absent."""
    try:
        spec = importlib.util.find_spec("dill")
    except BaseException:
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        try:
            with open(os.path.join(folder, "__info__.py"), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("__version__"):
                        return line.split("=", 1)[1].strip().strip("'\"")
        except OSError:
            pass
    return "unknown"

DILL_VERSION = _dill_version()
RUNTIME = "python %s" % PY_VERSION + ("; dill %s" % DILL_VERSION if DILL_VERSION else "")


def _load_source(function_key, entry, body):
    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _LoadError("the function body is not UTF-8 text (%s); send Python source" % e)
    if not entry.isidentifier():
        raise _LoadError("entry %r is not a Python identifier; name the function to call" % entry)
    filename = "<fx function %s>" % function_key
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
    return fn


def _missing_module(e, what):
    """The FX_E_LOAD text for a module missing on the endpoint."""
    return ("module %r is not installed on the endpoint (%s, host %s), so %s cannot be loaded there; "
            "install it on the endpoint, or send the function by value (dill)"
            % (e.name, sys.executable or "fx-worker", os.uname().nodename, what))


def _load_dill(entry, body, dill_version):
    client = dill_version or "unknown"
    if DILL_VERSION is None:
        raise _LoadError("the function was serialized with dill %s, but dill is not installed on the "
                         "endpoint (Python %s); install python3-dill there" % (client, PY_VERSION))
    try:
        import dill
        fn = dill.loads(body)
    except ModuleNotFoundError as e:
        raise _LoadError(_missing_module(e, "the function %s (dill %s on the client, dill %s on the "
                                            "endpoint)" % (entry or "?", client, DILL_VERSION)))
    except BaseException as e:
        raise _LoadError("cannot load the function with dill on the endpoint: %s (serialized with dill "
                         "%s, the endpoint has dill %s; Python %s)"
                         % (_describe(e), client, DILL_VERSION, PY_VERSION))
    return fn


def _load_reference(body):
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _LoadError("a reference body is module:qualname in UTF-8 (%s)" % e)
    module_name, sep, qualname = text.strip().partition(":")
    if not sep or not module_name or not qualname:
        raise _LoadError("a reference body is module:qualname, not %r" % text[:200])
    try:
        obj = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise _LoadError(_missing_module(e, "the reference %s" % text))
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise _LoadError("%s has no %r on the endpoint (reference %s)" % (module_name, part, text))
    return obj


def _cache_of(version, function_id):
    """(cache, key) for a task: by version, or by id without one."""
    return (_by_version, version) if version else (_by_id, function_id)


def _remember(version, function_id, body, entry, strategy):
    """Puts the body that came with a task into the cache, first thing
    (whatever the task then does, so that the manager's copy of the keys
    stays right), and returns the task's cache entry: None for a version
    sent without its body that is not cached."""
    cache, key = _cache_of(version, function_id)
    hit = cache.get(key)
    if hit is not None and (not body or (hit[0] == body and hit[1] == entry and hit[3] == strategy)):
        return hit
    if not body and version:
        return None
    if hit is None and len(cache) >= (BODIES_MAX if version else _CACHE_MAX):
        cache.pop(next(iter(cache)))
    hit = (body, entry, None, strategy)
    cache[key] = hit  # a key already there keeps its place
    return hit


def _function(version, function_id, hit, dill_version):
    """The callable of a cache entry, loaded once. Raises _LoadError for
    what is not the user's code raising; SyntaxError and exceptions from a
    source body's top level propagate."""
    body, entry, fn, strategy = hit
    if fn is not None:
        return fn
    if strategy == "source":
        fn = _load_source(version or function_id, entry, body)
    elif strategy == "dill":
        fn = _load_dill(entry, body, dill_version)
    elif strategy == "reference":
        fn = _load_reference(body)
    else:
        raise _LoadError("strategy %r does not give a Python function" % strategy)
    if not callable(fn):
        raise _LoadError("%r in the function body is a %s, not a function" % (entry, type(fn).__name__))
    cache, key = _cache_of(version, function_id)
    if cache.get(key) is hit:
        cache[key] = (body, entry, fn, strategy)
    return fn


_capture = _Capture(OUTPUT_MAX)


def _run_python(version, function_id, hit, dill_version, args, kwargs, fmt):
    capture = _capture
    capture.begin()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = capture
    entry = hit[1]
    try:
        fn = _function(version, function_id, hit, dill_version)
        value = fn(*args, **kwargs)
    except _LoadError as e:
        return _error(E_LOAD, str(e), capture.take())
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: the worker lives on
        return _exception(e, capture.take(), fmt)
    finally:
        sys.stdout, sys.stderr = saved
    output = capture.take()
    try:
        data = _dumps(value, fmt)
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


def _run_shell(template_bytes, args, kwargs, walltime_ms, fmt):
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
    value = _dumps({"returncode": returncode, "stdout": out.text(), "stderr": err.text()}, fmt)
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


def _parse_serializer(kind, serializer):
    """(strategy, payload format) of a serializer (12.1.1)."""
    if serializer in ("", "pickle"):
        return ("shell" if kind == FN_SHELL else "source"), "pickle"
    strategy, sep, fmt = serializer.partition("+")
    if not sep or strategy not in _STRATEGIES or fmt not in _FORMATS:
        raise _LoadError("serializer %r is not supported by this worker; it takes STRATEGY+PAYLOAD with "
                         "STRATEGY one of %s and PAYLOAD one of %s"
                         % (serializer, ", ".join(_STRATEGIES), ", ".join(_FORMATS)))
    if (strategy == "shell") != (kind == FN_SHELL):
        raise _LoadError("serializer %r does not go with function kind %d (shell is kind %d)"
                         % (serializer, kind, FN_SHELL))
    return strategy, fmt


def _run(kind, function_id, version, entry, body, payload, py_version, dill_version, serializer,
         walltime_ms):
    try:
        strategy, fmt = _parse_serializer(kind, serializer)
    except _LoadError as e:
        strategy, fmt = None, None
        failed = str(e)
    hit = _remember(version, function_id, body, entry, strategy)  # first: the manager counts on it
    if kind not in (FN_PYTHON, FN_SHELL):
        return _error(E_LOAD, "unknown function kind %d; this worker runs %d (python) and %d (shell)"
                      % (kind, FN_PYTHON, FN_SHELL))
    if fmt is None:
        return _error(E_LOAD, failed)
    if hit is None:
        return _error(E_LOAD, "function version %s: the task came without its body and this worker has "
                      "not cached it (the manager sends a body once per worker)" % version)
    if py_version and py_version.split(".")[:2] != PY_VERSION.split(".")[:2]:
        return _error(E_VERSION_MISMATCH,
                      "client Python %s (%s) vs worker Python %s (%s): pickled data needs the same "
                      "major.minor on both sides; run the endpoint with Python %s"
                      % (py_version, serializer, PY_VERSION, serializer,
                         ".".join(py_version.split(".")[:2])))
    try:
        args, kwargs = _load_arguments(payload, fmt)
    except BaseException as e:
        return _error(E_LOAD, "cannot unpickle the task's arguments: %s (client Python %s vs worker "
                      "Python %s)" % (_describe(e), py_version or "unknown", PY_VERSION))
    if kind == FN_PYTHON:
        return _run_python(version, function_id, hit, dill_version, args, kwargs, fmt)
    return _run_shell(hit[0], args, kwargs, walltime_ms, fmt)


def run(kind, function_id, version, entry, body, payload, py_version, dill_version, serializer,
        walltime_ms):
    """Runs one task; see the module docstring. Never raises."""
    try:
        return _run(kind, function_id, version, entry, body, payload, py_version, dill_version,
                    serializer, walltime_ms)
    except BaseException as e:  # a fault in this runner, never in the user's code
        return _error(E_INTERNAL, "fx-worker's runner failed: %s" % _describe(e),
                      "".join(traceback.format_exception(type(e), e, e.__traceback__)))
