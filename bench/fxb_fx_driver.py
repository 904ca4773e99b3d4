"""fxb_fx_driver: drives fx through its public Python API (fx.Client,
fx.Executor, fx.ShellFunction) for fx-bench, over the line protocol of
fxb_drive.py. fx-bench starts the federation; this script is only the
client.

    /usr/bin/python3 bench/fxb_fx_driver.py --creds CREDS --endpoint ID
"""
import argparse
import time

import fx

import fxb_drive

TIMEOUT = 900.0


def noop(x=None):
    return x


def echo(a):
    return a


def naps(seconds):
    import time
    time.sleep(seconds)
    return seconds


class FxBackend(fxb_drive.TripBackend):
    def __init__(self, creds, endpoint_id):
        self.endpoint_id = endpoint_id
        self.client = fx.Client(credentials=creds)
        self.shell = fx.ShellFunction("true")
        self.fids = {"py": self.client.register_function(noop),
                     "sh": self.client.register_function(self.shell)}
        self.echo_fid = self.client.register_function(echo)

    def trip(self, kind):
        fid = self.fids[kind]
        if kind == "py":
            def one(i):
                tid = self.client.run(i, endpoint_id=self.endpoint_id, function_id=fid)
                if self.client.get_result(tid, timeout=TIMEOUT) != i:
                    raise RuntimeError("wrong result")
        else:
            def one(i):
                tid = self.client.run(endpoint_id=self.endpoint_id, function_id=fid)
                if self.client.get_result(tid, timeout=TIMEOUT).returncode != 0:
                    raise RuntimeError("shell no-op failed")
        return one

    def _check(self, kind, n, results):
        if kind == "py":
            if results != list(range(n)):
                raise RuntimeError("wrong results")
        elif any(r.returncode != 0 for r in results):
            raise RuntimeError("a shell no-op failed")

    def cmd_map(self, kind, n):
        n = int(n)
        fn = noop if kind == "py" else self.shell
        t0 = time.perf_counter()
        with fx.Executor(endpoint_id=self.endpoint_id, client=self.client) as ex:
            results = list(ex.map(fn, range(n), timeout=TIMEOUT))
        elapsed = time.perf_counter() - t0
        self._check(kind, n, results)
        return [elapsed]

    def cmd_batch(self, kind, n):
        n = int(n)
        t0 = time.perf_counter()
        batch = self.client.create_batch(endpoint_id=self.endpoint_id, function_id=self.fids[kind])
        for i in range(n):
            if kind == "py":
                batch.add(i)
            else:
                batch.add()
        ids = self.client.run_batch(batch)
        results = [self.client.get_result(t, timeout=TIMEOUT) for t in ids]
        elapsed = time.perf_counter() - t0
        self._check(kind, n, results)
        return [elapsed]

    def cmd_hops(self, kind, n):
        """n sequential round trips, then each task's stamps (SPEC 12.5) from
        its provenance: 16 numbers per task, microseconds after stamp 0, -1
        where no component set one. Stamp 0 (client sent) is the driver's
        clock where the client set none; stamp 15 (client received) is always
        the driver's: the one provenance gives is the broker's record of the
        acknowledgement (kept in milliseconds), not the client's receipt."""
        get_provenance = getattr(self.client, "get_provenance", None)
        if get_provenance is None:
            raise RuntimeError("this fx client has no get_provenance: no stamps to break down")
        fid, args = self.fids[kind], ((0,) if kind == "py" else ())
        trips = []
        for _ in range(int(n)):
            sent = time.time_ns() // 1000
            tid = self.client.run(*args, endpoint_id=self.endpoint_id, function_id=fid)
            self.client.get_result(tid, timeout=TIMEOUT)
            trips.append((tid, sent, time.time_ns() // 1000))
        records = get_provenance([t[0] for t in trips])
        if isinstance(records, dict):
            records = [records[t[0]] for t in trips]
        out = []
        for (tid, sent, got), rec in zip(trips, records):
            times = rec["times"] if isinstance(rec, dict) else rec.times
            times = (list(times) + [0] * fxb_drive.STAMPS)[:fxb_drive.STAMPS]
            times[0] = times[0] or sent
            times[-1] = got
            out.extend(t - times[0] if t else -1 for t in times)
        return out

    def cmd_flood(self, n):
        """n Python no-ops as one batch, every result fetched; for SIMULATED
        managers, which answer None to every task, so only None is checked."""
        n = int(n)
        t0 = time.perf_counter()
        batch = self.client.create_batch(endpoint_id=self.endpoint_id, function_id=self.fids["py"])
        for _ in range(n):
            batch.add()
        ids = self.client.run_batch(batch)
        results = [self.client.get_result(t, timeout=TIMEOUT) for t in ids]
        elapsed = time.perf_counter() - t0
        if len(results) != n or any(r is not None for r in results):
            raise RuntimeError("a simulated task did not come back as None")
        return [elapsed]

    def cmd_payload(self, nbytes, n):
        array = fxb_drive.numpy_array(nbytes)

        def one(i):
            tid = self.client.run(array, endpoint_id=self.endpoint_id, function_id=self.echo_fid)
            back = self.client.get_result(tid, timeout=TIMEOUT)
            if back.shape != array.shape or not (back == array).all():
                raise RuntimeError("the array came back changed")
        return fxb_drive.timed_trips(int(n), one)

    def cmd_routing(self, ntasks, ncontainers, task_ms, seed):
        """The routing experiment's workload (fx-bench routing): one
        function per container (fxb-c0 ... fxb-cK-1, bwrap; the endpoint's
        config gives each a cold start), ntasks tasks of task_ms each whose
        containers are drawn uniformly with the seed, submitted as one batch
        in that order. Returns [seconds from submission to the last result,
        number of distinct containers used]."""
        import random
        n, k, naptime = int(ntasks), int(ncontainers), int(task_ms) / 1000.0
        known = {c["name"]: c["id"] for c in self.client.containers()}
        cids = [known.get(f"fxb-c{i}") or self.client.register_container(f"fxb-c{i}", "bwrap")
                for i in range(k)]
        fids = [self.client.register_function(naps, name=f"naps_c{i}", container=cids[i],
                                              description=f"routing experiment, container fxb-c{i}")
                for i in range(k)]
        rng = random.Random(int(seed))
        order = [rng.randrange(k) for _ in range(n)]
        batch = self.client.create_batch(endpoint_id=self.endpoint_id)
        for c in order:
            batch.add(naptime, function_id=fids[c])
        t0 = time.perf_counter()
        ids = self.client.run_batch(batch)
        for t in ids:
            self.client.get_result(t, timeout=TIMEOUT)
        return [time.perf_counter() - t0, len(set(order))]

    def close(self):
        self.client.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--creds", required=True)
    ap.add_argument("--endpoint", required=True)
    args = ap.parse_args()
    fxb_drive.serve(FxBackend(args.creds, args.endpoint))


if __name__ == "__main__":
    main()
