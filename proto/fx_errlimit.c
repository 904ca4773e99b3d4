/*  fx_errlimit.c: per-peer token buckets for ERROR replies. */
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>
#include <stdio.h>

#include "fx_errlimit.h"
#include "fx_clock.h"
#include "fx_msg.h"

typedef struct {
    double tokens;
    int64_t at; /* when tokens was last brought up to date */
} s_bucket_t;

struct _fx_errlimit_t {
    zhashx_t *buckets; /* routing hex -> s_bucket_t (owned) */
    uint64_t suppressed;
};

static void s_bucket_free(void **item)
{
    free(*item);
    *item = NULL;
}

fx_errlimit_t *fx_errlimit_new(void)
{
    fx_errlimit_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->buckets = zhashx_new();
    if (!self->buckets) {
        free(self);
        return NULL;
    }
    zhashx_set_destructor(self->buckets, s_bucket_free);
    return self;
}

void fx_errlimit_destroy(fx_errlimit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy(&(*self_p)->buckets);
    free(*self_p);
    *self_p = NULL;
}

static void s_refill(s_bucket_t *bucket, int64_t now)
{
    if (now > bucket->at) {
        bucket->tokens += (double) (now - bucket->at) * FX_ERRLIMIT_PER_SECOND / 1000.0;
        if (bucket->tokens > FX_ERRLIMIT_BURST)
            bucket->tokens = FX_ERRLIMIT_BURST;
    }
    bucket->at = now;
}

bool fx_errlimit_allow(fx_errlimit_t *self, zframe_t *routing, int64_t now)
{
    char *key = zframe_strhex(routing);
    if (!key)
        return true; /* out of memory: do not make it worse by silence */
    s_bucket_t *bucket = zhashx_lookup(self->buckets, key);
    if (!bucket) {
        bucket = calloc(1, sizeof *bucket);
        if (!bucket) {
            free(key);
            return true;
        }
        bucket->tokens = FX_ERRLIMIT_BURST;
        bucket->at = now;
        zhashx_insert(self->buckets, key, bucket);
    }
    free(key);
    s_refill(bucket, now);
    if (bucket->tokens >= 1.0) {
        bucket->tokens -= 1.0;
        return true;
    }
    self->suppressed++;
    return false;
}

uint64_t fx_errlimit_tick(fx_errlimit_t *self, int64_t now)
{
    zlist_t *full = zlist_new();
    for (s_bucket_t *bucket = zhashx_first(self->buckets); bucket && full;
         bucket = zhashx_next(self->buckets)) {
        s_refill(bucket, now);
        if (bucket->tokens >= FX_ERRLIMIT_BURST)
            zlist_append(full, (void *) zhashx_cursor(self->buckets));
    }
    /* Keys are copied: deleting frees the hash's own copy of the key. */
    for (const char *key = full ? zlist_first(full) : NULL; key; key = zlist_next(full)) {
        char *copy = strdup(key);
        zhashx_delete(self->buckets, copy);
        free(copy);
    }
    zlist_destroy(&full);
    uint64_t suppressed = self->suppressed;
    self->suppressed = 0;
    return suppressed;
}

bool fx_errlimit_vsend(fx_errlimit_t *self, zsock_t *sock, zframe_t *routing, uint32_t seq, int code,
                       const char *fmt, va_list ap)
{
    if (!fx_errlimit_allow(self, routing, fx_now_ms()))
        return false;
    char text[FX_TEXT_MAX + 1];
    vsnprintf(text, sizeof text, fmt, ap);
    fx_send_error(sock, routing, seq, code, "%s", text);
    return true;
}
