/*  fx_ix_internal.h: the interchange's state, shared by its three files
    (fx_interchange.c: life cycle and loop; fx_ix_broker_side.c: the broker
    link; fx_ix_manager_side.c: the managers' ROUTER). Not for other code. */
#ifndef FX_IX_INTERNAL_H
#define FX_IX_INTERNAL_H

#include <stdbool.h>

#include "fx_ix_launcher.h"
#include "fx_ix_link.h"
#include "fx_ix_managers.h"
#include "fx_ix_results.h"
#include "fx_ix_stats.h"
#include "fx_ix_tasks.h"
#include "fx_interchange.h"

/* A manager's CREDIT above this is refused as a bad field: fx_limits.h. */
#define FX_IX_MANAGER_WINDOW_MAX FX_MANAGER_WINDOW_MAX

/* Messages read from one socket per pass, so that one busy peer cannot
   starve the other phases. */
#define FX_IX_READS_PER_PASS 256

/* ERROR replies to managers per second, in all: a broken or hostile peer
   holding the manager key cannot make the endpoint spend its loop on error
   replies and log lines (SPEC 10.3). The rest are only counted. */
#define FX_IX_ERRORS_PER_SEC 50

struct fx_interchange_t {
    const fx_interchange_conf_t *conf;
    fx_ix_link_t *link;
    zsock_t *router; /* managers */
    zsock_t *zap;    /* ZAP handler for the router */
    zpoller_t *poller;
    char manager_addr[FX_ADDR_MAX]; /* where local managers dial */
    fx_ix_tasks_t *tasks;
    fx_ix_managers_t *managers;
    fx_ix_results_t *results;
    fx_ix_launcher_t *launcher;
    zlistx_t *orphans; /* scratch: tasks of lost managers */
    fx_ix_stats_t stats;
    bool credit_sent;          /* a CREDIT went out since the last WELCOME */
    bool status_sent;          /* an ENDPOINT_STATUS went out since then */
    uint32_t status[3];        /* managers, workers, free: as sent last */
    bool draining;             /* COMMAND(DRAIN): announce 0, stop when empty */
    bool leaving;              /* SIGTERM: window 0, managers drain, no dispatch;
                                  stop once in-flight results are acked */
    bool stopping;             /* signal, end of a drain, or STOP's grace over */
    int64_t stop_deadline;     /* STOP or signal: exit by then; 0 = none */
    int64_t adopt_deadline;    /* managers of an earlier run: hello by then; 0 = none */
    bool fatal;                /* the broker refused us: exit 1 */
    int64_t next_beat;         /* next heartbeat / periodic CREDIT to the broker */
    int64_t next_manager_beat; /* next heartbeat to the managers */
    int64_t next_stats;        /* next stats file write */
    int64_t error_second;      /* start of the current second of ERROR replies */
    int errors_this_second;    /* ERROR replies to managers sent in it */
};

/* fx_ix_broker_side.c */
void fx_ix_broker_read(fx_interchange_t *self);
void fx_ix_broker_send(fx_interchange_t *self, int64_t now, bool beat);
void fx_ix_broker_check(fx_interchange_t *self, int64_t now);

/* fx_ix_manager_side.c */
int fx_ix_manager_side_bind(fx_interchange_t *self, char *err, size_t errlen);
void fx_ix_zap_read(fx_interchange_t *self);
void fx_ix_manager_read(fx_interchange_t *self);
void fx_ix_managers_beat(fx_interchange_t *self);
void fx_ix_managers_command(fx_interchange_t *self, int command);
/* CANCEL(ids) to each manager that holds some of these tasks (its ids
   only). Returns how many ids went to a manager. */
/* RESULTS_ACK to each manager named in pairs (sorted here), with the task
   ids of its pairs, once the broker acked those results; managers no
   longer connected are skipped. */
void fx_ix_managers_ack(fx_interchange_t *self, fx_ix_ack_pair_t *pairs, size_t npairs);
size_t fx_ix_managers_cancel(fx_interchange_t *self, const fx_id_text_t *ids, uint32_t count);
void fx_ix_dispatch(fx_interchange_t *self);
void fx_ix_expire(fx_interchange_t *self, int64_t now);
/* Requeue self->orphans at the front of the FIFO, without counting
   anything against the task; empties the list. */
void fx_ix_requeue_orphans(fx_interchange_t *self);

/* What the endpoint holds against the window of the current broker
   session (see fx_ix_stats.h): tasks held, less the old ones the broker
   does not count, plus results not yet sent. */
uint64_t fx_ix_held(fx_interchange_t *self);

/* The window to announce: the managers' windows, less the old tasks still
   held; 0 while draining. */
uint32_t fx_ix_window(fx_interchange_t *self);

#endif
