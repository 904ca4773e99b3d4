/*  fx_endpoint.c: main() of fx-endpoint. Reads the flags and the
    configuration file (fx_ix_config.h; flags win over the file), loads the
    credentials and the endpoint's identity, takes DIR/endpoint.lock, then
    runs the interchange (which registers the endpoint with the broker)
    until told to stop. It never detaches: it runs in the foreground until
    it stops, and a caller that wants a daemon starts it in the background
    with --log-file and --pid-file.

    stdout: "fx-endpoint: ready endpoint_id=<uuid>" once the broker welcomed
    the endpoint, then "fx-endpoint: managers=<bound address>". Everything
    else goes to stderr (or --log-file). Exit 0 on SIGTERM/SIGINT, 1 on a
    fatal error, 2 on bad usage or a bad configuration. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_memory.h"
#include "fx_creds.h"
#include "fx_file.h"
#include "fx_kv.h"
#include "fx_interchange.h"
#include "fx_ix_config.h"
#include "fx_ix_identity.h"
#include "fx_ix_route.h"
#include "fx_log.h"

/* SIGTERM: how long in-flight tasks get to finish and their results to be
   acknowledged, by default; a short task finishes well within it, a long
   one is requeued by the broker when it sees this endpoint gone. */
#define S_STOP_GRACE_MS 10000

/* A block whose managers hold no task this long is ended, by default
   (Parsl's max_idletime). */
#define S_IDLE_MS 120000

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "usage: fx-endpoint [--config FILE] [--dir DIR] [--creds CREDS] [--name NAME]\n"
        "                   [--managers N] [--workers M] [--prefetch K] [--manager-bind ADDR]\n"
        "                   [--heartbeat-ms %d] [--heartbeat-missed %d] [--adopt-grace-ms MS]\n"
        "                   [--stop-grace-ms %d] [--routing STRATEGY] [--stats-file PATH]\n"
        "                   [--queue-depth N] [--log-file PATH] [--pid-file PATH]\n"
        "  --config        the endpoint's config.yaml (default: DIR/config.yaml if it exists);\n"
        "                  every flag below overrides the value the file gives\n"
        "  --dir           state directory: endpoint.conf, endpoint.key, manager.key\n"
        "                  (default: the config file's folder)\n"
        "  --creds         credentials file of the user who owns this endpoint (fx user create);\n"
        "                  config: credentials\n"
        "  --name          endpoint name shown by `fx endpoints` (config: name; default: DIR's name)\n"
        "  --managers      run N local fx-manager processes, kept at N (0: none; start them\n"
        "                  yourself); replaces the config's provider. Default without one: 1\n"
        "  --workers       workers per manager (config: workers_per_node)\n"
        "  --prefetch      tasks a manager may hold beyond its workers (config: prefetch;\n"
        "                  default: 2 x workers, at least 32; 0 spreads long tasks evenly)\n"
        "  --manager-bind  address the managers dial (config: address; default: the one in\n"
        "                  DIR/endpoint.conf, else tcp://127.0.0.1:0, a free port, then kept there)\n"
        "  --heartbeat-ms  heartbeat period (config: heartbeat_period)\n"
        "  --heartbeat-missed  a peer silent for this many periods is lost (config:\n"
        "                  heartbeat_threshold, a duration)\n"
        "  --adopt-grace-ms    on start, how long managers of an earlier run (DIR/managers.pids)\n"
        "                  get to say hello before new ones are started (default 3 x period x missed)\n"
        "  --stop-grace-ms on SIGTERM, how long running tasks get to finish and their results\n"
        "                  to be acknowledged by the broker (config: stop_grace)\n"
        "  --routing       which manager gets each task: random, warming-aware (the default:\n"
        "                  idle warm workers for its container first) or warm-wait (as warming-\n"
        "                  aware, but waits for a warm worker about to free up rather than pay\n"
        "                  a cold start); config: routing\n"
        "  --queue-depth   tasks this endpoint holds beyond its managers' windows, for the\n"
        "                  routing to choose from (config: queue_depth; default: none while\n"
        "                  only host tasks came, %d once a container was named)\n"
        "  --stats-file    write counters here every second and on exit\n"
        "  --log-file      append every log line (this process's and its managers') here\n"
        "                  instead of stderr\n"
        "  --pid-file      write this process's pid here while it runs (removed on exit)\n"
        "fx-endpoint runs in the foreground until SIGTERM/SIGINT or a STOP from the broker.\n",
        FX_HEARTBEAT_MS_DEFAULT, FX_HEARTBEAT_MISSED_DEFAULT, S_STOP_GRACE_MS, FX_IX_QUEUE_AUTO_DEPTH);
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

