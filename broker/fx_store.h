/*  fx_store.h: the broker's durable state in one sqlite file (DIR/fx.db,
    WAL mode): users, endpoints, functions, tasks, results.

    The broker process and the local admin command (`fx user create`) both
    open the same file; sqlite serialises their writes. Every function that
    changes several rows does so in one transaction, so a crash leaves
    either all of a batch or none of it. Statements are prepared once at
    open and kept.

    What it returns are rows: plain structs (the wire's records, fx_task_t,
    fx_result_t and fx_task_status_t, where a row is one, and the list rows
    below), filled into arrays the caller provides. Messages and display
    text are the broker's to make (fx_client.c, fx_client_list.c,
    fx_session.c, fx_broker_queue.c); the keypair and the lock of the state
    directory are fx_state.h's.

    Durability: each function commits before it returns. Opened by the fx
    CLI or a test, the commit is on disk by then (synchronous=FULL); the
    broker defers the disk to a grouped fdatasync off its loop
    (fx_store_defer_sync, fx_syncer.h) and holds what it promises until
    then.

    Return values: FX_OK (0) or a code from fx_error.h; where a function
    takes err/errlen, a failure leaves a sentence there that names the
    problem and what to do about it. A store that cannot write (or read)
    returns FX_E_IO, and then nothing of the call happened. Times stored
    are wall-clock milliseconds since the epoch. Nothing here decodes
    payloads.

    Not thread-safe: one store per thread (fx is one loop per process). */
#ifndef FX_STORE_H
#define FX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fx_creds.h"
#include "fx_msg.h"
#include "fx_state.h"

typedef struct _fx_store_t fx_store_t;

/* Byte budget of one batch message built from the store: fx_limits.h. */
#define FX_STORE_BATCH_BYTES FX_BATCH_BYTES_MAX

/* The store's file inside the state directory (fx_state.h has them all). */
#define FX_STORE_DB_FILE FX_STATE_DB_FILE
/* The broker's key file: not the store's, but named here for the fx CLI
   (cli/fx_cli_user.c) until it includes fx_state.h. */
#define FX_STORE_KEY_FILE FX_STATE_KEY_FILE

/* ---------------------------------------------------------------- life */

/* mkdir -p state_dir (mode 0700), open state_dir/fx.db (created if absent),
   WAL mode, create the schema if needed. Caller owns the store. NULL on
   failure, with a sentence in err. */
fx_store_t *fx_store_open(const char *state_dir, char *err, size_t errlen);

/* Close the database and free everything. Accepts NULL; sets *self_p NULL. */
void fx_store_destroy(fx_store_t **self_p);

/* Durability as a separate step (the broker's): from now on COMMIT writes
   the transaction to the WAL and returns without an fsync
   (synchronous=NORMAL: it survives a kill -9 of the process, not yet a
   power loss), and sqlite's checkpoints at commit are off. The caller
   makes commits durable itself, fdatasync of DIR/fx.db-wal from another
   thread (fx_syncer.h), and runs the checkpoints there. Until then the
   store is synchronous=FULL: each commit is on disk when it returns.
   FX_OK or FX_E_IO (err says why). */
int fx_store_defer_sync(fx_store_t *self, char *err, size_t errlen);

/* Write transactions committed since open: the ticket of the newest
   commit. Everything this store reported done is covered by the current
   value; once a sync that began after reading it has succeeded, all of it
   is on disk. */
uint64_t fx_store_written(fx_store_t *self);

/* Pages in the WAL after the last commit, once fx_store_defer_sync ran
   (0 before): tells the syncer when a checkpoint is due. */
int fx_store_wal_pages(fx_store_t *self);

/* WAL size (pages, 16 MiB at 4 KiB) past which the writer checkpoints
   itself (fx_store_wal_bound). */
#define FX_STORE_WAL_BOUND_PAGES 4000

/* Keeps the WAL bounded under a load that never pauses. sqlite starts the
   WAL over (at the next write) only after a checkpoint that copied all of
   it, and a checkpoint beside a writer that never stops (the syncer's, on
   its own connection) copies what was there when it began, never all; a
   FULL one from there can starve waiting for the write lock. So past
   FX_STORE_WAL_BOUND_PAGES the writer, between its transactions, runs one
   PASSIVE checkpoint on its own connection: no write can come in between,
   so it copies everything (one copy and two fsyncs on the caller's thread,
   once per that many pages). 1 if it did (the next commit starts the WAL
   over), 0 if none was due or the syncer's checkpoint held the lock (the
   next call tries again), -1 on an error (logged by the caller; err). */
