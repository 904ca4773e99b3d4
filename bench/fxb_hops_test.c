/*  fxb_hops_test.c: the per-hop breakdown from stamps (fxb_hops.c): a hop
    counts only where both its stamps are set, a hop whose stamps nobody
    set is left out, and a stamp list that is not whole tasks is refused. */
#include <stdio.h>

#include "fx_check.h"
#include "fx_testkit.h"
#include "fxb_hops.h"

static int s_index(int from, int to)
{
    for (int h = 0; h < FXB_HOPS; h++)
        if (fxb_hops[h].from == from && fxb_hops[h].to == to)
            return h;
    return -1;
}

static void s_breakdown(void *ctx)
{
    (void) ctx;
    fxb_samples_t stamps = {0}, per_hop[FXB_HOPS] = {{0}};
    for (int task = 0; task < 2; task++)
        for (int i = 0; i < FXB_STAMPS; i++)   /* task 1 has no execution stamps (8, 9) */
            fxb_samples_add(&stamps, task == 1 && (i == 8 || i == 9) ? -1 : i * 10.0 * (task + 1));
    CHECK(fxb_hops_add(per_hop, &stamps) == 0, "two whole tasks");
    int exec = s_index(8, 9), total = s_index(0, 15), sync = s_index(2, 3);
    CHECK(exec >= 0 && per_hop[exec].count == 1 && per_hop[exec].v[0] == 10, "execution only from task 0");
    CHECK(total >= 0 && per_hop[total].count == 2 && per_hop[total].v[1] == 300, "the whole trip from both");
    CHECK(sync >= 0 && per_hop[sync].count == 2, "the SUBMIT's sync, off the path, from both");
    fxb_samples_add(&stamps, 1);
    CHECK(fxb_hops_add(per_hop, &stamps) == -1, "17 stamps are not whole tasks");
    fxb_samples_free(&stamps);
    for (int h = 0; h < FXB_HOPS; h++)
        fxb_samples_free(&per_hop[h]);
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {{"breakdown", s_breakdown, false}};
    return fx_test_main("fxb_hops_test", argc - 1, argv + 1, scenarios, 1, NULL);
}