/* What the command line said; -1 / NULL = not given. */
typedef struct {
    const char *config, *dir, *creds, *name, *manager_bind, *stats_file, *log_file, *pid_file, *routing;
    int managers, workers, prefetch, heartbeat_ms, heartbeat_missed, adopt_grace_ms, stop_grace_ms, queue_depth;
} s_flags_t;

static void s_read_flags(int argc, char **argv, s_flags_t *f)
{
    *f = (s_flags_t){.managers = -1,
                     .workers = -1,
                     .prefetch = -1,
                     .heartbeat_ms = -1,
                     .heartbeat_missed = -1,
                     .adopt_grace_ms = -1,
                     .stop_grace_ms = -1,
                     .queue_depth = -1};
    static const struct option options[] = {
        {"config", required_argument, NULL, 'C'},
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
        {"log-file", required_argument, NULL, 'l'},
        {"pid-file", required_argument, NULL, 'P'},
        {"routing", required_argument, NULL, 'r'},
        {"queue-depth", required_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'C':
            f->config = optarg;
            break;
        case 'c':
            f->creds = optarg;
            break;
        case 'd':
            f->dir = optarg;
            break;
        case 'n':
            f->name = optarg;
            break;
        case 'm':
            f->managers = s_int("--managers", optarg, 0, 1024);
            break;
        case 'w':
            f->workers = s_int("--workers", optarg, 1, FX_WORKERS_PER_MANAGER_MAX);
            break;
        case 'p':
            f->prefetch = s_int("--prefetch", optarg, 0, FX_IX_PREFETCH_MAX);
            break;
        case 'b':
            f->manager_bind = optarg;
            break;
        case 'h':
            f->heartbeat_ms = s_int("--heartbeat-ms", optarg, 10, 3600 * 1000);
            break;
        case 'M':
            f->heartbeat_missed = s_int("--heartbeat-missed", optarg, 1, 1000);
            break;
        case 'a':
            f->adopt_grace_ms = s_int("--adopt-grace-ms", optarg, 0, 3600 * 1000);
            break;
        case 'g':
            f->stop_grace_ms = s_int("--stop-grace-ms", optarg, 0, 3600 * 1000);
            break;
        case 's':
            f->stats_file = optarg;
            break;
        case 'l':
            f->log_file = optarg;
            break;
        case 'P':
            f->pid_file = optarg;
            break;
        case 'r':
            if (!fx_ix_route_named(optarg)) {
                fprintf(stderr, "fx-endpoint: error: --routing %s: expected random, warming-aware or warm-wait\n",
                        optarg);
                exit(2);
            }
            f->routing = optarg;
            break;
        case 'q':
            f->queue_depth = s_int("--queue-depth", optarg, 0, FX_IX_QUEUE_DEPTH_MAX);
            break;
        case 'H':
            s_usage(stdout);
            exit(0);
        default:
            s_usage(stderr);
            exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "fx-endpoint: error: unexpected argument %s\n", argv[optind]);
        s_usage(stderr);
        exit(2);
    }
}

/* The config file: --config, else DIR/config.yaml if there is one, else
   none (an empty config). Exits 2 with the parser's sentence. */
static fx_ix_config_t *s_read_config(const s_flags_t *f, char *path, size_t cap)
{
    path[0] = '\0';
    if (f->config)
        snprintf(path, cap, "%s", f->config);
    else if (f->dir) {
        snprintf(path, cap, "%s/config.yaml", f->dir);
        if (access(path, F_OK) != 0)
            path[0] = '\0';
    }
    char err[2048];
    fx_ix_config_t *cfg = path[0] ? fx_ix_config_load(path, err, sizeof err) : fx_ix_config_empty();
    if (!cfg) {
        fprintf(stderr, "fx-endpoint: error: %s\n", path[0] ? err : "out of memory");
        exit(2);
    }
    return cfg;
}

/* The provider with every count set: --managers N is N local blocks of
   one manager, kept at N; a provider section gets Globus Compute's
   defaults (one block of one node to start, none kept, at most one); no
   provider at all is one local manager, kept. */
