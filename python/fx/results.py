"""fx.results: what one client holds for each task, and for how long.

The one place caller threads (get_result) and whichever thread reads the
socket (session.py) share task state. It is guarded by the session's lock,
which ResultBook is given: every method expects that lock held except
own() and waiting(), which take it. Nothing here waits or runs a future's
callbacks.

What is kept, per task id:
- an own task (submitted by this client) without a result yet: its
  TaskFuture (Executor.submit), the Collector of its Executor.map, or its
  (function kind, serializer) (tasks of Client.run and run_batch). The
  entry goes when the result arrives.
- a result: only where someone may ask for it by id. An Executor task's
  result goes to its future, or to its map's Collector until the map's
  iterator takes it, and is not kept here. A result of run or
  run_batch is kept until get_result (or get_output, ...) takes it, and
  then among the KEEP_TAKEN most recently taken, so that asking again is
  answered here; a result taken longer ago than that is asked of the broker
  again (FETCH; it keeps delivered results for its result TTL, SPEC 8.7).
  Results of another client's tasks are fetched for whoever waits and kept
  the same way.
- result records beyond the first for one task id (duplicates: the broker
  pushes each result once, SPEC 8.6, so normally none): counted, for
  Client.raw_result_counts.
"""
import collections

__all__ = ["ResultBook", "Collector", "KEEP_TAKEN"]

# Results already taken by get_result that are kept for asking again.
KEEP_TAKEN = 100_000


class Collector:
    """The results of one Executor.map, held for its iterator, which takes
    them in order (guarded by the session's lock). A result is a Result
    record, or the exception that ended the task here (its SUBMIT refused,
    the client closed)."""

    __slots__ = ("info", "ids", "results", "taken", "wanted", "waiter", "left", "closed", "done")

    def __init__(self, info, ids):
        self.info = info             # (function kind, serializer)
        self.ids = ids
        self.results = {}            # task_id -> Result or exception, not yet taken
        self.taken = 0               # ids[:taken] went to the iterator
        self.wanted = None           # the id the iterator waits for, and its waiter
        self.waiter = None
        self.left = len(ids)         # tasks without a result yet
        self.closed = False          # the iterator is gone: results are dropped
        self.done = None             # a waiter set once left is 0 (Executor.shutdown)

    def arrived(self, tid, result):
        self.left -= 1
        if not self.closed:
            self.results[tid] = result
        if tid == self.wanted:
            self.wanted = None
            self.waiter.set()
        if self.left <= 0 and self.done is not None:
            self.done.set()

    def pending(self):
        """Ids with no result here yet, past those taken."""
        return [t for t in self.ids[self.taken:] if t not in self.results]


