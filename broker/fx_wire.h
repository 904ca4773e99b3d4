/*  fx_wire.h: test helpers over the real fx-broker binary: start and stop
    it on a temporary state directory, and play clients and endpoints over
    CurveZMQ (DEALER peers). Every wait has a deadline; nothing sleeps a
    fixed time to let something happen. Used by the broker's wire tests, the
    queue memory test and bench/fx_queue_bench.c. Not part of any product. */
#ifndef FX_WIRE_H
#define FX_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fx_store.h"


#include "fx_check.h"

/* Deadlines scale on slow machines (valgrind, sanitizers): FX_TEST_SLOW=N. */
extern int fxw_slow;
#define WAIT_MS (3000 * fxw_slow)
#define QUIET_MS (400 * fxw_slow)

/* argv[1] of the test: the broker binary; argv[2...]: a wrapper (valgrind). */
extern const char *fxw_binary;
extern char **fxw_wrapper;
extern char fxw_dir[256]; /* temporary directory: state/ and broker.log */
extern char fxw_log[300];

typedef struct {
    pid_t pid;
    char client_addr[128];
    char endpoint_addr[128];
    char public_key[FX_KEY_LEN + 1];
} fxw_broker_t;

/* A test client or endpoint: a CurveZMQ DEALER. keepalive: send HEARTBEAT
   while the test waits on anything (only once it has a session). */
typedef struct {
    const char *name;
    zsock_t *sock;
    fx_keypair_t kp;
    uint32_t seq;
    bool keepalive;
    bool endpoint; /* said ENDPOINT_HELLO: on the endpoint port */
    int64_t beat_ms;
} fxw_peer_t;

#define FXW_PEERS_MAX 16

/* The usual cast: users Alice and Bob, a broker, both users' client
   sessions, Alice's function and endpoint registered, the endpoint
   connected (said hello, no credit yet). */
typedef struct {
    fxw_broker_t broker;
    fx_keypair_t alice_kp, bob_kp, ep_kp;
    fx_id_text_t alice, bob, client, bob_client, fn, ep;
    fxw_peer_t *alice_c, *bob_c, *endpoint;
} fxw_world_t;

/* Users in a fresh store (fxw_dir/state), the broker started with flags,
   the rest as above. 0 or -1. */
int fxw_world_setup(fxw_world_t *w, const char *const *flags);
/* Frees the peers and stops the broker (it must exit 0). */
void fxw_world_teardown(fxw_world_t *w);

/* Reads argv (broker path, wrapper) and FX_TEST_SLOW, sets czmq up for a
   test, makes the temporary directory. Exits 2 on bad usage. */
void fxw_init(int argc, char **argv, const char *name);
/* Reports and returns the exit code; removes the directory if all passed. */
int fxw_finish(const char *name);

#define fxw_expect(p, type, seq) fxw_expect_at((p), (type), (seq), __LINE__)
#define fxw_expect_error(p, code, seq) fxw_expect_error_at((p), (code), (seq), __LINE__)

int fxw_broker_start(fxw_broker_t *b, const char *client_bind, const char *endpoint_bind,
                     const char *const *extra);
void fxw_broker_wait(fxw_broker_t *b);
void fxw_broker_stop(fxw_broker_t *b);
fxw_peer_t *fxw_peer_new(const char *name, const char *addr, const fx_keypair_t *kp, const char *server_key);
void fxw_peer_destroy(fxw_peer_t **p_p);
void fxw_raw(fxw_peer_t *p, zmsg_t *zmsg);
uint32_t fxw_send(fxw_peer_t *p, fx_msg_t *msg);
void fxw_keepalive(void);
fx_msg_t *fxw_next(fxw_peer_t *p, int timeout_ms);
fx_msg_t *fxw_expect_at(fxw_peer_t *p, int type, uint32_t seq, int line);
void fxw_expect_error_at(fxw_peer_t *p, int code, uint32_t seq, int line);
bool fxw_quiet(fxw_peer_t *p);
/* A barrier on p's connection: sends a request whose reply must come
   after everything the broker sent p before it read the request (STATUS
   of no task on the client port; on the endpoint port, RESULTS for a task
   nobody has, which SPEC 8.4 has acknowledged and dropped), and reads up to
   that reply. True if nothing but heartbeats came before it; what did is
   reported. */
bool fxw_barrier(fxw_peer_t *p);
uint32_t fxw_hello(fxw_peer_t *client, const char *client_id);
uint32_t fxw_session(fxw_peer_t *client, const char *client_id, const char *user_id);
void fxw_endpoint_hello(fxw_peer_t *ep, const char *endpoint_id, bool ok);
void fxw_credit(fxw_peer_t *ep, uint32_t window);
uint32_t fxw_register_function(fxw_peer_t *client, const char *id, const char *body);
uint32_t fxw_register_endpoint(fxw_peer_t *client, const char *id, const char *name, const char *key);
uint32_t fxw_submit(fxw_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                    fx_id_text_t *ids);
void fxw_submit_ok(fxw_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                   fx_id_text_t *ids);
/* SUBMIT n tasks with the given ids (a resend). Returns the seq. */
uint32_t fxw_submit_ids(fxw_peer_t *client, const char *endpoint_id, const char *function_id, uint32_t n,
                        const fx_id_text_t *ids);
uint32_t fxw_take_tasks(fxw_peer_t *ep, uint32_t want, fx_id_text_t *ids, uint32_t *attempts);
/* RESULTS for ids (value "v:<id>"); returns the seq, reads nothing. */
uint32_t fxw_results(fxw_peer_t *ep, const fx_id_text_t *ids, uint32_t n);
void fxw_return(fxw_peer_t *ep, fx_id_text_t *ids, uint32_t n);
void fxw_collect(fxw_peer_t *client, fx_id_text_t *ids, uint32_t n, bool ack);
int fxw_status(fxw_peer_t *client, const char *task_id, uint32_t *attempts);

#endif
