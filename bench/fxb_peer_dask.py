"""fxb_peer_dask: Dask distributed (Debian's python3-distributed) driven for
fx-bench's peers scenario, over the line protocol of fxb_drive.py: a
LocalCluster of --workers processes with one thread each, the same no-ops
as fx (sh runs `true` in a subprocess).

    /usr/bin/python3 bench/fxb_peer_dask.py --workers 4
"""
import argparse
import logging
import time

import fxb_drive

TIMEOUT = 900.0


class DaskBackend(fxb_drive.TripBackend):
    def __init__(self, workers):
        from distributed import Client, LocalCluster
        self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        self.fns = {"py": fxb_drive.noop, "sh": fxb_drive.shell_noop}

    def trip(self, kind):
        fn = self.fns[kind]
        return lambda i: self.client.submit(fn, i, pure=False).result(timeout=TIMEOUT)

    def cmd_map(self, kind, n):
        n = int(n)
        t0 = time.perf_counter()
        futures = self.client.map(self.fns[kind], range(n), pure=False)
        results = self.client.gather(futures)
        elapsed = time.perf_counter() - t0
        if kind == "py" and results != list(range(n)):
            raise RuntimeError("wrong results")
        return [elapsed]

    def close(self):
        self.client.close()
        self.cluster.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    fxb_drive.serve(DaskBackend(args.workers))


if __name__ == "__main__":
    main()
