"""fxb_drive: the line protocol between fx-bench (C) and a Python driver.

fx-bench starts a driver by pid, reads "ready", then writes one command per
line on its stdin and reads one reply per line on its stdout:

    warm KIND N        N sequential round trips, not timed
    latency KIND N     N sequential round trips -> ok US US ... (one per trip)
    map KIND N         N tasks through the system's map -> ok SECONDS
    batch KIND N       N tasks as batches, then every result -> ok SECONDS
    payload BYTES N    N round trips of a numpy array of BYTES -> ok US ...
    quit

KIND is py (a Python no-op) or sh (a shell no-op). A failure answers
"error TEXT" (one line) and the driver goes on. The backend object has one
method per command (cmd_latency, ...) taking the words as strings and
returning a list of numbers; fx-bench measures CPU time and everything
else around the command from outside.
"""
import signal
import sys
import time
import traceback


def noop(x=None):
    """The Python no-op every system runs."""
    return x


def shell_noop(x=None):
    """The shell no-op for systems without shell functions: run `true`."""
    import subprocess
    return subprocess.run(["true"]).returncode


def timed_trips(n, one_trip):
    """Runs one_trip() n times; returns each round trip in microseconds."""
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        one_trip(i)
        out.append((time.perf_counter() - t0) * 1e6)
    return out


class TripBackend:
    """warm and latency from one method, trip(kind) -> a function of i that
    makes one round trip; subclasses add map, batch, payload."""

    def trip(self, kind):
        raise NotImplementedError

    def cmd_warm(self, kind, n):
        timed_trips(int(n), self.trip(kind))
        return []

    def cmd_latency(self, kind, n):
        return timed_trips(int(n), self.trip(kind))


def numpy_array(nbytes):
    """A numpy array of nbytes random bytes, or an error naming the package."""
    try:
        import numpy
    except ImportError:
        raise RuntimeError("numpy is not installed: apt-get install python3-numpy") from None
    return numpy.random.default_rng(7).integers(0, 256, size=int(nbytes), dtype=numpy.uint8)


def serve(backend):
    """Answers commands on stdin until quit, end of input or SIGTERM; then
    closes the backend (which stops what it started)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        _loop(backend)
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()


def _loop(backend):
    out = sys.stdout
    print("ready", file=out, flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        method = getattr(backend, "cmd_" + words[0], None)
        try:
            if method is None:
                raise ValueError(f"unknown command {words[0]!r}")
            values = method(*words[1:])
            print("ok", *(f"{v:.6g}" for v in values), file=out, flush=True)
        except Exception as exc:  # the reply says what failed; the driver lives on
            traceback.print_exc(file=sys.stderr)
            text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            print("error", text, file=out, flush=True)
