"""fx.session: the client's session with the broker.

Threads. One lock (Session.lock) guards the session's state, its
ResultBook and its Connection. Any thread holding it may send: a caller
encodes and sends its own SUBMIT or request, with no hand-off to another
thread. Reading the socket is a role (the *poller*) that one thread holds
at a time:

- the session's I/O thread by default: it waits on the socket, reads what
  arrives and resolves the Executor's futures (their done-callbacks run
  there and nowhere else); it also keeps the timers (heartbeat, liveness,
  FETCH retries);
- a caller that waits for an answer (SUBMITTED for Client.run, a result
  for get_result, a reply to a request) takes the role while nothing else
  needs the I/O thread to read for it: no Executor future unresolved, no
  other thread waiting. It then reads the socket itself and handles every
  message that comes (acknowledging RESULTS at once, as any poller does),
  so a sequential round trip wakes no other thread of the client. When its
  answer is there it keeps the role, parked, until it next waits; the I/O
  thread takes a parked role back at its next timer, and at once when
  someone else starts waiting. A caller that cannot take the role is a
  follower: the poller wakes it.
Connection.wait() is the only call made without the lock: it polls file
descriptors, never the socket (see fx_pyconn.c for why that is safe).

States: SPEC 6.1's client side, by its names (State), and one table of
transitions (TRANSITIONS) read by the one method that changes the state
(Session._fire); the action of each event is the method _do_<event>.

Reliability: every request sent and not yet answered is kept by its seq. A
HEARTBEAT goes out every period; if nothing at all is heard for
`missed_beats` periods, or the broker answers FX_E_NO_SESSION, the session
goes back to START: a new socket, HELLO again with the same client_id, and
once READY every unanswered request is resent (SUBMITs carry the same task
ids, so the broker commits each task once) and the results of own tasks
still missing are FETCHed (SPEC 8.6). Each RESULTS is acknowledged by the
thread that reads it, in one RESULTS_ACK per message echoing its seq, and
deduplicated by task id (results.ResultBook). Results of tasks another
client submitted are FETCHed, again every heartbeat period until they
arrive.

Batching: all tasks handed over in one call go out at once, in as few
SUBMITs as FX_BATCH_MAX and SUBMIT_BYTES_MAX allow; tasks handed over while
a SUBMIT is unanswered wait for its SUBMITTED and then go together, so a
loop of Executor.submit calls becomes a handful of messages.
"""
import collections
import enum
import logging
import os
import platform
import select
import threading
import time

from . import _fx
from .errors import (ClientClosed, ConnectionError, Error, ProtocolError, RequestError, TaskCancelled,
                     TimeoutError)
from .futures import settle, start
from .results import ResultBook
from .serialize import unpack_result
from .task import cancelled_result

__all__ = ["Session", "State", "TRANSITIONS", "Waiter"]

log = logging.getLogger("fx")

# Bytes of payload in one SUBMIT: FX_BATCH_MAX tasks of FX_PAYLOAD_MAX each
# would be 40 GiB in one message; this keeps one message a sane size while
# any single task, however large, still goes alone.
SUBMIT_BYTES_MAX = 64 * 1024 * 1024

# Messages read in one pass under the lock, so that a flood of them does not
# keep other threads from the lock for long.
DRAIN_MAX = 1000

# ERRORs to a HELLO after which retrying is pointless.
_FATAL_HELLO_ERRORS = (_fx.E_VERSION, _fx.E_AUTH, _fx.E_FORBIDDEN)

# What Connection.wait() saw (bits).
_SAW_INTERRUPT, _SAW_WAKE = 2, 4

# An item of the I/O thread's settle list: run the future's done-callbacks.
_CALLBACKS = object()


class State(enum.Enum):
    """SPEC 6.1, client side."""
    START = "START"            # a socket connecting, no HELLO said on it yet
    HELLO_SENT = "HELLO_SENT"  # HELLO sent, no WELCOME yet
    READY = "READY"            # WELCOMEd: requests go out
    CLOSED = "CLOSED"          # closed by the user, refused for good, or the I/O thread died


