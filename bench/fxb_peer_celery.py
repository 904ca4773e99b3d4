"""fxb_peer_celery: Celery (Debian's python3-celery) with redis-server as
broker and result backend, driven for fx-bench's peers scenario over the
line protocol of fxb_drive.py. The driver starts redis-server on a free
loopback port and a prefork worker of --workers processes, each by pid,
and stops them by pid when it quits.

    /usr/bin/python3 bench/fxb_peer_celery.py --workers 4
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

from celery import Celery

import fxb_drive

TIMEOUT = 900.0
URL = os.environ.get("FXB_REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("fxb_peer_celery", broker=URL, backend=URL)
app.conf.update(task_acks_late=False, worker_prefetch_multiplier=4, result_expires=3600,
                broker_connection_retry_on_startup=True)


@app.task(name="fxb.noop")
def noop(x=None):
    return fxb_drive.noop(x)


@app.task(name="fxb.shell_noop")
def shell_noop(x=None):
    return fxb_drive.shell_noop(x)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class CeleryBackend(fxb_drive.TripBackend):
    def __init__(self, workers, url, redis):
        self.redis = redis
        env = dict(os.environ, FXB_REDIS_URL=url)
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "fxb_peer_celery", "worker", "--pool", "prefork",
             "--concurrency", str(workers), "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "WARNING"],
            env=env, start_new_session=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline or self.worker.poll() is not None:
                raise RuntimeError("the celery worker did not answer a ping")
        self.tasks = {"py": noop, "sh": shell_noop}

    def trip(self, kind):
        task = self.tasks[kind]
        return lambda i: task.delay(i).get(timeout=TIMEOUT)

    def cmd_map(self, kind, n):
        n = int(n)
        task = self.tasks[kind]
        t0 = time.perf_counter()
        pending = [task.delay(i) for i in range(n)]
        results = [r.get(timeout=TIMEOUT) for r in pending]
        elapsed = time.perf_counter() - t0
        if kind == "py" and results != list(range(n)):
            raise RuntimeError("wrong results")
        return [elapsed]

    def close(self):
        stop(self.worker)
        stop(self.redis)


def start_redis():
    port = free_port()
    redis = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"],
                             start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return redis, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if time.monotonic() > deadline or redis.poll() is not None:
            stop(redis)
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    redis, url = start_redis()
    try:
        app.conf.broker_url = url
        app.conf.result_backend = url
        backend = CeleryBackend(args.workers, url, redis)
    except BaseException:
        stop(redis)
        raise
    fxb_drive.serve(backend)


if __name__ == "__main__":
    main()
