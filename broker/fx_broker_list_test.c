/*  fx_broker_list_test.c: LIST tasks' filters and cursor on the real
    fx-broker (issue 9; SPEC 5.0, 5.16, 5.17). One ctest entry per
    scenario, each on a fresh world:

      filters      each filter of LIST tasks (the users' states, reasons of
                   failure, endpoint, function by id and by name, since_ms,
                   and two together) lists exactly the tasks it names,
                   newest first, with the users' state and reason in their
                   cells; another user sees none of them
      cursor       paging with before = the last row's cursor reads every
                   task once, in order, skipping none, while new tasks
                   arrive between the pages (they are not in the later
                   pages); the same with a filter; past 1,000 tasks
      bad_fields   a state not in SPEC 5.0, since_ms or before above
                   2^63-1: ERROR FX_E_BAD_FIELD naming the field and what
                   it takes; the filters of a LIST of endpoints are ignored;
                   the session works on

    Usage: fx_broker_list_test PATH_TO_FX_BROKER [SCENARIO...] [-- WRAPPER ARGS...] */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt.h"
#include "fx_clock.h"

/* The columns of a task listing (SPEC 5.17), by name. */
typedef struct {
    int id, state, endpoint, function, reason, cursor;
} s_cols_t;

static int s_col(const fx_msg_t *msg, const char *name)
{
    for (uint32_t c = 0; c < msg->list_reply.cols; c++)
        if (msg->list_reply.cells[c] && strcmp(msg->list_reply.cells[c], name) == 0)
            return (int) c;
    return -1;
}

static const char *s_cell(const fx_msg_t *msg, uint32_t row, int col)
{
    const char *cell = col >= 0 ? msg->list_reply.cells[row * msg->list_reply.cols + (uint32_t) col] : NULL;
    return cell ? cell : "";
}

/* A LIST of tasks as the filter fields say; returns the seq. */
static uint32_t s_list_send(bt_peer_t *client, uint32_t limit, const char *state, const char *endpoint,
                            const char *function, uint64_t since_ms, uint64_t before)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_TASKS;
    msg->list.limit = limit;
    fx_strlcpy(msg->list.state, state ? state : "", sizeof msg->list.state);
    fx_strlcpy(msg->list.endpoint_id, endpoint ? endpoint : "", sizeof msg->list.endpoint_id);
    fx_strlcpy(msg->list.function, function ? function : "", sizeof msg->list.function);
    msg->list.since_ms = since_ms;
    msg->list.before = before;
    return bt_send(client, msg);
}

/* The same, expecting LIST_REPLY: the task ids it lists into ids (at most
   max), their number; -1 if no reply. Checks the columns, that cursors
   fall down the listing, and that each row's state (and reason) is the
   filter's when the filter is a state or a reason. *last: the last row's
   cursor (0 if none). */
static int s_list(bt_peer_t *client, uint32_t limit, const char *state, const char *endpoint,
                  const char *function, uint64_t since_ms, uint64_t before, fx_id_text_t *ids, uint32_t max,
                  uint64_t *last)
{
    uint32_t seq = s_list_send(client, limit, state, endpoint, function, since_ms, before);
    fx_msg_t *msg = bt_expect(client, FX_MSG_LIST_REPLY, seq);
    if (last)
        *last = 0;
    if (!msg)
        return -1;
    s_cols_t c = {s_col(msg, "id"),       s_col(msg, "state"),  s_col(msg, "endpoint"),
                  s_col(msg, "function"), s_col(msg, "reason"), s_col(msg, "cursor")};
    CHECK(c.id >= 0 && c.state >= 0 && c.endpoint >= 0 && c.function >= 0 && c.reason >= 0 && c.cursor >= 0);
    uint32_t n = msg->list_reply.rows > 0 ? msg->list_reply.rows - 1 : 0;
    uint64_t previous = UINT64_MAX;
    bool a_state = state && (!strcmp(state, "queued") || !strcmp(state, "dispatched") ||
                             !strcmp(state, "succeeded") || !strcmp(state, "failed"));
    for (uint32_t r = 1; r <= n; r++) {
        uint64_t cursor = strtoull(s_cell(msg, r, c.cursor), NULL, 10);
        CHECK(cursor > 0 && cursor < previous, "row %u: cursor %llu after %llu", r,
              (unsigned long long) cursor, (unsigned long long) previous);
        previous = cursor;
        if (state && state[0] && a_state)
            CHECK(strcmp(s_cell(msg, r, c.state), state) == 0, "row %u: state %s, asked %s", r,
                  s_cell(msg, r, c.state), state);
        else if (state && state[0])
            CHECK(strcmp(s_cell(msg, r, c.state), "failed") == 0 &&
                      strcmp(s_cell(msg, r, c.reason), state) == 0,
                  "row %u: %s (%s), asked %s", r, s_cell(msg, r, c.state), s_cell(msg, r, c.reason), state);
        if (endpoint && endpoint[0])
            CHECK(strcmp(s_cell(msg, r, c.endpoint), endpoint) == 0);
        if (r <= max)
            fx_strlcpy(ids[r - 1], s_cell(msg, r, c.id), sizeof ids[0]);
        if (last)
            *last = cursor;
    }
    fx_msg_destroy(&msg);
    return (int) n;
}

