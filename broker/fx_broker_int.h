/*  fx_broker_int.h: private to fx-broker. The server (fx_broker.c: sockets,
    ZAP, the loop), the client protocol (fx_client.c), client sessions
    (fx_session.c) and the forwarder's queue over the store
    (fx_broker_queue.c) share these declarations. */
#ifndef FX_BROKER_INT_H
#define FX_BROKER_INT_H

#include <czmq.h>

#include "fx_bodies.h"
#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_kv.h"
#include "fx_errlimit.h"
#include "fx_forwarder.h"
#include "fx_held.h"
#include "fx_log.h"
#include "fx_msg.h"
#include "fx_registry.h"
#include "fx_store.h"
#include "fx_syncer.h"

/* Results pushed to one session and not yet acknowledged: fx_limits.h. */
#define FX_SESSION_WINDOW FX_PUSH_WINDOW

/* RESULTS messages pushed to one session in one loop pass. */
#define FX_SESSION_BATCHES_PER_PASS 2

/* A client session is forgotten after this many heartbeat periods without
   a message from it (the client re-HELLOs when it gets NO_SESSION). More
   lenient than the endpoint's --heartbeat-missed (3): a session costs
   little, and a client blocked waiting for results may beat slowly. */
#define FX_SESSION_MISSED_BEATS 10

/* The User-Id the broker's ZAP handler gives a user's connection on the
   client port ("user:<id>"), read back by fx_client.c. (The endpoint port's
   User-Ids are the forwarder's: fx_fwd_set_zap.) */
#define FX_BROKER_USER_PREFIX "user:"

/* FUNCTION_BODIES' function_id for a version not served (kind 0, SPEC 5.28). */
#define FX_NIL_FUNCTION_ID "00000000-0000-0000-0000-000000000000"

/* The registry of function bodies, in the state directory (a bare git
   repository: registry/fx_registry.h). */
#define FX_BROKER_REGISTRY_DIR "registry.git"

/* At SIGTERM the sockets linger this long (at most) so that replies to
   what was already committed still leave. */
#define FX_BROKER_STOP_LINGER_MS 1000

/* Messages read from one socket in one loop pass before the loop moves on
   (fairness between the client port, the endpoint port and timers). */
#define FX_BROKER_READ_BUDGET 256

/* ... and the time one socket's reading may take in one pass. A message
   may carry FX_BATCH_MAX tasks or results, so 256 of them can be a million
   rows: without a bound in time one pass would commit them all before it
   asked for a sync, and the first SUBMIT's reply (held until its commit is
   durable) would wait for all of them (a 262,144-task batch then got no
   SUBMITTED for over a minute). 20 ms keeps a pass short against the ~1 ms
   a sync costs, so commits still share syncs. */
#define FX_BROKER_READ_SLICE_US 20000

/* After a failed sync the broker asks again no sooner than this: the
   syncer's recovery (a TRUNCATE checkpoint) is not run in a tight loop
   against a failing disk. */
#define FX_BROKER_SYNC_RETRY_MS 100

/* At SIGTERM, the last sync (of what was committed) is waited for this
   long at most before the held replies are dropped. */
#define FX_BROKER_STOP_SYNC_MS 10000

typedef struct {
    char state_dir[4096];
    char client_bind[FX_ADDR_MAX];
    char endpoint_bind[FX_ADDR_MAX];
    uint32_t heartbeat_ms;
    int64_t result_ttl_s; /* 0: keep delivered results forever */
    uint32_t heartbeat_missed;
    uint64_t max_queued_per_user; /* 0: no cap */
    fx_durability_t durability;   /* --durability: full (fdatasync) or normal */
    fx_sync_fn *sync_fn;          /* NULL: fdatasync (the fault build's own otherwise) */
} fx_broker_conf_t;

/* ---------------------------------------------------------------- sessions */

typedef struct _fx_sessions_t fx_sessions_t;

/* One client connection that said HELLO. */
typedef struct {
    zframe_t *routing;
    char *routing_key; /* hex of routing */
    fx_id_text_t user_id;
    fx_id_text_t client_id;
    int64_t heard_ms; /* fx_now_ms of its last message */
    int64_t beat_ms;  /* fx_now_ms of the last HEARTBEAT we sent it */
    zhashx_t *pushed; /* task id -> uint64_t[2] (the push's stamps): pushed or
                         fetched, not acked */
    int64_t cursor;   /* results.seq up to which the store was read for it */
    bool dirty;       /* results may be waiting for it */
    bool retry;       /* a push failed on the store: the tick tries again */
} fx_session_t;

/* Pushes go out through held (not owned): each is held until the commit
   that marked it pushed is durable (SPEC 8.6). */
fx_sessions_t *fx_sessions_new(zsock_t *sock, fx_store_t *store, fx_held_t *held, uint32_t heartbeat_ms);
void fx_sessions_destroy(fx_sessions_t **self_p);

/* HELLO on routing: a fresh session (pushed set empty, cursor 0), replacing
   any session of this routing id or of the same (user, client_id). NULL on
   OOM. */
fx_session_t *fx_sessions_hello(fx_sessions_t *self, zframe_t *routing, const char *user_id,
                                const char *client_id);
fx_session_t *fx_sessions_find(fx_sessions_t *self, zframe_t *routing);
/* New results exist for (owner, client_id): push them at the next pump. */
void fx_sessions_notify(fx_sessions_t *self, const char *owner, const char *client_id);
/* Drops the records of msg (RESULTS) already pushed to or fetched by this
   session and not yet acknowledged; returns how many are left. */
uint32_t fx_sessions_drop_pushed(fx_session_t *session, fx_msg_t *msg);

/* A push or FETCH reply on routing leaves now, stamped: its records'
   FX_TIME_BROKER_RESULT_DURABLE and _PUSHED are kept for the ack. */
