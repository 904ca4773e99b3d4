"""fx.session: the client's session with the broker, run by one I/O thread.

Threads: the session's I/O thread owns the _fx.Connection (ZeroMQ sockets
are not thread-safe) and every field of the Session but the mailbox.
Caller threads hand it work through the mailbox (a queue and a wake-up
pipe) and wait on futures. On every pass the I/O thread reads what the
broker sent, then takes the mailbox, packing all waiting tasks into as few
SUBMIT messages as the limits allow, then runs its timers (heartbeat,
liveness, FETCH retries).

States: SPEC 6.1's client side, by its names (State), and one table of
transitions (TRANSITIONS) read by the one method that changes the state
(Session._fire); the action of each event is the method _do_<event>.

Reliability: every request sent and not yet answered is kept by its seq. A
HEARTBEAT goes out every period; if nothing at all is heard for
`missed_beats` periods, or the broker answers FX_E_NO_SESSION, the session
goes back to START: a new socket, HELLO again with the same client_id, and
once READY every unanswered request is resent (SUBMITs carry the same task
ids, so the broker commits each task once). Results are pushed by the
broker; each RESULTS is acknowledged at once and deduplicated by task id
(results.ResultBook). Results of tasks another client submitted are
FETCHed, again every heartbeat period until they arrive.
"""
import collections
import concurrent.futures
import enum
import logging
import os
import platform
import queue
import threading
import time

from . import _fx
from .errors import ClientClosed, ConnectionError, Error, ProtocolError, RequestError, TaskCancelled
from .futures import settle
from .serialize import unpack_result

__all__ = ["Session", "State", "TRANSITIONS"]

log = logging.getLogger("fx")

# Bytes of payload in one SUBMIT: FX_BATCH_MAX tasks of FX_PAYLOAD_MAX each
# would be 40 GiB in one message; this keeps one message a sane size while
# any single task, however large, still goes alone.
SUBMIT_BYTES_MAX = 64 * 1024 * 1024

# ERRORs to a HELLO after which retrying is pointless.
_FATAL_HELLO_ERRORS = (_fx.E_VERSION, _fx.E_AUTH, _fx.E_FORBIDDEN)


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


class _Pending:
    """A request sent (or to send) and not yet answered, kept by seq."""

    __slots__ = ("type", "send", "on_reply", "future", "tasks", "sent")

    def __init__(self, type_, send, on_reply=None, future=None, tasks=None):
        self.type = type_          # message type name, for stats and errors
        self.send = send           # send(conn, seq) -> bool
        self.on_reply = on_reply   # on_reply(type, fields) -> value for the future
        self.future = future
        self.tasks = tasks
        self.sent = False


