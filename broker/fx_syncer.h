/*  fx_syncer.h: durability as a grouped step, off the broker's loop.

    The broker's store commits without an fsync (fx_store_defer_sync:
    synchronous=NORMAL, so a commit is in the WAL file and the OS when
    COMMIT returns: it survives a kill -9 of the broker, not yet a power
    loss). The syncer is a czmq actor (a thread with a pipe) that makes
    those commits durable: asked for ticket N (fx_store_written after the
    commits it is to cover), it runs fdatasync on its own descriptor of
    DIR/fx.db-wal and reports "durable up to N". fsync flushes the file,
    whichever descriptor wrote it, so one fdatasync covers every commit
    written before it began: many commits share it (group commit) while the
    loop keeps serving. With the loop sending the next request only after
    the last report, every commit waits for at most one sync in flight and
    the one after it.

    It also runs the checkpoints (PASSIVE, from a connection of its own),
    when the request says the WAL has grown past FX_SYNCER_CHECKPOINT_PAGES:
    sqlite's checkpoint-at-commit is off on the broker's connection, so the
    copy into fx.db and its two fsyncs never run on the loop.

    A failed fdatasync is reported FX_E_IO, and the syncer does not trust
    the next one: after a failed fsync Linux may have dropped the dirty
    pages it could not write (marked them clean), so a second fsync can
    succeed without them reaching the disk (PostgreSQL's "fsyncgate"). The
    syncer instead treats whatever was written up to then as not durable,
    and recovers by a TRUNCATE checkpoint: every WAL frame copied into
    fx.db, fx.db synced, the WAL emptied. Only once that succeeded are
    reports "durable" again; until then every request is answered FX_E_IO
    (the broker answers what it held with ERROR FX_E_IO, and backs off).

    Modes: FX_DURABILITY_FULL (the default) as above; FX_DURABILITY_NORMAL
    runs no fdatasync at all (reports at once: commits survive a kill -9 of
    the broker, not a power loss of the host); checkpoints as in FULL (they
    keep fx.db consistent after a power loss, not the last commits). */
#ifndef FX_SYNCER_H
#define FX_SYNCER_H

#include <czmq.h>
#include <stdint.h>

/* WAL size (pages) past which the syncer checkpoints: sqlite's own
   default for its checkpoint-at-commit. */
#define FX_SYNCER_CHECKPOINT_PAGES 1000

typedef enum {
    FX_DURABILITY_FULL = 0,   /* fdatasync before anything is promised */
    FX_DURABILITY_NORMAL = 1, /* no fdatasync: survives kill -9, not power loss */
} fx_durability_t;

/* How the syncer syncs a descriptor: fdatasync, or a test's (the fault
   build of the broker fails it on demand). 0, or -1 with errno. */
typedef int(fx_sync_fn)(int fd);

typedef struct _fx_syncer_t fx_syncer_t;

/* A syncer for the store at db_path (DIR/fx.db; its WAL must exist: open
   the store first). sync: NULL for fdatasync. NULL on failure, with a
   sentence in err. */
fx_syncer_t *fx_syncer_new(const char *db_path, fx_durability_t mode, fx_sync_fn *sync, char *err,
                           size_t errlen);
/* Stops the thread (after the sync it is in, if any). Accepts NULL. */
void fx_syncer_destroy(fx_syncer_t **self_p);

/* The socket to poll for reports. */
zsock_t *fx_syncer_sock(fx_syncer_t *self);

/* Asks for every commit up to ticket to be made durable; wal_pages
   (fx_store_wal_pages) says whether a checkpoint is due after. The caller
   sends the next request only after this one's report. 0 or -1. */
int fx_syncer_request(fx_syncer_t *self, uint64_t ticket, int wal_pages);

/* Reads the report of the last request, once the socket is readable:
   *ticket as asked, *rc FX_OK (durable) or FX_E_IO (not known durable:
   why says what failed), *done_us the wall clock (us) when it was known.
   0, or -1 if nothing could be read. */
int fx_syncer_report(fx_syncer_t *self, uint64_t *ticket, int *rc, uint64_t *done_us, char *why, size_t cap);

#endif
