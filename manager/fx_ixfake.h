/*  fx_ixfake.h: a fake interchange for the manager's tests (test code only,
    linked into fx_manager_test and fx_manager_faults_test).

    It binds a CurveZMQ ROUTER on 127.0.0.1 (port 0) and answers ZAP
    itself, admitting only the manager's key; it starts the real fx-manager,
    which runs real fx-workers (found beside it). Every wait has a deadline
    (stretched by FX_TEST_SLOW); nothing sleeps a fixed time, and no check
    waits for silence. Pickles are made and read by one process of the
    Python given on the command line, while the fake keeps pumping. It can
    also fail the handshake (another server key, a refused key) and capture
    the manager's stderr, for the scenarios about a hello that fails. */
#ifndef FX_IXFAKE_H
#define FX_IXFAKE_H

#include <czmq.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_msg.h"

/* The longest any wait of a scenario may take: generous, since ASan and
   valgrind builds are slow, and stretched by FX_TEST_SLOW. */
#define IX_WAIT_MS ((int) fx_test_ms(30000))
#define IX_BEAT_MS 200
#define IX_USER_ID "manager:test"
#define IX_PENDING_MAX 64

#include "fx_check.h"
#include "fx_testkit.h"
#include "fx_testproc.h"

typedef struct {
    const char *manager_bin;
    const char *python;
    char dir[64];
    char key_file[128];
    char addr[64];
    fx_keypair_t server;
    fx_keypair_t client;
    zsock_t *zap;
    zsock_t *router;
    zpoller_t *poller;
    fx_id_text_t manager_id;
    uint32_t workers, prefetch;
    pid_t pid;
    int pidfd;
    zframe_t *rid;
    uint32_t seq;
    uint32_t hello_seq;
    int heartbeats;
    bool beating; /* we send HEARTBEAT every IX_BEAT_MS */
    int64_t next_beat;
    int64_t last_sent;      /* when we last sent the manager anything */
    uint32_t stop_grace_ms; /* passed as --stop-grace-ms when nonzero */
    const char *extra[16];  /* more fx-manager flags, NULL-terminated; they win over the defaults */
    bool hold_acks;         /* false: every RESULTS is acked (RESULTS_ACK) as it arrives, as a
                               real interchange does once its broker committed them; true: the
                               test acks with ix_ack */
    fx_msg_t *pending[IX_PENDING_MAX];
    zframe_t *pending_rid[IX_PENDING_MAX]; /* the routing id each came from */
    int npending;
    uint32_t simulate; /* > 0: start fx-manager --simulate N --slots workers (no --id) */
    void (*on_beat)(void *arg, zframe_t *rid); /* called for each HEARTBEAT, if set */
    void *on_beat_arg;
    /* faults of the interchange side of the handshake */
    bool wrong_server_key; /* the manager is given another public key than ours */
    bool deny_key;         /* our ZAP handler refuses the manager's key */
    int zap_requests;      /* ZAP requests answered (one per handshake) */
    bool capture_stderr;   /* the manager's stderr goes to log_path (printed at teardown) */
    char log_path[128];
    fx_test_pickler_t *pickler; /* started on first use */
    /* the manager's last CAPACITY (SPEC 5.34): a CAPACITY whose window is
       the session's first or differs from the one before is queued in
       pending like any message (as CREDIT was); the others only update
       this view and count as heartbeats (the manager's periodic CAPACITY
       is its heartbeat) */
    int capacities;          /* CAPACITY messages seen */
    bool cap_known;          /* a CAPACITY came in this session */
    uint32_t cap_window, cap_cold_free, cap_count;
    fx_container_capacity_t cap[FX_CONTAINERS_MAX];
} ix_t;

/* processes and pickles */
int ix_pidfd_open(pid_t pid);
pid_t ix_spawn(char *const argv[], int in_fd, int out_fd);
zframe_t *ix_pickle(ix_t *ix, const char *expr); /* pickle of a Python literal */
char *ix_repr(ix_t *ix, zframe_t *frame);        /* repr of a pickle; caller frees */
int ix_wait_exit(pid_t pid, int pidfd, int ms);  /* wait status, or -1 after ms */
bool ix_gone(int pid);
int ix_read_pid(const char *path);
void ix_touch(const char *path);