# (state, event) -> next state: SPEC 6.1's client-side table. The action of
# event E is Session._do_E, run before the state changes. An event the table
# does not list for the current state changes nothing. START is left at once:
# entering it fires "connected".
TRANSITIONS = {
    (State.START, "connected"): State.HELLO_SENT,   # send HELLO
    (State.HELLO_SENT, "welcome"): State.READY,     # adopt heartbeat_ms, resend unanswered, FETCH
    (State.HELLO_SENT, "refused"): State.CLOSED,    # FX_E_VERSION/AUTH/FORBIDDEN, or the first HELLO refused: report
    (State.HELLO_SENT, "silence"): State.START,     # no reply in time: a new socket (2.3.5)
    (State.HELLO_SENT, "no_session"): State.START,
    (State.READY, "no_session"): State.START,       # FX_E_NO_SESSION: the broker restarted or lost us
    (State.READY, "silence"): State.START,          # broker lost (section 9)
    (State.START, "close"): State.CLOSED,
    (State.HELLO_SENT, "close"): State.CLOSED,
    (State.READY, "close"): State.CLOSED,
}


class Waiter:
    """One answer a thread waits for: set once, with a value or an
    exception, under the session's lock by whichever thread handles it."""

    __slots__ = ("_lock", "done", "value", "exc")

    def __init__(self):
        self._lock = threading.Lock()
        self._lock.acquire()
        self.done = False
        self.value = None
        self.exc = None

    def set(self, value=None, exc=None):
        if self.done:
            return
        self.value, self.exc, self.done = value, exc, True
        self._lock.release()

    def block(self, timeout):
        """Sleep until set (True) or for timeout seconds (None: forever)."""
        if self.done:
            return True
        if self._lock.acquire(True, -1 if timeout is None else max(0.0, timeout)):
            self._lock.release()
            return True
        return self.done

    def result(self):
        if self.exc is not None:
            raise self.exc
        return self.value


class _Pending:
    """A request sent (or to send) and not yet answered, kept by seq."""

    __slots__ = ("type", "send", "on_reply", "waiter", "tasks", "sent")

    def __init__(self, type_, send, on_reply=None, waiter=None, tasks=None):
        self.type = type_          # message type name, for stats and errors
        self.send = send           # send(conn, seq) -> bool
        self.on_reply = on_reply   # on_reply(type, fields) -> value for the waiter
        self.waiter = waiter
        self.tasks = tasks         # SUBMIT: [(group, ids sent)]
        self.sent = False


