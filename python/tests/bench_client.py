"""bench_client.py: what the fx client costs per task, in CPU time of the
client's own process (every thread: the caller's and the I/O thread), for

  map        Executor.map of N no-op tasks, every result taken
  batch      Client.run_batch of N tasks, then get_result of each
  seq        client.run + client.get_result, one after another (also the
             round trip's p50/p99)

Against a fake broker (default: _fxtest.TestServer in a child process that
answers SUBMIT with SUBMITTED and then RESULTS at once), so the figure is the
client alone; or, with --federation, against a real local federation
(broker, endpoint, managers, workers from $FX_BIN, started as
test/integration/fxharness.py does), where it also prints the CPU of every
other process kind per task. Each figure is the median of --runs runs; the
load average is printed before and after (these machines are shared).

  PYTHONPATH=build/python:build/python-test:test/integration \\
      /usr/bin/python3 python/tests/bench_client.py [--runs 5] [--tasks 10000] [--seq 1000]
  ... bench_client.py --federation [--prefetch 64]

Not a test (pytest collects test_*.py only): speed is reported, never asserted.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import fx

HZ = os.sysconf("SC_CLK_TCK")


def noop(x):
    return x


def cpu_of(pid="self"):
    """utime + stime of a process, in seconds (all its threads)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / HZ


