/*  fx_bt.h: bt_ = "broker test": the helpers of the broker's tests over
    the real fx-broker binary. They start and stop it on a temporary state
    directory and play clients and endpoints over CurveZMQ (DEALER peers).
    Every wait has a deadline (stretched by FX_TEST_SLOW through
    fx_test_ms); nothing sleeps a fixed time to let something happen, and
    "nothing came" is only ever concluded at a barrier (bt_barrier). Used by
    the broker's wire tests, the queue memory test and
    bench/fx_queue_bench.c. Not part of any product. fx_bt.c: the broker
    process and the program's life; fx_bt_peer.c: peers and their waits;
    fx_bt_steps.c: protocol steps and the usual world.

    A test program built on them is run as
        PROG BROKER [SCENARIO...] [-- WRAPPER ARGS...]
    BROKER: the fx-broker binary (or fx_broker_faults); SCENARIO: names for
    fx_test_main (none: all); WRAPPER (valgrind ...): runs the broker. */
#ifndef FX_BT_H
#define FX_BT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fx_check.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_store.h"
#include "fx_testkit.h"

/* The deadline of one expected message (stretched by FX_TEST_SLOW). Only
   a failing test waits it out, so it is generous: a 4 MiB SUBMIT committed
   with fsync on a busy shared disk has taken over 3 s. */
#define BT_WAIT_MS ((int) fx_test_ms(10000))

extern const char *bt_binary;
extern char **bt_wrapper;
extern char bt_dir[256]; /* temporary directory: state/ and broker.log */
extern char bt_log[300];
/* True if the broker's log (bt_log) has text on one of its lines. */
bool bt_log_has(const char *text);

typedef struct {
    pid_t pid;
    char client_addr[128];
    char endpoint_addr[128];
    char public_key[FX_KEY_LEN + 1];
} bt_broker_t;

/* A test client or endpoint: a CurveZMQ DEALER. keepalive: send HEARTBEAT
   while the test waits on anything (only once it has a session). */
typedef struct {
    const char *name;
    zsock_t *sock;
    zsock_t *monitor; /* the socket's events (bt_event) */
    fx_keypair_t kp;
    uint32_t seq;
    bool keepalive;
    bool endpoint; /* said ENDPOINT_HELLO: on the endpoint port */
    int64_t beat_ms;
    zlist_t *stash; /* messages read ahead (bt_return's TASKS), for bt_next */
} bt_peer_t;

#define BT_PEERS_MAX 16

/* The usual cast: users Alice and Bob, a broker, both users' client
   sessions, Alice's function and endpoint registered, the endpoint
   connected (said hello, no credit yet). */
typedef struct {
    bt_broker_t broker;
    fx_keypair_t alice_kp, bob_kp, ep_kp;
    fx_id_text_t alice, bob, client, bob_client, fn, ep;
    bt_peer_t *alice_c, *bob_c, *endpoint;
} bt_world_t;

/* Users in a fresh store (bt_dir/state), the broker started with flags,
   the rest as above. 0 or -1. */
int bt_world_setup(bt_world_t *w, const char *const *flags);
/* Frees the peers and stops the broker (it must exit 0). */
void bt_world_teardown(bt_world_t *w);

/* Reads argv as above; the scenario names go to *count and *names (for
   fx_test_main). Sets czmq up for a test and makes the temporary directory.
   Exits 2 on bad usage. */
void bt_init(int argc, char **argv, const char *name, int *count, char ***names);
/* rc: fx_test_main's. Removes the directory if it is 0, else names the
   broker's log. Returns rc. */
int bt_finish(int rc);

/* REQUIRE for a scenario function (void, no cleanup label): CHECK, then
   return. */
#define BT_REQUIRE(cond)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            CHECK(cond);                                                                                     \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)

#define bt_expect(p, type, seq) bt_expect_at((p), (type), (seq), __LINE__)
#define bt_expect_error(p, code, seq) bt_expect_error_at((p), (code), (seq), __LINE__)

