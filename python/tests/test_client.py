"""fx.Client and fx.Executor against FakeBroker (conftest.py)."""
import concurrent.futures
import threading
import time

import pytest

import fx
from fx import _fx

from conftest import ENDPOINT, TIMEOUT, FakeBroker, wait_for


def add(a, b=0):
    print("adding", a, b)
    return a + b


def square(x):
    return x * x


def fails(x):
    raise ValueError(f"bad value {x}")


def unpicklable_error():
    class Local(Exception):
        pass
    raise Local("cannot travel")


def test_silent_address_raises_connection_error_in_time():
    # Nothing listens there: the HELLO queues and is never answered.
    pub, sec = fx.keypair_new()
    creds = {"broker_client": "tcp://127.0.0.1:9", "broker_public_key": fx.keypair_new()[0],
             "public_key": pub, "secret_key": sec}
    t0 = time.monotonic()
    with pytest.raises(fx.ConnectionError) as info:
        fx.Client(creds, hello_timeout=1.0)
    assert time.monotonic() - t0 < 5
    assert "did not answer" in str(info.value)
    assert "fx user create" in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_denied_key_raises_connection_error():
    b = FakeBroker(zap="deny")
    try:
        t0 = time.monotonic()
        with pytest.raises(fx.ConnectionError, match="is your key registered"):
            fx.Client(b.credentials(), hello_timeout=1.5)
        assert time.monotonic() - t0 < 6
        assert b.server.zap_requests >= 1
        assert b.counts["HELLO"] == 0
    finally:
        b.close()


def test_hello_refused(broker):
    broker._on_hello = lambda rid, seq, f: broker.server.send(
        rid, "ERROR", seq, {"code": _fx.E_VERSION, "text": "protocol 1 vs 2"})
    with pytest.raises(fx.ConnectionError, match="FX_E_VERSION: protocol 1 vs 2"):
        fx.Client(broker.credentials(), hello_timeout=TIMEOUT)


def test_run_and_get_result(client, broker):
    fid = client.register_function(add)
    assert fx.id_valid(fid)
    assert client.register_function(add) == fid          # cached
    assert broker.counts["REGISTER_FUNCTION"] == 1
    # a function of a test module: the endpoint has no copy of that file, so
    # its source goes (it needs nothing else); only installed modules go by reference
    reg = broker.functions[fid]
    assert reg["body"].startswith(b"def add(") and reg["entry"] == "add"
    assert reg["serializer"] == "source" and reg["dill_version"] == ""
    tid = client.run(2, b=3, endpoint_id=ENDPOINT, function_id=fid)
    assert tid in broker.tasks                            # committed before run returned
    task = broker.tasks[tid]
    assert task["py_version"] and task["serializer"] == "source+pickle5"
    assert client.get_result(tid, timeout=TIMEOUT) == 5
    assert client.get_output(tid) == "adding 2 3\n"
    wait_for(lambda: tid in broker.acked, what="RESULTS_ACK")
    assert client.stats["SUBMIT"] == 1 and client.stats["HELLO"] == 1
    assert all(m[1] == 0 for m in broker.of_type("RESULTS_ACK"))   # a push's ack: seq 0


def test_remote_exception_reraised_with_traceback(client, broker):
    fid = client.register_function(fails)
    tid = client.run(7, endpoint_id=ENDPOINT, function_id=fid)
    with pytest.raises(ValueError) as info:
        client.get_result(tid, timeout=TIMEOUT)
    assert "bad value 7" in str(info.value)
    assert "remote traceback" in str(info.value)
    assert "in fails" in info.value.remote_traceback
    # Raising again gives the same message, not a doubled one.
    with pytest.raises(ValueError) as again:
        client.get_result(tid)
    assert str(again.value) == str(info.value)


def test_unpicklable_exception_is_task_failed(client, broker):
    tid = client.run(endpoint_id=ENDPOINT, function_id=client.register_function(unpicklable_error))
    with pytest.raises(fx.TaskFailed) as info:
        client.get_result(tid, timeout=TIMEOUT)
    assert "Local: cannot travel" in str(info.value)
    assert "unpicklable_error" in info.value.remote_traceback


def test_task_error(client, broker):
    fid = client.register_function(add)
    tid = fx.new_id()
    client._book.own([(tid, _fx.FN_PYTHON, "pickle")])   # as if submitted here
    client.run(1, endpoint_id=ENDPOINT, function_id=fid)   # a session exists
    rid = broker.hellos[-1][0]
    broker.push(rid, [{"task_id": tid, "status": _fx.RESULT_ERROR,
                       "error_code": _fx.E_VERSION_MISMATCH,
                       "error_text": "client Python 3.9.1 (pickle) vs worker Python 3.11.2 (pickle)",
                       "value": b"", "output": b""}])
    with pytest.raises(fx.TaskError) as info:
        client.get_result(tid, timeout=TIMEOUT)
    assert "FX_E_VERSION_MISMATCH" in str(info.value) and "3.9.1" in str(info.value)
    assert info.value.code == _fx.E_VERSION_MISMATCH


def test_get_result_timeout(client, broker):
    broker.execute = False
    tid = client.run(1, endpoint_id=ENDPOINT, function_id=client.register_function(add))
    t0 = time.monotonic()
    with pytest.raises(fx.TimeoutError):
        client.get_result(tid, timeout=0.3)
    assert time.monotonic() - t0 < 3


