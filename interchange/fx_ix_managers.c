/*  fx_ix_managers.c: the records (fx_ix_managers.h) in three intrusive
    lists (arrival order, by last heard, by last sent), two indexes
    (zhashx: by the routing id's hex text, owning; by manager id), the
    running sums (the registry's, and each container's over its managers'
    records), and the routing view, told of every change. */
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
    bool capacity;               /* it sends CAPACITY (else CREDIT) */
    uint32_t cold_free;          /* as its last CAPACITY said */
    uint32_t cold_sent;          /* cold starts routed to it since */
    fx_ix_mc_t bare;             /* its record for the host (container "") */
    fx_ix_mc_t **mcs;            /* its other containers' records, each allocated */
    uint32_t nmcs, capmcs;
    uint64_t routed, cold_routed; /* counters */
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
    fx_ix_containers_t *containers;
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

/* After it: back in the sums, and the view hears of it: of mc only
   when the manager's room neither opened nor closed (had_room: before). */
static void s_sum_for(fx_ix_manager_t *m, fx_ix_mc_t *mc, bool had_room)
{
    m->registry->window += s_window(m);
    m->registry->free += s_free(m);
    fx_ix_route_update(m->registry->route, m, mc && had_room == (s_free(m) > 0) ? mc : NULL);
}

static void s_sum(fx_ix_manager_t *m)
{
    s_sum_for(m, NULL, false);
}

/* ------------------------------------------------------------ containers */

uint32_t fx_ix_mc_idle(const fx_ix_mc_t *mc)
{
    uint32_t live = mc->workers > mc->in_flight ? mc->workers - mc->in_flight : 0;
    if (!mc->manager->capacity)
        return live;
    int64_t told = (int64_t) mc->idle + mc->done - mc->sent;
    return told < 0 ? 0 : told < live ? (uint32_t) told : live;
}

static void s_add(uint64_t *v, uint64_t x, int sign)
{
    if (sign > 0)
        *v += x;
    else
        *v -= x;
}

/* mc's part of its container's sums, out (sign -1) before a change and
   back in (+1) after it. */
static void s_mc_sums(fx_ix_mc_t *mc, int sign)
{
    fx_ix_container_t *c = fx_ix_containers_at(mc->manager->registry->containers, mc->slot);
    if (!c)
        return;
    s_add(&c->workers, mc->workers, sign);
    s_add(&c->backlog, mc->in_flight > mc->workers ? mc->in_flight - mc->workers : 0, sign);
    if (!mc->reported)
        return;
    s_add(&c->managers, mc->workers > 0, sign);
    s_add(&c->idle, mc->idle, sign);
    s_add(&c->busy, mc->busy, sign);
    s_add(&c->starting, mc->starting, sign);
}

fx_ix_mc_t *fx_ix_manager_mc(fx_ix_manager_t *self, uint32_t slot)
{
    if (slot == FX_IX_SLOT_HOST)
        return &self->bare;
    for (uint32_t i = 0; i < self->nmcs; i++)
        if (self->mcs[i]->slot == slot)
            return self->mcs[i];
    return NULL;
}

size_t fx_ix_manager_mc_count(const fx_ix_manager_t *self)
{
    return 1 + (size_t) self->nmcs;
}

fx_ix_mc_t *fx_ix_manager_mc_at(fx_ix_manager_t *self, size_t i)
{
    return i == 0 ? &self->bare : i <= self->nmcs ? self->mcs[i - 1] : NULL;
}

/* A new record of slot (not in any sum yet); NULL on OOM or for no slot. */
static fx_ix_mc_t *s_mc_make(fx_ix_manager_t *m, uint32_t slot)
{
    if (slot == FX_IX_SLOT_NONE)
        return NULL;
    if (m->nmcs == m->capmcs) {
        uint32_t cap = m->capmcs ? 2 * m->capmcs : 4;
        fx_ix_mc_t **more = realloc(m->mcs, cap * sizeof *more);
        if (!more)
            return NULL;
        m->mcs = more;
        m->capmcs = cap;
    }
    fx_ix_mc_t *mc = calloc(1, sizeof *mc);
    if (!mc)
        return NULL;
    mc->manager = m;
    mc->slot = slot;
    m->mcs[m->nmcs++] = mc;
    return mc;
}

/* Before new numbers (CAPACITY or CREDIT): every record out of the sums,
   its numbers cleared. */
static void s_records_begin(fx_ix_manager_t *m)
{
    s_unsum(m);
    for (size_t i = 0; i < fx_ix_manager_mc_count(m); i++) {
        fx_ix_mc_t *mc = fx_ix_manager_mc_at(m, i);
        s_mc_sums(mc, -1);
        mc->reported = false;
        mc->idle = mc->busy = mc->starting = mc->failures = mc->workers = 0;
        mc->sent = mc->done = 0;
    }
}

/* After them: records no longer reported and holding no task go, the rest
   back in the sums; the view and the status hear of it. */
static void s_records_end(fx_ix_manager_t *m)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < m->nmcs; i++) {
        fx_ix_mc_t *mc = m->mcs[i];
        if (!mc->reported && mc->in_flight == 0) {
            fx_ix_route_forget(m->registry->route, mc);
            free(mc);
        }
        else
            m->mcs[kept++] = mc;
    }
    m->nmcs = kept;
    for (size_t i = 0; i < fx_ix_manager_mc_count(m); i++)
        s_mc_sums(fx_ix_manager_mc_at(m, i), +1);
    s_sum(m);
    fx_ix_containers_changed(m->registry->containers);
}

