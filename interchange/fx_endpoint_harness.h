/*  fx_endpoint_harness.h: a broker (two CurveZMQ ROUTERs and a ZAP handler
    answering from a small table, on free loopback ports) and managers,
    played by a test against the real fx-endpoint binary. Used by
    fx_endpoint_test.c and fx_endpoint_recovery_test.c.

    Every wait has a deadline (WAIT_UNTIL, ept_expect), stretched by
    FX_TEST_SLOW through fx_test_ms (fx_testkit.h); nothing sleeps for a
    fixed time, and nothing waits for silence: a check that something did
    not arrive comes after a barrier (ept_barrier). */
#ifndef FX_ENDPOINT_HARNESS_H
#define FX_ENDPOINT_HARNESS_H

#include <limits.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "fx_clock.h"
#include "fx_creds.h"
#include "fx_curve.h"
#include "fx_file.h"
#include "fx_msg.h"

#include "fx_check.h"
#include "fx_testkit.h"

#define HB_MS 100     /* the heartbeat the endpoint and the played broker use */
#define WAIT_MS 10000 /* a deadline on a quiet machine; fx_test_ms stretches it */
#define MAX_FAKES 4

/* A manager played by the test. */
typedef struct {
    zsock_t *sock;
    zlistx_t *inbox; /* fx_msg_t *, owned */
    fx_id_text_t id;
    bool beating; /* send HEARTBEAT every HB_MS */
    int64_t next_beat;
    uint32_t seq;
} ept_fake_t;

/* The broker played by the test, and the fx-endpoint it serves. */
typedef struct {
    char root[PATH_MAX];
    fx_keypair_t broker_kp, user_kp;
    fx_id_text_t user_id;
    zsock_t *zap, *client, *endpoint;
    char client_addr[64], endpoint_addr[64];
    bool refuse_register;
    bool deny_endpoint;   /* ZAP refuses the endpoint port while set */
    int endpoint_denials; /* handshakes refused that way */
    /* learned from the endpoint */
    fx_id_text_t ep_id;
    char ep_pub[FX_KEY_LEN + 1];
    bool client_hello_seen, registered, register_before_hello;
    int ep_hellos;
    uint32_t hello_allowed;            /* the last ENDPOINT_HELLO's allowed_functions: how many */
    fx_id_text_t hello_allowed_ids[4]; /* and the first few */
    char ep_user_id[128];
    zframe_t *ep_routing;
    zlistx_t *ep_inbox; /* fx_msg_t * from the endpoint: not HEARTBEAT, CREDIT, ENDPOINT_HELLO */
    int credits;
    uint32_t window;
    int statuses; /* ENDPOINT_STATUS messages, and the last one */
    uint32_t st_managers, st_workers, st_free;
    uint32_t st_ncontainers; /* its container records (the first 8) */
    fx_endpoint_container_t st_containers[8];
    uint32_t seq;
    int64_t next_beat;
    int hb_ms; /* the broker's heartbeat period (its WELCOMEs, its beats): HB_MS unless a
                  load driver sets it after ept_broker_start */
    /* the process */
    pid_t pid;
    int out_fd;
    char out[8192];
    size_t out_len;
    char ready_id[64];
    char managers_addr[256];
    int exit_status; /* -1 while running */
    ept_fake_t fakes[MAX_FAKES];
    int nfakes;
} ept_broker_t;

/* Pump until cond holds or fx_test_ms(WAIT_MS) pass; true if it held.
   cond is evaluated once per round (it may take a message out of an
   inbox). */
#define WAIT_UNTIL(b, cond)                                                                                  \
    ({                                                                                                       \
        int64_t deadline_ = fx_test_deadline(WAIT_MS);                                                       \
        bool held_ = false;                                                                                  \
        while (!(held_ = (cond)) && fx_test_now_ms() < deadline_)                                            \
            ept_pump((b), 20);                                                                               \
        held_;                                                                                               \
    })

/* A pickled ((21,), {}): the payload of the test's tasks. */
#define EPT_SHELL_PAYLOAD_LEN 14
extern const char ept_shell_payload[EPT_SHELL_PAYLOAD_LEN + 1];

