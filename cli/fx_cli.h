/*  fx_cli.h: private to the `fx` command. One file per concern:
        fx_cli.c            arguments, usage errors, dispatch (main)
        fx_cli_verbs.c      the table of verbs: synopsis, help, example, handler
        fx_cli_home.c       where things live: ~/.fx ($FX_HOME), endpoint folders,
                            credentials; endpoint processes (pid file, lock)
        fx_cli_link.c       one CurveZMQ request/reply session with the broker
        fx_cli_remote.c     the broker's listings of endpoints, functions, containers
        fx_cli_container.c  `container register`
        fx_cli_state.c      the task states users read, from the broker's states
                            and results; reading results without taking them
        fx_cli_tasks.c      `tasks` (filters, pages) and `status`
        fx_cli_task.c       `task show`, `result`, `cancel`
        fx_cli_user.c       `user create`, the local admin command
        fx_cli_configure.c  `endpoint configure`: the commented default config.yaml
        fx_cli_endpoint.c   `endpoint start` and `stop`
        fx_cli_list.c       `endpoint list`: local state beside the broker's view
        fx_cli_logs.c       `endpoint logs`
        fx_cli_table.c      text tables */
#ifndef FX_CLI_H
#define FX_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_file.h"
#include "fx_kv.h"
#include "fx_msg.h"

/* Exit codes: 0 ok, 1 the command failed, 2 bad arguments (usage shown). */
#define FX_CLI_OK 0
#define FX_CLI_FAILED 1
#define FX_CLI_USAGE 2

/* How long a wire command waits for the broker, by default. */
#define FX_CLI_TIMEOUT_MS 10000
/* `endpoint list` asks the broker too, but should not make a user wait
   long for a broker that is down. */
#define FX_CLI_LIST_TIMEOUT_MS 5000
/* `endpoint start --detach`: how long it waits for "ready", by default
   (fx-endpoint gives up registering after 15 s; a slow broker hello
   after that still fits). */
#define FX_CLI_START_WAIT_S 60

/* A number option not given. */
#define FX_CLI_UNSET (-1)

struct fx_cli_verb;

typedef struct {
    const struct fx_cli_verb *verb; /* what the words named */
    const char *creds;              /* --creds FILE (else $FX_CREDS, else $FX_HOME/credentials) */
    long timeout_s;                 /* --timeout SECONDS */
    long limit;                     /* --limit N */
    const char *state;              /* user create: --state DIR (the broker's state) */
    const char *out;                /* user create: --out FILE */
    const char *client_addr;        /* user create: --client-addr ADDR */
    const char *endpoint_addr;      /* user create: --endpoint-addr ADDR */
    bool force;                     /* overwrite what exists */
    const char *dir;                /* endpoint: --dir DIR (its folder) */
    bool detach;                    /* endpoint start: --detach */
    long wait_s;                    /* endpoint start / stop: --wait SECONDS */
    bool follow;                    /* endpoint logs: -f */
    long lines;                     /* endpoint logs: -n N */
    const char *endpoint;           /* tasks: --endpoint ID|NAME */
    const char *function;           /* tasks: --function ID|NAME */
    const char *since;              /* tasks: --since TIME|DURATION */
    const char *before;             /* tasks: --before CURSOR (the next page) */
    bool all;                       /* tasks: --all (every page) */
    bool raw;                       /* result: --raw (the value's bytes as stored) */
    const char *runtime;            /* container register: --runtime R */
    const char *image;              /* container register: --image I */
    const char *description;        /* container register: --description TEXT */
    const char *id;                 /* container register: --id ID (update that one) */
    int argc;                       /* the operands: the words after the verb's own */
    char **argv;
} fx_cli_args_t;

/* One verb of the command: its words, what it takes, its help. */
typedef struct fx_cli_verb {
    const char *words;    /* "endpoint start" */
    const char *synopsis; /* "NAME [--detach] [--wait SECONDS] [--dir DIR]": every option it takes */
    int min_operands, max_operands; /* max -1: any number */
    const char *summary;            /* one line */
    const char *help;               /* the options and what happens, indented lines */
    const char *example;            /* a whole command line */
    int (*run)(const fx_cli_args_t *args);
} fx_cli_verb_t;

