"""Client.get_endpoint_status (issue 9; SPEC 5.37, 5.38): the broker's live
view of an endpoint, never online past the heartbeat threshold."""
import time

import pytest

import fx
from fxharness import kill_all, managers_of, workers_of


def test_endpoint_status_live_then_offline(federation):
    federation.start_broker()
    creds = federation.add_user("dora")
    ep = federation.start_endpoint(creds, "dora-ep", managers=2, workers=2)
    with fx.Client(credentials=creds) as client:
        deadline = time.monotonic() + 30
        st = client.get_endpoint_status(ep.endpoint_id)
        while (st["managers"] < 2 or st["workers"] < 4) and time.monotonic() < deadline:
            time.sleep(0.2)   # ENDPOINT_STATUS comes within a heartbeat period
            st = client.get_endpoint_status(ep.endpoint_id)
        assert st["status"] == "online" and st["online"] and st["name"] == "dora-ep"
        assert st["managers"] == 2 and st["workers"] == 4 and st["queued"] == 0
        assert st["last_seen"] and abs(st["last_seen"] - time.time()) < 60
        with pytest.raises(fx.RequestError, match="FX_E_NOT_FOUND"):
            client.get_endpoint_status(fx.new_id())
        with pytest.raises(ValueError):
            client.get_endpoint_status("not-an-id")

        orphans = managers_of(federation, "dora-ep") + workers_of(federation, "dora-ep")
        ep.kill9()   # silent, not a goodbye: offline only from the heartbeats
        killed = time.monotonic()
        while client.get_endpoint_status(ep.endpoint_id)["online"]:
            assert time.monotonic() - killed < 3 * 1.0 + 3, "online past the heartbeat threshold"
            time.sleep(0.1)
        st = client.get_endpoint_status(ep.endpoint_id)
        assert st["status"] == "offline" and st["managers"] == 0 and st["workers"] == 0
        fid = client.register_function(fx.ShellFunction("true"))
        client.run(endpoint_id=ep.endpoint_id, function_id=fid)
        assert client.get_endpoint_status(ep.endpoint_id)["queued"] == 1
    kill_all(orphans)   # managers outlive their endpoint by design (they wait to be adopted)
