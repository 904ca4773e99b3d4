/*  fx_mgr.h: the node agent behind fx-manager.

    One process, one zmq_poll loop over two links: a CurveZMQ DEALER to the
    interchange (fx_mgr_socket.h, renewed after a hello that brought no
    WELCOME) and the worker link to its own workers (worker/fx_wlink.h).
    Each pass runs the same phases in order: signals, interchange messages,
    worker messages, dead workers, dispatch, results, heartbeats. */
#ifndef FX_MGR_H
#define FX_MGR_H

#include <stdint.h>

#include "fx_msg.h"

/* Container strategies (SPEC 12.7.3): when every slot is taken, lru
   retires the least recently used idle worker of another container for a
   cold start; keep starts workers only in free slots. */
typedef enum { FX_CTR_LRU = 0, FX_CTR_KEEP = 1 } fx_ctr_strategy_t;

typedef struct {
    const char *interchange; /* tcp://host:port */
    const char *server_key;  /* interchange's public key, z85 */
    const char *key_file;    /* this manager's keypair file */
    uint32_t workers;
    uint32_t prefetch;
    uint32_t heartbeat_ms;
    uint32_t heartbeat_missed; /* beats of silence before the interchange counts as lost */
    uint32_t stop_grace_ms;    /* COMMAND STOP, SIGTERM: longest wait for running tasks */
    uint32_t orphan_timeout_s; /* exit 0 after this long without the interchange; 0 = never */
    fx_id_text_t id;           /* manager id */
    const char *worker_path;   /* fx-worker binary */
    /* containers (SPEC 12.7, fx_mgr_pools.c) */
    fx_ctr_strategy_t strategy;          /* --container-strategy */
    uint32_t max_per_container;          /* --max-workers-per-container; 0 = no cap */
    uint32_t container_idle_ms;          /* --container-idle-ms; 0 = never retire */
    uint32_t container_start_timeout_ms; /* --container-start-timeout-ms */
    const char *const *templates;        /* --container-template NAME=TEXT, template_count of them */
    uint32_t template_count;
    const char *stats_file;              /* --stats-file: the pools' counters, rewritten as they change */
} fx_mgr_args_t;

/* Runs the manager until the end of a DRAIN, a STOP or a SIGTERM/SIGINT
   (running tasks finish within stop_grace_ms; a second signal stops at
   once), orphan_timeout_s without the interchange, or a refusal. Returns
   the process exit status: 0 after a stop, 1 if the interchange refused us
   or setup failed. */
int fx_mgr_run(const fx_mgr_args_t *args);

#endif