int bt_broker_start(bt_broker_t *b, const char *client_bind, const char *endpoint_bind,
                    const char *const *extra);
void bt_broker_wait(bt_broker_t *b);
/* Starts another broker on the same state directory (ports 0) and waits
   (deadline) for it to exit by itself: its exit status, or -1 if it did not
   (then it is killed). What it printed is in out. */
int bt_broker_refused(char *out, size_t cap);
void bt_broker_stop(bt_broker_t *b);
bt_peer_t *bt_peer_new(const char *name, const char *addr, const fx_keypair_t *kp, const char *server_key);
void bt_peer_destroy(bt_peer_t **p_p);
void bt_raw(bt_peer_t *p, zmsg_t *zmsg);
uint32_t bt_send(bt_peer_t *p, fx_msg_t *msg);
void bt_keepalive(void);
fx_msg_t *bt_next(bt_peer_t *p, int timeout_ms);
fx_msg_t *bt_expect_at(bt_peer_t *p, int type, uint32_t seq, int line);
void bt_expect_error_at(bt_peer_t *p, int code, uint32_t seq, int line);
/* A barrier on p's connection: sends a request whose reply must come
   after everything the broker sent p before it read the request (STATUS
   of no task on the client port; on the endpoint port, RESULTS for a task
   nobody has, which SPEC 8.4 has acknowledged and dropped), and reads up to
   that reply. True if nothing but heartbeats came before it; what did is
   reported. */
bool bt_barrier(bt_peer_t *p);
/* The same; returns how many messages came before the reply (-1: no
   reply), *errors (may be NULL) how many of them were ERRORs. */
int bt_barrier_count(bt_peer_t *p, bool report, int *errors);
/* Waits (deadline) for one of the monitor events (ZMQ_EVENT_...) on p's
   connection: ZAP refused it (HANDSHAKE_FAILED_AUTH), it came up
   (HANDSHAKE_SUCCEEDED) or ended (DISCONNECTED). The event, or 0. */
int bt_event(bt_peer_t *p, int events, int timeout_ms);
/* Polls STATUS of task_id until its state is not `leave` or timeout_ms
   passed; the last state (attempts too, if not NULL). */
int bt_wait_state(bt_peer_t *client, const char *task_id, int leave, uint32_t *attempts, int timeout_ms);
/* The gap between two polls of a condition with its own deadline. */
void bt_poll_gap(void);
uint32_t bt_hello(bt_peer_t *client, const char *client_id);
uint32_t bt_session(bt_peer_t *client, const char *client_id, const char *user_id);
void bt_endpoint_hello(bt_peer_t *ep, const char *endpoint_id, bool ok);
void bt_credit(bt_peer_t *ep, uint32_t window);
uint32_t bt_register_function(bt_peer_t *client, const char *id, const char *body);
uint32_t bt_register_endpoint(bt_peer_t *client, const char *id, const char *name, const char *key);
uint32_t bt_submit(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                   fx_id_text_t *ids);
void bt_submit_ok(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                  fx_id_text_t *ids);
/* SUBMIT n tasks with the given ids (a resend). Returns the seq. */
uint32_t bt_submit_ids(bt_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                       const fx_id_text_t *ids);
uint32_t bt_take_tasks(bt_peer_t *ep, uint32_t want, fx_id_text_t *ids, uint32_t *attempts);
/* RESULTS for ids (value "v:<id>"); returns the seq, reads nothing. */
uint32_t bt_results(bt_peer_t *ep, const fx_id_text_t *ids, uint32_t n);
void bt_return(bt_peer_t *ep, fx_id_text_t *ids, uint32_t n);
void bt_collect(bt_peer_t *client, fx_id_text_t *ids, uint32_t n, bool ack);
int bt_status(bt_peer_t *client, const char *task_id, uint32_t *attempts);

#endif
