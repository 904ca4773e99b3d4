/*  fx_pysock.c: sending and polling for the extension's sockets.

    Sends never block: a DEALER whose broker is away (or whose CurveZMQ
    handshake was denied) queues until its high-water mark and then refuses;
    the Python layer keeps every unanswered request and resends it after a
    reconnect, so a refused send is only reported, never waited on. Polls
    release the GIL so the other Python threads run meanwhile. */
#include "fx_pyext.h"

int fx_py_send(fx_msg_t **msg_p, zsock_t *sock, zframe_t *routing)
{
    int err = FX_OK;
    int type = (*msg_p)->type;
    zmsg_t *zmsg = fx_msg_encode(*msg_p, &err);
    fx_msg_destroy(msg_p);
    if (zmsg == NULL) {
        PyErr_Format(fx_py_protocol_error, "cannot encode %s: %s (%s)", fx_msg_type_name(type),
                     fx_strerror(err), fx_errname(err));
        return -1;
    }
    if (routing != NULL) {
        zframe_t *copy = zframe_dup(routing);
        if (copy == NULL || zmsg_prepend(zmsg, &copy) != 0) {
            zframe_destroy(&copy);
            zmsg_destroy(&zmsg);
            PyErr_NoMemory();
            return -1;
        }
    }
    /* sndtimeo is 0 on our sockets: EAGAIN instead of blocking. */
    return zmsg_send(&zmsg, sock) == 0 ? 1 : 0;
}

int fx_py_send_fields(zsock_t *sock, zframe_t *routing, PyObject *type, uint32_t seq, PyObject *fields)
{
    int t = fx_py_msg_type(type);
    fx_msg_t *msg = t < 0 ? NULL : fx_py_msg_from_fields(t, seq, fields);
    return msg == NULL ? -1 : fx_py_send(&msg, sock, routing);
}

int fx_py_poll(zsock_t *sock, int wake_fd, long timeout_ms)
{
    zmq_pollitem_t items[2] = {
        {zsock_resolve(sock), 0, ZMQ_POLLIN, 0},
        {NULL, wake_fd, ZMQ_POLLIN, 0},
    };
    int nitems = wake_fd >= 0 ? 2 : 1;
    int rc, saved_errno;
    Py_BEGIN_ALLOW_THREADS rc = zmq_poll(items, nitems, timeout_ms < 0 ? -1 : timeout_ms);
    saved_errno = errno;
    Py_END_ALLOW_THREADS if (rc < 0)
    {
        if (saved_errno == EINTR)
            return PyErr_CheckSignals() < 0 ? -1 : 0;
        PyErr_Format(fx_py_error, "polling the socket failed: %s", zmq_strerror(saved_errno));
        return -1;
    }
    return (items[0].revents & ZMQ_POLLIN) ? 1 : 0;
}
