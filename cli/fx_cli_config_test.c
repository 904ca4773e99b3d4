/*  fx_cli_config_test.c: the config.yaml `fx endpoint configure` writes
    (fx_cli_template.c), read by fx-endpoint's own parser
    (interchange/fx_ix_config.h): as written; with every commented key
    turned on; with the commented Slurm provider in place of the local one;
    and with a name and a credentials path that need YAML quoting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_check.h"
#include "fx_cli_template.h"
#include "fx_ix_config.h"
#include "fx_testkit.h"

static char s_creds[] = "/tmp/fx_cli_config_test.XXXXXX";

static size_t s_template(char *out, size_t cap, const char *name, const char *creds)
{
    int n = fx_cli_template(name, creds, out, cap);
    CHECK(n > 0, "the template does not fit in %zu bytes", cap);
    return n > 0 ? (size_t) n : 0;
}

static bool s_starts(const char *line, const char *prefix)
{
    return strncmp(line, prefix, strlen(prefix)) == 0;
}

/* "#key:" at the start of a line, key in [a-z_]. */
static bool s_commented_key(const char *line, const char *lead)
{
    size_t n = strlen(lead);
    if (strncmp(line, lead, n) != 0)
        return false;
    const char *p = line + n;
    while (*p == '_' || (*p >= 'a' && *p <= 'z'))
        p++;
    return p > line + n && *p == ':';
}

/* Every commented key of the file turned on (the Slurm provider block
   aside), lines it continues too; the address names the loopback
   interface, which this machine has. */
static void s_uncomment_keys(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    bool top = false, nested = false;
    for (const char *line = in; *line;) {
        size_t len = strcspn(line, "\n") + (line[strcspn(line, "\n")] == '\n');
        const char *copy = line;
        size_t skip = 0;
        if (s_commented_key(line, "#") && !s_starts(line, "#provider:")) {
            top = true;
            nested = false;
            skip = 1;
        }
        else if (top && s_starts(line, "#  "))
            skip = 1;
        else if (s_commented_key(line, "  #")) {
            nested = true;
            top = false;
            o += (size_t) snprintf(out + o, cap - o, "  ");
            skip = 3;
        }
        else if (nested && s_starts(line, "  #  ")) {
            o += (size_t) snprintf(out + o, cap - o, "  ");
            skip = 3;
        }
        else
            top = nested = false;
        if (s_starts(line, "#address: "))
            o += (size_t) snprintf(out + o, cap - o, "address: lo\n");
        else
            o += (size_t) snprintf(out + o, cap - o, "%.*s", (int) (len - skip), copy + skip);
        line += len;
    }
}

/* The local provider section dropped, the commented Slurm one turned on. */
static void s_slurm(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    bool drop = false, slurm = false;
    for (const char *line = in; *line;) {
        size_t len = strcspn(line, "\n") + (line[strcspn(line, "\n")] == '\n');
        if (s_starts(line, "provider:\n"))
            drop = true;
        else if (drop && len == 1)
            drop = false;
        if (s_starts(line, "#provider:\n"))
            slurm = true;
        else if (slurm && s_starts(line, "#\n"))
            slurm = false;
        if (!drop)
            o += (size_t) snprintf(out + o, cap - o, "%.*s", (int) (len - (slurm ? 1 : 0)),
                                   line + (slurm ? 1 : 0));
        line += len;
    }
}

static fx_ix_config_t *s_parse(const char *text)
{
    char err[2048] = "";
    fx_ix_config_t *cfg =
        fx_ix_config_parse(text, strlen(text), "/home/u/.fx/endpoints/x/config.yaml", err, sizeof err);
    CHECK(cfg != NULL, "%s\n--- the text:\n%s", err, text);
    return cfg;
}

static void s_as_written(void *ctx)
{
    (void) ctx;
    static char text[FX_CLI_TEMPLATE_MAX];
    s_template(text, sizeof text, "laptop", s_creds);
    fx_ix_config_t *cfg = s_parse(text);
    REQUIRE(cfg);
    CHECK(strcmp(cfg->name, "laptop") == 0, "%s", cfg->name);
    CHECK(strcmp(cfg->credentials, s_creds) == 0, "%s", cfg->credentials);
    CHECK(cfg->provider.kind == FX_IX_PROVIDER_LOCAL);
    CHECK(cfg->provider.init_blocks == 1 && cfg->provider.min_blocks == 1 && cfg->provider.max_blocks == 1);
    CHECK(cfg->provider.nodes_per_block == 1);
    CHECK(cfg->workers_per_node == FX_IX_WORKERS_AUTO);
    CHECK(cfg->address[0] == '\0' && cfg->allowed_functions == NULL && cfg->containers_count == 0);
    CHECK(cfg->stop_grace_ms == FX_IX_UNSET && cfg->prefetch == FX_IX_UNSET);
done:
    fx_ix_config_destroy(&cfg);
}

