/*  fx_ix_config_test.c: the config parser (fx_ix_config.h) on a full good
    file and on every kind of broken one: each must fail with a sentence
    that names the file, the line and column, the key, and what is
    expected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_ix_config.h"
#include "fx_ix_provider.h"

#include "fx_check.h"
#include "fx_testkit.h"

/* A credentials file the good configs name (its content is not read here). */
static char s_creds[64];

static fx_ix_config_t *s_parse(const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return fx_ix_config_parse(text, strlen(text), "/etc/fx/config.yaml", err, errlen);
}

/* text must fail with "FILE:LINE:COL: KEY: ..." containing phrase. */
static void s_broken(const char *what, const char *text, int line, int column, const char *key,
                     const char *phrase)
{
    char err[2048], want[256];
    fx_ix_config_t *cfg = s_parse(text, err, sizeof err);
    CHECK(cfg == NULL, "%s: refused", what);
    fx_ix_config_destroy(&cfg);
    if (column > 0)
        snprintf(want, sizeof want, "/etc/fx/config.yaml:%d:%d: %s", line, column, key ? key : "");
    else
        snprintf(want, sizeof want, "/etc/fx/config.yaml:%d:", line);
    CHECK(strncmp(err, want, strlen(want)) == 0, "%s: the message starts with \"%s\": %s", what, want, err);
    CHECK(strstr(err, phrase) != NULL, "%s: the message says \"%s\": %s", what, phrase, err);
}

