/*  fx_msg.h: the messages of every fx link, and their codec.

    A message on the wire is ZeroMQ multipart (proto/SPEC.md):
        [routing frames]  header  [payload frames...]
    The header is one msgpack array [version, type, seq, body]; body is an
    array whose shape depends on type. Payload frames are opaque bytes that
    nothing between client and worker decodes; a batch message carries a
    fixed number of them per record, in record order.

    fx_msg_t is a tagged union: `type` says which member of the union is
    valid. Strings are NUL-terminated in fixed arrays (bounded by
    fx_limits.h) so a decoded message needs no allocation per string; error
    text, batches and lists are heap-allocated and freed by fx_msg_destroy.

    Ownership of frames: decode moves payload frames from the zmsg into the
    message; encode moves them from the message into the new zmsg (the
    message's frame pointers are NULL afterwards). Dup a frame first if you
    need to send it twice. */
#ifndef FX_MSG_H
#define FX_MSG_H

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "fx_error.h"
#include "fx_limits.h"

typedef enum {
    FX_MSG_HELLO = 1,               /* client -> broker */
    FX_MSG_WELCOME = 2,             /* reply to HELLO, ENDPOINT_HELLO, MANAGER_HELLO, READY */
    FX_MSG_ERROR = 3,               /* any direction */
    FX_MSG_HEARTBEAT = 4,           /* any direction */
    FX_MSG_REGISTER_FUNCTION = 5,   /* client -> broker, 1 frame: body */
    FX_MSG_FUNCTION_REGISTERED = 6, /* broker -> client */
    FX_MSG_REGISTER_ENDPOINT = 7,   /* client -> broker */
    FX_MSG_ENDPOINT_REGISTERED = 8, /* broker -> client */
    FX_MSG_SUBMIT = 9,              /* client -> broker, 2 frames per task (body empty) */
    FX_MSG_SUBMITTED = 10,          /* broker -> client, after the commit */
    FX_MSG_RESULTS = 11,            /* interchange->broker->client, manager->interchange, worker->manager; 2 frames per result */
    FX_MSG_RESULTS_ACK = 12,        /* receiver of RESULTS -> sender */
    FX_MSG_STATUS = 13,             /* client -> broker */
    FX_MSG_STATUS_REPLY = 14,       /* broker -> client */
    FX_MSG_FETCH = 15,              /* client -> broker; answered by RESULTS */
    FX_MSG_LIST = 16,               /* client -> broker */
    FX_MSG_LIST_REPLY = 17,         /* broker -> client */
    FX_MSG_ENDPOINT_HELLO = 18,     /* interchange -> broker (endpoint port) */
    FX_MSG_CREDIT = 19,             /* interchange -> broker, manager -> interchange */
    FX_MSG_TASKS = 20,              /* broker -> interchange -> manager -> worker; 2 frames per task */
    FX_MSG_COMMAND = 21,            /* broker -> interchange, interchange -> manager */
    FX_MSG_MANAGER_HELLO = 22,      /* manager -> interchange */
    FX_MSG_READY = 23,              /* worker -> manager */
    FX_MSG_CANCEL = 24,             /* client -> broker -> interchange -> manager; ids */
    FX_MSG_ENDPOINT_STATUS = 25,    /* interchange -> broker: managers and workers */
    FX_MSG_FUNCTION_FETCH = 26,     /* interchange -> broker: bodies of these versions, please */
    FX_MSG_FUNCTION_BODIES = 27,    /* broker -> interchange; 1 frame per function */
    FX_MSG_FUNCTION_GET = 28,       /* client -> broker: a function's history and one body */
    FX_MSG_FUNCTION_INFO = 29,      /* broker -> client; 1 frame: body */
    FX_MSG_PROVENANCE = 30,         /* client -> broker: task ids */
    FX_MSG_PROVENANCE_REPLY = 31,   /* broker -> client */
    FX_MSG_REGISTER_CONTAINER = 32, /* client -> broker */
    FX_MSG_CAPACITY = 33,           /* manager -> interchange: window and workers per container */
    FX_MSG_CONTAINERS = 34,         /* broker -> interchange -> manager: container definitions */
    FX_MSG_CONTAINER_REGISTERED = 35, /* broker -> client */
    FX_MSG_ENDPOINT_QUERY = 36,     /* client -> broker: one endpoint's live view */
    FX_MSG_ENDPOINT_INFO = 37,      /* broker -> client */
} fx_msg_type_t;

#define FX_MSG_TYPE_FIRST FX_MSG_HELLO
#define FX_MSG_TYPE_LAST FX_MSG_ENDPOINT_INFO

