/*  fx_syncer.c: the actor that makes the broker's commits durable and runs
    its checkpoints (fx_syncer.h). Requests and reports are messages on the
    actor's pipe: "SYNC" ticket wal_pages, answered ticket done_us rc why. */
#include "fx_syncer.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_clock.h"
#include "fx_error.h"
#include "fx_log.h"

/* PASSIVE checkpoints in a row after one sync, while the writer keeps
   adding frames: each copies what came since the one before, so a few
   catch up and let the next write start the WAL over. */
#define S_CHECKPOINT_ROUNDS 4


/* What the actor thread is handed, and where it says why it could not
   start (read by fx_syncer_new after the actor's signal). */
typedef struct {
    char db_path[4200];
    char wal_path[4210];
    fx_durability_t mode;
    fx_sync_fn *sync;
    char err[512];
} s_args_t;

struct _fx_syncer_t {
    zactor_t *actor;
    s_args_t *args; /* the actor's, freed after it ended */
};

/* The actor's own state. */
typedef struct {
    s_args_t *args;
    int fd;         /* DIR/fx.db-wal */
    sqlite3 *db;    /* for checkpoints */
    bool recovering; /* a sync failed: nothing is durable until a TRUNCATE
                        checkpoint got everything into fx.db */
} s_state_t;

static int s_fdatasync(int fd)
{
    return fdatasync(fd);
}

/* (Re)opens the WAL if the descriptor is not the file at wal_path any more
   (sqlite deletes the WAL only when its last connection closes, so this is
   a guard, not a path taken while the broker runs). 0 or -1 (errno). */
static int s_wal_fd(s_state_t *st)
{
    struct stat open_st, path_st;
    if (st->fd >= 0 && fstat(st->fd, &open_st) == 0 && open_st.st_nlink > 0 &&
        stat(st->args->wal_path, &path_st) == 0 && path_st.st_ino == open_st.st_ino &&
        path_st.st_dev == open_st.st_dev)
        return 0;
    if (st->fd >= 0)
        close(st->fd);
    st->fd = open(st->args->wal_path, O_RDWR | O_CLOEXEC);
    return st->fd >= 0 ? 0 : -1;
}

/* After a failed sync: every frame of the WAL into fx.db, fx.db synced
   (sqlite does both), the WAL emptied. 0, or -1 with why. */
static int s_recover(s_state_t *st, char *why, size_t cap)
{
    int log = -1, done = -1;
    int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    if (rc == SQLITE_OK && log == 0)
        return 0;
    snprintf(why, cap, "the checkpoint that recovers from a failed sync did not complete: %s",
             rc == SQLITE_OK ? "frames left in the WAL" : sqlite3_errmsg(st->db));
    return -1;
}

/* One request: make everything written so far durable. FX_OK or FX_E_IO. */
static int s_sync(s_state_t *st, char *why, size_t cap)
{
    if (st->args->mode == FX_DURABILITY_NORMAL)
        return FX_OK;
    if (st->recovering) {
        if (s_recover(st, why, cap) != 0)
            return FX_E_IO;
        st->recovering = false;
        fx_info("recovered from a failed sync: the WAL is in %s and synced; commits are durable again",
                st->args->db_path);
    }
    if (s_wal_fd(st) != 0) {
        snprintf(why, cap, "cannot open %.400s to sync it: %s", st->args->wal_path, strerror(errno));
        return FX_E_IO;
    }
    if (st->args->sync(st->fd) != 0) {
        snprintf(why, cap, "fdatasync of %.400s failed: %s", st->args->wal_path, strerror(errno));
        /* Not retried: the pages it could not write may be gone (see the
           header). Nothing counts as durable until s_recover succeeds. */
        st->recovering = true;
        return FX_E_IO;
    }
    return FX_OK;
}

/* A PASSIVE checkpoint or a few, when the WAL is big (never while
   recovering: the TRUNCATE one does that job). */
static void s_checkpoint(s_state_t *st, int wal_pages)
{
    if (st->recovering || wal_pages < FX_SYNCER_CHECKPOINT_PAGES)
        return;
    for (int round = 0; round < S_CHECKPOINT_ROUNDS; round++) {
        int log = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2(st->db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc != SQLITE_OK) {
            if (rc != SQLITE_BUSY)
                fx_warn("checkpoint of %s failed: %s; the next one tries again", st->args->db_path,
                        sqlite3_errmsg(st->db));
            return;
        }
        if (done >= log)
            return;
    }
}