int fx_store_wal_bound(fx_store_t *self, char *err, size_t errlen);

/* The owner reports that the commits up to ticket are on disk since
   durable_us (wall clock, us): tasks submitted in them get that as their
   FX_TIME_BROKER_DURABLE stamp when they are dispatched or their result
   comes (SPEC 12.5). Kept for the last 256 syncs that covered a SUBMIT. */
void fx_store_durable(fx_store_t *self, uint64_t ticket, uint64_t durable_us);

/* Called after a transaction that stored new results commits, once per new
   result, with the task's owner and the client_id that submitted it: the
   broker uses it to push results to that client's session. */
typedef void(fx_store_result_fn)(const char *owner, const char *client_id, void *arg);
void fx_store_set_result_hook(fx_store_t *self, fx_store_result_fn *fn, void *arg);

/* Unfinished (QUEUED + DISPATCHED) tasks one user may have: a SUBMIT that
   would go over it is refused whole with FX_E_LIMIT. Default
   FX_QUEUED_PER_USER_DEFAULT; 0 = no cap. */
void fx_store_set_queue_cap(fx_store_t *self, uint64_t cap);

/* The owner's unfinished (QUEUED + DISPATCHED) tasks: one indexed count on
   first use, kept in memory after. FX_OK or FX_E_IO. */
int fx_store_unfinished(fx_store_t *self, const char *owner, uint64_t *count_out);

/* ---------------------------------------------------------------- users */

/* New user with a fresh id. name: 1..FX_NAME_MAX printable chars, unique;
   public_key: z85 Curve key, unique. FX_OK and the id in user_id_out, or
   FX_E_CONFLICT (name or key taken), FX_E_BAD_FIELD, FX_E_IO. */
int fx_store_user_create(fx_store_t *self, const char *name, const char *public_key, fx_id_text_t user_id_out,
                         char *err, size_t errlen);

/* Look a user up by name. FX_OK (id and key filled; either may be NULL),
   FX_E_NOT_FOUND or FX_E_IO. */
int fx_store_user_find(fx_store_t *self, const char *name, fx_id_text_t user_id_out,
                       char public_key_out[FX_KEY_LEN + 1]);

/* ZAP: the user whose key this is. FX_OK, FX_E_NOT_FOUND or FX_E_IO. */
int fx_store_user_by_key(fx_store_t *self, const char *public_key, fx_id_text_t user_id_out);

/* ZAP: the endpoint registered with this key. FX_OK, FX_E_NOT_FOUND, FX_E_IO. */
int fx_store_endpoint_by_key(fx_store_t *self, const char *public_key, fx_id_text_t endpoint_id_out);

/* ---------------------------------------------------------------- registry */

/* Register a function under the id the client minted. Registering the same
   id again by the same owner with the same content is a no-op (FX_OK).
   FX_E_CONFLICT if the id is held by another user, or by this user with
   other content (functions are immutable: tasks already queued refer to
   them). FX_E_BAD_FIELD for a bad id, name, kind or entry. */
int fx_store_function_register(fx_store_t *self, const char *owner, const char *function_id, const char *name,
                               int kind, const char *entry, const void *body, size_t body_len, char *err,
                               size_t errlen);

/* The user's name (for a registry commit's author). FX_OK, FX_E_NOT_FOUND, FX_E_IO. */
int fx_store_user_name(fx_store_t *self, const char *user_id, char name[FX_NAME_MAX + 1]);

/* PROVENANCE (SPEC 5.32, 12.6): one record per id in out (count of them),
   what made each of owner's tasks' results; another's task, or none,
   reads UNKNOWN with empty fields. FX_OK or FX_E_IO. */
int fx_store_provenance(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                        fx_provenance_t *out);

/* ---------------------------------------------------------------- versions (fx_store_functions.c) */

/* One version of a function (SPEC 5.5, 5.30): its row points at the
   registry's blob (version) and the commit that made it. */
