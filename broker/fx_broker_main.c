/*  fx-broker: parse flags, start the server, serve until SIGINT/SIGTERM,
    tear down. Everything else lives in fx_broker.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_memory.h"
#include "fx_broker_int.h"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: fx-broker --state DIR --client-bind tcp://HOST:PORT --endpoint-bind "
            "tcp://HOST:PORT\n"
            "                 [--heartbeat-ms %d] [--heartbeat-missed %d] [--result-ttl-s 604800]\n"
            "                 [--max-queued-per-user %d] [--durability full|normal]\n"
            "  --state DIR          broker.key and fx.db live here (created, mode 0700)\n"
            "  --client-bind ADDR   CurveZMQ port for clients (port 0 picks a free one)\n"
            "  --endpoint-bind ADDR CurveZMQ port for endpoints\n"
            "  --heartbeat-ms N     beat period announced in WELCOME\n"
            "  --heartbeat-missed N an endpoint silent for N beats is lost: LIST shows it offline\n"
            "                       and its dispatched tasks are requeued (never counted\n"
            "                       against them)\n"
            "  --result-ttl-s N     delivered results (and their tasks) are purged after N s;\n"
            "                       0 keeps them forever\n"
            "  --max-queued-per-user N  a SUBMIT that would give a user more than N unfinished\n"
            "                       (queued or dispatched) tasks is refused whole; 0: no cap\n"
            "  --durability MODE    full (the default): nothing is acknowledged (SUBMITTED,\n"
            "                       RESULTS_ACK, a push) before its commit is on disk; commits\n"
            "                       share one fdatasync, run off the loop. normal: no fdatasync\n"
            "                       at all: commits survive a kill -9 of the broker but NOT a\n"
            "                       power loss or crash of the host (the last ones are lost\n"
            "                       though acknowledged). For benchmarks and throwaway state\n"
            "Prints 'fx-broker: ready client=ADDR endpoint=ADDR public_key=KEY' when serving.\n"
            "SIGTERM/SIGINT: stops reading requests, keeps everything committed, exits 0.\n",
            FX_HEARTBEAT_MS_DEFAULT, FX_HEARTBEAT_MISSED_DEFAULT, FX_QUEUED_PER_USER_DEFAULT);
}

/* Parses a decimal in [min, max]. 0 or -1. */
static int s_number(const char *text, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || !end || end == text || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int s_copy(char *dst, size_t cap, const char *flag, const char *value)
{
    if (strlen(value) >= cap || !*value) {
        fprintf(stderr, "fx-broker: %s must be 1 to %zu characters\n", flag, cap - 1);
        return -1;
    }
    strcpy(dst, value);
    return 0;
}

static int s_parse(int argc, char **argv, fx_broker_conf_t *conf)
{
    memset(conf, 0, sizeof *conf);
    conf->heartbeat_ms = FX_HEARTBEAT_MS_DEFAULT;
    conf->heartbeat_missed = FX_HEARTBEAT_MISSED_DEFAULT;
    conf->result_ttl_s = 604800;
    conf->max_queued_per_user = FX_QUEUED_PER_USER_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--help") == 0 || strcmp(flag, "-h") == 0) {
            s_usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "fx-broker: %s needs a value (or is unknown); see --help\n", flag);
            return -1;
        }
        const char *value = argv[++i];
        long long n;
        if (strcmp(flag, "--state") == 0) {
            if (s_copy(conf->state_dir, sizeof conf->state_dir, flag, value))
                return -1;
        }
        else if (strcmp(flag, "--client-bind") == 0) {
            if (s_copy(conf->client_bind, sizeof conf->client_bind, flag, value))
                return -1;
        }
        else if (strcmp(flag, "--endpoint-bind") == 0) {
            if (s_copy(conf->endpoint_bind, sizeof conf->endpoint_bind, flag, value))
                return -1;
        }
        else if (strcmp(flag, "--heartbeat-ms") == 0) {
            if (s_number(value, 10, 3600000, &n)) {
                fprintf(stderr, "fx-broker: --heartbeat-ms must be 10 to 3600000, not '%s'\n", value);
                return -1;
            }
            conf->heartbeat_ms = (uint32_t) n;
        }
        else if (strcmp(flag, "--result-ttl-s") == 0) {
            if (s_number(value, 0, 100LL * 365 * 86400, &n)) {
                fprintf(stderr, "fx-broker: --result-ttl-s must be 0 to 3153600000, not '%s'\n", value);
                return -1;
            }
            conf->result_ttl_s = n;
        }
        else if (strcmp(flag, "--heartbeat-missed") == 0) {
            if (s_number(value, 1, 1000, &n)) {
                fprintf(stderr, "fx-broker: --heartbeat-missed must be 1 to 1000, not '%s'\n", value);
                return -1;
            }
            conf->heartbeat_missed = (uint32_t) n;
        }
        else if (strcmp(flag, "--durability") == 0) {
            if (strcmp(value, "full") == 0)
                conf->durability = FX_DURABILITY_FULL;
            else if (strcmp(value, "normal") == 0)
                conf->durability = FX_DURABILITY_NORMAL;
            else {
                fprintf(stderr, "fx-broker: --durability must be full or normal, not '%s'\n", value);
                return -1;
            }
        }
        else if (strcmp(flag, "--max-queued-per-user") == 0) {
            if (s_number(value, 0, 1000000000000LL, &n)) {
                fprintf(stderr, "fx-broker: --max-queued-per-user must be 0 to 10^12, not '%s'\n", value);
                return -1;
            }
            conf->max_queued_per_user = (uint64_t) n;
        }
        else {
            fprintf(stderr, "fx-broker: unknown flag %s; see --help\n", flag);
            return -1;
        }
    }
    const char *missing = !conf->state_dir[0]       ? "--state"
                          : !conf->client_bind[0]   ? "--client-bind"
                          : !conf->endpoint_bind[0] ? "--endpoint-bind"
                                                    : NULL;
    if (missing) {
        fprintf(stderr, "fx-broker: %s is required; see --help\n", missing);
        return -1;
    }
    return 0;
}

