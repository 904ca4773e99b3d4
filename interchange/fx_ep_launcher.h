/*  fx_ep_launcher.h: local managers, started and stopped by this endpoint.

    Each fx-manager (found beside fx-endpoint via fx_self_dir) runs in its
    own session and process group (setsid), so a terminal's Ctrl-C or a
    signal to the endpoint's group does not reach it and it could outlive
    the endpoint; the endpoint stops its managers explicitly, by pid. The
    managers' stdout goes to the endpoint's stderr: the endpoint's stdout
    carries only its own "fx-endpoint: ..." lines. */
#ifndef FX_EP_LAUNCHER_H
#define FX_EP_LAUNCHER_H

#include <stddef.h>

typedef struct {
    const char *interchange; /* address the managers dial */
    const char *server_key;  /* the endpoint's public key (z85) */
    const char *key_file;    /* DIR/manager.key */
    int workers;
    int prefetch;
    int heartbeat_ms;
} fx_ep_launch_conf_t;

typedef struct fx_ep_launcher_t fx_ep_launcher_t;

/* Caller owns the launcher. NULL only on OOM. */
fx_ep_launcher_t *fx_ep_launcher_new(void);
/* Does not stop anything (see _stop). Accepts NULL. */
void fx_ep_launcher_destroy(fx_ep_launcher_t **self_p);

/* Start count managers. Returns 0, or -1 with a sentence in err (the ones
   started so far keep running; _stop ends them). */
int fx_ep_launcher_start(fx_ep_launcher_t *self, const fx_ep_launch_conf_t *conf, int count, char *err,
                         size_t errlen);

/* Collect managers that exited (non-blocking), logging how each ended.
   Returns how many are still running. */
int fx_ep_launcher_reap(fx_ep_launcher_t *self);

/* SIGTERM every running manager, wait up to timeout_ms for them to exit,
   then SIGKILL the process group of each one left. Returns how many had to
   be killed. */
int fx_ep_launcher_stop(fx_ep_launcher_t *self, int timeout_ms);

#endif