/* The verbs, ended by an entry with words NULL (fx_cli_verbs.c). */
extern const fx_cli_verb_t fx_cli_verbs[];

/* Print "fx: <message>" on stderr. */
void fx_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The verbs' handlers. */
int fx_cli_user_create(const fx_cli_args_t *args);
int fx_cli_remote(const fx_cli_args_t *args); /* endpoints, functions, containers */
int fx_cli_container_register(const fx_cli_args_t *args);
int fx_cli_tasks(const fx_cli_args_t *args);
int fx_cli_status(const fx_cli_args_t *args);
int fx_cli_task_show(const fx_cli_args_t *args);
int fx_cli_function_log(const fx_cli_args_t *args); /* fx_cli_function.c */
int fx_cli_function_show(const fx_cli_args_t *args);
int fx_cli_result(const fx_cli_args_t *args);
int fx_cli_cancel(const fx_cli_args_t *args);
int fx_cli_endpoint_configure(const fx_cli_args_t *args);
int fx_cli_endpoint_start(const fx_cli_args_t *args);
int fx_cli_endpoint_stop(const fx_cli_args_t *args);
int fx_cli_endpoint_list(const fx_cli_args_t *args);
int fx_cli_endpoint_logs(const fx_cli_args_t *args);
int fx_cli_help(const fx_cli_args_t *args);

/* Help: the whole command (out: stdout for --help, stderr after a usage
   error), or the verbs whose words start with prefix ("endpoint"). */
void fx_cli_usage_all(FILE *out);
void fx_cli_usage_verb(FILE *out, const fx_cli_verb_t *verb, bool full);
/* "fx: problem" on stderr, then the verb's usage (the whole command's
   without a verb); returns FX_CLI_USAGE. */