#ifdef FX_BROKER_FAULTS
#include <unistd.h>

#include "fx_fault_vfs.h"

static char s_sync_fault[4096]; /* --sync-fault-file */

/* fx_sync_fn of the fault build: fdatasync fails with EIO while the file
   exists (the data is written, as when a real sync fails after the
   writes). */
static int s_faulty_sync(int fd)
{
    if (s_sync_fault[0] && access(s_sync_fault, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    return fdatasync(fd);
}

/* Takes "FLAG VALUE" out of argv; the value, or NULL if absent. */
static const char *s_take_flag(int *argc, char **argv, const char *flag)
{
    for (int i = 1; i + 1 < *argc; i++)
        if (strcmp(argv[i], flag) == 0) {
            const char *value = argv[i + 1];
            for (int j = i; j + 2 <= *argc; j++)
                argv[j] = argv[j + 2];
            *argc -= 2;
            return value;
        }
    return NULL;
}

/* Test binary only (fx_broker_faults, see CMakeLists.txt): takes
   --fault-file PATH out of argv and arms the failing VFS with it, so that a
   test fails the broker's sqlite writes by creating PATH; and
   --sync-fault-file PATH, whose existence fails the syncer's fdatasync. */
static int s_faults(int *argc, char **argv)
{
    const char *sync_path = s_take_flag(argc, argv, "--sync-fault-file");
    if (sync_path)
        snprintf(s_sync_fault, sizeof s_sync_fault, "%s", sync_path);
    const char *path = s_take_flag(argc, argv, "--fault-file");
    if (!path) {
        fprintf(stderr, "fx_broker_faults: --fault-file PATH is required\n");
        return -1;
    }
    if (fx_fault_vfs_install() != 0)
        return -1;
    fx_fault_vfs_arm_file(path);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    fx_broker_conf_t conf;
    fx_log_init("fx-broker");
    fx_memory_tune(); /* large messages reuse memory (fx_memory.h) */
#ifdef FX_BROKER_FAULTS
    if (s_faults(&argc, argv) != 0)
        return 2;
#endif
    zsys_init(); /* SIGINT/SIGTERM set zsys_interrupted from here on */
    if (s_parse(argc, argv, &conf) != 0)
        return 2;
#ifdef FX_BROKER_FAULTS
    conf.sync_fn = s_faulty_sync;
#endif
    char err[1024] = "";
    fx_broker_t *broker = fx_broker_new(&conf, err, sizeof err);
    if (!broker) {
        fx_error("%s", err);
        return 1;
    }
    int rc = fx_broker_run(broker);
    fx_broker_destroy(&broker);
    return rc == 0 ? 0 : 1;
}