static void s_every_key(void *ctx)
{
    (void) ctx;
    static char text[FX_CLI_TEMPLATE_MAX], on[FX_CLI_TEMPLATE_MAX];
    s_template(text, sizeof text, "laptop", s_creds);
    s_uncomment_keys(text, on, sizeof on);
    CHECK(strstr(on, "\nprefetch: 1\n") && strstr(on, "\ncontainers:\n") && strstr(on, "\n  worker_init: "),
          "%s", on);
    fx_ix_config_t *cfg = s_parse(on);
    REQUIRE(cfg);
    CHECK(strcmp(cfg->address_ip, "127.0.0.1") == 0, "%s", cfg->address_ip);
    CHECK(cfg->prefetch == 1);
    CHECK(cfg->heartbeat_period_ms == 1000 && cfg->heartbeat_threshold_ms == 3000);
    CHECK(cfg->idle_time_ms == 120000 && cfg->stop_grace_ms == 10000);
    CHECK(cfg->provider.kind == FX_IX_PROVIDER_LOCAL && cfg->provider.worker_init_count == 1);
    CHECK(cfg->containers_count == 1 && strcmp(cfg->containers[0].name, "torch") == 0 &&
          strcmp(cfg->containers[0].runtime, "apptainer") == 0 &&
          strstr(cfg->containers[0].template_text, "{command}"));
    CHECK(cfg->allowed_functions_count == 1 &&
          strcmp(cfg->allowed_functions[0], "0b7c0e4e-8f5a-4c3e-9a51-2f1d7c3b9e10") == 0);
done:
    fx_ix_config_destroy(&cfg);
}

static void s_slurm_block(void *ctx)
{
    (void) ctx;
    static char text[FX_CLI_TEMPLATE_MAX], slurm[FX_CLI_TEMPLATE_MAX];
    s_template(text, sizeof text, "cluster", s_creds);
    s_slurm(text, slurm, sizeof slurm);
    CHECK(!strstr(slurm, "type: local") && strstr(slurm, "\nprovider:\n  type: slurm\n"), "%s", slurm);
    fx_ix_config_t *cfg = s_parse(slurm);
    REQUIRE(cfg);
    fx_ix_provider_conf_t *p = &cfg->provider;
    CHECK(p->kind == FX_IX_PROVIDER_SLURM);
    CHECK(strcmp(p->partition, "debug") == 0 && strcmp(p->account, "proj42") == 0);
    CHECK(strcmp(p->walltime, "01:00:00") == 0, "%s", p->walltime);
    CHECK(p->init_blocks == 0 && p->min_blocks == 0 && p->max_blocks == 2 && p->nodes_per_block == 1);
    CHECK(p->launcher == FX_IX_LAUNCH_SRUN && p->cmd_timeout_ms == 30000);
    CHECK(p->scheduler_options_count == 1 &&
          strcmp(p->scheduler_options[0], "#SBATCH --constraint=cpu") == 0);
    CHECK(p->worker_init_count == 2 && strcmp(p->worker_init[0], "module load python/3.11") == 0);
done:
    fx_ix_config_destroy(&cfg);
}

static void s_quoting(void *ctx)
{
    (void) ctx;
    static char text[FX_CLI_TEMPLATE_MAX];
    char odd[] = "/tmp/fx cli \"quoted\" \\ #not-a-comment: x.XXXXXX";
    int fd = mkstemp(odd);
    REQUIRE(fd >= 0);
    close(fd);
    s_template(text, sizeof text, "true", odd);
    fx_ix_config_t *cfg = s_parse(text);
    CHECK(cfg && strcmp(cfg->name, "true") == 0);
    CHECK(cfg && strcmp(cfg->credentials, odd) == 0, "%s", cfg ? cfg->credentials : "");
    fx_ix_config_destroy(&cfg);
    unlink(odd);
    CHECK(fx_cli_template("a", "/x", text, 100) == -1, "a short buffer is refused");
done:
    return;
}

int main(int argc, char **argv)
{
    int fd = mkstemp(s_creds);
    if (fd < 0)
        return 1;
    close(fd);
    static const fx_scenario_t scenarios[] = {
        {"as_written", s_as_written, false},
        {"every_key", s_every_key, false},
        {"slurm_block", s_slurm_block, false},
        {"quoting", s_quoting, false},
    };
    int rc = fx_test_main("fx_cli_config_test", argc - 1, argv + 1, scenarios,
                          sizeof scenarios / sizeof scenarios[0], NULL);
    unlink(s_creds);
    return rc;
}
