/*  fxb_report.c: the helpers every fx-bench scenario uses: the machine
    report, samples and percentiles, the result table (stdout and CSV),
    curves (CSV and a gnuplot PNG), progress on stderr. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "fx_file.h"
#include "fxb.h"

#define S_ROWS_MAX 256
#define S_NOTES_MAX 16

double fxb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

void fxb_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fx-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the machine ------------------------------------------------------ */

/* The first line of path that starts with key, its value after ':' trimmed. */
static void s_field(const char *path, const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "?");
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, strlen(key)) != 0)
            continue;
        const char *v = strchr(line, ':');
        v = v ? v + 1 : line + strlen(key);
        while (*v == ' ' || *v == '\t')
            v++;
        snprintf(out, cap, "%s", v);
        out[strcspn(out, "\n")] = 0;
        break;
    }
    fclose(f);
}

void fxb_machine_report(const fxb_opts_t *opts)
{
    char model[256], mem[64], load[128] = "?";
    s_field("/proc/cpuinfo", "model name", model, sizeof model);
    s_field("/proc/meminfo", "MemTotal", mem, sizeof mem);
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fgets(load, sizeof load, f))
            load[strcspn(load, "\n")] = 0;
        fclose(f);
    }
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    struct statfs fs;
    char fstype[32] = "?";
    if (statfs(opts->state_dir, &fs) == 0)
        snprintf(fstype, sizeof fstype, "0x%lx", (unsigned long) fs.f_type);
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", localtime(&now));
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    printf("machine: %ld cores, %s, %s memory\n", cores, model, mem);
    printf("load average: %s (1, 5, 15 min; running/total; last pid)\n", load);
    printf("kernel: %s %s %s; state disk %s (fs type %s); %s\n", u.sysname, u.release, u.machine,
           opts->state_dir, fstype, when);
    printf("note: a shared, noisy machine: figures are as measured at this load\n\n");
    fflush(stdout);

    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/machine.csv", opts->out_dir);
    f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f, "key,value\ncores,%ld\nmodel,%s\nmemory,%s\nloadavg,%s\nkernel,%s %s %s\n"
               "state_dir,%s\nstate_fs_type,%s\ntime,%s\n",
            cores, model, mem, load, u.sysname, u.release, u.machine, opts->state_dir, fstype, when);
    fclose(f);
}

/* ---- samples ---------------------------------------------------------- */

void fxb_samples_add(fxb_samples_t *s, double value)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        double *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->count++] = value;
}

void fxb_samples_clear(fxb_samples_t *s) { s->count = 0; }

void fxb_samples_free(fxb_samples_t *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

double fxb_percentile(fxb_samples_t *s, double p)
{
    if (s->count == 0)
        return 0;
    qsort(s->v, s->count, sizeof *s->v, s_cmp);
    size_t k = (size_t) ceil(p / 100.0 * (double) s->count);
    return s->v[k == 0 ? 0 : (k > s->count ? s->count - 1 : k - 1)];
}

double fxb_median(const double *v, int n)
{
    if (n <= 0)
        return NAN;
    double tmp[FXB_RUNS_MAX];
    if (n > FXB_RUNS_MAX)
        n = FXB_RUNS_MAX;
    memcpy(tmp, v, (size_t) n * sizeof *v);
    qsort(tmp, (size_t) n, sizeof *tmp, s_cmp);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

/* ---- the result table ------------------------------------------------- */

typedef struct {
    char case_name[64];
    char metric[48];
    char unit[16];
    double values[FXB_RUNS_MAX];
    int n;
    double median;
    char floor_metric[112];
    double floor_value;
} s_row_t;

struct fxb_report_s {
    char scenario[32];
    int rows;
    s_row_t row[S_ROWS_MAX];
    int notes;
    char *note[S_NOTES_MAX];
};

fxb_report_t *fxb_report_new(const char *scenario)
{
    fxb_report_t *self = calloc(1, sizeof *self);
    if (self)
        snprintf(self->scenario, sizeof self->scenario, "%s", scenario);
    return self;
}

void fxb_report_destroy(fxb_report_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (int i = 0; i < (*self_p)->notes; i++)
        free((*self_p)->note[i]);
    free(*self_p);
    *self_p = NULL;
}

/* Copies text with commas and newlines made harmless for the CSV. */
static void s_cell(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
    for (char *p = dst; *p; p++)
        if (*p == ',' || *p == '\n')
            *p = ';';
}

void fxb_report_add(fxb_report_t *self, const char *case_name, const char *metric, const char *unit,
                    const double *values, int n, const char *floor_metric, double floor_value)
{
    if (!self || self->rows == S_ROWS_MAX || n <= 0)
        return;
    s_row_t *r = &self->row[self->rows++];
    s_cell(r->case_name, sizeof r->case_name, case_name);
    s_cell(r->metric, sizeof r->metric, metric);
    s_cell(r->unit, sizeof r->unit, unit);
    r->n = n > FXB_RUNS_MAX ? FXB_RUNS_MAX : n;
    memcpy(r->values, values, (size_t) r->n * sizeof *values);
    r->median = fxb_median(values, r->n);
    s_cell(r->floor_metric, sizeof r->floor_metric, floor_metric);
    r->floor_value = floor_metric ? floor_value : NAN;
}

void fxb_report_note(fxb_report_t *self, const char *fmt, ...)
{
    if (!self || self->notes == S_NOTES_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) >= 0)
        self->note[self->notes++] = text;
    va_end(ap);
}

double fxb_report_value(const fxb_report_t *self, const char *case_name, const char *metric)
{
    for (int i = 0; self && i < self->rows; i++)
        if (!strcmp(self->row[i].case_name, case_name) && !strcmp(self->row[i].metric, metric))
            return self->row[i].median;
    return NAN;
}

/* A figure for people: 3 significant digits, thousands kept whole. */
static void s_num(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "-");
    else if (fabs(v) >= 1000)
        snprintf(out, cap, "%.0f", v);
    else if (fabs(v) >= 10)
        snprintf(out, cap, "%.1f", v);
    else
        snprintf(out, cap, "%.3g", v);
}