typedef struct {
    fx_oid_text_t version;
    fx_oid_text_t commit;
    uint32_t number; /* 1, 2, 3... */
    uint8_t kind;
    char entry[FX_NAME_MAX + 1];
    char serializer[FX_NAME_MAX + 1]; /* the body's strategy */
    char dill_version[FX_VERSION_MAX + 1];
    char author[FX_NAME_MAX + 1];
    uint64_t created_us;
    bool missing;      /* its objects were not in the registry at start */
    char *description; /* heap, may be NULL: fx_store_versions_free */
    fx_id_text_t container_id; /* the container its tasks run in, "" = the host (SPEC 5.5) */
} fx_store_version_t;

/* Frees the descriptions of n versions and, if free_array, the array. */
void fx_store_versions_free(fx_store_version_t *versions, uint32_t n, bool free_array);

/* Before the registry write of a REGISTER_FUNCTION: the fields are good,
   the id is new or owner's with the same kind. FX_OK, and *newest the
   function's newest version (number 0 when it has none, or is new);
   FX_E_BAD_FIELD, FX_E_CONFLICT (another user's id, another kind), FX_E_IO. */
int fx_store_function_check(fx_store_t *self, const char *owner, const char *function_id, const char *name,
                            int kind, const char *entry, const char *serializer, fx_store_version_t *newest,
                            char *err, size_t errlen);

/* After the registry write (the objects are in git, durably): the version
   row, and the function's row when new, in one transaction. v gives
   version, commit, kind, entry, serializer, dill_version, author and
   container_id (the caller checked it with fx_store_container_owned; a
   version the function had already takes this registration's container:
   SPEC 5.5); on FX_OK
   its number (and commit, for a version the function had already: that
   version becomes the newest again, no row is added) are filled in.
   FX_E_CONFLICT if the function has this body under another entry or
   serializer (a version is addressed by its body). */
int fx_store_function_add_version(fx_store_t *self, const char *owner, const char *function_id,
                                  const char *name, const char *description, fx_store_version_t *v, char *err,
                                  size_t errlen);

/* One version row of function_id: version's, or the newest for "" or
   NULL. FX_OK (free its description), FX_E_NOT_FOUND, FX_E_IO. */
int fx_store_version_find(fx_store_t *self, const char *function_id, const char *version,
                          fx_store_version_t *v);

/* owner's function: its name and its history, oldest first (*versions
   allocated, free with fx_store_versions_free(.., true)). FX_OK,
   FX_E_NOT_FOUND (not owner's, or no such function), FX_E_IO. A function
   registered before versions existed has a history of none. */
int fx_store_function_history(fx_store_t *self, const char *owner, const char *function_id,
                              char name[FX_NAME_MAX + 1], fx_store_version_t **versions, uint32_t *count);

/* Called for every version row whose objects are missing. */
typedef void(fx_store_missing_fn)(void *arg, const char *function_id, uint32_t number, const char *version,
                                  const char *commit);
/* At start: every version row checked with has(arg, oid) for its blob and
   commit; rows found missing are marked (tasks cannot be pinned to them,
   SUBMIT names them) and reported, rows found again are unmarked.
   *missing gets the count. FX_OK or FX_E_IO. */
int fx_store_versions_verify(fx_store_t *self, bool (*has)(void *arg, const char *oid),
                             fx_store_missing_fn *report, void *arg, uint32_t *missing);

/* FUNCTION_FETCH: version as served to endpoint_id, if a task of it was
   dispatched there: FX_OK with function_id, kind, entry, serializer and
   dill_version in *body (its frame left NULL), FX_E_NOT_FOUND, FX_E_IO. */
int fx_store_endpoint_version(fx_store_t *self, const char *endpoint_id, const char *version,
                              fx_function_body_t *body);

/* ENDPOINT_HELLO's allowed_functions (count 0 = any), kept for SUBMIT's
   check (FX_E_FORBIDDEN for a function not in the list). */
int fx_store_endpoint_allowed(fx_store_t *self, const char *endpoint_id, const fx_id_text_t *ids,
                              uint32_t count);

/* Register an endpoint owned by owner. Same owner and key again: FX_OK (the
   name is updated). FX_E_CONFLICT if the id belongs to another user or the
   key to another endpoint; FX_E_FORBIDDEN if the id is this user's with a
   different key (re-keying is not supported: use a new endpoint id). */
