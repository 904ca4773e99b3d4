/*  fx_fwd_testfix.h: the fixture of the forwarder's tests (ft_: forwarder
    test). An fx_fwd_set_t on an inproc ROUTER, fed from the in-memory queue
    (fx_fwd_queue_mem.h); the test plays both the broker's loop (receive,
    hand to the set, run dispatch passes, tick) and the interchange (the
    DEALER). Because the test runs the loop itself, everything the set sends
    in answer to a message is in the DEALER's queue when ft_deliver returns:
    a non-blocking ft_recv(fix, 0) that finds nothing is proof that nothing
    was sent, not a wait for silence. */
#ifndef FX_FWD_TESTFIX_H
#define FX_FWD_TESTFIX_H

#include "fx_forwarder.h"
#include "fx_fwd_queue_mem.h"

/* Deadline of one expected message on a quiet machine (fx_test_ms). */
#define FT_WAIT_MS 2000
/* The set's heartbeat and missed beats. */
#define FT_BEAT_MS 1000
#define FT_MISSED 3

typedef struct {
    fx_fwd_queue_mem_t *mem;
    fx_fwd_queue_t queue;
    zsock_t *router;
    zsock_t *dealer;
    fx_fwd_set_t *set;
    fx_id_text_t ep, other_ep;
    char ep_key[FX_KEY_LEN + 1];
    char user_id[64]; /* what ZAP gives the endpoint's connection */
    uint32_t seq;     /* of the last message the interchange sent */
} ft_fix_t;

/* A queue with endpoints ep and other_ep and `tasks` tasks queued for ep;
   the set over it, with ep's User-Id from fx_fwd_set_zap. */
void ft_setup(ft_fix_t *fix, int tasks);
void ft_teardown(ft_fix_t *fix);

/* The interchange sends zmsg (or msg, with the next seq); the "broker loop"
   hands it to the set with user_id and runs dispatch passes. */
void ft_deliver(ft_fix_t *fix, zmsg_t *zmsg, const char *user_id);
void ft_send(ft_fix_t *fix, fx_msg_t *msg, const char *user_id);

/* Next message at the interchange, or NULL after timeout_ms (stretched by
   FX_TEST_SLOW; 0: only what is there now). */
fx_msg_t *ft_recv(ft_fix_t *fix, int timeout_ms);
/* Skips heartbeats; the next message must be of this type. */
fx_msg_t *ft_expect(ft_fix_t *fix, int type);
/* The next message must be ERROR(code) with the last seq sent. */
void ft_expect_error(ft_fix_t *fix, int code);

/* ENDPOINT_HELLO, CREDIT, and RESULTS for ids[0..n) (its ack checked). */
void ft_hello(ft_fix_t *fix, const char *endpoint_id);
void ft_credit(ft_fix_t *fix, uint32_t window);
void ft_results(ft_fix_t *fix, fx_id_text_t *ids, uint32_t n);

/* Tasks in flight to ep, UINT32_MAX if it has no link. */
uint32_t ft_in_flight(ft_fix_t *fix);

/* fx_fwd_set_tick at now, then dispatch passes. */
void ft_tick(ft_fix_t *fix, int64_t now);

#endif
