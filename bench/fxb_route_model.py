"""fxb_route_model: a discrete-event MODEL (not a measurement) of the
routing strategies of SPEC 7.9, used to choose warm-wait's rule before the
real experiment (issue 10) runs on real containers.

Model: M managers x W workers; N tasks, each naming one of K containers
(drawn by a Zipf-like weight, seeded) and sleeping D seconds (uniform
[d_lo, d_hi]); all submitted at t = 0. A worker is warm for the container it
last ran; running a task of another container first costs a cold start of S
seconds (the worker is retired and a new one launched: strategy (b), the
least recently used idle worker is the one replaced).

  random         each task is sent at t = 0 to a manager chosen at random;
                 a manager runs its queue in order on its own workers
  warming-aware  each task goes, when it arrives, to a manager that has a
                 worker warm for its container (the one with the least work
                 queued for that container), else to the manager with the
                 least work queued; managers run their queues as above
  warm-wait      as warming-aware, but a task with no idle warm worker waits
                 if a warm worker for its container frees up within S (it
                 would finish sooner than a cold start), unless more tasks of
                 that container wait than its warm workers can take within S;
                 an idle worker then takes the next task that can use it warm,
                 else the first one that must start cold

Lower bound: no schedule finishes before (sum of D + S x K) / (M x W) (all
workers busy all the time, every container started at least once) nor
before S + max D.

    /usr/bin/python3 bench/fxb_route_model.py [--tasks 3000] [--containers 8]
        [--managers 4] [--workers 4] [--cold 1.8] [--seeds 3]
"""
import argparse
import heapq
import random
import statistics


def workload(n, k, d_lo, d_hi, seed):
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(k)]
    return [(rng.choices(range(k), weights)[0], rng.uniform(d_lo, d_hi)) for _ in range(n)]


def run_manager(queue, w, cold):
    """One manager runs its queue in order; a task takes an idle worker warm
    for its container if one is free by then, else the least recently used
    one (a cold start)."""
    workers = [(0.0, -1, i) for i in range(w)]   # (free at, container, id)
    heapq.heapify(workers)
    end, colds = 0.0, 0
    for c, d in queue:
        free_at, wc, i = heapq.heappop(workers)
        warm = [x for x in workers if x[1] == c and x[0] <= free_at]
        if wc != c and warm:
            workers.remove(warm[0])
            heapq.heapify(workers)
            heapq.heappush(workers, (free_at, wc, i))
            _, wc, i = warm[0]
        start = free_at + (0 if wc == c else cold)
        colds += wc != c
        heapq.heappush(workers, (start + d, c, i))
        end = max(end, start + d)
    return end, colds


def run_random(tasks, m, w, cold, seed):
    rng = random.Random(seed + 1)
    queues = [[] for _ in range(m)]
    for t in tasks:
        queues[rng.randrange(m)].append(t)
    end, colds = 0.0, 0
    for q in queues:
        e, n = run_manager(q, w, cold)
        end, colds = max(end, e), colds + n
    return end, colds


def run_warming_aware(tasks, m, w, cold):
    """funcX's rule at arrival: a manager warm for the container, else the
    least loaded; each manager then runs its own queue (run_manager)."""
    queues = [[] for _ in range(m)]
    load = [0.0] * m                  # queued seconds per manager
    warm = [set() for _ in range(m)]  # containers a manager has (or will have) a worker for
    for c, d in tasks:
        cands = [k for k in range(m) if c in warm[k]]
        k = min(cands or range(m), key=lambda x: load[x])
        if c not in warm[k] and len(warm[k]) >= w:
            warm[k].pop()
        warm[k].add(c)
        queues[k].append((c, d))
        load[k] += d
    end, colds = 0.0, 0
    for q in queues:
        e, n = run_manager(q, w, cold)
        end, colds = max(end, e), colds + n
    return end, colds


