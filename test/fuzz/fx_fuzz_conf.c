/*  fx_fuzz_conf.c: libFuzzer target for the parsers of fx's files: the
    key = value reader under the endpoint's endpoint.conf, the credentials
    file and keypair files. The input is the file's bytes, seen through a
    memfd so no disk is touched. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fx_creds.h"
#include "fx_kv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fx-fuzz-conf", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t) size) {
        close(fd);
        return 0;
    }
    char path[64], err[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    fx_kv_t kv;
    if (fx_kv_load(path, &kv, err, sizeof err) == 0) {
        for (int i = 0; i < kv.count; i++)
            if (fx_kv_get(&kv, kv.key[i]) == NULL)
                __builtin_trap(); /* a key it read must be found again */
    }
    fx_creds_t creds;
    fx_creds_load(path, &creds, err, sizeof err);
    fx_keypair_t kp;
    fx_keypair_load(path, &kp, false, err, sizeof err);
    close(fd);
    return 0;
}
