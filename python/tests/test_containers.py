"""Containers on the client side (issue 10; SPEC 5.5, 5.6, 5.16, 5.33,
5.38): Client.register_container and containers(), a function version's
container (register_function(fn, container=)), a task's own container
(run, create_batch/Batch.add, run_batch, Executor(container=)), the
checks made before anything is sent, and the per-container workers of
get_endpoint_status. Against the scripted broker of conftest.py, which
records what was sent."""
import pytest

import fx
from fx import _fx

from conftest import ENDPOINT, wait_for


def double(x):
    return 2 * x


def _submitted(broker):
    """Every task record the broker got, in order."""
    return [t for _, _, fields, _ in broker.of_type("SUBMIT") for t in fields["tasks"]]


def test_register_container_and_list(client, broker):
    cid = client.register_container("py311", "podman", "docker.io/library/python:3.11",
                                    description="CPython 3.11")
    assert _fx.id_valid(cid)
    sent = broker.of_type("REGISTER_CONTAINER")[-1][2]
    assert sent["container_id"] == cid and sent["runtime"] == "podman"
    assert sent["image"] == "docker.io/library/python:3.11" and sent["description"] == "CPython 3.11"
    box = client.register_container("sandbox", "bwrap")        # image "" only for bwrap
    assert broker.containers[box]["image"] == ""
    # the same id again (an update) goes out under that id
    assert client.register_container("py312", "podman", "python:3.12", container_id=cid) == cid
    rows = client.containers()
    assert [r["id"] for r in rows] == [cid, box]
    assert rows[0]["name"] == "py312" and rows[0]["runtime"] == "podman"
    assert rows[1]["image"] == "" and set(rows[0]) == {"id", "name", "runtime", "image",
                                                       "description"}
    assert broker.of_type("LIST")[-1][2]["what"] == 4


def test_bad_runtime_and_image_refused_before_sending(client, broker):
    with pytest.raises(ValueError, match="bwrap, podman, docker, apptainer, singularity"):
        client.register_container("x", "lxc", "img")
    with pytest.raises(ValueError, match="needs an image"):
        client.register_container("x", "podman")
    with pytest.raises(ValueError, match="needs a name"):
        client.register_container("", "bwrap")
    with pytest.raises(ValueError, match="canonical UUID"):
        client.register_container("x", "bwrap", container_id="nope")
    assert broker.of_type("REGISTER_CONTAINER") == []
    assert fx.CONTAINER_RUNTIMES == ("bwrap", "podman", "docker", "apptainer", "singularity")


def test_function_version_names_its_container(client, broker):
    cid = client.register_container("py311", "podman", "python:3.11")
    fid = client.register_function(double, container=cid)
    assert broker.of_type("REGISTER_FUNCTION")[-1][2]["container_id"] == cid
    plain = client.register_function(lambda x: x)
    assert broker.of_type("REGISTER_FUNCTION")[-1][2]["container_id"] == ""
    assert fid != plain
    # an unknown container: the broker's refusal, with its sentence
    with pytest.raises(fx.RequestError, match="FX_E_NOT_FOUND.*register it first"):
        client.register_function(double, container=fx.new_id())
    with pytest.raises(ValueError, match="not a container id"):
        client.register_function(double, container="py311")
    # the tasks of the version carry no container of their own
    tid = client.run(3, endpoint_id=ENDPOINT, function_id=fid)
    assert client.get_result(tid) == 6
    assert _submitted(broker)[-1]["container"] == ""


def test_a_task_names_its_own_container(client, broker):
    cid = client.register_container("py311", "podman", "python:3.11")
    other = client.register_container("sandbox", "bwrap")
    fid = client.register_function(double)
    tid = client.run(4, endpoint_id=ENDPOINT, function_id=fid, container=cid)
    assert client.get_result(tid) == 8
    assert _submitted(broker)[-1]["container"] == cid
    # a batch: its own container, and one task's own
    batch = client.create_batch(endpoint_id=ENDPOINT, function_id=fid, container=cid)
    batch.add(1)
    batch.add(2, container=other)
    batch.add(3)
    ids = client.run_batch(batch)
    assert [client.get_result(t) for t in ids] == [2, 4, 6]
    assert [t["container"] for t in _submitted(broker)[-3:]] == [cid, other, cid]
    ids = client.run_batch([((5,), {})], endpoint_id=ENDPOINT, function_id=fid, container=other)
    assert client.get_result(ids[0]) == 10 and _submitted(broker)[-1]["container"] == other
    # the names are not passed to the function, and bad ones are refused here
    with pytest.raises(ValueError, match="not a container id"):
        client.run(1, endpoint_id=ENDPOINT, function_id=fid, container="sandbox")
    with pytest.raises(ValueError, match="not a container id"):
        client.create_batch(endpoint_id=ENDPOINT, function_id=fid, container=42)


def test_executor_container(client, broker):
    cid = client.register_container("py311", "podman", "python:3.11")
    with fx.Executor(endpoint_id=ENDPOINT, client=client, container=cid) as ex:
        assert ex.submit(double, 21).result(timeout=10) == 42
        assert list(ex.map(double, [1, 2])) == [2, 4]
    assert [t["container"] for t in _submitted(broker)[-3:]] == [cid, cid, cid]
    with fx.Executor(endpoint_id=ENDPOINT, client=client) as ex:
        assert ex.submit(double, 1).result(timeout=10) == 2
    assert _submitted(broker)[-1]["container"] == ""
    with pytest.raises(ValueError, match="not a container id"):
        fx.Executor(endpoint_id=ENDPOINT, client=client, container="nope")


def test_endpoint_status_shows_workers_per_container(client, broker):
    cid = fx.new_id()
    broker.endpoint_info = {
        "endpoint_id": ENDPOINT, "name": "laptop", "online": 1, "last_seen_us": 1,
        "managers": 2, "workers": 5, "free": 1, "queued": 0, "dispatched": 4,
        "containers": [{"container_id": "", "managers": 2, "idle": 1, "busy": 2, "starting": 0},
                       {"container_id": cid, "managers": 1, "idle": 0, "busy": 1, "starting": 1}]}
    st = client.get_endpoint_status(ENDPOINT)
    assert st["containers"] == [
        {"container_id": "", "managers": 2, "idle": 1, "busy": 2, "starting": 0},
        {"container_id": cid, "managers": 1, "idle": 0, "busy": 1, "starting": 1}]