class _Mailbox:
    """Caller threads -> the I/O thread: a queue and a wake-up pipe. The
    lock guards the pipe's write end (never closed while a caller writes
    to it) and `stopped`: once the I/O thread has stopped, post() refuses
    an item rather than leave it in a queue nobody reads."""

    def __init__(self):
        self._queue = queue.SimpleQueue()
        self.fd, self._wake_w = os.pipe()
        os.set_blocking(self.fd, False)
        os.set_blocking(self._wake_w, False)
        self._flag = False         # a wake-up byte is in the pipe
        self._lock = threading.Lock()
        self._stopped = False

    def post(self, item):
        """Queue an item and wake the I/O thread; False if it has stopped."""
        with self._lock:
            if self._stopped:
                return False
            self._queue.put(item)
            if not self._flag:
                self._flag = True
                try:
                    os.write(self._wake_w, b"x")
                except OSError:
                    pass
        return True

    def take(self):
        """Every item queued now (I/O thread)."""
        self._flag = False
        try:
            while os.read(self.fd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def stop(self):
        """Refuse later posts, close the pipe; the items still queued."""
        with self._lock:
            self._stopped = True
            for fd in (self.fd, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
        items = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items


class Session:
    """One client's session: Connection, states, requests in flight, tasks
    held and awaited. Caller threads use start, request, submit, fetch,
    cancel, close, join and the read-only attributes; the rest is the I/O
    thread's."""

    def __init__(self, conn, client_id, address, book, heartbeat_s, missed_beats):
        self.client_id = client_id
        self.address = address
        self.missed_beats = missed_beats
        self.heartbeat_s = heartbeat_s     # until WELCOME names the broker's
        self.state = State.START
        self.server_version = ""
        self.fatal = None                  # why the session ended, if not by close()
        self.welcome = concurrent.futures.Future()   # the first WELCOME's fields
        self.stats = collections.Counter()       # messages sent, by type
        self.received = collections.Counter()    # messages received, by type
        self.raw_counts = collections.Counter()  # task_id -> result records received
        self._conn = conn
        self._book = book
        self._mailbox = _Mailbox()
        # The I/O thread's own.
        self._seq = 0
        self._hello_seq = None
        self._pending = {}                 # seq -> _Pending
        self._held = []                    # tasks queued, not yet in a SUBMIT
        self._awaiting = {}                # own task_id -> Task, submitted, no result yet
        self._welcomed_before = False      # FETCH own results after a re-HELLO only
        self._last_recv = 0.0
        self._thread = threading.Thread(target=self._io_main, name=f"fx-io-{client_id[:8]}",
                                        daemon=True)

    # ---- caller threads ---------------------------------------------------

    def start(self):
        self._thread.start()

    def is_io_thread(self):
        return threading.current_thread() is self._thread

    def alive(self):
        return self._thread.is_alive()

    def join(self, timeout):
        self._thread.join(timeout=timeout)

    def request(self, type_, send, on_reply):
        """Send a request when READY (again after each reconnect until
        answered); a future of on_reply's value."""
        future = concurrent.futures.Future()
        self._post(("request", _Pending(type_, send, on_reply, future)))
        return future

    def submit(self, tasks):
        """Queue tasks for SUBMIT; each task's .submitted resolves once committed."""
        self._post(("submit", tasks))

    def fetch(self, task_ids):
        self._post(("fetch", task_ids))

    def cancel(self, task_ids, queued_only, futures=None):
        """CANCEL task_ids; a future of the status rows. futures: {task_id:
        TaskFuture} whose cancel() waits for this answer (queued_only)."""
        future = concurrent.futures.Future()
        self._post(("cancel", task_ids, queued_only, future, futures))
        return future

    def close(self):
        self._post(("close",))

    def _post(self, item):
        """Hand work to the I/O thread. Once that thread has stopped,
        whoever waits on the item hears so at once."""
        if not self._mailbox.post(item):
            self._fail_item(item, self.fatal or ClientClosed("the fx client is closed"))

    # ---- the state machine (I/O thread) -----------------------------------

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
            own = self._book.missing(list(self._awaiting))
            if own:
                self._send_fetch(own)
        self._welcomed_before = True
        self._fetch_foreign()
        if not self.welcome.done():
            self.welcome.set_result(fields)

    def _do_refused(self, exc):
        self.fatal = exc               # the I/O loop stops and fails every waiter
        if self.welcome.done():
            log.error("fx: %s", exc)
        else:
            self.welcome.set_exception(exc)   # Client() raises it

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
        self._conn.reconnect()
        for pending in self._pending.values():
            pending.sent = False
        self._last_recv = time.monotonic()

    # ---- the I/O thread ----------------------------------------------------

    def _next_seq(self):
        self._seq = (self._seq % 0xFFFFFFFF) + 1
        return self._seq

    def _count(self, type_, sent):
        if sent:
            self.stats[type_] += 1
        return sent

    def _io_main(self):
        try:
            self._io_loop()
        except BaseException as exc:   # never die silently
            log.exception("fx client I/O thread stopped")
            self._fire("close", ClientClosed(f"the fx client's I/O thread stopped: "
                                             f"{type(exc).__name__}: {exc}"))
        finally:
            self._shutdown()

    def _recv(self, timeout_ms, wake_fd=-1):
        try:
            return self._conn.recv(timeout_ms, wake_fd)
        except ProtocolError as exc:
            log.warning("fx: dropped a message from the broker that did not decode: %s", exc)
            return None

    def _io_loop(self):
        period = self.heartbeat_s
        self._fire("connected")
        now = time.monotonic()
        self._last_recv = now
        next_beat = now + period
        while True:
            now = time.monotonic()
            wait = max(0.0, min(next_beat, self._last_recv + self.missed_beats * period) - now)
            msg = self._recv(int(wait * 1000) + 1, self._mailbox.fd)
            # Everything already queued on the socket, without blocking.
            budget = 10000
            while msg is not None and budget > 0:
                self._last_recv = time.monotonic()
                self._handle(*msg)
                budget -= 1
                msg = self._recv(0)
            if self.state is State.CLOSED:
                return
            self._take_mailbox()
            if self.state is State.CLOSED:
                return
            period = self.heartbeat_s
            now = time.monotonic()
            if now >= next_beat:
                next_beat = now + period
                if self.state is State.READY:
                    self._count("HEARTBEAT", self._conn.heartbeat(self._next_seq()))
                    self._fetch_foreign()
            if now - self._last_recv > self.missed_beats * period:
                self._fire("silence")

    def _take_mailbox(self):
        """Take every queued command, then send the tasks held back."""
        for item in self._mailbox.take():
            kind = item[0]
            if kind == "submit":
                self._held.extend(item[1])
            elif kind == "request":
                self._add_pending(item[1])
            elif kind == "fetch":
                if self.state is State.READY:
                    self._send_fetch(item[1])
            elif kind == "cancel":
                self._start_cancel(*item[1:])
            elif kind == "close":
                self._fire("close")
        if self.state is not State.CLOSED:
            self._flush_held()

    def _flush_held(self):
        """Send the tasks held back, as few SUBMITs as the limits allow.
        While a SUBMIT is unanswered, new tasks wait for its SUBMITTED
        (one round trip at most) and then go together: a loop of
        Executor.submit calls becomes a handful of messages, whatever the
        thread scheduling."""
        if not self._held or self.state is not State.READY:
            return
        if any(p.type == "SUBMIT" for p in self._pending.values()):
            return
        tasks, self._held = self._held, []
        self._send_tasks(tasks)

    def _add_pending(self, pending):
        seq = self._next_seq()
        self._pending[seq] = pending
        if self.state is State.READY:
            self._send_pending(seq, pending)

    def _send_pending(self, seq, pending):
        try:
            pending.sent = self._count(pending.type, pending.send(self._conn, seq))
        except Exception as exc:   # a field over a limit: the caller's mistake
            self._pending.pop(seq, None)
            self._fail_pending(pending, exc if isinstance(exc, Error)
                               else Error(f"cannot send {pending.type}: {exc}"))

    def _send_tasks(self, tasks):
        batch, size, cap = [], 0, _fx.BATCH_MAX
        for task in tasks:
            if task.future is not None and not task.future.set_running_or_notify_cancel():
                self._store_local_result(task.cancelled_result(
                    "cancelled before it was sent to the broker"))
                if not task.submitted.done():
                    task.submitted.set_result(True)
                continue
            limit = min(cap, task.max_batch)
            if batch and (len(batch) >= limit or size + len(task.payload) > SUBMIT_BYTES_MAX):
                self._send_submit(batch)
                batch, size, cap = [], 0, _fx.BATCH_MAX
            batch.append(task)
            size += len(task.payload)
            cap = min(cap, task.max_batch)
        if batch:
            self._send_submit(batch)

    def _send_submit(self, batch):
        records = [t.record() for t in batch]

        def send(conn, seq):
            return conn.submit(seq, records)

        def on_reply(type_, fields):
            for t in batch:
                self._awaiting[t.task_id] = t
                if not t.submitted.done():
                    t.submitted.set_result(True)
            return len(batch)

        self._add_pending(_Pending("SUBMIT", send, on_reply, None, batch))

    def _start_cancel(self, ids, queued_only, future, futures):
        """CANCEL ids. Tasks still held here never reach the broker: they
        end locally. futures: {task_id: TaskFuture} whose cancel() waits
        for this answer (queued_only), else None."""
        wanted = set(ids)
        local = [t for t in self._held if t.task_id in wanted]
        rows = []
        if local:
            self._held = [t for t in self._held if t.task_id not in wanted]
            for t in local:
                if t.future is not None:
                    t.future._fx_cancel_unsent()
                self._store_local_result(t.cancelled_result(
                    "cancelled before it was sent to the broker"))
                if not t.submitted.done():
                    t.submitted.set_result(True)
                rows.append({"task_id": t.task_id, "state": _fx.TASK_FAILED,
                             "endpoint_id": t.endpoint_id, "attempts": 0})
            wanted -= {t.task_id for t in local}
        rest = [t for t in ids if t in wanted]
        if not rest:
            if not future.done():
                future.set_result(rows)
            return

        def send(conn, seq):
            return conn.cancel(seq, rest, queued_only)

        def on_reply(type_, fields):
            if type_ != "STATUS_REPLY":
                raise ProtocolError(f"the broker answered CANCEL with {type_}, "
                                    f"not STATUS_REPLY")
            got = fields.get("tasks", [])
            for row in got:
                f = (futures or {}).get(row["task_id"])
                if f is not None and row["state"] == _fx.TASK_FAILED:
                    f._fx_cancelled_by_broker()     # cancelled before it ran
            return rows + got

        self._add_pending(_Pending("CANCEL", send, on_reply, future))

    def _store_local_result(self, raw):
        """A result made here (a task cancelled before it was sent):
        get_result and its waiters see it as if the broker had sent it."""
        got = self._book.store(raw)
        if got is None:
            return
        self._awaiting.pop(raw["task_id"], None)
        for w in got[0]:
            settle(w, raw)

    def _send_fetch(self, ids):
        for i in range(0, len(ids), _fx.IDS_MAX):
            chunk = list(ids[i:i + _fx.IDS_MAX])
            self._count("FETCH", self._conn.fetch(self._next_seq(), chunk))

    def _fetch_foreign(self):
        """Ask again for results someone waits for that the broker does not push to us."""
        ids = self._book.foreign_wanted()
        if ids:
            self._send_fetch(ids)

    def _handle(self, type_, seq, fields):
        self.received[type_] += 1
        if type_ == "WELCOME":
            self._fire("welcome", fields)
            return
        if type_ == "RESULTS":
            self._on_results(seq, fields.get("results", []))
            pending = self._pending.get(seq)
            if pending is not None and pending.type == "FETCH":
                self._pending.pop(seq, None)
            return
        if type_ == "ERROR":
            self._on_error(seq, fields)
            return
        if type_ == "HEARTBEAT":
            return
        pending = self._pending.pop(seq, None)
        if pending is None:
            log.debug("fx: %s with seq %d answers no request of ours", type_, seq)
            return
        try:
            value = pending.on_reply(type_, fields) if pending.on_reply else fields
        except Exception as exc:
            self._fail_pending(pending, exc)
            return
        if pending.future is not None and not pending.future.done():
            pending.future.set_result(value)

    def _on_error(self, seq, fields):
        code = fields.get("code", 0)
        name = fields.get("name") or _fx.errname(code)
        text = fields.get("text") or ""
        if seq == self._hello_seq and self.state is State.HELLO_SENT:
            exc = ConnectionError(f"broker at {self.address} refused the session: {name}: {text}")
            if not self.welcome.done() or code in _FATAL_HELLO_ERRORS:
                self._fire("refused", exc)     # no point retrying (SPEC 6.1: CLOSED)
            else:
                log.warning("fx: %s; will retry", exc)
            return
        if code == _fx.E_NO_SESSION:
            self._fire("no_session", text)
            return
        pending = self._pending.pop(seq, None)
        if pending is None:
            log.warning("fx: broker error for seq %d: %s: %s", seq, name, text)
            return
        what = f"{pending.type}"
        if pending.tasks:
            what += f" of {len(pending.tasks)} task(s)"
        self._fail_pending(pending, RequestError(f"broker refused {what}: {name}: {text}",
                                                 code, name, text))

    def _fail_pending(self, pending, exc):
        if pending.future is not None and not pending.future.done():
            pending.future.set_exception(exc)
        for t in pending.tasks or ():
            if not t.submitted.done():
                t.submitted.set_exception(exc)
            if t.future is not None:
                settle(t.future, exc=exc)
        if pending.tasks:
            self._book.disown([t.task_id for t in pending.tasks])

    def _on_results(self, seq, results):
        acks = []
        resolved = []
        for raw in results:
            task_id = raw["task_id"]
            acks.append(task_id)
            self.raw_counts[task_id] += 1
            got = self._book.store(raw)
            if got is None:
                continue
            task = self._awaiting.pop(task_id, None)
            resolved.append((raw, task) + got)
        # Acknowledge first (echoing the RESULTS' seq: 0 for a push, the
        # FETCH's for a reply): the broker marks them delivered.
        for i in range(0, len(acks), _fx.IDS_MAX):
            self._count("RESULTS_ACK", self._conn.results_ack(seq, acks[i:i + _fx.IDS_MAX]))
        for raw, task, waiters, kind, serializer in resolved:
            for w in waiters:
                if not w.done():
                    w.set_result(raw)
            if task is not None and task.future is not None and not task.future.done():
                value, exc = unpack_result(raw, kind, serializer)
                # A TaskFuture.cancel() waiting for the broker: the task
                # was cancelled before it ran, so the future is cancelled.
                if isinstance(exc, TaskCancelled) and task.future._fx_cancelled_by_broker():
                    continue
                settle(task.future, value, exc)

    def _fail_item(self, item, exc):
        if item[0] == "submit":
            self._fail_pending(_Pending("SUBMIT", None, tasks=item[1]), exc)
        elif item[0] == "request":
            self._fail_pending(item[1], exc)
        elif item[0] == "cancel":
            settle(item[3], exc=exc)

    def _shutdown(self):
        """CLOSED: close the socket; everyone still waiting hears why."""
        try:
            self._conn.close()
        except Exception:
            pass
        exc = self.fatal or ClientClosed("the fx client was closed before the answer came")
        if not self.welcome.done():
            self.welcome.set_exception(exc)
        for pending in list(self._pending.values()):
            self._fail_pending(pending, exc)
        self._pending.clear()
        for task in list(self._awaiting.values()):
            if task.future is not None and not task.future.done():
                task.future.set_exception(exc)
        self._awaiting.clear()
        if self._held:
            self._fail_pending(_Pending("SUBMIT", None, tasks=self._held), exc)
            self._held = []
        for item in self._mailbox.stop():
            self._fail_item(item, exc)
        self._book.close(exc)
