/*  fx_id.c: ids are version-4 UUIDs from libsodium's CSPRNG, kept in their
    canonical lowercase text form everywhere (wire, sqlite, files). */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "fx_msg.h"

void fx_id_new(fx_id_text_t out)
{
    uint8_t b[16];
    /* sodium_init is idempotent and thread-safe; randombytes works without
       it, but calling it picks the best source once. */
    if (sodium_init() < 0) {
        /* Only fails if no entropy source exists at all: nothing sane to do. */
        abort();
    }
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t) ((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t) ((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, FX_ID_LEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
}

bool fx_id_valid(const char *text)
{
    if (!text)
        return false;
    for (int i = 0; i < FX_ID_LEN; i++) {
        char c = text[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        }
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return text[FX_ID_LEN] == '\0';
}

bool fx_oid_valid(const char *text)
{
    size_t len = strlen(text);
    if (len == 0)
        return true;
    if (len != FX_OID_LEN)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
            return false;
    return true;
}
