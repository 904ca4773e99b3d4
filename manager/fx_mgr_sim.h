/*  fx_mgr_sim.h: SIMULATED managers, for the scale benchmark.

        fx-manager --simulate N --slots S --interchange ADDR --server-key Z85 --key-file FILE
                   [--prefetch K] [--heartbeat-ms MS] [--heartbeat-missed N] [--stats-ms MS]

    N simulated managers in one process, each with its own DEALER socket
    (CurveZMQ with the manager keypair, as a real manager's), its own
    manager id and session, speaking the real manager link (SPEC 6.3):
    MANAGER_HELLO announcing S workers, CREDIT(S + prefetch, 0 while more
    than 2 x FX_BATCH_MAX results are unacknowledged, 0 after DRAIN or
    STOP), HEARTBEAT, and RESULTS for every task at once: an OK result whose
    value is pickle.dumps(None) and whose output is empty, held until a
    RESULTS_ACK names it and sent again after a new WELCOME. No worker
    process is started and no task runs, so everything above the managers
    (interchange, broker, client) works for real against as many slots as
    N x S, which one node could never hold.

    What is not simulated: workers (no deaths, no walltimes; CANCEL finds
    nothing held, since nothing waits), ties of a duplicate task id (a task
    sent twice is answered twice: the broker keeps the first result), and
    the diagnosis of a failed hello (no socket monitor: a hello that brings
    no WELCOME is tried again on a new socket, with back-off, and logged).

    Cost: one epoll set over the sockets' ZMQ_FDs (a pass touches only the
    managers with input), one queue for every manager's timers (heartbeat,
    hello timeout, loss of the interchange: all managers have the same
    period, so a FIFO is in due order and each beat costs O(1)), and per
    simulated manager its socket and a ring of unacknowledged task ids.
    Everything it logs and prints says SIMULATED. */
#ifndef FX_MGR_SIM_H
#define FX_MGR_SIM_H

#include <stdint.h>

#include "fx_mgr.h"

/* Largest --simulate: far above the 1,024 the scale benchmark needs, and
   below what one process's descriptors allow (three or so per socket). */
#define FX_MGR_SIM_MAX 8192

/* Runs `managers` simulated managers of args->workers slots each until
   SIGTERM/SIGINT, or until every one was stopped (COMMAND STOP, refused,
   orphaned). Prints what they answered every stats_ms (0: only at the
   end). Returns the exit status: 0, or 1 if setup failed or every manager
   was refused. */
int fx_mgr_sim_run(const fx_mgr_args_t *args, uint32_t managers, uint32_t stats_ms);

#endif