int fx_cli_usage_error(const fx_cli_verb_t *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The verbs under a group word ("endpoint"): how many were printed. */
int fx_cli_usage_group(FILE *out, const char *group);

/* Print a table of strings: cells[row * cols + col], row 0 the header.
   Columns are padded to their widest cell; the last one is not padded. */
void fx_cli_table_print(FILE *out, char **cells, uint32_t rows, uint32_t cols);
/* One page of a table printed as it comes: widths (cols of them, zero at
   first) grow to the widest cell seen so far, header row 0 included; rows
   from first (0: with the header, 1: without) are printed. */
void fx_cli_table_print_page(FILE *out, char **cells, uint32_t rows, uint32_t cols, size_t *widths,
                             uint32_t first);

/* ---------------------------------------------------------------- home */

/* The fx folder: $FX_HOME, else ~/.fx. -1 if it cannot be named. */
int fx_cli_home(char *out, size_t cap);
/* The credentials file: --creds, else $FX_CREDS, else FX_HOME/credentials. */
const char *fx_cli_creds_path(const char *given, char *buf, size_t cap);
/* An endpoint name that is also a folder name: 1-64 of [A-Za-z0-9._-],
   not starting with '.' or '-'. */
bool fx_cli_name_ok(const char *name);
/* The endpoint's folder: --dir, else FX_HOME/endpoints/NAME. -1 (said on
   stderr) if the path is too long or no home can be found. */
int fx_cli_endpoint_dir(const fx_cli_args_t *args, const char *name, char *out, size_t cap);
/* The endpoint's folder of an existing endpoint (with its config.yaml);
   else says "no endpoint named NAME: run `fx endpoint configure NAME`"
   and returns -1. */
int fx_cli_endpoint_find(const fx_cli_args_t *args, const char *name, char *out, size_t cap);
/* How the user names the endpoint on later commands: "NAME", or "NAME
   --dir DIR" when --dir was given. */
void fx_cli_handle(const fx_cli_args_t *args, const char *name, char *out, size_t cap);
/* dir/file into out; -1 if too long. */
int fx_cli_path(char *out, size_t cap, const char *dir, const char *file);

/* What a local endpoint's folder says about it. */
typedef struct {
    pid_t pid;          /* > 0: its fx-endpoint runs with this pid */
    pid_t stale_pid;    /* > 0: the pid file names this process, which is gone */
    int managers_alive; /* managers of managers.pids still running */
    fx_id_text_t id;    /* "" before the first start */
    char name[FX_NAME_MAX + 1];
} fx_cli_endpoint_state_t;

/* Read the folder (nothing is taken or changed: the lock is looked up in
   /proc/locks, never acquired). */
void fx_cli_endpoint_state(const char *dir, fx_cli_endpoint_state_t *st);
/* True while pid is a live (not zombie) fx-endpoint process. */
bool fx_cli_endpoint_alive(pid_t pid);
/* The fx-endpoint binary beside this fx, else "fx-endpoint" (PATH). */
void fx_cli_endpoint_program(char *out, size_t cap);

/* ---------------------------------------------------------------- broker */

typedef struct fx_cli_link fx_cli_link_t;

/* Load the credentials at path, connect, HELLO, WELCOME within timeout_ms
   (and each later request within as long). NULL with a sentence in err;
   *unreachable set when the broker never answered. */
fx_cli_link_t *fx_cli_link_open(const char *creds_path, int64_t timeout_ms, char *err, size_t errlen,
                                bool *unreachable);
/* Send a request (taken) and wait for its reply of type want; NULL with a
   sentence in err (ERROR from the broker, a silent broker, garbage). */
fx_msg_t *fx_cli_link_call(fx_cli_link_t *self, fx_msg_t **req_p, fx_msg_type_t want, char *err,
                           size_t errlen);
/* Accepts NULL. */
void fx_cli_link_destroy(fx_cli_link_t **self_p);

/* fx_cli_link_open with --creds / --timeout; says why on stderr if it fails. */
fx_cli_link_t *fx_cli_link_for(const fx_cli_args_t *args);
/* A LIST of what (FX_LIST_*), at most limit rows (0: as many as the broker
   gives); NULL with the reason in err. */
fx_msg_t *fx_cli_list(fx_cli_link_t *link, int what, uint32_t limit, char *err, size_t errlen);
/* The cell of row r (1.. ) in column col of a LIST_REPLY table; "" for nil. */
const char *fx_cli_cell(const fx_msg_t *table, uint32_t r, int col);

/* The cell in column `column` of the row whose `id` cell is id, or NULL
   (no such row or column, or no table). */
const char *fx_cli_lookup(const fx_msg_t *table, const char *id, const char *column);

/* A LIST_REPLY column by header name (the broker adds columns over time:
   look them up, never assume a place); -1 if absent. */
int fx_cli_column(const fx_msg_t *table, const char *name);

/* ---------------------------------------------------------------- task states */

/* The states users read, the same in every verb (cli/README.md). The
   broker's store keeps its own (QUEUED, DISPATCHED, DONE, DELIVERED,
   FAILED); whether a finished task succeeded is in its result. */
typedef enum {
    FX_CLI_TASK_UNKNOWN = 0, /* no such task of yours */
    FX_CLI_TASK_QUEUED,      /* at the broker, waiting for its endpoint */
    FX_CLI_TASK_DISPATCHED,  /* sent to its endpoint: waiting there or running */
    FX_CLI_TASK_SUCCEEDED,   /* the function returned */
    FX_CLI_TASK_FAILED,      /* it raised, or fx ended it (the reason says how) */
    FX_CLI_TASK_FINISHED,    /* it has a result fx did not read (see fx_cli_state.c) */
} fx_cli_state_t;

/* One task as the verbs show it. */
typedef struct {
    fx_cli_state_t state;
    char reason[32];  /* FAILED: exception, cancelled, worker lost, walltime, ... */
    bool delivered;   /* its result was taken by a client: fx may read it freely */
    bool result_read; /* state and reason come from the result itself */
    char error[FX_TEXT_MAX + 1];
} fx_cli_task_state_t;

const char *fx_cli_state_name(fx_cli_state_t state);
/* "succeeded", "failed (exception)", ...: name and reason. */
void fx_cli_state_text(const fx_cli_task_state_t *st, char *out, size_t cap);
/* From the wire's task state (STATUS_REPLY, SPEC 5.0). */
void fx_cli_state_from_wire(int wire, fx_cli_task_state_t *st);
/* From the text of a LIST tasks `state` cell (the broker's names). */
void fx_cli_state_from_cell(const char *cell, fx_cli_task_state_t *st);
/* From a stored result: succeeded, or failed with its reason. */
void fx_cli_state_from_result(const fx_result_t *result, fx_cli_task_state_t *st);
/* --state WORD: a users' state (queued, dispatched, succeeded, failed) or
   a reason of failure (exception, cancelled, worker-lost or "worker lost",
   walltime, ...), as LIST's state field takes it (SPEC 5.16: "worker
   lost") into out. False if it is neither. */
bool fx_cli_state_word(const char *word, char *out, size_t cap);
/* The names --state takes, for messages. */
extern const char *const fx_cli_state_words;

/* FETCH the results of ids, as many requests as it takes; fn sees each
   result found. Only for results fx may read: a FETCH records a result as
   pushed (SPEC 8.6), so reading one its submitting client has not taken
   yet can keep it from that client until it reconnects. -1 with err. */
typedef void fx_cli_result_fn(const fx_result_t *result, void *arg);
int fx_cli_fetch(fx_cli_link_t *link, const fx_id_text_t *ids, uint32_t count, fx_cli_result_fn *fn,
                 void *arg, char *err, size_t errlen);

/* ---------------------------------------------------------------- tasks */

/* The broker's listings the task verbs join (fx_cli_tasks.c). */
typedef struct {
    fx_msg_t *tasks;     /* LIST tasks (newest first), or NULL if not asked for */
    fx_msg_t *functions; /* LIST functions */
    fx_msg_t *endpoints; /* LIST endpoints */
} fx_cli_tables_t;

/* LIST tasks (task_limit rows; none if 0), functions and endpoints. -1
   after saying why on stderr. */
int fx_cli_tables_load(fx_cli_link_t *link, uint32_t task_limit, fx_cli_tables_t *t);
void fx_cli_tables_free(fx_cli_tables_t *t);
/* STATUS of count ids: the reply, or NULL after saying why. */
fx_msg_t *fx_cli_status_of(fx_cli_link_t *link, char **ids, int count);
/* For a verb whose operands are task ids: checks them (else a usage
   error, *rc FX_CLI_USAGE) and opens the broker session (else *rc
   FX_CLI_FAILED); NULL on either. */
fx_cli_link_t *fx_cli_task_link(const fx_cli_args_t *args, int *rc);

/* One task as the task verbs show it. */
typedef struct {
    fx_id_text_t id;
    fx_id_text_t function_id;
    fx_id_text_t endpoint_id;
    char function[FX_NAME_MAX + 1]; /* its name, else its id, else "-" */
    char endpoint[FX_NAME_MAX + 1]; /* the same */
    char submitted[40];             /* as the broker writes it; "" if it does not say */
    char finished[40];
    int64_t submitted_ms; /* -1 if not known */
    uint32_t attempts;
    fx_cli_task_state_t st;
} fx_cli_task_t;

/* Row r (1..) of t->tasks, with the names joined. */
void fx_cli_task_from_row(const fx_cli_tables_t *t, uint32_t r, fx_cli_task_t *task);
/* Read the results of those tasks whose outcome is in their result and
   that fx may read (their client took the result; every one with
   undelivered_too), and set their states from them. -1 with err. */
int fx_cli_tasks_read(fx_cli_link_t *link, fx_cli_task_t *tasks, uint32_t n, bool undelivered_too, char *err,
                      size_t errlen);
/* Wall-clock ms from "2026-12-01T10:00:00Z" (also without seconds, with a
   space, or a date alone, all UTC) or from a duration ago ("90s", "30m",
   "2h", "7d"); -1 if it is neither. */
int64_t fx_cli_time_parse(const char *text);

#endif
