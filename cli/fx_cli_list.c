/*  fx_cli_list.c: `fx endpoint list`: every endpoint folder under
    $FX_HOME/endpoints, what its files say (fx_cli_endpoint_state: pid
    file, lock, endpoint.conf; endpoint.stats while it runs: blocks and
    the last scaling decision), beside the broker's view of it (LIST
    endpoints with the credentials its config names: online or offline,
    managers, workers, queued tasks). One broker session per credentials
    file; a broker that does not answer is "unreachable", and the local
    columns are still shown. Problems are notes under the table. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fx_cli.h"
#include "fx_ix_config.h"

/* A stats file older than this, while its endpoint runs, means the
   endpoint's loop is stuck (it is rewritten every second). */
#define S_STATS_STALE_S 10
#define S_ENDPOINTS_MAX 1000
#define S_COLS 10

/* One broker, as seen with one credentials file. */
typedef struct {
    char creds[PATH_MAX];
    fx_msg_t *table;  /* LIST endpoints, or NULL */
    char err[1024];   /* why there is no table */
    bool unreachable; /* the broker did not answer */
} s_broker_t;

typedef struct {
    char name[256];
    char dir[PATH_MAX];
    fx_cli_endpoint_state_t st;
    char config_err[2048]; /* "" if the config loads */
    s_broker_t *broker;    /* NULL without credentials */
    /* from endpoint.stats while it runs ("" if not) */
    char blocks[32];   /* blocks_active */
    char scaling[512]; /* scaling_last */
    char link[32];     /* link_state, if this fx-endpoint writes it */
    bool stats_stale;
} s_row_t;

/* The value of key in a key=value text into out; false if absent. */
static bool s_stat(const char *text, const char *key, char *out, size_t cap)
{
    size_t klen = strlen(key);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
            size_t len = strcspn(p + klen + 1, "\n");
            snprintf(out, cap, "%.*s", (int) len, p + klen + 1);
            return true;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return false;
}

static s_broker_t *s_broker_for(s_broker_t *brokers, int *count, const char *creds, int64_t timeout_ms)
{
    for (int i = 0; i < *count; i++)
        if (strcmp(brokers[i].creds, creds) == 0)
            return &brokers[i];
    s_broker_t *b = &brokers[(*count)++];
    fx_strlcpy(b->creds, creds, sizeof b->creds);
    fx_cli_link_t *link = fx_cli_link_open(creds, timeout_ms, b->err, sizeof b->err, &b->unreachable);
    if (link) {
        b->table = fx_cli_list(link, FX_LIST_ENDPOINTS, FX_LIST_ROWS_MAX, b->err, sizeof b->err);
        fx_cli_link_destroy(&link);
    }
    return b;
}

/* The broker's cell for endpoint id in column name, or NULL. */
static const char *s_broker_cell(const s_broker_t *b, const char *id, const char *name)
{
    return b ? fx_cli_lookup(b->table, id, name) : NULL;
}

/* What the broker says of the row's endpoint, in one word or two. */
static const char *s_broker_word(const s_row_t *row)
{
    if (!row->broker)
        return "-";
    if (!row->broker->table)
        return row->broker->unreachable ? "unreachable" : "error";
    if (!row->st.id[0])
        return "-";
    const char *status = s_broker_cell(row->broker, row->st.id, "status");
    return status ? status : "not registered";
}

static const char *s_state_word(const s_row_t *row)
{
    if (row->st.pid <= 0)
        return row->st.stale_pid > 0 ? "stopped (killed)" : row->st.id[0] ? "stopped" : "never started";
    const char *broker = s_broker_word(row);
    if ((row->link[0] && strcmp(row->link, "ACTIVE") != 0) || strcmp(broker, "offline") == 0 ||
        strcmp(broker, "not registered") == 0)
        return "disconnected";
    if (row->stats_stale)
        return "not responding";
    return "running";
}

static void s_read_row(s_row_t *row, s_broker_t *brokers, int *nbrokers, int64_t timeout_ms)
{
    fx_cli_endpoint_state(row->dir, &row->st);
    char path[PATH_MAX];
    char *stats = NULL;
    size_t len = 0;
    struct stat sb;
    if (row->st.pid > 0 && fx_cli_path(path, sizeof path, row->dir, "endpoint.stats") == 0 &&
        fx_file_read(path, 1 << 16, &stats, &len) == 0) {
        s_stat(stats, "blocks_active", row->blocks, sizeof row->blocks);
        s_stat(stats, "scaling_last", row->scaling, sizeof row->scaling);
        s_stat(stats, "link_state", row->link, sizeof row->link);
        row->stats_stale = stat(path, &sb) == 0 && time(NULL) - sb.st_mtime > S_STATS_STALE_S;
        free(stats);
    }
    if (fx_cli_path(path, sizeof path, row->dir, "config.yaml") != 0)
        return;
    fx_ix_config_t *cfg = fx_ix_config_load(path, row->config_err, sizeof row->config_err);
    if (cfg && cfg->credentials[0])
        row->broker = s_broker_for(brokers, nbrokers, cfg->credentials, timeout_ms);
    else if (cfg)
        snprintf(row->config_err, sizeof row->config_err, "%.1900s: credentials: missing", path);
    fx_ix_config_destroy(&cfg);
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(((const s_row_t *) a)->name, ((const s_row_t *) b)->name);
}