def test_payload_limit(client):
    fid = client.register_function(add)
    with pytest.raises(fx.PayloadTooLarge) as info:
        client.run(b"x" * (fx.PAYLOAD_MAX + 1), endpoint_id=ENDPOINT, function_id=fid)
    assert str(fx.PAYLOAD_MAX) in str(info.value)
    assert info.value.size > fx.PAYLOAD_MAX
    assert isinstance(info.value, ValueError)
    assert "SUBMIT" not in client.stats


def test_bad_ids_rejected_locally(client):
    with pytest.raises(ValueError, match="endpoint_id"):
        client.run(1, endpoint_id="laptop", function_id=fx.new_id())
    with pytest.raises(ValueError, match="endpoint_id is required"):
        client.run(1, function_id=fx.new_id())


def test_executor_map_batches(client, broker):
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        out = list(ex.map(square, range(1000), timeout=TIMEOUT * 3))
    assert out == [x * x for x in range(1000)]
    assert broker.counts["REGISTER_FUNCTION"] == 1
    assert client.stats["SUBMIT"] == 1, client.stats


def test_submit_loop_batches(client, broker):
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        futures = [ex.submit(square, i) for i in range(1000)]
        assert [f.result(timeout=TIMEOUT) for f in futures] == [i * i for i in range(1000)]
    # One SUBMIT in flight at a time: the rest gather meanwhile. How many
    # round trips fit in the loop depends on the machine's load.
    assert client.stats["SUBMIT"] <= 100, client.stats
    assert not client.closed        # the executor does not own this client


def test_executor_batch_size_caps_messages(client, broker):
    with fx.Executor(endpoint_id=ENDPOINT, client=client, batch_size=10) as ex:
        futures = [ex.submit(square, i) for i in range(100)]
        assert all(fx.id_valid(f.task_id) for f in futures)
        assert [f.result(timeout=TIMEOUT) for f in futures] == [i * i for i in range(100)]
    sizes = [len(m[2]["tasks"]) for m in broker.of_type("SUBMIT")]
    assert max(sizes) <= 10 and sum(sizes) == 100


def test_executor_future_exception(client, broker):
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(fails, 3)
        with pytest.raises(ValueError, match="bad value 3"):
            fut.result(timeout=TIMEOUT)
        assert isinstance(fut.exception(), ValueError)
    with pytest.raises(RuntimeError):
        ex.submit(square, 1)


def test_executor_submit_error_fails_futures(client, broker):
    broker.reject_submit = (_fx.E_NOT_FOUND, "endpoint not found")
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 2)
        with pytest.raises(fx.RequestError, match="endpoint not found"):
            fut.result(timeout=TIMEOUT)
    with pytest.raises(fx.RequestError, match="FX_E_NOT_FOUND"):
        client.run(1, endpoint_id=ENDPOINT, function_id=client.register_function(square))


def test_run_batch(client, broker):
    fid = client.register_function(add)
    batch = client.create_batch(endpoint_id=ENDPOINT, function_id=fid)
    for i in range(300):
        batch.add(i, b=1)
    ids = client.run_batch(batch)
    assert len(ids) == 300 and all(t in broker.tasks for t in ids)
    assert client.stats["SUBMIT"] == 1
    assert [client.get_result(t, timeout=TIMEOUT) for t in ids] == [i + 1 for i in range(300)]
    ids2 = client.run_batch([((1,), {"b": 2}), ((3,), None)], endpoint_id=ENDPOINT,
                            function_id=fid)
    assert [client.get_result(t, timeout=TIMEOUT) for t in ids2] == [3, 3]


def test_shell_function(client, broker):
    sf = fx.ShellFunction("echo hello {name}", walltime=5)
    fid = client.register_function(sf)
    assert broker.functions[fid]["kind"] == _fx.FN_SHELL
    assert broker.functions[fid]["body"] == b"echo hello {name}"
    tid = client.run(endpoint_id=ENDPOINT, function_id=fid, name="world; rm -rf /")
    assert broker.tasks[tid]["walltime_ms"] == 5000
    r = client.get_result(tid, timeout=TIMEOUT)
    assert isinstance(r, fx.ShellResult)
    assert r.returncode == 0 and r.stdout == "hello world; rm -rf /\n"


def test_status_and_list(client, broker):
    fid = client.register_function(add)
    tid = client.run(1, endpoint_id=ENDPOINT, function_id=fid)
    client.get_result(tid, timeout=TIMEOUT)
    wait_for(lambda: tid in broker.acked, what="ack")
    st = client.status(tid)
    assert st["state"] == "succeeded" and st["reason"] is None and st["endpoint_id"] == ENDPOINT
    assert st["store_state"] == "DELIVERED" and st["state_code"] == _fx.TASK_DELIVERED
    unknown = fx.new_id()
    both = client.status([tid, unknown])
    assert both[unknown]["state"] == "unknown" and both[unknown]["state_code"] == _fx.TASK_UNKNOWN
    eps = client.list_endpoints()
    assert eps == [{"endpoint_id": ENDPOINT, "name": "laptop", "state": "online"}]


