/*  fx_cli_user.c: `fx user create`, the local admin command. It writes the
    broker's sqlite store directly (sqlite serialises it with a running
    broker), so it runs on the broker's host, with access to its state
    directory. The new user's secret key exists only in the credentials
    file it writes (mode 0600). */
#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_cli.h"

#ifdef FX_HAVE_STORE
#include "fx_store.h"

/* The directory that will hold path, made if missing (0700, as ~/.fx on a
   fresh machine), must be writable. */
static bool s_out_writable(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    return (fx_file_mkdirs(dir, 0700) == 0 || errno == EEXIST) && access(dir, W_OK) == 0;
}

static bool s_addr_ok(const char *addr)
{
    return strncmp(addr, "tcp://", 6) == 0 && strchr(addr + 6, ':') != NULL && strlen(addr) < FX_ADDR_MAX;
}

int fx_cli_user_create(const fx_cli_args_t *args)
{
    if (!args->state || !args->out || !args->client_addr || !args->endpoint_addr)
        return fx_cli_usage_error(args->verb, "'fx user create' needs --state, --out, --client-addr and "
                                              "--endpoint-addr");
    const char *name = args->argv[0];
    char err[512] = "";
    char key_path[4096];
    fx_store_t *store = NULL;
    fx_keypair_t broker_kp, user_kp;
    fx_creds_t creds;
    fx_id_text_t user_id;
    int rc = FX_CLI_FAILED;
    memset(&creds, 0, sizeof creds);

    if (!s_addr_ok(args->client_addr) || !s_addr_ok(args->endpoint_addr)) {
        fx_cli_fail("--client-addr and --endpoint-addr must look like tcp://HOST:PORT (the "
                    "addresses clients and endpoints dial, e.g. tcp://broker.example.org:5551)");
        return FX_CLI_USAGE;
    }
    struct stat st;
    if (!args->force && stat(args->out, &st) == 0) {
        fx_cli_fail("%s exists already: choose another --out, or add --force to overwrite it", args->out);
        return FX_CLI_FAILED;
    }
    if (!s_out_writable(args->out)) {
        fx_cli_fail("cannot write %s: its folder cannot be made or is not writable (%s)", args->out,
                    strerror(errno));
        return FX_CLI_FAILED;
    }
    store = fx_store_open(args->state, err, sizeof err);
    if (store == NULL) {
        fx_cli_fail("%s", err);
        goto cleanup;
    }
    snprintf(key_path, sizeof key_path, "%s/%s", args->state, FX_STORE_KEY_FILE);
    if (fx_keypair_load(key_path, &broker_kp, true, err, sizeof err) != 0) {
        fx_cli_fail("%s", err);
        goto cleanup;
    }
    if (fx_keypair_new(&user_kp) != 0) {
        fx_cli_fail("cannot make a CurveZMQ keypair: is libzmq built with CURVE support?");
        goto cleanup;
    }
    int code = fx_store_user_create(store, name, user_kp.public_key, user_id, err, sizeof err);
    if (code != FX_OK) {
        fx_cli_fail("cannot create user '%s': %s", name, err[0] ? err : fx_strerror(code));
        goto cleanup;
    }
    snprintf(creds.broker_client, sizeof creds.broker_client, "%s", args->client_addr);
    snprintf(creds.broker_endpoint, sizeof creds.broker_endpoint, "%s", args->endpoint_addr);
    memcpy(creds.broker_public_key, broker_kp.public_key, sizeof creds.broker_public_key);
    memcpy(creds.user_id, user_id, sizeof creds.user_id);
    memcpy(creds.public_key, user_kp.public_key, sizeof creds.public_key);
    memcpy(creds.secret_key, user_kp.secret_key, sizeof creds.secret_key);
    if (fx_creds_save(args->out, &creds) != 0) {
        fx_cli_fail("user %s (%s) was created, but writing %s failed: %s; run again with "
                    "another NAME and --out",
                    name, user_id, args->out, strerror(errno));
        goto cleanup;
    }
    printf("%s\n", user_id);
    fflush(stdout);
    rc = FX_CLI_OK;
cleanup:
    sodium_memzero(&user_kp, sizeof user_kp);
    sodium_memzero(&creds, sizeof creds);
    sodium_memzero(&broker_kp, sizeof broker_kp);
    fx_store_destroy(&store);
    return rc;
}

#else

int fx_cli_user_create(const fx_cli_args_t *args)
{
    fx_cli_fail("this fx was built without the broker's store library (fxstore): rebuild "
                "the whole tree to get 'fx user create'");
    return FX_CLI_FAILED;
}

#endif