static double s_ratio(const s_row_t *r)
{
    return isnan(r->floor_value) || r->floor_value == 0 ? NAN : r->median / r->floor_value;
}

int fxb_report_finish(const fxb_report_t *self, const fxb_opts_t *opts)
{
    printf("== %s ==\n", self->scenario);
    printf("%-26s %-22s %12s %-8s %-24s %9s  %s\n", "case", "metric", "median", "unit", "runs: min..max (n)",
           "vs floor", "floor");
    for (int i = 0; i < self->rows; i++) {
        const s_row_t *r = &self->row[i];
        double lo = r->values[0], hi = r->values[0];
        for (int k = 1; k < r->n; k++) {
            lo = fmin(lo, r->values[k]);
            hi = fmax(hi, r->values[k]);
        }
        char med[32], a[32], b[32], spread[96], ratio[32] = "";
        s_num(med, sizeof med, r->median);
        s_num(a, sizeof a, lo);
        s_num(b, sizeof b, hi);
        snprintf(spread, sizeof spread, "%s..%s (%d)", a, b, r->n);
        if (!isnan(s_ratio(r)))
            snprintf(ratio, sizeof ratio, "%.2fx", s_ratio(r));
        printf("%-26s %-22s %12s %-8s %-24s %9s  %s\n", r->case_name, r->metric, med, r->unit, spread, ratio,
               r->floor_metric);
    }
    for (int i = 0; i < self->notes; i++)
        printf("note: %s\n", self->note[i]);
    printf("\n");
    fflush(stdout);

    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s.csv", opts->out_dir, self->scenario);
    FILE *f = fopen(path, "w");
    if (!f) {
        fxb_progress("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "scenario,case,metric,median,unit,runs,values,vs_floor,floor\n");
    for (int i = 0; i < self->rows; i++) {
        const s_row_t *r = &self->row[i];
        fprintf(f, "%s,%s,%s,%.6g,%s,%d,", self->scenario, r->case_name, r->metric, r->median, r->unit, r->n);
        for (int k = 0; k < r->n; k++)
            fprintf(f, "%s%.6g", k ? ";" : "", r->values[k]);
        double q = s_ratio(r);
        if (isnan(q))
            fprintf(f, ",,%s\n", r->floor_metric);
        else
            fprintf(f, ",%.4g,%s\n", q, r->floor_metric);
    }
    for (int i = 0; i < self->notes; i++) {
        char cell[1024];
        s_cell(cell, sizeof cell, self->note[i]);
        fprintf(f, "# %s\n", cell);
    }
    fclose(f);
    printf("(csv: %s)\n\n", path);
    return 0;
}

fxb_report_t *fxb_report_load(const char *path, const char *scenario)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fxb_progress("cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    fxb_report_t *self = fxb_report_new(scenario);
    char line[4096];
    int rows = 0;
    while (self && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || !strncmp(line, "scenario,", 9))
            continue;
        /* scenario,case,metric,median,unit,... : the median is what is used */
        char *field[5] = {0}, *save = NULL, *p = line;
        int k = 0;
        for (char *t = strtok_r(p, ",", &save); t && k < 5; t = strtok_r(NULL, ",", &save))
            field[k++] = t;
        if (k < 5)
            continue;
        double v = strtod(field[3], NULL);
        fxb_report_add(self, field[1], field[2], field[4], &v, 1, NULL, 0);
        rows++;
    }
    fclose(f);
    if (self && rows == 0) {
        fxb_progress("%s holds no figures", path);
        fxb_report_destroy(&self);
    }
    return self;
}

/* ---- curves ----------------------------------------------------------- */

int fxb_curve(const fxb_opts_t *opts, const char *name, const char *title, const char *xlabel,
              const char *ylabel, const char *const *columns, int ncols, const double *rows, int nrows,
              bool logx, bool logy)
{
    char csv[PATH_MAX + 64], gp[PATH_MAX + 64], png[PATH_MAX + 64];
    snprintf(csv, sizeof csv, "%s/%s.csv", opts->out_dir, name);
    snprintf(gp, sizeof gp, "%s/%s.gp", opts->out_dir, name);
    snprintf(png, sizeof png, "%s/%s.png", opts->out_dir, name);
    FILE *f = fopen(csv, "w");
    if (!f)
        return -1;
    for (int c = 0; c < ncols; c++) {
        char cell[128];
        s_cell(cell, sizeof cell, columns[c]);
        fprintf(f, "%s%s", c ? "," : "", cell);
    }
    fputc('\n', f);
    for (int r = 0; r < nrows; r++)
        for (int c = 0; c < ncols; c++)
            fprintf(f, "%.6g%s", rows[r * ncols + c], c + 1 < ncols ? "," : "\n");
    fclose(f);

    static int s_warned;
    if (access("/usr/bin/gnuplot", X_OK) != 0) {
        if (!s_warned++)
            printf("gnuplot is not installed: plots skipped (apt-get install gnuplot-nox); CSV written\n");
        printf("(curve csv: %s)\n", csv);
        return 0;
    }
    f = fopen(gp, "w");
    if (!f)
        return -1;
    fprintf(f, "set terminal pngcairo size 900,560 noenhanced\nset output '%s'\n"
               "set datafile separator ','\nset key autotitle columnhead left top\n"
               "set title '%s'\nset xlabel '%s'\nset ylabel '%s'\nset grid\n%s%s"
               "plot for [c=2:%d] '%s' using 1:c with linespoints lw 2\n",
            png, title, xlabel, ylabel, logx ? "set logscale x\n" : "", logy ? "set logscale y\n" : "", ncols,
            csv);
    fclose(f);
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "/usr/bin/gnuplot '%s' 2>&1", gp);
    int rc = system(cmd);
    if (rc != 0)
        printf("gnuplot failed (%d) on %s: plot skipped\n", rc, gp);
    else
        printf("(plot: %s)\n", png);
    return 0;
}

