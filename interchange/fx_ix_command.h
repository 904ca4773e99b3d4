/*  fx_ix_command.h: a scheduler command (sbatch, squeue, qstat, ...) run
    without blocking the interchange's loop, and never for longer than its
    timeout.

    On a busy cluster a scheduler command can hang (users of Parsl have seen
    sacct take minutes with a few hundred jobs; squeue waits out the
    controller's MessageTimeout when slurmctld is overloaded). The loop
    cannot wait: its heartbeats would stop and the broker and the managers
    would count it lost. So a command is started, its output collected on
    later passes (fx_ix_command_done, non-blocking), and its process group
    killed once the timeout is over.

    The command runs in its own process group with stdin from /dev/null;
    stdout and stderr are kept, at most FX_IX_COMMAND_OUT_MAX bytes each
    (the rest is read and dropped). argv[0] is looked up on PATH. */
#ifndef FX_IX_COMMAND_H
#define FX_IX_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* squeue for a thousand jobs is ~50 KiB; more is not worth keeping. */
#define FX_IX_COMMAND_OUT_MAX (256 * 1024)

typedef struct fx_ix_command_t fx_ix_command_t;

/* Start argv (NULL-terminated). Caller owns the command. NULL with a
   sentence in err (fork or pipe failed). A program that cannot be run
   shows as exit status 127 with the reason on its stderr. */
fx_ix_command_t *fx_ix_command_start(char *const argv[], int64_t timeout_ms, int64_t now, char *err,
                                     size_t errlen);

/* Kills the command's group if it still runs, reaps it. Accepts NULL. */
void fx_ix_command_destroy(fx_ix_command_t **self_p);

/* Reads what the command wrote, without waiting; true once it has ended
   (exited, or killed because its timeout passed). */
bool fx_ix_command_done(fx_ix_command_t *self, int64_t now);

/* Waits (blocking, at most until the timeout) for the end. */
void fx_ix_command_wait(fx_ix_command_t *self);

/* Once done: the exit status (0-255), or -1 if killed by a signal or the
   timeout; whether the timeout killed it; what it wrote. */
int fx_ix_command_status(const fx_ix_command_t *self);
bool fx_ix_command_timed_out(const fx_ix_command_t *self);
const char *fx_ix_command_out(const fx_ix_command_t *self);
const char *fx_ix_command_err(const fx_ix_command_t *self);

/* The command line, for messages ("squeue --noheader ..."). */
const char *fx_ix_command_line(const fx_ix_command_t *self);

/* A one-line account of a command that failed: "squeue ... exited with
   status 1: squeue: error: ..." or "... did not answer within 30000 ms". */
void fx_ix_command_failure(const fx_ix_command_t *self, char *out, size_t cap);

#endif