/* the link */
void ix_pump(ix_t *ix, int ms);                             /* one message into pending, heartbeats counted */
fx_msg_t *ix_next(ix_t *ix, int ms);                        /* next non-heartbeat message, or NULL after ms */
fx_msg_t *ix_next_from(ix_t *ix, int ms, zframe_t **rid_p); /* the same, and the routing id it came from */
fx_msg_t *ix_expect(ix_t *ix, int type, int ms);            /* the next one, which must be of this type */
int ix_send(ix_t *ix, fx_msg_t **msg_p);
bool ix_wait_file(ix_t *ix, const char *path, int ms); /* pumping meanwhile */
int ix_log_count(ix_t *ix, const char *text);          /* times text occurs in the captured stderr */
bool ix_wait_log(ix_t *ix, const char *text, int times, int ms); /* pumping until it occurs that often */
void ix_welcome(ix_t *ix, uint32_t hello_seq);                   /* WELCOME answering that hello */
uint32_t
ix_hellos_only(ix_t *ix,
               uint32_t hello_seq); /* drains pending, which must hold hellos only; the last one's seq */
bool ix_wait_held(ix_t *ix,
                  const char *task_id); /* the manager's log says it holds that result without a session */
int ix_rebind(ix_t *ix);                /* close the ROUTER, bind a new one on the same port */
void ix_ack(ix_t *ix, const fx_id_text_t *ids, uint32_t count); /* RESULTS_ACK with these ids */

/* tasks */
void ix_task(ix_t *ix, fx_task_t *t, const char *body, const char *args);
void ix_send_task(ix_t *ix, const char *body, const char *args, uint32_t walltime_ms, fx_id_text_t id,
                  bool again);
void ix_send_one(ix_t *ix, const char *body, const char *args, fx_id_text_t id);
void ix_send_retries(ix_t *ix, const char *body, const char *args, uint32_t retries, fx_id_text_t id);
fx_msg_t *ix_result(ix_t *ix, const char *id); /* RESULTS with exactly that one result */
void ix_expect_ok(ix_t *ix, const char *id);
void ix_expect_credit(ix_t *ix, uint32_t window); /* the next message: CAPACITY (or CREDIT) with this window */
bool ix_window_of(const fx_msg_t *msg, uint32_t *window); /* CREDIT's or CAPACITY's window; false: neither */
/* The last CAPACITY's record of a container ("" = the host), or NULL. */
const fx_container_capacity_t *ix_cap_of(ix_t *ix, const char *container_id);
extern const char ix_waiter[]; /* f(path, release): writes its pid to path, returns once release exists */
bool ix_start_waiter(ix_t *ix, const char *name, fx_id_text_t id);
void ix_release(ix_t *ix, const char *name);

/* the manager */
int ix_start(ix_t *ix, uint32_t workers, uint32_t prefetch);
int ix_handshake_window(ix_t *ix, uint32_t window);
int ix_handshake(ix_t *ix);
void ix_stop(ix_t *ix, bool command); /* COMMAND STOP or SIGTERM; must exit 0 */
void ix_teardown(ix_t *ix);

/* Runs body on a fresh fake (the binaries from env, what ix_main was
   given), then tears the fake and its manager down. */
void ix_run(void *env, void (*body)(ix_t *ix));

/* Defines the scenario function NAME(void *env) for an fx_scenario_t
   table: the block that follows is its body, run by ix_run on a fresh
   fake `ix`. */
#define IX_SCENARIO(name)                                                                                    \
    static void name##_body(ix_t *ix);                                                                       \
    static void name(void *env)                                                                              \
    {                                                                                                        \
        ix_run(env, name##_body);                                                                            \
    }                                                                                                        \
    static void name##_body(ix_t *ix)

/* main() of a scenario file: PROG FX_MANAGER PYTHON [SCENARIO...]
   (fx_test_main: none or "all" runs every one; an unknown name exits 2). */
int ix_main(int argc, char **argv, const fx_scenario_t *scenarios, size_t count);

#endif