def switches():
    """Context switches of this process so far, over all its threads."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/status") as f:
                for line in f:
                    if "ctxt_switches" in line:
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


# ---- the fake broker (a child process) -------------------------------------------

def serve():
    """A broker's client port, minimal: WELCOME, FUNCTION_REGISTERED,
    SUBMITTED followed at once by RESULTS (each task returns its first
    argument), HEARTBEAT, empty answers to FETCH. Stops when stdin closes."""
    import select
    import _fxtest
    pub, sec = fx.keypair_new()
    srv = _fxtest.TestServer(pub, sec)
    print(json.dumps({"endpoint": srv.endpoint, "public_key": pub}), flush=True)
    while True:
        msg = srv.recv(200)
        if msg is None:
            if select.select([sys.stdin], [], [], 0)[0] and not sys.stdin.read(1):
                return
            continue
        rid, type_, seq, fields, _user = msg
        if type_ == "HELLO":
            srv.send(rid, "WELCOME", seq, {"id": fx.new_id(), "server_version": "bench",
                                           "heartbeat_ms": 1000})
        elif type_ == "REGISTER_FUNCTION":
            srv.send(rid, "FUNCTION_REGISTERED", seq, {"function_id": fields["function_id"]})
        elif type_ == "SUBMIT":
            tasks = fields["tasks"]
            srv.send(rid, "SUBMITTED", seq, {"accepted": len(tasks)})
            # the payload's format is the serializer's PAYLOAD half (SPEC 12.1.1)
            fmt = tasks[0]["serializer"].rpartition("+")[2] if tasks else "pickle"
            codec = fx.serialize.get(fmt or "pickle")
            results = [{"task_id": t["task_id"], "status": 0, "error_code": 0,
                        "error_text": None,
                        "value": codec.dumps(codec.loads(t["payload"])[0][0]),
                        "output": b""} for t in tasks]
            srv.send(rid, "RESULTS", 0, {"results": results})
        elif type_ == "HEARTBEAT":
            srv.send(rid, "HEARTBEAT", 0, {})
        elif type_ == "FETCH":
            srv.send(rid, "RESULTS", seq, {"results": []})


class FakeBroker:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        info = json.loads(self.proc.stdout.readline())
        pub, sec = fx.keypair_new()
        self.creds = {"broker_client": info["endpoint"], "broker_endpoint": "tcp://127.0.0.1:1",
                      "broker_public_key": info["public_key"], "user_id": fx.new_id(),
                      "public_key": pub, "secret_key": sec}
        self.endpoint_id = fx.new_id()

    def cpu(self):
        return {"fake broker": cpu_of(self.proc.pid)}

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class LocalFederation:
    def __init__(self, prefetch, managers, workers):
        from fxharness import Federation, managers_of, workers_of
        self._managers_of, self._workers_of = managers_of, workers_of
        self.fed = Federation()
        try:
            self.fed.start_broker()
            self.creds = self.fed.add_user("bench")
            extra = ("--prefetch", str(prefetch)) if prefetch else ()
            self.ep = self.fed.start_endpoint(self.creds, "bench", managers=managers,
                                              workers=workers, extra=extra)
        except BaseException:
            self.fed.stop()
            raise
        self.endpoint_id = self.ep.endpoint_id

    def cpu(self):
        out = {"broker": cpu_of(self.fed.broker.pid), "endpoint": cpu_of(self.ep.pid)}
        out["managers"] = sum(cpu_of(p) for p in self._managers_of(self.fed, "bench"))
        out["workers"] = sum(cpu_of(p) for p in self._workers_of(self.fed, "bench"))
        return out

    def stop(self):
        self.fed.stop()


# ---- the cases ---------------------------------------------------------------------

def case_map(client, peer, fid, n):
    with fx.Executor(endpoint_id=peer.endpoint_id, client=client) as ex:
        out = list(ex.map(noop, range(n), timeout=600))
    assert out == list(range(n)), "wrong results"
    return {}


def case_batch(client, peer, fid, n):
    ids = client.run_batch([((i,), None) for i in range(n)], endpoint_id=peer.endpoint_id,
                           function_id=fid)
    out = [client.get_result(t, timeout=600) for t in ids]
    assert out == list(range(n)), "wrong results"
    return {}


def case_seq(client, peer, fid, n):
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        tid = client.run(i, endpoint_id=peer.endpoint_id, function_id=fid)
        assert client.get_result(tid, timeout=60) == i
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"p50_ms": times[len(times) // 2] * 1e3, "p99_ms": times[int(len(times) * 0.99)] * 1e3}


CASES = {"map": case_map, "batch": case_batch, "seq": case_seq}


def measure(case, client, peer, fid, n):
    """One run: client CPU us/task, wall rate, the peers' CPU us/task, extras."""
    peers0 = peer.cpu()
    sw0, cpu0, t0 = switches(), time.process_time(), time.perf_counter()
    extra = CASES[case](client, peer, fid, n)
    wall, cpu, sw = time.perf_counter() - t0, time.process_time() - cpu0, switches() - sw0
    peers1 = peer.cpu()
    row = {"client_us": cpu / n * 1e6, "switches": sw / n, "tasks_s": n / wall}
    for k in peers1:
        row[k + "_us"] = (peers1[k] - peers0.get(k, 0.0)) / n * 1e6
    row.update(extra)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--federation", action="store_true",
                    help="a real local federation instead of the fake broker")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tasks", type=int, default=10000, help="tasks per map and batch run")
    ap.add_argument("--seq", type=int, default=1000, help="sequential round trips per run")
    ap.add_argument("--cases", default="map,batch,seq")
    ap.add_argument("--prefetch", type=int, default=0, help="endpoint --prefetch (federation)")
    ap.add_argument("--managers", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.serve:
        return serve()
    cases = args.cases.split(",")
    print(f"bench_client: {os.cpu_count()} cores, {load()}", flush=True)
    peer = (LocalFederation(args.prefetch, args.managers, args.workers) if args.federation
            else FakeBroker())
    rows = {c: [] for c in cases}
    try:
        with fx.Client(credentials=peer.creds) as client:
            fid = client.register_function(noop)
            for c in cases:               # warm up (workers started, caches filled)
                measure(c, client, peer, fid, 200)
            for run in range(args.runs):
                for c in cases:
                    n = args.seq if c == "seq" else args.tasks
                    row = measure(c, client, peer, fid, n)
                    rows[c].append(row)
                    print(f"  run {run + 1} {c:5} " + "  ".join(
                        f"{k} {v:,.1f}" for k, v in row.items()), file=sys.stderr, flush=True)
    finally:
        peer.stop()
    what = "federation" if args.federation else "fake broker"
    print(f"against the {what}; medians of {args.runs} runs; {load()}")
    for c in cases:
        keys = rows[c][0].keys()
        med = {k: statistics.median(r[k] for r in rows[c]) for k in keys}
        n = args.seq if c == "seq" else args.tasks
        print(f"{c:5} n={n:<6} " + "  ".join(f"{k} {v:,.1f}" for k, v in med.items()))


if __name__ == "__main__":
    sys.exit(main())
