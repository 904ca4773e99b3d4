"""fx benchmark: the whole path on loopback (client -> broker -> endpoint ->
managers -> workers and back), CurveZMQ on every hop.

Prints, for a no-op Python function:
  - round-trip latency p50/p99, tasks run one after another;
  - throughput of N tasks submitted as one batch (Executor.map),
each as the median of several runs (these machines are shared and noisy).

Usage: FX_BIN=build/bin PYTHONPATH=build/python:test/integration \
       /usr/bin/python3 bench/fx_bench.py [--runs 3] [--tasks 10000] [--latency 200]
"""
import argparse
import statistics
import sys
import time

import fx
from fxharness import Federation


def noop(x):
    return x


def percentile(sorted_values, p):
    k = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def bench_latency(client, endpoint_id, fid, count):
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        tid = client.run(i, endpoint_id=endpoint_id, function_id=fid)
        client.get_result(tid, timeout=60)
        times.append(time.perf_counter() - t0)
    times.sort()
    return percentile(times, 50) * 1e3, percentile(times, 99) * 1e3


def bench_throughput(client, endpoint_id, tasks):
    t0 = time.perf_counter()
    with fx.Executor(endpoint_id=endpoint_id, client=client) as ex:
        out = list(ex.map(noop, range(tasks), timeout=600))
    elapsed = time.perf_counter() - t0
    assert out == list(range(tasks)), "wrong results"
    return tasks / elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=10000)
    ap.add_argument("--latency", type=int, default=200, help="sequential tasks per latency run")
    ap.add_argument("--managers", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    fed = Federation()
    try:
        fed.start_broker()
        creds = fed.add_user("bench")
        ep = fed.start_endpoint(creds, "bench", managers=args.managers, workers=args.workers,
                                extra=("--prefetch", "64"))
        with fx.Client(credentials=creds) as client:
            fid = client.register_function(noop)
            bench_latency(client, ep.endpoint_id, fid, 20)  # warm every worker
            p50s, p99s, rates = [], [], []
            for run in range(args.runs):
                p50, p99 = bench_latency(client, ep.endpoint_id, fid, args.latency)
                rate = bench_throughput(client, ep.endpoint_id, args.tasks)
                p50s.append(p50)
                p99s.append(p99)
                rates.append(rate)
                print(f"run {run + 1}/{args.runs}: latency p50 {p50:.2f} ms p99 {p99:.2f} ms, "
                      f"throughput {rate:,.0f} tasks/s", file=sys.stderr, flush=True)
        print(f"fx bench ({args.managers} managers x {args.workers} workers, loopback, CurveZMQ)")
        print(f"latency no-op, sequential, {args.latency} tasks: "
              f"p50 {statistics.median(p50s):.2f} ms, p99 {statistics.median(p99s):.2f} ms "
              f"(median of {args.runs} runs)")
        print(f"throughput no-op, {args.tasks} tasks as a batch: "
              f"{statistics.median(rates):,.0f} tasks/s (median of {args.runs} runs)")
    finally:
        fed.stop()


if __name__ == "__main__":
    main()