/* got (n of them) are exactly want (m of them), in that order. */
static bool s_same(const fx_id_text_t *got, int n, const fx_id_text_t *want, int m)
{
    if (n != m)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(got[i], want[i]) != 0)
            return false;
    return true;
}

/* The listing with these filters is exactly the ids after since, newest
   first (a NULL ends them). */
static void s_list_is(bt_peer_t *client, const char *state, const char *endpoint, const char *function,
                      uint64_t since, ...)
{
    fx_id_text_t got[64], want[64];
    int m = 0;
    va_list ap;
    va_start(ap, since);
    for (const char *id = va_arg(ap, const char *); id && m < 64; id = va_arg(ap, const char *))
        fx_strlcpy(want[m++], id, sizeof want[0]);
    va_end(ap);
    int n = s_list(client, 0, state, endpoint, function, since, 0, got, 64, NULL);
    CHECK(s_same(got, n, want, m),
          "LIST by %s state='%s' endpoint=%s function=%s since=%llu: %d rows, %d wanted", client->name, state,
          endpoint ? endpoint : "-", function ? function : "-", (unsigned long long) since, n, m);
}

/* A function of Alice's named name, with the world's body and entry (so
   bt_take_tasks takes its tasks). */
static void s_function(bt_world_t *w, fx_id_text_t id, const char *name)
{
    fx_id_new(id);
    fx_msg_t *msg = fx_msg_new(FX_MSG_REGISTER_FUNCTION);
    memcpy(msg->register_function.function_id, id, sizeof(fx_id_text_t));
    fx_strlcpy(msg->register_function.name, name, sizeof msg->register_function.name);
    msg->register_function.kind = FX_FN_PYTHON;
    fx_strlcpy(msg->register_function.entry, "double", sizeof msg->register_function.entry);
    msg->register_function.body = zframe_new("def double(x): return 2 * x\n", 28);
    msg = bt_expect(w->alice_c, FX_MSG_FUNCTION_REGISTERED, bt_send(w->alice_c, msg));
    fx_msg_destroy(&msg);
}

/* RESULTS of one task with this status and error code; waits for the ack. */
static void s_result(bt_peer_t *ep, const char *task_id, int status, int code)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, 1);
    fx_result_t *r = &msg->results.results[0];
    fx_strlcpy(r->task_id, task_id, sizeof r->task_id);
    r->status = (uint8_t) status;
    r->error_code = (uint16_t) code;
    r->error_text = strdup(status == FX_RESULT_OK ? "" : "ValueError: no good\nmore");
    r->value = zframe_new("v", 1);
    r->output = zframe_new("", 0);
    msg = bt_expect(ep, FX_MSG_RESULTS_ACK, bt_send(ep, msg));
    fx_msg_destroy(&msg);
}

/* Waits until the wall clock has passed ms (submission times are in ms). */
static void s_clock_past(int64_t ms)
{
    while (fx_wall_us() / 1000 <= ms)
        ;
}

