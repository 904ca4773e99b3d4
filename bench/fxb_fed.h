/*  fxb_fed.h: a real local federation for a scenario, started the way
    test/integration/fxharness.py starts one: fx-broker on two free
    loopback ports, a user made with `fx user create`, fx-endpoint with
    local managers; every process started and stopped by pid, all state in
    a fresh folder under --state-dir (the broker's state disk), removed
    afterwards. Also the fx Python driver (bench/fxb_fx_driver.py). */
#ifndef FXB_FED_H
#define FXB_FED_H

#include <sys/types.h>

#include "fxb.h"
#include "fxb_proc.h"

typedef struct fxb_fed_s fxb_fed_t;

/* The process kinds whose CPU time is reported, in table order. */
typedef enum { FXB_BROKER, FXB_ENDPOINT, FXB_MANAGER, FXB_WORKER, FXB_CLIENT, FXB_KINDS } fxb_kind_t;
extern const char *const fxb_kind_name[FXB_KINDS];

/* CPU microseconds per kind, summed over that kind's processes. */
typedef struct {
    double us[FXB_KINDS];
} fxb_cpu_t;

/* A new folder for a federation; nothing started yet. NULL on failure. */
fxb_fed_t *fxb_fed_new(const fxb_opts_t *opts);

/* Starts fx-broker (extra arguments, NULL-terminated, may be NULL) and
   waits for its ready line. 0 or -1. */
int fxb_fed_start_broker(fxb_fed_t *self, char *const extra[]);
/* `fx user create NAME`; the credentials file's path in creds. 0 or -1. */
int fxb_fed_add_user(fxb_fed_t *self, const char *name, char *creds, size_t cap);
/* Starts fx-endpoint for that user with opts' managers x workers and the
   flags in args (split at blanks; may be NULL or ""), waits for its ready
   line and its managers. 0 or -1. */
int fxb_fed_start_endpoint(fxb_fed_t *self, const char *creds, const char *args);

/* Broker, endpoint and credentials, once started. */
pid_t fxb_fed_broker_pid(const fxb_fed_t *self);
const char *fxb_fed_endpoint_id(const fxb_fed_t *self);
const char *fxb_fed_root(const fxb_fed_t *self);

/* CPU time of every process now: broker, endpoint, its managers (their
   own time), the managers' workers (with their reaped children: a shell
   task's /bin/sh), and the client driver if given. Processes are found
   afresh each call, so workers started in between count. */
void fxb_fed_cpu(fxb_fed_t *self, const fxb_driver_t *client, fxb_cpu_t *out);

/* Starts the fx driver for the user with creds against the endpoint. */
fxb_driver_t *fxb_fed_driver(fxb_fed_t *self, const char *creds);

/* All of the above for one scenario run: a broker (extra may be NULL), a
   user "bench", an endpoint with endpoint_args, and the fx driver, which
   has run warm round trips of every kind in opts->kinds on every worker.
   NULL (everything stopped again) on failure. */
fxb_fed_t *fxb_fed_up(const fxb_opts_t *opts, char *const extra[], const char *endpoint_args,
                      fxb_driver_t **driver_p);

/* Stops the endpoint (its managers and workers go with it), then the
   broker, each by pid; kills by pid whatever manager or worker is left;
   removes the folder. Accepts NULL. */
void fxb_fed_destroy(fxb_fed_t **self_p);

#endif
