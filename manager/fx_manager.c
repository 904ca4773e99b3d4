/*  fx-manager: the node agent (one per node, started by the endpoint or a
    pilot job). Parses flags, finds fx-worker beside itself, runs fx_mgr.

        fx-manager --interchange ADDR --server-key Z85 --key-file FILE --workers M
                   [--prefetch K] [--heartbeat-ms 1000] [--heartbeat-missed 3] [--id UUID]
                   [--stop-grace-ms 10000] [--orphan-timeout-s 600]
                   [--container-strategy keep|lru] [--max-workers-per-container N]
                   [--container-idle-ms MS] [--container-start-timeout-ms MS]
                   [--container-template NAME=TEXT]... [--stats-file FILE]
        fx-manager --simulate N --slots S ...   (see fx_mgr_sim.h)

    The default prefetch is S_PREFETCH(M), explained where it is defined. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_memory.h"
#include "fx_container.h"
#include "fx_creds.h"
#include "fx_file.h"
#include "fx_log.h"
#include "fx_mgr.h"
#include "fx_mgr_sim.h"

/* Workers per manager: fx_limits.h. */
#define S_WORKERS_MAX FX_WORKERS_PER_MANAGER_MAX
/* Heartbeat period bounds: below 10 ms beats cost more than the work,
   above an hour a lost peer goes unnoticed for too long. */
#define S_HEARTBEAT_MIN_MS 10
#define S_HEARTBEAT_MAX_MS 3600000
/* Beats of silence before the interchange is lost: past 100 a dead peer
   goes unnoticed for too long. */
#define S_MISSED_MAX 100
/* Without an interchange for this long (seconds) the manager exits: a pilot
   job should not hold a node forever (SPEC 9.4). */
#define S_ORPHAN_DEFAULT_S 600
#define S_ORPHAN_MAX_S (7 * 24 * 3600)
/* Container defaults (SPEC 12.7.3, 12.7.4): an idle container worker is
   kept five minutes, a launch gets a minute to say READY (an image pull
   can take that long). */
#define S_CTR_IDLE_DEFAULT_MS 300000
#define S_CTR_START_DEFAULT_MS 60000
/* --container-template entries: one per container name an endpoint
   config may hold. */
#define S_TEMPLATES_MAX FX_CONTAINERS_MAX
/* Tasks held beyond the workers when --prefetch is not given: twice the
   workers, at least 32. Each worker then has two tasks queued behind the
   one it runs, which covers the time a result takes to reach the broker
   and the next task to come back (about a millisecond at 30,000 tasks/s
   over two managers, where 32 is a few milliseconds of work), and the
   interchange can send tasks in batches. A task held here cannot run on
   another node, so long tasks that must spread evenly want --prefetch 0. */
#define S_PREFETCH_MIN 32
#define S_PREFETCH(workers) ((workers) *2 > S_PREFETCH_MIN ? (workers) *2 : S_PREFETCH_MIN)