static void scenario_filters(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t fn_b, ep2, a[6], b[2], q[2], taken[8];
    s_function(&w, fn_b, "triple");
    fx_keypair_t ep2_kp;
    fx_keypair_new(&ep2_kp);
    fx_id_new(ep2);
    fx_msg_t *msg = bt_expect(w.alice_c, FX_MSG_ENDPOINT_REGISTERED,
                              bt_register_endpoint(w.alice_c, ep2, "cluster", ep2_kp.public_key));
    fx_msg_destroy(&msg);
    /* a[]: double on the laptop; then, later, b[]: triple on the laptop,
       q[]: triple on the cluster, which never connects */
    bt_submit_ok(w.alice_c, w.ep, w.fn, 6, a);
    int64_t between = fx_wall_us() / 1000;
    s_clock_past(between);
    bt_submit_ok(w.alice_c, w.ep, fn_b, 2, b);
    bt_submit_ok(w.alice_c, ep2, fn_b, 2, q);
    bt_credit(w.endpoint, 8);
    BT_REQUIRE(bt_take_tasks(w.endpoint, 8, taken, NULL) == 8);
    s_result(w.endpoint, a[0], FX_RESULT_OK, 0);
    s_result(w.endpoint, a[1], FX_RESULT_EXCEPTION, 0);
    s_result(w.endpoint, a[2], FX_RESULT_ERROR, FX_E_WALLTIME);
    s_result(w.endpoint, b[0], FX_RESULT_OK, 0);
    /* Alice lists on a session of her own: the results are pushed to the
       client that submitted the tasks, alice_c */
    fx_id_text_t client2;
    fx_id_new(client2);
    bt_peer_t *alice = bt_peer_new("alice2", w.broker.client_addr, &w.alice_kp, w.broker.public_key);
    bt_session(alice, client2, w.alice);
    /* q[1] cancelled before it left the broker */
    fx_msg_t *cancel = fx_msg_new(FX_MSG_CANCEL);
    fx_msg_alloc_records(cancel, 1);
    memcpy(cancel->cancel.ids[0], q[1], sizeof(fx_id_text_t));
    msg = bt_expect(alice, FX_MSG_STATUS_REPLY, bt_send(alice, cancel));
    CHECK(msg && msg->status_reply.count == 1 && msg->status_reply.tasks[0].state == FX_TASK_FAILED);
    fx_msg_destroy(&msg);

    /* newest first: q1 q0 b1 b0 a5 .. a0 */
    s_list_is(alice, "", NULL, NULL, 0, q[1], q[0], b[1], b[0], a[5], a[4], a[3], a[2], a[1], a[0], NULL);
    s_list_is(alice, "queued", NULL, NULL, 0, q[0], NULL);
    s_list_is(alice, "dispatched", NULL, NULL, 0, b[1], a[5], a[4], a[3], NULL);
    s_list_is(alice, "succeeded", NULL, NULL, 0, b[0], a[0], NULL);
    s_list_is(alice, "failed", NULL, NULL, 0, q[1], a[2], a[1], NULL);
    s_list_is(alice, "exception", NULL, NULL, 0, a[1], NULL);
    s_list_is(alice, "walltime", NULL, NULL, 0, a[2], NULL);
    s_list_is(alice, "cancelled", NULL, NULL, 0, q[1], NULL);
    s_list_is(alice, "worker lost", NULL, NULL, 0, NULL);
    s_list_is(alice, "error", NULL, NULL, 0, NULL);
    s_list_is(alice, "", ep2, NULL, 0, q[1], q[0], NULL);
    s_list_is(alice, "dispatched", w.ep, NULL, 0, b[1], a[5], a[4], a[3], NULL);
    s_list_is(alice, "", NULL, fn_b, 0, q[1], q[0], b[1], b[0], NULL);
    s_list_is(alice, "", NULL, "triple", 0, q[1], q[0], b[1], b[0], NULL);
    s_list_is(alice, "succeeded", NULL, "triple", 0, b[0], NULL);
    s_list_is(alice, "", w.ep, "triple", 0, b[1], b[0], NULL);
    s_list_is(alice, "", NULL, "no such function", 0, NULL);
    s_list_is(alice, "", NULL, NULL, (uint64_t) between + 1, q[1], q[0], b[1], b[0], NULL);
    s_list_is(alice, "failed", NULL, NULL, (uint64_t) between + 1, q[1], NULL);
    s_list_is(alice, "", NULL, NULL, (uint64_t) fx_wall_us() / 1000 + 3600000, NULL);
    /* Bob: none of Alice's, by any filter */
    s_list_is(w.bob_c, "", NULL, NULL, 0, NULL);
    s_list_is(w.bob_c, "", w.ep, NULL, 0, NULL);
    s_list_is(w.bob_c, "", NULL, w.fn, 0, NULL);
    bt_peer_destroy(&alice);
    bt_world_teardown(&w);
}