class Session:
    """One client's session: Connection, states, requests in flight, tasks
    held and awaited. Caller threads use start, wait, request, submit,
    result, forget, fetch, cancel, close, join and the read-only
    attributes; the rest runs under self.lock."""

    def __init__(self, conn, client_id, address, heartbeat_s, missed_beats):
        self.client_id = client_id
        self.address = address
        self.missed_beats = missed_beats
        self.heartbeat_s = heartbeat_s     # until WELCOME names the broker's
        self.state = State.START
        self.server_version = ""
        self.fatal = None                  # why the session ended, if not by close()
        self.welcome = Waiter()            # the first WELCOME's fields
        self.stats = collections.Counter()       # messages sent, by type
        self.received = collections.Counter()    # messages received, by type
        self.lock = threading.Lock()
        self.book = ResultBook(self.lock)
        self._conn = conn
        self._thread = threading.Thread(target=self._io_main, name=f"fx-io-{client_id[:8]}",
                                        daemon=True)
        self._wake_r, self._wake_w = os.pipe()   # wakes the I/O thread
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._woken = False                # a byte is in the wake pipe
        # Who reads the socket (the module's doc): None = the I/O thread,
        # else the ident of a caller, actively (_polling) or parked.
        self._poller = None
        self._polling = False
        self._followers = 0                # callers waiting to be woken
        self._settle = []                  # (TaskFuture, Result | exception | _CALLBACKS)
        self._seq = 0
        self._hello_seq = None
        self._pending = {}                 # seq -> _Pending
        self._submits = 0                  # SUBMITs in _pending
        self._held = []                    # (group, lo, hi): tasks not yet in a SUBMIT
        self._welcomed_before = False      # FETCH own results after a re-HELLO only
        self._last_recv = 0.0
        self._next_beat = 0.0
        self._io_ident = None

    # ---- caller threads ---------------------------------------------------

    def start(self):
        with self.lock:
            now = time.monotonic()
            self._last_recv, self._next_beat = now, now + self.heartbeat_s
            self._fire("connected")
        self._thread.start()
        self._io_ident = self._thread.ident

    def is_io_thread(self):
        return threading.get_ident() == self._io_ident

    def alive(self):
        return self._thread.is_alive()

    def join(self, timeout):
        self._thread.join(timeout=timeout)

    @property
    def raw_counts(self):
        with self.lock:
            return self.book.counts()

    def wait(self, waiter, timeout):
        """Block until waiter is set (True) or for timeout seconds (None:
        forever; then False). Reads the socket itself if it may (the
        module's doc), else sleeps until the poller sets the waiter."""
        if waiter.done:
            return True
        if self.is_io_thread():
            raise Error("cannot wait for the broker from a done callback (it runs on the "
                        "client's I/O thread, which brings the answer): call it from another "
                        "thread")
        deadline = None if timeout is None else time.monotonic() + timeout
        me = threading.get_ident()
        with self.lock:
            if waiter.done:
                return True
            polling = self._take_socket(me)
            if not polling:
                self._followers += 1
                self._unpark()
        try:
            while polling:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                # Bounded by the heartbeat period: a wake-up lost to a bug
                # must not become a hang.
                cap = self.heartbeat_s if left is None else min(left, self.heartbeat_s)
                seen = self._conn.wait(int(cap * 1000) + 1)
                with self.lock:
                    if seen & _SAW_INTERRUPT:
                        self._conn.clear_interrupt()
                    if self.state is not State.CLOSED:
                        self._drain()
                    if waiter.done:
                        return True
                    if not self._may_poll():       # someone else needs the I/O thread
                        self._give_socket(False)
                        polling = False
                        self._followers += 1
            return waiter.block(None if deadline is None else deadline - time.monotonic())
        finally:
            with self.lock:
                if polling:
                    self._give_socket(self._may_poll())
                else:
                    self._followers -= 1

    def request(self, type_, send, on_reply):
        """Send a request when READY (again after each reconnect until
        answered); a Waiter of on_reply's value."""
        waiter = Waiter()
        with self.lock:
            self._check_open()
            self._add_pending(_Pending(type_, send, on_reply, waiter))
        return waiter

    def submit(self, groups, wait):
        """Hand over TaskGroups for SUBMIT. If wait, a Waiter per group, set
        once all its tasks are committed (or with the error that refused
        them)."""
        with self.lock:
            self._check_open()
            for group in groups:
                if wait:
                    group.committed = Waiter()
                self.book.add(group)
                self._held.append((group, 0, len(group)))
                if group.futures is not None:
                    self._unpark()         # their results are the I/O thread's to read
            self._flush_held()
        return [g.committed for g in groups]

    def result(self, task_id):
        """(entry, None) if the result is here (entry: (Result, (kind,
        serializer))), else (None, a Waiter of the entry); a task that is
        not an own one waiting for its result is FETCHed."""
        with self.lock:
            entry = self.book.get(task_id)
            if entry is not None:
                return entry, None
            self._check_open()
            waiter = Waiter()
            if self.book.wait(task_id, waiter) and self.state is State.READY:
                self._send_fetch([task_id])
            return None, waiter

    def collect(self, collector, task_id, timeout):
        """The result of task_id from an Executor.map's Collector, waiting
        up to timeout s (None: forever): a Result, or raises the exception
        that ended the task here, or fx.TimeoutError."""
        with self.lock:
            result = collector.results.pop(task_id, None)
            if result is None:
                collector.wanted, collector.waiter = task_id, Waiter()
                waiter = collector.waiter
        if result is None:
            if not self.wait(waiter, timeout):
                raise TimeoutError(f"no result for task {task_id} within the map's timeout")
            with self.lock:
                result = collector.results.pop(task_id)
        with self.lock:
            collector.taken += 1
        if result.__class__ is not _fx.Result:
            raise result
        return result

    def close_collector(self, collector):
        """An Executor.map's iterator is gone: its results are dropped."""
        with self.lock:
            collector.closed = True
            collector.results.clear()

    def peek(self, task_id):
        """(the Result of task_id if held here, else None; whether the
        task is one submitted here still waiting for its result). Takes
        nothing."""
        with self.lock:
            return self.book.peek(task_id), self.book.is_own(task_id)

    def forget(self, task_id, waiter):
        """A result waiter that gave up."""
        with self.lock:
            self.book.unwait(task_id, waiter)

    def cancel(self, task_ids, queued_only, futures=None):
        """CANCEL task_ids; a Waiter of the status rows. futures: {task_id:
        TaskFuture} whose cancel() waits for this answer (queued_only).
        Tasks not yet sent never reach the broker: they end here."""
        waiter = Waiter()
        with self.lock:
            self._check_open()
            rows, rest, unsent = self._cancel_held(task_ids)
            if rest:
                self._start_cancel(rest, queued_only, waiter, rows, futures)
            else:
                waiter.set(rows)
        for f in unsent:
            f._fx_cancel_unsent()          # its done-callbacks run here, as cancel()'s do
        return waiter

    def close(self):
        with self.lock:
            self._fire("close")
            self._conn.interrupt()
            self._wake()

    def _check_open(self):
        if self.state is State.CLOSED:
            raise self.fatal or ClientClosed("the fx client is closed")

    # ---- who reads the socket (under the lock) ---------------------------

    def _may_poll(self):
        """Whether a caller may read the socket: nothing waits for the I/O
        thread to read for it."""
        return (self.state is not State.CLOSED and not self.book.futures and not self._followers
                and not self._settle)

    def _take_socket(self, me):
        if not self._may_poll() or (self._polling and self._poller != me):
            return False
        if self._poller is None:
            self._wake()                   # the I/O thread polls the socket: it stops
        self._poller, self._polling = me, True
        return True

    def _unpark(self):
        """The I/O thread is needed to read now: a role a caller left
        parked goes back to it at once, not at its next timer."""
        if self._poller is not None and not self._polling:
            self._poller = None
            self._wake()

    def _give_socket(self, keep):
        """A caller stops reading: parked (keep) or back to the I/O thread."""
        self._polling = False
        if not keep:
            self._poller = None
            self._wake()

    def _wake(self):
        if not self._woken and self._wake_w is not None:
            self._woken = True
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass

    # ---- the state machine (under the lock) -------------------------------

    def _fire(self, event, *args):
        """The one place the state changes: TRANSITIONS says whether event
        applies now and where it leads; _do_<event> is its action."""
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is None:
            log.debug("fx: %s in state %s changes nothing", event, self.state.name)
            return
        getattr(self, "_do_" + event)(*args)
        self.state = nxt
        if nxt is State.START:
            self._fire("connected")

    def _do_connected(self):
        self._hello_seq = self._next_seq()
        self._count("HELLO", self._conn.hello(self._hello_seq, self.client_id, _fx.VERSION,
                                              platform.python_version()))

    def _do_welcome(self, fields):
        self.server_version = fields.get("server_version", "")
        beat_ms = fields.get("heartbeat_ms") or 0
        if beat_ms > 0:
            self.heartbeat_s = beat_ms / 1000.0
        # Resend, in order, everything not answered on the old socket.
        for seq in sorted(self._pending):
            pending = self._pending.get(seq)
            if pending is not None:
                self._send_pending(seq, pending)
        # The broker pushes each result once (it marks it pushed, durably,
        # before it sends), so a push lost with the old connection or with a
        # broker killed mid-send is not pushed again: after every HELLO but
        # the first, FETCH what we still wait for. The broker leaves out of
        # its FETCH reply what it pushed to this session meanwhile.
        if self._welcomed_before:
            own = self.book.own_missing()
            if own:
                self._send_fetch(own)
        self._welcomed_before = True
        self._fetch_foreign()
        self.welcome.set(fields)

    def _do_refused(self, exc):
        self.fatal = exc               # the I/O loop stops and fails every waiter
        if self.welcome.done:
            log.error("fx: %s", exc)
        else:
            self.welcome.set(exc=exc)  # Client() raises it

    def _do_silence(self):
        log.info("fx: nothing heard from %s for %.1f s; reconnecting", self.address,
                 time.monotonic() - self._last_recv)
        self._reconnect()

    def _do_no_session(self, text):
        log.info("fx: broker at %s lost our session (%s); reconnecting", self.address, text)
        self._reconnect()

    def _do_close(self, exc=None):
        if exc is not None and self.fatal is None:
            self.fatal = exc

    def _reconnect(self):
        self._conn.reconnect()             # interrupts whoever waits on the old socket
        for pending in self._pending.values():
            pending.sent = False
        self._last_recv = time.monotonic()

    # ---- sending (under the lock) ------------------------------------------

    def _next_seq(self):
        self._seq = (self._seq % 0xFFFFFFFF) + 1
        return self._seq

    def _count(self, type_, sent):
        if sent:
            self.stats[type_] += 1
        return sent

    def _add_pending(self, pending):
        seq = self._next_seq()
        self._pending[seq] = pending
        if pending.type == "SUBMIT":
            self._submits += 1
        if self.state is State.READY:
            self._send_pending(seq, pending)

    def _send_pending(self, seq, pending):
        try:
            pending.sent = self._count(pending.type, pending.send(self._conn, seq))
        except Exception as exc:   # a field over a limit: the caller's mistake
            self._pop_pending(seq)
            self._fail_pending(pending, exc if isinstance(exc, Error)
                               else Error(f"cannot send {pending.type}: {exc}"))

    def _pop_pending(self, seq):
        pending = self._pending.pop(seq, None)
        if pending is not None and pending.type == "SUBMIT":
            self._submits -= 1
        return pending

    def _flush_held(self):
        """Send the tasks held back unless a SUBMIT is unanswered (then its
        SUBMITTED sends them)."""
        if not self._held or self.state is not State.READY or self._submits:
            return
        held, self._held = self._held, []
        for group, lo, hi in held:
            if group.futures is not None:
                cancelled = start(group.futures[lo:hi])
                if cancelled:
                    self._drop_unsent(group, [lo + i for i in cancelled])
        for slices in _pack(held):
            self._send_submit(slices)

    def _send_submit(self, slices):
        parts, tasks = [], []
        for group, lo, hi in slices:
            part = group.part(lo, hi)
            if part is not None:
                parts.append(part)
                tasks.append((group, part[4]))
        if not parts:
            return

        def send(conn, seq):
            return conn.submit_parts(seq, parts)

        def on_reply(type_, fields):
            self._submitted(tasks)

        self._add_pending(_Pending("SUBMIT", send, on_reply, None, tasks))

    def _submitted(self, tasks):
        """SUBMITTED: every task of the SUBMIT is in the broker's store."""
        for group, ids in tasks:
            group.unanswered -= len(ids)
            if group.unanswered <= 0 and group.committed is not None:
                group.committed.set(True)
        self._flush_held()

    def _drop_unsent(self, group, indices):
        """Tasks cancelled before they were sent: they end here, with an
        FX_E_CANCELLED result, and are left out of their group's SUBMIT."""
        if group.dropped is None:
            group.dropped = set()
        for i in indices:
            if i in group.dropped:
                continue
            group.dropped.add(i)
            group.unanswered -= 1
            self.book.put(cancelled_result(group.ids[i], "cancelled before it was sent to the "
                                           "broker"), group.info)
        if group.unanswered <= 0 and group.committed is not None:
            group.committed.set(True)

    def _cancel_held(self, ids):
        """The tasks among ids still held here end here. (status rows for
        them, the other ids, their TaskFutures)."""
        wanted = set(ids)
        rows, unsent = [], []
        for group, lo, hi in self._held:
            hit = [i for i in range(lo, hi) if group.ids[i] in wanted and
                   not (group.dropped and i in group.dropped)]
            if not hit:
                continue
            self._drop_unsent(group, hit)
            for i in hit:
                wanted.discard(group.ids[i])
                rows.append({"task_id": group.ids[i], "state": _fx.TASK_FAILED,
                             "endpoint_id": group.endpoint_id, "attempts": 0})
                if group.futures is not None:
                    unsent.append(group.futures[i])
        return rows, [t for t in ids if t in wanted], unsent

    def _start_cancel(self, ids, queued_only, waiter, rows, futures):
        def send(conn, seq):
            return conn.cancel(seq, ids, queued_only)

        def on_reply(type_, fields):
            if type_ != "STATUS_REPLY":
                raise ProtocolError(f"the broker answered CANCEL with {type_}, "
                                    f"not STATUS_REPLY")
            got = fields.get("tasks", [])
            for row in got:
                f = (futures or {}).get(row["task_id"])
                # cancelled before it ran: a cancel() waiting for this
                # answer ends the future cancelled (callbacks on the I/O thread)
                if f is not None and row["state"] == _fx.TASK_FAILED and \
                        f._fx_cancelled_by_broker(callbacks=False):
                    self._queue_settle([(f, _CALLBACKS)])
            return rows + got

        self._add_pending(_Pending("CANCEL", send, on_reply, waiter))

    def _send_fetch(self, ids):
        for i in range(0, len(ids), _fx.IDS_MAX):
            chunk = list(ids[i:i + _fx.IDS_MAX])
            self._count("FETCH", self._conn.fetch(self._next_seq(), chunk))

    def _fetch_foreign(self):
        """Ask again for results someone waits for that the broker does not push to us."""
        ids = self.book.foreign_wanted()
        if ids:
            self._send_fetch(ids)

    # ---- reading (under the lock) -------------------------------------------

    def _drain(self):
        """Read and handle what is waiting on the socket, without waiting."""
        take = self._conn.take
        for n in range(DRAIN_MAX):
            try:
                msg = take()
            except ProtocolError as exc:
                log.warning("fx: dropped a message from the broker that did not decode: %s", exc)
                continue
            if msg is None:
                break
            if n == 0:
                self._last_recv = time.monotonic()
            self._handle(*msg)
            if self.state is State.CLOSED:
                break

    def _handle(self, type_, seq, fields):
        self.received[type_] += 1
        if type_ == "RESULTS":
            self._on_results(seq, fields)
            return
        if type_ == "WELCOME":
            self._fire("welcome", fields)
            self._flush_held()             # tasks handed over while not READY
            return
        if type_ == "ERROR":
            self._on_error(seq, fields)
            return
        if type_ == "HEARTBEAT":
            return
        pending = self._pop_pending(seq)
        if pending is None:
            log.debug("fx: %s with seq %d answers no request of ours", type_, seq)
            return
        try:
            value = pending.on_reply(type_, fields) if pending.on_reply else fields
        except Exception as exc:
            self._fail_pending(pending, exc)
            return
        if pending.waiter is not None:
            pending.waiter.set(value)

    def _on_results(self, seq, results):
        # Acknowledge first (echoing the RESULTS' seq: 0 for a push, the
        # FETCH's for a reply): the broker marks them delivered.
        self._count("RESULTS_ACK", self._conn.ack_results(seq, results))
        settle_list = self._settle
        before = len(settle_list)
        self.book.store(results, settle_list)
        if len(settle_list) > before and not self.is_io_thread():
            self._wake()

    def _on_error(self, seq, fields):
        code = fields.get("code", 0)
        name = fields.get("name") or _fx.errname(code)
        text = fields.get("text") or ""
        if seq == self._hello_seq and self.state is State.HELLO_SENT:
            exc = ConnectionError(f"broker at {self.address} refused the session: {name}: {text}")
            if not self.welcome.done or code in _FATAL_HELLO_ERRORS:
                self._fire("refused", exc)     # no point retrying (SPEC 6.1: CLOSED)
            else:
                log.warning("fx: %s; will retry", exc)
            return
        if code == _fx.E_NO_SESSION:
            self._fire("no_session", text)
            return
        pending = self._pop_pending(seq)
        if pending is None:
            log.warning("fx: broker error for seq %d: %s: %s", seq, name, text)
            return
        what = f"{pending.type}"
        if pending.tasks:
            what += f" of {sum(len(ids) for _, ids in pending.tasks)} task(s)"
        self._fail_pending(pending, RequestError(f"broker refused {what}: {name}: {text}",
                                                 code, name, text))

    def _fail_pending(self, pending, exc):
        if pending.waiter is not None:
            pending.waiter.set(exc=exc)
        for group, ids in pending.tasks or ():
            if group.committed is not None:
                group.committed.set(exc=exc)
            self._queue_settle([(f, exc) for f in self.book.drop(ids, exc)])

    def _queue_settle(self, items):
        """Futures for the I/O thread to resolve, outside the lock."""
        if items:
            self._settle.extend(items)
            if not self.is_io_thread():
                self._wake()

    # ---- the I/O thread --------------------------------------------------------

    def _io_main(self):
        self._io_ident = threading.get_ident()
        try:
            self._io_loop()
        except BaseException as exc:   # never die silently
            log.exception("fx client I/O thread stopped")
            with self.lock:
                self._fire("close", ClientClosed(f"the fx client's I/O thread stopped: "
                                                 f"{type(exc).__name__}: {exc}"))
        finally:
            self._shutdown()

    def _io_loop(self):
        parked = select.poll()               # the wake pipe alone, while a caller reads
        parked.register(self._wake_r, select.POLLIN)
        clear = False
        while True:
            with self.lock:
                self._woken = False
                if self.state is State.CLOSED:
                    return
                if self._poller is not None and not self._polling:
                    self._poller = None      # a caller left the socket parked: take it back
                mine = self._poller is None
                if mine:
                    if clear:
                        self._conn.clear_interrupt()
                    self._drain()
                now = time.monotonic()
                self._tick(now)
                if self.state is State.CLOSED:
                    return
                items = self._settle
                if items:
                    self._settle = []
                wait_ms = int(max(0.0, self._next_timer() - now) * 1000) + 1
            if items:
                self._settle_futures(items)
            if mine:
                seen = self._conn.wait(wait_ms, self._wake_r)
                clear = bool(seen & _SAW_INTERRUPT)
                woken = seen & _SAW_WAKE
            else:
                woken = parked.poll(wait_ms)
            if woken:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    pass

    def _next_timer(self):
        return min(self._next_beat, self._last_recv + self.missed_beats * self.heartbeat_s)

    def _tick(self, now):
        """The timers: heartbeat (and FETCH retries) every period, liveness."""
        if now >= self._next_beat:
            self._next_beat = now + self.heartbeat_s
            if self.state is State.READY:
                self._count("HEARTBEAT", self._conn.heartbeat(self._next_seq()))
                self._fetch_foreign()
        if now - self._last_recv > self.missed_beats * self.heartbeat_s:
            self._fire("silence")

    def _settle_futures(self, items):
        """Resolve Executor futures (I/O thread, outside the lock): a
        result read, an error, or the callbacks of a cancelled one."""
        for future, what in items:
            if what is _CALLBACKS:
                future._invoke_callbacks()
                continue
            if what.__class__ is not _fx.Result:
                settle(future, exc=what)
                continue
            value, exc = unpack_result(what, *future._fx_info)
            # A TaskFuture.cancel() waiting for the broker: the task
            # was cancelled before it ran, so the future is cancelled.
            if exc is not None and isinstance(exc, TaskCancelled) and \
                    future._fx_cancelled_by_broker():
                continue
            settle(future, value, exc)

    def _shutdown(self):
        """CLOSED: close the socket; everyone still waiting hears why."""
        with self.lock:
            try:
                self._conn.close()
            except Exception:
                pass
            exc = self.fatal or ClientClosed("the fx client was closed before the answer came")
            self.welcome.set(exc=exc)
            for seq in list(self._pending):
                self._fail_pending(self._pop_pending(seq), exc)
            for group, _lo, _hi in self._held:
                if group.committed is not None:
                    group.committed.set(exc=exc)
            self._held = []
            items = self._settle + [(f, exc) for f in self.book.close(exc)]
            self._settle = []
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
            self._wake_w = None
        self._settle_futures(items)


def _pack(held):
    """Slices (group, lo, hi) -> SUBMIT messages, each a list of slices of at
    most FX_BATCH_MAX tasks (and the smallest max_batch of its groups) and
    SUBMIT_BYTES_MAX payload bytes; one task however large still goes."""
    messages, current, count, size, cap = [], [], 0, 0, _fx.BATCH_MAX
    for group, lo, hi in held:
        payloads = group.payloads
        while lo < hi:
            here = min(cap, group.max_batch)
            stop = min(hi, lo + here - count)
            if stop > lo and size + group.nbytes > SUBMIT_BYTES_MAX:
                end, total = lo, size
                while end < stop:
                    n = len(payloads[end])
                    if (count or end > lo) and total + n > SUBMIT_BYTES_MAX:
                        break
                    total, end = total + n, end + 1
                stop, added = end, total - size
            else:
                added = sum(map(len, payloads[lo:stop])) if stop < hi or lo else group.nbytes
            if stop <= lo:             # this message is full
                messages.append(current)
                current, count, size, cap = [], 0, 0, _fx.BATCH_MAX
                continue
            current.append((group, lo, stop))
            count, size, cap, lo = count + stop - lo, size + added, here, stop
    if current:
        messages.append(current)
    return messages
