/*  fx_fault_vfs.h: test-only. An sqlite VFS that passes everything to the
    default one (unix), except that it can be made to fail writes with
    SQLITE_FULL, the disk-full error sqlite itself would see. It is how the
    store's tests (fx_store_fault_test.c) and the whole-broker fault tests
    (fx_broker_fault_test.c, through the fx_broker_faults binary) make
    sqlite fail during a SUBMIT, a RESULTS commit or a push.

    Linked into test programs only: fx-broker has no such VFS, no flag and
    no variable that could arm one.

    Two ways to arm it:
      - in-process, by count: fx_fault_vfs_arm(after, count): `after` more
        writes succeed, then `count` fail (0: every write until disarmed).
        The store tests walk `after` from 0 up until an operation succeeds,
        so every write of the operation is failed once in turn;
      - from another process, by file: fx_fault_vfs_arm_file(path): every
        write fails while `path` exists. The broker fault tests create and
        remove the file around the request they want to fail; nothing else
        can, the path being a flag of the test binary. */
#ifndef FX_FAULT_VFS_H
#define FX_FAULT_VFS_H

#include <stdint.h>

/* Registers the VFS as sqlite's default (before any sqlite3_open). 0 or -1. */
int fx_fault_vfs_install(void);

void fx_fault_vfs_arm(uint64_t after, uint64_t count);
void fx_fault_vfs_arm_file(const char *path);
void fx_fault_vfs_disarm(void);

/* Writes failed so far. */
uint64_t fx_fault_vfs_failures(void);

#endif
