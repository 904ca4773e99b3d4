/*  fx_benchproc.c: what the manager's benchmarks read from /proc; see
    fx_benchproc.h. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_benchproc.h"

/* utime + stime of pid, in clock ticks (stime alone in *sys_p if given);
   -1 if it is gone. */
long long fx_bench_cpu(pid_t pid, long long *sys_p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    if (sys_p)
        *sys_p += (long long) st;
    return (long long) (ut + st);
}

/* CPU ticks summed over the descendants of parent (its workers, and a
   container runtime's worker below it); their system part added to
   *sys_p. One walk of /proc per level. */
long long fx_bench_children_cpu(pid_t parent, long long *sys_p)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    long long sum = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        char *p = strrchr(buf, ')');
        int ppid = 0;
        if (p && sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == (int) parent) {
            long long t = fx_bench_cpu((pid_t) pid, sys_p);
            if (t > 0)
                sum += t;
            sum += fx_bench_children_cpu((pid_t) pid, sys_p);
        }
    }
    closedir(d);
    return sum;
}

long fx_bench_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "r");
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kib;
}
