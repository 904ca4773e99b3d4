/*  fx_cli_remote.c: the commands that ask the broker: endpoints, functions,
    tasks (LIST) and status (STATUS). One DEALER, one HELLO, one request,
    one reply, all within one deadline (--timeout, 10 s by default): a
    broker that is down, or that denies our key (CurveZMQ then says
    nothing at all), costs the user that long and a clear sentence, never a
    hang. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

typedef struct {
    zsock_t *sock;
    const char *addr;
    uint32_t seq;
    int64_t deadline;
    int64_t timeout_ms;
} s_link_t;

static const char *s_state_names[] = {"UNKNOWN", "QUEUED", "DISPATCHED", "DONE", "DELIVERED", "FAILED"};

static const char *s_creds_path(const char *given, char *buf, size_t cap)
{
    if (given != NULL)
        return given;
    const char *env = getenv("FX_CREDS");
    if (env != NULL && env[0] != '\0')
        return env;
    const char *home = getenv("HOME");
    snprintf(buf, cap, "%s/.fx/credentials", home ? home : ".");
    return buf;
}

/* Send msg (taken) with the next seq; the seq, or 0 if the send failed. */
static uint32_t s_send(s_link_t *link, fx_msg_t **msg_p)
{
    uint32_t seq = ++link->seq;
    (*msg_p)->seq = seq;
    int rc = fx_msg_send(msg_p, link->sock, NULL);
    if (rc != FX_OK) {
        fx_cli_fail("cannot send to the broker at %s: %s", link->addr, fx_strerror(rc));
        return 0;
    }
    return seq;
}

/* The reply to seq of type `want` (or ERROR), skipping anything else (a
   HEARTBEAT, pushed RESULTS). NULL after printing why. */
static fx_msg_t *s_reply(s_link_t *link, uint32_t seq, fx_msg_type_t want, const char *what)
{
    while (true) {
        int64_t left = link->deadline - fx_now_ms();
        if (left <= 0)
            break;
        zmq_pollitem_t item = {zsock_resolve(link->sock), 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, (long) left);
        if (rc < 0)
            break;
        if (rc == 0)
            continue;
        zmsg_t *zmsg = zmsg_recv(link->sock);
        if (zmsg == NULL)
            break;
        fx_msg_t *msg = NULL;
        uint32_t got_seq = 0;
        const char *detail = NULL;
        int code = fx_msg_decode(zmsg, &msg, &got_seq, &detail);
        zmsg_destroy(&zmsg);
        if (code != FX_OK) {
            fx_cli_fail("the broker at %s sent a message this fx cannot read: %s: %s (are "
                        "fx and fx-broker the same version?)",
                        link->addr, fx_strerror(code), detail ? detail : "");
            return NULL;
        }
        if (msg->seq == seq && msg->type == FX_MSG_ERROR) {
            fx_cli_fail("the broker refused %s: %s: %s", what, fx_errname(msg->error.code),
                        msg->error.text ? msg->error.text : fx_strerror(msg->error.code));
            fx_msg_destroy(&msg);
            return NULL;
        }
        if (msg->seq == seq && msg->type == want)
            return msg;
        fx_msg_destroy(&msg);
    }
    fx_cli_fail("broker at %s did not answer within %lld s: is it running, and is your key "
                "registered (fx user create)?",
                link->addr, (long long) (link->timeout_ms / 1000));
    return NULL;
}

static int s_connect(s_link_t *link, const fx_cli_args_t *args, fx_creds_t *creds)
{
    char buf[4096], err[512] = "";
    const char *path = s_creds_path(args->creds, buf, sizeof buf);
    if (fx_creds_load(path, creds, err, sizeof err) != 0) {
        fx_cli_fail("%s (pass --creds FILE, written by 'fx user create')", err);
        return -1;
    }
    link->addr = creds->broker_client;
    link->timeout_ms = args->timeout_ms;
    link->deadline = fx_now_ms() + args->timeout_ms;
    link->sock = zsock_new(ZMQ_DEALER);
    if (link->sock == NULL) {
        fx_cli_fail("cannot create a ZeroMQ socket");
        return -1;
    }
    zsock_set_linger(link->sock, 0);
    zsock_set_sndtimeo(link->sock, 0);
    fx_keypair_t kp;
    memcpy(kp.public_key, creds->public_key, sizeof kp.public_key);
    memcpy(kp.secret_key, creds->secret_key, sizeof kp.secret_key);
    fx_curve_client(link->sock, &kp, creds->broker_public_key);
    if (zsock_connect(link->sock, "%s", creds->broker_client) != 0) {
        fx_cli_fail("cannot connect to '%s' (from %s): %s", creds->broker_client, path,
                    zmq_strerror(zmq_errno()));
        return -1;
    }
    fx_msg_t *hello = fx_msg_new(FX_MSG_HELLO);
    if (hello == NULL)
        return -1;
    fx_id_new(hello->hello.client_id);
    fx_strlcpy(hello->hello.client_version, FX_VERSION, sizeof hello->hello.client_version);
    uint32_t seq = s_send(link, &hello);
    if (seq == 0)
        return -1;
    fx_msg_t *welcome = s_reply(link, seq, FX_MSG_WELCOME, "HELLO");
    if (welcome == NULL)
        return -1;
    fx_msg_destroy(&welcome);
    return 0;
}