def run_warm_wait(tasks, m, w, cold):
    """A queue per container at the interchange; an idle worker takes a task
    of its own container, else starts cold for the container whose queue its
    warm workers cannot clear within one cold start (the largest such
    excess), else stays idle until the next worker frees up."""
    free = [(0.0, -1, i) for i in range(m * w)]  # (free at, container, id), by time
    heapq.heapify(free)
    pending = list(tasks)
    finishing = {}             # container -> finish times of its busy workers
    idle = []                  # (since, container, id)
    now, end, colds = 0.0, 0.0, 0

    def start(worker, task):
        nonlocal end, colds
        _, wc, i = worker
        tc, d = task
        t0 = now + (0 if tc == wc else cold)
        colds += tc != wc
        heapq.heappush(free, (t0 + d, tc, i))
        finishing.setdefault(tc, []).append(t0 + d)
        end = max(end, t0 + d)

    def excess(c, queued):
        soon = sum(1 for f in finishing.get(c, []) if f - now < cold)
        return queued - soon

    while pending:
        if free and (not idle or free[0][0] <= now):
            t, c, i = heapq.heappop(free)
            now = max(now, t)
            if t in finishing.get(c, []):
                finishing[c].remove(t)
            idle.append((t, c, i))
            if free and free[0][0] <= now:
                continue
        idle.sort()
        for worker in list(idle):
            k = next((k for k, t in enumerate(pending) if t[0] == worker[1]), None)
            if k is None:
                counts = {}
                for tc, _ in pending:
                    counts[tc] = counts.get(tc, 0) + 1
                need = {c: excess(c, n) for c, n in counts.items()}
                c = max(need, key=need.get)
                if need[c] <= 0:
                    continue
                k = next(k for k, t in enumerate(pending) if t[0] == c)
            idle.remove(worker)
            start(worker, pending.pop(k))
            if not pending:
                break
        if idle and pending and not free:
            raise RuntimeError("model stuck")
        if idle and free:
            now = max(now, free[0][0])
    return end, colds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--containers", type=int, default=8)
    ap.add_argument("--managers", type=int, default=4)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--cold", type=float, default=1.8, help="cold start, seconds (EC2 Docker: 1.8)")
    ap.add_argument("--d-lo", type=float, default=0.05)
    ap.add_argument("--d-hi", type=float, default=0.25)
    ap.add_argument("--seeds", type=int, default=3)
    a = ap.parse_args()
    rows = {"random": [], "warming-aware": [], "warm-wait": []}
    bounds = []
    for seed in range(a.seeds):
        tasks = workload(a.tasks, a.containers, a.d_lo, a.d_hi, seed)
        rows["random"].append(run_random(tasks, a.managers, a.workers, a.cold, seed))
        rows["warming-aware"].append(run_warming_aware(tasks, a.managers, a.workers, a.cold))
        rows["warm-wait"].append(run_warm_wait(tasks, a.managers, a.workers, a.cold))
        slots = a.managers * a.workers
        bounds.append(max((sum(d for _, d in tasks) + a.cold * a.containers) / slots,
                          a.cold + max(d for _, d in tasks)))
    base = statistics.median(r[0] for r in rows["random"])
    bound = statistics.median(bounds)
    print(f"MODEL, not a measurement: {a.tasks} tasks over {a.containers} containers, "
          f"{a.managers} x {a.workers} workers, cold start {a.cold} s, "
          f"durations {a.d_lo}-{a.d_hi} s, medians of {a.seeds} seeds")
    print(f"{'strategy':15} {'makespan s':>10} {'cold starts':>11} {'vs random':>10} {'vs bound':>9}")
    for name, r in rows.items():
        span = statistics.median(x[0] for x in r)
        colds = statistics.median(x[1] for x in r)
        print(f"{name:15} {span:10.1f} {colds:11.0f} {1 - span / base:9.0%} {span / bound:8.2f}x")
    print(f"{'lower bound':15} {bound:10.1f}")


if __name__ == "__main__":
    main()