int fx_store_endpoint_register(fx_store_t *self, const char *owner, const char *endpoint_id, const char *name,
                               const char *public_key, char *err, size_t errlen);

/* Record that the endpoint was heard from at wall_ms. */
int fx_store_endpoint_seen(fx_store_t *self, const char *endpoint_id, int64_t wall_ms);

/* ---------------------------------------------------------------- containers (fx_store_containers.c) */

/* REGISTER_CONTAINER's fields (SPEC 5.33): a canonical id, a name, one of
   the runtimes bwrap, podman, docker, apptainer, singularity, and an image
   ("" only for bwrap). FX_OK or FX_E_BAD_FIELD with a sentence naming the
   field (for a runtime, naming the runtimes). */
int fx_store_container_fields(const char *container_id, const char *name, const char *runtime,
                              const char *image, char *err, size_t errlen);

/* Register (or update) owner's container. A new id is stored; the same
   owner and fields again is a no-op; the same owner with other fields
   updates it, and *changed (may be NULL) says whether its definition
   (name, runtime, image: what CONTAINERS carries) changed. FX_E_CONFLICT
   if the id is another user's, FX_E_BAD_FIELD, FX_E_IO. */
int fx_store_container_register(fx_store_t *self, const char *owner, const char *container_id, const char *name,
                                const char *runtime, const char *image, const char *description, bool *changed,
                                char *err, size_t errlen);

/* Is container_id ("" = the host: always) one of owner's? FX_OK,
   FX_E_NOT_FOUND (unknown, not canonical, or another user's: the sentence
   does not say which), FX_E_IO. */
int fx_store_container_owned(fx_store_t *self, const char *owner, const char *container_id, char *err,
                             size_t errlen);

/* A container's definition (for CONTAINERS, SPEC 5.35), whoever owns it:
   the dispatching forwarder names only containers tasks resolved to.
   FX_OK, FX_E_NOT_FOUND, FX_E_IO. */
int fx_store_container_get(fx_store_t *self, const char *container_id, fx_container_def_t *def);

/* ---------------------------------------------------------------- tasks */

/* Validate and store a SUBMIT batch for owner, in one transaction. Every
   task needs a canonical task, endpoint and function id; the function must
   be the owner's; the endpoint must exist (FX_E_NOT_FOUND) and be the
   owner's (FX_E_FORBIDDEN). A task id the owner already holds is skipped
   (an idempotent resend); one held by another user refuses the whole batch
   (FX_E_CONFLICT); new tasks that would take the owner's unfinished tasks
   over the queue cap refuse it too (FX_E_LIMIT, err names the count and
   the cap). On any error nothing is stored. retries is stored as given. *stored_out (may be
   NULL) gets the number of tasks newly stored. Payload frames are read,
   not taken. */
int fx_store_submit(fx_store_t *self, const char *owner, const char *client_id, const fx_task_t *tasks,
                    uint32_t count, uint32_t *stored_out, char *err, size_t errlen);

/* Number of QUEUED tasks of an endpoint. */
int fx_store_queued_count(fx_store_t *self, const char *endpoint_id, uint32_t *count_out);

/* Where fx_store_dispatch puts the rows it takes: room for n (>= 1) task
   records, asked for once, before the commit, so that no task is marked
   DISPATCHED that cannot be handed over; NULL (out of memory) takes none. */
typedef fx_task_t *(fx_store_room_fn) (uint32_t n, void *arg);

/* Take up to max QUEUED tasks of the endpoint in submission order, mark
   them DISPATCHED (attempts + 1, for information only) in one transaction,
   as TASKS records (body, kind and entry from the function, endpoint_id
   "") in the room `room` gives (the caller owns their frames after).
   Stops early at FX_STORE_BATCH_BYTES. *count may be 0; on a failure it is
   0, nothing was marked and the room holds no frames. */
int fx_store_dispatch(fx_store_t *self, const char *endpoint_id, uint32_t max, fx_store_room_fn *room,
                      void *arg, uint32_t *count);

/* Put the endpoint's DISPATCHED tasks back to QUEUED (the endpoint was lost
   or said hello again), keeping their place in the queue. This never counts
   against a task: only worker deaths do, and the manager counts those.
   A task whose CANCEL was forwarded to the endpoint ends cancelled instead
   (FX_E_CANCELLED result). Counts may be NULL. */
