/*  fx_file.h: files written so that a reader never sees half of one, and
    the folders they live in.

    fx keeps small state files (credentials, keypairs, an endpoint's stats
    and its managers' pids). Each is written to a temporary file beside the
    target, flushed to disk, given its mode and renamed over the target, so
    a crash leaves either the old file or the new one. */
#ifndef FX_FILE_H
#define FX_FILE_H

#include <stddef.h>
#include <sys/types.h>

/* Writes len bytes of data to path atomically with the given mode (0600
   for secrets). With sync, the data is on disk before the rename (and the
   folder's entry after it). 0, or -1 with errno. */
int fx_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode, int sync);

/* Creates path and every missing parent with mode (existing folders are
   left as they are). 0, or -1 with errno (ENOTDIR if a part is a file). */
int fx_file_mkdirs(const char *path, mode_t mode);

/* Reads a whole file of at most max bytes into a new NUL-terminated buffer
   (caller frees). 0, or -1 with errno (EFBIG past max). */
int fx_file_read(const char *path, size_t max, char **data_p, size_t *len_p);

/* The folder of the running executable (to find sibling binaries). 0 or -1. */
int fx_self_dir(char *out, size_t cap);

#endif