static void s_provider(const s_flags_t *f, const fx_ix_config_t *cfg, fx_ix_provider_conf_t *p)
{
    *p = cfg->provider; /* the lines stay owned by cfg */
    if (f->managers >= 0 || p->kind == FX_IX_PROVIDER_UNSET) {
        memset(p, 0, sizeof *p);
        p->kind = FX_IX_PROVIDER_LOCAL;
        p->nodes_per_block = 1;
        p->init_blocks = p->min_blocks = p->max_blocks = f->managers >= 0 ? f->managers : 1;
        return;
    }
    if (p->nodes_per_block == FX_IX_UNSET)
        p->nodes_per_block = 1;
    if (p->min_blocks == FX_IX_UNSET)
        p->min_blocks = 0;
    if (p->max_blocks == FX_IX_UNSET) {
        p->max_blocks = p->min_blocks > 1 ? p->min_blocks : 1;
        if (p->init_blocks > p->max_blocks)
            p->max_blocks = p->init_blocks;
    }
    if (p->init_blocks == FX_IX_UNSET)
        p->init_blocks = p->max_blocks < 1 ? p->max_blocks : 1;
}

/* "tcp://IP:PORT" with the port the endpoint bound last time (kept in
   endpoint.conf, so surviving managers find it), else a free one. */
static void s_bind_for_address(const char *ip, const char *kept, char *out, size_t cap)
{
    const char *colon = kept[0] ? strrchr(kept, ':') : NULL;
    snprintf(out, cap, "tcp://%s%s", ip, colon && colon > kept + 6 ? colon : ":0");
}

/* Write our pid to path (atomically); 0 or -1 with errno. */
static int s_write_pid(const char *path)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%d\n", (int) getpid());
    return fx_file_write_atomic(path, text, (size_t) len, 0644, 0);
}

/* Remove the pid file if it still names this process. */
static void s_remove_pid(const char *path)
{
    char *text = NULL;
    size_t len = 0;
    if (fx_file_read(path, 64, &text, &len) == 0 && atoi(text) == (int) getpid())
        unlink(path);
    free(text);
}

/* Every line of this process and of its children goes to path from now
   on (stderr is the file). 0 or -1 with errno. */
