/*  fx_fwd_testfix.c: the forwarder tests' fixture (fx_fwd_testfix.h). */
#include "fx_fwd_testfix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_check.h"
#include "fx_creds.h"
#include "fx_testkit.h"

void ft_setup(ft_fix_t *fix, int tasks)
{
    memset(fix, 0, sizeof *fix);
    fix->mem = fx_fwd_queue_mem_new();
    if (!fix->mem)
        exit(1);
    fix->queue = fx_fwd_queue_mem_queue(fix->mem);
    fx_keypair_t kp;
    fx_id_new(fix->ep);
    fx_id_new(fix->other_ep);
    fx_keypair_new(&kp);
    memcpy(fix->ep_key, kp.public_key, sizeof fix->ep_key);
    fx_fwd_queue_mem_endpoint(fix->mem, fix->ep, fix->ep_key);
    fx_keypair_new(&kp);
    fx_fwd_queue_mem_endpoint(fix->mem, fix->other_ep, kp.public_key);
    for (int i = 0; i < tasks; i++)
        fx_fwd_queue_mem_submit(fix->mem, fix->ep, NULL);
    /* A new address each time: a closed socket's inproc name is freed
       only when libzmq reaps it. */
    static int round;
    char addr[64];
    snprintf(addr, sizeof addr, "inproc://fwd-test-%d", ++round);
    fix->router = zsock_new_router(addr);
    fix->dealer = zsock_new_dealer(addr);
    fix->set = fx_fwd_set_new(fix->router, &fix->queue, FT_BEAT_MS, FT_MISSED);
    CHECK(fx_fwd_set_zap(fix->set, fix->ep_key, fix->user_id, sizeof fix->user_id) == FX_OK);
}

void ft_teardown(ft_fix_t *fix)
{
    fx_fwd_set_destroy(&fix->set);
    CHECK(fix->set == NULL);
    zsock_destroy(&fix->dealer);
    zsock_destroy(&fix->router);
    fx_fwd_queue_mem_destroy(&fix->mem);
}

/* The interchange sends; the "broker loop" hands it to the set and runs a
   dispatch pass. */
void ft_deliver(ft_fix_t *fix, zmsg_t *zmsg, const char *user_id)
{
    zmsg_send(&zmsg, fix->dealer);
    zmsg_t *in = zmsg_recv(fix->router);
    if (!in) {
        CHECK(!"router received nothing");
        return;
    }
    zframe_t *routing = zmsg_pop(in);
    fx_fwd_set_handle(fix->set, routing, user_id, &in);
    CHECK(in == NULL);
    zframe_destroy(&routing);
    while (fx_fwd_set_dispatch(fix->set))
        ;
}

void ft_send(ft_fix_t *fix, fx_msg_t *msg, const char *user_id)
{
    msg->seq = ++fix->seq;
    int rc = FX_OK;
    zmsg_t *zmsg = fx_msg_encode(msg, &rc);
    fx_msg_destroy(&msg);
    CHECK(zmsg != NULL);
    if (zmsg)
        ft_deliver(fix, zmsg, user_id);
}

/* Next message at the interchange, or NULL after timeout_ms (stretched by
   FX_TEST_SLOW). */
fx_msg_t *ft_recv(ft_fix_t *fix, int timeout_ms)
{
    zsock_set_rcvtimeo(fix->dealer, (int) fx_test_ms(timeout_ms));
    zmsg_t *zmsg = zmsg_recv(fix->dealer);
    if (!zmsg)
        return NULL;
    fx_msg_t *msg = NULL;
    CHECK(fx_msg_decode(zmsg, &msg, NULL, NULL) == FX_OK);
    zmsg_destroy(&zmsg);
    return msg;
}

/* Skips heartbeats; expects the given type. */
fx_msg_t *ft_expect(ft_fix_t *fix, int type)
{
    fx_msg_t *msg;
    while ((msg = ft_recv(fix, FT_WAIT_MS)) && msg->type == FX_MSG_HEARTBEAT)
        fx_msg_destroy(&msg);
    CHECK(msg && (int) msg->type == type);
    if (msg && (int) msg->type != type)
        fprintf(stderr, "  got %s (%s)\n", fx_msg_type_name(msg->type),
                msg->type == FX_MSG_ERROR && msg->error.text ? msg->error.text : "");
    return msg;
}

void ft_expect_error(ft_fix_t *fix, int code)
{
    fx_msg_t *msg = ft_expect(fix, FX_MSG_ERROR);
    CHECK(msg && msg->type == FX_MSG_ERROR && msg->error.code == code && msg->seq == fix->seq);
    if (msg && msg->type == FX_MSG_ERROR && msg->error.code != code)
        fprintf(stderr, "  got %s: %s\n", fx_errname(msg->error.code), msg->error.text);
    fx_msg_destroy(&msg);
}

void ft_hello(ft_fix_t *fix, const char *endpoint_id)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_ENDPOINT_HELLO);
    snprintf(msg->endpoint_hello.endpoint_id, sizeof msg->endpoint_hello.endpoint_id, "%s", endpoint_id);
    snprintf(msg->endpoint_hello.version, sizeof msg->endpoint_hello.version, "test");
    ft_send(fix, msg, fix->user_id);
}

void ft_credit(ft_fix_t *fix, uint32_t window)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_CREDIT);
    msg->credit.window = window;
    ft_send(fix, msg, fix->user_id);
}

/* RESULTS for the first n ids of ids. */
void ft_results(ft_fix_t *fix, fx_id_text_t *ids, uint32_t n)
{
    fx_msg_t *msg = fx_msg_new(FX_MSG_RESULTS);
    fx_msg_alloc_records(msg, n);
    for (uint32_t i = 0; i < n; i++)
        memcpy(msg->results.results[i].task_id, ids[i], sizeof(fx_id_text_t));
    uint32_t seq = fix->seq + 1;
    ft_send(fix, msg, fix->user_id);
    if (n == 0)
        return;
    fx_msg_t *ack = ft_expect(fix, FX_MSG_RESULTS_ACK);
    CHECK(ack && ack->type == FX_MSG_RESULTS_ACK && ack->ids.count == n && ack->seq == seq);
    fx_msg_destroy(&ack);
}

uint32_t ft_in_flight(ft_fix_t *fix)
{
    fx_forwarder_stats_t stats;
    if (fx_fwd_set_stats(fix->set, fix->ep, &stats) != 0)
        return UINT32_MAX;
    return stats.in_flight;
}

/* Ticks the set at `now` (fx_now_ms() + some, to play time forward), then
   runs dispatch passes as the broker loop would. */
void ft_tick(ft_fix_t *fix, int64_t now)
{
    fx_fwd_set_tick(fix->set, now);
    while (fx_fwd_set_dispatch(fix->set))
        ;
}