static void s_usage(FILE *out)
{
    fprintf(out,
            "usage: fx-manager --interchange ADDR --server-key Z85 --key-file FILE --workers M\n"
            "                  [--prefetch K] [--heartbeat-ms MS] [--heartbeat-missed N] [--id UUID]\n"
            "                  [--stop-grace-ms MS] [--orphan-timeout-s S]\n"
            "  --interchange ADDR   the endpoint's manager port, tcp://HOST:PORT\n"
            "  --server-key Z85     the endpoint's public key (40 chars of z85)\n"
            "  --key-file FILE      this manager's keypair file (must exist)\n"
            "  --workers M          worker processes to run (1..%d)\n"
            "  --prefetch K         tasks to hold beyond the workers (default 2 x M, at least %d: two\n"
            "                       queued behind each running one keep workers busy while results\n"
            "                       travel to the broker and new tasks come back, and let tasks come\n"
            "                       in batches; a held task cannot run elsewhere, so for long tasks\n"
            "                       that should spread evenly over nodes use 0)\n"
            "  --heartbeat-ms MS    heartbeat period (default %d)\n"
            "  --heartbeat-missed N beats of silence before the interchange counts as lost (default %d)\n"
            "  --id UUID            manager id (default: a new one)\n"
            "  --stop-grace-ms MS   on COMMAND STOP or SIGTERM, how long running tasks may still run "
            "(default 10000)\n"
            "  --orphan-timeout-s S exit after S seconds without the interchange; 0 = never (default %d)\n"
            "\n"
            "CONTAINERS (SPEC 12.7): workers are pooled by container; a worker started for a container\n"
            "serves only its tasks and stays warm until it is retired. Slots no container needs run\n"
            "host workers; an idle host worker's slot counts as free.\n"
            "  --container-strategy keep|lru\n"
            "                       keep: cold-start workers only in free slots; lru (default): when no\n"
            "                       slot is free, retire the least recently used idle worker of another\n"
            "                       container for the cold start\n"
            "  --max-workers-per-container N  at most N workers per container (default 0: no cap)\n"
            "  --container-idle-ms MS         retire a container worker idle this long (default %d;\n"
            "                                 0 = never)\n"
            "  --container-start-timeout-ms MS  a launch that is not READY by then fails (default %d)\n"
            "  --container-template NAME=TEXT the launch template of the container named NAME, instead of\n"
            "                                 its runtime's default (container/fx_container.h; repeatable)\n"
            "  --stats-file FILE    keep the pools' counters in FILE (cold starts, evictions, idle\n"
            "                       retirements, launch failures; idle/busy/starting per container),\n"
            "                       rewritten as they change, at most ten times a second\n"
            "\n"
            "SIMULATED managers, for scale benchmarks (no worker process, no task is run):\n"
            "  fx-manager --simulate N --slots S --interchange ADDR --server-key Z85 --key-file FILE\n"
            "             [--prefetch K] [--heartbeat-ms MS] [--heartbeat-missed N] [--stats-ms MS]\n"
            "  --simulate N         run N SIMULATED managers in this one process (1..%d), each with its own\n"
            "                       socket, manager id and session, speaking the real manager link over\n"
            "                       CurveZMQ; each answers every task at once with an OK result\n"
            "                       (pickle.dumps(None)); everything above them is real\n"
            "  --slots S            workers each SIMULATED manager announces (1..%d; --workers is the same)\n"
            "  --stats-ms MS        log the SIMULATED rate every MS (default 1000; 0 = only at the end,\n"
            "                       where a summary line goes to standard output)\n",
            S_WORKERS_MAX, S_PREFETCH_MIN, FX_HEARTBEAT_MS_DEFAULT, FX_HEARTBEAT_MISSED_DEFAULT,
            S_ORPHAN_DEFAULT_S, S_CTR_IDLE_DEFAULT_MS, S_CTR_START_DEFAULT_MS, FX_MGR_SIM_MAX, S_WORKERS_MAX);
}

/* Parses an unsigned number in [lo, hi]; -1 with a message if it is not. */
static int s_number(const char *flag, const char *text, unsigned long lo, unsigned long hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < lo || v > hi) {
        fprintf(stderr, "fx-manager: %s must be a number from %lu to %lu, not \"%s\"\n", flag, lo, hi, text);
        return -1;
    }
    *out = (uint32_t) v;
    return 0;
}

/* --container-template NAME=TEXT: a name, then a template that
   fx_container_template_check accepts; -1 with a message if not. */
static int s_template_arg(const char *arg, const char **templates, uint32_t *count)
{
    const char *eq = strchr(arg, '=');
    char err[256];
    if (!eq || eq == arg || (size_t) (eq - arg) > FX_NAME_MAX) {
        fprintf(stderr, "fx-manager: --container-template must be NAME=TEXT (a container name, then its launch "
                        "template), not \"%s\"\n", arg);
        return -1;
    }
    if (fx_container_template_check(eq + 1, err, sizeof err) != 0) {
        fprintf(stderr, "fx-manager: --container-template %.*s: %s\n", (int) (eq - arg), arg, err);
        return -1;
    }
    if (*count >= S_TEMPLATES_MAX) {
        fprintf(stderr, "fx-manager: at most %d --container-template entries\n", S_TEMPLATES_MAX);
        return -1;
    }
    templates[(*count)++] = arg;
    return 0;
}

