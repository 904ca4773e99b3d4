/*  fxb_main.c: fx-bench, the benchmark harness of fx. One command with
    scenarios (`fx-bench SCENARIO [options]`, `fx-bench all`): it reads the
    options, prints the machine, runs the scenarios in order and exits 0, 1
    if a scenario failed, or 2 (with usage) on an unknown scenario or
    option. bench/README.md says what each scenario measures. */
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fx_memory.h"
#include "fx_file.h"
#include "fx_limits.h"
#include "fxb_proc.h"
#include "fxb_scen.h"

typedef struct {
    const char *name;
    int (*run)(fxb_ctx_t *ctx);
    const char *what;
} s_scenario_t;

static int s_floor(fxb_ctx_t *ctx) { return fxb_floor(ctx, false); }

static const s_scenario_t s_scenarios[] = {
    {"floor", s_floor, "bare ZeroMQ chain (3 forwarders, CURVE, tcp) and one fdatasync: the physical limit"},
    {"latency", fxb_latency, "sequential round trips of a Python and a shell no-op through a local federation"},
    {"throughput", fxb_throughput, "N no-op tasks via Executor.map and Client batches; CPU us per task per process"},
    {"payload", fxb_payload, "numpy arrays as argument and result: round trip and MB/s"},
    {"broker", fxb_broker, "fx-broker alone: durable SUBMIT commits/s and result commits/s, 1 and 8 clients"},
    {"peers", fxb_peers, "Dask and Celery, if installed, beside fx in the same invocation"},
    {"scale", fxb_scale, "broker + interchange driving 1,000 to 131,072 SIMULATED worker slots (fx-manager --simulate)"},
    {"routing", fxb_routing, "funcX's routing experiment: 3,000 tasks over bwrap containers with cold starts, per strategy"},
};
#define S_SCENARIOS ((int) (sizeof s_scenarios / sizeof s_scenarios[0]))

static void s_usage(FILE *to)
{
    fprintf(to, "usage: fx-bench SCENARIO|all [options]\n\nscenarios (all runs them in this order):\n");
    for (int i = 0; i < S_SCENARIOS; i++)
        fprintf(to, "  %-11s %s\n", s_scenarios[i].name, s_scenarios[i].what);
    fprintf(to,
            "\noptions:\n"
            "  --runs N            runs per figure, the figure is their median (default 3)\n"
            "  --count N           sequential round trips per run (default 200; the floor takes >= 2000)\n"
            "  --tasks LIST        Python no-op task counts (default 10000,100000; 10k, 1M accepted)\n"
            "  --sh-tasks LIST     shell no-op task counts (default 1000: a shell no-op runs at\n"
            "                      tens per second today, so 100000 would take about an hour)\n"
            "  --kinds LIST        no-op kinds: py,sh (default both)\n"
            "  --managers N        local managers of the endpoint (default 2)\n"
            "  --workers N         workers per manager (default 2)\n"
            "  --endpoint-args S   throughput: also run with these fx-endpoint flags (\"--prefetch 64\")\n"
            "  --sizes LIST        payload bytes (default 1Ki,1Mi,10Mi)\n"
            "  --clients LIST      broker: concurrent clients (default 1,8)\n"
            "  --batches LIST      broker: tasks per SUBMIT (default 1,64,1024)\n"
            "  --seconds S         broker: length of one timed point (default 2)\n"
            "  --out DIR           tables as CSV, curves as CSV and PNG (default BUILD/bench-results)\n"
            "  --state-dir DIR     the broker's state disk: federations and the fdatasync probe\n"
            "                      live here (default BUILD/bench-state)\n"
            "  --slots LIST        scale: SIMULATED worker slots per point (default 1000,8192,32768,131072)\n"
            "  --slots-per-manager N  scale: slots of one SIMULATED manager (default 128)\n"
            "  --scale-tasks N     scale: tasks per point, at least 2 x slots (default 100000)\n"
            "  --routing-tasks N   routing: tasks per run (default 3000)\n"
            "  --containers N      routing: container types, one function each (default 6)\n"
            "  --task-ms N         routing: each task sleeps this long (default 100)\n"
            "  --cold-start LIST   routing: seconds added to each container start (default 1.8,5)\n"
            "  --strategies LIST   routing: interchange strategies (default random,warming-aware,warm-wait)\n"
            "  --prefetch N        routing: tasks each manager holds beyond its workers (default 0)\n"
            "                      (routing runs 4 managers x 4 workers unless --managers/--workers say)\n"
            "  --floor-from CSV    use this floor.csv instead of measuring a short floor first\n"
            "  --help\n");
}

static int s_bad(const char *what, const char *value)
{
    fprintf(stderr, "fx-bench: bad %s: %s\n\n", what, value);
    s_usage(stderr);
    return 2;
}

