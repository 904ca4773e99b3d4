/*  fx_ix_fetch.c: the tasks whose function body the broker did not send
    (fx_ix_internal.h; SPEC 5.6 body rule, 5.27 FUNCTION_FETCH, 5.28
    FUNCTION_BODIES).

    One wait per missing version: its tasks (out of the FIFO, in arrival
    order) and the seq of the FUNCTION_FETCH that asked for it in this
    broker session (0: not asked yet, then it is in the `unasked` list, so
    phase 7 finds what to ask without looking at the others). A version is
    asked once per session however many tasks wait for it, in batches of
    FX_IDS_MAX versions; a new session (the answer may have been lost with
    the old one) asks again for every version still missing. The first
    FUNCTION_FETCH of a session is also the announcement that this
    interchange caches bodies (SPEC 5.28.1): with nothing to ask, it goes out
    empty, so that the broker's TASKS that follow carry no body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_ix_internal.h"
#include "fx_log.h"

typedef struct {
    fx_oid_text_t version; /* the key */
    fx_ix_list_t tasks;    /* fx_ix_task_t by node, waiting */
    uint32_t asked_seq;    /* the FUNCTION_FETCH that asked in this session; 0: none yet */
    fx_ix_node_t unasked;  /* in fx_ix_fetch_t.unasked while asked_seq is 0 */
} s_wait_t;

struct fx_ix_fetch_t {
    zhashx_t *waits;      /* version -> s_wait_t *, owns */
    fx_ix_list_t unasked; /* s_wait_t by .unasked */
    size_t waiting;       /* tasks in every wait */
    bool announced;       /* a FUNCTION_FETCH went out in this broker session */
};

static void s_wait_free(void **item_p)
{
    free(*item_p);
    *item_p = NULL;
}

fx_ix_fetch_t *fx_ix_fetch_new(void)
{
    fx_ix_fetch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->waits = zhashx_new();
    if (!self->waits) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->waits, s_wait_free);
    zhashx_set_key_duplicator(self->waits, NULL); /* keyed by the wait's own version */
    zhashx_set_key_destructor(self->waits, NULL);
    fx_ix_list_init(&self->unasked);
    return self;
}

void fx_ix_fetch_destroy(fx_ix_fetch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->waits); /* the tasks in them belong to the task store */
    free(*self_p);
    *self_p = NULL;
}

size_t fx_ix_fetch_waiting(const fx_ix_fetch_t *self)
{
    return self->waiting;
}

size_t fx_ix_fetch_versions(const fx_ix_fetch_t *self)
{
    return zhashx_size(self->waits);
}

/* Forgets the wait (its tasks are gone already). */
static void s_drop(fx_ix_fetch_t *self, s_wait_t *wait)
{
    if (fx_ix_node_linked(&wait->unasked))
        fx_ix_list_remove(&self->unasked, &wait->unasked);
    fx_oid_text_t key; /* the key lives in the wait the delete frees */
    memcpy(key, wait->version, sizeof key);
    zhashx_delete(self->waits, key);
}

/* entry (pinned by the caller) came for wait's version: its tasks take
   the body and go back to the FIFO, and the wait goes. */
static void s_release(fx_ix_work_t *w, s_wait_t *wait, fx_ix_body_t *entry)
{
    fx_ix_node_t *n;
    while ((n = fx_ix_list_first(&wait->tasks)) != NULL) {
        fx_ix_task_t *t = FX_IX_RECORD(n, fx_ix_task_t, node);
        fx_ix_body_pin(entry);
        t->fn = entry;
        zframe_destroy(&t->body);
        fx_ix_tasks_ready(w->tasks, t);
        w->fetch->waiting--;
    }
    s_drop(w->fetch, wait);
}

/* No body will come for wait's version: its tasks end with FX_E_NOT_FOUND. */
static void s_not_found(fx_ix_work_t *w, s_wait_t *wait, const char *why)
{
    char text[FX_TEXT_MAX + 1];
    fx_ix_node_t *n;
    size_t ended = 0;
    while ((n = fx_ix_list_first(&wait->tasks)) != NULL) {
        fx_ix_task_t *t = FX_IX_RECORD(n, fx_ix_task_t, node);
        snprintf(text, sizeof text, "function %s version %s: %s; the task cannot run", t->function_id,
                 wait->version, why);
        fx_ix_task_end(w, t, FX_E_NOT_FOUND, text);
        w->fetch->waiting--;
        ended++;
    }
    fx_warn("function version %s: %s; %zu task(s) end with FX_E_NOT_FOUND", wait->version, why, ended);
    w->stats.tasks_not_found += ended;
    s_drop(w->fetch, wait);
}

void fx_ix_fetch_task(fx_ix_work_t *w, fx_ix_task_t *t)
{
    const char *version = t->function_version;
    if (!version[0])
        return; /* no version: the body is the task's own */
    s_wait_t *wait = zhashx_lookup(w->fetch->waits, version);
    if (t->body && zframe_size(t->body) > 0) {
        fx_ix_body_t *entry = fx_ix_bodies_put(w->bodies, version, &t->body);
        if (!entry)
            return; /* out of memory: the task keeps its own body */
        t->fn = entry;
        w->stats.bodies_from_tasks++;
        if (wait)
            s_release(w, wait, entry);
        return;
    }
    fx_ix_body_t *entry = fx_ix_bodies_find(w->bodies, version);
    if (entry) {
        fx_ix_body_pin(entry);
        t->fn = entry;
        zframe_destroy(&t->body);
        return;
    }
    if (!wait) {
        wait = calloc(1, sizeof *wait);
        if (wait) {
            fx_strlcpy(wait->version, version, sizeof wait->version);
            fx_ix_list_init(&wait->tasks);
        }
        if (!wait || zhashx_insert(w->fetch->waits, wait->version, wait) != 0) {
            free(wait);
            fx_error("out of memory waiting for the body of version %s; task %s goes out without one",
                     version, t->task_id);
            return;
        }
        fx_ix_list_push_back(&w->fetch->unasked, &wait->unasked);
    }
    fx_ix_tasks_wait(w->tasks, t, &wait->tasks);
    w->fetch->waiting++;
    w->stats.tasks_waited++;
}

