/*  fx_ix_launcher.h: local managers, started and stopped by this endpoint.

    Each fx-manager (found beside fx-endpoint via fx_self_dir) runs in its
    own session and process group (setsid), so a terminal's Ctrl-C or a
    signal to the endpoint's group does not reach it and it could outlive
    the endpoint; the endpoint stops its managers explicitly, by pid. The
    managers' stdout goes to the endpoint's stderr: the endpoint's stdout
    carries only its own "fx-endpoint: ..." lines.

    Managers survive the endpoint (kill -9 included) and are adopted by its
    next start: the launcher keeps DIR/managers.pids (one pid per line,
    rewritten atomically whenever the set changes), and _adopt takes the
    pids listed there that still run fx-manager with this endpoint's key
    file. An adopted manager is not our child: it is watched through /proc
    instead of waitpid, and stopped by pid like the others. */
#ifndef FX_IX_LAUNCHER_H
#define FX_IX_LAUNCHER_H

#include <stddef.h>

typedef struct {
    const char *interchange; /* address the managers dial */
    const char *server_key;  /* the endpoint's public key (z85) */
    const char *key_file;    /* DIR/manager.key */
    int workers;
    int prefetch;
    int heartbeat_ms;
    int heartbeat_missed; /* passed only when not FX_HEARTBEAT_MISSED_DEFAULT */
} fx_ix_launch_conf_t;

typedef struct fx_ix_launcher_t fx_ix_launcher_t;

/* Caller owns the launcher; pids_path (copied; NULL: none) is where the
   set of running managers is kept. NULL only on OOM. */
fx_ix_launcher_t *fx_ix_launcher_new(const char *pids_path);
/* Does not stop anything (see _stop). Accepts NULL. */
void fx_ix_launcher_destroy(fx_ix_launcher_t **self_p);

/* Start count managers. Returns 0, or -1 with a sentence in err (the ones
   started so far keep running; _stop ends them). */
int fx_ix_launcher_start(fx_ix_launcher_t *self, const fx_ix_launch_conf_t *conf, int count, char *err,
                         size_t errlen);

/* Adopt the managers of an earlier run: the pids in the pids file that are
   alive and run fx-manager with key_file on their command line. Returns
   how many were adopted (logged each). */
int fx_ix_launcher_adopt(fx_ix_launcher_t *self, const char *key_file);

/* Adopted managers still running: up to cap pids into out; returns how
   many were written. */
int fx_ix_launcher_adopted(fx_ix_launcher_t *self, int *out, int cap);

/* SIGTERM one running manager (an adopted one that did not come back); it
   stays watched until it is gone. */
void fx_ix_launcher_terminate(fx_ix_launcher_t *self, int pid);

/* Collect managers that exited (non-blocking), logging how each ended.
   Returns how many are still running. */
int fx_ix_launcher_reap(fx_ix_launcher_t *self);

/* SIGTERM every running manager, wait up to timeout_ms for them to exit,
   then SIGKILL the process group of each one left. Returns how many had to
   be killed. */
int fx_ix_launcher_stop(fx_ix_launcher_t *self, int timeout_ms);

#endif
