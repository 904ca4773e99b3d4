/*  fx_cli_tasks.c: `fx tasks` and `fx status`, and what the task verbs
    share: the broker's listings joined (a task's function and endpoint by
    name), and its states as users read them (fx_cli_state.c).

    `fx tasks` asks the broker's LIST of tasks (SPEC 5.16) with its filters
    (--state, --endpoint, --function, --since: the broker filters, through
    its indexes) and pages by the broker's cursor: a page of --limit rows
    (default 50), newest first, then a line naming the cursor of the next
    page (--before CURSOR); --all follows the cursor to the end, printing
    each page as it comes. The listing says each task's state and reason
    itself, so `fx tasks` reads no result. */
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

/* What LIST tasks is asked (SPEC 5.16): the filters, from the options. */
typedef struct {
    char state[FX_VERSION_MAX + 1];
    fx_id_text_t endpoint_id;
    const char *function;
    uint64_t since_ms;
    uint64_t before;
    uint32_t page; /* rows a page */
} s_query_t;

static int s_query_args(const fx_cli_args_t *args, s_query_t *q)
{
    memset(q, 0, sizeof *q);
    if (args->state && !fx_cli_state_word(args->state, q->state, sizeof q->state))
        return fx_cli_usage_error(args->verb, "--state takes %s; not '%s'", fx_cli_state_words, args->state);
    if (args->since) {
        int64_t ms = fx_cli_time_parse(args->since);
        if (ms < 0)
            return fx_cli_usage_error(
                args->verb,
                "--since takes a UTC time (2026-12-01T10:00:00Z, 2026-12-01) or how long "
                "ago (90s, 30m, 2h, 7d); not '%s'",
                args->since);
        q->since_ms = ms > 0 ? (uint64_t) ms : 1;
    }
    if (args->before) {
        char *end = NULL;
        unsigned long long cursor = strtoull(args->before, &end, 10);
        if (!args->before[0] || *end || args->before[0] == '-' || cursor == 0 || cursor > INT64_MAX)
            return fx_cli_usage_error(args->verb,
                                      "--before takes the cursor that the line under the last page names "
                                      "(a number); not '%s'",
                                      args->before);
        q->before = cursor;
    }
    if (args->before && args->all)
        return fx_cli_usage_error(args->verb, "--before and --all: give one (--all starts from the newest)");
    q->function = args->function;
    q->page = args->limit > 0    ? (uint32_t) args->limit
              : args->limit == 0 ? FX_LIST_ROWS_MAX
              : args->all        ? FX_LIST_ROWS_MAX
                                 : S_PAGE_DEFAULT;
    return FX_CLI_OK;
}

/* --endpoint ID|NAME as an id, by the endpoints' table. -1 after saying
   why (no endpoint of that name, or several). */
static int s_endpoint_id(const char *endpoint, const fx_msg_t *endpoints, fx_id_text_t out)
{
    if (fx_id_valid(endpoint)) {
        fx_strlcpy(out, endpoint, sizeof(fx_id_text_t));
        return 0;
    }
    int id_col = fx_cli_column(endpoints, "id"), name_col = fx_cli_column(endpoints, "name");
    int found = 0;
    for (uint32_t r = 1; r < endpoints->list_reply.rows; r++)
        if (strcmp(fx_cli_cell(endpoints, r, name_col), endpoint) == 0 && found++ == 0)
            fx_strlcpy(out, fx_cli_cell(endpoints, r, id_col), sizeof(fx_id_text_t));
    if (found == 1)
        return 0;
    if (found == 0)
        fx_cli_fail("no endpoint of yours is named '%s' (`fx endpoints` lists them; --endpoint takes an id "
                    "or a name)",
                    endpoint);
    else
        fx_cli_fail("%d of your endpoints are named '%s': give --endpoint the id of one (`fx endpoints`)",
                    found, endpoint);
    return -1;
}

/* One page: LIST tasks of at most want rows below q->before. */
static fx_msg_t *s_page(fx_cli_link_t *link, const s_query_t *q, uint32_t want)
{
    char err[1024];
    fx_msg_t *req = fx_msg_new(FX_MSG_LIST);
    if (req) {
        req->list.what = FX_LIST_TASKS;
        req->list.limit = want;
        fx_strlcpy(req->list.state, q->state, sizeof req->list.state);
        fx_strlcpy(req->list.endpoint_id, q->endpoint_id, sizeof req->list.endpoint_id);
        fx_strlcpy(req->list.function, q->function ? q->function : "", sizeof req->list.function);
        req->list.since_ms = q->since_ms;
        req->list.before = q->before;
    }
    fx_msg_t *reply = fx_cli_link_call(link, &req, FX_MSG_LIST_REPLY, err, sizeof err);
    if (!reply)
        fx_cli_fail("%s", err);
    return reply;
}