int fx_store_requeue(fx_store_t *self, const char *endpoint_id, uint32_t *requeued_out,
                     uint32_t *cancelled_out);

/* STATUS: one record per id; tasks that do not exist or are not the
   owner's read as FX_TASK_UNKNOWN. out has count records. */
int fx_store_status(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                    fx_task_status_t *out);

/* Is the endpoint connected right now (said hello, not lost)? The store
   asks it of the broker, which knows. */
typedef bool(fx_store_online_fn)(const char *endpoint_id, void *arg);

/* CANCEL from owner, one transaction: a QUEUED task ends at once with an
   FX_E_CANCELLED error result ("cancelled before it ran", state FAILED,
   pushed like any result); so does a DISPATCHED task whose endpoint is
   offline (its result can no longer come). A DISPATCHED task of an online
   endpoint, unless queued_only, is marked so that its endpoint's loss
   cancels it rather than requeues it, and stays DISPATCHED: the caller
   forwards CANCEL to the endpoint. Everything else is unchanged; tasks
   that do not exist or are not the owner's read UNKNOWN. out (count
   records) gets each task's state after. online may be NULL (all offline). */
int fx_store_cancel(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                    bool queued_only, fx_store_online_fn *online, void *arg, fx_task_status_t *out);

/* LIST: the owner's endpoints (oldest first), functions or tasks (newest
   first), at most max rows into rows (max entries), their number in
   *count. */
typedef struct {
    fx_id_text_t id;
    char name[FX_NAME_MAX + 1];
    bool seen;            /* heard from at least once */
    int64_t last_seen_ms; /* wall ms, if seen */
    uint64_t queued;      /* its QUEUED tasks */
} fx_store_endpoint_row_t;
typedef struct {
    fx_id_text_t id;
    char name[FX_NAME_MAX + 1];
    uint8_t kind; /* fx_fn_kind_t */
} fx_store_function_row_t;
typedef struct {
    fx_id_text_t id;
    uint8_t state; /* fx_task_state_t */
    fx_id_text_t endpoint_id;
    fx_id_text_t function_id;
    uint32_t attempts;
    int64_t submitted_ms;                /* wall ms */
    bool has_result;                     /* a result is stored: the fields below */
    int64_t finished_ms;                 /* wall ms the result was stored */
    uint8_t status;                      /* fx_result_status_t */
    uint16_t error_code;
    char error_text[FX_NAME_MAX + 1];    /* its first line, cut */
    char function_name[FX_NAME_MAX + 1];
    int64_t cursor;                      /* tasks.seq: LIST's before for the next page */
} fx_store_task_row_t;
/* Which tasks fx_store_list_tasks lists (SPEC 5.16), newest first; every
   field's zero value is "any". The broker turns LIST's words into these
   (fx_client_list.c). */
typedef struct {
    uint8_t state;          /* fx_task_state_t: tasks in this store state; 0 any */
    int8_t outcome;         /* -1 any; 0 succeeded, 1 failed (tasks.outcome) */
    int8_t status;          /* -1 any; else the result's fx_result_status_t */
    int32_t error_code;     /* -1 any; else the result's error code */
    const uint16_t *not_codes; /* with error_code -1: none of these codes (a reason "error") */
    uint32_t not_count;
    const char *endpoint_id; /* NULL or "" any */
    const char *function;    /* NULL or "" any; a function id, or a name of the owner's functions */
    int64_t since_ms;        /* 0 any; the listing stops at the first task submitted before it */
    int64_t before;          /* 0 from the newest; else only tasks with seq below */
} fx_store_task_filter_t;
/* The filter that lists every task (the zero values, with the -1s). */
void fx_store_task_filter_init(fx_store_task_filter_t *filter);
/* One of the owner's endpoints as LIST shows it: FX_OK, FX_E_NOT_FOUND
   (no such endpoint of this owner) or a store error. */
int fx_store_endpoint_row(fx_store_t *self, const char *owner, const char *endpoint_id, fx_store_endpoint_row_t *row);
int fx_store_list_endpoints(fx_store_t *self, const char *owner, uint32_t max, fx_store_endpoint_row_t *rows,
                            uint32_t *count);
