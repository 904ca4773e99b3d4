"""Credit-based flow control, and tasks that survive a broker killed with -9."""
import time

import fx
from fxharness import Federation, run_fx, wait_for


def nap(x):
    import time
    time.sleep(0.02)
    return x


def test_interchange_never_holds_more_than_its_credit(federation):
    federation.start_broker()
    creds = federation.add_user("alice")
    ep = federation.start_endpoint(creds, "one", managers=1, workers=1, extra=("--prefetch", "1"))
    with fx.Client(credentials=creds) as client:
        with fx.Executor(endpoint_id=ep.endpoint_id, client=client) as ex:
            assert list(ex.map(nap, range(60), timeout=120)) == list(range(60))
    stats = wait_for(lambda: Federation.read_stats(ep).get("results_sent") == "60" and Federation.read_stats(ep),
                     10, "the endpoint's stats file to count 60 results")
    held, window = int(stats["max_held"]), int(stats["max_window_announced"])
    assert int(stats["tasks_received"]) >= 60
    assert 1 <= held <= window, stats
    # one worker plus one prefetched task: the whole window is 2
    assert window == 2, stats


def test_broker_kill9_after_submit_loses_nothing(federation):
    federation.start_broker()
    creds = federation.add_user("carol")
    # Register the endpoint once, then take it offline.
    ep = federation.start_endpoint(creds, "carol-ep", managers=1, workers=2)
    ep_id = ep.endpoint_id
    assert ep.stop() == 0
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(nap)
        tids = client.run_batch([((i,), {}) for i in range(50)], endpoint_id=ep_id, function_id=fid)
        assert len(tids) == 50  # acknowledged: committed in the broker's sqlite
        federation.broker.kill9()
        federation.start_broker()
        # Queued durably, and the status says why nothing runs yet.
        status = run_fx("--creds", creds, "status", tids[0]).stdout
        assert "queued" in status and "offline (task waits for it)" in status, status
        federation.start_endpoint(creds, "carol-ep", managers=1, workers=2)
        results = [client.get_result(t, timeout=120) for t in tids]
        assert results == list(range(50))
        # A barrier: STATUS is answered on the session's connection after
        # every RESULTS the broker pushed before it, so a duplicate push sent
        # so far has arrived by the time the reply has.
        client.status(tids[0])
        counts = client.raw_result_counts
        assert all(counts.get(t) == 1 for t in tids), {t: counts.get(t) for t in tids if counts.get(t) != 1}
