/*  fx_syncer_test.c: the syncer (fx_syncer.c) beside a writer that never
    pauses, as the broker's loop is under a steady load: the WAL stays
    bounded (the checkpoint turns FULL past FX_SYNCER_FULL_PAGES and the
    next write starts the WAL over), and every request is reported durable.

    Scenarios:
      wal_bounded  commits of one page each, one sync request in flight at a
                   time as the broker sends them, many times the bound in
                   all: the WAL never grows past twice FX_SYNCER_FULL_PAGES */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_check.h"
#include "fx_error.h"
#include "fx_syncer.h"
#include "fx_testkit.h"

/* Commits in the scenario: at one page or two each, about a dozen times
   FX_SYNCER_FULL_PAGES in frames. */
#define S_COMMITS 24000

typedef struct {
    int pages;     /* in the WAL after the last commit */
    int max_pages; /* the most seen */
    int restarts;  /* commits that found the WAL started over */
} s_wal_t;

/* As the store's: the pages count, and sqlite's checkpoint-at-commit off. */
static int s_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    (void) db;
    (void) name;
    s_wal_t *wal = arg;
    if (pages < wal->pages)
        wal->restarts++;
    wal->pages = pages;
    if (pages > wal->max_pages)
        wal->max_pages = pages;
    return SQLITE_OK;
}

static void s_wal_bounded(void *ctx)
{
    (void) ctx;
    char dir[] = "/tmp/fx_syncer_test.XXXXXX";
    char path[64] = "", wal_path[72] = "", shm_path[72] = "";
    sqlite3 *db = NULL;
    sqlite3_stmt *insert = NULL;
    fx_syncer_t *syncer = NULL;
    s_wal_t wal = {0};
    REQUIRE(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/fx.db", dir);
    snprintf(wal_path, sizeof wal_path, "%s-wal", path);
    snprintf(shm_path, sizeof shm_path, "%s-shm", path);
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    REQUIRE(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                             "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)",
                         NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_wal_hook(db, s_hook, &wal);
    char err[256] = "";
    syncer = fx_syncer_new(path, FX_DURABILITY_FULL, NULL, err, sizeof err);
    REQUIRE(syncer != NULL);
    REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO t (body) VALUES (zeroblob(3000))", -1, &insert, NULL) ==
            SQLITE_OK);
    zsock_t *sock = fx_syncer_sock(syncer);
    uint64_t written = 0, durable = 0, reports = 0;
    bool asked = false;
    int failed = 0, full_asked = 0, late = 0;
    /* A request made with the WAL past FX_SYNCER_FULL_PAGES: the report
       after which the WAL must have started over (the checkpoint after
       it, then one more sync and a commit in between), and the count of
       restarts when it was made. */
    uint64_t due_report = 0;
    int restarts_then = 0;
    for (int i = 0; i < S_COMMITS; i++) {
        REQUIRE(sqlite3_step(insert) == SQLITE_DONE);
        sqlite3_reset(insert);
        written++;
        if (asked && (zsock_events(sock) & ZMQ_POLLIN)) {
            uint64_t ticket = 0, done_us = 0;
            int rc = FX_E_IO;
            char why[600];
            REQUIRE(fx_syncer_report(syncer, &ticket, &rc, &done_us, why, sizeof why) == 0);
            failed += rc != FX_OK;
            durable = ticket;
            asked = false;
            reports++;
            if (due_report && reports >= due_report) {
                late += wal.restarts == restarts_then;
                due_report = 0;
            }
        }
        if (!asked) {
            REQUIRE(fx_syncer_request(syncer, written, wal.pages) == 0);
            asked = true;
            if (wal.pages >= FX_SYNCER_FULL_PAGES && !due_report) {
                due_report = reports + 3;
                restarts_then = wal.restarts;
                full_asked++;
            }
        }
    }
    CHECK(failed == 0);
    CHECK(durable > 0);
    struct stat st;
    REQUIRE(stat(wal_path, &st) == 0);
    printf("  wal: at most %d pages, started over %d times, %d times asked past %d pages (%d not started "
           "over after), file %lld bytes, %llu commits, durable up to %llu\n",
           wal.max_pages, wal.restarts, full_asked, FX_SYNCER_FULL_PAGES, late, (long long) st.st_size,
           (unsigned long long) written, (unsigned long long) durable);
    /* The WAL's size is FX_SYNCER_FULL_PAGES plus what the writer adds
       during one sync and checkpoint (this writer, nothing but commits
       without an fsync, is far faster than the broker's loop): what is
       checked is that past the bound the WAL is always started over.
       With PASSIVE checkpoints only it hardly ever is. */
    CHECK(full_asked >= 1);
    CHECK(late == 0);
    CHECK(wal.restarts >= full_asked);
done:
    sqlite3_finalize(insert);
    fx_syncer_destroy(&syncer);
    sqlite3_close(db);
    if (path[0]) {
        unlink(wal_path);
        unlink(shm_path);
        unlink(path);
        rmdir(dir);
    }
}

int main(int argc, char **argv)
{
    static const fx_scenario_t scenarios[] = {
        {"wal_bounded", s_wal_bounded, false},
    };
    return fx_test_main("fx_syncer_test", argc - 1, argv + 1, scenarios, sizeof scenarios / sizeof scenarios[0], NULL);
}