/* Pages of limit rows with before = the last cursor, submitting `arrive`
   new tasks to endpoint (function fn) after each page; the ids read into
   got (at most max). Returns how many were read. */
static uint32_t s_pages(bt_world_t *w, uint32_t limit, const char *function, const char *fn, uint32_t arrive,
                        fx_id_text_t *got, uint32_t max)
{
    uint32_t n = 0;
    uint64_t before = 0;
    fx_id_text_t *fresh = calloc(arrive ? arrive : 1, sizeof *fresh);
    for (int pages = 0; pages < 100 && fresh; pages++) {
        uint64_t last = 0;
        int rows = s_list(w->alice_c, limit, NULL, NULL, function, 0, before, got + n, max - n, &last);
        if (rows < 0)
            break;
        n += (uint32_t) rows < max - n ? (uint32_t) rows : max - n;
        if ((uint32_t) rows < (limit ? limit : FX_LIST_ROWS_MAX))
            break;
        before = last;
        if (arrive)
            bt_submit_ok(w->alice_c, w->ep, fn, arrive, fresh);
    }
    free(fresh);
    return n;
}

/* The ids of got are the ids of want reversed: each once, none left out. */
static void s_check_pages(const fx_id_text_t *got, uint32_t n, const fx_id_text_t *want, uint32_t m,
                          const char *what)
{
    CHECK(n == m, "%s: %u tasks read over the pages, %u submitted", what, n, m);
    for (uint32_t i = 0; i < n && i < m; i++)
        if (strcmp(got[i], want[m - 1 - i]) != 0) {
            CHECK(strcmp(got[i], want[m - 1 - i]) == 0, "%s: row %u is %s, not %s", what, i, got[i],
                  want[m - 1 - i]);
            break;
        }
}

static void scenario_cursor(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t fn_b;
    s_function(&w, fn_b, "triple");
    enum { N = 25, BIG = 1210 };
    fx_id_text_t mine[N], got[N + 40];
    /* the tasks of two functions, interleaved */
    fx_id_text_t *of_b = calloc(N, sizeof *of_b);
    uint32_t nb = 0;
    for (int i = 0; i < N; i++) {
        bool b = i % 3 == 0;
        bt_submit_ok(w.alice_c, w.ep, b ? fn_b : w.fn, 1, &mine[i]);
        if (b && of_b)
            memcpy(of_b[nb++], mine[i], sizeof(fx_id_text_t));
    }
    /* 7 a page (the last one short), 3 new tasks after each page */
    s_check_pages(got, s_pages(&w, 7, NULL, w.fn, 3, got, N + 40), mine, N, "7 a page");
    /* the same with a filter, while tasks of the filter's function arrive */
    if (of_b)
        s_check_pages(got, s_pages(&w, 3, "triple", fn_b, 2, got, N + 40), of_b, nb, "3 a page, triple");
    free(of_b);
    /* past 1,000: every task once, 1,000 a page */
    fx_id_text_t *big = calloc(BIG, sizeof *big), *read = calloc(2 * BIG, sizeof *read);
    BT_REQUIRE(big && read);
    uint32_t earlier = s_pages(&w, 0, NULL, NULL, 0, read, 2 * BIG);
    for (uint32_t i = 0; i < BIG; i += 200)
        bt_submit_ok(w.alice_c, w.ep, w.fn, BIG - i < 200 ? BIG - i : 200, big + i);
    uint32_t total = s_pages(&w, 0, NULL, NULL, 0, read, 2 * BIG);
    CHECK(earlier > N && total == earlier + BIG, "%u tasks read, %u + %u there", total, earlier, BIG);
    s_check_pages(read, total < BIG ? total : BIG, big, BIG, "1,210 tasks, 1,000 a page");
    free(big);
    free(read);
    bt_world_teardown(&w);
}