/* Kinds of function. */
typedef enum { FX_FN_PYTHON = 1, FX_FN_SHELL = 2 } fx_fn_kind_t;

/* Outcome of a task, in a result record. */
typedef enum {
    FX_RESULT_OK = 0,        /* value = serialized return value */
    FX_RESULT_EXCEPTION = 1, /* the function raised: value = pickled exception
                                (may be empty), error_text = type and message,
                                output = captured output + remote traceback */
    FX_RESULT_ERROR = 2,     /* fx could not run it: error_code says why */
} fx_result_status_t;

/* Task states, as stored by the broker and reported by STATUS_REPLY. */
typedef enum {
    FX_TASK_UNKNOWN = 0,
    FX_TASK_QUEUED = 1,     /* in the broker, endpoint offline or no credit */
    FX_TASK_DISPATCHED = 2, /* sent to the endpoint, no result yet */
    FX_TASK_DONE = 3,       /* result stored, not yet acknowledged by the client */
    FX_TASK_DELIVERED = 4,  /* result acknowledged by the client */
    FX_TASK_FAILED = 5,     /* ended with an error result (also delivered via RESULTS) */
} fx_task_state_t;

/* What LIST lists. */
typedef enum { FX_LIST_ENDPOINTS = 1, FX_LIST_FUNCTIONS = 2, FX_LIST_TASKS = 3, FX_LIST_CONTAINERS = 4 } fx_list_what_t;

/* What COMMAND asks. */
typedef enum { FX_CMD_DRAIN = 1, FX_CMD_STOP = 2 } fx_command_t;

typedef char fx_id_text_t[FX_ID_LEN + 1];
/* A function version id (hex git blob id), or "". */
typedef char fx_oid_text_t[FX_OID_LEN + 1];

/* Where a task's timestamps go (SPEC 12.5): wall-clock microseconds since
   the epoch, written by the component that sees the event; 0 = not seen.
   The task record carries the first ones down, the result record all of
   them back, so a round trip can be broken down per hop. */
typedef enum {
    FX_TIME_CLIENT_SENT = 0,      /* client: SUBMIT sent */
    FX_TIME_BROKER_RECEIVED,      /* broker: SUBMIT read */
    FX_TIME_BROKER_WRITTEN,       /* broker: task written to the store */
    FX_TIME_BROKER_DURABLE,       /* broker: task on disk (fsync) */
    FX_TIME_BROKER_DISPATCHED,    /* broker: TASKS sent to the endpoint */
    FX_TIME_IX_RECEIVED,          /* interchange: TASKS read */
    FX_TIME_IX_DISPATCHED,        /* interchange: TASKS sent to a manager */
    FX_TIME_MANAGER_RECEIVED,     /* manager: TASKS read */
    FX_TIME_WORKER_STARTED,       /* worker: function called */
    FX_TIME_WORKER_FINISHED,      /* worker: function returned or raised */
    FX_TIME_MANAGER_SENT,         /* manager: RESULTS sent */
    FX_TIME_IX_RESULT,            /* interchange: RESULTS passed on */
    FX_TIME_BROKER_RESULT,        /* broker: RESULTS read */
    FX_TIME_BROKER_RESULT_DURABLE,/* broker: result on disk */
    FX_TIME_BROKER_PUSHED,        /* broker: RESULTS pushed to the client */
    FX_TIME_CLIENT_RECEIVED,      /* client: RESULTS read */
} fx_time_t;

/* One task in SUBMIT (client fields only) or TASKS (all fields). */
typedef struct {
    fx_id_text_t task_id;
    fx_id_text_t endpoint_id;             /* SUBMIT only */
    fx_id_text_t function_id;
    fx_oid_text_t function_version;       /* SUBMIT: "" = the newest; TASKS: the version pinned */
    uint8_t kind;                         /* TASKS: fx_fn_kind_t */
    char entry[FX_NAME_MAX + 1];          /* TASKS: Python entry name */
    char container[FX_NAME_MAX + 1];      /* TASKS: "" = no container */
    char py_version[FX_VERSION_MAX + 1];  /* client's Python, "3.11.2" */
    char dill_version[FX_VERSION_MAX + 1];/* the registering client's dill, "" if none */
    char serializer[FX_NAME_MAX + 1];     /* STRATEGY+PAYLOAD (SPEC 12.1): "dill+pickle5" */
    uint32_t attempt;                     /* TASKS: 0 on first dispatch */
    uint32_t walltime_ms;                 /* 0 = no limit */
    uint32_t retries;                     /* worker deaths while running it that the
                                             task survives (re-run on another worker) */
    uint64_t times[FX_TIMES_MAX];         /* fx_time_t stamps so far, 0 = not seen */
    zframe_t *body;                       /* TASKS: function body; SUBMIT: NULL */
    zframe_t *payload;                    /* serialized (args, kwargs) */
} fx_task_t;

