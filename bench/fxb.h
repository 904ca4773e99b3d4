/*  fxb.h: what every part of fx-bench shares: the invocation's options, the
    machine report, samples and their percentiles, the result table of a
    scenario (printed, written as CSV, read back for --floor-from), gnuplot
    plots, and progress lines on stderr.

    A figure is always the median of the runs (at least 3 unless --runs says
    otherwise, which the table then shows); a figure that has a physical
    floor measured in the same invocation carries its ratio to that floor. */
#ifndef FXB_H
#define FXB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FXB_RUNS_MAX 50
#define FXB_LIST_MAX 16

/* A comma-separated list of numbers given on the command line. */
typedef struct {
    int count;
    double v[FXB_LIST_MAX];
} fxb_list_t;

/* The invocation: options (each scenario reads those it uses) and paths. */
typedef struct {
    int runs;                    /* --runs: medians over this many runs */
    int count;                   /* --count: sequential round trips per run */
    fxb_list_t tasks;            /* --tasks: throughput task counts (Python no-op) */
    fxb_list_t sh_tasks;         /* --sh-tasks: the same for the shell no-op */
    fxb_list_t clients;          /* --clients: broker scenario client counts */
    fxb_list_t batches;          /* --batches: broker scenario SUBMIT batch sizes */
    fxb_list_t sizes;            /* --sizes: payload bytes */
    fxb_list_t slots;            /* --slots: scale: simulated worker slots per point */
    int slots_per_manager;       /* --slots-per-manager: scale: slots of one simulated manager */
    long scale_tasks;            /* --scale-tasks: scale: tasks per point (at least 2 x slots) */
    bool topology_given;         /* --managers or --workers was given */
    int routing_tasks;           /* --routing-tasks: routing: tasks per run */
    int containers;              /* --containers: routing: container types */
    int task_ms;                 /* --task-ms: routing: each task's sleep */
    fxb_list_t cold_start;       /* --cold-start: routing: added seconds per container start */
    const char *strategies;      /* --strategies: routing: interchange strategies compared */
    int prefetch;                /* --prefetch: routing: the managers' prefetch (-1: the default) */
    double seconds;              /* --seconds: length of one timed point */
    int managers, workers;       /* the local federation's topology */
    const char *endpoint_args;   /* --endpoint-args: a second endpoint configuration */
    const char *kinds;           /* --kinds: "py,sh" */
    char out_dir[PATH_MAX];      /* --out */
    char state_dir[PATH_MAX];    /* --state-dir: the broker's state disk */
    const char *floor_from;      /* --floor-from: floor.csv of an earlier run */
    char bin_dir[PATH_MAX];      /* where fx-bench and its siblings live */
    char build_dir[PATH_MAX];    /* bin_dir/.. (python/ is there) */
    const char *src_dir;         /* the bench/ source folder (the Python drivers) */
} fxb_opts_t;

/* ---- time and progress ------------------------------------------------ */

/* Monotonic time in seconds, fine-grained. */
double fxb_now(void);
/* One progress line on stderr, prefixed "fx-bench: ". */
void fxb_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- the machine ------------------------------------------------------ */

/* Prints cores, CPU model, load average, kernel, memory and the state
   disk's filesystem, and writes them to OUT/machine.csv. */
void fxb_machine_report(const fxb_opts_t *opts);

/* ---- samples ---------------------------------------------------------- */

typedef struct {
    size_t count, cap;
    double *v;
} fxb_samples_t;

void fxb_samples_add(fxb_samples_t *s, double value);
void fxb_samples_clear(fxb_samples_t *s);
void fxb_samples_free(fxb_samples_t *s);
/* Percentile p (0..100) by nearest rank; sorts s in place. 0 if empty. */
double fxb_percentile(fxb_samples_t *s, double p);
/* Median of n values (copied, not reordered). */
double fxb_median(const double *v, int n);

/* ---- the result table of a scenario ----------------------------------- */

typedef struct fxb_report_s fxb_report_t;

/* A new, empty table for scenario (its CSV is OUT/SCENARIO.csv). */
fxb_report_t *fxb_report_new(const char *scenario);
void fxb_report_destroy(fxb_report_t **self_p);

/* Adds one figure: the per-run values (their median is the figure), its
   case ("py", "window 64", ...) and metric ("p50"), its unit, and, if
   floor_metric is not NULL, the floor it is compared with (a "case/metric"
   of the floor table) and that floor's value (ratio = median / floor). */
void fxb_report_add(fxb_report_t *self, const char *case_name, const char *metric, const char *unit,
                    const double *values, int n, const char *floor_metric, double floor_value);
/* Adds a note printed under the table and written to the CSV as a comment
   row (what was not measured, and why). */
void fxb_report_note(fxb_report_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The median of a figure by case and metric; NAN if absent. */
double fxb_report_value(const fxb_report_t *self, const char *case_name, const char *metric);

/* Prints the table to stdout and writes OUT/SCENARIO.csv. 0 or -1. */
int fxb_report_finish(const fxb_report_t *self, const fxb_opts_t *opts);

/* Reads a table written by fxb_report_finish (for --floor-from). NULL with
   a sentence on stderr if the file cannot be read. */
fxb_report_t *fxb_report_load(const char *path, const char *scenario);

/* ---- curves ----------------------------------------------------------- */

/* Writes OUT/NAME.csv (NAME must differ from every scenario's name: that
   CSV is the table's) with a header row and rows of columns values, then,
   if gnuplot is installed, OUT/NAME.png: columns 2.. against column 1.
   logx/logy choose log scales. Without gnuplot it says so once and skips
   the plot. 0 or -1 (the CSV could not be written). */
int fxb_curve(const fxb_opts_t *opts, const char *name, const char *title, const char *xlabel,
              const char *ylabel, const char *const *columns, int ncols, const double *rows, int nrows,
              bool logx, bool logy);

/* ---- lists ------------------------------------------------------------ */

/* The no-op kinds --kinds names, "py" then "sh"; returns how many. */
int fxb_kinds(const fxb_opts_t *opts, const char *kinds[2]);
/* The task counts of a kind: --tasks for py, --sh-tasks for sh. */
const fxb_list_t *fxb_kind_tasks(const fxb_opts_t *opts, const char *kind);

/* Parses "1,8,64" into list. 0, or -1 on a malformed or too long list. */
int fxb_list_parse(const char *text, fxb_list_t *list);

#endif
