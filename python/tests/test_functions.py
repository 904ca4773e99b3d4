"""Functions as scientists write them, client side (SPEC 12.1, 5.5, 5.29-5.32,
12.6): the strategy chosen per function, what cannot travel refused by
name, dill bodies that load where the script's globals are not, versions,
FXP5 payloads read back by a reader written here from the SPEC's words,
get_function, get_provenance and PROV-JSON, remote errors."""
import json
import os
import pickle
import struct
import subprocess
import sys
import threading

import numpy
import pytest

import fx
from fx import _fx, functions, serialize
from conftest import ENDPOINT, TIMEOUT

PYTHON = "/usr/bin/python3"

# A script as a user writes one, run as __main__: it prints each function's
# strategy and entry, and writes each dill body to a file.
SCRIPT = """
import json, math, os, sys, threading
from collections import Counter
from fx import functions

SCALE = 3.0

def helper(x):
    return math.sqrt(x) * SCALE

def uses_helper(x):
    return helper(x) + 1

def pure(x, y=2):
    return x * y + len(str(x))

def make_scaler(k):
    def scale(x):
        return x * k
    return scale

class Acc:
    def __init__(self, k):
        self.k = k

def uses_class(x):
    return Acc(x).k + 1

def with_list_default(x, extra=[1, 2]):
    return x + sum(extra)

def counts(words):
    return dict(Counter(words))

cases = {"uses_helper": uses_helper, "pure": pure, "closure": make_scaler(7),
         "lambda": lambda v: v ** 2 + SCALE, "uses_class": uses_class,
         "with_list_default": with_list_default, "counts": counts, "sqrt": math.sqrt,
         "json_dumps": json.dumps}
out = {}
for name, fn in cases.items():
    strategy = functions.choose(fn)
    entry, body, dill_version = functions.body(fn, strategy)
    out[name] = [strategy, entry, dill_version]
    with open(os.path.join(sys.argv[1], name + ".body"), "wb") as f:
        f.write(body)
print(json.dumps(out))
"""

# A fresh interpreter that has none of the script's globals: load each dill
# body and call it.
LOADER = """
import dill, json, os, sys
calls = {"uses_helper": (16.0,), "closure": (6,), "lambda": (4,), "uses_class": (5,),
         "with_list_default": (1,), "counts": (["a", "b", "a"],)}
got = {}
for name, args in calls.items():
    with open(os.path.join(sys.argv[1], name + ".body"), "rb") as f:
        got[name] = dill.loads(f.read())(*args)
print(json.dumps(got))
"""


