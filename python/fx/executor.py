"""fx.executor: a concurrent.futures.Executor that runs functions on an fx
endpoint.

    with fx.Executor(endpoint_id=EP, client=client) as ex:
        fut = ex.submit(add, 1, 2)        # fut.task_id is known at once
        print(fut.result())
        print(list(ex.map(square, range(1000))))   # a handful of SUBMITs

submit() never waits for the broker: the task goes out at once, or, while
a SUBMIT is unanswered, with the tasks that gather meanwhile (at most
batch_size to a SUBMIT). Futures are resolved by the client's I/O thread as
the broker pushes results, so done-callbacks run there: keep them short.
map() makes no future per task: its iterator takes the results in order
(and reads the socket itself when nothing else needs the I/O thread), so
a map costs about what Client.run_batch does. future.cancel() (and shutdown(cancel_futures=True)) cancels a task
that has not started: locally if not yet sent, else at the broker if it is
still queued there (CANCEL queued_only=1); a task that reached an endpoint
is not cancelled (False). Client.cancel(task_id) stops a running task too;
its future then ends with fx.TaskCancelled.
"""
import concurrent.futures
import threading
import time
import weakref

from . import _fx, serialize
from .client import Client, _container_id
from .futures import TaskFuture, unfinished
from .results import Collector
from .serialize import unpack_result
from .session import Waiter
from .task import retries as _retries, walltime_ms as _walltime_ms

__all__ = ["Executor"]


class Executor(concurrent.futures.Executor):
    def __init__(self, endpoint_id=None, client=None, batch_size=_fx.BATCH_MAX,
                 credentials=None, walltime=None, retries=None, container=None, **client_kwargs):
        """walltime: seconds each task may run (None: the function's own,
        else no limit); retries: worker deaths each task survives (None:
        FX_RETRIES_DEFAULT); container: a container id of yours
        (Client.register_container) that every task of this executor runs
        in instead of its function version's (None: the version's, which
        register_function(fn, container=...) names; SPEC 5.6). Like
        walltime and retries it is the executor's, not submit()'s: submit's
        keyword arguments all go to the function. Other keyword arguments
        go to fx.Client when the executor makes its own."""
        if not 1 <= int(batch_size) <= _fx.BATCH_MAX:
            raise ValueError(f"batch_size must be 1..{_fx.BATCH_MAX} (FX_BATCH_MAX)")
        self._walltime_ms = _walltime_ms(walltime)   # checked now, not at the first submit
        self._retries = _retries(retries)
        self.container = _container_id(container)
        self.walltime = walltime
        self.retries = retries
        self.endpoint_id = endpoint_id
        self.batch_size = int(batch_size)
        self._own_client = client is None
        self.client = client if client is not None else Client(credentials, **client_kwargs)
        self._client_ref = weakref.ref(self.client)
        self._functions = {}          # function object id -> (function, function_id)
        self._futures = []            # futures handed out, pruned of done ones now and then
        self._prune_at = 1024
        self._maps = []               # Collectors of maps with results to come
        self._lock = threading.Lock()
        self._shutdown = False

    def register_function(self, fn):
        """Register fn once for this executor; returns its function id. A
        str is taken as a function id already ("ID" or "ID@VERSION")."""
        if isinstance(fn, str):
            return fn
        with self._lock:
            known = self._functions.get(id(fn))
            if known is not None and known[0] is fn:
                return known[1]
        function_id = self.client.register_function(fn)
        with self._lock:
            self._functions[id(fn)] = (fn, function_id)
        return function_id

    def submit(self, fn, /, *args, **kwargs):
        target = self._target(fn)
        payload = serialize.pack_args(self.client._serializer, args, kwargs)
        return self._send(target, [payload])[0]

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like Executor.map, but all the tasks go to the client at once, so
        they travel in ceil(n / batch_size) SUBMIT messages. No future is
        made per task: the results wait in one Collector for the iterator,
        which reads the socket itself while nothing else needs the client's
        I/O thread. Leaving the iterator early cancels the tasks still
        queued at the broker (CANCEL queued_only=1), as futures' cancel()
        would."""
        end_time = None if timeout is None else timeout + time.monotonic()
        target = self._target(fn)
        empty = {}
        payloads = serialize.pack_many(self.client._serializer,
                                       ((args, empty) for args in zip(*iterables)))
        if not payloads:
            return iter(())
        group = self.client._group(target, payloads, self._walltime_ms, self._retries,
                                   max_batch=self.batch_size)
        group.collector = collector = Collector(group.info, group.ids)
        with self._lock:
            self._maps = [c for c in self._maps if c.left > 0]
            self._maps.append(collector)
        self.client._session.submit([group], wait=False)
        return self._results(collector, end_time)

    def _results(self, collector, end_time):
        session = self.client._session
        kind, serializer = collector.info
        try:
            for tid in collector.ids:
                left = None if end_time is None else max(0.0, end_time - time.monotonic())
                value, exc = unpack_result(session.collect(collector, tid, left), kind, serializer)
                if exc is not None:
                    raise exc
                yield value
        finally:
            session.close_collector(collector)
            rest = collector.pending()
            if rest:
                self.client._cancel_queued(rest)

    def _target(self, fn):
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        if self.endpoint_id is None:
            raise ValueError("this Executor has no endpoint_id: set Executor(endpoint_id=...)")
        return self.client._target(self.endpoint_id, self.register_function(fn), None, self.container)

    def _send(self, target, payloads):
        """One group of tasks with a TaskFuture each, handed to the session."""
        client = self.client
        group = client._group(target, payloads, self._walltime_ms, self._retries,
                              max_batch=self.batch_size)
        ref, info = self._client_ref, group.info
        group.futures = futures = [TaskFuture(ref, tid, info) for tid in group.ids]
        with self._lock:
            self._futures.extend(futures)
            if len(self._futures) > self._prune_at:
                self._futures = unfinished(self._futures)
                self._prune_at = max(1024, 2 * len(self._futures))
        client._session.submit([group], wait=False)
        return futures

    def shutdown(self, wait=True, *, cancel_futures=False):
        self._shutdown = True
        with self._lock:
            futures = unfinished(self._futures)
            maps = [c for c in self._maps if c.left > 0]
            self._futures, self._maps = [], []
        if cancel_futures and futures:
            self.client._cancel_futures(futures)   # one CANCEL for those submitted
        if cancel_futures and maps:
            self.client._cancel_queued([t for c in maps for t in c.pending()])
        if wait and futures:
            concurrent.futures.wait(futures)
        if wait and maps:
            self._wait_maps(maps)
        if self._own_client:
            self.client.close()

    def _wait_maps(self, maps):
        """Until every map's tasks have their results (or the client closes)."""
        session = self.client._session
        for c in maps:
            with session.lock:
                if c.left <= 0:
                    continue
                c.done = Waiter()
            session.wait(c.done, None)

    def __repr__(self):
        return f"<fx.Executor endpoint_id={self.endpoint_id} batch_size={self.batch_size}>"
