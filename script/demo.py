"""script/demo's science: a script written the way a scientist writes one
(module imports at the top, a constant, a helper, a closure, numpy), run on
the endpoint the demo started. Reads FX_CREDS and FX_ENDPOINT."""
import math
import os
import socket
import time

import numpy

import fx

EP = os.environ["FX_ENDPOINT"]
SIGMA = 2.0


def gaussian(x, mu=0.0):
    return math.exp(-((x - mu) ** 2) / (2 * SIGMA ** 2)) / (SIGMA * math.sqrt(2 * math.pi))


def integrate(a, b, steps=10_000):
    """The integral of gaussian over [a, b] (midpoint rule), and where it ran."""
    h = (b - a) / steps
    total = sum(gaussian(a + (i + 0.5) * h) for i in range(steps)) * h
    return total, socket.gethostname()


def make_scaler(k):
    def scale(v):
        return v * k
    return scale


with fx.Client(credentials=os.environ["FX_CREDS"]) as client:
    fid = client.register_function(integrate)
    print(f"function: integrate registered as {fid}")
    value, host = client.get_result(client.run(-SIGMA, SIGMA, endpoint_id=EP, function_id=fid), timeout=60)
    print(f"result:   integral of N(0, {SIGMA}) over one sigma = {value:.4f} (expected 0.6827), ran on {host}")

    start = time.monotonic()
    with fx.Executor(endpoint_id=EP, client=client) as ex:
        squares = list(ex.map(lambda x: x * x, range(1000)))
        doubled = ex.submit(make_scaler(2), numpy.arange(1_000_000)).result(timeout=60)
    print(f"map:      1,000 squares (a lambda), sum {sum(squares)}; a numpy array of 1e6 doubled by a closure, "
          f"sum {int(doubled.sum())}, in {time.monotonic() - start:.2f} s")

    shell = client.register_function(fx.ShellFunction("echo shell says {word}"))
    res = client.get_result(client.run(word="hi there", endpoint_id=EP, function_id=shell), timeout=60)
    print(f"shell:    returncode {res.returncode}, stdout {res.stdout.strip()!r}")
