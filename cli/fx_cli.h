/*  fx_cli.h: private to the `fx` command. One file per concern: argument
    parsing and dispatch (fx_cli.c), the local admin command `user create`
    (fx_cli_user.c), the wire commands (fx_cli_remote.c), tables
    (fx_cli_table.c). */
#ifndef FX_CLI_H
#define FX_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "fx_conf.h"
#include "fx_msg.h"

/* Exit codes: 0 ok, 1 the command failed, 2 bad arguments (usage shown). */
#define FX_CLI_OK 0
#define FX_CLI_FAILED 1
#define FX_CLI_USAGE 2

/* How long a wire command waits for the broker, by default. */
#define FX_CLI_TIMEOUT_MS 10000

typedef struct {
    const char *creds;         /* --creds FILE (else $FX_CREDS, else ~/.fx/credentials) */
    int64_t timeout_ms;        /* --timeout SECONDS */
    uint32_t limit;            /* --limit N (0: as many as the broker gives) */
    const char *state;         /* user create: --state DIR */
    const char *out;           /* user create: --out FILE */
    const char *client_addr;   /* user create: --client-addr ADDR */
    const char *endpoint_addr; /* user create: --endpoint-addr ADDR */
    bool force;                /* user create: --force (overwrite --out) */
    int argc;                  /* the words that are not options */
    char **argv;
} fx_cli_args_t;

/* Print "fx: <message>" on stderr. */
void fx_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* `fx user create NAME`: args->argv = {"user", "create", NAME}. */
int fx_cli_user_create(const fx_cli_args_t *args);

/* `fx endpoints | functions | tasks | status ID...` */
int fx_cli_remote(const fx_cli_args_t *args);

/* Print a table of strings: cells[row * cols + col], row 0 the header.
   Columns are padded to their widest cell; the last one is not padded. */
void fx_cli_table_print(FILE *out, char **cells, uint32_t rows, uint32_t cols);

#endif