def test_status_says_the_outcome_in_the_users_words(broker):
    c1 = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    c2 = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    try:
        fid = c1.register_function(fails)
        raised = c1.run(1, endpoint_id=ENDPOINT, function_id=fid)
        with pytest.raises(ValueError):
            c1.get_result(raised, timeout=TIMEOUT)
        st = c1.status(raised)                 # held here: read without a request
        assert (st["state"], st["reason"]) == ("failed", "exception")
        assert st["store_state"] in ("DONE", "DELIVERED")
        wait_for(lambda: raised in broker.acked, what="the ack")
        # another client reads a result its client took (DELIVERED) ...
        assert c2.status(raised)["state"] == "failed" and c2.stats["FETCH"] == 1
        # ... but not one its client has not taken: "finished", nothing fetched
        broker.execute = False
        other = c1.run(2, endpoint_id=ENDPOINT, function_id=c1.register_function(square))
        broker.results[other] = broker._execute(broker.tasks[other])
        st = c2.status(other)
        assert (st["state"], st["reason"], st["store_state"]) == ("finished", None, "DONE")
        assert c2.stats["FETCH"] == 1
        # an error result: failed with the reason from its code
        lost = c1.run(3, endpoint_id=ENDPOINT, function_id=fid)
        broker.results[lost] = {"task_id": lost, "status": _fx.RESULT_ERROR,
                                "error_code": _fx.E_WORKER_LOST, "error_text": "worker died",
                                "value": b"", "output": b""}
        assert c2.status(lost)["state"] == "failed" and c2.status(lost)["reason"] is None
        assert c2.stats["FETCH"] == 1          # FAILED, not taken: no reason, not read
        assert fx.states.from_result(broker.results[lost]) == ("failed", "worker lost")
    finally:
        c1.close()
        c2.close()


def test_list_tasks_filters_at_the_broker(client, broker):
    import datetime
    since = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.timezone.utc)
    assert client.list_tasks(2, state="worker lost", endpoint_id=ENDPOINT, function="square",
                             since=since, before=77) == []
    (msg,) = broker.of_type("LIST")
    assert msg[2] == {"what": _fx.LIST_TASKS, "limit": 2, "state": "worker lost",
                      "endpoint_id": ENDPOINT, "function": "square",
                      "since_ms": 1796119200000, "before": 77}
    with pytest.raises(ValueError, match="state 'DONE': one of queued, dispatched, succeeded"):
        client.list_tasks(state="DONE")
    assert len(broker.of_type("LIST")) == 1
    # iter_tasks follows the cursor to the end, a page at a time
    broker.task_rows = [{"id": fx.new_id(), "state": "queued", "cursor": str(c)}
                        for c in (50, 40, 30, 20, 10)]
    got = list(client.iter_tasks(page=2, state="queued"))
    assert [r["cursor"] for r in got] == ["50", "40", "30", "20", "10"]
    pages = broker.of_type("LIST")[1:]
    assert [(m[2]["before"], m[2]["state"]) for m in pages] == [(0, "queued"), (40, "queued"),
                                                                (20, "queued")]


def test_foreign_task_is_fetched(broker):
    c1 = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    c2 = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    try:
        tid = c1.run(4, endpoint_id=ENDPOINT, function_id=c1.register_function(square))
        assert c1.get_result(tid, timeout=TIMEOUT) == 16
        assert c2.get_result(tid, timeout=TIMEOUT) == 16
        assert c2.stats["FETCH"] >= 1
        fetch_seqs = {m[1] for m in broker.of_type("FETCH")}
        wait_for(lambda: any(m[1] in fetch_seqs for m in broker.of_type("RESULTS_ACK")),
                 what="the ack of the FETCH reply, echoing its seq")
    finally:
        c1.close()
        c2.close()


def test_fetch_retried_until_done(client, broker):
    broker.execute = False
    other = fx.Client(broker.credentials(), hello_timeout=TIMEOUT, heartbeat=0.2)
    try:
        fid = client.register_function(square)
        tid = client.run(5, endpoint_id=ENDPOINT, function_id=fid)
        fut = concurrent.futures.ThreadPoolExecutor(1).submit(other.get_result, tid, TIMEOUT)
        wait_for(lambda: other.stats.get("FETCH", 0) >= 2, what="repeated FETCH")
        broker.results[tid] = broker._execute(broker.tasks[tid])
        assert fut.result(timeout=TIMEOUT) == 25
    finally:
        other.close()


def test_no_session_reconnects_and_resends(client, broker):
    fid = client.register_function(square)
    broker.no_session_on.add("SUBMIT")
    tid = client.run(6, endpoint_id=ENDPOINT, function_id=fid)
    assert client.get_result(tid, timeout=TIMEOUT) == 36
    submits = broker.of_type("SUBMIT")
    assert len(submits) == 2
    assert submits[0][2]["tasks"][0]["task_id"] == submits[1][2]["tasks"][0]["task_id"] == tid
    assert submits[0][3] != submits[1][3]                # a new socket
    assert client.stats["HELLO"] == 2
    assert len({h[1] for h in broker.hellos}) == 1       # same client_id


def test_silent_broker_triggers_reconnect(broker):
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT, heartbeat=0.1)
    try:
        fid = c.register_function(square)
        broker.silent = True
        broker.execute = True
        fut = fx.Executor(endpoint_id=ENDPOINT, client=c).submit(square, 9)
        wait_for(lambda: broker.counts["SUBMIT"] >= 1, what="SUBMIT")
        wait_for(lambda: c.stats.get("HELLO", 0) >= 2, what="a reconnect")
        broker.silent = False
        assert fut.result(timeout=TIMEOUT) == 81
        tids = {m[2]["tasks"][0]["task_id"] for m in broker.of_type("SUBMIT")}
        assert tids == {fut.task_id}
    finally:
        c.close()


