"""Client.get_endpoint_status (issue 9; SPEC 5.37, 5.38): the broker's live
view of an endpoint, never online past the heartbeat threshold."""
import time

import pytest

import fx
from fxharness import kill_all, managers_of, wait_for, workers_of


def test_endpoint_status_live_then_offline(federation):
    federation.start_broker()
    creds = federation.add_user("dora")
    ep = federation.start_endpoint(creds, "dora-ep", managers=2, workers=2)
    with fx.Client(credentials=creds) as client:
        def all_in():   # ENDPOINT_STATUS comes within a heartbeat period of the managers' hellos
            st = client.get_endpoint_status(ep.endpoint_id)
            return st if st["managers"] >= 2 and st["workers"] >= 4 else None

        st = wait_for(all_in, 30, "2 managers and 4 workers in the broker's view")
        assert st["status"] == "online" and st["online"] and st["name"] == "dora-ep"
        assert st["managers"] == 2 and st["workers"] == 4 and st["queued"] == 0
        assert st["last_seen"] and abs(st["last_seen"] - time.time()) < 60
        with pytest.raises(fx.RequestError, match="FX_E_NOT_FOUND"):
            client.get_endpoint_status(fx.new_id())
        with pytest.raises(ValueError):
            client.get_endpoint_status("not-an-id")

        orphans = managers_of(federation, "dora-ep") + workers_of(federation, "dora-ep")
        ep.kill9()   # silent, not a goodbye: offline only from the heartbeats
        # offline within the heartbeat threshold (3 x 1 s) and a margin
        wait_for(lambda: not client.get_endpoint_status(ep.endpoint_id)["online"], 3 * 1.0 + 3,
                 "the endpoint offline within the heartbeat threshold")
        st = client.get_endpoint_status(ep.endpoint_id)
        assert st["status"] == "offline" and st["managers"] == 0 and st["workers"] == 0
        fid = client.register_function(fx.ShellFunction("true"))
        client.run(endpoint_id=ep.endpoint_id, function_id=fid)
        assert client.get_endpoint_status(ep.endpoint_id)["queued"] == 1
    kill_all(orphans)   # managers outlive their endpoint by design (they wait to be adopted)
