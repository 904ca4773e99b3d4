/*  fx_pyapi.h: the C API that fx._fx lends other extension modules, as the
    capsule "fx._fx._C_API".

    Its one user is the tests' module _fxtest (python/tests/ext: the fake
    broker TestServer), which so speaks the product's codec and raises the
    product's exceptions without being part of the product. Such a module
    takes the table with PyCapsule_Import(FX_PY_API_NAME, 0) and refuses a
    version it does not know. */
#ifndef FX_PYAPI_H
#define FX_PYAPI_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <czmq.h>

#define FX_PY_API_NAME "fx._fx._C_API"
#define FX_PY_API_VERSION 1

typedef struct {
    int version; /* FX_PY_API_VERSION */
    /* fx.Error, the base of every fx exception (a reference the module keeps). */
    PyObject *error;
    /* (type_name, seq, fields) for the frames of one message, routing
       frames removed; NULL with fx.ProtocolError set if they do not
       decode. The frames stay the caller's. */
    PyObject *(*decode)(zmsg_t *zmsg);
    /* Encode a message given from Python (type name or number, seq, a dict
       of fields, as Connection.send takes them) and send it on sock, after
       the routing frame if not NULL: 1 sent, 0 the socket would block, -1
       with an exception set. */
    int (*send)(zsock_t *sock, zframe_t *routing, PyObject *type, uint32_t seq, PyObject *fields);
} fx_py_api_t;

#endif
