/*  fx_benchproc.h: CPU time and memory of processes, from /proc, for the
    manager's benchmarks (fx_mgr_bench, fx_mgr_sim_bench). Not used by
    fx-manager itself. */
#ifndef FX_BENCHPROC_H
#define FX_BENCHPROC_H

#include <sys/types.h>

/* utime + stime of pid (all its threads), in clock ticks; its stime alone
   added to *sys_p if given. -1 if it is gone. */
long long fx_bench_cpu(pid_t pid, long long *sys_p);

/* The same summed over the descendants of parent (a manager's workers,
   container workers under their runtime included). */
long long fx_bench_children_cpu(pid_t parent, long long *sys_p);

/* Resident memory of pid in KiB (VmRSS), -1 if unknown. */
long fx_bench_rss_kib(pid_t pid);

#endif