def test_duplicate_results_acked_and_ignored(client, broker):
    fid = client.register_function(square)
    tid = client.run(3, endpoint_id=ENDPOINT, function_id=fid)
    assert client.get_result(tid, timeout=TIMEOUT) == 9
    rid = broker.hellos[-1][0]
    broker.push(rid, [broker.results[tid]])
    wait_for(lambda: broker.acked.count(tid) >= 2, what="second ack")
    assert client.get_result(tid) == 9


def test_close_fails_waiters(broker):
    broker.execute = False
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    tid = c.run(1, endpoint_id=ENDPOINT, function_id=c.register_function(square))
    fut = concurrent.futures.ThreadPoolExecutor(1).submit(c.get_result, tid)
    wait_for(lambda: c._book.waiting(tid), what="the waiter")
    c.close()
    with pytest.raises(fx.ClientClosed):
        fut.result(timeout=TIMEOUT)
    with pytest.raises(fx.ClientClosed):
        c.run(1, endpoint_id=ENDPOINT, function_id=fx.new_id())
    c.close()


def test_context_manager(broker):
    with fx.Client(broker.credentials(), hello_timeout=TIMEOUT) as c:
        assert not c.closed
    assert c.closed


def test_lambda_goes_by_dill(client, broker):
    fid = client.register_function(lambda x: x + 1)
    assert broker.functions[fid]["serializer"] == "dill"
    assert client.get_result(client.run(1, endpoint_id=ENDPOINT, function_id=fid),
                             timeout=TIMEOUT) == 2


def test_builtin_registered_by_reference(client, broker):
    fid = client.register_function(abs)
    assert broker.functions[fid]["body"] == b"builtins:abs"
    assert broker.functions[fid]["entry"] == "builtins:abs"
    assert client.get_result(client.run(-4, endpoint_id=ENDPOINT, function_id=fid),
                             timeout=TIMEOUT) == 4
    import math
    fid = client.register_function(math.sqrt)
    assert client.get_result(client.run(9, endpoint_id=ENDPOINT, function_id=fid),
                             timeout=TIMEOUT) == 3.0
    with pytest.raises(fx.Error, match="cannot register"):
        client.register_function("".join)


def test_py_version_read_per_task(client, broker, monkeypatch):
    import platform
    fid = client.register_function(square)
    monkeypatch.setattr(platform, "python_version", lambda: "2.7.18")
    tid = client.run(2, endpoint_id=ENDPOINT, function_id=fid)
    monkeypatch.undo()
    assert broker.tasks[tid]["py_version"] == "2.7.18"


def test_raw_result_counts_and_aliases(client, broker):
    tid = client.run(3, endpoint_id=ENDPOINT, function_id=client.register_function(square))
    assert client.get_result(tid, timeout=TIMEOUT) == 9
    assert client.raw_result_counts[tid] == 1
    broker.push(broker.hellos[-1][0], [broker.results[tid]])
    wait_for(lambda: client.raw_result_counts[tid] == 2, what="the duplicate")
    assert fx.FxError is fx.Error


def test_timeout_alias():
    pub, sec = fx.keypair_new()
    creds = {"broker_client": "tcp://127.0.0.1:9", "broker_public_key": fx.keypair_new()[0],
             "public_key": pub, "secret_key": sec}
    t0 = time.monotonic()
    with pytest.raises(fx.ConnectionError, match="did not answer"):
        fx.Client(creds, timeout=0.5)
    assert time.monotonic() - t0 < 3


def test_close_from_a_done_callback(broker):
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    ex = fx.Executor(endpoint_id=ENDPOINT, client=c)
    fut = ex.submit(square, 5)
    fut.add_done_callback(lambda f: c.close())      # runs on the I/O thread
    assert fut.result(timeout=TIMEOUT) == 25
    wait_for(lambda: c.closed and not c._session.alive(), what="the I/O thread to stop")
    with pytest.raises(fx.ClientClosed):
        c.status(fut.task_id)


# ---- issue 3: walltime and retries ------------------------------------------

def test_walltime_and_retries_in_submit(client, broker):
    fid = client.register_function(add)
    tid = client.run(1, endpoint_id=ENDPOINT, function_id=fid)
    assert broker.tasks[tid]["retries"] == _fx.RETRIES_DEFAULT == fx.limits["RETRIES_DEFAULT"]
    assert broker.tasks[tid]["walltime_ms"] == 0
    tid = client.run(1, endpoint_id=ENDPOINT, function_id=fid, walltime=2.5, retries=0)
    assert broker.tasks[tid]["walltime_ms"] == 2500 and broker.tasks[tid]["retries"] == 0
    assert client.get_result(tid, timeout=TIMEOUT) == 1     # not passed to the function
    tid = client.run(1, endpoint_id=ENDPOINT, function_id=fid, walltime=0.0001, retries=5)
    assert broker.tasks[tid]["walltime_ms"] == 1 and broker.tasks[tid]["retries"] == 5
    for bad in ({"walltime": -1}, {"walltime": float("nan")}, {"walltime": 5e9},
                {"retries": -1}, {"retries": _fx.RETRIES_MAX + 1}):
        with pytest.raises(ValueError):
            client.run(1, endpoint_id=ENDPOINT, function_id=fid, **bad)
    for bad in ({"walltime": "10"}, {"retries": 1.5}, {"retries": True}):
        with pytest.raises(TypeError):
            client.run(1, endpoint_id=ENDPOINT, function_id=fid, **bad)


