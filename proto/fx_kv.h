/*  fx_kv.h: the small "key = value" files fx keeps on disk (credentials,
    keypairs). '#' starts a comment line. Files are written atomically
    (common/fx_file.h), so a reader never sees half of one. */
#ifndef FX_KV_H
#define FX_KV_H

#include <stddef.h>

#define FX_ADDR_MAX 256
#define FX_KV_MAX 32

/* A parsed key = value file. */
typedef struct {
    int count;
    char key[FX_KV_MAX][64];
    char value[FX_KV_MAX][FX_ADDR_MAX];
} fx_kv_t;

/* Parse path. Returns 0, or -1 with a sentence naming the file and line
   (or the errno text) in err. */
int fx_kv_load(const char *path, fx_kv_t *kv, char *err, size_t errlen);
/* The value for key, or NULL. */
const char *fx_kv_get(const fx_kv_t *kv, const char *key);
/* Add or replace. Returns 0, -1 if full or too long. */
int fx_kv_set(fx_kv_t *kv, const char *key, const char *value);
/* Write atomically (and durably) with the given mode (0600 for secrets).
   0 or -1 (errno). */
int fx_kv_save(const char *path, const fx_kv_t *kv, int mode, const char *comment);

#endif