static void scenario_good(void *ctx)
{
    (void) ctx;
    char text[4096], err[2048];
    snprintf(text, sizeof text,
             "# a cluster endpoint\n"
             "name: cluster\n"
             "credentials: %s\n"
             "address: lo\n"
             "workers_per_node: auto\n"
             "prefetch: 4\n"
             "heartbeat_period: 500ms\n"
             "heartbeat_threshold: 2s\n"
             "idle_time: 2m\n"
             "stop_grace: 1h\n"
             "provider:\n"
             "  type: slurm\n"
             "  partition: debug\n"
             "  account: proj42\n"
             "  walltime: \"1-00:30:00\"\n"
             "  nodes_per_block: 2\n"
             "  init_blocks: 0\n"
             "  min_blocks: 0\n"
             "  max_blocks: 3\n"
             "  launcher: srun\n"
             "  cmd_timeout: 20s\n"
             "  scheduler_options:\n"
             "    - \"#SBATCH --constraint=cpu\"\n"
             "    - \"#SBATCH --qos=debug\"\n"
             "  worker_init: |\n"
             "    module load python\n"
             "    source ~/venv/bin/activate\n"
             "containers:\n"
             "  torch: {runtime: apptainer, image: /img/torch.sif, template: \"apptainer exec {image} "
             "{command}\"}\n"
             "  plain:\n"
             "    runtime: none\n"
             "  sandbox: {runtime: bwrap, template: \"bwrap --ro-bind {image} / {env} {binds} {command}\"}\n"
             "  sif: {runtime: singularity, image: \"/img/my image.sif\"}\n"
             "routing: warm-wait\n"
             "container_strategy: keep\n"
             "max_workers_per_container: 3\n"
             "container_idle_time: 90s\n"
             "container_start_timeout: 2m\n"
             "queue_depth: 500\n"
             "allowed_functions:\n"
             "  - 0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10\n"
             "  - 1b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10\n",
             s_creds);
    fx_ix_config_t *cfg = s_parse(text, err, sizeof err);
    REQUIRE(cfg, "the full example parses: %s", err);
    CHECK(strcmp(cfg->name, "cluster") == 0 && strcmp(cfg->credentials, s_creds) == 0, "name, credentials");
    CHECK(strcmp(cfg->address, "lo") == 0 && strcmp(cfg->address_ip, "127.0.0.1") == 0,
          "lo is 127.0.0.1 (%s)", cfg->address_ip);
    CHECK(cfg->workers_per_node == FX_IX_WORKERS_AUTO && cfg->prefetch == 4, "workers auto, prefetch 4");
    CHECK(cfg->heartbeat_period_ms == 500 && cfg->heartbeat_threshold_ms == 2000, "heartbeat 500 ms, 2 s");
    CHECK(cfg->idle_time_ms == 120000 && cfg->stop_grace_ms == 3600000, "idle 2 min, grace 1 h");
    const fx_ix_provider_conf_t *p = &cfg->provider;
    CHECK(p->kind == FX_IX_PROVIDER_SLURM && strcmp(p->partition, "debug") == 0 &&
              strcmp(p->account, "proj42") == 0,
          "slurm, partition, account");
    CHECK(strcmp(p->walltime, "1-00:30:00") == 0 && p->nodes_per_block == 2 && p->init_blocks == 0 &&
              p->min_blocks == 0 && p->max_blocks == 3,
          "walltime and blocks");
    CHECK(p->launcher == FX_IX_LAUNCH_SRUN && p->cmd_timeout_ms == 20000, "launcher, cmd_timeout");
    CHECK(p->scheduler_options_count == 2 && strcmp(p->scheduler_options[1], "#SBATCH --qos=debug") == 0,
          "two scheduler option lines");
    CHECK(p->worker_init_count == 2 && strcmp(p->worker_init[0], "module load python") == 0,
          "worker_init: a block scalar is one line each (%zu)", p->worker_init_count);
    CHECK(cfg->containers_count == 4 && strcmp(cfg->containers[0].name, "torch") == 0 &&
              strcmp(cfg->containers[0].runtime, "apptainer") == 0 &&
              strcmp(cfg->containers[0].image, "/img/torch.sif") == 0 &&
              strcmp(cfg->containers[1].runtime, "none") == 0 &&
              strcmp(cfg->containers[2].runtime, "bwrap") == 0 && cfg->containers[2].image[0] == '\0' &&
              strcmp(cfg->containers[3].runtime, "singularity") == 0,
          "four containers");
    CHECK(strcmp(cfg->routing, "warm-wait") == 0 && strcmp(cfg->container_strategy, "keep") == 0 &&
              cfg->max_workers_per_container == 3 && cfg->container_idle_ms == 90000 &&
              cfg->container_start_timeout_ms == 120000 && cfg->queue_depth == 500,
          "routing, queue_depth and the container keys: %s %s %d %lld %lld", cfg->routing, cfg->container_strategy,
          cfg->max_workers_per_container, (long long) cfg->container_idle_ms,
          (long long) cfg->container_start_timeout_ms);

    /* what every manager the endpoint starts is told of them */
    fx_ix_manager_opts_t opts = {.strategy = cfg->container_strategy,
                                 .max_workers_per_container = cfg->max_workers_per_container,
                                 .idle_ms = cfg->container_idle_ms,
                                 .start_timeout_ms = cfg->container_start_timeout_ms,
                                 .containers = cfg->containers,
                                 .containers_count = cfg->containers_count};
    char **flags = fx_ix_launch_flags(&opts, err, sizeof err);
    REQUIRE(flags, "manager flags: %s", err);
    static const char *const want[] = {
        "--container-strategy", "keep", "--max-workers-per-container", "3", "--container-idle-ms", "90000",
        "--container-start-timeout-ms", "120000", "--container-template",
        "torch=apptainer exec /img/torch.sif {command}", "--container-template", "plain={command}",
        "--container-template", "sandbox=bwrap --ro-bind {image} / {env} {binds} {command}",
        "--container-template", NULL};
    int i = 0;
    for (; want[i]; i++)
        CHECK(flags[i] && strcmp(flags[i], want[i]) == 0, "flag %d: %s (want %s)", i, flags[i] ? flags[i] : "(end)",
              want[i]);
    CHECK(flags[i] && strncmp(flags[i], "sif=", 4) == 0 && strstr(flags[i], "\"/img/my image.sif\"") &&
              !strstr(flags[i], "{image}") && flags[i + 1] == NULL,
          "an entry without a template gets its runtime's default, its image written in, quoted: %s",
          flags[i] ? flags[i] : "(end)");
    fx_ix_launch_flags_free(&flags);
    fx_ix_manager_opts_t none = {.max_workers_per_container = -1, .idle_ms = -1, .start_timeout_ms = -1};
    flags = fx_ix_launch_flags(&none, err, sizeof err);
    CHECK(flags && flags[0] == NULL, "nothing set: no flags (fx-manager's defaults)");
    fx_ix_launch_flags_free(&flags);
    CHECK(cfg->allowed_functions_count == 2 &&
              strcmp(cfg->allowed_functions[1], "1b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10") == 0,
          "two allowed functions");
    fx_ix_config_destroy(&cfg);

    /* an empty file, nulls, a relative path, a bare number of seconds */
    cfg = s_parse("", err, sizeof err);
    CHECK(cfg && cfg->prefetch == FX_IX_UNSET && cfg->queue_depth == FX_IX_UNSET && cfg->provider.kind == FX_IX_PROVIDER_UNSET &&
              !cfg->allowed_functions,
          "an empty file sets nothing: %s", err);
    fx_ix_config_destroy(&cfg);
    cfg = s_parse("name: ~\naccount_free: \n", err, sizeof err);
    CHECK(!cfg, "a null value still needs a known key");
    fx_ix_config_destroy(&cfg);
    cfg = s_parse("prefetch:\nidle_time: 90\nprovider: {type: local, max_blocks: 2}\n", err, sizeof err);
    CHECK(cfg && cfg->prefetch == FX_IX_UNSET && cfg->idle_time_ms == 90000 &&
              cfg->provider.max_blocks == 2 && cfg->provider.kind == FX_IX_PROVIDER_LOCAL,
          "an empty value is not given; 90 is seconds: %s", err);
    fx_ix_config_destroy(&cfg);
    char dir[] = "/tmp/fx-config-test-XXXXXX";
    REQUIRE(mkdtemp(dir), "a temporary folder");
    char path[128], conf[256];
    snprintf(path, sizeof path, "%s/alice.creds", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f, "a credentials file");
    fclose(f);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    f = fopen(path, "w");
    REQUIRE(f, "a config file");
    fprintf(f, "credentials: alice.creds\n");
    fclose(f);
    cfg = fx_ix_config_load(path, err, sizeof err);
    snprintf(conf, sizeof conf, "%s/alice.creds", dir);
    CHECK(cfg && strcmp(cfg->credentials, conf) == 0 && strcmp(cfg->path, path) == 0,
          "a relative credentials path starts at the config's folder: %s", cfg ? cfg->credentials : err);
    fx_ix_config_destroy(&cfg);
    cfg = fx_ix_config_load("/nonexistent/config.yaml", err, sizeof err);
    CHECK(!cfg && strstr(err, "cannot read the config /nonexistent/config.yaml"), "a missing file: %s", err);
    snprintf(conf, sizeof conf, "rm -rf '%s'", dir);
    CHECK(system(conf) == 0, "cleanup");
done:
    return;
}