/* One result in RESULTS. */
typedef struct {
    fx_id_text_t task_id;
    uint8_t status;                       /* fx_result_status_t */
    uint16_t error_code;                  /* fx_err_t, with FX_RESULT_ERROR */
    char *error_text;                     /* heap, may be NULL; <= FX_TEXT_MAX */
    uint64_t times[FX_TIMES_MAX];         /* the task's stamps and the result's (fx_time_t) */
    char host[FX_NAME_MAX + 1];           /* provenance: the manager's host */
    uint32_t worker_pid;                  /* provenance: the worker that ran it, 0 if none */
    char worker_runtime[FX_NAME_MAX + 1]; /* provenance: "python 3.11.2; dill 0.3.6" */
    char container[FX_NAME_MAX + 1];      /* provenance: the container it ran in, "" = none */
    char image_digest[FX_NAME_MAX + 1];   /* provenance: the runtime's image digest, if it gives one */
    uint32_t attempt;                     /* provenance: earlier runs of the task as the hops below the
                                             broker count them (the task's attempt, plus reruns) */
    zframe_t *value;                      /* result bytes; never NULL after decode */
    zframe_t *output;                     /* captured output; never NULL after decode */
} fx_result_t;

/* One function version's body, in FUNCTION_BODIES. */
typedef struct {
    fx_id_text_t function_id;
    fx_oid_text_t version;
    uint8_t kind;                         /* fx_fn_kind_t; 0 = no such version */
    char entry[FX_NAME_MAX + 1];
    char serializer[FX_NAME_MAX + 1];     /* the function's strategy: source, dill, reference, shell */
    char dill_version[FX_VERSION_MAX + 1];
    zframe_t *body;
} fx_function_body_t;

/* One version in FUNCTION_INFO's history. */
typedef struct {
    fx_oid_text_t version;
    uint32_t number;                      /* 1, 2, 3... in the order registered */
    fx_oid_text_t commit;                 /* the registry commit that made it */
    char author[FX_NAME_MAX + 1];
    uint64_t created_us;                  /* wall clock, microseconds since the epoch */
    char serializer[FX_NAME_MAX + 1];
} fx_function_version_t;

/* One task's provenance, in PROVENANCE_REPLY (SPEC 12.6). */
typedef struct {
    fx_id_text_t task_id;
    uint8_t state;                        /* fx_task_state_t */
    fx_id_text_t function_id;
    fx_oid_text_t function_version;
    fx_oid_text_t commit;
    char serializer[FX_NAME_MAX + 1];
    char py_version[FX_VERSION_MAX + 1];  /* the client's */
    char dill_version[FX_VERSION_MAX + 1];/* the client's */
    fx_id_text_t endpoint_id;
    char host[FX_NAME_MAX + 1];
    uint32_t worker_pid;
    char worker_runtime[FX_NAME_MAX + 1];
    uint32_t attempt;                     /* the run that made the result, 1 for the first */
    char container[FX_NAME_MAX + 1];
    char image_digest[FX_NAME_MAX + 1];
    uint64_t times[FX_TIMES_MAX];         /* SPEC 12.5, plus the broker's own (12.6) */
} fx_provenance_t;

/* A manager's workers for one container, in CAPACITY (SPEC 5.34). */
typedef struct {
    fx_id_text_t container_id;            /* "" = the host */
    uint32_t idle, busy, starting, failures;
} fx_container_capacity_t;

/* A container's definition, in CONTAINERS (SPEC 5.35). */
typedef struct {
    fx_id_text_t container_id;
    char name[FX_NAME_MAX + 1];
    char runtime[FX_RUNTIME_NAME_MAX + 1];
    char image[FX_IMAGE_MAX + 1];
} fx_container_def_t;

/* An endpoint's workers for one container, in ENDPOINT_STATUS (SPEC 5.25). */
typedef struct {
    fx_id_text_t container_id;            /* "" = the host */
    uint32_t managers, idle, busy, starting;
} fx_endpoint_container_t;

/* One task's state in STATUS_REPLY. */
typedef struct {
    fx_id_text_t task_id;
    uint8_t state;                        /* fx_task_state_t */
    fx_id_text_t endpoint_id;             /* "" if unknown */
    uint32_t attempts;
} fx_task_status_t;

