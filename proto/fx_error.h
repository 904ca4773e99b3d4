/*  fx_error.h: the one list of error codes. Used as return codes inside
    processes, in ERROR messages on the wire, and as the code of an error
    result. Codes are stable on the wire: append, never renumber. */
#ifndef FX_ERROR_H
#define FX_ERROR_H

#define FX_ERRORS(X)                                                          \
    X(FX_OK, 0, "ok")                                                         \
    /* decoding: a peer sent something that is not a valid message */        \
    X(FX_E_MALFORMED, 1, "malformed message")                                 \
    X(FX_E_VERSION, 2, "protocol version mismatch")                           \
    X(FX_E_UNKNOWN_TYPE, 3, "unknown message type")                           \
    X(FX_E_BAD_FIELD, 4, "invalid field")                                     \
    X(FX_E_TOO_LARGE, 5, "over a protocol limit")                             \
    /* state: a valid message at the wrong time or place */                   \
    X(FX_E_UNEXPECTED, 6, "message not expected on this link or in this state")\
    X(FX_E_NO_SESSION, 7, "no session: send HELLO first")                     \
    /* authority */                                                           \
    X(FX_E_AUTH, 8, "not authenticated")                                      \
    X(FX_E_FORBIDDEN, 9, "not allowed")                                       \
    X(FX_E_NOT_FOUND, 10, "not found")                                        \
    X(FX_E_CONFLICT, 11, "id already held by someone else")                   \
    X(FX_E_LIMIT, 12, "over a service limit")                                 \
    /* local failures */                                                      \
    X(FX_E_INTERNAL, 13, "internal error")                                    \
    X(FX_E_NOMEM, 14, "out of memory")                                        \
    X(FX_E_IO, 15, "i/o error")                                               \
    X(FX_E_TIMEOUT, 16, "timed out")                                          \
    /* task outcomes carried as an error result */                            \
    X(FX_E_VERSION_MISMATCH, 17, "client and worker versions differ")         \
    X(FX_E_LOAD, 18, "worker could not load the task")                        \
    X(FX_E_WORKER_LOST, 19, "worker lost while running the task")             \
    X(FX_E_WALLTIME, 20, "task exceeded its walltime")                        \
    X(FX_E_CANCELLED, 21, "task cancelled")                                   \
    X(FX_E_SHELL, 22, "shell command could not be run")                       \
    X(FX_E_CONTAINER, 23, "container could not be started")

typedef enum {
#define FX_ERROR_ENUM(name, value, text) name = value,
    FX_ERRORS(FX_ERROR_ENUM)
#undef FX_ERROR_ENUM
} fx_err_t;

/* Highest code in the list; a result whose error_code is above it is
   FX_E_BAD_FIELD (ERROR.code takes any 16-bit value, so an old peer can still
   show a newer peer's error). */
#define FX_ERR_LAST FX_E_CONTAINER

/* A short English sentence for the code; never NULL. */
const char *fx_strerror(int code);

/* The code's symbolic name ("FX_E_MALFORMED"); never NULL. */
const char *fx_errname(int code);

#endif
