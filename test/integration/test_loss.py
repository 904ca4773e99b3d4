"""Each loss scenario of issue 3 on the whole federation: every dispatched task
ends in exactly one result or one explicit error, and every process recovers
from the loss of any peer. Waits are on events with deadlines."""
import os
import time

import pytest

import fx
from fxharness import (Federation, managers_of, run_fx, wait_for, workers_of)


def slow_double(x):
    import time
    time.sleep(0.2)
    return 2 * x


def die_once(marker):
    import os
    if not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), 9)
    return "survived"


def die_always():
    import os
    os.kill(os.getpid(), 9)


def sleepy(seconds):
    import time
    time.sleep(seconds)
    return seconds


@pytest.fixture
def fed1(federation):
    federation.start_broker()
    federation.creds = federation.add_user("alice")
    federation.ep = federation.start_endpoint(federation.creds, "ep", managers=2, workers=2)
    federation.client = fx.Client(credentials=federation.creds)
    yield federation
    federation.client.close()


def _run_all(client, ep_id, fn, args, timeout=120):
    fid = client.register_function(fn)
    tids = client.run_batch([((a,), {}) for a in args], endpoint_id=ep_id, function_id=fid)
    return tids, [client.get_result(t, timeout=timeout) for t in tids]


def test_worker_killed_mid_task_is_retried_on_another_worker(fed1, tmp_path):
    c = fed1.client
    tid = c.run(str(tmp_path / "died-once"), endpoint_id=fed1.ep.endpoint_id,
                function_id=c.register_function(die_once))
    assert c.get_result(tid, timeout=60) == "survived"


def test_task_that_always_kills_its_worker_ends_with_worker_lost(fed1):
    c = fed1.client
    tid = c.run(endpoint_id=fed1.ep.endpoint_id, function_id=c.register_function(die_always))
    with pytest.raises(fx.TaskError) as info:
        c.get_result(tid, timeout=60)
    text = str(info.value)
    assert "WORKER_LOST" in text and "3" in text, text  # 1 run + 2 default retries


def test_manager_killed_its_tasks_are_requeued(fed1):
    c = fed1.client
    fid = c.register_function(slow_double)
    tids = c.run_batch([((i,), {}) for i in range(40)], endpoint_id=fed1.ep.endpoint_id, function_id=fid)
    victims = wait_for(lambda: len(managers_of(fed1, "ep")) == 2 and managers_of(fed1, "ep"), 20, "2 managers")
    wait_for(lambda: c.status(tids[0])["state"] != "queued", 30, "the first task to leave the broker")
    os.kill(victims[0], 9)
    assert [c.get_result(t, timeout=120) for t in tids] == [2 * i for i in range(40)]


def test_endpoint_killed_and_restarted_adopts_its_managers(fed1):
    c = fed1.client
    fid = c.register_function(slow_double)
    managers = wait_for(lambda: len(managers_of(fed1, "ep")) == 2 and managers_of(fed1, "ep"), 20, "2 managers")
    tids = c.run_batch([((i,), {}) for i in range(40)], endpoint_id=fed1.ep.endpoint_id, function_id=fid)
    wait_for(lambda: c.status(tids[0])["state"] != "queued", 30, "tasks to reach the endpoint")
    fed1.ep.kill9()
    # managers live in their own sessions: they outlive the endpoint
    assert managers_of(fed1, "ep") == managers
    fed1.start_endpoint(fed1.creds, "ep", managers=2, workers=2)
    assert [c.get_result(t, timeout=120) for t in tids] == [2 * i for i in range(40)]
    assert managers_of(fed1, "ep") == managers, "the restarted endpoint adopted its managers, started none"


def test_broker_killed_mid_flight_everything_reconnects(fed1):
    c = fed1.client
    fid = c.register_function(slow_double)
    tids = c.run_batch([((i,), {}) for i in range(40)], endpoint_id=fed1.ep.endpoint_id, function_id=fid)
    wait_for(lambda: c.status(tids[5])["state"] in ("succeeded", "failed"), 60, "some results")
    received = int(Federation.read_stats(fed1.ep).get("results_received", 0))
    fed1.broker.kill9()
    # results produced while the broker is down are held by the endpoint
    wait_for(lambda: int(Federation.read_stats(fed1.ep).get("results_received", 0)) > received + 2, 30,
             "results produced while the broker is down")
    fed1.start_broker()
    assert [c.get_result(t, timeout=120) for t in tids] == [2 * i for i in range(40)]


def test_walltime_kills_the_task_with_a_clear_error(fed1):
    c = fed1.client
    fid = c.register_function(sleepy)
    start = time.monotonic()
    tid = c.run(60, endpoint_id=fed1.ep.endpoint_id, function_id=fid, walltime=1)
    with pytest.raises(fx.TaskError) as info:
        c.get_result(tid, timeout=60)
    assert "WALLTIME" in str(info.value)
    assert time.monotonic() - start < 30
    assert c.get_result(c.run(0.1, endpoint_id=fed1.ep.endpoint_id, function_id=fid), timeout=60) == 0.1


def test_cancel_running_and_queued_tasks(fed1):
    c = fed1.client
    fid = c.register_function(sleepy)
    running = c.run(60, endpoint_id=fed1.ep.endpoint_id, function_id=fid)
    wait_for(lambda: c.status(running)["state"] == "dispatched", 30, "the task to be dispatched")
    # running on a worker: the endpoint has handed it to a manager
    wait_for(lambda: int(Federation.read_stats(fed1.ep).get("tasks_dispatched", 0)) >= 1, 30,
             "the task to reach a manager")
    c.cancel(running)
    with pytest.raises(fx.TaskCancelled):
        c.get_result(running, timeout=30)
    # Future.cancel: a task still queued in the broker (endpoint offline) is cancelled
    fed1.ep.stop()
    wait_for(lambda: "offline" in run_fx("--creds", fed1.creds, "endpoints").stdout, 15, "endpoint offline")
    with fx.Executor(endpoint_id=fed1.ep.endpoint_id, client=c) as ex:
        fut = ex.submit(sleepy, 1)
        wait_for(lambda: fut.task_id and c.status(fut.task_id)["state"] == "queued", 30, "queued")
        assert fut.cancel() is True
        assert fut.cancelled()


def test_cli_shows_endpoint_offline_within_one_threshold(fed1):
    out = wait_for(lambda: (o := run_fx("--creds", fed1.creds, "endpoints").stdout) and "online" in o
                   and " 2 " in o and o, 15, "endpoint online with its managers")
    assert "managers" in out and "workers" in out, out
    fed1.ep.kill9()
    killed = time.monotonic()
    wait_for(lambda: "offline" in run_fx("--creds", fed1.creds, "endpoints").stdout, 15, "offline")
    assert time.monotonic() - killed < 3 * 1.0 + 2.0  # 3 missed 1 s beats, plus one period of slack