void fx_sessions_stamped(fx_sessions_t *self, zframe_t *routing, const fx_msg_t *msg);
/* Those stamps for ids (0 if not known) into out (count entries). */
void fx_sessions_stamps(fx_session_t *session, const fx_id_text_t *ids, uint32_t count, uint64_t (*out)[2]);

/* ids were acknowledged (or, with fetched = true, sent in reply to FETCH). */
void fx_sessions_mark(fx_sessions_t *self, fx_session_t *session, const fx_id_text_t *ids, uint32_t count,
                      bool fetched);
/* End of a loop pass: push pending results to dirty sessions. True if
   some session has more to push at once. */
bool fx_sessions_pump(fx_sessions_t *self);
/* Forget silent sessions. Returns ms until it wants to run again. */
int64_t fx_sessions_tick(fx_sessions_t *self, int64_t now);
size_t fx_sessions_size(fx_sessions_t *self);

/* ---------------------------------------------------------------- broker */

/* What the forwarder's queue works on (not owned). */
typedef struct {
    fx_store_t *store;
    fx_bodies_t *bodies;
} fx_broker_queue_ctx_t;

/* The forwarder's queue (forwarder/fx_fwd_queue.h) over ctx. */
fx_fwd_queue_t fx_broker_queue(fx_broker_queue_ctx_t *ctx);

typedef struct {
    fx_broker_conf_t conf;
    int lock_fd; /* holds the state directory (fx_state.h) while open */
    fx_store_t *store;
    fx_registry_t *registry; /* function bodies: STATE/registry.git */
    fx_bodies_t *bodies;     /* those bodies by version, cached */
    fx_broker_queue_ctx_t queue_ctx;
    fx_fwd_queue_t queue; /* the store and the bodies, as the forwarder sees them */
    fx_keypair_t keypair;
    zsock_t *zap;
    zsock_t *client;
    zsock_t *endpoint;
    zpoller_t *poller;
    fx_sessions_t *sessions;
    fx_fwd_set_t *forwarders;
    fx_errlimit_t *client_errors; /* ERRORs per client connection */
    fx_syncer_t *syncer;          /* makes commits durable, off the loop */
    fx_held_t *held;              /* client-port replies and pushes waiting for their commit */
    bool sync_inflight;           /* a request is with the syncer */
    uint64_t durable;             /* the store's tickets up to this one are on disk */
    uint64_t durable_us;          /* wall clock (us) of the report that said so */
    int64_t sync_retry_ms;        /* after a failed sync: no request before this (fx_now_ms) */
    char *client_addr;
    char *endpoint_addr;
    int64_t next_tick;
    int64_t next_purge;
    char denied_key[FX_KEY_LEN + 1]; /* to log a refused key once a minute */
    int64_t denied_ms;
} fx_broker_t;

fx_broker_t *fx_broker_new(const fx_broker_conf_t *conf, char *err, size_t errlen);
void fx_broker_destroy(fx_broker_t **self_p);
/* Serve until SIGINT/SIGTERM. 0 on a clean stop. */
int fx_broker_run(fx_broker_t *self);

/* Sends a reply whose request committed something (SUBMITTED, the
   *_REGISTERED replies, CANCEL's STATUS_REPLY, a FETCH's RESULTS) once
   everything committed so far is durable: held until the syncer says so
   (SPEC 8.1). Takes the message. */
void fx_broker_reply_durable(fx_broker_t *broker, zframe_t *routing, fx_msg_t **msg_p);

/* The client port's replies (fx_client.c): an ERROR (unless the
   connection had too many lately; true if sent), a reply now, a reply
   once what its request committed is durable. They take the message. */
bool fx_client_error(fx_broker_t *broker, zframe_t *routing, uint32_t seq, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void fx_client_reply(fx_broker_t *broker, zframe_t *routing, fx_msg_t **msg_p, uint32_t seq);
void fx_client_reply_durable(fx_broker_t *broker, zframe_t *routing, fx_msg_t **msg_p, uint32_t seq);

/* The function and provenance requests (fx_client_functions.c), as
   actions of the client port's state table. */
void fx_client_register_function(fx_broker_t *broker, zframe_t *routing, fx_session_t *session,
                                 const char *user, fx_msg_t *msg);
void fx_client_function_get(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                            fx_msg_t *msg);
void fx_client_provenance(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                          fx_msg_t *msg);
/* REGISTER_CONTAINER -> CONTAINER_REGISTERED (fx_client_containers.c). */
void fx_client_register_container(fx_broker_t *broker, zframe_t *routing, fx_session_t *session,
                                  const char *user, fx_msg_t *msg);
/* ENDPOINT_QUERY -> ENDPOINT_INFO (fx_client_endpoint.c). */
void fx_client_endpoint_query(fx_broker_t *broker, zframe_t *routing, fx_session_t *session, const char *user,
                              fx_msg_t *msg);

/* One message from the client ROUTER (routing popped; user_id from ZAP). */
void fx_client_handle(fx_broker_t *broker, zframe_t *routing, const char *user_id, zmsg_t **zmsg_p);

/* LIST (list, a LIST message): the owner's endpoints, functions, tasks
   (with LIST's filters and cursor) or containers, at most limit rows (0:
   as many as the protocol allows), into reply (LIST_REPLY) as the display
   table of SPEC 5.17 (fx_client_list.c). A bad field is FX_E_BAD_FIELD,
   with a sentence naming it and its values in err (else err is ""). */
int fx_client_list(fx_broker_t *broker, const char *owner, const fx_msg_t *list, fx_msg_t *reply, char *err,
                   size_t errlen);
/* Name of a task state ("queued"), "unknown" if out of range. */
const char *fx_client_state_name(int state);

#endif
