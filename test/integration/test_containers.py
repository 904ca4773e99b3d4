"""Containers end to end (issue 10): a scientist registers a bubblewrap
container, a function that names it, and runs it from Python through a
real broker, endpoint and manager. The function proves it ran inside (the
marker the endpoint's launch template sets, the container's own hostname,
its own /tmp, a read-only root); consecutive tasks reuse the same warm
worker; provenance and the endpoint's status name the container; a
container that cannot start ends its tasks with an error naming the
container, the runtime and what the runtime said, and is given up on.
"""
import os
import shutil
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import fx
from fxharness import Federation

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap (bwrap) is not installed: script/lib.sh installs it")

CONFIG = """\
container_strategy: lru
containers:
  sandbox: {runtime: bwrap, image: "",
            template: "bwrap --die-with-parent --unshare-pid --unshare-uts --unshare-ipc --hostname {name}
                       --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --setenv FX_TEST_MARKER inside-sandbox
                       {binds} {env} {command}"}
"""


@pytest.fixture(scope="module")
def boxed(tmp_path_factory):
    """One broker, one user, one endpoint of 1 manager x 2 workers whose
    config gives the container `sandbox` its launch template."""
    fed = Federation()
    try:
        fed.start_broker()
        fed.creds = fed.add_user("carol")
        config = os.path.join(fed.root, "containers.yaml")
        with open(config, "w") as f:
            f.write(CONFIG)
        fed.endpoint = fed.start_endpoint(fed.creds, "boxed", managers=1, workers=2,
                                          extra=("--config", config))
        fed.client = fx.Client(credentials=fed.creds)
        yield fed
        fed.client.close()
    finally:
        fed.stop()


def where(probe_name):
    """What a task sees of the place it runs in."""
    import os
    import socket
    inside_tmp = f"/tmp/{probe_name}"
    with open(inside_tmp, "w") as f:
        f.write("written inside")
    try:
        with open(os.path.join(os.path.expanduser("~"), probe_name), "w"):
            pass
        root = "writable"
    except OSError as e:
        root = type(e).__name__ + ": " + (e.strerror or "")
    return {"marker": os.environ.get("FX_TEST_MARKER"), "hostname": socket.gethostname(),
            "container_id": os.environ.get("FX_CONTAINER_ID"), "root": root}


def test_a_function_runs_inside_its_bwrap_container(boxed):
    client, ep = boxed.client, boxed.endpoint.endpoint_id
    cid = client.register_container("sandbox", "bwrap")
    fid = client.register_function(where, container=cid)
    probes, tids = [], []
    for _ in range(3):                      # one after the other: the warm worker serves each
        probe = f"fx-probe-{uuid.uuid4().hex}"
        probes.append(probe)
        tid = client.run(probe, endpoint_id=ep, function_id=fid)
        seen = client.get_result(tid, timeout=120)
        tids.append(tid)
        assert seen["marker"] == "inside-sandbox", seen
        assert seen["hostname"] == "sandbox", seen
        assert seen["container_id"] == cid, seen
        assert seen["root"].startswith("OSError") and "Read-only" in seen["root"], seen
    for probe in probes:                    # its /tmp was its own, the host's root untouched
        assert not os.path.exists(f"/tmp/{probe}")
        assert not os.path.exists(os.path.join(os.path.expanduser("~"), probe))
    rows = client.get_provenance(tids)
    assert all(r["container"] == cid for r in rows), rows
    assert len({r["worker_pid"] for r in rows}) == 1, [r["worker_pid"] for r in rows]
    status = client.get_endpoint_status(ep)
    mine = [c for c in status["containers"] if c["container_id"] == cid]
    assert mine and mine[0]["idle"] + mine[0]["busy"] >= 1, status["containers"]


def test_host_tasks_still_run_beside_containers(boxed):
    client, ep = boxed.client, boxed.endpoint.endpoint_id

    def on_host():
        import os
        return os.environ.get("FX_CONTAINER_ID", "")

    fid = client.register_function(on_host)
    tids = client.run_batch([((), {}) for _ in range(20)], endpoint_id=ep, function_id=fid)
    assert [client.get_result(t, timeout=120) for t in tids] == [""] * 20


def test_a_container_that_cannot_start_says_why_and_is_given_up(boxed):
    client, ep = boxed.client, boxed.endpoint.endpoint_id
    cid = client.register_container("nowhere", "bwrap", "/fx-no-such-root-folder")

    def never_runs():
        return "ran"

    fid = client.register_function(never_runs, container=cid)
    errors = []
    for _ in range(5):                      # past FX_LAUNCH_FAILURES_MAX (3)
        tid = client.run(endpoint_id=ep, function_id=fid)
        with pytest.raises(fx.TaskError) as info:
            client.get_result(tid, timeout=120)
        errors.append(str(info.value))
    for text in errors:
        assert "nowhere" in text and "bwrap" in text, text
    assert "fx-no-such-root-folder" in errors[0] or "No such file" in errors[0], errors[0]
    assert any("stop" in t or "giv" in t or "no longer" in t for t in errors[3:]), errors[3:]