def test_walltime_and_retries_in_batches(client, broker):
    fid = client.register_function(add)
    batch = client.create_batch(endpoint_id=ENDPOINT, function_id=fid, retries=1)
    batch.add(1)                                  # batch's retries, run_batch's walltime
    batch.add(2, walltime=3, retries=4)           # its own
    batch.add(3, walltime=0)                      # explicitly no limit
    ids = client.run_batch(batch, walltime=7.5, retries=9)
    got = [(broker.tasks[t]["walltime_ms"], broker.tasks[t]["retries"]) for t in ids]
    assert got == [(7500, 1), (3000, 4), (0, 1)]
    ids = client.run_batch([((1,), None), ((2,), {"b": 1})], endpoint_id=ENDPOINT,
                           function_id=fid, walltime=1, retries=0)
    assert [(broker.tasks[t]["walltime_ms"], broker.tasks[t]["retries"]) for t in ids] == \
        [(1000, 0), (1000, 0)]
    assert [client.get_result(t, timeout=TIMEOUT) for t in ids] == [1, 3]
    with pytest.raises(ValueError, match="FX_RETRIES_MAX"):
        client.create_batch(endpoint_id=ENDPOINT, function_id=fid, retries=1000)


def test_shell_walltime_default_and_override(client, broker):
    fid = client.register_function(fx.ShellFunction("echo {0}", walltime=5))
    tid = client.run("a", endpoint_id=ENDPOINT, function_id=fid)
    assert broker.tasks[tid]["walltime_ms"] == 5000
    tid = client.run("a", endpoint_id=ENDPOINT, function_id=fid, walltime=1)
    assert broker.tasks[tid]["walltime_ms"] == 1000


def test_executor_walltime_and_retries(client, broker):
    with fx.Executor(endpoint_id=ENDPOINT, client=client, walltime=60, retries=3) as ex:
        assert ex.submit(square, 2).result(timeout=TIMEOUT) == 4
        assert list(ex.map(square, [3, 4], timeout=TIMEOUT)) == [9, 16]
    records = [t for m in broker.of_type("SUBMIT") for t in m[2]["tasks"]]
    assert len(records) == 3
    assert all(t["walltime_ms"] == 60000 and t["retries"] == 3 for t in records)
    with pytest.raises(ValueError, match="retries"):
        fx.Executor(endpoint_id=ENDPOINT, client=client, retries=-1)


def test_heartbeat_defaults_from_limits(client):
    assert client._session.missed_beats == _fx.HEARTBEAT_MISSED_DEFAULT


# ---- issue 3: cancel ----------------------------------------------------------

def test_client_cancel_queued_task(client, broker):
    broker.execute = False
    tid = client.run(1, endpoint_id=ENDPOINT, function_id=client.register_function(add))
    assert client.cancel(tid) == {tid: "failed"}
    (cancel,) = broker.of_type("CANCEL")
    assert cancel[2] == {"task_ids": [tid], "queued_only": 0}
    with pytest.raises(fx.TaskCancelled) as info:
        client.get_result(tid, timeout=TIMEOUT)
    e = info.value
    assert isinstance(e, fx.TaskError) and isinstance(e, fx.Error)
    assert e.code == _fx.E_CANCELLED and e.name == "FX_E_CANCELLED"
    assert e.task_id == tid and "cancelled before it ran" in str(e)
    wait_for(lambda: tid in broker.acked, what="the ack of the cancelled result")
    st = client.status(tid)
    assert (st["state"], st["reason"], st["store_state"]) == ("failed", "cancelled", "FAILED")


def test_client_cancel_running_done_and_unknown(client, broker):
    fid = client.register_function(add)
    done = client.run(1, endpoint_id=ENDPOINT, function_id=fid)
    assert client.get_result(done, timeout=TIMEOUT) == 1
    broker.execute, broker.dispatch = False, True
    running = client.run(2, endpoint_id=ENDPOINT, function_id=fid)
    unknown = fx.new_id()
    states = client.cancel([running, done, unknown])
    assert states[running] == "dispatched"          # killed at the endpoint; result follows
    assert states[done] == "succeeded" and states[unknown] == "unknown"
    with pytest.raises(fx.TaskCancelled, match="while running on worker pid 4242") as info:
        client.get_result(running, timeout=TIMEOUT)
    assert str(info.value).startswith(f"task {running} cancelled: ")
    # A text that names the task already is not prefixed twice.
    raw = broker.cancelled_result(running, f"task {running} cancelled while running on pid 1")
    assert str(fx.unpack_result(raw)[1]) == raw["error_text"]
    assert client.get_result(done) == 1             # left alone
    with pytest.raises(ValueError, match="not a canonical UUID"):
        client.cancel("nope")
    assert client.cancel([]) == {}


def test_client_cancel_refused_raises(client, broker):
    broker._on_cancel = lambda rid, seq, f: broker.server.send(
        rid, "ERROR", seq, {"code": _fx.E_UNKNOWN_TYPE, "text": "old broker"})
    with pytest.raises(fx.RequestError, match="CANCEL.*FX_E_UNKNOWN_TYPE: old broker"):
        client.cancel(fx.new_id())


def test_client_cancel_ends_executor_future_with_task_cancelled(client, broker):
    broker.execute, broker.dispatch = False, True
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 3)
        assert isinstance(fut, fx.TaskFuture)
        wait_for(lambda: fut.task_id in broker.tasks, what="the SUBMIT")
        assert client.cancel(fut.task_id) == {fut.task_id: "dispatched"}
        assert isinstance(fut.exception(timeout=TIMEOUT), fx.TaskCancelled)
        assert not fut.cancelled()


