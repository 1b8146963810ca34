/* report_run.h - what a subject report shows about one run, read from the
 * participant-level outputs (ROI time series TSV + JSON sidecar, optional
 * relmat TSV), the fMRIPrep confounds (FD) and the atlas label table
 * (names, networks). */
#ifndef BRAINSTAGE_CLI_REPORT_RUN_H
#define BRAINSTAGE_CLI_REPORT_RUN_H

#include "report.h"

#include <stdio.h>

typedef enum report_volume {
    REPORT_KEPT = 0,
    REPORT_CENSORED = 1, /* FD above the threshold */
    REPORT_DUMMY = 2     /* dropped at the start */
} report_volume;

typedef struct report_run {
    char *ts_path, *entities;
    int R;
    int64_t T;                   /* rows of the time-series TSV */
    char **names;                /* R column names of the TSV */
    char **display;              /* R names to show (label table names where known) */
    float *ts;                   /* T x R, NaN = ROI below coverage */
    double tr;                   /* 0 when unknown */
    double *coverage;            /* R, NaN when unknown */
    double min_coverage;         /* NaN when unknown */
    char *atlas;                 /* atlas attribute, or NULL */
    /* cleaning summary (the clean stage's attribute) */
    int have_clean;
    char strategy[32], band[64];
    double fd_max;
    long long dummy, flagged, kept;
    /* confounds */
    char *confounds_path;        /* NULL when not found */
    int64_t n_fd;
    double *fd;                  /* n_fd framewise displacement, or NULL */
    /* timeline: every input volume */
    int64_t n_time;
    unsigned char *state;        /* n_time report_volume values */
    int64_t *source;             /* T: timeline index of each TSV row */
    /* connectivity */
    float *fc;                   /* R x R */
    char *fc_source;
    /* ROI ordering by network */
    int *network;                /* R group indices, or NULL */
    char **network_names;
    int n_networks;
    int64_t *order;              /* R display order */
    char *labels_path;           /* label table used, or NULL */
    bs_strlist warnings;         /* shown in the report */
} report_run;

/* Reads one run; errors only for an unreadable time series. */
int report_run_load(const char *fmriprep_dir, const char *ts_path, report_run *r, bs_error *err);
void report_run_free(report_run *r);
/* Writes the run's section: summary, carpet, FD/censoring, FC, coverage. */
void report_run_write(FILE *fp, const report_run *r, int index);

#endif