/* The endpoint folders under root (those with a config.yaml or an
   endpoint.conf), sorted; their count, -1 if root cannot be read. */
static int s_scan(const char *root, s_row_t *rows, int cap)
{
    DIR *d = opendir(root);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while (n < cap && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        s_row_t *row = &rows[n];
        char conf[PATH_MAX], yaml[PATH_MAX];
        if (snprintf(row->dir, sizeof row->dir, "%s/%s", root, e->d_name) >= (int) sizeof row->dir ||
            fx_cli_path(conf, sizeof conf, row->dir, "endpoint.conf") != 0 ||
            fx_cli_path(yaml, sizeof yaml, row->dir, "config.yaml") != 0)
            continue;
        struct stat sb;
        if (stat(conf, &sb) != 0 && stat(yaml, &sb) != 0)
            continue;
        fx_strlcpy(row->name, e->d_name, sizeof row->name);
        n++;
    }
    closedir(d);
    qsort(rows, (size_t) n, sizeof rows[0], s_by_name);
    return n;
}

static void s_print(s_row_t *rows, int n)
{
    static const char *head[S_COLS] = {"NAME",     "ID",      "STATE",  "PID",    "BROKER",
                                       "MANAGERS", "WORKERS", "QUEUED", "BLOCKS", "LAST_SCALING"};
    char **cells = calloc((size_t) (n + 1) * S_COLS, sizeof(char *));
    char(*pids)[16] = calloc((size_t) n + 1, sizeof *pids);
    if (!cells || !pids)
        goto done;
    for (int c = 0; c < S_COLS; c++)
        cells[c] = (char *) head[c];
    for (int i = 0; i < n; i++) {
        s_row_t *r = &rows[i];
        char **row = cells + (size_t) (i + 1) * S_COLS;
        snprintf(pids[i], sizeof pids[i], "%d", (int) r->st.pid);
        const char *managers = s_broker_cell(r->broker, r->st.id, "managers");
        const char *workers = s_broker_cell(r->broker, r->st.id, "workers");
        const char *queued = s_broker_cell(r->broker, r->st.id, "queued");
        row[0] = r->name;
        row[1] = r->st.id[0] ? r->st.id : "-";
        row[2] = (char *) s_state_word(r);
        row[3] = r->st.pid > 0 ? pids[i] : "-";
        row[4] = (char *) s_broker_word(r);
        row[5] = (char *) (managers ? managers : "-");
        row[6] = (char *) (workers ? workers : "-");
        row[7] = (char *) (queued ? queued : "-");
        row[8] = r->blocks[0] ? r->blocks : "-";
        row[9] = r->scaling[0] ? r->scaling : "-";
    }
    fx_cli_table_print(stdout, cells, (uint32_t) n + 1, S_COLS);
done:
    free(cells);
    free(pids);
}

/* What went wrong per endpoint, and what to do, under the table. */
static void s_notes(const s_row_t *rows, int n)
{
    for (int i = 0; i < n; i++) {
        const s_row_t *r = &rows[i];
        if (r->config_err[0])
            printf("note: %s: its config does not load: %s\n", r->name, r->config_err);
        else if (r->broker && !r->broker->table)
            printf("note: %s: broker %s: %s\n", r->name, r->broker->unreachable ? "unreachable" : "error",
                   r->broker->err);
        if (r->st.pid <= 0 && r->st.stale_pid > 0)
            printf("note: %s: its last run (pid %d) ended without cleaning up%s\n", r->name,
                   (int) r->st.stale_pid,
                   r->st.managers_alive > 0 ? "; its managers still run and the next start adopts them" : "");
        if (r->st.pid > 0 && r->stats_stale)
            printf("note: %s: its stats file has not changed for over %d s: see `fx endpoint logs %s`\n",
                   r->name, S_STATS_STALE_S, r->name);
    }
}

int fx_cli_endpoint_list(const fx_cli_args_t *args)
{
    char home[PATH_MAX], root[PATH_MAX];
    if (fx_cli_home(home, sizeof home) != 0 || fx_cli_path(root, sizeof root, home, "endpoints") != 0) {
        fx_cli_fail("cannot tell where your home folder is: set $FX_HOME (or $HOME)");
        return FX_CLI_FAILED;
    }
    s_row_t *rows = calloc(S_ENDPOINTS_MAX, sizeof *rows);
    s_broker_t *brokers = calloc(S_ENDPOINTS_MAX, sizeof *brokers);
    int rc = FX_CLI_FAILED;
    if (!rows || !brokers)
        goto done;
    int n = s_scan(root, rows, S_ENDPOINTS_MAX);
    if (n <= 0) {
        printf("(no endpoints in %s: `fx endpoint configure NAME` makes one)\n", root);
        rc = FX_CLI_OK;
        goto done;
    }
    zsys_handler_set(NULL); /* Ctrl-C ends the command at once */
    int nbrokers = 0;
    int64_t timeout_ms = args->timeout_s > 0 ? args->timeout_s * 1000 : FX_CLI_LIST_TIMEOUT_MS;
    for (int i = 0; i < n; i++)
        s_read_row(&rows[i], brokers, &nbrokers, timeout_ms);
    s_print(rows, n);
    s_notes(rows, n);
    for (int i = 0; i < nbrokers; i++)
        fx_msg_destroy(&brokers[i].table);
    rc = FX_CLI_OK;
done:
    free(rows);
    free(brokers);
    return rc;
}
