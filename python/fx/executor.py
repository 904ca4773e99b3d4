"""fx.executor: a concurrent.futures.Executor that runs functions on an fx
endpoint.

    with fx.Executor(endpoint_id=EP, client=client) as ex:
        fut = ex.submit(add, 1, 2)        # fut.task_id is known at once
        print(fut.result())
        print(list(ex.map(square, range(1000))))   # a handful of SUBMITs

submit() never waits for the broker: the task is queued for the client's
I/O thread, which packs everything queued into as few SUBMIT messages as
possible (at most batch_size tasks each). Futures are resolved by that I/O
thread as the broker pushes results, so done-callbacks run there: keep them
short. future.cancel() (and shutdown(cancel_futures=True)) cancels a task
that has not started: locally if not yet sent, else at the broker if it is
still queued there (CANCEL queued_only=1); a task that reached an endpoint
is not cancelled (False). Client.cancel(task_id) stops a running task too;
its future then ends with fx.TaskCancelled.
"""
import concurrent.futures
import threading
import time

from . import _fx
from .client import Client
from .futures import TaskFuture
from .task import retries as _retries, walltime_ms as _walltime_ms

__all__ = ["Executor"]


class Executor(concurrent.futures.Executor):
    def __init__(self, endpoint_id=None, client=None, batch_size=_fx.BATCH_MAX,
                 credentials=None, walltime=None, retries=None, **client_kwargs):
        """walltime: seconds each task may run (None: the function's own,
        else no limit); retries: worker deaths each task survives (None:
        FX_RETRIES_DEFAULT). Other keyword arguments go to fx.Client when
        the executor makes its own."""
        if not 1 <= int(batch_size) <= _fx.BATCH_MAX:
            raise ValueError(f"batch_size must be 1..{_fx.BATCH_MAX} (FX_BATCH_MAX)")
        _walltime_ms(walltime)      # checked now, not at the first submit
        _retries(retries)
        self.walltime = walltime
        self.retries = retries
        self.endpoint_id = endpoint_id
        self.batch_size = int(batch_size)
        self._own_client = client is None
        self.client = client if client is not None else Client(credentials, **client_kwargs)
        self._functions = {}          # function object id -> (function, function_id)
        self._futures = set()
        self._lock = threading.Lock()
        self._shutdown = False

    def register_function(self, fn):
        """Register fn once for this executor; returns its function id."""
        with self._lock:
            known = self._functions.get(id(fn))
            if known is not None and known[0] is fn:
                return known[1]
        function_id = self.client.register_function(fn)
        with self._lock:
            self._functions[id(fn)] = (fn, function_id)
        return function_id

    def submit(self, fn, /, *args, **kwargs):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if self.endpoint_id is None:
            raise ValueError("this Executor has no endpoint_id: set Executor(endpoint_id=...)")
        function_id = self.register_function(fn)
        future = TaskFuture(self.client)
        task = self.client._make_task(self.endpoint_id, function_id, args, kwargs,
                                      future=future, max_batch=self.batch_size,
                                      walltime=self.walltime, retries=self.retries)
        future.task_id = task.task_id
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)
        self.client._submit([task], wait=False)
        return future

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like Executor.map, but all the tasks go to the I/O thread at
        once, so they travel in ceil(n / batch_size) SUBMIT messages."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if self.endpoint_id is None:
            raise ValueError("this Executor has no endpoint_id: set Executor(endpoint_id=...)")
        end_time = None if timeout is None else timeout + time.monotonic()
        function_id = self.register_function(fn)
        tasks, futures = [], []
        for args in zip(*iterables):
            future = TaskFuture(self.client)
            task = self.client._make_task(self.endpoint_id, function_id, args, {},
                                          future=future, max_batch=self.batch_size,
                                          walltime=self.walltime, retries=self.retries)
            future.task_id = task.task_id
            tasks.append(task)
            futures.append(future)
        with self._lock:
            self._futures.update(futures)
        for future in futures:
            future.add_done_callback(self._forget)
        if tasks:
            self.client._submit(tasks, wait=False)

        def results():
            try:
                futures.reverse()
                while futures:
                    if end_time is None:
                        yield futures.pop().result()
                    else:
                        yield futures.pop().result(end_time - time.monotonic())
            finally:
                if futures:
                    self.client._cancel_futures(futures)

        return results()

    def _forget(self, future):
        with self._lock:
            self._futures.discard(future)

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True
        with self._lock:
            futures = list(self._futures)
        if cancel_futures and futures:
            self.client._cancel_futures(futures)   # one CANCEL for those submitted
        if wait and futures:
            concurrent.futures.wait(futures)
        if self._own_client:
            self.client.close()

    def __repr__(self):
        return f"<fx.Executor endpoint_id={self.endpoint_id} batch_size={self.batch_size}>"
