"""fx.results: the results one client holds, and who waits for them.

The one place caller threads (get_result) and the client's I/O thread
(which stores what the broker sends) share task state. Its lock guards
everything here and is held only for dictionary work, never while waiting
or while a future's callbacks run.

Each result is kept by task id, the first copy wins (duplicates are
counted by the session, not stored). Tasks submitted by this client are
"own": the broker pushes their results. Others ("foreign", submitted by
another client of the same user) someone waits for are fetched, again and
again until they arrive (foreign_wanted()).
"""
import concurrent.futures
import threading

__all__ = ["ResultBook"]


class ResultBook:
    def __init__(self):
        self._lock = threading.Lock()
        self._results = {}     # task_id -> raw result dict
        self._waiters = {}     # task_id -> [Future of the raw result]
        self._own = {}         # task_id -> (function kind, serializer name), tasks we submitted
        self._fetching = set() # foreign task ids someone waits for
        self._closed = None    # the exception waiters get once the client is closed

    def own(self, tasks):
        """Tasks this client is about to submit (before their SUBMIT), as
        (task_id, function kind, serializer name)."""
        with self._lock:
            for task_id, kind, serializer in tasks:
                self._own[task_id] = (kind, serializer)

    def disown(self, task_ids):
        """Tasks whose SUBMIT failed: the broker does not hold them for us."""
        with self._lock:
            for t in task_ids:
                self._own.pop(t, None)

    def info(self, task_id):
        """(kind, serializer) of an own task, (None, None) for another's."""
        with self._lock:
            return self._own.get(task_id, (None, None))

    def get(self, task_id):
        """The raw result if it is here, else None."""
        with self._lock:
            return self._results.get(task_id)

    def wait(self, task_id):
        """(raw, None, False) if the result is here, else (None, future,
        foreign): a future resolved with the raw result, and whether the
        task is another client's (and so must be fetched). Raises the
        closing exception once the client is closed."""
        with self._lock:
            raw = self._results.get(task_id)
            if raw is not None:
                return raw, None, False
            if self._closed is not None:
                raise self._closed
            future = concurrent.futures.Future()
            self._waiters.setdefault(task_id, []).append(future)
            foreign = task_id not in self._own
            if foreign:
                self._fetching.add(task_id)
            return None, future, foreign

    def forget(self, task_id, future):
        """A waiter that gave up (timeout)."""
        with self._lock:
            waiters = self._waiters.get(task_id, [])
            if future in waiters:
                waiters.remove(future)
            if not waiters:
                self._waiters.pop(task_id, None)
                self._fetching.discard(task_id)

    def waiting(self, task_id):
        """Whether someone waits for this task's result."""
        with self._lock:
            return task_id in self._waiters

    def store(self, raw):
        """Keep a result. (waiters, kind, serializer) for the caller to
        resolve outside the lock, or None if one is already here."""
        task_id = raw["task_id"]
        with self._lock:
            if task_id in self._results:
                return None
            self._results[task_id] = raw
            waiters = self._waiters.pop(task_id, [])
            self._fetching.discard(task_id)
            kind, serializer = self._own.get(task_id, (None, None))
        return waiters, kind, serializer

    def missing(self, task_ids):
        """Those of task_ids with no result here yet."""
        with self._lock:
            return [t for t in task_ids if t not in self._results]

    def foreign_wanted(self):
        """Foreign task ids someone still waits for (to FETCH again)."""
        with self._lock:
            ids = [t for t in self._fetching if t in self._waiters and t not in self._results]
            self._fetching = set(ids)
        return ids

    def close(self, exc):
        """Fail every waiter with exc, and every later wait for a result
        not here. The first close wins."""
        with self._lock:
            if self._closed is not None:
                return
            self._closed = exc
            waiters, self._waiters = self._waiters, {}
        for futures in waiters.values():
            for w in futures:
                if not w.done():
                    w.set_exception(exc)
