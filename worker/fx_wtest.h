/*  fx_wtest.h: the fake manager the worker's test programs share
    (fx_worker_test.c: the worker's life and its tasks; fx_worker_fn_test.c:
    strategies, payload formats, bodies by version, provenance).

    It holds the manager's side of the worker link (fx_wlink.h, as
    fx-manager does), starts the real fx-worker on a connection of it, sends
    it tasks and checks the results. Pickles are made and read by the given
    Python (the same major.minor as the worker's). Every wait has a
    deadline; nothing sleeps. Each scenario ends by stopping the worker and
    checking it exits 0 (under ASan that includes its leak check). */
#ifndef FX_WTEST_H
#define FX_WTEST_H

#include <stdbool.h>
#include <sys/types.h>

#include "fx_check.h"
#include "fx_clock.h"
#include "fx_msg.h"
#include "fx_testkit.h"
#include "fx_testproc.h"
#include "fx_wlink.h"

/* The longest any wait may take: generous, since ASan and valgrind builds
   are slow, and stretched by FX_TEST_SLOW. */
#define FX_WT_WAIT_MS ((int) fx_test_ms(30000))

typedef struct {
    const char *worker_bin;
    const char *python;
    fx_wlink_t *link;
    fx_wlink_peer_t peer; /* the worker's connection on the link */
    pid_t pid;            /* the worker process */
    int pidfd;
    uint32_t ready_pid;
    uint32_t ready_seq;
    char python_version[FX_VERSION_MAX + 1];
    uint32_t seq;
    bool no_welcome; /* fx_wt_start leaves READY unanswered */
    fx_test_pickler_t *pickler;
} fx_wt_ctx_t;

/* One task to send; NULL/0 fields get defaults. */
typedef struct {
    int kind; /* default FX_FN_PYTHON; -1 sends kind 0 */
    const char *function_id;
    const char *entry; /* default "f" */
    const char *body;
    const char *args;        /* Python expression for (args, kwargs); default "((), {})" */
    const char *raw_payload; /* sent as is instead of a pickle of args */
    const char *py_version;  /* default: the worker's */
    uint32_t walltime_ms;
    const char *serializer;   /* default "pickle" */
    const char *version;      /* function_version; default "" */
    const char *dill_version; /* default "" */
    zframe_t *body_frame;     /* sent (a copy) instead of body, which may then be NULL */
    zframe_t *payload_frame;  /* sent (a copy) instead of a pickle of args */
} fx_wt_task_spec_t;

zframe_t *fx_wt_pickle(fx_wt_ctx_t *ctx, const char *expr);

char *fx_wt_repr(fx_wt_ctx_t *ctx, zframe_t *frame);

/* The output frame as a string; caller frees. */
char *fx_wt_frame_text(zframe_t *frame);

/* Next message from the worker, or NULL after ms. */
fx_msg_t *fx_wt_recv(fx_wt_ctx_t *ctx, int ms);

int fx_wt_start(fx_wt_ctx_t *ctx);

int fx_wt_send(fx_wt_ctx_t *ctx, fx_msg_t **msg_p);

/* Sends one task; its id in task_id. */
int fx_wt_send_task(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec, fx_id_text_t task_id);

/* Sends a task and waits for its RESULTS; NULL (after a CHECK) if none. */
fx_msg_t *fx_wt_run(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec);

/* Runs a task; checks status (and code for errors); returns the result's
   value repr in *repr_p and the output/error text in *out_p (caller frees). */
fx_msg_t *fx_wt_expect(fx_wt_ctx_t *ctx, const fx_wt_task_spec_t *spec, int status, int code);

bool fx_wt_has(const char *text, const char *part);

/* Stops the worker with SIGTERM and checks it exits 0 in time. */
void fx_wt_stop_worker(fx_wt_ctx_t *ctx);

/* Starts a worker (welcomed unless `welcome` is false), runs body on it
   if it started, stops it (it must exit 0, or 1 once refused). */
void fx_wt_scenario(fx_wt_ctx_t *ctx, void (*body)(fx_wt_ctx_t *), bool welcome);

/* Whether two frames hold the same bytes (NULL is empty). */
bool fx_wt_frames_equal(zframe_t *a, zframe_t *b);

/* Runs /usr/bin/python3 -c script with `in` on its standard input (NULL:
   none) and returns its standard output as a frame (NULL, after a CHECK,
   if it failed or took longer than FX_WT_WAIT_MS). */
zframe_t *fx_wt_python(fx_wt_ctx_t *ctx, const char *script, zframe_t *in);

/* The program's main: argv is FX_WORKER PYTHON [SCENARIO...|all]. */
int fx_wt_main(int argc, char **argv, const fx_scenario_t *tests, size_t count);

/* Defines the scenario function NAME(void *ctx) for the fx_scenario_t
   table: the block that follows is its body, run by fx_wt_scenario on a fresh
   worker. */
#define FX_WT_SCENARIO(name, welcome)                                                                        \
    static void name##_body(fx_wt_ctx_t *ctx);                                                               \
    static void name(void *ctx)                                                                              \
    {                                                                                                        \
        fx_wt_scenario(ctx, name##_body, welcome);                                                           \
    }                                                                                                        \
    static void name##_body(fx_wt_ctx_t *ctx)

#endif
