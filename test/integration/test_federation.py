"""The whole federation on 127.0.0.1: client -> broker -> endpoint -> managers -> workers and back,
with CurveZMQ and the ZAP handlers on every hop."""
import os
import platform

import pytest

import fx
from fxharness import run_fx


def square_plus(x, offset=0):
    return x * x + offset


def divide(a, b):
    return a / b


def chatty(n):
    print(f"counting to {n}")
    return list(range(n))


def needs_missing_module():
    import fx_no_such_module  # noqa: F401
    return 1


def test_executor_map_1000_tasks_in_a_handful_of_messages(running):
    client = running.client
    before = client.stats.get("SUBMIT", 0)
    with fx.Executor(endpoint_id=running.endpoint.endpoint_id, client=client) as ex:
        results = list(ex.map(square_plus, range(1000), [3] * 1000, timeout=300))
    assert results == [x * x + 3 for x in range(1000)]
    submits = client.stats.get("SUBMIT", 0) - before
    assert 1 <= submits <= 20, f"1,000 tasks took {submits} SUBMIT messages"


def test_run_and_get_result_with_kwargs(running):
    client = running.client
    fid = client.register_function(square_plus)
    assert client.register_function(square_plus) == fid, "a function is registered once per client"
    tid = client.run(7, endpoint_id=running.endpoint.endpoint_id, function_id=fid, offset=1)
    assert client.get_result(tid, timeout=60) == 50


def test_remote_exception_carries_remote_traceback(running):
    client = running.client
    fid = client.register_function(divide)
    tid = client.run(1, 0, endpoint_id=running.endpoint.endpoint_id, function_id=fid)
    with pytest.raises(ZeroDivisionError) as info:
        client.get_result(tid, timeout=60)
    text = str(info.value)
    assert "division by zero" in text
    assert "Traceback" in text and "divide" in text, text


def test_printed_output_comes_back(running):
    client = running.client
    fid = client.register_function(chatty)
    tid = client.run(3, endpoint_id=running.endpoint.endpoint_id, function_id=fid)
    assert client.get_result(tid, timeout=60) == [0, 1, 2]
    assert "counting to 3" in client.get_output(tid)


def test_missing_module_is_named(running):
    client = running.client
    fid = client.register_function(needs_missing_module)
    tid = client.run(endpoint_id=running.endpoint.endpoint_id, function_id=fid)
    with pytest.raises(ModuleNotFoundError) as info:
        client.get_result(tid, timeout=60)
    assert "fx_no_such_module" in str(info.value)


def test_shell_function_stdout_returncode_and_quoting(running):
    client = running.client
    fid = client.register_function(fx.ShellFunction("echo hello {name}; exit 3"))
    hostile = "a b; touch /tmp/fx-injected-$$"
    tid = client.run(name=hostile, endpoint_id=running.endpoint.endpoint_id, function_id=fid)
    res = client.get_result(tid, timeout=60)
    assert res.returncode == 3
    assert res.stdout == f"hello {hostile}\n"


def test_version_mismatch_names_both_versions(running, monkeypatch):
    client = running.client
    fid = client.register_function(square_plus)
    # Debian has one Python: forge the client's version in the task header.
    monkeypatch.setattr(platform, "python_version", lambda: "2.7.18")
    tid = client.run(2, endpoint_id=running.endpoint.endpoint_id, function_id=fid)
    monkeypatch.undo()
    with pytest.raises(fx.TaskError) as info:
        client.get_result(tid, timeout=60)
    text = str(info.value)
    assert "2.7.18" in text and platform.python_version() in text, text


def test_cli_lists_endpoint_and_task(running):
    out = run_fx("--creds", running.creds, "endpoints").stdout
    assert running.endpoint.endpoint_id in out and "online" in out
    client = running.client
    fid = client.register_function(square_plus)
    tid = client.run(1, endpoint_id=running.endpoint.endpoint_id, function_id=fid)
    client.get_result(tid, timeout=60)
    status = run_fx("--creds", running.creds, "status", tid).stdout
    assert tid in status
