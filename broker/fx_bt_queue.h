/*  fx_bt_queue.h: a large queue through the real fx-broker, for the
    queue memory test and bench/fx_queue_bench.c. Task ids carry their index
    (prefix-0000-4000-8000-<12 hex digits>), so the drain checks every
    result with a bitmap instead of a table of a million ids. */
#ifndef FX_BT_QUEUE_H
#define FX_BT_QUEUE_H

#include "fx_bt.h"

typedef struct {
    bt_peer_t *client;
    bt_peer_t *endpoint; /* NULL until the drain */
    fx_id_text_t endpoint_id;
    fx_id_text_t function_id;
    fx_keypair_t user_kp, endpoint_kp;
    char prefix[9];  /* 8 hex digits, random per run */
    uint64_t queued; /* tasks submitted (and acknowledged) so far */
} bt_queue_t;

/* A user in a fresh state directory (bt_dir/state), a broker started with
   flags, the user's client session, a function and an endpoint registered
   (not connected). 0, or -1 after a failed CHECK, with the broker stopped
   and nothing left to free. */
int bt_queue_setup(bt_queue_t *q, bt_broker_t *broker, const char *const *flags);

/* Connects the queue's endpoint (ENDPOINT_HELLO -> WELCOME). 0 or -1. */
int bt_queue_connect(bt_queue_t *q, bt_broker_t *broker);

/* Frees the peers. */
void bt_queue_close(bt_queue_t *q);

/* The id of task number index. */
void bt_queue_id(const bt_queue_t *q, uint64_t index, fx_id_text_t out);

/* Submits tasks up to `total` in batches of at most FX_BATCH_MAX, a few
   SUBMITs in flight, each acknowledged (deadline per batch). 0 or -1. */
int bt_queue_fill(bt_queue_t *q, uint64_t total);

/* The endpoint (connected and welcomed) announces CREDIT window and
   answers every task; the client acks every pushed result. Returns the
   number of distinct results the client got (each checked to be one of
   ours, none twice) once it has `total` or nothing moved for idle_ms. */
uint64_t bt_queue_drain(bt_queue_t *q, uint64_t total, uint32_t window, int idle_ms);

/* VmRSS of a process in KiB, from /proc/PID/status; -1 if unreadable. */
long bt_rss_kib(pid_t pid);

#endif
