/*  fx_queue_bench.c: a deep queue through the real fx-broker. Queues
    1,000,000 tasks (batches of 4096) for an offline endpoint, printing the
    broker's VmRSS at 1k, 100k and 1M queued (queued tasks live in sqlite:
    RSS should stay flat), then connects an endpoint with a large CREDIT
    that answers every task and prints the drain rate (tasks/s end to end:
    dispatch, result commit, push to the client, client ack).

    Usage: fx_queue_bench PATH_TO_FX_BROKER [TASKS=1000000]
    (script: build/bin/fx_queue_bench build/bin/fx-broker) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_wire_queue.h"

int main(int argc, char **argv)
{
    uint64_t total = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    if (total < 100000)
        total = 100000;
    fxw_init(argc > 2 ? 2 : argc, argv, "fx_queue_bench");
    fxw_broker_t broker;
    fxw_queue_t q;
    if (fxw_queue_setup(&q, &broker, NULL) != 0) {
        fxw_broker_stop(&broker);
        return fxw_finish("fx_queue_bench");
    }
    uint64_t marks[] = {1000, 100000, total};
    int64_t t0 = zclock_mono();
    for (int i = 0; i < 3; i++) {
        if (fxw_queue_fill(&q, marks[i]) != 0) {
            CHECK(!"SUBMIT failed");
            break;
        }
        printf("queued %8llu: broker VmRSS %6ld KiB (%.1f s)\n", (unsigned long long) marks[i],
               fxw_rss_kib(broker.pid), (zclock_mono() - t0) / 1000.0);
        fflush(stdout);
    }
    int64_t t1 = zclock_mono();
    printf("fill rate: %.0f tasks/s\n", q.queued * 1000.0 / (double) (t1 - t0 + 1));
    CHECK(fxw_queue_connect(&q, &broker) == 0);
    uint64_t got = fxw_queue_drain(&q, q.queued, 16384, 30000);
    int64_t t2 = zclock_mono();
    printf("drained %llu of %llu in %.1f s: %.0f tasks/s; broker VmRSS after %ld KiB\n",
           (unsigned long long) got, (unsigned long long) q.queued, (t2 - t1) / 1000.0,
           got * 1000.0 / (double) (t2 - t1 + 1), fxw_rss_kib(broker.pid));
    CHECK(got == q.queued);
    fxw_queue_close(&q);
    fxw_broker_stop(&broker);
    return fxw_finish("fx_queue_bench");
}
