/*  fx_fault_vfs.c: test-only sqlite VFS that fails writes on demand (see
    fx_fault_vfs.h). A shim: each file it opens holds the default VFS's file
    right behind its own header, and every method is passed on to that one;
    only xWrite may answer SQLITE_FULL instead. Only writes fail (never
    syncs or reads), as on a full disk: what sqlite reported committed was
    written whole, and what failed left a transaction that rolls back. */
#include "fx_fault_vfs.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    sqlite3_file base;
    /* the default VFS's file follows (szOsFile bytes) */
} s_file_t;

static sqlite3_vfs s_vfs;
static sqlite3_vfs *s_real;
static bool s_armed;
static uint64_t s_after;
static uint64_t s_count; /* 0: until disarmed */
static char s_path[4096];
static uint64_t s_failures;

static sqlite3_file *s_inner(sqlite3_file *file)
{
    return (sqlite3_file *) ((s_file_t *) file + 1);
}

/* Should this write fail? */
static bool s_fail_now(void)
{
    if (s_path[0]) {
        if (access(s_path, F_OK) != 0)
            return false;
        s_failures++;
        return true;
    }
    if (!s_armed)
        return false;
    if (s_after > 0) {
        s_after--;
        return false;
    }
    if (s_count > 0 && --s_count == 0)
        s_armed = false;
    s_failures++;
    return true;
}

/* ---------------------------------------------------------------- file methods */

static int s_close(sqlite3_file *f)
{
    return s_inner(f)->pMethods->xClose(s_inner(f));
}

static int s_read(sqlite3_file *f, void *buf, int amount, sqlite3_int64 offset)
{
    return s_inner(f)->pMethods->xRead(s_inner(f), buf, amount, offset);
}

static int s_write(sqlite3_file *f, const void *buf, int amount, sqlite3_int64 offset)
{
    if (s_fail_now())
        return SQLITE_FULL;
    return s_inner(f)->pMethods->xWrite(s_inner(f), buf, amount, offset);
}

static int s_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    return s_inner(f)->pMethods->xTruncate(s_inner(f), size);
}

static int s_sync(sqlite3_file *f, int flags)
{
    return s_inner(f)->pMethods->xSync(s_inner(f), flags);
}

static int s_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return s_inner(f)->pMethods->xFileSize(s_inner(f), size);
}

static int s_lock(sqlite3_file *f, int level)
{
    return s_inner(f)->pMethods->xLock(s_inner(f), level);
}

static int s_unlock(sqlite3_file *f, int level)
{
    return s_inner(f)->pMethods->xUnlock(s_inner(f), level);
}

static int s_check_reserved(sqlite3_file *f, int *out)
{
    return s_inner(f)->pMethods->xCheckReservedLock(s_inner(f), out);
}

static int s_file_control(sqlite3_file *f, int op, void *arg)
{
    return s_inner(f)->pMethods->xFileControl(s_inner(f), op, arg);
}

static int s_sector_size(sqlite3_file *f)
{
    return s_inner(f)->pMethods->xSectorSize(s_inner(f));
}

static int s_device(sqlite3_file *f)
{
    return s_inner(f)->pMethods->xDeviceCharacteristics(s_inner(f));
}

static int s_shm_map(sqlite3_file *f, int page, int size, int extend, void volatile **p)
{
    return s_inner(f)->pMethods->xShmMap(s_inner(f), page, size, extend, p);
}

static int s_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return s_inner(f)->pMethods->xShmLock(s_inner(f), offset, n, flags);
}

static void s_shm_barrier(sqlite3_file *f)
{
    s_inner(f)->pMethods->xShmBarrier(s_inner(f));
}

static int s_shm_unmap(sqlite3_file *f, int delete_flag)
{
    return s_inner(f)->pMethods->xShmUnmap(s_inner(f), delete_flag);
}

static int s_fetch(sqlite3_file *f, sqlite3_int64 offset, int amount, void **p)
{
    return s_inner(f)->pMethods->xFetch(s_inner(f), offset, amount, p);
}

static int s_unfetch(sqlite3_file *f, sqlite3_int64 offset, void *p)
{
    return s_inner(f)->pMethods->xUnfetch(s_inner(f), offset, p);
}

/* Version 3, as the unix VFS's files (WAL needs the shared-memory methods). */
static const sqlite3_io_methods s_methods = {
    .iVersion = 3,
    .xClose = s_close,
    .xRead = s_read,
    .xWrite = s_write,
    .xTruncate = s_truncate,
    .xSync = s_sync,
    .xFileSize = s_file_size,
    .xLock = s_lock,
    .xUnlock = s_unlock,
    .xCheckReservedLock = s_check_reserved,
    .xFileControl = s_file_control,
    .xSectorSize = s_sector_size,
    .xDeviceCharacteristics = s_device,
    .xShmMap = s_shm_map,
    .xShmLock = s_shm_lock,
    .xShmBarrier = s_shm_barrier,
    .xShmUnmap = s_shm_unmap,
    .xFetch = s_fetch,
    .xUnfetch = s_unfetch,
};

static int s_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *file, int flags, int *out_flags)
{
    (void) vfs;
    sqlite3_file *inner = s_inner(file);
    file->pMethods = NULL;
    int rc = s_real->xOpen(s_real, name, inner, flags, out_flags);
    if (inner->pMethods) {
        if (inner->pMethods->iVersion < 3) {
            inner->pMethods->xClose(inner);
            return SQLITE_CANTOPEN;
        }
        file->pMethods = &s_methods;
    }
    return rc;
}

int fx_fault_vfs_install(void)
{
    if (s_real)
        return 0;
    s_real = sqlite3_vfs_find(NULL);
    if (!s_real)
        return -1;
    /* The default VFS's own methods (delete, access, ...) serve as they
       are: they read only what the copy keeps (pAppData, mxPathname). */
    s_vfs = *s_real;
    s_vfs.pNext = NULL;
    s_vfs.zName = "fx-fault";
    s_vfs.szOsFile = (int) sizeof(s_file_t) + s_real->szOsFile;
    s_vfs.xOpen = s_open;
    return sqlite3_vfs_register(&s_vfs, 1) == SQLITE_OK ? 0 : -1;
}

void fx_fault_vfs_arm(uint64_t after, uint64_t count)
{
    s_path[0] = '\0';
    s_after = after;
    s_count = count;
    s_armed = true;
}

void fx_fault_vfs_arm_file(const char *path)
{
    s_armed = false;
    snprintf(s_path, sizeof s_path, "%s", path);
}

void fx_fault_vfs_disarm(void)
{
    s_armed = false;
    s_path[0] = '\0';
}

uint64_t fx_fault_vfs_failures(void)
{
    return s_failures;
}
