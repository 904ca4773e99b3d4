/*  fx_kv.c: "key = value" files (fx_kv.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "fx_file.h"
#include "fx_kv.h"

static char *s_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

int fx_kv_load(const char *path, fx_kv_t *kv, char *err, size_t errlen)
{
    memset(kv, 0, sizeof *kv);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = s_trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected 'key = value'", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        const char *key = s_trim(s);
        const char *value = s_trim(eq + 1);
        if (*key == '\0' || fx_kv_set(kv, key, value) != 0) {
            snprintf(err, errlen, "%s:%d: empty key, key or value too long, or too many keys", path,
                     lineno);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

const char *fx_kv_get(const fx_kv_t *kv, const char *key)
{
    for (int i = 0; i < kv->count; i++)
        if (strcmp(kv->key[i], key) == 0)
            return kv->value[i];
    return NULL;
}

int fx_kv_set(fx_kv_t *kv, const char *key, const char *value)
{
    if (strlen(key) >= sizeof kv->key[0] || strlen(value) >= sizeof kv->value[0])
        return -1;
    int i = 0;
    while (i < kv->count && strcmp(kv->key[i], key) != 0)
        i++;
    if (i == kv->count) {
        if (kv->count == FX_KV_MAX)
            return -1;
        kv->count++;
    }
    strcpy(kv->key[i], key);
    strcpy(kv->value[i], value);
    return 0;
}

int fx_kv_save(const char *path, const fx_kv_t *kv, int mode, const char *comment)
{
    char text[FX_KV_MAX * (64 + FX_ADDR_MAX + 4) + 512];
    size_t len = 0;
    if (comment)
        len += (size_t) snprintf(text + len, sizeof text - len, "# %.500s\n", comment);
    for (int i = 0; i < kv->count; i++)
        len += (size_t) snprintf(text + len, sizeof text - len, "%s = %s\n", kv->key[i], kv->value[i]);
    return fx_file_write_atomic(path, text, len, (mode_t) mode, 1);
}
