/*  fx_endpoint.c: main() of fx-endpoint. Reads the flags, loads the
    credentials and the endpoint's identity, takes DIR/endpoint.lock, then
    runs the interchange (which registers the endpoint with the broker)
    until told to stop.

    fx-endpoint --creds CREDS --dir DIR --name NAME [--managers N=1]
                [--workers M=1] [--prefetch K=1]
                [--manager-bind ADDR] [--heartbeat-ms 1000]
                [--heartbeat-missed 3] [--adopt-grace-ms MS]
                [--stop-grace-ms 10000] [--stats-file PATH]

    stdout: "fx-endpoint: ready endpoint_id=<uuid>" once the broker welcomed
    the endpoint, then "fx-endpoint: managers=<bound address>". Everything
    else goes to stderr. Exit 0 on SIGTERM/SIGINT, 1 on a fatal error, 2 on
    bad usage. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_conf.h"
#include "fx_interchange.h"
#include "fx_ix_identity.h"
#include "fx_log.h"

/* SIGTERM: how long in-flight tasks get to finish and their results to be
   acknowledged, by default; a short task finishes well within it, a long
   one is requeued by the broker when it sees this endpoint gone. */
#define S_STOP_GRACE_MS 10000

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: fx-endpoint --creds CREDS --dir DIR --name NAME [--managers N=1]\n"
            "                   [--workers M=1] [--prefetch K=1] [--manager-bind ADDR]\n"
            "                   [--heartbeat-ms %d] [--heartbeat-missed %d] [--adopt-grace-ms MS]\n"
            "                   [--stop-grace-ms %d] [--stats-file PATH]\n"
            "  --creds         credentials file of the user who owns this endpoint (fx user create)\n"
            "  --dir           state directory: endpoint.conf, endpoint.key, manager.key\n"
            "  --name          endpoint name shown by `fx endpoints`\n"
            "  --managers      local fx-manager processes to start (0: none)\n"
            "  --workers       workers per manager\n"
            "  --prefetch      tasks a manager may hold beyond its workers\n"
            "  --manager-bind  address the managers dial (default: the one in DIR/endpoint.conf,\n"
            "                  else tcp://127.0.0.1:0, a free port, then kept in endpoint.conf)\n"
            "  --heartbeat-ms  heartbeat period\n"
            "  --heartbeat-missed  a peer silent for this many periods is lost\n"
            "  --adopt-grace-ms    on start, how long managers of an earlier run (DIR/managers.pids)\n"
            "                  get to say hello before new ones are started (default 3 x period x missed)\n"
            "  --stop-grace-ms on SIGTERM, how long running tasks get to finish and their results\n"
            "                  to be acknowledged by the broker\n"
            "  --stats-file    write counters here every second and on exit\n",
            FX_HEARTBEAT_MS_DEFAULT, FX_HEARTBEAT_MISSED_DEFAULT, S_STOP_GRACE_MS);
}

/* Parses a decimal int within [lo, hi] for flag; exits 2 otherwise. */
static int s_int(const char *flag, const char *text, int lo, int hi)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (!*text || *end || v < lo || v > hi) {
        fprintf(stderr, "fx-endpoint: error: %s %s: expected a whole number from %d to %d\n", flag, text, lo,
                hi);
        exit(2);
    }
    return (int) v;
}

int main(int argc, char **argv)
{
    fx_log_init("fx-endpoint");
    const char *creds_path = NULL, *dir = NULL, *name = NULL;
    fx_interchange_conf_t conf = {
        .managers = 1,
        .workers = 1,
        .prefetch = 1,
        .heartbeat_ms = FX_HEARTBEAT_MS_DEFAULT,
        .heartbeat_missed = FX_HEARTBEAT_MISSED_DEFAULT,
        .adopt_grace_ms = -1, /* from the heartbeat once the flags are read */
        .stop_grace_ms = S_STOP_GRACE_MS,
    };
    static const struct option options[] = {
        {"creds", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},
        {"managers", required_argument, NULL, 'm'},
        {"workers", required_argument, NULL, 'w'},
        {"prefetch", required_argument, NULL, 'p'},
        {"manager-bind", required_argument, NULL, 'b'},
        {"heartbeat-ms", required_argument, NULL, 'h'},
        {"heartbeat-missed", required_argument, NULL, 'M'},
        {"adopt-grace-ms", required_argument, NULL, 'a'},
        {"stop-grace-ms", required_argument, NULL, 'g'},
        {"stats-file", required_argument, NULL, 's'},
        {"help", no_argument, NULL, '?'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            creds_path = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'm':
            conf.managers = s_int("--managers", optarg, 0, 1024);
            break;
        case 'w':
            conf.workers = s_int("--workers", optarg, 1, 4096);
            break;
        case 'p':
            conf.prefetch = s_int("--prefetch", optarg, 0, 65536);
            break;
        case 'b':
            conf.manager_bind = optarg;
            break;
        case 'h':
            conf.heartbeat_ms = s_int("--heartbeat-ms", optarg, 10, 3600 * 1000);
            break;
        case 'M':
            conf.heartbeat_missed = s_int("--heartbeat-missed", optarg, 1, 1000);
            break;
        case 'a':
            conf.adopt_grace_ms = s_int("--adopt-grace-ms", optarg, 0, 3600 * 1000);
            break;
        case 'g':
            conf.stop_grace_ms = s_int("--stop-grace-ms", optarg, 0, 3600 * 1000);
            break;
        case 's':
            conf.stats_file = optarg;
            break;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !creds_path || !dir || !name) {
        fprintf(stderr, "fx-endpoint: error: %s\n",
                optind < argc ? "unexpected argument" : "--creds, --dir and --name are required");
        s_usage(stderr);
        return 2;
    }

    if (conf.adopt_grace_ms < 0) {
        long grace = 3L * conf.heartbeat_ms * conf.heartbeat_missed;
        conf.adopt_grace_ms = grace > 3600 * 1000 ? 3600 * 1000 : (int) grace;
    }
    char err[1024];
    fx_creds_t creds;
    if (fx_creds_load(creds_path, &creds, err, sizeof err) != 0) {
        fx_error("%s; make one with `fx user create`", err);
        return 1;
    }
    fx_ix_identity_t identity;
    if (fx_ix_identity_load(&identity, dir, name, err, sizeof err) != 0) {
        fx_error("%s", err);
        return 1;
    }
    if (fx_ix_identity_lock(&identity, err, sizeof err) != 0) {
        fx_error("%s", err);
        return 1;
    }
    if (identity.created)
        fx_info("new endpoint %s (%s) in %s", identity.endpoint_id, identity.name, dir);
    if (!conf.manager_bind)
        conf.manager_bind = identity.manager_bind[0] ? identity.manager_bind : "tcp://127.0.0.1:0";
    conf.creds = &creds;
    conf.identity = &identity;
    fx_interchange_t *ic = fx_interchange_new(&conf, err, sizeof err);
    if (!ic) {
        fx_error("%s", err);
        return 1;
    }
    int rc = fx_interchange_run(ic);
    fx_interchange_destroy(&ic);
    return rc;
}
