/*  fx_mgr_bodies.c: function bodies by version on the manager; see
    fx_mgr_bodies.h. */
#include <stdlib.h>
#include <string.h>

#include "fx_mgr_bodies.h"
#include "fx_wlink.h" /* FX_WLINK_BODIES_MAX */

typedef struct {
    zframe_t *body;
    uint64_t used; /* the store's clock when last put or got */
} s_body_t;

struct fx_bodies_t {
    zhashx_t *bodies; /* version -> s_body_t */
    uint64_t clock;
    size_t bytes;
};

static void s_body_free(void **item_p)
{
    s_body_t *b = *item_p;
    if (b) {
        zframe_destroy(&b->body);
        free(b);
    }
    *item_p = NULL;
}

fx_bodies_t *fx_bodies_new(void)
{
    fx_bodies_t *self = calloc(1, sizeof *self);
    if (self && !(self->bodies = zhashx_new()))
        fx_bodies_destroy(&self);
    if (self)
        zhashx_set_destructor(self->bodies, s_body_free);
    return self;
}

void fx_bodies_destroy(fx_bodies_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->bodies);
    free(*self_p);
    *self_p = NULL;
}

static void s_forget(fx_bodies_t *self, const char *version)
{
    s_body_t *b = zhashx_lookup(self->bodies, version);
    if (b) {
        self->bytes -= zframe_size(b->body);
        zhashx_delete(self->bodies, version);
    }
}

/* Drops the body used longest ago (a scan: only when over a bound). */
static void s_evict(fx_bodies_t *self)
{
    const char *oldest = NULL;
    uint64_t when = UINT64_MAX;
    for (s_body_t *b = zhashx_first(self->bodies); b; b = zhashx_next(self->bodies))
        if (b->used < when) {
            when = b->used;
            oldest = zhashx_cursor(self->bodies);
        }
    if (oldest) {
        char key[FX_OID_LEN + 1];
        snprintf(key, sizeof key, "%s", oldest);
        s_forget(self, key);
    }
}

int fx_bodies_put(fx_bodies_t *self, const char *version, zframe_t **body_p)
{
    s_body_t *b = calloc(1, sizeof *b);
    if (!b)
        return FX_E_NOMEM;
    s_forget(self, version);
    b->body = *body_p;
    b->used = ++self->clock;
    if (zhashx_insert(self->bodies, version, b) != 0) {
        free(b);
        return FX_E_NOMEM;
    }
    *body_p = NULL;
    self->bytes += zframe_size(b->body);
    while (zhashx_size(self->bodies) > 1 &&
           (zhashx_size(self->bodies) > FX_MGR_BODIES_MAX || self->bytes > FX_MGR_BODIES_BYTES_MAX))
        s_evict(self);
    return FX_OK;
}

zframe_t *fx_bodies_get(fx_bodies_t *self, const char *version)
{
    s_body_t *b = zhashx_lookup(self->bodies, version);
    if (!b)
        return NULL;
    b->used = ++self->clock;
    return b->body;
}

size_t fx_bodies_count(fx_bodies_t *self)
{
    return zhashx_size(self->bodies);
}

/* ------------------------------------------------ per worker */

struct fx_seen_t {
    int pid;
    int64_t started_ms;
    zhashx_t *set;                            /* version -> (void *) 1 */
    fx_oid_text_t order[FX_WLINK_BODIES_MAX]; /* a ring, oldest at head */
    size_t head, len;
};

fx_seen_t *fx_seen_new(void)
{
    fx_seen_t *self = calloc(1, sizeof *self);
    if (self && !(self->set = zhashx_new())) {
        free(self);
        return NULL;
    }
    return self;
}

void fx_seen_destroy(fx_seen_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->set);
    free(*self_p);
    *self_p = NULL;
}

void fx_seen_for(fx_seen_t *self, int pid, int64_t started_ms)
{
    if (self->pid == pid && self->started_ms == started_ms)
        return;
    self->pid = pid;
    self->started_ms = started_ms;
    zhashx_purge(self->set);
    self->head = self->len = 0;
}

bool fx_seen_has(fx_seen_t *self, const char *version)
{
    return zhashx_lookup(self->set, version) != NULL;
}

void fx_seen_add(fx_seen_t *self, const char *version)
{
    if (fx_seen_has(self, version))
        return;
    if (self->len == FX_WLINK_BODIES_MAX) {
        zhashx_delete(self->set, self->order[self->head]);
        self->head = (self->head + 1) % FX_WLINK_BODIES_MAX;
        self->len--;
    }
    snprintf(self->order[(self->head + self->len) % FX_WLINK_BODIES_MAX], sizeof self->order[0], "%s",
             version);
    self->len++;
    zhashx_insert(self->set, version, (void *) 1);
}