/* An ERROR with code whose text holds every one of texts, for seq. */
static void s_error_saying(bt_peer_t *p, uint32_t seq, int code, const char *const *texts)
{
    fx_msg_t *msg = bt_expect(p, FX_MSG_ERROR, seq);
    CHECK(msg && msg->error.code == code, "ERROR code %d, wanted %d", msg ? msg->error.code : -1, code);
    for (int i = 0; msg && texts[i]; i++)
        CHECK(msg->error.text && strstr(msg->error.text, texts[i]), "'%s' not in '%s'", texts[i],
              msg->error.text ? msg->error.text : "");
    fx_msg_destroy(&msg);
}

static void scenario_bad_fields(void *ctx)
{
    bt_world_t w;
    BT_REQUIRE(bt_world_setup(&w, NULL) == 0);
    fx_id_text_t ids[2];
    bt_submit_ok(w.alice_c, w.ep, w.fn, 2, ids);
    static const char *const state_texts[] = {
        "state", "'bogus'", "queued, dispatched, succeeded, failed", "cancelled", "worker lost", NULL};
    s_error_saying(w.alice_c, s_list_send(w.alice_c, 0, "bogus", NULL, NULL, 0, 0), FX_E_BAD_FIELD,
                   state_texts);
    static const char *const case_texts[] = {"state", "'Queued'", NULL};
    s_error_saying(w.alice_c, s_list_send(w.alice_c, 0, "Queued", NULL, NULL, 0, 0), FX_E_BAD_FIELD,
                   case_texts);
    static const char *const since_texts[] = {"since_ms", "ms since the epoch", NULL};
    s_error_saying(w.alice_c, s_list_send(w.alice_c, 0, "", NULL, NULL, UINT64_MAX, 0), FX_E_BAD_FIELD,
                   since_texts);
    static const char *const before_texts[] = {"before", "cursor", NULL};
    s_error_saying(w.alice_c, s_list_send(w.alice_c, 0, "", NULL, NULL, 0, (uint64_t) INT64_MAX + 1),
                   FX_E_BAD_FIELD, before_texts);
    /* not tasks: the filters are ignored */
    fx_msg_t *msg = fx_msg_new(FX_MSG_LIST);
    msg->list.what = FX_LIST_ENDPOINTS;
    fx_strlcpy(msg->list.state, "bogus", sizeof msg->list.state);
    msg->list.since_ms = UINT64_MAX;
    msg = bt_expect(w.alice_c, FX_MSG_LIST_REPLY, bt_send(w.alice_c, msg));
    CHECK(msg && msg->list_reply.rows == 2);
    fx_msg_destroy(&msg);
    /* the session works on */
    fx_id_text_t got[4];
    CHECK(s_list(w.alice_c, 0, "queued", NULL, NULL, 0, 0, got, 4, NULL) == 2);
    CHECK(bt_barrier(w.alice_c));
    bt_world_teardown(&w);
}

int main(int argc, char **argv)
{
    int count = 0;
    char **names = NULL;
    bt_init(argc, argv, "fx_broker_list_test", &count, &names);
    static const fx_scenario_t scenarios[] = {
        {"filters", scenario_filters, false},
        {"cursor", scenario_cursor, false},
        {"bad_fields", scenario_bad_fields, false},
    };
    return bt_finish(fx_test_main("fx_broker_list_test", count, names, scenarios,
                                  sizeof scenarios / sizeof scenarios[0], NULL));
}
