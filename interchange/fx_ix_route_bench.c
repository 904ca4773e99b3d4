/*  fx_ix_route_bench.c: fx-ix-route-bench, what one routing decision
    costs as the number of managers grows (SPEC 7.9: O(1) per task in the
    number of managers). In one process, without sockets: a registry of N
    managers that reported CAPACITY (each warm for two of K containers,
    with cold slots), tasks of the K containers in turn; each step answers
    the oldest task in flight (a release) and routes the next one (pick +
    hold), as the dispatch phase does. Prints ns per step for each N and
    strategy. A benchmark, not a test: it asserts nothing about speed.

        fx-ix-route-bench [--steps S] [--containers K] [MANAGERS...]

    Default: 1,000,000 steps, 8 containers, 16 1024 16384 managers. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_clock.h"
#include "fx_ix_containers.h"
#include "fx_ix_managers.h"

#define S_WINDOW 16 /* per manager: 8 workers + 8 prefetch */

static void s_container_id(int k, char *out, size_t cap)
{
    snprintf(out, cap, "00000000-0000-4000-8000-%012d", k);
}

/* N managers, each warm for containers i % K and (i + 1) % K. */
static fx_ix_managers_t *s_registry(const fx_ix_route_ops_t *ops, int n, int k, zframe_t **routing)
{
    fx_ix_managers_t *reg = fx_ix_managers_new(ops);
    fx_ix_list_t orphans;
    fx_ix_list_init(&orphans);
    fx_msg_t *cap = fx_msg_new(FX_MSG_CAPACITY);
    fx_msg_alloc_records(cap, 2);
    cap->capacity.window = S_WINDOW;
    cap->capacity.cold_free = 2;
    for (int i = 0; i < n; i++) {
        fx_msg_t *h = fx_msg_new(FX_MSG_MANAGER_HELLO);
        fx_id_new(h->manager_hello.manager_id);
        h->manager_hello.workers = 8;
        routing[i] = zframe_new(&i, sizeof i);
        fx_ix_manager_t *m = fx_ix_managers_hello(reg, routing[i], h, 0, &orphans);
        for (int r = 0; r < 2; r++) {
            s_container_id((i + r) % k, cap->capacity.containers[r].container_id,
                           sizeof cap->capacity.containers[r].container_id);
            cap->capacity.containers[r].idle = 3;
        }
        fx_ix_manager_capacity(m, cap);
        fx_msg_destroy(&h);
    }
    fx_msg_destroy(&cap);
    return reg;
}

/* ns per step for one strategy and N managers. */
static double s_run(const fx_ix_route_ops_t *ops, int n, int k, long steps)
{
    zframe_t **routing = calloc((size_t) n, sizeof *routing);
    fx_ix_managers_t *reg = s_registry(ops, n, k, routing);
    fx_ix_tasks_t *q = fx_ix_tasks_new();
    fx_ix_route_t *route = fx_ix_managers_route(reg);
    /* as many tasks as half the slots: some managers full, some with room */
    long pool = (long) n * S_WINDOW / 2;
    fx_ix_task_t **ring = calloc((size_t) pool, sizeof *ring);
    for (long i = 0; i < pool; i++) {
        fx_task_t t = {0};
        fx_id_new(t.task_id);
        s_container_id((int) (i % k), t.container, sizeof t.container);
        fx_ix_tasks_add(q, &t);
        ring[i] = fx_ix_tasks_find(q, t.task_id);
        ring[i]->slot = fx_ix_containers_slot(fx_ix_managers_containers(reg), t.container, true);
    }
    for (long i = 0; i < pool; i++) /* in flight to start with: out of the FIFO */
        fx_ix_tasks_pop(q);
    int64_t t0 = fx_now_us();
    long routed = 0;
    for (long s = 0; s < steps; s++) {
        fx_ix_task_t *t = ring[s % pool];
        if (t->holder)
            fx_ix_manager_release(t->holder, t);
        fx_ix_manager_t *m = NULL;
        uint32_t room = 0;
        if (fx_ix_route_choose(route, t, &m, &room) == FX_IX_PICK_SEND) {
            fx_ix_manager_hold(m, t);
            routed++;
        }
    }
    int64_t took = fx_now_us() - t0;
    if (routed < steps / 2)
        fprintf(stderr, "fx-ix-route-bench: only %ld of %ld steps routed\n", routed, steps);
    fx_ix_managers_destroy(&reg); /* the registry points at tasks the store owns: first */
    fx_ix_tasks_destroy(&q);
    for (int i = 0; i < n; i++)
        zframe_destroy(&routing[i]);
    free(routing);
    free(ring);
    return 1000.0 * (double) took / (double) steps;
}

int main(int argc, char **argv)
{
    long steps = 1000000;
    int k = 8;
    static const struct option opts[] = {{"steps", required_argument, NULL, 's'},
                                         {"containers", required_argument, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
        if (c == 's')
            steps = atol(optarg);
        else if (c == 'k')
            k = atoi(optarg);
        else {
            fprintf(stderr, "usage: fx-ix-route-bench [--steps S] [--containers K] [MANAGERS...]\n");
            return 2;
        }
    }
    int sizes[16] = {16, 1024, 16384}, nsizes = 3;
    if (optind < argc) {
        nsizes = 0;
        for (int i = optind; i < argc && nsizes < 16; i++)
            sizes[nsizes++] = atoi(argv[i]);
    }
    if (steps < 1 || k < 1) {
        fprintf(stderr, "fx-ix-route-bench: --steps and --containers must be at least 1\n");
        return 2;
    }
    zsys_init();
    const fx_ix_route_ops_t *strategies[] = {&fx_ix_route_warming, &fx_ix_route_random, &fx_ix_route_warmwait};
    for (int i = 0; i < nsizes; i++)
        for (size_t s = 0; s < sizeof strategies / sizeof strategies[0]; s++)
            printf("managers=%d containers=%d strategy=%s steps=%ld ns_per_step=%.1f\n", sizes[i], k,
                   strategies[s]->name, steps, s_run(strategies[s], sizes[i], k, steps));
    return 0;
}