static int s_log_to(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = dup2(fd, STDERR_FILENO) < 0 ? -1 : 0;
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    fx_log_init("fx-endpoint");
    fx_memory_tune(); /* large messages reuse memory (fx_memory.h) */
    s_flags_t f;
    s_read_flags(argc, argv, &f);
    /* a bad config is said on stderr even with --log-file: whoever starts
       the endpoint in the background sees it at once */
    char config_path[PATH_MAX];
    fx_ix_config_t *cfg = s_read_config(&f, config_path, sizeof config_path);
    if (f.log_file && s_log_to(f.log_file) != 0) {
        fprintf(stderr, "fx-endpoint: error: cannot open the log file %s (%s); pass a writable --log-file\n",
                f.log_file, strerror(errno));
        fx_ix_config_destroy(&cfg);
        return 2;
    }

    /* the state directory and the name */
    char dir_buf[PATH_MAX], name_buf[PATH_MAX];
    const char *dir = f.dir;
    if (!dir && config_path[0]) {
        snprintf(dir_buf, sizeof dir_buf, "%s", config_path);
        dir = dirname(dir_buf);
    }
    int rc = 2;
    if (!dir) {
        fprintf(stderr, "fx-endpoint: error: --dir (or --config) is required\n");
        s_usage(stderr);
        goto done;
    }
    const char *name = f.name ? f.name : cfg->name[0] ? cfg->name : NULL;
    if (!name) {
        snprintf(name_buf, sizeof name_buf, "%s", dir);
        name = basename(name_buf);
    }
    const char *creds_path = f.creds ? f.creds : cfg->credentials[0] ? cfg->credentials : NULL;
    if (!creds_path) {
        if (config_path[0])
            fprintf(stderr,
                    "fx-endpoint: error: %s: credentials: missing; name the broker credentials file "
                    "(credentials: FILE, from `fx user create`) or pass --creds\n",
                    config_path);
        else {
            fprintf(stderr, "fx-endpoint: error: --creds is required (or a config with credentials:)\n");
            s_usage(stderr);
        }
        goto done;
    }

    /* the interchange's settings: flag, else config, else default */
    fx_interchange_conf_t conf = {
        .workers = f.workers > 0               ? f.workers
                   : cfg->workers_per_node > 0 ? cfg->workers_per_node
                                               : 1,
        .prefetch = f.prefetch >= 0      ? f.prefetch
                    : cfg->prefetch >= 0 ? cfg->prefetch
                                         : FX_IX_PREFETCH_AUTO,
        .heartbeat_ms = f.heartbeat_ms > 0                        ? f.heartbeat_ms
                        : cfg->heartbeat_period_ms != FX_IX_UNSET ? (int) cfg->heartbeat_period_ms
                                                                  : FX_HEARTBEAT_MS_DEFAULT,
        .adopt_grace_ms = f.adopt_grace_ms,
        .stop_grace_ms = f.stop_grace_ms >= 0                ? f.stop_grace_ms
                         : cfg->stop_grace_ms != FX_IX_UNSET ? (int) cfg->stop_grace_ms
                                                             : S_STOP_GRACE_MS,
        .stats_file = f.stats_file,
        .config_path = config_path[0] ? config_path : NULL,
        .allowed_functions = cfg->allowed_functions,
        .allowed_functions_count = cfg->allowed_functions_count,
        .routing = f.routing ? f.routing : cfg->routing[0] ? cfg->routing : FX_IX_ROUTE_DEFAULT,
        .queue_depth = f.queue_depth >= 0 ? f.queue_depth : cfg->queue_depth,
        .manager_opts = {.strategy = cfg->container_strategy,
                         .max_workers_per_container = cfg->max_workers_per_container,
                         .idle_ms = cfg->container_idle_ms,
                         .start_timeout_ms = cfg->container_start_timeout_ms,
                         .containers = cfg->containers,
                         .containers_count = cfg->containers_count},
    };
    if (f.heartbeat_missed > 0)
        conf.heartbeat_missed = f.heartbeat_missed;
    else if (cfg->heartbeat_threshold_ms != FX_IX_UNSET)
        conf.heartbeat_missed =
            (int) ((cfg->heartbeat_threshold_ms + conf.heartbeat_ms - 1) / conf.heartbeat_ms);
    else
        conf.heartbeat_missed = FX_HEARTBEAT_MISSED_DEFAULT;
    if (conf.heartbeat_missed > 1000)
        conf.heartbeat_missed = 1000;
    if (conf.adopt_grace_ms < 0) {
        long grace = 3L * conf.heartbeat_ms * conf.heartbeat_missed;
        conf.adopt_grace_ms = grace > 3600 * 1000 ? 3600 * 1000 : (int) grace;
    }
    fx_ix_provider_conf_t provider;
    s_provider(&f, cfg, &provider);
    conf.provider = &provider;
    conf.idle_ms = cfg->idle_time_ms != FX_IX_UNSET ? cfg->idle_time_ms : S_IDLE_MS;
    if (f.workers <= 0 && cfg->workers_per_node == FX_IX_WORKERS_AUTO)
        conf.workers = FX_IX_WORKERS_AUTO;

    rc = 1;
    char err[1024];
    fx_creds_t creds;
    fx_ix_identity_t identity;
    bool pid_written = false;
    fx_interchange_t *ic = NULL;
    if (fx_creds_load(creds_path, &creds, err, sizeof err) != 0) {
        fx_error("%s; make one with `fx user create`", err);
        goto done;
    }
    if (fx_ix_identity_load(&identity, dir, name, err, sizeof err) != 0 ||
        fx_ix_identity_lock(&identity, err, sizeof err) != 0) {
        fx_error("%s", err);
        goto done;
    }
    if (f.pid_file && s_write_pid(f.pid_file) != 0) {
        fx_error("cannot write the pid file %s (%s); pass a writable --pid-file", f.pid_file,
                 strerror(errno));
        goto done;
    }
    pid_written = f.pid_file != NULL;
    if (identity.created)
        fx_info("new endpoint %s (%s) in %s", identity.endpoint_id, identity.name, dir);
    if (config_path[0])
        fx_info("configuration from %s", config_path);

    char bind_buf[FX_ADDR_MAX + 64], fallback_buf[96];
    if (f.manager_bind)
        conf.manager_bind = f.manager_bind;
    else if (cfg->address_ip[0]) {
        s_bind_for_address(cfg->address_ip, identity.manager_bind, bind_buf, sizeof bind_buf);
        snprintf(fallback_buf, sizeof fallback_buf, "tcp://%s:0", cfg->address_ip);
        conf.manager_bind = bind_buf;
        conf.manager_bind_fallback = fallback_buf;
    }
    else if (identity.manager_bind[0]) {
        conf.manager_bind = identity.manager_bind;
        conf.manager_bind_fallback = "tcp://127.0.0.1:0";
    }
    else
        conf.manager_bind = "tcp://127.0.0.1:0";
    conf.creds = &creds;
    conf.identity = &identity;
    ic = fx_interchange_new(&conf, err, sizeof err);
    if (!ic)
        fx_error("%s", err);
    else
        rc = fx_interchange_run(ic);
    fx_interchange_destroy(&ic);
    if (pid_written)
        s_remove_pid(f.pid_file);
done:
    fx_ix_config_destroy(&cfg);
    return rc;
}