def _hold_one_submit(client, broker, ex):
    """A first task whose SUBMIT stays unanswered: tasks submitted after it
    wait in the client (not yet sent) until release_submits()."""
    broker.hold_submitted = True
    first = ex.submit(square, 1)
    wait_for(lambda: broker.held_submits, what="the held SUBMIT")
    return first


def test_future_cancel_before_send(client, broker):
    ex = fx.Executor(endpoint_id=ENDPOINT, client=client)
    first = _hold_one_submit(client, broker, ex)
    second = ex.submit(square, 2)
    calls = []
    second.add_done_callback(calls.append)
    assert second.cancel() is True and second.cancelled() and calls == [second]
    broker.release_submits()
    assert first.result(timeout=TIMEOUT) == 1
    ex.shutdown()
    assert second.task_id not in broker.tasks and not broker.of_type("CANCEL")
    with pytest.raises(fx.TaskCancelled, match="before it was sent"):
        client.get_result(second.task_id, timeout=TIMEOUT)


def test_client_cancel_of_a_task_not_yet_sent(client, broker):
    ex = fx.Executor(endpoint_id=ENDPOINT, client=client)
    first = _hold_one_submit(client, broker, ex)
    second = ex.submit(square, 2)
    assert client.cancel(second.task_id) == {second.task_id: "failed"}
    assert second.cancelled() and not broker.of_type("CANCEL")
    broker.release_submits()
    assert first.result(timeout=TIMEOUT) == 1
    assert concurrent.futures.wait([second], timeout=TIMEOUT).done == {second}
    ex.shutdown()
    assert second.task_id not in broker.tasks


@pytest.mark.parametrize("push_first", [False, True])
def test_future_cancel_queued_at_broker(client, broker, push_first):
    broker.execute = False
    broker.cancel_push_first = push_first
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 4)
        wait_for(lambda: fut.task_id in broker.tasks and fut.running(), what="the SUBMIT")
        calls = []
        fut.add_done_callback(calls.append)
        waiter = concurrent.futures.ThreadPoolExecutor(1).submit(
            concurrent.futures.wait, [fut], TIMEOUT)
        assert fut.cancel() is True
        assert fut.cancelled() and fut.done() and not fut.running()
        with pytest.raises(concurrent.futures.CancelledError):
            fut.result(timeout=0)
        assert waiter.result(timeout=TIMEOUT).done == {fut}     # wait() woke up
        wait_for(lambda: calls == [fut], what="the done callback")
        assert fut.cancel() is True                              # again: still True
    (cancel,) = broker.of_type("CANCEL")
    assert cancel[2] == {"task_ids": [fut.task_id], "queued_only": 1}
    wait_for(lambda: fut.task_id in broker.acked, what="the ack of the cancelled result")


def test_future_cancel_running_returns_false(client, broker):
    broker.execute, broker.dispatch = False, True
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 5)
        wait_for(lambda: fut.task_id in broker.tasks and fut.running(), what="the SUBMIT")
        assert fut.cancel() is False
        assert not fut.cancelled() and fut.running()
        assert broker.of_type("CANCEL")[0][2]["queued_only"] == 1
        rid = broker.hellos[-1][0]
        broker.push(rid, [broker._execute(broker.tasks[fut.task_id])])   # it ran
        assert fut.result(timeout=TIMEOUT) == 25


def test_future_cancel_finished_returns_false(client, broker):
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 6)
        assert fut.result(timeout=TIMEOUT) == 36
        assert fut.cancel() is False
    assert not broker.of_type("CANCEL")


def test_future_cancel_wait_is_bounded(client, broker):
    broker.execute = False
    broker.cancel_silent = True
    client.cancel_timeout = 0.3
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 7)
        wait_for(lambda: fut.task_id in broker.tasks and fut.running(), what="the SUBMIT")
        t0 = time.monotonic()
        assert fut.cancel() is False
        assert time.monotonic() - t0 < 3
        # A late cancelled result is then an ordinary outcome, not a cancel.
        broker.push(broker.hellos[-1][0],
                    [broker.cancelled_result(fut.task_id, "cancelled before it ran")])
        assert isinstance(fut.exception(timeout=TIMEOUT), fx.TaskCancelled)


def test_shutdown_cancel_futures_sends_one_cancel(client, broker):
    broker.execute = False
    ex = fx.Executor(endpoint_id=ENDPOINT, client=client)
    futures = [ex.submit(square, i) for i in range(20)]
    wait_for(lambda: all(f.running() for f in futures), what="all SUBMITs")
    ex.shutdown(wait=True, cancel_futures=True)
    assert all(f.cancelled() for f in futures)
    (cancel,) = broker.of_type("CANCEL")
    assert sorted(cancel[2]["task_ids"]) == sorted(f.task_id for f in futures)
    assert cancel[2]["queued_only"] == 1


def test_cancel_after_close(broker):
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    broker.execute = False
    ex = fx.Executor(endpoint_id=ENDPOINT, client=c)
    fut = ex.submit(square, 1)
    wait_for(lambda: fut.running(), what="the SUBMIT")
    c.close()
    assert fut.cancel() is False and isinstance(fut.exception(timeout=TIMEOUT), fx.ClientClosed)
    with pytest.raises(fx.ClientClosed):
        c.cancel(fut.task_id)


