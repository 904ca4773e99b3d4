/*  fxb_proc.h: the processes fx-bench starts and watches: fx binaries and
    Python drivers started by pid (never found by name), their ready lines,
    their CPU time from /proc, and their stop (SIGTERM, deadline, SIGKILL).

    A driver is a Python script that speaks a line protocol on its stdin
    and stdout (bench/fxb_drive.py): it prints "ready", then answers each
    command line with one line "ok VALUES..." or "error TEXT". */
#ifndef FXB_PROC_H
#define FXB_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "fxb.h"

/* On SIGINT, SIGTERM or SIGHUP, every process started here and not yet
   reaped gets SIGTERM (an endpoint then stops its managers) and fx-bench
   exits 128 + the signal. */
void fxb_proc_stop_on_signals(void);
/* Adds a process forked elsewhere to those stopped on a signal. */
void fxb_proc_track(pid_t pid);

/* Starts argv[0] (a path) in a new session, stdout to out_path and stderr
   to err_path (appended; NULL: /dev/null). Returns the pid or -1. */
pid_t fxb_spawn(char *const argv[], const char *out_path, const char *err_path);

/* Waits until the file at path holds a line containing needle, copying it
   to line; fails when pid exits first or timeout_s passes. 0 or -1. */
int fxb_wait_line(const char *path, const char *needle, char *line, size_t cap, pid_t pid, double timeout_s);

/* Waits up to timeout_s for pid to exit by itself, then SIGKILL; reaps
   it. Returns its exit status (waitpid's) or -1 if it was not our child. */
int fxb_reap(pid_t pid, double timeout_s);

/* SIGTERM, then SIGKILL after timeout_s; reaps it. Returns its exit status
   (waitpid's) or -1 if it was not our child. */
int fxb_stop(pid_t pid, double timeout_s);

/* Sends SIGKILL to pid if it still runs the program named comm (a pid
   outlives its process: never kill a pid that was reused). */
void fxb_kill_if(pid_t pid, const char *comm);

/* CPU time of pid (utime + stime, plus the reaped children's times when
   with_children) in microseconds; -1 if it is gone. */
double fxb_cpu_us(pid_t pid, bool with_children);

/* The live children of parent whose command name is comm ("fx-manager").
   Returns how many were written to out (at most cap). */
int fxb_children(pid_t parent, const char *comm, pid_t *out, int cap);

/* Resident memory of pid in KiB; -1 if gone. */
long fxb_rss_kib(pid_t pid);

/* ---- drivers ---------------------------------------------------------- */

typedef struct fxb_driver_s fxb_driver_t;

/* Starts argv (argv[0] is the Python interpreter) with env entries added
   (NULL-terminated "K=V" list, may be NULL), stderr appended to err_path,
   and waits up to timeout_s for its "ready" line. NULL on failure, after
   saying why (and showing the tail of err_path). */
fxb_driver_t *fxb_driver_start(char *const argv[], char *const env[], const char *err_path, double timeout_s);

/* Sends one command line and reads its reply. On "ok ..." returns 0 with
   the numbers after "ok" appended to out (which may be NULL); on "error
   ..." or a dead driver, -1 after printing the reason. */
int fxb_driver_cmd(fxb_driver_t *self, fxb_samples_t *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The driver's pid (its CPU time is the client's). */
pid_t fxb_driver_pid(const fxb_driver_t *self);

/* Sends "quit", waits for it to exit (then stops it by pid). Accepts NULL. */
void fxb_driver_destroy(fxb_driver_t **self_p);

#endif
