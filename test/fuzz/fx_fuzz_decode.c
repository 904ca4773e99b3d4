/*  fx_fuzz_decode.c: libFuzzer target for fx_msg_decode.

    The input is split into frames: a sequence of [u16 little-endian length]
    [bytes]; the first frame is the header. Built once per message family
    (FX_FUZZ_FAMILY: client, endpoint, manager, worker): each family starts
    from its own seed corpus under test/fuzz/corpus/<family>, and only its
    message types go on to the round-trip property: whatever decodes must
    encode again, and decoding that encoding must give the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fx_msg.h"

static zmsg_t *s_frames(const uint8_t *data, size_t size)
{
    zmsg_t *z = zmsg_new();
    while (size >= 2 && zmsg_size(z) < 64) {
        size_t len = (size_t) data[0] | ((size_t) data[1] << 8);
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        zmsg_addmem(z, data, len);
        data += len;
        size -= len;
    }
    return z;
}

static bool s_in_family(int type)
{
    static const int family[] = { FX_FUZZ_TYPES };
    for (size_t i = 0; i < sizeof family / sizeof family[0]; i++)
        if (family[i] == type)
            return true;
    return false;
}

/* Serialises a zmsg to one buffer for comparison. */
static char *s_flatten(zmsg_t *z, size_t *len)
{
    size_t total = 0;
    for (zframe_t *f = zmsg_first(z); f; f = zmsg_next(z))
        total += zframe_size(f) + 1;
    char *buf = malloc(total + 1), *p = buf;
    for (zframe_t *f = zmsg_first(z); f; f = zmsg_next(z)) {
        memcpy(p, zframe_data(f), zframe_size(f));
        p += zframe_size(f);
        *p++ = '|';
    }
    *len = total;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    zmsg_t *z = s_frames(data, size);
    fx_msg_t *msg = NULL;
    uint32_t seq;
    const char *detail;
    int rc = fx_msg_decode(z, &msg, &seq, &detail);
    zmsg_destroy(&z);
    if (rc != FX_OK || !s_in_family(msg->type)) {
        fx_msg_destroy(&msg);
        return 0;
    }
    int err;
    zmsg_t *once = fx_msg_encode(msg, &err);
    fx_msg_destroy(&msg);
    if (!once)
        abort(); /* decoded but cannot be encoded: the codec disagrees with itself */
    size_t len1, len2;
    char *flat1 = s_flatten(once, &len1);
    rc = fx_msg_decode(once, &msg, &seq, &detail);
    if (rc != FX_OK)
        abort();
    zmsg_t *twice = fx_msg_encode(msg, &err);
    char *flat2 = s_flatten(twice, &len2);
    if (len1 != len2 || memcmp(flat1, flat2, len1) != 0)
        abort();
    free(flat1);
    free(flat2);
    fx_msg_destroy(&msg);
    zmsg_destroy(&once);
    zmsg_destroy(&twice);
    return 0;
}