/* Messages and inboxes. */
fx_msg_t *ept_take(zlistx_t *inbox, fx_msg_type_t type); /* first of type, or NULL */
int ept_send(zsock_t *sock, zframe_t *routing, fx_msg_t *msg, uint32_t *seq);
/* One round of everything (ZAP, broker ports, stdout, fakes, heartbeats). */
void ept_pump(ept_broker_t *b, int timeout_ms);
/* Wait for a message of this type in inbox; caller owns it (NULL on timeout). */
fx_msg_t *ept_expect(ept_broker_t *b, zlistx_t *inbox, fx_msg_type_t type);

/* A barrier on f's connection: f sends a request the endpoint must refuse
   (RESULTS_ACK is not a manager's message: ERROR FX_E_UNEXPECTED, or
   FX_E_NO_SESSION once f is lost) and waits for the ERROR echoing its seq.
   The endpoint reads a connection in order and answers on it in order, so
   everything it sent f in answer to what f sent before, or before it read
   the barrier, is in f's inbox once this returns true. */
bool ept_barrier(ept_broker_t *b, ept_fake_t *f);

/* The broker, and fx-endpoint (flags after managers, NULL-ended; may be
   started again in the same state dir after it ended). managers NULL: no
   --managers flag (the provider of ROOT/ep/config.yaml, if any, decides). */
int ept_broker_start(ept_broker_t *b);
int ept_endpoint_start(ept_broker_t *b, const char *managers, ...);
/* A counter of ROOT/ep.stats (the endpoint's --stats-file), or -1. */
long ept_stat(ept_broker_t *b, const char *key);
/* The text of a row of it into out ("" if none). */
void ept_stat_text(ept_broker_t *b, const char *key, char *out, size_t cap);
/* ROOT/ep/config.yaml, read by the next ept_endpoint_start. 0 or -1. */
int ept_write_config(ept_broker_t *b, const char *text);
int ept_endpoint_stop(ept_broker_t *b); /* SIGTERM, wait: exit status */
void ept_broker_stop(ept_broker_t *b, bool keep_root);
bool ept_until_ready(ept_broker_t *b); /* registered, welcomed, first CREDIT */

/* Managers played by the test. */
ept_fake_t *ept_fake_new(ept_broker_t *b, const fx_keypair_t *kp);
fx_keypair_t ept_manager_key(ept_broker_t *b);
bool ept_fake_hello(ept_broker_t *b, ept_fake_t *f, uint32_t window);
/* f sends CAPACITY (SPEC 5.34): window, cold_free and n container records. */
void ept_fake_capacity(ept_fake_t *f, uint32_t window, uint32_t cold_free, const fx_container_capacity_t *recs,
                       uint32_t n);
/* The broker sends CONTAINERS with one definition (SPEC 5.35). */
void ept_define_container(ept_broker_t *b, const char *id, const char *name, const char *runtime,
                          const char *image);
void ept_expect_error(ept_broker_t *b, ept_fake_t *f, zmsg_t *raw, int code, const char *what);
zmsg_t *ept_raw(uint32_t version, uint32_t type, void (*body)(msgpack_packer *));
void ept_body_bad_hello(msgpack_packer *pk);
void ept_body_seven_nils(msgpack_packer *pk);
void ept_body_credit(msgpack_packer *pk);

/* A fake manager answers task id with an OK result ("v"). */
void ept_answer(ept_fake_t *f, const char *id);
/* The pids in ROOT/ep/managers.pids, sorted; returns how many. */
int ept_read_pids(ept_broker_t *b, long *pids, int cap);

/* Tasks and results. */
fx_msg_t *ept_tasks(int count, fx_id_text_t *ids, int kind, const char *body, const char *entry,
                    const void *payload, size_t payload_len);
bool ept_has_result(fx_msg_t *m, const char *id);
int ept_collect_results(ept_broker_t *b, fx_id_text_t *ids, int count, int *ok_status);
void ept_ack(ept_broker_t *b, fx_id_text_t *ids, int count);
fx_result_t *ept_fill_result(fx_msg_t *m, uint32_t i, const char *id, const char *value);

/* Processes: true if any has path on its command line; how many do. */
bool ept_process_with(const char *path);
int ept_processes_with(const char *path);

#endif
