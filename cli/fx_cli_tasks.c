/*  fx_cli_tasks.c: `fx tasks` and `fx status`, and what the task verbs
    share: the broker's listings joined (a task's function and endpoint by
    name), and its states as users read them (fx_cli_state.c).

    `fx tasks` takes the broker's LIST of tasks (newest first, at most
    FX_LIST_ROWS_MAX: the wire has neither filters nor a cursor yet, see
    cli/README.md), filters it here (--state, --endpoint, --function,
    --since) and shows one page (--limit a page, --page N). Columns it
    cannot fill from what this broker sends (submit and finish times) show
    "-", and a filter that needs them says how many tasks it could not
    judge. Whether a finished task succeeded comes from its result, which
    is read only for tasks whose client took it (fx_cli_state.c). */
#define _XOPEN_SOURCE 700 /* strptime */
#define _DEFAULT_SOURCE   /* timegm */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fx_cli.h"

/* A page, unless --limit says otherwise. */
#define S_PAGE_DEFAULT 50

int fx_cli_tables_load(fx_cli_link_t *link, uint32_t task_limit, fx_cli_tables_t *t)
{
    memset(t, 0, sizeof *t);
    char err[1024];
    if (task_limit > 0 && !(t->tasks = fx_cli_list(link, FX_LIST_TASKS, task_limit, err, sizeof err)))
        goto fail;
    if (!(t->functions = fx_cli_list(link, FX_LIST_FUNCTIONS, FX_LIST_ROWS_MAX, err, sizeof err)))
        goto fail;
    if (!(t->endpoints = fx_cli_list(link, FX_LIST_ENDPOINTS, FX_LIST_ROWS_MAX, err, sizeof err)))
        goto fail;
    return 0;
fail:
    fx_cli_fail("%s", err);
    fx_cli_tables_free(t);
    return -1;
}

void fx_cli_tables_free(fx_cli_tables_t *t)
{
    fx_msg_destroy(&t->tasks);
    fx_msg_destroy(&t->functions);
    fx_msg_destroy(&t->endpoints);
}

fx_msg_t *fx_cli_status_of(fx_cli_link_t *link, char **ids, int count)
{
    char err[1024];
    fx_msg_t *req = fx_msg_new(FX_MSG_STATUS);
    if (req && fx_msg_alloc_records(req, (uint32_t) count) == FX_OK)
        for (int i = 0; i < count; i++)
            fx_strlcpy(req->ids.ids[i], ids[i], sizeof req->ids.ids[i]);
    else
        fx_msg_destroy(&req);
    fx_msg_t *reply = fx_cli_link_call(link, &req, FX_MSG_STATUS_REPLY, err, sizeof err);
    if (!reply)
        fx_cli_fail("%s", err);
    return reply;
}

fx_cli_link_t *fx_cli_task_link(const fx_cli_args_t *args, int *rc)
{
    for (int i = 0; i < args->argc; i++)
        if (!fx_id_valid(args->argv[i])) {
            *rc = fx_cli_usage_error(
                args->verb, "'%s' is not a task id (a lowercase UUID, as `fx tasks` shows)", args->argv[i]);
            return NULL;
        }
    *rc = FX_CLI_FAILED;
    return fx_cli_link_for(args);
}

/* The cell of the task row in the first of names that the table has. */
static const char *s_cell(const fx_msg_t *table, uint32_t r, const char *const *names)
{
    for (int i = 0; names[i]; i++) {
        int col = fx_cli_column(table, names[i]);
        if (col >= 0)
            return fx_cli_cell(table, r, col);
    }
    return "";
}