/* The announcement of SPEC 5.28.1: FUNCTION_FETCH with no version. */
static void s_announce(fx_ix_link_t *link, fx_ix_fetch_t *self)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_FUNCTION_FETCH);
    if (msg && fx_ix_link_send(link, &msg, FX_IX_SEQ_REQUEST) == FX_OK)
        self->announced = true;
    fx_msg_destroy(&msg);
}

void fx_ix_fetch_send(fx_ix_link_t *link, fx_ix_work_t *w)
{
    fx_ix_fetch_t *self = w->fetch;
    if (self->unasked.size == 0 && !self->announced)
        s_announce(link, self);
    while (self->unasked.size > 0) {
        /* waits whose tasks all ended meanwhile (cancelled) are not asked for */
        s_wait_t *first = FX_IX_RECORD(fx_ix_list_first(&self->unasked), s_wait_t, unasked);
        if (first->tasks.size == 0) {
            s_drop(self, first);
            continue;
        }
        uint32_t n = self->unasked.size > FX_IDS_MAX ? FX_IDS_MAX : (uint32_t) self->unasked.size;
        fx_msg_t *msg = fx_msg_new(FX_MSG_FUNCTION_FETCH);
        if (!msg || fx_msg_alloc_records(msg, n) != FX_OK) {
            fx_msg_destroy(&msg);
            return; /* out of memory: next pass */
        }
        fx_ix_node_t *node = fx_ix_list_first(&self->unasked);
        for (uint32_t i = 0; i < n; i++, node = fx_ix_list_next(&self->unasked, node))
            memcpy(msg->function_fetch.versions[i], FX_IX_RECORD(node, s_wait_t, unasked)->version,
                   sizeof msg->function_fetch.versions[i]);
        if (fx_ix_link_send(link, &msg, FX_IX_SEQ_REQUEST) != FX_OK)
            return; /* the socket is full: next pass */
        uint32_t seq = fx_ix_link_last_seq(link);
        for (uint32_t i = 0; i < n; i++) {
            s_wait_t *wait = FX_IX_RECORD(fx_ix_list_first(&self->unasked), s_wait_t, unasked);
            wait->asked_seq = seq;
            fx_ix_list_remove(&self->unasked, &wait->unasked);
        }
        self->announced = true;
        w->stats.function_fetches++;
        w->stats.versions_fetched += n;
    }
}

void fx_ix_fetch_bodies(fx_ix_work_t *w, fx_msg_t *msg)
{
    fx_ix_fetch_t *self = w->fetch;
    for (uint32_t i = 0; i < msg->function_bodies.count; i++) {
        fx_function_body_t *f = &msg->function_bodies.functions[i];
        if (!f->version[0])
            continue;
        s_wait_t *wait = zhashx_lookup(self->waits, f->version);
        if (f->kind == 0) {
            if (wait)
                s_not_found(w, wait, "the broker has no such version for this endpoint");
            continue;
        }
        w->stats.bodies_received++;
        fx_ix_body_t *entry = fx_ix_bodies_put(w->bodies, f->version, &f->body);
        if (!entry) {
            fx_error("out of memory caching the body of version %s; asking for it again", f->version);
            if (wait && !fx_ix_node_linked(&wait->unasked)) {
                wait->asked_seq = 0;
                fx_ix_list_push_back(&self->unasked, &wait->unasked);
            }
            continue;
        }
        if (wait)
            s_release(w, wait, entry);
        fx_ix_body_unpin(&entry); /* the put's own pin: the tasks hold theirs */
    }
    /* what this fetch asked for and the answer left out will not come;
       gathered first (on their unasked node, free while asked): the hash
       is not changed while it is walked */
    fx_ix_list_t left_out;
    fx_ix_list_init(&left_out);
    for (s_wait_t *wait = zhashx_first(self->waits); wait; wait = zhashx_next(self->waits))
        if (msg->seq && wait->asked_seq == msg->seq && !fx_ix_node_linked(&wait->unasked))
            fx_ix_list_push_back(&left_out, &wait->unasked);
    fx_ix_node_t *n;
    while ((n = fx_ix_list_first(&left_out)) != NULL) {
        fx_ix_list_remove(&left_out, n);
        s_not_found(w, FX_IX_RECORD(n, s_wait_t, unasked), "the broker's FUNCTION_BODIES left it out");
    }
}

void fx_ix_fetch_session(fx_ix_work_t *w)
{
    fx_ix_fetch_t *self = w->fetch;
    self->announced = false;
    for (s_wait_t *wait = zhashx_first(self->waits); wait; wait = zhashx_next(self->waits)) {
        wait->asked_seq = 0;
        if (!fx_ix_node_linked(&wait->unasked))
            fx_ix_list_push_back(&self->unasked, &wait->unasked);
    }
}
