"""Chaos: a 10,000-task batch while a driver kills -9 a random worker,
manager, fx-endpoint or broker every few seconds (each kind 3 times, while
tasks are in flight) and restarts what it killed. With default retry
settings every task must complete with the correct result, the broker must
push each result once (counted raw, per task id), and no process may be
left behind. Loopback only; bounded in time."""
import os
import random
import subprocess
import threading
import time

import fx
from fxharness import managers_of, wait_for, workers_of

TASKS = int(os.environ.get("FX_CHAOS_TASKS", "10000"))


def chaos_task(x):
    import time
    time.sleep(0.02)
    return 3 * x


class Collector(threading.Thread):
    """Waits for every result in order, so the driver can see progress."""

    def __init__(self, client, tids):
        super().__init__(daemon=True)
        self.client, self.tids = client, tids
        self.results, self.error = {}, None

    def run(self):
        try:
            for t in self.tids:
                self.results[t] = self.client.get_result(t, timeout=600)
        except Exception as e:  # reported by the test
            self.error = e


def test_chaos_every_task_completes_once(federation):
    fed = federation
    rng = random.Random(int(os.environ.get("FX_CHAOS_SEED", "2026")))
    fed.start_broker()
    creds = fed.add_user("chaos")
    ep = fed.start_endpoint(creds, "chaos", managers=2, workers=2)
    plan = ["worker", "manager", "endpoint", "broker"] * 3
    rng.shuffle(plan)
    restarted_managers = []
    with fx.Client(credentials=creds) as client:
        fid = client.register_function(chaos_task)
        tids = client.run_batch([((i,), {}) for i in range(TASKS)], endpoint_id=ep.endpoint_id,
                                function_id=fid)
        collector = Collector(client, tids)
        collector.start()
        wait_for(lambda: len(collector.results) > 0, 60, "the first result")
        for n, kind in enumerate(plan, 1):
            time.sleep(rng.uniform(1.0, 2.5))
            assert len(collector.results) < TASKS, f"all tasks finished before kill {n} ({kind})"
            if kind == "worker":
                victims = wait_for(lambda: workers_of(fed, "chaos"), 30, "a worker")
                os.kill(rng.choice(victims), 9)
            elif kind == "manager":
                victims = wait_for(lambda: managers_of(fed, "chaos"), 30, "a manager")
                victim = rng.choice(victims)
                with open(f"/proc/{victim}/cmdline", "rb") as f:
                    argv = [a.decode() for a in f.read().split(b"\0") if a]
                os.kill(victim, 9)
                restarted_managers.append(subprocess.Popen(argv, start_new_session=True,
                                                           stdout=subprocess.DEVNULL,
                                                           stderr=subprocess.DEVNULL))
            elif kind == "endpoint":
                fed.endpoints[-1].kill9()
                fed.start_endpoint(creds, "chaos", managers=2, workers=2)
            else:
                fed.broker.kill9()
                fed.start_broker()
            print(f"chaos: kill {n}/{len(plan)}: {kind}; {len(collector.results)}/{TASKS} results so far",
                  flush=True)
        collector.join(timeout=600)
        assert collector.error is None, collector.error
        assert not collector.is_alive(), f"only {len(collector.results)}/{TASKS} results"
        assert [collector.results[t] for t in tids] == [3 * i for i in range(TASKS)]
        # A barrier: STATUS is answered on the session's connection after
        # every RESULTS the broker pushed before it (see test_flow_durability).
        client.status(tids[0])
        counts = client.raw_result_counts
        dupes = {t: counts.get(t) for t in tids if counts.get(t) != 1}
        assert not dupes, f"{len(dupes)} results not pushed exactly once, e.g. {list(dupes.items())[:5]}"
    fed.stop()
    for p in restarted_managers:
        try:
            p.wait(timeout=30)  # stopped by the endpoint's STOP, like any manager
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    assert fed.left_behind == [], f"processes left behind: {fed.left_behind}"
    assert fed.broker.proc.returncode == 0, "the last broker stops cleanly on SIGTERM"
    assert fed.endpoints[-1].proc.returncode == 0, "the last endpoint stops cleanly on SIGTERM"
