/*  fx_ix_managers.c: records in arrival order (zlistx, owning) plus an
    index by routing id (zhashx keyed by the id's hex text). */
#include <stdlib.h>
#include <string.h>

#include "fx_ix_managers.h"
#include "fx_log.h"

struct fx_ix_manager_t {
    char key[2 * 256 + 1]; /* routing id as hex: the index key */
    zframe_t *routing;
    fx_id_text_t manager_id;
    char host[FX_NAME_MAX + 1];
    uint32_t pid;
    uint32_t workers;
    uint32_t window;
    bool retiring; /* its block is ending: no new tasks, out of the window */
    int64_t last_heard;
    zlistx_t *in_flight; /* fx_ix_task_t *, dispatch order, not owned */
    zlistx_t *outbox;    /* fx_ix_task_t *, not owned */
    void *handle;        /* place in fx_ix_managers_t.list */
};

struct fx_ix_managers_t {
    zlistx_t *list;  /* fx_ix_manager_t *, owns */
    zhashx_t *index; /* key -> fx_ix_manager_t * */
};

static void s_manager_free(void **item_p)
{
    fx_ix_manager_t *self = *item_p;
    if (self) {
        zframe_destroy(&self->routing);
        zlistx_destroy(&self->in_flight);
        zlistx_destroy(&self->outbox);
        free(self);
        *item_p = NULL;
    }
}

static void s_key(zframe_t *routing, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = zframe_size(routing);
    const byte *data = zframe_data(routing);
    if (n > (cap - 1) / 2)
        n = (cap - 1) / 2;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[data[i] >> 4];
        out[2 * i + 1] = hex[data[i] & 15];
    }
    out[2 * n] = '\0';
}

fx_ix_managers_t *fx_ix_managers_new(void)
{
    fx_ix_managers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->list = zlistx_new();
    self->index = zhashx_new();
    if (!self->list || !self->index) {
        fx_ix_managers_destroy(&self);
        return NULL;
    }
    zlistx_set_destructor(self->list, s_manager_free);
    return self;
}

void fx_ix_managers_destroy(fx_ix_managers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_managers_t *self = *self_p;
    zhashx_destroy(&self->index);
    zlistx_destroy(&self->list);
    free(self);
    *self_p = NULL;
}

void fx_ix_managers_remove(fx_ix_managers_t *self, fx_ix_manager_t **manager_p, zlistx_t *orphans)
{
    fx_ix_manager_t *m = *manager_p;
    if (!m)
        return;
    *manager_p = NULL;
    for (fx_ix_task_t *t = zlistx_first(m->in_flight); t; t = zlistx_next(m->in_flight)) {
        t->holder = NULL;
        t->handle = NULL;
        if (orphans)
            zlistx_add_end(orphans, t);
    }
    zhashx_delete(self->index, m->key);
    zlistx_delete(self->list, m->handle); /* frees m */
}

fx_ix_manager_t *fx_ix_managers_hello(fx_ix_managers_t *self, zframe_t *routing, const fx_msg_t *hello,
                                      int64_t now, zlistx_t *orphans)
{
    char key[sizeof((fx_ix_manager_t *) 0)->key];
    s_key(routing, key, sizeof key);
    fx_ix_manager_t *old = zhashx_lookup(self->index, key);
    if (old)
        fx_ix_managers_remove(self, &old, orphans);
    for (fx_ix_manager_t *m = zlistx_first(self->list); m; m = zlistx_next(self->list)) {
        if (strcmp(m->manager_id, hello->manager_hello.manager_id) == 0) {
            fx_info("manager %s said hello again on a new connection; its old session's %zu "
                    "task(s) go back to the queue",
                    m->manager_id, zlistx_size(m->in_flight));
            fx_ix_managers_remove(self, &m, orphans);
            break;
        }
    }
    fx_ix_manager_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    memcpy(m->key, key, sizeof key);
    m->routing = zframe_dup(routing);
    m->in_flight = zlistx_new();
    m->outbox = zlistx_new();
    memcpy(m->manager_id, hello->manager_hello.manager_id, sizeof m->manager_id);
    memcpy(m->host, hello->manager_hello.host, sizeof m->host);
    m->pid = hello->manager_hello.pid;
    m->workers = hello->manager_hello.workers;
    m->last_heard = now;
    if (!m->routing || !m->in_flight || !m->outbox)
        goto nomem;
    m->handle = zlistx_add_end(self->list, m);
    if (!m->handle)
        goto nomem;
    if (zhashx_insert(self->index, m->key, m) != 0) {
        zlistx_delete(self->list, m->handle);
        return NULL;
    }
    return m;
nomem:
    s_manager_free((void **) &m);
    return NULL;
}

fx_ix_session_t fx_ix_managers_session(fx_ix_managers_t *self, zframe_t *routing, fx_ix_manager_t **manager_p)
{
    char key[sizeof((fx_ix_manager_t *) 0)->key];
    s_key(routing, key, sizeof key);
    *manager_p = zhashx_lookup(self->index, key);
    return *manager_p ? FX_IX_SESSION_ACTIVE : FX_IX_SESSION_NONE;
}

