/*  fx_ix_managers.c: the records (fx_ix_managers.h) in three intrusive
    lists (arrival order, by last heard, by last sent), two indexes
    (zhashx: by the routing id's hex text, owning; by manager id), the
    running sums, and the routing strategy, told of every change. */
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
    int64_t last_heard, last_sent;
    fx_ix_list_t in_flight; /* fx_ix_task_t by node, dispatch order, not owned */
    fx_ix_node_t all, heard, sent;
    fx_ix_route_hook_t route;
    fx_ix_manager_scratch_t scratch;
    fx_ix_managers_t *registry;
    zhashx_t *seen; /* function versions whose body this session was sent; NULL: none yet */
};

struct fx_ix_managers_t {
    fx_ix_list_t all;   /* fx_ix_manager_t by .all, arrival order */
    fx_ix_list_t heard; /* by .heard, oldest last_heard first */
    fx_ix_list_t sent;  /* by .sent, oldest last_sent first */
    fx_ix_node_t *cursor;
    zhashx_t *index; /* key -> fx_ix_manager_t *, owns */
    zhashx_t *by_id; /* manager_id -> fx_ix_manager_t *, not owned */
    fx_ix_route_t *route;
    uint64_t window, workers, free; /* the sums, over every record */
};

/* ------------------------------------------------------------ the sums */

static uint32_t s_window(const fx_ix_manager_t *m)
{
    return m->retiring ? 0 : m->window;
}

static uint32_t s_free(const fx_ix_manager_t *m)
{
    uint32_t busy = (uint32_t) m->in_flight.size, window = s_window(m);
    return window > busy ? window - busy : 0;
}

/* Before a change of m's window, in flight or retirement: out of the sums. */
static void s_unsum(fx_ix_manager_t *m)
{
    m->registry->window -= s_window(m);
    m->registry->free -= s_free(m);
}

/* After it: back in the sums, and the strategy hears of it. */
static void s_sum(fx_ix_manager_t *m)
{
    m->registry->window += s_window(m);
    m->registry->free += s_free(m);
    fx_ix_route_update(m->registry->route, m);
}

/* ------------------------------------------------------------ the registry */