def test_requests_from_a_done_callback_raise_not_hang(client, broker):
    errors = []

    def callback(f):
        try:
            client.cancel(f.task_id)
        except fx.Error as exc:
            errors.append(exc)

    broker.execute = False
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 2)
        fut.add_done_callback(callback)
        wait_for(lambda: fut.task_id in broker.tasks, what="the SUBMIT")
        broker.push(broker.hellos[-1][0], [broker._execute(broker.tasks[fut.task_id])])
        assert fut.result(timeout=TIMEOUT) == 4
    wait_for(lambda: errors, what="the callback's error")
    assert "done callback" in str(errors[0])


# ---- the session's states (SPEC 6.1, client side) -----------------------------

def test_session_states_are_the_specs():
    """fx.session.State names the states of SPEC 6.1's client-side table,
    and every transition has its action."""
    import pathlib
    import re
    from fx.session import TRANSITIONS, Session, State
    spec = (pathlib.Path(__file__).resolve().parents[2] / "proto" / "SPEC.md").read_text()
    table = spec.split("### 6.1 Client port", 1)[1].split("Client side:", 1)[1]
    table = table.split("Broker side", 1)[0]
    named = set()
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[A-Z_]+", cells[0]):
            named.update({cells[0], cells[3].split()[0]})
    assert named == {s.name for s in State}
    for (state, event), nxt in TRANSITIONS.items():
        assert callable(getattr(Session, "_do_" + event)), event


def test_session_goes_back_to_start_and_ready(broker):
    from fx.session import State
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    try:
        assert c._session.state is State.READY
        broker.no_session_on.add("STATUS")   # ERROR FX_E_NO_SESSION: START, HELLO, resend
        assert c.status(fx.new_id())["state"] == "unknown"
        assert c.stats["HELLO"] == 2 and c._session.state is State.READY
    finally:
        c.close()
    assert c._session.state is State.CLOSED


def test_hello_refused_for_good_after_welcome_closes(broker):
    from fx.session import State
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT)
    try:
        broker._on_hello = lambda rid, seq, f: broker.server.send(
            rid, "ERROR", seq, {"code": _fx.E_AUTH, "text": "key revoked"})
        broker.no_session_on.add("STATUS")   # makes the client say HELLO again
        with pytest.raises(fx.ConnectionError, match="FX_E_AUTH: key revoked"):
            c.status(fx.new_id())
        wait_for(lambda: c._session.state is State.CLOSED, what="CLOSED")
        with pytest.raises(fx.ConnectionError, match="key revoked"):
            c.run(1, endpoint_id=ENDPOINT, function_id=fx.new_id())
    finally:
        c.close()


def test_register_function_once_across_threads(client, broker):
    def triple(x):
        return 3 * x

    barrier = threading.Barrier(8)

    def register(_):
        barrier.wait(timeout=TIMEOUT)
        return client.register_function(triple)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(register, range(8)))
    assert len(set(ids)) == 1 and broker.counts["REGISTER_FUNCTION"] == 1


# ---- issue 7: who reads the socket, what is kept --------------------------------

def test_sequential_round_trip_is_read_by_the_caller(client, broker):
    """run + get_result: the caller reads the socket itself, and keeps the
    role (parked) afterwards; the I/O thread's wake-ups are not on the path."""
    fid = client.register_function(square)
    for i in range(20):
        tid = client.run(i, endpoint_id=ENDPOINT, function_id=fid)
        assert client.get_result(tid, timeout=TIMEOUT) == i * i
    session = client._session
    assert session._poller == threading.get_ident() and not session._polling
    wait_for(lambda: tid in broker.acked, what="the ack, sent by the caller")


def test_a_parked_socket_goes_back_to_the_io_thread(broker):
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT, heartbeat=0.1)
    try:
        tid = c.run(2, endpoint_id=ENDPOINT, function_id=c.register_function(square))
        assert c._session._poller == threading.get_ident()
        wait_for(lambda: c._session._poller is None, what="the I/O thread to take it back")
        assert c.get_result(tid, timeout=TIMEOUT) == 4
    finally:
        c.close()


def test_a_second_waiting_thread_is_woken_by_the_poller(client, broker):
    """One thread reads the socket for its own result; another waits for a
    different task and is woken by whoever reads."""
    fid = client.register_function(square)
    broker.execute = False
    t1 = client.run(3, endpoint_id=ENDPOINT, function_id=fid)
    t2 = client.run(4, endpoint_id=ENDPOINT, function_id=fid)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        f1 = pool.submit(client.get_result, t1, TIMEOUT)
        f2 = pool.submit(client.get_result, t2, TIMEOUT)
        wait_for(lambda: client._book.waiting(t1) and client._book.waiting(t2), what="both")
        rid = broker.hellos[-1][0]
        broker.push(rid, [broker._execute(broker.tasks[t2])])
        assert f2.result(timeout=TIMEOUT) == 16
        broker.push(rid, [broker._execute(broker.tasks[t1])])
        assert f1.result(timeout=TIMEOUT) == 9


def test_map_makes_no_future_and_keeps_no_result(client, broker):
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        it = ex.map(square, range(300), timeout=TIMEOUT)
        assert not isinstance(it, list)
        assert list(it) == [x * x for x in range(300)]
        assert ex._futures == []
    book = client._book
    assert not book.tasks and not book._untaken and not book._taken
    assert client.raw_result_counts == {}