/* Prints rows 1..n of t->tasks (the header too if first), widths kept
   across pages. */
static int s_print_page(const fx_cli_tables_t *t, uint32_t n, bool first, size_t *widths)
{
    enum { COLS = 7 };
    fx_cli_task_t *tasks = calloc(n + 1, sizeof *tasks);
    char **cells = calloc((size_t) (n + 1) * COLS, sizeof(char *));
    char(*texts)[2][48] = calloc(n + 1, sizeof *texts);
    int rc = tasks && cells && texts ? 0 : -1;
    static const char *head[COLS] = {"TASK",     "FUNCTION", "STATE",   "SUBMITTED",
                                     "FINISHED", "ENDPOINT", "ATTEMPTS"};
    for (int c = 0; rc == 0 && c < COLS; c++)
        cells[c] = (char *) head[c];
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        fx_cli_task_t *task = &tasks[i];
        fx_cli_task_from_row(t, i + 1, task);
        char **row = cells + (size_t) (i + 1) * COLS;
        fx_cli_state_text(&task->st, texts[i][0], sizeof texts[i][0]);
        snprintf(texts[i][1], sizeof texts[i][1], "%u", task->attempts);
        row[0] = task->id;
        row[1] = task->function;
        row[2] = texts[i][0];
        row[3] = task->submitted[0] ? task->submitted : "-";
        row[4] = task->finished[0] ? task->finished : "-";
        row[5] = task->endpoint;
        row[6] = texts[i][1];
    }
    if (rc == 0)
        fx_cli_table_print_page(stdout, cells, n + 1, COLS, widths, first ? 0 : 1);
    else
        fx_cli_fail("out of memory");
    free(tasks);
    free(cells);
    free(texts);
    return rc;
}

int fx_cli_tasks(const fx_cli_args_t *args)
{
    s_query_t q;
    int rc = s_query_args(args, &q);
    if (rc != FX_CLI_OK)
        return rc;
    bool filtered = q.state[0] || args->endpoint || q.function || q.since_ms;
    fx_cli_link_t *link = fx_cli_link_for(args);
    if (!link)
        return FX_CLI_FAILED;
    fx_cli_tables_t t;
    rc = FX_CLI_FAILED;
    if (fx_cli_tables_load(link, 0, &t) != 0)
        goto done;
    if (args->endpoint && s_endpoint_id(args->endpoint, t.endpoints, q.endpoint_id) != 0)
        goto done;
    size_t widths[7] = {0};
    uint32_t shown = 0;
    for (;;) {
        /* one row more than a page (where the protocol allows it): whether
           there is a next one */
        uint32_t want = args->all || q.page >= FX_LIST_ROWS_MAX ? q.page : q.page + 1;
        fx_msg_destroy(&t.tasks);
        if (!(t.tasks = s_page(link, &q, want)))
            goto done;
        uint32_t n = t.tasks->list_reply.rows > 0 ? t.tasks->list_reply.rows - 1 : 0;
        uint32_t page = n < q.page ? n : q.page;
        if (page > 0 && s_print_page(&t, page, shown == 0, widths) != 0)
            goto done;
        shown += page;
        fflush(stdout);
        const char *cursor = page > 0 ? fx_cli_cell(t.tasks, page, fx_cli_column(t.tasks, "cursor")) : "";
        bool more = n > page || (n == q.page && q.page >= FX_LIST_ROWS_MAX);
        if (args->all && n == q.page && cursor[0]) {
            q.before = strtoull(cursor, NULL, 10);
            continue;
        }
        if (shown == 0)
            printf("(no tasks%s%s)\n", filtered ? " match" : "", q.before ? " before that cursor" : "");
        else if (more && cursor[0])
            printf("more: `fx tasks --before %s` with the same options shows the next page%s; --all every "
                   "page\n",
                   cursor, n > page ? "" : " (if there is one)");
        break;
    }
    rc = FX_CLI_OK;
done:
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