int fx_ix_managers_expire(fx_ix_managers_t *self, int64_t now, int64_t silence_ms, zlistx_t *orphans)
{
    int lost = 0;
    void *handle = zlistx_first(self->list) ? zlistx_cursor(self->list) : NULL;
    while (handle) {
        fx_ix_manager_t *m = zlistx_handle_item(handle);
        handle = zlistx_next(self->list) ? zlistx_cursor(self->list) : NULL;
        if (now - m->last_heard > silence_ms) {
            /* a retiring manager was told to stop: its silence is expected */
            fx_log(
                m->retiring ? FX_LOG_INFO : FX_LOG_WARN,
                "manager %s (host %s, pid %u) silent for %lld ms: %s; its %zu task(s) go back to the front "
                "of the queue",
                m->manager_id, m->host, m->pid, (long long) (now - m->last_heard),
                m->retiring ? "gone with its block" : "lost", zlistx_size(m->in_flight));
            fx_ix_managers_remove(self, &m, orphans);
            lost++;
        }
    }
    return lost;
}

fx_ix_manager_t *fx_ix_managers_first(fx_ix_managers_t *self)
{
    return zlistx_first(self->list);
}

fx_ix_manager_t *fx_ix_managers_next(fx_ix_managers_t *self)
{
    return zlistx_next(self->list);
}

size_t fx_ix_managers_size(fx_ix_managers_t *self)
{
    return zlistx_size(self->list);
}

uint64_t fx_ix_managers_window(fx_ix_managers_t *self)
{
    uint64_t sum = 0;
    for (fx_ix_manager_t *m = zlistx_first(self->list); m; m = zlistx_next(self->list))
        sum += fx_ix_manager_window(m);
    return sum;
}

uint64_t fx_ix_managers_workers(fx_ix_managers_t *self)
{
    uint64_t sum = 0;
    for (fx_ix_manager_t *m = zlistx_first(self->list); m; m = zlistx_next(self->list))
        sum += m->workers;
    return sum;
}

uint64_t fx_ix_managers_free(fx_ix_managers_t *self)
{
    uint64_t sum = 0;
    for (fx_ix_manager_t *m = zlistx_first(self->list); m; m = zlistx_next(self->list))
        sum += fx_ix_manager_free(m);
    return sum;
}

fx_ix_manager_t *fx_ix_managers_by_id(fx_ix_managers_t *self, const char *manager_id)
{
    for (fx_ix_manager_t *m = zlistx_first(self->list); m; m = zlistx_next(self->list))
        if (strcmp(m->manager_id, manager_id) == 0)
            return m;
    return NULL;
}

const char *fx_ix_manager_id(const fx_ix_manager_t *self)
{
    return self->manager_id;
}
const char *fx_ix_manager_host(const fx_ix_manager_t *self)
{
    return self->host;
}
uint32_t fx_ix_manager_pid(const fx_ix_manager_t *self)
{
    return self->pid;
}
uint32_t fx_ix_manager_workers(const fx_ix_manager_t *self)
{
    return self->workers;
}
zframe_t *fx_ix_manager_routing(const fx_ix_manager_t *self)
{
    return self->routing;
}
uint32_t fx_ix_manager_window(const fx_ix_manager_t *self)
{
    return self->retiring ? 0 : self->window;
}
void fx_ix_manager_retire(fx_ix_manager_t *self)
{
    self->retiring = true;
}
bool fx_ix_manager_retiring(const fx_ix_manager_t *self)
{
    return self->retiring;
}
void fx_ix_manager_set_window(fx_ix_manager_t *self, uint32_t window)
{
    self->window = window;
}
void fx_ix_manager_heard(fx_ix_manager_t *self, int64_t now)
{
    self->last_heard = now;
}
zlistx_t *fx_ix_manager_outbox(fx_ix_manager_t *self)
{
    return self->outbox;
}

uint32_t fx_ix_manager_in_flight(const fx_ix_manager_t *self)
{
    return (uint32_t) zlistx_size(self->in_flight);
}

uint32_t fx_ix_manager_free(const fx_ix_manager_t *self)
{
    uint32_t busy = fx_ix_manager_in_flight(self), window = fx_ix_manager_window(self);
    return window > busy ? window - busy : 0;
}

int fx_ix_manager_hold(fx_ix_manager_t *self, fx_ix_task_t *task)
{
    task->handle = zlistx_add_end(self->in_flight, task);
    if (!task->handle)
        return FX_E_NOMEM;
    if (!zlistx_add_end(self->outbox, task)) {
        zlistx_delete(self->in_flight, task->handle);
        task->handle = NULL;
        return FX_E_NOMEM;
    }
    task->holder = self;
    return FX_OK;
}

void fx_ix_manager_release(fx_ix_manager_t *self, fx_ix_task_t *task)
{
    if (task->holder != self || !task->handle)
        return;
    zlistx_delete(self->in_flight, task->handle);
    task->handle = NULL;
    task->holder = NULL;
}