/* ---- lists ------------------------------------------------------------ */

int fxb_list_parse(const char *text, fxb_list_t *list)
{
    list->count = 0;
    const char *p = text;
    while (*p) {
        char *end = NULL;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno || v < 0 || list->count == FXB_LIST_MAX)
            return -1;
        /* k, M and Ki, Mi suffixes: 10k tasks, 1Mi bytes */
        if (*end == 'K' && end[1] == 'i') { v *= 1024; end += 2; }
        else if (*end == 'M' && end[1] == 'i') { v *= 1024 * 1024; end += 2; }
        else if (*end == 'k') { v *= 1e3; end++; }
        else if (*end == 'M') { v *= 1e6; end++; }
        list->v[list->count++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return -1;
        p = end;
    }
    return list->count ? 0 : -1;
}

int fxb_kinds(const fxb_opts_t *opts, const char *kinds[2])
{
    int n = 0;
    if (strstr(opts->kinds, "py"))
        kinds[n++] = "py";
    if (strstr(opts->kinds, "sh"))
        kinds[n++] = "sh";
    return n;
}

const fxb_list_t *fxb_kind_tasks(const fxb_opts_t *opts, const char *kind)
{
    return strcmp(kind, "sh") ? &opts->tasks : &opts->sh_tasks;
}
