/*  fx_queue_mem_test.c: queued tasks live in sqlite, not in RAM. Through
    the real fx-broker over the wire, queue 100,000 tasks (batches of 4096)
    for an endpoint that is offline; the broker's VmRSS with 100,000 queued
    must stay under 3 x its VmRSS with 1,000 queued. Then the endpoint
    connects with a large CREDIT and answers every task, and all 100,000
    results must reach the client, each once.

    Usage: fx_queue_mem_test PATH_TO_FX_BROKER [queue_memory] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt_queue.h"

#define S_SMALL 1000
#define S_LARGE 100000

static void test_queue_memory(void *ctx)
{
    bt_broker_t broker;
    bt_queue_t q;
    if (bt_queue_setup(&q, &broker, NULL) != 0)
        return;
    int64_t t0 = zclock_mono();
    CHECK(bt_queue_fill(&q, S_SMALL) == 0);
    long rss_small = bt_rss_kib(broker.pid);
    CHECK(bt_queue_fill(&q, S_LARGE) == 0);
    long rss_large = bt_rss_kib(broker.pid);
    int64_t t1 = zclock_mono();
    printf("broker VmRSS: %ld KiB with %d queued, %ld KiB with %d queued (ratio %.2f); filled in %.1f s\n",
           rss_small, S_SMALL, rss_large, S_LARGE, rss_small > 0 ? (double) rss_large / rss_small : 0.0,
           (t1 - t0) / 1000.0);
    CHECK(rss_small > 0 && rss_large > 0 && rss_large < 3 * rss_small);
    CHECK(bt_queue_connect(&q, &broker) == 0);
    uint64_t got = bt_queue_drain(&q, S_LARGE, 8192, (int) fx_test_ms(10000));
    int64_t t2 = zclock_mono();
    printf("drained %llu of %d results in %.1f s (%.0f tasks/s); broker VmRSS after: %ld KiB\n",
           (unsigned long long) got, S_LARGE, (t2 - t1) / 1000.0, got * 1000.0 / (double) (t2 - t1 + 1),
           bt_rss_kib(broker.pid));
    CHECK(got == S_LARGE);
    bt_queue_close(&q);
    bt_broker_stop(&broker);
}

static const fx_scenario_t s_scenarios[] = {
    {"queue_memory", test_queue_memory, false},
};

int main(int argc, char **argv)
{
    int count;
    char **names;
    bt_init(argc, argv, "broker_queue_memory", &count, &names);
    return bt_finish(fx_test_main("fx_queue_mem_test", count, names, s_scenarios,
                                  sizeof s_scenarios / sizeof s_scenarios[0], NULL));
}
