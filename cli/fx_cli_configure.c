/*  fx_cli_configure.c: `fx endpoint configure NAME`: a new endpoint's
    folder (parents created, mode 0700) and its commented config.yaml
    (fx_cli_template.c), checked with fx-endpoint's own reader
    (interchange/fx_ix_config.h) before fx says it is done. An existing
    config.yaml is kept unless --force. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fx_cli.h"
#include "fx_cli_template.h"
#include "fx_ix_config.h"

/* path made absolute (against the current folder); -1 if too long. */
static int s_absolute(const char *path, char *out, size_t cap)
{
    if (path[0] == '/' || (path[0] == '~' && path[1] == '/'))
        return snprintf(out, cap, "%s", path) < (int) cap ? 0 : -1;
    char resolved[PATH_MAX];
    if (realpath(path, resolved))
        return snprintf(out, cap, "%s", resolved) < (int) cap ? 0 : -1;
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    return snprintf(out, cap, "%s/%s", cwd, path) < (int) cap ? 0 : -1;
}

static bool s_printable(const char *text)
{
    for (const unsigned char *p = (const unsigned char *) text; *p; p++)
        if (iscntrl(*p))
            return false;
    return true;
}

int fx_cli_endpoint_configure(const fx_cli_args_t *args)
{
    const char *name = args->argv[0];
    if (!fx_cli_name_ok(name))
        return fx_cli_usage_error(args->verb,
                                  "'%s' is not an endpoint name: use 1 to 64 letters, digits, '.', '_' "
                                  "or '-', not starting with '.' or '-'",
                                  name);
    char dir[PATH_MAX], path[PATH_MAX], creds_buf[PATH_MAX], creds[PATH_MAX], handle[PATH_MAX + 200];
    if (fx_cli_endpoint_dir(args, name, dir, sizeof dir) != 0 ||
        fx_cli_path(path, sizeof path, dir, "config.yaml") != 0) {
        fx_cli_fail("the endpoint's folder is too long a path; pass a shorter --dir");
        return FX_CLI_FAILED;
    }
    fx_cli_handle(args, name, handle, sizeof handle);
    struct stat st;
    if (!args->force && stat(path, &st) == 0) {
        fx_cli_fail("%s exists already: edit it, or add --force to replace it with the default "
                    "(`fx endpoint start %s` runs it as it is)",
                    path, handle);
        return FX_CLI_FAILED;
    }
    const char *given = fx_cli_creds_path(args->creds, creds_buf, sizeof creds_buf);
    if (s_absolute(given, creds, sizeof creds) != 0 || !s_printable(creds) || !s_printable(dir)) {
        fx_cli_fail("cannot use the path %s: pass a shorter --creds without control characters", given);
        return FX_CLI_FAILED;
    }
    if (fx_file_mkdirs(dir, 0700) != 0) {
        fx_cli_fail("cannot create the folder %s (%s); pass a writable --dir, or set $FX_HOME", dir,
                    strerror(errno));
        return FX_CLI_FAILED;
    }
    static char text[FX_CLI_TEMPLATE_MAX];
    int len = fx_cli_template(name, creds, text, sizeof text);
    if (len < 0) {
        fx_cli_fail("the credentials path %s is too long for the config", creds);
        return FX_CLI_FAILED;
    }
    if (fx_file_write_atomic(path, text, (size_t) len, 0600, 1) != 0) {
        fx_cli_fail("cannot write %s (%s); pass a writable --dir, or set $FX_HOME", path, strerror(errno));
        return FX_CLI_FAILED;
    }
    bool have_creds = access(creds, R_OK) == 0;
    int creds_errno = have_creds ? 0 : errno;
    if (have_creds) {
        char err[2048];
        fx_ix_config_t *cfg = fx_ix_config_load(path, err, sizeof err);
        if (!cfg) {
            fx_cli_fail("the config just written does not load (please report this): %s", err);
            return FX_CLI_FAILED;
        }
        fx_ix_config_destroy(&cfg);
    }
    printf("wrote %s\n"
           "  endpoint %s: the local provider, one manager with a worker per core; every key\n"
           "  is explained in the file (a Slurm provider block is there to uncomment).\n"
           "  start it: fx endpoint start %s --detach\n",
           path, name, handle);
    if (!have_creds)
        printf(
            "note: the credentials file %s cannot be read yet (%s): make it with\n"
            "  fx user create USER --state BROKER_STATE_DIR --out %s --client-addr ... --endpoint-addr ...\n"
            "  where the broker runs, or name your credentials file in the config's credentials: line\n",
            creds, strerror(creds_errno), creds);
    return FX_CLI_OK;
}