static int s_open(s_state_t *st)
{
    s_args_t *args = st->args;
    if (s_wal_fd(st) != 0) {
        snprintf(args->err, sizeof args->err, "cannot open %.400s to sync it: %s", args->wal_path,
                 strerror(errno));
        return -1;
    }
    if (sqlite3_open_v2(args->db_path, &st->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(args->err, sizeof args->err, "cannot open %.400s for checkpoints: %s", args->db_path,
                 st->db ? sqlite3_errmsg(st->db) : "out of memory");
        return -1;
    }
    /* The checkpointer waits for the writer's lock rather than failing. */
    sqlite3_busy_timeout(st->db, 5000);
    /* Its own checkpoint-at-commit is never reached (it does not write);
       synchronous NORMAL keeps sqlite's checkpoint syncs (WAL before, db
       after), which keep fx.db consistent after a power loss. */
    sqlite3_exec(st->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
    return 0;
}

static void s_actor(zsock_t *pipe, void *arg)
{
    s_state_t st = {.args = arg, .fd = -1};
    if (s_open(&st) != 0) {
        sqlite3_close(st.db);
        if (st.fd >= 0)
            close(st.fd);
        zsock_signal(pipe, 1);
        return;
    }
    zsock_signal(pipe, 0);
    while (true) {
        zmsg_t *msg = zmsg_recv(pipe);
        if (!msg) {
            if (zsys_interrupted && errno == EINTR)
                continue; /* the broker's own SIGTERM; it stops us with $TERM */
            break;
        }
        char *cmd = zmsg_popstr(msg);
        bool sync = cmd && strcmp(cmd, "SYNC") == 0;
        bool term = cmd && strcmp(cmd, "$TERM") == 0;
        uint64_t ticket = 0;
        int pages = 0;
        zframe_t *frame = sync ? zmsg_pop(msg) : NULL;
        if (frame && zframe_size(frame) == sizeof ticket)
            memcpy(&ticket, zframe_data(frame), sizeof ticket);
        zframe_destroy(&frame);
        frame = sync ? zmsg_pop(msg) : NULL;
        if (frame && zframe_size(frame) == sizeof pages)
            memcpy(&pages, zframe_data(frame), sizeof pages);
        zframe_destroy(&frame);
        zstr_free(&cmd);
        zmsg_destroy(&msg);
        if (term)
            break;
        if (!sync)
            continue;
        char why[600] = "";
        int rc = s_sync(&st, why, sizeof why);
        uint64_t done_us = (uint64_t) fx_wall_us();
        zsock_send(pipe, "88is", ticket, done_us, rc, why);
        s_checkpoint(&st, pages);
    }
    sqlite3_close(st.db);
    if (st.fd >= 0)
        close(st.fd);
}

fx_syncer_t *fx_syncer_new(const char *db_path, fx_durability_t mode, fx_sync_fn *sync, char *err,
                           size_t errlen)
{
    fx_syncer_t *self = calloc(1, sizeof *self);
    s_args_t *args = calloc(1, sizeof *args);
    if (!self || !args) {
        free(self);
        free(args);
        snprintf(err, errlen, "out of memory starting the syncer");
        return NULL;
    }
    snprintf(args->db_path, sizeof args->db_path, "%s", db_path);
    snprintf(args->wal_path, sizeof args->wal_path, "%s-wal", db_path);
    args->mode = mode;
    args->sync = sync ? sync : s_fdatasync;
    /* zactor_new returns once the actor signalled: a status of 1 means it
       could not start, and args->err says why. */
    self->actor = zactor_new(s_actor, args);
    if (!self->actor || args->err[0]) {
        snprintf(err, errlen, "%s", args->err[0] ? args->err : "cannot start the syncer thread");
        zactor_destroy(&self->actor);
        free(args);
        free(self);
        return NULL;
    }
    /* The actor keeps using args until it ends: it is freed with the
       syncer (fx_syncer_destroy ends the actor first). */
    zsock_set_sndtimeo(zactor_sock(self->actor), -1);
    self->args = args;
    return self;
}

void fx_syncer_destroy(fx_syncer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fx_syncer_t *self = *self_p;
    zactor_destroy(&self->actor);
    free(self->args);
    free(self);
    *self_p = NULL;
}

zsock_t *fx_syncer_sock(fx_syncer_t *self)
{
    return zactor_sock(self->actor);
}

int fx_syncer_request(fx_syncer_t *self, uint64_t ticket, int wal_pages)
{
    zmsg_t *msg = zmsg_new();
    if (!msg || zmsg_addstr(msg, "SYNC") != 0 || zmsg_addmem(msg, &ticket, sizeof ticket) != 0 ||
        zmsg_addmem(msg, &wal_pages, sizeof wal_pages) != 0) {
        zmsg_destroy(&msg);
        return -1;
    }
    return zmsg_send(&msg, zactor_sock(self->actor));
}

int fx_syncer_report(fx_syncer_t *self, uint64_t *ticket, int *rc, uint64_t *done_us, char *why, size_t cap)
{
    char *text = NULL;
    if (zsock_recv(zactor_sock(self->actor), "88is", ticket, done_us, rc, &text) != 0)
        return -1;
    snprintf(why, cap, "%s", text ? text : "");
    zstr_free(&text);
    return 0;
}
