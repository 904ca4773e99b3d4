/*  fx_cli_state.c: the task states users read, one list for every verb
    and for the broker (SPEC 5.0): queued, dispatched, succeeded, failed
    (with a reason: exception, cancelled, worker lost, walltime, load
    error, version mismatch, shell error, container, error), and finished
    for a task that has a result fx did not read.

    The broker's store keeps other states (SPEC 5.0: QUEUED, DISPATCHED,
    DONE, DELIVERED, FAILED): DONE and DELIVERED mean "has a result", which
    may be a return value or an exception, and FAILED means fx itself ended
    the task. LIST tasks says the users' state and the reason itself (the
    broker reads its own store), so `fx tasks` reads no result. STATUS says
    only the store's state, so `fx status` and `fx task show` read the
    result with FETCH. A FETCH records the result as pushed (SPEC 8.6),
    which can keep a result from the client that submitted the task, if
    that client is connected and the broker had not pushed it yet, until
    the client reconnects. So fx reads freely only results already taken
    (DELIVERED); for the others it says "finished" (or "failed" without
    its reason). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_cli.h"

static const char *const s_names[] = {
    [FX_CLI_TASK_UNKNOWN] = "unknown",       [FX_CLI_TASK_QUEUED] = "queued",
    [FX_CLI_TASK_DISPATCHED] = "dispatched", [FX_CLI_TASK_SUCCEEDED] = "succeeded",
    [FX_CLI_TASK_FAILED] = "failed",         [FX_CLI_TASK_FINISHED] = "finished",
};

/* The reasons of a failure: the result's error code, as words. */
static const struct {
    int code;
    const char *reason; /* as shown */
    const char *word;   /* as --state takes it */
} s_reasons[] = {
    {FX_E_CANCELLED, "cancelled", "cancelled"},
    {FX_E_WORKER_LOST, "worker lost", "worker-lost"},
    {FX_E_WALLTIME, "walltime", "walltime"},
    {FX_E_LOAD, "load error", "load-error"},
    {FX_E_VERSION_MISMATCH, "version mismatch", "version-mismatch"},
    {FX_E_SHELL, "shell error", "shell-error"},
    {FX_E_CONTAINER, "container", "container"},
};
#define S_REASONS (sizeof s_reasons / sizeof s_reasons[0])

const char *const fx_cli_state_words = "queued, dispatched, succeeded, failed, or a reason of failure: "
                                       "exception, cancelled, worker-lost, walltime, load-error, "
                                       "version-mismatch, shell-error, container, error";

const char *fx_cli_state_name(fx_cli_state_t state)
{
    return state <= FX_CLI_TASK_FINISHED ? s_names[state] : "unknown";
}

void fx_cli_state_text(const fx_cli_task_state_t *st, char *out, size_t cap)
{
    if (st->state == FX_CLI_TASK_FAILED && st->reason[0])
        snprintf(out, cap, "failed (%s)", st->reason);
    else
        snprintf(out, cap, "%s", fx_cli_state_name(st->state));
}

void fx_cli_state_from_wire(int wire, fx_cli_task_state_t *st)
{
    memset(st, 0, sizeof *st);
    switch (wire) {
    case FX_TASK_QUEUED:
        st->state = FX_CLI_TASK_QUEUED;
        break;
    case FX_TASK_DISPATCHED:
        st->state = FX_CLI_TASK_DISPATCHED;
        break;
    case FX_TASK_DONE:
        st->state = FX_CLI_TASK_FINISHED;
        break;
    case FX_TASK_DELIVERED:
        st->state = FX_CLI_TASK_FINISHED;
        st->delivered = true;
        break;
    case FX_TASK_FAILED: /* fx ended it: an error result, the reason in it */
        st->state = FX_CLI_TASK_FAILED;
        break;
    default:
        st->state = FX_CLI_TASK_UNKNOWN;
    }
}

void fx_cli_state_from_cell(const char *cell, fx_cli_task_state_t *st)
{
    static const struct {
        const char *cell;
        int wire;
    } broker[] = {{"queued", FX_TASK_QUEUED},
                  {"dispatched", FX_TASK_DISPATCHED},
                  {"done", FX_TASK_DONE},
                  {"delivered", FX_TASK_DELIVERED},
                  {"failed", FX_TASK_FAILED}};
    for (size_t i = 0; i < sizeof broker / sizeof broker[0]; i++)
        if (strcmp(cell, broker[i].cell) == 0) {
            fx_cli_state_from_wire(broker[i].wire, st);
            return;
        }
    memset(st, 0, sizeof *st);
    if (strcmp(cell, "succeeded") == 0) /* a broker that says it itself */
        st->state = FX_CLI_TASK_SUCCEEDED;
}

static const char *s_reason_of(int code)
{
    for (size_t i = 0; i < S_REASONS; i++)
        if (s_reasons[i].code == code)
            return s_reasons[i].reason;
    return NULL;
}

void fx_cli_state_from_result(const fx_result_t *result, fx_cli_task_state_t *st)
{
    bool delivered = st->delivered;
    memset(st, 0, sizeof *st);
    st->delivered = delivered;
    st->result_read = true;
    if (result->error_text)
        fx_strlcpy(st->error, result->error_text, sizeof st->error);
    if (result->status == FX_RESULT_OK) {
        st->state = FX_CLI_TASK_SUCCEEDED;
        return;
    }
    st->state = FX_CLI_TASK_FAILED;
    if (result->status == FX_RESULT_EXCEPTION) {
        snprintf(st->reason, sizeof st->reason, "exception");
        return;
    }
    const char *reason = s_reason_of(result->error_code);
    snprintf(st->reason, sizeof st->reason, "%s", reason ? reason : "error");
}

bool fx_cli_state_word(const char *word, char *out, size_t cap)
{
    static const char *const plain[] = {"queued", "dispatched", "succeeded", "failed", "exception", "error"};
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strcmp(word, plain[i]) == 0) {
            snprintf(out, cap, "%s", word);
            return true;
        }
    for (size_t i = 0; i < S_REASONS; i++)
        if (strcmp(word, s_reasons[i].word) == 0 || strcmp(word, s_reasons[i].reason) == 0) {
            snprintf(out, cap, "%s", s_reasons[i].reason);
            return true;
        }
    return false;
}

int fx_cli_fetch(fx_cli_link_t *link, const fx_id_text_t *ids, uint32_t count, fx_cli_result_fn *fn,
                 void *arg, char *err, size_t errlen)
{
    /* The broker answers a chunk's ids in order, leaving out those with no
       result, and may stop at its byte budget after the first one (SPEC
       5.15): ask again from just after the last id answered. */
    uint32_t done = 0;
    while (done < count) {
        uint32_t n = count - done > FX_IDS_MAX ? FX_IDS_MAX : count - done;
        fx_msg_t *req = fx_msg_new(FX_MSG_FETCH);
        if (req && fx_msg_alloc_records(req, n) == FX_OK)
            memcpy(req->ids.ids, ids + done, n * sizeof *ids);
        else
            fx_msg_destroy(&req);
        fx_msg_t *reply = fx_cli_link_call(link, &req, FX_MSG_RESULTS, err, errlen);
        if (!reply)
            return -1;
        uint32_t got = reply->results.count, next = n; /* none: no id of the chunk has a result */
        for (uint32_t i = 0; i < got; i++)
            fn(&reply->results.results[i], arg);
        for (uint32_t i = 0; got > 0 && i < n; i++)
            if (strcmp(ids[done + i], reply->results.results[got - 1].task_id) == 0)
                next = i + 1;
        fx_msg_destroy(&reply);
        done += next;
    }
    return 0;
}
