/*  fx_pyext.h: what the files of the fx._fx extension share.

    The extension is thin on purpose: it turns Python objects into fx_msg_t
    and back (fx_pycodec.c), owns one CurveZMQ DEALER per Connection
    (fx_pyconn.c), and exposes ids, keys, limits and error codes
    (fx_pymod.c), and lends its codec to the tests' fake broker through a
    capsule (fx_pyapi.h). Everything stateful above one socket lives in
    Python. */
#ifndef FX_PYEXT_H
#define FX_PYEXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_kv.h"
#include "fx_error.h"
#include "fx_limits.h"
#include "fx_msg.h"

/* fx.Error (base of every fx exception) and fx.ProtocolError (a message
   that would not encode or decode). Created by the module init. */
extern PyObject *fx_py_error;
extern PyObject *fx_py_protocol_error;

extern PyTypeObject fx_py_conn_type;

/* Message type from a name ("SUBMIT") or a number; -1 with a Python
   exception set if it is neither. */
int fx_py_msg_type(PyObject *type);

/* A new message of `type` filled from the dict `fields` (keys named as the
   SPEC names the fields, proto/fx_schema.h). NULL with a Python exception
   set (ValueError naming the field and the limit it breaks, TypeError for
   a wrong type). */
fx_msg_t *fx_py_msg_from_fields(int type, uint32_t seq, PyObject *fields);

/* The schema of message type `type` (a valid one) as Python sees it: a list
   of {"name", "kind" ("u8", "str", "batch", ...), "min", "max"} in wire
   order; a batch's "max" is its most records and "record" describes them. */
PyObject *fx_py_schema(int type);

/* (type_name, seq, fields) for a decoded message; new reference or NULL. */
PyObject *fx_py_msg_to_tuple(const fx_msg_t *msg);

/* Decode the frames of one message (the caller keeps them) into
   (type_name, seq, fields); NULL with fx.ProtocolError set. */
PyObject *fx_py_decode(zmsg_t *zmsg);

/* Copy a str into a fixed field; -1 with ValueError naming `field` if it
   does not fit in cap - 1 bytes, TypeError if it is not a str. */
int fx_py_copy_str(PyObject *value, const char *field, char *dst, size_t cap);

/* A frame holding a copy of a bytes-like object (None gives NULL and 0).
   -1 with an exception set if the object is not bytes-like or is larger
   than FX_PAYLOAD_MAX. */
int fx_py_frame(PyObject *value, const char *field, zframe_t **frame_p);

/* Fill the task_ids of a new RESULTS_ACK, STATUS, FETCH or CANCEL from a
   sequence of id strings. -1 with an exception set. */
int fx_py_fill_ids(fx_msg_t *msg, PyObject *ids);

/* Raise fx.ProtocolError for a decode failure: message
   "<fx_strerror(code)>: <detail>", attributes code, name, detail, seq. */
void fx_py_raise_decode(int code, const char *detail, uint32_t seq);

/* Encode and send on a socket (routing frame optional). Returns 1 if sent,
   0 if the socket would block (no peer, queue full: the caller retries
   later), -1 with an exception set for a message that breaks a limit.
   Destroys *msg_p in every case. */
int fx_py_send(fx_msg_t **msg_p, zsock_t *sock, zframe_t *routing);

/* fx_py_send of a message given as (type, seq, fields) from Python. */
int fx_py_send_fields(zsock_t *sock, zframe_t *routing, PyObject *type, uint32_t seq, PyObject *fields);

/* fx_pybatch.c: the per-task hot paths, one call per batch. */

/* fx._fx.Result, the struct sequence of one result record. */
extern PyTypeObject *fx_py_result_type;

/* Make fx._fx.Result and set libsodium up; 0, or -1 with an exception. */
int fx_py_batch_init(PyObject *mod);

/* A list of n fresh ids (version 4 UUID text), from one random draw per
   256 ids. */
PyObject *fx_py_new_ids(Py_ssize_t n);

/* Encode and send one SUBMIT from parts, each a tuple (endpoint_id,
   function_id, py_version, serializer, ids, payloads, walltime_ms,
   retries): ids and payloads (bytes) lists of one length, walltime_ms and
   retries an int for every task or a list with one per task. Every field
   is checked against the limits the decoder applies. 1 sent, 0 the socket
   refused it (would block), -1 with an exception set. */
int fx_py_submit_send(zsock_t *sock, uint32_t seq, PyObject *parts);

/* The records of a RESULTS message as a list of Result. */
PyObject *fx_py_results_list(const fx_msg_t *msg);

/* Fill the ids of a new RESULTS_ACK from items [start, stop) of a list of
   Result records or id strings. -1 with an exception set. */
int fx_py_fill_result_ids(fx_msg_t *msg, PyObject *results, Py_ssize_t start, Py_ssize_t stop);

/* Wait up to timeout_ms (-1: forever) for sock, and for wake_fd (if >= 0),
   with the GIL released. Returns 1 if sock is readable, 0 on timeout or a
   wake-up, -1 with an exception set (a signal's handler raised). */
int fx_py_poll(zsock_t *sock, int wake_fd, long timeout_ms);

#endif