void fx_cli_task_from_row(const fx_cli_tables_t *t, uint32_t r, fx_cli_task_t *task)
{
    static const char *const id[] = {"id", "task", NULL}, *const state[] = {"state", NULL},
                             *const function[] = {"function", "function_id", NULL},
                             *const function_name[] = {"function_name", NULL},
                             *const endpoint[] = {"endpoint", "endpoint_id", NULL},
                             *const reason[] = {"reason", NULL}, *const error[] = {"error", NULL},
                             *const submitted[] = {"submitted", "created", NULL},
                             *const finished[] = {"finished", NULL}, *const attempts[] = {"attempts", NULL};
    memset(task, 0, sizeof *task);
    const fx_msg_t *table = t->tasks;
    fx_strlcpy(task->id, s_cell(table, r, id), sizeof task->id);
    fx_strlcpy(task->function_id, s_cell(table, r, function), sizeof task->function_id);
    fx_strlcpy(task->endpoint_id, s_cell(table, r, endpoint), sizeof task->endpoint_id);
    const char *name = s_cell(table, r, function_name);
    if (!name[0])
        name = fx_cli_lookup(t->functions, task->function_id, "name");
    snprintf(task->function, sizeof task->function, "%s",
             name && name[0]        ? name
             : task->function_id[0] ? task->function_id
                                    : "-");
    name = fx_cli_lookup(t->endpoints, task->endpoint_id, "name");
    snprintf(task->endpoint, sizeof task->endpoint, "%s",
             name && name[0]        ? name
             : task->endpoint_id[0] ? task->endpoint_id
                                    : "-");
    fx_strlcpy(task->submitted, s_cell(table, r, submitted), sizeof task->submitted);
    fx_strlcpy(task->finished, s_cell(table, r, finished), sizeof task->finished);
    task->submitted_ms = task->submitted[0] ? fx_cli_time_parse(task->submitted) : -1;
    task->attempts = (uint32_t) strtoul(s_cell(table, r, attempts), NULL, 10);
    fx_cli_state_from_cell(s_cell(table, r, state), &task->st);
    /* a broker that says the outcome itself */
    const char *why = s_cell(table, r, reason);
    if (why[0] && task->st.state != FX_CLI_TASK_SUCCEEDED) {
        task->st.state = FX_CLI_TASK_FAILED;
        fx_strlcpy(task->st.reason, why, sizeof task->st.reason);
        task->st.result_read = true;
    }
    fx_strlcpy(task->st.error, s_cell(table, r, error), sizeof task->st.error);
}

typedef struct {
    fx_cli_task_t *tasks;
    uint32_t n;
} s_read_t;

static void s_on_result(const fx_result_t *result, void *arg)
{
    s_read_t *read = arg;
    for (uint32_t i = 0; i < read->n; i++)
        if (strcmp(read->tasks[i].id, result->task_id) == 0)
            fx_cli_state_from_result(result, &read->tasks[i].st);
}

/* The outcome of this task is in a result fx has not read yet. */
static bool s_outcome_unread(const fx_cli_task_t *task)
{
    return !task->st.result_read &&
           (task->st.state == FX_CLI_TASK_FINISHED || task->st.state == FX_CLI_TASK_FAILED);
}

int fx_cli_tasks_read(fx_cli_link_t *link, fx_cli_task_t *tasks, uint32_t n, bool undelivered_too, char *err,
                      size_t errlen)
{
    fx_id_text_t *ids = calloc(n ? n : 1, sizeof *ids);
    if (!ids) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint32_t count = 0;
    for (uint32_t i = 0; i < n; i++)
        if (s_outcome_unread(&tasks[i]) && (tasks[i].st.delivered || undelivered_too))
            fx_strlcpy(ids[count++], tasks[i].id, sizeof ids[0]);
    s_read_t read = {tasks, n};
    int rc = count ? fx_cli_fetch(link, ids, count, s_on_result, &read, err, errlen) : 0;
    free(ids);
    return rc;
}

