/*  fx_store_int.h: private to the fx_store*.c files. The store's struct, its
    prepared statements, and small sqlite helpers shared by the files that
    split the store by subject (fx_store.c: life, users, registry;
    fx_store_tasks.c: submit, dispatch, requeue, status; fx_store_list.c:
    LIST rows, the task listing's filters and cursor;
    fx_store_results.c: results in and out, purge; fx_store_cancel.c:
    cancel, per-user unfinished counts). */
#ifndef FX_STORE_INT_H
#define FX_STORE_INT_H

#include <sqlite3.h>

#include "fx_store.h"

/* Every statement the store runs, prepared once at open (fx_store.c holds
   the SQL, indexed by this enum). */
typedef enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_USER_INSERT,
    ST_USER_BY_NAME,
    ST_USER_BY_KEY,
    ST_EP_BY_KEY,
    ST_EP_GET,
    ST_EP_ALLOWED,
    ST_EP_INSERT,
    ST_EP_RENAME,
    ST_EP_SEEN,
    ST_FN_GET,
    ST_FN_INSERT,
    ST_FN_RENAME,
    ST_FV_NEWEST,
    ST_FV_GET,
    ST_FV_HISTORY,
    ST_FV_ALL,
    ST_FV_INSERT,
    ST_FV_TOUCH,
    ST_FV_MISSING,
    ST_EV_INSERT,
    ST_EV_BODY,
    ST_TASK_OWNER,
    ST_TASK_INSERT,
    ST_QUEUED_COUNT,
    ST_DISPATCH_SELECT,
    ST_DISPATCH_MARK,
    ST_REQUEUE_SELECT,
    ST_REQUEUE_MARK,
    ST_TASK_STATUS,
    ST_TASK_CANCEL_MARK,
    ST_UNFINISHED,
    ST_RESULT_TASK,
    ST_RESULT_INSERT,
    ST_PROVENANCE,
    ST_USER_NAME,
    ST_TASK_FINISH,
    ST_TASK_FINISH_SEQ,
    ST_PENDING,
    ST_FETCH,
    ST_MARK_PUSHED,
    ST_MARK_PUSHED_SEQ,
    ST_ACK_RESULT,
    ST_ACK_TASK,
    ST_PURGE_TASKS,
    ST_PURGE_RESULTS,
    ST_LIST_EP,
    ST_ENDPOINT_ROW,
    ST_LIST_FN,
    ST_CT_GET,
    ST_CT_INSERT,
    ST_CT_UPDATE,
    ST_LIST_CT,
    ST_COUNT_
} fx_st_t;

struct _fx_store_t {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT_];
    fx_store_result_fn *hook;
    void *hook_arg;
    char errmsg[256];
    uint64_t written;     /* write transactions committed since open: the
                             tickets of durability (fx_store_written) */
    int wal_pages;        /* pages in the WAL after the last commit (wal hook) */
    /* SUBMIT commits not yet durable (ticket, task seqs), oldest first, and
       those known durable (task seqs, since when), for the stamp
       FX_TIME_BROKER_DURABLE: rings of S_STORE_SPANS. */
    struct fx_store_span {
        uint64_t ticket;
        int64_t first_seq, last_seq;
        uint64_t durable_us;
    } pending[256], durable[256];
    uint32_t pending_head, pending_n, durable_head, durable_n;
    uint64_t queue_cap;   /* unfinished tasks one user may have */
    zhashx_t *unfinished; /* owner -> uint64_t (heap) QUEUED + DISPATCHED tasks,
                             loaded on first use, kept up to date after commits */
};

/* The statement, reset and with its bindings cleared, ready to bind. */
sqlite3_stmt *fx_store_st(fx_store_t *self, fx_st_t which);

/* Steps a statement that returns no rows and resets it. FX_OK or FX_E_IO
   (the sqlite message is kept for fx_store_errmsg). */
int fx_store_exec(fx_store_t *self, sqlite3_stmt *st);

/* Records the db's current error for fx_store_errmsg; returns FX_E_IO. */
int fx_store_fail(fx_store_t *self);

/* Transactions: BEGIN IMMEDIATE (takes the write lock at once, so a batch
   never fails half-way on a lock), COMMIT, ROLLBACK (never fails). */
int fx_store_begin(fx_store_t *self);
int fx_store_commit(fx_store_t *self);
void fx_store_rollback(fx_store_t *self);
/* Ends a transaction: COMMIT if rc is FX_OK, else ROLLBACK. Returns the
   outcome (rc, or the commit's error). */
int fx_store_end(fx_store_t *self, int rc);

/* Binds text; NULL binds SQL NULL. */
void fx_store_bind_text(sqlite3_stmt *st, int col, const char *text);
/* Binds bytes; a zero-length blob stays a blob (sqlite would bind NULL). */
void fx_store_bind_blob(sqlite3_stmt *st, int col, const void *data, size_t size);
void fx_store_bind_frame(sqlite3_stmt *st, int col, zframe_t *frame);
/* Stamps (SPEC 12.5) as stored: little-endian uint64s, trailing zeros left
   out. Packs into out, returns the size (0: none set). */
size_t fx_store_times_pack(const uint64_t *times, uint8_t out[FX_TIMES_MAX * 8]);
/* Binds packed stamps (NULL if none) from buf, which must outlive the step. */
void fx_store_bind_times(sqlite3_stmt *st, int col, const uint64_t *times, uint8_t buf[FX_TIMES_MAX * 8]);
/* Fills the stamps of times that are 0 from a packed column. */
void fx_store_column_times(sqlite3_stmt *st, int col, uint64_t *times);
/* When the tasks with this seq were known durable (wall us; 0: not yet, or
   not known any more): the SUBMIT commits' stamp FX_TIME_BROKER_DURABLE. */
uint64_t fx_store_task_durable_us(fx_store_t *self, int64_t seq);
/* After a SUBMIT commit that stored tasks first_seq..last_seq. */
void fx_store_submitted(fx_store_t *self, int64_t first_seq, int64_t last_seq);

/* A registration's id, name, kind and entry (fx_store_functions.c).
   FX_OK or FX_E_BAD_FIELD with a sentence in err. */
int fx_store_function_fields(const char *function_id, const char *name, int kind, const char *entry, char *err,
                             size_t errlen);

/* A name: 1..FX_NAME_MAX bytes (0 if allow_empty), no control characters. */
bool fx_store_name_valid(const char *name, bool allow_empty);

/* Copies a text column into a fixed buffer of capacity cap ("" for NULL). */
void fx_store_column_text(sqlite3_stmt *st, int col, char *dst, size_t cap);
/* A new frame holding a blob column (empty for NULL); NULL on OOM. */
zframe_t *fx_store_column_frame(sqlite3_stmt *st, int col);

/* Ends a QUEUED or DISPATCHED task with an FX_E_CANCELLED error result
   (text) inside the caller's transaction: the caller notifies and calls
   fx_store_unfinished_add(owner, -1) after the commit. */
int fx_store_cancel_one(fx_store_t *self, const char *task_id, const char *text, int64_t now);

/* After a commit: the owner's count changed by delta (no-op if not cached). */
void fx_store_unfinished_add(fx_store_t *self, const char *owner, int64_t delta);
/* zhashx destructor of those counts. */
void fx_store_count_free(void **item);

/* Runs the result hook for a new result (after its commit). */
void fx_store_notify(fx_store_t *self, const char *owner, const char *client_id);

#endif
