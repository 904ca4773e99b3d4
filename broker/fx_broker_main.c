/*  fx-broker: parse flags, start the server, serve until SIGINT/SIGTERM,
    tear down. Everything else lives in fx_broker.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_broker_int.h"

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: fx-broker --state DIR --client-bind tcp://HOST:PORT --endpoint-bind "
            "tcp://HOST:PORT\n"
            "                 [--heartbeat-ms 1000] [--result-ttl-s 604800] [--max-attempts %d]\n"
            "  --state DIR          broker.key and fx.db live here (created, mode 0700)\n"
            "  --client-bind ADDR   CurveZMQ port for clients (port 0 picks a free one)\n"
            "  --endpoint-bind ADDR CurveZMQ port for endpoints\n"
            "  --heartbeat-ms N     beat period announced in WELCOME; an endpoint silent for %d\n"
            "                       beats is lost and its dispatched tasks are requeued\n"
            "  --result-ttl-s N     delivered results (and their tasks) are purged after N s;\n"
            "                       0 keeps them forever\n"
            "  --max-attempts N     dispatches before a task whose endpoint keeps being lost is\n"
            "                       failed (0: retry forever)\n"
            "Prints 'fx-broker: ready client=ADDR endpoint=ADDR public_key=KEY' when serving.\n",
            FX_BROKER_MAX_ATTEMPTS, FX_FWD_MISSED_BEATS);
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
    conf->heartbeat_ms = 1000;
    conf->result_ttl_s = 604800;
    conf->max_attempts = FX_BROKER_MAX_ATTEMPTS;
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
        else if (strcmp(flag, "--max-attempts") == 0) {
            if (s_number(value, 0, 1000000, &n)) {
                fprintf(stderr, "fx-broker: --max-attempts must be 0 to 1000000, not '%s'\n", value);
                return -1;
            }
            conf->max_attempts = (uint32_t) n;
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

int main(int argc, char **argv)
{
    fx_broker_conf_t conf;
    zsys_init(); /* SIGINT/SIGTERM set zsys_interrupted from here on */
    if (s_parse(argc, argv, &conf) != 0)
        return 2;
    char err[1024] = "";
    fx_broker_t *broker = fx_broker_new(&conf, err, sizeof err);
    if (!broker) {
        fprintf(stderr, "fx-broker: %s\n", err);
        return 1;
    }
    int rc = fx_broker_run(broker);
    fx_broker_destroy(&broker);
    return rc == 0 ? 0 : 1;
}
