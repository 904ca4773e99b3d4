"""Containers through a real fx-broker (issue 10; SPEC 5.5, 5.6, 5.16,
5.33, 5.36): the Python client and the fx CLI register and list them, the
broker refuses what SPEC 5.33 refuses (another user's id, a runtime not in
its list, no image but for bwrap) and checks the containers a function
version or a task names. No endpoint runs: what reaches one is
fx_broker_containers_test's."""
import re

import pytest

import fx
from fxharness import run_fx


def double(x):
    return 2 * x


def test_containers_client_and_cli(federation):
    federation.start_broker()
    alice, bob = federation.add_user("alice"), federation.add_user("bob")
    with fx.Client(credentials=alice) as a, fx.Client(credentials=bob) as b:
        cid = a.register_container("py311", "podman", "docker.io/library/python:3.11")
        assert a.register_container("py311", "podman", "docker.io/library/python:3.11",
                                    container_id=cid) == cid          # the same again
        a.register_container("py312", "podman", "docker.io/library/python:3.12",
                             description="newer", container_id=cid)  # an update
        with pytest.raises(fx.RequestError, match="FX_E_CONFLICT"):
            b.register_container("mine", "docker", "x", container_id=cid)
        # the CLI: register (an id printed), then both in the listing
        out = run_fx("container", "register", "sandbox", "--runtime", "bwrap", "--creds", alice)
        box = out.stdout.strip()
        assert fx.id_valid(box), out.stdout
        listing = run_fx("containers", "--creds", alice).stdout
        lines = listing.splitlines()
        assert re.match(r"id\s+name\s+runtime\s+image", lines[0]), listing
        assert cid in lines[1] and "py312" in lines[1] and "python:3.12" in lines[1]
        assert box in lines[2] and "bwrap" in lines[2]
        assert "(no containers)" in run_fx("containers", "--creds", bob).stdout
        # the broker's refusals, in its words
        bad = run_fx("container", "register", "x", "--runtime", "lxc", "--creds", alice, check=False)
        assert bad.returncode == 1 and "bwrap, podman, docker, apptainer or singularity" in bad.stderr
        bad = run_fx("container", "register", "x", "--runtime", "podman", "--creds", alice, check=False)
        assert bad.returncode == 1 and "needs an image" in bad.stderr
        bad = run_fx("container", "register", "x", "--creds", alice, check=False)
        assert bad.returncode == 2 and "--runtime is required" in bad.stderr
        rows = a.containers()
        assert [(r["id"], r["runtime"], r["image"]) for r in rows] == [
            (cid, "podman", "docker.io/library/python:3.12"), (box, "bwrap", "")]
        assert rows[0]["description"] == "newer"
        # a function version names one of its user's containers, nobody else's
        theirs = b.register_container("bobs", "bwrap")
        with pytest.raises(fx.RequestError, match="FX_E_NOT_FOUND"):
            a.register_function(double, container=theirs)
        fid = a.register_function(double, container=cid)
        # so does a task; a bad one refuses the SUBMIT and stores nothing
        pub, _ = fx.keypair_new()
        ep = a.register_endpoint("nowhere", pub)
        tid = a.run(1, endpoint_id=ep, function_id=fid, container=box)
        assert a.status(tid)["state"] == "queued"
        with pytest.raises(fx.RequestError, match="FX_E_NOT_FOUND"):
            a.run(1, endpoint_id=ep, function_id=fid, container=theirs)
        assert a.get_endpoint_status(ep)["queued"] == 1