int main(int argc, char **argv)
{
    fx_log_init("fx-manager");
    fx_memory_tune(); /* large messages reuse memory (fx_memory.h) */
    bool prefetch_given = false;
    fx_mgr_args_t args = {.workers = 0,
                          .prefetch = 0,
                          .heartbeat_ms = FX_HEARTBEAT_MS_DEFAULT,
                          .heartbeat_missed = FX_HEARTBEAT_MISSED_DEFAULT,
                          .stop_grace_ms = 10000,
                          .orphan_timeout_s = S_ORPHAN_DEFAULT_S,
                          .strategy = FX_CTR_LRU,
                          .container_idle_ms = S_CTR_IDLE_DEFAULT_MS,
                          .container_start_timeout_ms = S_CTR_START_DEFAULT_MS};
    static const char *templates[S_TEMPLATES_MAX];
    static const struct option options[] = {
        {"interchange", required_argument, NULL, 'i'},
        {"server-key", required_argument, NULL, 's'},
        {"key-file", required_argument, NULL, 'k'},
        {"workers", required_argument, NULL, 'w'},
        {"prefetch", required_argument, NULL, 'p'},
        {"heartbeat-ms", required_argument, NULL, 'b'},
        {"id", required_argument, NULL, 'd'},
        {"stop-grace-ms", required_argument, NULL, 'g'},
        {"heartbeat-missed", required_argument, NULL, 'm'},
        {"orphan-timeout-s", required_argument, NULL, 'o'},
        {"simulate", required_argument, NULL, 'S'},
        {"slots", required_argument, NULL, 'w'},
        {"stats-ms", required_argument, NULL, 't'},
        {"container-strategy", required_argument, NULL, 'C'},
        {"max-workers-per-container", required_argument, NULL, 'X'},
        {"container-idle-ms", required_argument, NULL, 'I'},
        {"container-start-timeout-ms", required_argument, NULL, 'T'},
        {"container-template", required_argument, NULL, 'L'},
        {"stats-file", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *id = NULL;
    uint32_t simulate = 0, stats_ms = 1000;
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'i':
            args.interchange = optarg;
            break;
        case 's':
            args.server_key = optarg;
            break;
        case 'k':
            args.key_file = optarg;
            break;
        case 'w':
            rc = s_number("--workers", optarg, 1, S_WORKERS_MAX, &args.workers);
            break;
        case 'p':
            rc = s_number("--prefetch", optarg, 0, FX_BATCH_MAX, &args.prefetch);
            prefetch_given = true;
            break;
        case 'b':
            rc = s_number("--heartbeat-ms", optarg, S_HEARTBEAT_MIN_MS, S_HEARTBEAT_MAX_MS,
                          &args.heartbeat_ms);
            break;
        case 'd':
            id = optarg;
            break;
        case 'g':
            rc = s_number("--stop-grace-ms", optarg, 0, S_HEARTBEAT_MAX_MS, &args.stop_grace_ms);
            break;
        case 'm':
            rc = s_number("--heartbeat-missed", optarg, 1, S_MISSED_MAX, &args.heartbeat_missed);
            break;
        case 'o':
            rc = s_number("--orphan-timeout-s", optarg, 0, S_ORPHAN_MAX_S, &args.orphan_timeout_s);
            break;
        case 'S':
            rc = s_number("--simulate", optarg, 1, FX_MGR_SIM_MAX, &simulate);
            break;
        case 't':
            rc = s_number("--stats-ms", optarg, 0, S_HEARTBEAT_MAX_MS, &stats_ms);
            break;
        case 'C':
            if (strcmp(optarg, "keep") == 0)
                args.strategy = FX_CTR_KEEP;
            else if (strcmp(optarg, "lru") == 0)
                args.strategy = FX_CTR_LRU;
            else {
                fprintf(stderr, "fx-manager: --container-strategy must be keep or lru, not \"%s\"\n", optarg);
                rc = -1;
            }
            break;
        case 'X':
            rc = s_number("--max-workers-per-container", optarg, 0, S_WORKERS_MAX, &args.max_per_container);
            break;
        case 'I':
            rc = s_number("--container-idle-ms", optarg, 0, UINT32_MAX, &args.container_idle_ms);
            break;
        case 'T':
            rc = s_number("--container-start-timeout-ms", optarg, 1, UINT32_MAX, &args.container_start_timeout_ms);
            break;
        case 'L':
            rc = s_template_arg(optarg, templates, &args.template_count);
            break;
        case 'F':
            args.stats_file = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
        if (rc != 0)
            return 2;
    }
    if (optind != argc || !args.interchange || !args.server_key || !args.key_file || !args.workers) {
        fprintf(stderr, "fx-manager: --interchange, --server-key, --key-file and --workers (--slots) are "
                        "required\n");
        s_usage(stderr);
        return 2;
    }
    if (!fx_key_valid(args.server_key)) {
        fprintf(stderr, "fx-manager: --server-key must be the interchange's public key, 40 chars of z85\n");
        return 2;
    }
    if (id && !fx_id_valid(id)) {
        fprintf(stderr, "fx-manager: --id must be a canonical lowercase UUID, not \"%s\"\n", id);
        return 2;
    }
    if (!prefetch_given)
        args.prefetch = S_PREFETCH(args.workers);
    if (simulate) {
        if (id) {
            fprintf(
                stderr,
                "fx-manager: --id makes no sense with --simulate: each SIMULATED manager mints its own\n");
            return 2;
        }
        return fx_mgr_sim_run(&args, simulate, stats_ms);
    }
    if (id)
        fx_strlcpy(args.id, id, sizeof args.id);
    else
        fx_id_new(args.id);

    char dir[PATH_MAX - 16], worker[PATH_MAX];
    if (fx_self_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "fx-manager: cannot find my own directory (/proc/self/exe); is /proc mounted?\n");
        return 1;
    }
    snprintf(worker, sizeof worker, "%s/fx-worker", dir);
    if (access(worker, X_OK) != 0) {
        fprintf(stderr,
                "fx-manager: cannot run the worker binary %s: %s; install fx-worker beside fx-manager\n",
                worker, strerror(errno));
        return 1;
    }
    args.worker_path = worker;
    args.templates = templates;
    return fx_mgr_run(&args);
}
