/*  fx_queue_bench.c: a deep queue through the real fx-broker. Queues
    1,000,000 tasks (batches of 4096) for an offline endpoint, printing the
    broker's VmRSS at 1k, 100k and 1M queued (queued tasks live in sqlite:
    RSS should stay flat), then connects an endpoint with a large CREDIT
    that answers every task and prints the drain rate (tasks/s end to end:
    dispatch, result commit, push to the client, client ack).

    Usage: fx_queue_bench PATH_TO_FX_BROKER [TASKS=1000000] (fx_test_main:
    its one scenario is deep_queue)
    (script: build/bin/fx_queue_bench build/bin/fx-broker) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_bt_queue.h"

static uint64_t s_total = 1000000;

static void s_deep_queue(void *ctx)
{
    bt_broker_t broker;
    bt_queue_t q;
    if (bt_queue_setup(&q, &broker, NULL) != 0)
        return;
    uint64_t marks[] = {1000, 100000, s_total};
    int64_t t0 = zclock_mono();
    for (int i = 0; i < 3; i++) {
        if (bt_queue_fill(&q, marks[i]) != 0) {
            CHECK(!"SUBMIT failed");
            break;
        }
        printf("queued %8llu: broker VmRSS %6ld KiB (%.1f s)\n", (unsigned long long) marks[i],
               bt_rss_kib(broker.pid), (zclock_mono() - t0) / 1000.0);
        fflush(stdout);
    }
    int64_t t1 = zclock_mono();
    printf("fill rate: %.0f tasks/s\n", q.queued * 1000.0 / (double) (t1 - t0 + 1));
    CHECK(bt_queue_connect(&q, &broker) == 0);
    uint64_t got = bt_queue_drain(&q, q.queued, 16384, (int) fx_test_ms(30000));
    int64_t t2 = zclock_mono();
    printf("drained %llu of %llu in %.1f s: %.0f tasks/s; broker VmRSS after %ld KiB\n",
           (unsigned long long) got, (unsigned long long) q.queued, (t2 - t1) / 1000.0,
           got * 1000.0 / (double) (t2 - t1 + 1), bt_rss_kib(broker.pid));
    CHECK(got == q.queued);
    bt_queue_close(&q);
    bt_broker_stop(&broker);
}

static const fx_scenario_t s_scenarios[] = {
    {"deep_queue", s_deep_queue, false},
};

int main(int argc, char **argv)
{
    /* TASKS, if given, is a number where the scenario names would be. */
    if (argc > 2 && strspn(argv[2], "0123456789") == strlen(argv[2])) {
        s_total = strtoull(argv[2], NULL, 10);
        if (s_total < 100000)
            s_total = 100000;
        argv[2] = argv[1];
        argv++;
        argc--;
    }
    int count;
    char **names;
    bt_init(argc, argv, "fx_queue_bench", &count, &names);
    return bt_finish(fx_test_main("fx_queue_bench", count, names, s_scenarios,
                                  sizeof s_scenarios / sizeof s_scenarios[0], NULL));
}