class ResultBook:
    def __init__(self, lock):
        self.lock = lock                # the session's
        self.tasks = {}                 # own task_id -> TaskFuture or (kind, serializer)
        self.futures = 0                # how many values of self.tasks are TaskFutures
        self._untaken = {}              # task_id -> (Result, info), not yet taken
        self._taken = collections.OrderedDict()   # task_id -> (Result, info), oldest first
        self._waiters = {}              # task_id -> [Waiter] (session.Waiter)
        self._fetching = set()          # another client's task ids someone waits for
        self._extra = collections.Counter()       # task_id -> records beyond the first
        self._closed = None             # the exception waiters get once closed

    # ---- own tasks ---------------------------------------------------------

    def add(self, group):
        """The tasks of a TaskGroup about to be submitted: owned by its
        TaskFutures, its Collector, or else known by its info."""
        if group.futures is not None:
            self.tasks.update(zip(group.ids, group.futures))
            self.futures += len(group.futures)
        else:
            self.tasks.update(dict.fromkeys(group.ids, group.collector or group.info))

    def drop(self, ids, exc):
        """Own tasks that end here with exc (their SUBMIT refused): a
        Collector gets exc; their TaskFutures are returned, to fail."""
        dropped = []
        for tid in ids:
            owner = self.tasks.pop(tid, None)
            if owner is None or owner.__class__ is tuple:
                continue
            if owner.__class__ is Collector:
                owner.arrived(tid, exc)
                continue
            self.futures -= 1
            dropped.append(owner)
        return dropped

    def own_missing(self):
        """Own task ids with no result yet (to FETCH after a new HELLO)."""
        return list(self.tasks)

    def own(self, tasks):
        """(task_id, kind, serializer) of tasks treated as submitted here
        (takes the lock)."""
        with self.lock:
            for task_id, kind, serializer in tasks:
                self.tasks[task_id] = (kind, serializer)

    # ---- results -------------------------------------------------------------

    def store(self, results, settle):
        """The records of one RESULTS message. The TaskFutures they end are
        appended to settle as (future, result), for the session to resolve
        outside the lock; every other result is kept (or counted, if one
        is here already)."""
        tasks, untaken, waiters = self.tasks, self._untaken, self._waiters
        for r in results:
            tid = r.task_id
            owner = tasks.pop(tid, None)
            if owner is None:
                self._stray(r)
                continue
            wanted = waiters.pop(tid, None) if waiters else None
            cls = owner.__class__
            if cls is tuple:
                if wanted is None:
                    untaken[tid] = (r, owner)
                    continue
                entry = (r, owner)
            elif cls is Collector:
                owner.arrived(tid, r)
                if wanted is None:
                    continue
                entry = (r, owner.info)
            else:
                self.futures -= 1
                settle.append((owner, r))
                if wanted is None:
                    continue
                entry = (r, owner._fx_info)
            self._keep_taken(tid, entry)
            for w in wanted:
                w.set(entry)

    def _stray(self, r):
        """A result for no own task waiting for one: a duplicate, a FETCH
        reply for another client's task, or a late copy of one whose result
        went to its future."""
        tid = r.task_id
        if tid in self._untaken or tid in self._taken:
            self._extra[tid] += 1
            return
        wanted = self._waiters.pop(tid, None)
        if wanted is None:
            self._extra[tid] += 1
            return
        self._fetching.discard(tid)
        entry = (r, (None, None))
        self._keep_taken(tid, entry)
        for w in wanted:
            w.set(entry)

    def put(self, result, info):
        """A result made here (a task cancelled before it was sent)."""
        tid = result.task_id
        owner = self.tasks.pop(tid, None)
        if owner.__class__ is Collector:
            owner.arrived(tid, result)
        elif owner is not None and owner.__class__ is not tuple:
            self.futures -= 1
        wanted = self._waiters.pop(tid, None)
        if wanted is None:
            self._untaken[tid] = (result, info)
            return
        self._keep_taken(tid, (result, info))
        for w in wanted:
            w.set((result, info))

    def _keep_taken(self, tid, entry):
        taken = self._taken
        taken[tid] = entry
        if len(taken) > KEEP_TAKEN:
            taken.popitem(last=False)

    def get(self, task_id):
        """(Result, (kind, serializer)) if the result is here (it counts as
        taken), else None."""
        entry = self._untaken.pop(task_id, None)
        if entry is not None:
            self._keep_taken(task_id, entry)
            return entry
        entry = self._taken.get(task_id)
        if entry is not None:
            self._taken.move_to_end(task_id)
        return entry

    def peek(self, task_id):
        """The Result of task_id if it is here, else None; it does not
        count as taken (Client.status reads it)."""
        entry = self._untaken.get(task_id) or self._taken.get(task_id)
        return entry[0] if entry is not None else None

    def is_own(self, task_id):
        """A task submitted here whose result has not come yet."""
        return task_id in self.tasks

    def wait(self, task_id, waiter):
        """Have waiter set when the result comes; True if the task is not
        an own one waiting for its result (so it must be fetched). Raises
        the closing exception once closed."""
        if self._closed is not None:
            raise self._closed
        self._waiters.setdefault(task_id, []).append(waiter)
        if task_id in self.tasks:
            return False
        self._fetching.add(task_id)
        return True

    def unwait(self, task_id, waiter):
        """A waiter that gave up (timeout)."""
        wanted = self._waiters.get(task_id, [])
        if waiter in wanted:
            wanted.remove(waiter)
        if not wanted:
            self._waiters.pop(task_id, None)
            self._fetching.discard(task_id)

    def waiting(self, task_id):
        """Whether someone waits for this task's result (takes the lock)."""
        with self.lock:
            return task_id in self._waiters

    def foreign_wanted(self):
        """Another client's task ids someone still waits for (to FETCH again)."""
        ids = [t for t in self._fetching if t in self._waiters]
        self._fetching = set(ids)
        return ids

    def counts(self):
        """Result records received per task id, for the results held here
        and every task id that got more than one record."""
        out = dict.fromkeys(self._untaken, 1)
        out.update(dict.fromkeys(self._taken, 1))
        for tid, n in self._extra.items():
            out[tid] = out.get(tid, 0) + n
        return out

    def close(self, exc):
        """Fail every waiter with exc, and every later wait for a result not
        here. The TaskFutures still waiting for a result, for the session to
        fail. The first close wins."""
        if self._closed is not None:
            return []
        self._closed = exc
        waiters, self._waiters = self._waiters, {}
        for wanted in waiters.values():
            for w in wanted:
                w.set(exc=exc)
        futures = []
        for tid, owner in self.tasks.items():
            if owner.__class__ is Collector:
                owner.arrived(tid, exc)
            elif owner.__class__ is not tuple:
                futures.append(owner)
        self.tasks.clear()
        self.futures = 0
        return futures