static uint32_t s_u32_sum(uint32_t a, uint32_t b, uint32_t c)
{
    uint64_t v = (uint64_t) a + b + c;
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t) v;
}

void fx_ix_manager_capacity(fx_ix_manager_t *self, const fx_msg_t *msg)
{
    s_records_begin(self);
    self->capacity = true;
    self->window = msg->capacity.window;
    self->cold_free = msg->capacity.cold_free;
    self->cold_sent = 0;
    for (uint32_t i = 0; i < msg->capacity.count; i++) {
        const fx_container_capacity_t *r = &msg->capacity.containers[i];
        uint32_t slot = fx_ix_containers_slot(self->registry->containers, r->container_id, true);
        fx_ix_mc_t *mc = slot == FX_IX_SLOT_NONE ? NULL : fx_ix_manager_mc(self, slot);
        if (!mc && !(mc = s_mc_make(self, slot)))
            continue; /* past the slots, or out of memory: routed as if it had none */
        mc->idle = r->idle;
        mc->busy = r->busy;
        mc->starting = r->starting;
        mc->failures = r->failures;
        mc->workers = s_u32_sum(r->idle, r->busy, r->starting);
        mc->reported = true;
    }
    s_records_end(self);
}

uint32_t fx_ix_manager_cold_free(const fx_ix_manager_t *self)
{
    return self->cold_free > self->cold_sent ? self->cold_free - self->cold_sent : 0;
}

bool fx_ix_manager_reports_capacity(const fx_ix_manager_t *self)
{
    return self->capacity;
}

uint64_t fx_ix_manager_routed(const fx_ix_manager_t *self)
{
    return self->routed;
}

uint64_t fx_ix_manager_cold_routed(const fx_ix_manager_t *self)
{
    return self->cold_routed;
}

/* ------------------------------------------------------------ the registry */

static void s_manager_free(void **item_p)
{
    fx_ix_manager_t *self = *item_p;
    if (self) {
        zframe_destroy(&self->routing);
        zhashx_destroy(&self->seen);
        for (uint32_t i = 0; i < self->nmcs; i++)
            free(self->mcs[i]);
        free(self->mcs);
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
    self->containers = fx_ix_containers_new();
    self->route = self->containers ? fx_ix_route_new(ops, self->containers) : NULL;
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
    fx_ix_containers_destroy(&self->containers);
    free(self);
    *self_p = NULL;
}

fx_ix_route_t *fx_ix_managers_route(fx_ix_managers_t *self)
{
    return self->route;
}

fx_ix_containers_t *fx_ix_managers_containers(fx_ix_managers_t *self)
{
    return self->containers;
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
    for (size_t i = 0; i < fx_ix_manager_mc_count(m); i++)
        s_mc_sums(fx_ix_manager_mc_at(m, i), -1);
    fx_ix_containers_changed(self->containers);
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
    m->bare.manager = m;
    m->bare.slot = FX_IX_SLOT_HOST;
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
    s_sum(m); /* window 0: the view keeps it out until its CAPACITY or CREDIT */
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
    s_records_begin(self);
    self->capacity = false; /* CREDIT: the host's pool is min(window, workers) (SPEC 5.34) */
    self->window = window;
    self->cold_free = self->cold_sent = 0;
    self->bare.workers = window < self->workers ? window : self->workers;
    s_records_end(self);
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
    fx_ix_mc_t *mc = fx_ix_manager_mc(self, task->slot);
    if (!mc)
        mc = s_mc_make(self, task->slot); /* NULL: no slot, or out of memory; counted on none */
    bool cold = (!mc || fx_ix_mc_idle(mc) == 0) && fx_ix_manager_cold_free(self) > 0;
    bool had_room = s_free(self) > 0;
    s_unsum(self);
    if (mc)
        s_mc_sums(mc, -1);
    fx_ix_list_push_back(&self->in_flight, &task->node);
    task->holder = self;
    task->cold = cold;
    self->routed++;
    self->cold_sent += cold;
    self->cold_routed += cold;
    if (mc) {
        mc->in_flight++;
        mc->sent++;
        mc->routed++;
        mc->cold_routed += cold;
        fx_ix_container_t *c = fx_ix_containers_at(self->registry->containers, mc->slot);
        c->routed++;
        c->cold_routed += cold;
        s_mc_sums(mc, +1);
    }
    s_sum_for(self, mc, had_room);
}

void fx_ix_manager_release(fx_ix_manager_t *self, fx_ix_task_t *task)
{
    if (task->holder != self || !fx_ix_node_linked(&task->node))
        return;
    fx_ix_mc_t *mc = fx_ix_manager_mc(self, task->slot);
    bool had_room = s_free(self) > 0;
    s_unsum(self);
    if (mc)
        s_mc_sums(mc, -1);
    fx_ix_list_remove(&self->in_flight, &task->node);
    task->holder = NULL;
    if (mc) {
        if (mc->in_flight)
            mc->in_flight--;
        mc->done++;
        s_mc_sums(mc, +1);
    }
    s_sum_for(self, mc, had_room);
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