static void scenario_broken(void *ctx)
{
    (void) ctx;
    char text[1024];
    /* YAML that does not parse */
    s_broken("bad yaml", "name: a\nprovider:\n  type: local\n   max_blocks: 2\n", 4, 0, NULL,
             "not valid YAML");
    s_broken("unclosed list", "allowed_functions: [a, b\n", 2, 0, NULL, "not valid YAML");
    s_broken("tab indent", "provider:\n\ttype: local\n", 2, 0, NULL, "not valid YAML");
    s_broken("two documents", "name: a\n---\nname: b\n", 3, 1, NULL, "a second YAML document");
    s_broken("a list at the top", "- name\n", 1, 1, "(top level)", "expected a mapping");
    /* unknown keys, top and nested */
    s_broken("unknown key", "name: a\ncolour: blue\n", 2, 1, "colour",
             "unknown key; the top level takes: name");
    s_broken("close to a key", "prefech: 2\n", 1, 1, "prefech", "did you mean prefetch?");
    s_broken("unknown provider key", "provider:\n  type: local\n  max_block: 2\n", 3, 3, "provider.max_block",
             "did you mean max_blocks?");
    s_broken("key of another provider", "provider:\n  type: local\n  partition: debug\n", 3, 3,
             "provider.partition", "not an option of provider local (only of slurm)");
    s_broken("pbs key on slurm", "provider:\n  type: slurm\n  queue: batch\n", 3, 3, "provider.queue",
             "only of pbs");
    s_broken("unknown container key", "containers:\n  t:\n    runtime: docker\n    image: x\n    imag: y\n",
             5, 5, "containers.t.imag", "did you mean image?");
    s_broken("a key given twice", "prefetch: 1\nprefetch: 2\n", 2, 1, "prefetch", "given twice");
    /* wrong types */
    s_broken("a word for a number", "prefetch: two\n", 1, 11, "prefetch",
             "expected a whole number from 0 to 65536, got \"two\"");
    s_broken("a list for a number", "provider:\n  type: local\n  max_blocks: [1, 2]\n", 3, 15,
             "provider.max_blocks", "got a list");
    s_broken("a mapping for a string", "name: {first: a}\n", 1, 7, "name", "got a mapping");
    s_broken("a number out of range", "provider:\n  type: pbs\n  max_blocks: 5000\n", 3, 15,
             "provider.max_blocks", "from 0 to 1024");
    s_broken("bad workers", "workers_per_node: many\n", 1, 19, "workers_per_node", "or auto");
    s_broken("zero workers", "workers_per_node: 0\n", 1, 19, "workers_per_node", "from 1 to 1024");
    s_broken("bad duration", "idle_time: 5 minutes\n", 1, 12, "idle_time",
             "expected a duration such as 500ms");
    s_broken("negative duration", "heartbeat_period: -1s\n", 1, 19, "heartbeat_period", "a duration");
    s_broken("too short a heartbeat", "heartbeat_period: 1ms\n", 1, 19, "heartbeat_period", "from 10 ms");
    s_broken("threshold below period", "heartbeat_period: 2s\nheartbeat_threshold: 1s\n", 2, 22,
             "heartbeat_threshold", "shorter than heartbeat_period");
    s_broken("bad walltime", "provider:\n  type: slurm\n  walltime: 1:75:00\n", 3, 13, "provider.walltime",
             "expected a walltime HH:MM:SS");
    s_broken("bad launcher", "provider:\n  type: slurm\n  launcher: aprun\n", 3, 13, "provider.launcher",
             "expected one of srun, mpiexec");
    s_broken("lines as a mapping", "provider:\n  type: slurm\n  worker_init: {a: b}\n", 3, 16,
             "provider.worker_init", "expected a list of lines");
    s_broken("a line as a list", "provider:\n  type: slurm\n  scheduler_options:\n    - [a]\n", 4, 7,
             "provider.scheduler_options[0]", "expected a line of text");
    /* missing required values, relations between values */
    s_broken("provider without type", "provider:\n  max_blocks: 2\n", 2, 3, "provider.type",
             "missing; expected local, slurm or pbs");
    s_broken("unknown provider type", "provider:\n  type: kubernetes\n", 2, 9, "provider.type",
             "expected one of local, slurm, pbs");
    s_broken("provider as a word", "provider: slurm\n", 1, 11, "provider", "expected a mapping");
    s_broken("min above max", "provider:\n  type: local\n  min_blocks: 3\n  max_blocks: 2\n", 4, 15,
             "provider.max_blocks", "below min_blocks 3");
    s_broken("init above max", "provider:\n  type: local\n  init_blocks: 3\n  max_blocks: 2\n", 3, 16,
             "provider.init_blocks", "above max_blocks 2");
    s_broken("container without runtime", "containers:\n  torch:\n    image: /x.sif\n", 2, 3,
             "containers.torch.runtime", "missing");
    s_broken("container without image", "containers:\n  torch:\n    runtime: podman\n", 2, 3,
             "containers.torch.image", "needs an image");
    s_broken("bad runtime", "containers:\n  t: {runtime: lxc}\n", 2, 16, "containers.t.runtime",
             "one of none, bwrap, podman, docker, apptainer or singularity");
    s_broken("bad placeholder", "containers:\n  t: {runtime: none, template: \"run {img} {command}\"}\n", 2,
             32, "containers.t.template", "unknown placeholder near \"{img}");
    s_broken("placeholder inside a word", "containers:\n  t: {runtime: bwrap, template: \"x{env} {command}\"}\n",
             2, 33, "containers.t.template", "{env} must be a word of its own");
    s_broken("unknown routing", "routing: round-robin\n", 1, 10, "routing",
             "expected one of random, warming-aware, warm-wait");
    s_broken("negative queue depth", "queue_depth: -5\n", 1, 14, "queue_depth", "from 0 to");
    s_broken("unknown container strategy", "container_strategy: fifo\n", 1, 21, "container_strategy",
             "expected one of keep, lru");
    s_broken("negative cap", "max_workers_per_container: -1\n", 1, 28, "max_workers_per_container",
             "from 0 to");
    s_broken("bad idle time", "name: a\ncontainer_idle_time: soon\n", 2, 22, "container_idle_time",
             "a duration");
    s_broken("too short a start timeout", "container_start_timeout: 10ms\n", 1, 26, "container_start_timeout",
             "from 100 ms");
    s_broken("singularity without image", "containers:\n  s: {runtime: singularity}\n", 2, 3,
             "containers.s.image", "needs an image");
    s_broken("no command", "containers:\n  t: {runtime: none, template: \"run {image}\"}\n", 2, 32,
             "containers.t.template", "has no {command}");
    /* files and addresses */
    s_broken(
        "missing credentials file", "name: a\ncredentials: /nonexistent/alice.creds\n", 2, 14, "credentials",
        "cannot read /nonexistent/alice.creds (No such file or directory); make one with `fx user create");
    s_broken("an address no interface has", "address: 203.0.113.77\n", 1, 10, "address",
             "no network interface of this machine has the address 203.0.113.77 (interfaces: lo 127.0.0.1");
    s_broken("no such interface", "address: nosuchif0\n", 1, 10, "address",
             "no network interface is named nosuchif0");
    s_broken("wildcard address", "address: 0.0.0.0\n", 1, 10, "address",
             "not an address compute nodes can dial");
    s_broken("ipv6", "address: \"::1\"\n", 1, 10, "address", "IPv6 is not supported");
    /* allowed functions */
    s_broken("not an id", "allowed_functions:\n  - 0b7c0e4e\n", 2, 5, "allowed_functions[0]",
             "expected a function id");
    s_broken("uppercase id", "allowed_functions: [0B7C0E4E-8F5A-4C3E-9A51-2F1D7C3B9E10]\n", 1, 21,
             "allowed_functions[0]", "lowercase UUID");
    s_broken("one id, not a list", "allowed_functions: 0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10\n", 1, 20,
             "allowed_functions", "expected a list of function ids");
    s_broken("empty list", "allowed_functions: []\n", 1, 20, "allowed_functions", "would refuse every task");
    /* a nested mistake deep in a good file still names its line */
    snprintf(text, sizeof text,
             "name: cluster\ncredentials: %s\nprovider:\n  type: slurm\n  partition: debug\n"
             "  nodes_per_block: 1\n  max_blocks: 2\n  cmd_timeout: 0s\n",
             s_creds);
    s_broken("nested, late", text, 8, 16, "provider.cmd_timeout", "from 1000 ms");
}

int main(int argc, char **argv)
{
    snprintf(s_creds, sizeof s_creds, "/tmp/fx-config-test-%d.creds", (int) getpid());
    FILE *f = fopen(s_creds, "w");
    if (f)
        fclose(f);
    static const fx_scenario_t scenarios[] = {
        {"good", scenario_good, false},
        {"broken", scenario_broken, false},
    };
    int rc = fx_test_main("fx_ix_config_test", argc - 1, argv + 1, scenarios,
                          sizeof scenarios / sizeof scenarios[0], NULL);
    unlink(s_creds);
    return rc;
}