static int s_list(s_link_t *link, const char *what, uint32_t limit)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_LIST);
    if (req == NULL)
        return FX_CLI_FAILED;
    req->list.what = strcmp(what, "endpoints") == 0   ? FX_LIST_ENDPOINTS
                     : strcmp(what, "functions") == 0 ? FX_LIST_FUNCTIONS
                                                      : FX_LIST_TASKS;
    req->list.limit = limit;
    uint32_t seq = s_send(link, &req);
    fx_msg_t *reply = seq ? s_reply(link, seq, FX_MSG_LIST_REPLY, "LIST") : NULL;
    if (reply == NULL)
        return FX_CLI_FAILED;
    if (reply->list_reply.rows <= 1)
        printf("(no %s)\n", what);
    else
        fx_cli_table_print(stdout, reply->list_reply.cells, reply->list_reply.rows, reply->list_reply.cols);
    fx_msg_destroy(&reply);
    return FX_CLI_OK;
}

/* The endpoints table (LIST), or NULL: lets `fx status` say that a queued
   task waits for an offline endpoint. */
static fx_msg_t *s_endpoints(s_link_t *link)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_LIST);
    if (req == NULL)
        return NULL;
    req->list.what = FX_LIST_ENDPOINTS;
    req->list.limit = FX_LIST_ROWS_MAX;
    uint32_t seq = s_send(link, &req);
    return seq ? s_reply(link, seq, FX_MSG_LIST_REPLY, "LIST") : NULL;
}

/* The column of the endpoints table named one of names[], else fallback
   (the broker adds columns over time: look them up, never assume a place). */
static uint32_t s_column(const fx_msg_t *table, const char *const *names, uint32_t fallback)
{
    for (uint32_t c = 0; c < table->list_reply.cols; c++) {
        const char *head = table->list_reply.cells[c];
        for (int i = 0; head && names[i]; i++)
            if (strcmp(head, names[i]) == 0)
                return c;
    }
    return fallback;
}

/* "online"/"offline" for an endpoint id from the endpoints table, or "-". */
static const char *s_endpoint_status(const fx_msg_t *table, const char *endpoint_id)
{
    static const char *const id_names[] = {"id", "endpoint_id", NULL};
    static const char *const status_names[] = {"status", "state", NULL};
    if (table == NULL || table->list_reply.rows == 0 || table->list_reply.cols < 3)
        return "-";
    uint32_t cols = table->list_reply.cols;
    uint32_t id_col = s_column(table, id_names, 0);
    uint32_t status_col = s_column(table, status_names, 2);
    for (uint32_t row = 1; row < table->list_reply.rows; row++) {
        char **cells = table->list_reply.cells + (size_t) row * cols;
        if (cells[id_col] && strcmp(cells[id_col], endpoint_id) == 0)
            return cells[status_col] ? cells[status_col] : "-";
    }
    return "-";
}

static int s_status(s_link_t *link, int count, char **ids)
{
    fx_msg_t *req = fx_msg_new(FX_MSG_STATUS);
    if (req == NULL || fx_msg_alloc_records(req, (uint32_t) count) != FX_OK) {
        fx_msg_destroy(&req);
        return FX_CLI_FAILED;
    }
    for (int i = 0; i < count; i++)
        fx_strlcpy(req->ids.ids[i], ids[i], sizeof req->ids.ids[i]);
    uint32_t seq = s_send(link, &req);
    fx_msg_t *reply = seq ? s_reply(link, seq, FX_MSG_STATUS_REPLY, "STATUS") : NULL;
    if (reply == NULL)
        return FX_CLI_FAILED;
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
    zsys_handler_set(NULL); /* Ctrl-C ends the command at once */
    s_link_t link = {0};
    fx_creds_t creds;
    int rc = FX_CLI_FAILED;
    if (s_connect(&link, args, &creds) == 0) {
        if (strcmp(args->argv[0], "status") == 0)
            rc = s_status(&link, args->argc - 1, args->argv + 1);
        else
            rc = s_list(&link, args->argv[0], args->limit);
    }
    zsock_destroy(&link.sock);
    return rc;
}
