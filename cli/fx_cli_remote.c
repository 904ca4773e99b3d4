/*  fx_cli_remote.c: the commands that ask the broker: endpoints, functions,
    tasks (LIST) and status (STATUS), each over one fx_cli_link session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

static const char *s_state_names[] = {"UNKNOWN", "QUEUED", "DISPATCHED", "DONE", "DELIVERED", "FAILED"};

static int s_list(fx_cli_link_t *link, const char *what, uint32_t limit)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_LIST);
    if (req) {
        req->list.what = strcmp(what, "endpoints") == 0   ? FX_LIST_ENDPOINTS
                         : strcmp(what, "functions") == 0 ? FX_LIST_FUNCTIONS
                                                          : FX_LIST_TASKS;
        req->list.limit = limit;
    }
    char err[1024];
    fx_msg_t *reply = fx_cli_link_call(link, &req, FX_MSG_LIST_REPLY, err, sizeof err);
    if (reply == NULL) {
        fx_cli_fail("%s", err);
        return FX_CLI_FAILED;
    }
    if (reply->list_reply.rows <= 1)
        printf("(no %s)\n", what);
    else
        fx_cli_table_print(stdout, reply->list_reply.cells, reply->list_reply.rows, reply->list_reply.cols);
    fx_msg_destroy(&reply);
    return FX_CLI_OK;
}

/* The endpoints table (LIST), or NULL: lets `fx status` say that a queued
   task waits for an offline endpoint. */
static fx_msg_t *s_endpoints(fx_cli_link_t *link)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_LIST);
    if (req) {
        req->list.what = FX_LIST_ENDPOINTS;
        req->list.limit = FX_LIST_ROWS_MAX;
    }
    char err[1024];
    return fx_cli_link_call(link, &req, FX_MSG_LIST_REPLY, err, sizeof err);
}

/* "online"/"offline" for an endpoint id from the endpoints table, or "-". */
static const char *s_endpoint_status(const fx_msg_t *table, const char *endpoint_id)
{
    int id_col = fx_cli_column(table, "id");
    int status_col = fx_cli_column(table, "status");
    if (id_col < 0 || status_col < 0)
        return "-";
    uint32_t cols = table->list_reply.cols;
    for (uint32_t row = 1; row < table->list_reply.rows; row++) {
        char **cells = table->list_reply.cells + (size_t) row * cols;
        if (cells[id_col] && strcmp(cells[id_col], endpoint_id) == 0)
            return cells[status_col] ? cells[status_col] : "-";
    }
    return "-";
}

static int s_status(fx_cli_link_t *link, int count, char **ids)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_STATUS);
    if (req == NULL || fx_msg_alloc_records(req, (uint32_t) count) != FX_OK) {
        fx_msg_destroy(&req);
        return FX_CLI_FAILED;
    }
    for (int i = 0; i < count; i++)
        fx_strlcpy(req->ids.ids[i], ids[i], sizeof req->ids.ids[i]);
    char err[1024];
    fx_msg_t *reply = fx_cli_link_call(link, &req, FX_MSG_STATUS_REPLY, err, sizeof err);
    if (reply == NULL) {
        fx_cli_fail("%s", err);
        return FX_CLI_FAILED;
    }
    fx_msg_t *endpoints = s_endpoints(link);
    uint32_t n = reply->status_reply.count;
    uint32_t cols = 5;
    char **cells = calloc((size_t) (n + 1) * cols, sizeof(char *));
    char(*numbers)[16] = calloc(n + 1, sizeof *numbers);
    int rc = FX_CLI_FAILED;
    if (cells == NULL || numbers == NULL)
        goto cleanup;
    cells[0] = "TASK_ID";
    cells[1] = "STATE";
    cells[2] = "ENDPOINT";
    cells[3] = "ATTEMPTS";
    cells[4] = "ENDPOINT_STATUS";
    for (uint32_t i = 0; i < n; i++) {
        fx_task_status_t *t = &reply->status_reply.tasks[i];
        snprintf(numbers[i], sizeof numbers[i], "%u", t->attempts);
        cells[(i + 1) * cols + 0] = t->task_id;
        cells[(i + 1) * cols + 1] = (char *) (t->state <= FX_TASK_FAILED ? s_state_names[t->state] : "?");
        cells[(i + 1) * cols + 2] = t->endpoint_id[0] ? t->endpoint_id : "-";
        cells[(i + 1) * cols + 3] = numbers[i];
        /* a queued task on an offline endpoint waits for it, durably: say so */
        const char *ep_status = t->endpoint_id[0] ? s_endpoint_status(endpoints, t->endpoint_id) : "-";
        cells[(i + 1) * cols + 4] = (char *) (t->state == FX_TASK_QUEUED && strcmp(ep_status, "offline") == 0
                                                  ? "offline (task waits for it)"
                                                  : ep_status);
    }
    fx_cli_table_print(stdout, cells, n + 1, cols);
    rc = FX_CLI_OK;
cleanup:
    free(cells);
    free(numbers);
    fx_msg_destroy(&endpoints);
    fx_msg_destroy(&reply);
    return rc;
}

int fx_cli_remote(const fx_cli_args_t *args)
{
    const char *verb = args->verb->words;
    if (strcmp(verb, "status") == 0)
        for (int i = 0; i < args->argc; i++)
            if (!fx_id_valid(args->argv[i]))
                return fx_cli_usage_error(args->verb, "'%s' is not a task id (a lowercase UUID)",
                                          args->argv[i]);
    zsys_handler_set(NULL); /* Ctrl-C ends the command at once */
    char buf[PATH_MAX], err[1024];
    bool unreachable = false;
    int64_t timeout_ms = args->timeout_s > 0 ? args->timeout_s * 1000 : FX_CLI_TIMEOUT_MS;
    fx_cli_link_t *link = fx_cli_link_open(fx_cli_creds_path(args->creds, buf, sizeof buf), timeout_ms, err,
                                           sizeof err, &unreachable);
    if (!link) {
        fx_cli_fail("%s", err);
        return FX_CLI_FAILED;
    }
    int rc = strcmp(verb, "status") == 0 ? s_status(link, args->argc, args->argv)
                                         : s_list(link, verb, args->limit > 0 ? (uint32_t) args->limit : 0);
    fx_cli_link_destroy(&link);
    return rc;
}
