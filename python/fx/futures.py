"""fx.futures: TaskFuture, the Executor's future for one fx task, and the
only code of fx that reaches into concurrent.futures' internals.

A concurrent.futures.Future cannot be cancelled once it is RUNNING, but an
fx task that is RUNNING here (submitted) may still be cancelled at the
broker if it has not left the broker's queue (CANCEL queued_only=1, SPEC
5.24). TaskFuture.cancel() asks, and when the broker answers that the task
will not run, the future is put in the state cancel() would have left it
in: that needs the Future's private state names and its condition.

The `_fx_cancelling` flag (a cancel() waits for the broker's answer) is
guarded by the future's own condition (its lock), so the check "does a
cancel() still wait?" and the cancelling are one step: a cancel() that
stopped waiting never sees its future cancelled behind its back.
"""
import concurrent.futures
import weakref

__all__ = ["TaskFuture", "settle"]

# The states of concurrent.futures.Future, by their (stable) names.
_CANCELLED = concurrent.futures._base.CANCELLED
_CANCELLED_AND_NOTIFIED = concurrent.futures._base.CANCELLED_AND_NOTIFIED
_FINISHED = concurrent.futures._base.FINISHED


def settle(future, value=None, exc=None):
    """Resolve a future unless something (cancel(), another result) got
    there first."""
    if future.done():
        return
    try:
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
    except concurrent.futures.InvalidStateError:
        pass


class TaskFuture(concurrent.futures.Future):
    """An Executor's future for one fx task; .task_id is known at once.

    cancel() keeps concurrent.futures' meaning: True if the task will not
    run. A task not yet handed to the broker is cancelled locally. One
    already submitted is cancelled only if it is still queued at the broker
    (CANCEL with queued_only=1, waiting up to the client's cancel_timeout
    for the answer); once it reached an endpoint, cancel() returns False
    (use Client.cancel to stop a running task: the future then ends with
    fx.TaskCancelled). Called from the client's I/O thread (a done
    callback), cancel() cannot wait for the broker and returns False for a
    submitted task."""

    def __init__(self, client, task_id=None):
        super().__init__()
        self._fx_client = weakref.ref(client)
        self._fx_cancelling = False      # guarded by self._condition
        self.task_id = task_id

    def cancel(self):
        if super().cancel():             # not yet handed to the broker
            return True
        if self.done():
            return self.cancelled()
        client = self._fx_client()
        if client is None:
            return False
        return client._cancel_futures([self])[0]

    # ---- for the client ------------------------------------------------

    def _fx_cancel_here(self):
        """Cancel without asking the broker: True if the future was still
        PENDING (its task not yet sent)."""
        return concurrent.futures.Future.cancel(self)

    def _fx_cancel_unsent(self):
        """Cancel the future of a task dropped before it was sent, and wake
        wait() and as_completed() (what cancel() followed by
        set_running_or_notify_cancel() does)."""
        concurrent.futures.Future.cancel(self)
        try:
            self.set_running_or_notify_cancel()
        except RuntimeError:
            pass

    def _fx_wait_cancel(self, waiting):
        """Say whether a cancel() waits for the broker's answer."""
        with self._condition:
            self._fx_cancelling = waiting

    def _fx_cancelled_by_broker(self):
        """The broker cancelled the task before it ran (I/O thread). If a
        cancel() still waits for that answer, end the RUNNING future as
        cancelled, waking its waiters and running its callbacks; True if
        so. concurrent.futures has no public way to cancel a running
        future, so this does what cancel() plus
        set_running_or_notify_cancel() would."""
        with self._condition:
            if not self._fx_cancelling or self._state in (_FINISHED, _CANCELLED,
                                                          _CANCELLED_AND_NOTIFIED):
                return False
            self._state = _CANCELLED_AND_NOTIFIED
            for waiter in self._waiters:
                waiter.add_cancelled(self)
            self._condition.notify_all()
        self._invoke_callbacks()
        return True