int fx_store_list_functions(fx_store_t *self, const char *owner, uint32_t max, fx_store_function_row_t *rows,
                            uint32_t *count);
int fx_store_list_tasks(fx_store_t *self, const char *owner, const fx_store_task_filter_t *filter, uint32_t max,
                        fx_store_task_row_t *rows, uint32_t *count);
/* The query plan sqlite chose for that listing (EXPLAIN QUERY PLAN, one
   step a line), into out: for the tests, which check that a page walks an
   index in order (no sort, no scan of the owner's other tasks). FX_OK or
   FX_E_IO. */
int fx_store_list_tasks_plan(fx_store_t *self, const char *owner, const fx_store_task_filter_t *filter, char *out,
                             size_t cap);
/* The owner's containers, oldest first (description cut for display). */
typedef struct {
    fx_container_def_t def;
    char description[FX_NAME_MAX + 1];
} fx_store_container_row_t;
int fx_store_list_containers(fx_store_t *self, const char *owner, uint32_t max, fx_store_container_row_t *rows,
                             uint32_t *count);

/* ---------------------------------------------------------------- results */

/* What happened to one result of fx_store_results_commit. */
typedef enum {
    FX_STORE_NEW = 1,     /* stored now */
    FX_STORE_DUP = 2,     /* a result for this task was stored before */
    FX_STORE_FOREIGN = 3, /* no such task, or not dispatched to this endpoint */
} fx_store_outcome_t;

/* Store a RESULTS batch from endpoint_id in one transaction: INSERT OR
   IGNORE by task id; the task becomes DONE (FAILED for FX_RESULT_ERROR)
   and its payload is dropped. outcome (count entries, may be NULL) says
   what happened to each. The result hook runs for each new one after the
   commit. Frames are read, not taken. */
int fx_store_results_commit(fx_store_t *self, const char *endpoint_id, const fx_result_t *results,
                            uint32_t count, fx_store_outcome_t *outcome);

/* Undelivered results of (owner, client_id) never pushed, stored after the
   result sequence number `after`, oldest first: up to max of them (and
   FX_STORE_BATCH_BYTES) into rows[0..*count) (max entries; the caller owns
   their text and frames after). seqs (max entries) gets each one's sequence
   number: pass the last one as `after` to continue. */
int fx_store_results_pending(fx_store_t *self, const char *owner, const char *client_id, int64_t after,
                             uint32_t max, fx_result_t *rows, int64_t *seqs, uint32_t *count);

/* FETCH: the stored results among ids that belong to owner, into
   rows[0..*count) (count entries), up to FX_STORE_BATCH_BYTES. */
int fx_store_results_fetch(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                           fx_result_t *rows, uint32_t *found);

/* These results are about to be sent to their client: mark them pushed,
   durably, first. A pushed result is never pushed again (not after a
   reconnect nor after a broker restart); the client FETCHes what it still
   waits for after each new HELLO. Marking before sending is what makes the
   push exactly-once: a crash between the mark and the send loses only the
   send, which that FETCH repairs. */
int fx_store_results_mark_pushed(fx_store_t *self, const fx_result_t *results, uint32_t count);
/* Frees the text and frames of rows[0..count) (the array is the caller's). */
void fx_store_results_free(fx_result_t *rows, uint32_t count);

/* RESULTS_ACK from the client: the owner's results among ids are delivered
   (task DONE -> DELIVERED). stamps (may be NULL; count entries) are each
   result's FX_TIME_BROKER_RESULT_DURABLE and FX_TIME_BROKER_PUSHED, known
   only after its commit, stored now with the result (0: not known). *acked_out (may be NULL) counts newly
   delivered. */
int fx_store_results_ack(fx_store_t *self, const char *owner, const fx_id_text_t *ids, uint32_t count,
                         const uint64_t (*stamps)[2], uint32_t *acked_out);

/* Drop results delivered before wall_ms, with their tasks. */
int fx_store_purge(fx_store_t *self, int64_t before_wall_ms, uint32_t *purged_out);

/* The last sqlite error text of this store ("" if none): for log lines
   after a function returned FX_E_IO. */
const char *fx_store_errmsg(fx_store_t *self);

/* Wall-clock milliseconds since the epoch (what the store records). */
int64_t fx_store_wall_ms(void);

#endif
