/*  fx_ix_provider.c: what every provider shares (fx_ix_provider.h): the
    table of providers, block states, and the ids that tie a manager to
    its block. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fx_ix_provider.h"

/* Where in a manager id the index within its block goes: the last four
   hex digits of the UUID's text. */
#define S_INDEX_AT (FX_ID_LEN - 4)

const fx_ix_provider_ops_t *fx_ix_provider_ops(fx_ix_provider_kind_t kind)
{
    switch (kind) {
    case FX_IX_PROVIDER_UNSET:
    case FX_IX_PROVIDER_LOCAL:
        return &fx_ix_provider_local;
    case FX_IX_PROVIDER_SLURM:
    case FX_IX_PROVIDER_PBS:
        return &fx_ix_provider_batch;
    }
    return NULL;
}

const char *fx_ix_block_state_name(fx_ix_block_state_t state)
{
    static const char *const names[] = {"SUBMITTING", "PENDING", "RUNNING", "HELD", "DONE", "FAILED"};
    return state <= FX_IX_BLOCK_FAILED ? names[state] : "?";
}

bool fx_ix_block_ended(fx_ix_block_state_t state)
{
    return state == FX_IX_BLOCK_DONE || state == FX_IX_BLOCK_FAILED;
}

void fx_ix_block_new_id(fx_id_text_t out)
{
    fx_id_new(out);
    memcpy(out + S_INDEX_AT, "0000", 4);
}

void fx_ix_block_manager_id(const char *block_id, unsigned index, fx_id_text_t out)
{
    char digits[8];
    snprintf(digits, sizeof digits, "%04x", index & 0xffffu);
    memcpy(out, block_id, S_INDEX_AT);
    memcpy(out + S_INDEX_AT, digits, 4);
    out[FX_ID_LEN] = '\0';
}

bool fx_ix_block_owns(const char *block_id, const char *manager_id)
{
    return strncmp(block_id, manager_id, S_INDEX_AT) == 0 && strlen(manager_id) == FX_ID_LEN;
}

void fx_ix_block_of_manager(const char *manager_id, fx_id_text_t out)
{
    memcpy(out, manager_id, S_INDEX_AT);
    memcpy(out + S_INDEX_AT, "0000", 4);
    out[FX_ID_LEN] = '\0';
}

int fx_ix_launch_local_workers(const fx_ix_launch_t *launch)
{
    if (launch->workers != FX_IX_WORKERS_AUTO)
        return launch->workers;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > FX_WORKERS_PER_MANAGER_MAX ? FX_WORKERS_PER_MANAGER_MAX : (int) cores;
}