static void s_manager_free(void **item_p)
{
    fx_ix_manager_t *self = *item_p;
    if (self) {
        zframe_destroy(&self->routing);
        zhashx_destroy(&self->seen);
        free(self->scratch.ids);
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

fx_ix_managers_t *fx_ix_managers_new(const fx_ix_route_ops_t *ops)
{
    fx_ix_managers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    fx_ix_list_init(&self->all);
    fx_ix_list_init(&self->heard);
    fx_ix_list_init(&self->sent);
    self->index = zhashx_new();
    self->by_id = zhashx_new();
    self->route = fx_ix_route_new(ops ? ops : &fx_ix_route_rr);
    if (!self->index || !self->by_id || !self->route) {
        fx_ix_managers_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->index, s_manager_free);
    zhashx_set_key_duplicator(self->by_id, NULL); /* keyed by the record's own manager_id */
    zhashx_set_key_destructor(self->by_id, NULL);
    return self;
}

void fx_ix_managers_destroy(fx_ix_managers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_ix_managers_t *self = *self_p;
    zhashx_destroy(&self->by_id);
    zhashx_destroy(&self->index);
    fx_ix_route_destroy(&self->route);
    free(self);
    *self_p = NULL;
}

fx_ix_route_t *fx_ix_managers_route(fx_ix_managers_t *self)
{
    return self->route;
}

void fx_ix_managers_remove(fx_ix_managers_t *self, fx_ix_manager_t **manager_p, fx_ix_list_t *orphans)
{
    fx_ix_manager_t *m = *manager_p;
    if (!m)
        return;
    *manager_p = NULL;
    s_unsum(m);
    self->workers -= m->workers;
    fx_ix_route_remove(self->route, m);
    for (fx_ix_node_t *n = fx_ix_list_first(&m->in_flight); n; n = fx_ix_list_next(&m->in_flight, n))
        FX_IX_RECORD(n, fx_ix_task_t, node)->holder = NULL;
    if (orphans)
        fx_ix_list_splice_back(orphans, &m->in_flight);
    else
        while (m->in_flight.size)
            fx_ix_list_remove(&m->in_flight, fx_ix_list_first(&m->in_flight));
    if (self->cursor == &m->all)
        self->cursor = fx_ix_list_next(&self->all, &m->all);
    fx_ix_list_remove(&self->all, &m->all);
    fx_ix_list_remove(&self->heard, &m->heard);
    fx_ix_list_remove(&self->sent, &m->sent);
    if (zhashx_lookup(self->by_id, m->manager_id) == m)
        zhashx_delete(self->by_id, m->manager_id);
    zhashx_delete(self->index, m->key); /* frees m */
}

fx_ix_manager_t *fx_ix_managers_hello(fx_ix_managers_t *self, zframe_t *routing, const fx_msg_t *hello,
                                      int64_t now, fx_ix_list_t *orphans)
{
    char key[sizeof((fx_ix_manager_t *) 0)->key];
    s_key(routing, key, sizeof key);
    fx_ix_manager_t *old = zhashx_lookup(self->index, key);
    if (old)
        fx_ix_managers_remove(self, &old, orphans);
    fx_ix_manager_t *same = zhashx_lookup(self->by_id, hello->manager_hello.manager_id);
    if (same) {
        fx_info("manager %s said hello again on a new connection; its old session's %zu "
                "task(s) go back to the queue",
                same->manager_id, same->in_flight.size);
        fx_ix_managers_remove(self, &same, orphans);
    }
    fx_ix_manager_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    memcpy(m->key, key, sizeof key);
    m->routing = zframe_dup(routing);
    memcpy(m->manager_id, hello->manager_hello.manager_id, sizeof m->manager_id);
    memcpy(m->host, hello->manager_hello.host, sizeof m->host);
    m->pid = hello->manager_hello.pid;
    m->workers = hello->manager_hello.workers;
    m->last_heard = m->last_sent = now;
    m->registry = self;
    m->route.manager = m;
    fx_ix_list_init(&m->in_flight);
    if (!m->routing || zhashx_insert(self->index, m->key, m) != 0) {
        s_manager_free((void **) &m);
        return NULL;
    }
    if (zhashx_insert(self->by_id, m->manager_id, m) != 0) {
        zhashx_delete(self->index, m->key);
        return NULL;
    }
    fx_ix_list_push_back(&self->all, &m->all);
    fx_ix_list_push_back(&self->heard, &m->heard);
    fx_ix_list_push_back(&self->sent, &m->sent);
    self->workers += m->workers;
    s_sum(m); /* window 0: the strategy keeps it out until its CREDIT */
    return m;
}

fx_ix_session_t fx_ix_managers_session(fx_ix_managers_t *self, zframe_t *routing, fx_ix_manager_t **manager_p)
{
    char key[sizeof((fx_ix_manager_t *) 0)->key];
    s_key(routing, key, sizeof key);
    *manager_p = zhashx_lookup(self->index, key);
    return *manager_p ? FX_IX_SESSION_ACTIVE : FX_IX_SESSION_NONE;
}

static fx_ix_manager_t *s_of(fx_ix_node_t *node, size_t offset)
{
    return node ? (fx_ix_manager_t *) (void *) ((char *) node - offset) : NULL;
}

int fx_ix_managers_expire(fx_ix_managers_t *self, int64_t now, int64_t silence_ms, fx_ix_list_t *orphans)
{
    int lost = 0;
    fx_ix_manager_t *m;
    while ((m = s_of(fx_ix_list_first(&self->heard), offsetof(fx_ix_manager_t, heard))) &&
           now - m->last_heard > silence_ms) {
        /* a retiring manager was told to stop: its silence is expected */
        fx_log(m->retiring ? FX_LOG_INFO : FX_LOG_WARN,
               "manager %s (host %s, pid %u) silent for %lld ms: %s; its %zu task(s) go back to the front "
               "of the queue",
               m->manager_id, m->host, m->pid, (long long) (now - m->last_heard),
               m->retiring ? "gone with its block" : "lost", m->in_flight.size);
        fx_ix_managers_remove(self, &m, orphans);
        lost++;
    }
    return lost;
}

int64_t fx_ix_managers_expire_next(fx_ix_managers_t *self, int64_t silence_ms)
{
    fx_ix_manager_t *m = s_of(fx_ix_list_first(&self->heard), offsetof(fx_ix_manager_t, heard));
    return m ? m->last_heard + silence_ms + 1 : INT64_MAX;
}

fx_ix_manager_t *fx_ix_managers_beat_due(fx_ix_managers_t *self, int64_t now, int64_t period_ms,
                                         int64_t slack_ms)
{
    fx_ix_manager_t *m = s_of(fx_ix_list_first(&self->sent), offsetof(fx_ix_manager_t, sent));
    return m && m->last_sent + period_ms - slack_ms <= now ? m : NULL;
}

int64_t fx_ix_managers_beat_next(fx_ix_managers_t *self, int64_t period_ms, int64_t slack_ms)
{
    fx_ix_manager_t *m = s_of(fx_ix_list_first(&self->sent), offsetof(fx_ix_manager_t, sent));
    if (!m)
        return INT64_MAX;
    /* rounds on a grid of slack_ms: one wake-up beats every manager due
       before the next round, never one per manager */
    int64_t due = m->last_sent + period_ms - slack_ms, grid = slack_ms > 0 ? slack_ms : 1;
    return (due + grid - 1) / grid * grid;
}

fx_ix_manager_t *fx_ix_managers_first(fx_ix_managers_t *self)
{
    self->cursor = fx_ix_list_first(&self->all);
    return s_of(self->cursor, offsetof(fx_ix_manager_t, all));
}

fx_ix_manager_t *fx_ix_managers_next(fx_ix_managers_t *self)
{
    if (self->cursor)
        self->cursor = fx_ix_list_next(&self->all, self->cursor);
    return s_of(self->cursor, offsetof(fx_ix_manager_t, all));
}

size_t fx_ix_managers_size(fx_ix_managers_t *self)
{
    return self->all.size;
}

uint64_t fx_ix_managers_window(fx_ix_managers_t *self)
{
    return self->window;
}

uint64_t fx_ix_managers_workers(fx_ix_managers_t *self)
{
    return self->workers;
}

uint64_t fx_ix_managers_free(fx_ix_managers_t *self)
{
    return self->free;
}

fx_ix_manager_t *fx_ix_managers_by_id(fx_ix_managers_t *self, const char *manager_id)
{
    return zhashx_lookup(self->by_id, manager_id);
}

/* ------------------------------------------------------------ one manager */

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
    return s_window(self);
}
bool fx_ix_manager_retiring(const fx_ix_manager_t *self)
{
    return self->retiring;
}
uint32_t fx_ix_manager_in_flight(const fx_ix_manager_t *self)
{
    return (uint32_t) self->in_flight.size;
}
uint32_t fx_ix_manager_free(const fx_ix_manager_t *self)
{
    return s_free(self);
}
fx_ix_route_hook_t *fx_ix_manager_route_hook(fx_ix_manager_t *self)
{
    return &self->route;
}
fx_ix_manager_scratch_t *fx_ix_manager_scratch(fx_ix_manager_t *self)
{
    return &self->scratch;
}

void fx_ix_manager_retire(fx_ix_manager_t *self)
{
    s_unsum(self);
    self->retiring = true;
    s_sum(self);
}

void fx_ix_manager_set_window(fx_ix_manager_t *self, uint32_t window)
{
    s_unsum(self);
    self->window = window;
    s_sum(self);
}

void fx_ix_manager_heard(fx_ix_manager_t *self, int64_t now)
{
    self->last_heard = now;
    fx_ix_list_move_back(&self->registry->heard, &self->heard);
}

void fx_ix_manager_sent(fx_ix_manager_t *self, int64_t now)
{
    self->last_sent = now;
    fx_ix_list_move_back(&self->registry->sent, &self->sent);
}

void fx_ix_manager_hold(fx_ix_manager_t *self, fx_ix_task_t *task)
{
    s_unsum(self);
    fx_ix_list_push_back(&self->in_flight, &task->node);
    task->holder = self;
    s_sum(self);
}

void fx_ix_manager_release(fx_ix_manager_t *self, fx_ix_task_t *task)
{
    if (task->holder != self || !fx_ix_node_linked(&task->node))
        return;
    s_unsum(self);
    fx_ix_list_remove(&self->in_flight, &task->node);
    task->holder = NULL;
    s_sum(self);
}

fx_ix_task_t *fx_ix_manager_last(fx_ix_manager_t *self)
{
    fx_ix_node_t *n = fx_ix_list_last(&self->in_flight);
    return n ? FX_IX_RECORD(n, fx_ix_task_t, node) : NULL;
}

fx_ix_task_t *fx_ix_manager_after(fx_ix_manager_t *self, fx_ix_task_t *task)
{
    fx_ix_node_t *n = fx_ix_list_next(&self->in_flight, &task->node);
    return n ? FX_IX_RECORD(n, fx_ix_task_t, node) : NULL;
}

fx_ix_task_t *fx_ix_manager_before(fx_ix_manager_t *self, fx_ix_task_t *task)
{
    fx_ix_node_t *n = fx_ix_list_prev(&self->in_flight, &task->node);
    return n ? FX_IX_RECORD(n, fx_ix_task_t, node) : NULL;
}

bool fx_ix_manager_first_sight(fx_ix_manager_t *self, const char *version)
{
    if (!self->seen && !(self->seen = zhashx_new()))
        return true; /* out of memory: a body too many, never one too few */
    if (zhashx_lookup(self->seen, version))
        return false;
    if (zhashx_size(self->seen) >= FX_IX_MANAGER_SEEN_MAX)
        zhashx_purge(self->seen); /* the manager may have let older ones go: send them again */
    zhashx_insert(self->seen, version, (void *) 1); /* on OOM: sent again next time */
    return true;
}

void fx_ix_manager_forget_sights(fx_ix_manager_t *self)
{
    zhashx_destroy(&self->seen);
}

int fx_ix_manager_gather(fx_ix_manager_t *self, const char *id)
{
    fx_ix_manager_scratch_t *s = &self->scratch;
    if (s->nids == s->cap) {
        uint32_t cap = s->cap ? 2 * s->cap : 16;
        fx_id_text_t *more = realloc(s->ids, cap * sizeof *more);
        if (!more)
            return FX_E_NOMEM;
        s->ids = more;
        s->cap = cap;
    }
    memcpy(s->ids[s->nids++], id, sizeof(fx_id_text_t));
    return FX_OK;
}