def test_strategies_chosen_and_dill_bodies_load_without_the_script(tmp_path):
    script = tmp_path / "science.py"
    script.write_text(SCRIPT)
    env = dict(os.environ)
    run = subprocess.run([PYTHON, str(script), str(tmp_path)], capture_output=True, text=True,
                         env=env, timeout=60, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr
    chosen = json.loads(run.stdout)
    dill_version = functions.dill_version()
    assert dill_version
    for name in ("uses_helper", "closure", "lambda", "uses_class", "with_list_default",
                 "counts"):
        assert chosen[name] == ["dill", name if name != "closure" else "scale", dill_version] \
            or (name == "lambda" and chosen[name] == ["dill", "<lambda>", dill_version]), name
    assert chosen["pure"] == ["source", "pure", ""]
    assert (tmp_path / "pure.body").read_text().startswith("def pure(x, y=2):")
    assert chosen["sqrt"] == ["reference", "math:sqrt", ""]
    assert chosen["json_dumps"] == ["reference", "json:dumps", ""]
    loader = subprocess.run([PYTHON, "-c", LOADER, str(tmp_path)], capture_output=True,
                            text=True, env=env, timeout=60, cwd="/")
    assert loader.returncode == 0, loader.stderr
    assert json.loads(loader.stdout) == {"uses_helper": 13.0, "closure": 42, "lambda": 19.0,
                                         "uses_class": 6, "with_list_default": 4,
                                         "counts": {"a": 2, "b": 1}}


def test_functions_typed_at_a_prompt_go_by_dill():
    code = ("from fx import functions\n"
            "def typed(x):\n    return x + 1\n"
            "sq = lambda v: v * v\n"
            "import dill\n"
            "for fn in (typed, sq):\n"
            "    s = functions.choose(fn)\n"
            "    entry, body, _ = functions.body(fn, s)\n"
            "    print(s, dill.loads(body)(3))\n")
    run = subprocess.run([PYTHON, "-"], input=code, capture_output=True, text=True,
                         env=dict(os.environ), timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["dill", "4", "dill", "9"]


HANDLE = open(os.devnull)
LOCK = threading.Lock()


def _reads_handle():
    return HANDLE.read()


def _via_helper():
    return _reads_handle()


def _make_locked():
    lock = threading.RLock()

    def locked():
        with lock:
            return 1
    return locked


def _make_socket_user():
    import socket
    s = socket.socket()

    def talks():
        return s.fileno()
    return talks, s


def test_what_cannot_travel_is_refused_by_name(client):
    for fn, name, what in ((_reads_handle, "HANDLE", "an open file"),
                           (_via_helper, "HANDLE", "through _reads_handle"),
                           (_make_locked(), "lock", "a lock"),
                           (lambda: LOCK.acquire(), "LOCK", "a lock")):
        with pytest.raises(fx.Error, match=f"'{name}'") as info:
            client.register_function(fn, strategy="dill")
        assert what in str(info.value)
    talks, sock = _make_socket_user()
    try:
        with pytest.raises(fx.Error, match="closure variable 's'.*a socket"):
            client.register_function(talks)
    finally:
        sock.close()
    with pytest.raises(fx.Error, match="as source"):
        client.register_function(lambda x: x, strategy="source")
    with pytest.raises(ValueError, match="strategy"):
        client.register_function(abs, strategy="pickle")


def _twice(x):
    return 2 * x


def test_reference_only_for_installed_modules(client, broker):
    assert functions.choose(numpy.flip) == "reference"     # an installed package
    assert functions.choose(json.dumps) == "reference"     # the standard library
    assert functions.choose(_twice) == "source"            # a file of the user's
    fid = client.register_function(_twice, strategy="reference")   # asked for: by name
    assert broker.functions[fid]["body"] == f"{_twice.__module__}:_twice".encode()
    assert client.get_result(client.run(4, endpoint_id=ENDPOINT, function_id=fid),
                             timeout=TIMEOUT) == 8


def test_strategy_override_and_versions(client, broker):
    fid = client.register_function(_twice, strategy="source")
    first = client.registration(fid)
    reg = broker.functions[fid]
    assert reg["serializer"] == "source" and reg["body"].startswith(b"def _twice(x):")
    assert first.number == 1 and len(first.version) == _fx.OID_LEN
    assert first.function_id == fid and first.serializer == "source"

    def thrice(x):
        return 3 * x
    assert client.register_function(thrice, function_id=fid, strategy="dill",
                                    description="three times") == fid
    second = client.registration(fid)
    assert second.number == 2 and second.version != first.version
    assert second.serializer == "dill" and second.dill_version == functions.dill_version()
    sent = broker.of_type("REGISTER_FUNCTION")[-1][2]
    assert sent["function_id"] == fid and sent["description"] == "three times"
    assert [r.number for r in client.registrations(fid)] == [1, 2]
    # the newest runs by default; a task may pin an older version
    assert client.get_result(client.run(5, endpoint_id=ENDPOINT, function_id=fid),
                             timeout=TIMEOUT) == 15
    old = client.run(5, endpoint_id=ENDPOINT, function_id=fid, function_version=first.version)
    assert broker.tasks[old]["function_version"] == first.version
    assert broker.tasks[old]["serializer"] == "source+pickle5"
    assert client.get_result(old, timeout=TIMEOUT) == 10
    assert client.get_result(client.run(6, endpoint_id=ENDPOINT,
                                        function_id=f"{fid}@{first.version}"),
                             timeout=TIMEOUT) == 12
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        assert ex.submit(f"{fid}@{first.version}", 7).result(TIMEOUT) == 14
    ids = client.run_batch([((1,), None), ((2,), None)], endpoint_id=ENDPOINT, function_id=fid,
                           function_version=first.version)
    assert [client.get_result(t, timeout=TIMEOUT) for t in ids] == [2, 4]
    with pytest.raises(ValueError, match="version id"):
        client.run(1, endpoint_id=ENDPOINT, function_id=fid, function_version="v1")

    info = client.get_function(fid)
    assert info["version"] == second.version and info["serializer"] == "dill"
    assert info["source"] is None and info["description"] == "three times"
    assert [v["number"] for v in info["versions"]] == [1, 2]
    old_info = client.get_function(fid, version=first.version)
    assert old_info["source"].startswith("def _twice(x):") and old_info["serializer"] == "source"
    with pytest.raises(fx.RequestError, match="FX_E_NOT_FOUND"):
        client.get_function(fx.new_id())


# ---- FXP5, read by the SPEC's words (12.1.1) -----------------------------------

def spec_fxp5_read(frame):
    """b"FXP5", a u32 count N of buffers and N u64 lengths (little-endian),
    then the pickle stream's u64 length, then the stream, then the buffers
    in order: (stream, [buffers as memoryviews of frame])."""
    mv = memoryview(frame)
    assert bytes(mv[:4]) == b"FXP5"
    (n,) = struct.unpack_from("<I", mv, 4)
    lengths = struct.unpack_from(f"<{n}Q", mv, 8)
    (stream_len,) = struct.unpack_from("<Q", mv, 8 + 8 * n)
    at = 16 + 8 * n
    stream = mv[at:at + stream_len]
    at += stream_len
    buffers = []
    for size in lengths:
        buffers.append(mv[at:at + size])
        at += size
    assert at == len(mv)
    return stream, buffers


def test_fxp5_round_trip_against_the_spec_reader():
    arr = numpy.arange(100_000, dtype=numpy.float64)
    obj = ((arr, b"small", {"k": bytearray(b"x" * 1000)}), {"w": numpy.ones(7, dtype=numpy.int32)})
    frame = serialize.get("pickle5").dumps(obj)
    stream, buffers = spec_fxp5_read(frame)
    assert len(buffers) >= 2                      # the arrays travel out of band
    assert sum(b.nbytes for b in buffers) >= arr.nbytes
    back = pickle.loads(stream, buffers=buffers)
    assert (back[0][0] == arr).all() and back[0][1] == b"small"
    assert back[1]["w"].tolist() == [1] * 7
    # our reader: the array is a view of the frame, not a copy
    mine = serialize.get("pickle5").loads(frame)
    assert (mine[0][0] == arr).all()
    assert numpy.shares_memory(mine[0][0], numpy.frombuffer(frame, dtype=numpy.uint8))
    # a frame the SPEC's writer would make, read by ours
    bufs = []
    stream = pickle.dumps([arr[:10]], protocol=5, buffer_callback=bufs.append)
    raws = [b.raw() for b in bufs]
    made = (b"FXP5" + struct.pack("<I", len(raws)) + b"".join(struct.pack("<Q", r.nbytes)
                                                              for r in raws)
            + struct.pack("<Q", len(stream)) + stream + b"".join(bytes(r) for r in raws))
    assert serialize.get("pickle5").loads(made)[0].tolist() == list(range(10))
    assert serialize.get("dill+pickle5").name == "pickle5"
    assert serialize.get("pickle5").loads(pickle.dumps({"plain": 1})) == {"plain": 1}
    for bad in (b"FXP5", b"FXP5" + struct.pack("<I", 9) + b"\0" * 8, made[:-1]):
        with pytest.raises(ValueError, match="FXP5"):
            serialize.fxp5_loads(bad)


def _negate(a):
    return -a


def test_numpy_arguments_and_results_in_pickle5(client, broker):
    fid = client.register_function(_negate)
    arr = numpy.arange(50_000, dtype=numpy.float64)
    tid = client.run(arr, endpoint_id=ENDPOINT, function_id=fid)
    payload = broker.tasks[tid]["payload"]
    assert payload[:4] == b"FXP5" and len(payload) < arr.nbytes + 4096
    assert broker.tasks[tid]["serializer"] == "source+pickle5"
    assert (client.get_result(tid, timeout=TIMEOUT) == -arr).all()


# ---- provenance -----------------------------------------------------------------

def test_provenance_and_prov_json(client, broker):
    fid = client.register_function(_twice)
    ids = client.run_batch([((1,), None), ((2,), None)], endpoint_id=ENDPOINT, function_id=fid)
    for t in ids:
        client.get_result(t, timeout=TIMEOUT)
    one = client.get_provenance(ids[0])
    assert one["task_id"] == ids[0] and one["function_id"] == fid
    assert one["function_version"] == client.registration(fid).version
    assert one["host"] == "fakehost" and one["worker_pid"] == 4242
    assert one["times_named"]["worker_started"] == 1_700_000_000_000_008
    unknown = fx.new_id()
    rows = client.get_provenance(ids + [unknown])
    assert [r["task_id"] for r in rows] == ids + [unknown]
    assert rows[-1]["state_name"] == "UNKNOWN"
    doc = client.get_provenance(ids, prov_json=True)
    json.dumps(doc)                                # JSON as it is
    run = doc["activity"][f"fxtask:{ids[0]}"]
    assert run["prov:startTime"].startswith("2023-11-14T22:13:20")
    fn = f"fxfn:{fid}@{one['function_version']}"
    assert doc["entity"][fn]["prov:type"] == "fx:FunctionVersion"
    assert {u["prov:entity"] for u in doc["used"].values()} >= {fn, f"fxtask:{ids[0]}/arguments"}
    assert {g["prov:entity"] for g in doc["wasGeneratedBy"].values()} == \
        {f"fxtask:{t}/result" for t in ids}
    agents = {a["prov:agent"] for a in doc["wasAssociatedWith"].values()}
    assert f"fxep:{ENDPOINT}" in agents and f"fxuser:{client.user_id}" in agents


# ---- remote errors ------------------------------------------------------------------

def _result(status, value=b"", output=b"", code=0, text=None):
    return _fx.Result(("0b7f5d3e-1111-4a2b-9c3d-123456789abc", status, code, text, value, output))


@pytest.mark.parametrize("exc", [ModuleNotFoundError("No module named 'nope'", name="nope"),
                                 KeyError("k"), OSError(2, "No such file"), ValueError("v"),
                                 UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad")])
def test_str_of_every_remote_exception_has_the_traceback(exc):
    tb = "Traceback (most recent call last):\n  File \"x\", line 1, in f\nboom\n"
    output = f"printed\n{serialize.TRACEBACK_MARKER}\n{tb}".encode()
    for fmt in ("pickle", "pickle5"):
        value = serialize.get(fmt).dumps(exc)
        _, got = serialize.unpack_result(_result(_fx.RESULT_EXCEPTION, value, output), None, fmt)
        assert isinstance(got, type(exc)) and type(got).__name__ == type(exc).__name__
        text = str(got)
        assert str(exc) in text and "remote traceback" in text and "boom" in text
        assert got.remote_traceback == tb
        if isinstance(exc, ImportError):
            assert got.name == "nope"
        again = pickle.loads(pickle.dumps(got))   # still pickles, as the plain type
        assert type(again) is type(exc)


def test_load_errors_say_they_happened_on_the_endpoint():
    text = "the function was serialized with dill 0.3.9, the endpoint has dill 0.3.6"
    _, got = serialize.unpack_result(_result(_fx.RESULT_ERROR, code=_fx.E_LOAD, text=text))
    assert isinstance(got, fx.TaskError) and got.code == _fx.E_LOAD
    assert "on the endpoint" in str(got) and "0.3.9" in str(got) and "0.3.6" in str(got)
    assert f"this client: Python {sys.version.split()[0]}" in str(got)
    _, got = serialize.unpack_result(_result(_fx.RESULT_ERROR, code=_fx.E_VERSION_MISMATCH,
                                             text="Python 3.12.0 on the client, 3.11.2 here"))
    assert "on the endpoint" in str(got) and "FX_E_VERSION_MISMATCH" in str(got)


def test_missing_module_on_the_endpoint_names_it(client, broker):
    def needs_missing():
        import fx_no_such_module_anywhere  # noqa: F401
    fid = client.register_function(needs_missing)
    with pytest.raises(ModuleNotFoundError) as info:
        client.get_result(client.run(endpoint_id=ENDPOINT, function_id=fid), timeout=TIMEOUT)
    assert "fx_no_such_module_anywhere" in str(info.value)
    assert "remote traceback" in str(info.value)


OWN_MODULE = """
import math
SCALE = 3
def helper(x):
    return math.sqrt(x) * SCALE
def uses_helper(x):
    return helper(x) + 1
def pure(x):
    return x * 2
"""


def test_functions_of_the_users_own_module_go_by_value(tmp_path):
    """A module beside the script is not on the endpoint: its functions go by
    value (source or dill, helpers included), only installed modules' by
    reference; the dill body loads where that module does not exist."""
    (tmp_path / "mylab.py").write_text(OWN_MODULE)
    code = ("import json, sys, mylab, json as j\n"
            "from fx import functions\n"
            "out = {}\n"
            "for fn in (mylab.uses_helper, mylab.pure, j.dumps):\n"
            "    s = functions.choose(fn)\n"
            "    entry, body, _ = functions.body(fn, s)\n"
            "    out[fn.__name__] = s\n"
            "    open(sys.argv[1] + '/' + fn.__name__ + '.body', 'wb').write(body)\n"
            "print(json.dumps(out))\n")
    run = subprocess.run([PYTHON, "-c", code, str(tmp_path / "out")], capture_output=True, text=True,
                         env=dict(os.environ), timeout=60, cwd=str(tmp_path)) \
        if (tmp_path / "out").mkdir() is None else None
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"uses_helper": "dill", "pure": "source", "dumps": "reference"}
    load = subprocess.run([PYTHON, "-c", "import dill, sys; f = dill.loads(open(sys.argv[1], 'rb').read()); "
                           "print(f(16))", str(tmp_path / "out" / "uses_helper.body")],
                          capture_output=True, text=True, timeout=60, cwd="/")
    assert load.returncode == 0, load.stderr
    assert load.stdout.strip() == "13.0"