int64_t fx_cli_time_parse(const char *text)
{
    char *end = NULL;
    double amount = strtod(text, &end);
    if (end != text && amount >= 0) {
        static const struct {
            const char *unit;
            int64_t ms;
        } units[] = {{"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 7 * 86400000LL}};
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strcmp(end, units[i].unit) == 0)
                return fx_wall_us() / 1000 - (int64_t) (amount * (double) units[i].ms);
    }
    static const char *const formats[] = {
        "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%MZ",
        "%Y-%m-%dT%H:%M",     "%Y-%m-%d %H:%M",    "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *rest = strptime(text, formats[i], &tm);
        if (rest && *rest == '\0')
            return (int64_t) timegm(&tm) * 1000;
    }
    return -1;
}

/* ---------------------------------------------------------------- fx tasks */

/* What the filters ask. */
typedef struct {
    bool by_state;
    fx_cli_state_t state;
    const char *reason;
    const char *endpoint; /* id or name */
    const char *function; /* id or name */
    int64_t since_ms;     /* -1: any */
} s_filter_t;

typedef enum { S_NO, S_YES, S_CANNOT_TELL } s_match_t;

static s_match_t s_state_match(const s_filter_t *f, const fx_cli_task_t *t)
{
    if (!f->by_state)
        return S_YES;
    fx_cli_state_t s = t->st.state;
    if (f->state == FX_CLI_TASK_FINISHED) /* "finished": ended, however */
        return s == FX_CLI_TASK_FINISHED || s == FX_CLI_TASK_SUCCEEDED || s == FX_CLI_TASK_FAILED ? S_YES
                                                                                                  : S_NO;
    if (f->state == FX_CLI_TASK_SUCCEEDED || f->state == FX_CLI_TASK_FAILED) {
        if (s == FX_CLI_TASK_FINISHED)
            return S_CANNOT_TELL;
        if (s != f->state)
            return S_NO;
        if (!f->reason)
            return S_YES;
        if (!t->st.reason[0])
            return S_CANNOT_TELL;
        return strcmp(t->st.reason, f->reason) == 0 ? S_YES : S_NO;
    }
    return s == f->state ? S_YES : S_NO;
}

static s_match_t s_match(const s_filter_t *f, const fx_cli_task_t *t)
{
    if (f->endpoint && strcmp(f->endpoint, t->endpoint_id) != 0 && strcmp(f->endpoint, t->endpoint) != 0)
        return S_NO;
    if (f->function && strcmp(f->function, t->function_id) != 0 && strcmp(f->function, t->function) != 0)
        return S_NO;
    s_match_t m = S_YES;
    if (f->since_ms >= 0) {
        if (t->submitted_ms < 0)
            m = S_CANNOT_TELL;
        else if (t->submitted_ms < f->since_ms)
            return S_NO;
    }
    s_match_t by_state = s_state_match(f, t);
    return by_state == S_NO ? S_NO : by_state == S_CANNOT_TELL ? S_CANNOT_TELL : m;
}

static bool s_needs_outcome(const s_filter_t *f)
{
    return f->by_state && (f->state == FX_CLI_TASK_SUCCEEDED || f->state == FX_CLI_TASK_FAILED);
}

static void s_print_tasks(const fx_cli_task_t *tasks, uint32_t n)
{
    enum { COLS = 7 };
    char **cells = calloc((size_t) (n + 1) * COLS, sizeof(char *));
    char(*texts)[2][48] = calloc(n + 1, sizeof *texts);
    if (!cells || !texts)
        goto done;
    static const char *head[COLS] = {"TASK",     "FUNCTION", "STATE",   "SUBMITTED",
                                     "FINISHED", "ENDPOINT", "ATTEMPTS"};
    for (int c = 0; c < COLS; c++)
        cells[c] = (char *) head[c];
    for (uint32_t i = 0; i < n; i++) {
        const fx_cli_task_t *t = &tasks[i];
        char **row = cells + (size_t) (i + 1) * COLS;
        fx_cli_state_text(&t->st, texts[i][0], sizeof texts[i][0]);
        snprintf(texts[i][1], sizeof texts[i][1], "%u", t->attempts);
        row[0] = (char *) t->id;
        row[1] = (char *) t->function;
        row[2] = texts[i][0];
        row[3] = (char *) (t->submitted[0] ? t->submitted : "-");
        row[4] = (char *) (t->finished[0] ? t->finished : "-");
        row[5] = (char *) t->endpoint;
        row[6] = texts[i][1];
    }
    fx_cli_table_print(stdout, cells, n + 1, COLS);
done:
    free(cells);
    free(texts);
}

static int s_filter_args(const fx_cli_args_t *args, s_filter_t *f)
{
    memset(f, 0, sizeof *f);
    f->since_ms = -1;
    f->endpoint = args->endpoint;
    f->function = args->function;
    if (args->state) {
        f->by_state = true;
        if (!fx_cli_state_parse(args->state, &f->state, &f->reason))
            return fx_cli_usage_error(args->verb, "--state takes %s; not '%s'", fx_cli_state_words,
                                      args->state);
    }
    if (args->since && (f->since_ms = fx_cli_time_parse(args->since)) < 0)
        return fx_cli_usage_error(args->verb,
                                  "--since takes a UTC time (2026-12-01T10:00:00Z, 2026-12-01) or how long "
                                  "ago (90s, 30m, 2h, 7d); not '%s'",
                                  args->since);
    return FX_CLI_OK;
}

/* The notes under the table: what fx could not tell, and the next page. */
static void s_tasks_notes(uint32_t listed, uint32_t window, uint32_t matched, uint32_t first, uint32_t shown,
                          uint32_t cannot_tell, uint32_t unread, const s_filter_t *f,
                          const fx_cli_args_t *args)
{
    if (cannot_tell > 0)
        printf("note: %u task(s) could not be judged by %s: %s\n", cannot_tell,
               f->since_ms >= 0 ? "--since" : "--state",
               f->since_ms >= 0
                   ? "this broker does not say when tasks were submitted (cli/README.md: what the "
                     "task verbs need)"
                   : "their results have not been taken by their client yet, and fx does not read "
                     "such results in bulk (`fx task show TASK` reads one)");
    if (unread > 0)
        printf(
            "note: %u task(s) show 'finished': whether they succeeded is in their result, which their client "
            "has not taken yet (`fx task show TASK` or `fx result TASK` reads one)\n",
            unread);
    long page = args->page > 0 ? args->page : 1;
    if (first + shown < matched)
        printf("page %ld: tasks %u-%u of %u; --page %ld (with the same options) shows the next\n", page,
               first + 1, first + shown, matched, page + 1);
    if (listed >= window && window >= FX_LIST_ROWS_MAX)
        printf("note: the broker lists only your newest %u tasks, and cannot page further back yet "
               "(cli/README.md)\n",
               window);
}

int fx_cli_tasks(const fx_cli_args_t *args)
{
    s_filter_t f;
    int rc = s_filter_args(args, &f);
    if (rc != FX_CLI_OK)
        return rc;
    uint32_t page_size = args->limit > 0    ? (uint32_t) args->limit
                         : args->limit == 0 ? FX_LIST_ROWS_MAX
                                            : S_PAGE_DEFAULT;
    uint32_t page = args->page > 0 ? (uint32_t) args->page : 1;
    bool filtered = f.by_state || f.endpoint || f.function || f.since_ms >= 0;
    uint64_t want = (uint64_t) page * page_size;
    /* one row more than the page shows: whether there is a next page */
    uint32_t window = filtered || want >= FX_LIST_ROWS_MAX ? FX_LIST_ROWS_MAX : (uint32_t) want + 1;

    fx_cli_link_t *link = fx_cli_link_for(args);
    if (!link)
        return FX_CLI_FAILED;
    fx_cli_tables_t t;
    fx_cli_task_t *tasks = NULL;
    rc = FX_CLI_FAILED;
    if (fx_cli_tables_load(link, window, &t) != 0)
        goto done;
    uint32_t listed = t.tasks->list_reply.rows > 0 ? t.tasks->list_reply.rows - 1 : 0;
    tasks = calloc(listed ? listed : 1, sizeof *tasks);
    if (!tasks)
        goto done;
    char err[1024];
    uint32_t n = 0, cannot_tell = 0;
    for (uint32_t r = 1; r <= listed; r++)
        fx_cli_task_from_row(&t, r, &tasks[n++]);
    if (s_needs_outcome(&f) && fx_cli_tasks_read(link, tasks, n, false, err, sizeof err) != 0) {
        fx_cli_fail("%s", err);
        goto done;
    }
    uint32_t matched = 0;
    for (uint32_t i = 0; i < n; i++) {
        s_match_t m = s_match(&f, &tasks[i]);
        if (m == S_YES)
            tasks[matched++] = tasks[i];
        cannot_tell += m == S_CANNOT_TELL;
    }
    uint64_t first64 = (uint64_t) (page - 1) * page_size;
    uint32_t first = first64 < matched ? (uint32_t) first64 : matched;
    uint32_t shown = matched - first < page_size ? matched - first : page_size;
    if (!s_needs_outcome(&f) && fx_cli_tasks_read(link, tasks + first, shown, false, err, sizeof err) != 0) {
        fx_cli_fail("%s", err);
        goto done;
    }
    uint32_t unread = 0;
    for (uint32_t i = first; i < first + shown; i++)
        unread += tasks[i].st.state == FX_CLI_TASK_FINISHED;
    if (shown == 0 && (matched > 0 || page > 1))
        printf("(no tasks on page %u)\n", page);
    else if (shown == 0)
        printf("(no tasks%s)\n", filtered ? " match" : "");
    else
        s_print_tasks(tasks + first, shown);
    s_tasks_notes(listed, window, matched, first, shown, cannot_tell, unread, &f, args);
    rc = FX_CLI_OK;
done:
    free(tasks);
    fx_cli_tables_free(&t);
    fx_cli_link_destroy(&link);
    return rc;
}

/* ---------------------------------------------------------------- fx status */

int fx_cli_status(const fx_cli_args_t *args)
{
    int rc;
    fx_cli_link_t *link = fx_cli_task_link(args, &rc);
    if (!link)
        return rc;
    char err[1024];
    fx_msg_t *endpoints = NULL;
    fx_cli_task_t *tasks = NULL;
    char **cells = NULL;
    char(*texts)[2][48] = NULL;
    fx_msg_t *reply = fx_cli_status_of(link, args->argv, args->argc);
    if (!reply)
        goto done;
    endpoints = fx_cli_list(link, FX_LIST_ENDPOINTS, FX_LIST_ROWS_MAX, err, sizeof err);
    uint32_t n = reply->status_reply.count, cols = 5;
    tasks = calloc(n + 1, sizeof *tasks);
    cells = calloc((size_t) (n + 1) * cols, sizeof(char *));
    texts = calloc(n + 1, sizeof *texts);
    if (!tasks || !cells || !texts)
        goto done;
    for (uint32_t i = 0; i < n; i++) {
        fx_task_status_t *s = &reply->status_reply.tasks[i];
        fx_strlcpy(tasks[i].id, s->task_id, sizeof tasks[i].id);
        fx_cli_state_from_wire(s->state, &tasks[i].st);
    }
    if (fx_cli_tasks_read(link, tasks, n, false, err, sizeof err) != 0) {
        fx_cli_fail("%s", err);
        goto done;
    }
    static const char *head[] = {"TASK_ID", "STATE", "ENDPOINT", "ATTEMPTS", "ENDPOINT_STATUS"};
    for (uint32_t c = 0; c < cols; c++)
        cells[c] = (char *) head[c];
    for (uint32_t i = 0; i < n; i++) {
        fx_task_status_t *s = &reply->status_reply.tasks[i];
        char **row = cells + (size_t) (i + 1) * cols;
        fx_cli_state_text(&tasks[i].st, texts[i][0], sizeof texts[i][0]);
        snprintf(texts[i][1], sizeof texts[i][1], "%u", s->attempts);
        row[0] = s->task_id;
        row[1] = texts[i][0];
        row[2] = s->endpoint_id[0] ? s->endpoint_id : "-";
        row[3] = texts[i][1];
        /* a queued task on an offline endpoint waits for it, durably: say so */
        const char *ep = fx_cli_lookup(endpoints, s->endpoint_id, "status");
        ep = ep && ep[0] ? ep : "-";
        row[4] =
            (char *) (s->state == FX_TASK_QUEUED && strcmp(ep, "offline") == 0 ? "offline (task waits for it)"
                                                                               : ep);
    }
    fx_cli_table_print(stdout, cells, n + 1, cols);
    rc = FX_CLI_OK;
done:
    free(cells);
    free(texts);
    free(tasks);
    fx_msg_destroy(&endpoints);
    fx_msg_destroy(&reply);
    fx_cli_link_destroy(&link);
    return rc;
}