typedef struct {
    fx_msg_type_t type;
    uint32_t seq;          /* request number; a reply echoes its request's */
    union {
        struct { fx_id_text_t client_id; char client_version[FX_VERSION_MAX + 1];
                 char python_version[FX_VERSION_MAX + 1]; } hello;
        /* reply to any *_HELLO and READY: who you are to me and the beat period */
        struct { fx_id_text_t id; char server_version[FX_VERSION_MAX + 1];
                 uint32_t heartbeat_ms; } welcome;
        struct { uint16_t code; char *text; } error;
        struct { fx_id_text_t function_id; char name[FX_NAME_MAX + 1]; uint8_t kind;
                 char entry[FX_NAME_MAX + 1]; char serializer[FX_NAME_MAX + 1];
                 char dill_version[FX_VERSION_MAX + 1]; char *description;
                 fx_id_text_t container_id; zframe_t *body; } register_function;
        struct { fx_id_text_t function_id; fx_oid_text_t version; uint32_t number;
                 fx_oid_text_t commit; } function_registered;
        struct { fx_id_text_t endpoint_id; char name[FX_NAME_MAX + 1];
                 char public_key[FX_KEY_LEN + 1]; } register_endpoint;
        struct { fx_id_text_t endpoint_id; } endpoint_registered;
        /* SUBMIT and TASKS share one record layout; in SUBMIT each task's
           body frame is sent empty and ignored (the broker has the body). */
        struct { uint32_t count; fx_task_t *tasks; } submit;
        struct { uint32_t count; fx_task_t *tasks; } tasks;
        struct { uint32_t accepted; } submitted;
        struct { uint32_t count; fx_result_t *results; } results;
        struct { uint32_t count; fx_id_text_t *ids; } ids;     /* RESULTS_ACK, STATUS, FETCH */
        /* CANCEL: count and ids sit where `ids` has them, so the same record
           helpers serve; queued_only = 1 cancels only tasks not yet sent to
           an endpoint (what concurrent.futures' Future.cancel needs) */
        struct { uint32_t count; fx_id_text_t *ids; uint8_t queued_only; } cancel;
        struct { uint32_t count; fx_task_status_t *tasks; } status_reply;
        /* the filters and cursor (state .. before) apply to what = tasks only */
        struct { uint8_t what; uint32_t limit; char state[FX_VERSION_MAX + 1]; fx_id_text_t endpoint_id;
                 char function[FX_NAME_MAX + 1]; uint64_t since_ms; uint64_t before; } list;
        /* a table of strings: cells[row * cols + col], row 0 = column names */
        struct { uint32_t rows; uint32_t cols; char **cells; } list_reply;
        /* allowed_functions: the endpoint's config says it runs only these (none = any) */
        struct { fx_id_text_t endpoint_id; char version[FX_VERSION_MAX + 1];
                 uint32_t allowed_count; fx_id_text_t *allowed_functions; } endpoint_hello;
        /* the sender can hold `window` tasks in all; see SPEC "Flow control" */
        struct { uint32_t window; } credit;
        struct { uint8_t command; } command;
        struct { fx_id_text_t manager_id; char host[FX_NAME_MAX + 1]; uint32_t pid;
                 uint32_t workers; char version[FX_VERSION_MAX + 1];
                 uint32_t container_count; char (*containers)[FX_NAME_MAX + 1]; } manager_hello;
        struct { uint32_t pid; char python_version[FX_VERSION_MAX + 1]; } ready;
        /* what the endpoint runs now: live managers, their workers, free slots */
        struct { uint32_t managers; uint32_t workers; uint32_t free;
                 uint32_t container_count; fx_endpoint_container_t *containers; } endpoint_status;
        struct { uint32_t count; fx_oid_text_t *versions; } function_fetch;
        struct { uint32_t count; fx_function_body_t *functions; } function_bodies;
        struct { fx_id_text_t function_id; fx_oid_text_t version; } function_get;
        /* the function, the body of `version` (the newest unless asked), its history */
        struct { fx_id_text_t function_id; char name[FX_NAME_MAX + 1]; uint8_t kind;
                 char entry[FX_NAME_MAX + 1]; fx_oid_text_t version; char *description;
                 uint32_t count; fx_function_version_t *versions; zframe_t *body; } function_info;
        struct { uint32_t count; fx_provenance_t *tasks; } provenance_reply;
        struct { fx_id_text_t container_id; char name[FX_NAME_MAX + 1];
                 char runtime[FX_RUNTIME_NAME_MAX + 1]; char image[FX_IMAGE_MAX + 1];
                 char *description; } register_container;
        /* window as CREDIT's; cold_free: workers it could start now for a new container */
        struct { uint32_t window; uint32_t cold_free;
                 uint32_t count; fx_container_capacity_t *containers; } capacity;
        struct { uint32_t count; fx_container_def_t *containers; } containers;
        struct { fx_id_text_t container_id; } container_registered;
        struct { fx_id_text_t endpoint_id; } endpoint_query;
        /* online: a session now (never past the heartbeat threshold); the
           counts from its last ENDPOINT_STATUS and the store */
        struct { fx_id_text_t endpoint_id; char name[FX_NAME_MAX + 1]; uint8_t online;
                 uint64_t last_seen_us; uint32_t managers; uint32_t workers; uint32_t free;
                 uint32_t queued; uint32_t dispatched;
                 uint32_t container_count; fx_endpoint_container_t *containers; } endpoint_info;
    };
} fx_msg_t;