def test_map_raises_at_the_failing_task_and_cancels_the_rest(client, broker):
    broker.execute = False
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        it = ex.map(fails, range(5), timeout=TIMEOUT)
        wait_for(lambda: len(broker.tasks) == 5, what="the SUBMIT")
        ids = list(broker.tasks)
        broker.push(broker.hellos[-1][0], [broker._execute(broker.tasks[ids[0]])])
        with pytest.raises(ValueError, match="bad value 0"):
            next(it)
    (cancel,) = broker.of_type("CANCEL")
    assert cancel[2] == {"task_ids": ids[1:], "queued_only": 1}
    # their cancelled results come and are dropped: nothing is kept for them
    wait_for(lambda: all(t in broker.acked for t in ids[1:]), what="their acks")
    assert not client._book.tasks


def test_map_timeout_and_refused_submit(client, broker):
    broker.execute = False
    ex = fx.Executor(endpoint_id=ENDPOINT, client=client)
    it = ex.map(square, [1, 2], timeout=0.3)
    with pytest.raises(TimeoutError):
        next(it)
    broker.reject_submit = (_fx.E_NOT_FOUND, "endpoint not found")
    with pytest.raises(fx.RequestError, match="endpoint not found"):
        list(ex.map(square, [3], timeout=TIMEOUT))


def test_shutdown_waits_for_an_unread_map(client, broker):
    ex = fx.Executor(endpoint_id=ENDPOINT, client=client)
    broker.execute = False
    it = ex.map(square, range(3))
    wait_for(lambda: len(broker.tasks) == 3, what="the SUBMIT")
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (ex.shutdown(wait=True), done.set()))
    waiter.start()
    assert not done.wait(0.3)
    broker.push(broker.hellos[-1][0], [broker._execute(t) for t in broker.tasks.values()])
    assert done.wait(TIMEOUT)
    assert list(it) == [0, 1, 4]


def test_big_map_submits_without_waiting_for_submitted(client, broker):
    """Tasks handed over in one call go out at once, in FX_BATCH_MAX pieces:
    the broker sees every SUBMIT before it answers the first."""
    broker.hold_submitted = True
    n = fx.BATCH_MAX + 10
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        it = ex.map(square, range(n), timeout=TIMEOUT * 3)
        wait_for(lambda: len(broker.held_submits) == 2, what="both SUBMITs, unanswered")
        assert [len(f["tasks"]) for _, _, f in broker.held_submits] == [fx.BATCH_MAX, 10]
        broker.release_submits()
        assert list(it) == [x * x for x in range(n)]


def test_taken_results_are_kept_up_to_a_bound_then_fetched(client, broker, monkeypatch):
    from fx import results
    monkeypatch.setattr(results, "KEEP_TAKEN", 3)
    fid = client.register_function(square)
    ids = client.run_batch([((i,), None) for i in range(6)], endpoint_id=ENDPOINT,
                           function_id=fid)
    wait_for(lambda: len(client._book._untaken) == 6, what="the results")
    assert [client.get_result(t, timeout=TIMEOUT) for t in ids] == [i * i for i in range(6)]
    assert list(client._book._taken) == ids[3:] and not client._book._untaken
    assert client.get_result(ids[5]) == 25                   # still here
    fetches = client.stats.get("FETCH", 0)
    assert client.get_result(ids[0], timeout=TIMEOUT) == 0   # asked of the broker again
    assert client.stats["FETCH"] == fetches + 1


def test_executor_futures_and_sequential_calls_mix(client, broker):
    """A caller never reads the socket while Executor futures wait: their
    callbacks stay on the I/O thread."""
    threads = []
    fid = client.register_function(square)
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        broker.execute = False
        fut = ex.submit(square, 5)
        fut.add_done_callback(lambda f: threads.append(threading.current_thread().name))
        wait_for(lambda: fut.task_id in broker.tasks, what="the SUBMIT")
        broker.execute = True
        tid = client.run(6, endpoint_id=ENDPOINT, function_id=fid)
        assert client.get_result(tid, timeout=TIMEOUT) == 36
        broker.push(broker.hellos[-1][0], [broker._execute(broker.tasks[fut.task_id])])
        assert fut.result(timeout=TIMEOUT) == 25
    wait_for(lambda: threads, what="the callback")
    assert threads[0].startswith("fx-io-")


def test_a_parked_socket_is_taken_back_when_futures_need_it(client, broker):
    fid = client.register_function(square)
    assert client.get_result(client.run(2, endpoint_id=ENDPOINT, function_id=fid),
                             timeout=TIMEOUT) == 4
    session = client._session
    assert session._poller == threading.get_ident()          # parked by this caller
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        fut = ex.submit(square, 3)
        assert session._poller is None                       # the I/O thread reads for it
        assert fut.result(timeout=TIMEOUT) == 9


def test_reconnect_while_a_caller_reads(broker):
    """The broker goes silent while run() waits, reading the socket itself:
    the I/O thread's liveness timer reopens the session on a new socket,
    which wakes the caller, and the SUBMIT is resent there."""
    c = fx.Client(broker.credentials(), hello_timeout=TIMEOUT, heartbeat=0.1)
    try:
        fid = c.register_function(square)
        broker.silent = True
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            run = pool.submit(c.run, 7, endpoint_id=ENDPOINT, function_id=fid)
            wait_for(lambda: c._session._polling, what="the caller reading")
            wait_for(lambda: c.stats.get("HELLO", 0) >= 2, what="a reconnect")
            broker.silent = False
            tid = run.result(timeout=TIMEOUT)
        assert c.get_result(tid, timeout=TIMEOUT) == 49
        assert len({m[3] for m in broker.of_type("SUBMIT")}) >= 2     # sent on two sockets
    finally:
        c.close()