static int s_parse(int argc, char **argv, fxb_opts_t *o)
{
    enum { O_RUNS = 1, O_COUNT, O_TASKS, O_SH_TASKS, O_KINDS, O_MANAGERS, O_WORKERS, O_EPARGS, O_SIZES, O_CLIENTS,
           O_BATCHES, O_SECONDS, O_OUT, O_STATE, O_FLOOR, O_HELP, O_SLOTS, O_SLOTS_PER, O_SCALE_TASKS,
           O_ROUTING_TASKS, O_CONTAINERS, O_TASK_MS, O_COLD, O_STRATEGIES, O_PREFETCH };
    static const struct option opts[] = {
        {"runs", 1, 0, O_RUNS},         {"count", 1, 0, O_COUNT},       {"tasks", 1, 0, O_TASKS},       {"sh-tasks", 1, 0, O_SH_TASKS},
        {"kinds", 1, 0, O_KINDS},       {"managers", 1, 0, O_MANAGERS}, {"workers", 1, 0, O_WORKERS},
        {"endpoint-args", 1, 0, O_EPARGS}, {"sizes", 1, 0, O_SIZES},    {"clients", 1, 0, O_CLIENTS},
        {"batches", 1, 0, O_BATCHES},   {"seconds", 1, 0, O_SECONDS},   {"out", 1, 0, O_OUT},
        {"state-dir", 1, 0, O_STATE},   {"floor-from", 1, 0, O_FLOOR},  {"help", 0, 0, O_HELP},
        {"slots", 1, 0, O_SLOTS},       {"slots-per-manager", 1, 0, O_SLOTS_PER},
        {"scale-tasks", 1, 0, O_SCALE_TASKS},
        {"routing-tasks", 1, 0, O_ROUTING_TASKS}, {"containers", 1, 0, O_CONTAINERS},
        {"task-ms", 1, 0, O_TASK_MS},   {"cold-start", 1, 0, O_COLD},   {"strategies", 1, 0, O_STRATEGIES},
        {"prefetch", 1, 0, O_PREFETCH},
        {0, 0, 0, 0}};
    opterr = 0;
    int c, idx = 0;
    while ((c = getopt_long(argc, argv, "", opts, &idx)) != -1) {
        char *end = NULL;
        long n = optarg ? strtol(optarg, &end, 10) : 0;
        bool num_ok = optarg && end && *end == 0 && n > 0;
        switch (c) {
        case O_RUNS:
            if (!num_ok || n > FXB_RUNS_MAX)
                return s_bad("--runs", optarg);
            o->runs = (int) n;
            break;
        case O_COUNT:
            if (!num_ok)
                return s_bad("--count", optarg);
            o->count = (int) n;
            break;
        case O_MANAGERS:
        case O_WORKERS:
            if (!num_ok || n > 1024)
                return s_bad(c == O_MANAGERS ? "--managers" : "--workers", optarg);
            *(c == O_MANAGERS ? &o->managers : &o->workers) = (int) n;
            o->topology_given = true;
            break;
        case O_ROUTING_TASKS:
        case O_CONTAINERS:
        case O_TASK_MS:
            if (!num_ok || n > (c == O_CONTAINERS ? 64 : 1000000))
                return s_bad(c == O_ROUTING_TASKS ? "--routing-tasks" : c == O_CONTAINERS ? "--containers (1..64)"
                                                                                             : "--task-ms",
                             optarg);
            *(c == O_ROUTING_TASKS ? &o->routing_tasks : c == O_CONTAINERS ? &o->containers : &o->task_ms) = (int) n;
            break;
        case O_PREFETCH:
            n = strtol(optarg, &end, 10);
            if (*end || n < 0 || n > 4096)
                return s_bad("--prefetch (0..4096)", optarg);
            o->prefetch = (int) n;
            break;
        case O_COLD:
            if (fxb_list_parse(optarg, &o->cold_start) != 0)
                return s_bad("--cold-start", optarg);
            break;
        case O_STRATEGIES:
            if (!*optarg || strspn(optarg, "abcdefghijklmnopqrstuvwxyz-,") != strlen(optarg))
                return s_bad("--strategies", optarg);
            o->strategies = optarg;
            break;
        case O_TASKS:
        case O_SH_TASKS:
        case O_SIZES:
        case O_CLIENTS:
        case O_SLOTS:
        case O_BATCHES: {
            fxb_list_t *list = c == O_TASKS ? &o->tasks : c == O_SH_TASKS ? &o->sh_tasks
                             : c == O_SIZES ? &o->sizes : c == O_CLIENTS ? &o->clients
                             : c == O_SLOTS ? &o->slots : &o->batches;
            char name[32];
            snprintf(name, sizeof name, "--%s", opts[idx].name);
            if (fxb_list_parse(optarg, list) != 0)
                return s_bad(name, optarg);
            break;
        }
        case O_SLOTS_PER:
            if (!num_ok || n > 1024)
                return s_bad("--slots-per-manager (1..1024)", optarg);
            o->slots_per_manager = (int) n;
            break;
        case O_SCALE_TASKS:
            if (!num_ok)
                return s_bad("--scale-tasks", optarg);
            o->scale_tasks = n;
            break;
        case O_SECONDS:
            o->seconds = strtod(optarg, &end);
            if (*end || o->seconds <= 0)
                return s_bad("--seconds", optarg);
            break;
        case O_KINDS:
            if (strspn(optarg, "pysh,") != strlen(optarg) || (!strstr(optarg, "py") && !strstr(optarg, "sh")))
                return s_bad("--kinds", optarg);
            o->kinds = optarg;
            break;
        case O_EPARGS: o->endpoint_args = optarg; break;
        case O_OUT: snprintf(o->out_dir, sizeof o->out_dir, "%s", optarg); break;
        case O_STATE: snprintf(o->state_dir, sizeof o->state_dir, "%s", optarg); break;
        case O_FLOOR: o->floor_from = optarg; break;
        case O_HELP: s_usage(stdout); exit(0);
        default:
            return s_bad("option", argv[optind - 1]);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* The floor's forked chain gets the allocator settings fx's own
       processes run with (fx_memory.h), so that it stays the machine's
       best rather than glibc's default. */
    fx_memory_tune();
    fxb_ctx_t ctx = {0};
    fxb_opts_t *o = &ctx.opts;
    o->runs = 3;
    o->count = 200;
    o->managers = o->workers = 2;
    o->seconds = 2;
    o->kinds = "py,sh";
    o->src_dir = FXB_SRC_DIR;
    fxb_list_parse("10000,100000", &o->tasks);
    fxb_list_parse("1000", &o->sh_tasks);
    fxb_list_parse("1Ki,1Mi,10Mi", &o->sizes);
    fxb_list_parse("1,8", &o->clients);
    fxb_list_parse("1,64,1024", &o->batches);
    fxb_list_parse("1000,8192,32768,131072", &o->slots);
    o->slots_per_manager = 128;
    o->scale_tasks = 100000;
    o->routing_tasks = 3000;
    o->containers = 6;
    o->task_ms = 100;
    o->cold_start = (fxb_list_t){.count = 2, .v = {1.8, 5.0}};
    o->strategies = "random,warming-aware,warm-wait";
    o->prefetch = 0;
    if (fx_self_dir(o->bin_dir, sizeof o->bin_dir) != 0) {
        fprintf(stderr, "fx-bench: cannot find its own folder\n");
        return 1;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", o->bin_dir);
    snprintf(o->build_dir, sizeof o->build_dir, "%s", dirname(tmp));
    if (snprintf(o->out_dir, sizeof o->out_dir, "%s/bench-results", o->build_dir) >= (int) sizeof o->out_dir ||
        snprintf(o->state_dir, sizeof o->state_dir, "%s/bench-state", o->build_dir) >= (int) sizeof o->state_dir) {
        fprintf(stderr, "fx-bench: path too long: %s\n", o->build_dir);
        return 1;
    }

    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && !strcmp(argv[1], "--help")) {
            s_usage(stdout);
            return 0;
        }
        s_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    int first = -1;
    for (int i = 0; i < S_SCENARIOS; i++)
        if (!strcmp(name, s_scenarios[i].name))
            first = i;
    bool all = !strcmp(name, "all");
    if (first < 0 && !all)
        return s_bad("scenario", name);
    int rc = s_parse(argc - 1, argv + 1, o);
    if (rc != 0)
        return rc;
    if (optind + 1 < argc)
        return s_bad("argument", argv[optind + 1]);
    if (fx_file_mkdirs(o->out_dir, 0755) != 0 || fx_file_mkdirs(o->state_dir, 0700) != 0) {
        fprintf(stderr, "fx-bench: cannot make %s or %s\n", o->out_dir, o->state_dir);
        return 1;
    }
    /* the pickled (args, kwargs) of an array must fit one payload */
    for (int i = 0; i < o->sizes.count; i++)
        if (o->sizes.v[i] > FX_PAYLOAD_MAX - 4096)
            o->sizes.v[i] = FX_PAYLOAD_MAX - 4096;
    if (o->runs < 3)
        fxb_progress("warning: --runs %d: figures are medians of fewer than 3 runs", o->runs);
    fxb_proc_stop_on_signals();
    fxb_machine_report(o);
    int failed = 0;
    for (int i = all ? 0 : first; i < (all ? S_SCENARIOS : first + 1); i++) {
        fxb_progress("scenario %s", s_scenarios[i].name);
        if (s_scenarios[i].run(&ctx) != 0) {
            fxb_progress("scenario %s FAILED", s_scenarios[i].name);
            failed++;
        }
    }
    fxb_report_destroy(&ctx.floor);
    return failed ? 1 : 0;
}