/* A zeroed message of this type; caller owns it. NULL only on OOM. */
fx_msg_t *fx_msg_new(fx_msg_type_t type);

/* Frees everything the message owns (frames, arrays, text). Accepts NULL. */
void fx_msg_destroy(fx_msg_t **self_p);

/* Allocate the record array of a batch message (SUBMIT, TASKS, RESULTS,
   RESULTS_ACK/STATUS/FETCH ids, STATUS_REPLY), zeroed. Returns FX_OK or
   FX_E_TOO_LARGE / FX_E_NOMEM. Replaces (and frees) any earlier array. */
int fx_msg_alloc_records(fx_msg_t *self, uint32_t count);

/* Allocate a LIST_REPLY table; cells start NULL, set with fx_msg_set_cell. */
int fx_msg_alloc_table(fx_msg_t *self, uint32_t rows, uint32_t cols);
int fx_msg_set_cell(fx_msg_t *self, uint32_t row, uint32_t col, const char *text);

/* Set an ERROR message's code and text (copied, cut to FX_TEXT_MAX). */
int fx_msg_set_error(fx_msg_t *self, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Set a result record's error text (copied, cut to FX_TEXT_MAX). */
int fx_result_set_text(fx_result_t *result, const char *text);

/* Copy src into a fixed field of capacity cap (incl. NUL). Returns FX_OK or
   FX_E_TOO_LARGE if it does not fit (the field is then left empty). */
int fx_strlcpy(char *dst, const char *src, size_t cap);

/* Encode to a new zmsg (header + payload frames), moving the payload frames
   out of the message. Missing payload frames are sent empty. Returns NULL on
   a field that breaks a limit (a programming error; *err_p says which). */
zmsg_t *fx_msg_encode(fx_msg_t *self, int *err_p);

/* Decode the header and payload frames of zmsg (routing frames already
   popped by the caller). Never asserts on input: returns FX_OK and sets
   *msg_p, or an fx_err_t code (FX_E_MALFORMED, FX_E_VERSION,
   FX_E_UNKNOWN_TYPE, FX_E_BAD_FIELD, FX_E_TOO_LARGE) and, where the
   header could be read, *seq_p so the error reply can echo it. *detail_p, if
   given, gets a static string naming the offending field. The zmsg is left
   with its frames consumed (caller still destroys it). The header frame is
   consumed too: read fx_peer_user_id(zmsg_first(zmsg)) before decoding. */
int fx_msg_decode(zmsg_t *zmsg, fx_msg_t **msg_p, uint32_t *seq_p, const char **detail_p);

/* Convenience: encode and send on sock, after the routing frame if given
   (the routing frame is copied, not taken). Destroys *msg_p. Returns FX_OK,
   an encode error, or FX_E_IO if the socket refused. */
int fx_msg_send(fx_msg_t **msg_p, zsock_t *sock, zframe_t *routing);

/* Convenience: send ERROR(code, text) with seq on sock after routing. */
int fx_send_error(zsock_t *sock, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Name of a message type ("SUBMIT"), "?" if out of range. */
const char *fx_msg_type_name(int type);

/* Sets times[event] to the wall clock now (microseconds since the epoch). */
void fx_stamp(uint64_t *times, fx_time_t event);

/* Ids: canonical lowercase UUID text from 128 random bits (version 4). */
void fx_id_new(fx_id_text_t out);
bool fx_id_valid(const char *text);
/* A function version id: "" or FX_OID_LEN lowercase hex digits. */
bool fx_oid_valid(const char *text);

#endif
