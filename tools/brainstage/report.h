/* report.h - the BIDS-App's HTML reports (docs/reports.md).
 *
 * Participant level writes OUTPUT_DIR/sub-X.html from the subject's outputs
 * (ROI time series + JSON sidecars) and the fMRIPrep confounds; group level
 * writes OUTPUT_DIR/group.html from OUTPUT_DIR/group/ and rewrites every
 * subject's report with its embedding summary and out-of-fold predictions.
 * Drawing is in the library (brainstage/report.h); this side finds and
 * reads the files. */
#ifndef BRAINSTAGE_CLI_REPORT_H
#define BRAINSTAGE_CLI_REPORT_H

#include "cli_group.h"
#include "brainstage/tsv.h"

#include <stdint.h>

/* One embedding table (OUTPUT_DIR/group/features-NAME.tsv) and its first
 * two principal components (of the standardised features). */
typedef struct report_model {
    char *name;
    int64_t n, d;
    char **ids;          /* participant_id of each row */
    float *X;            /* n x d */
    double *pc;          /* n x 2 */
    double explained[2]; /* fraction of variance */
} report_model;

/* One evaluation (OUTPUT_DIR/group/eval-NAME_metrics.tsv [+ _predictions.tsv]). */
typedef struct report_eval {
    char *name;            /* e.g. "brainmass_head-logreg_shots-5" */
    bs_tsv *metrics;
    bs_tsv *predictions;   /* NULL for few-shot */
} report_eval;

/* A pretraining loss log (OUTPUT_DIR/group/model-NAME_loss.tsv). */
typedef struct report_loss {
    char *name;
    bs_tsv *log;
} report_loss;

typedef struct report_group {
    char *label;                 /* participants.tsv column of the target */
    char *participants_path;
    bs_tsv *participants;        /* NULL when it could not be read */
    int n_models, n_evals, n_losses;
    report_model *models;
    report_eval *evals;
    report_loss *losses;
} report_group;

/* Reads everything under OUTPUT_DIR/group/.  A table that cannot be read
 * is an error naming it. */
int report_group_load(const char *out_dir, const char *participants, const char *label, report_group *g,
                      bs_error *err);
void report_group_free(report_group *g);
/* The subject's value in the label column, or NULL. */
const char *report_group_label_of(const report_group *g, const char *participant);

/* Writes OUTPUT_DIR/sub-X.html (sub = "sub-X") atomically from the
 * subject's time-series files under OUTPUT_DIR/sub-X/; g adds the group
 * section (NULL at participant level). */
int report_write_subject(const char *fmriprep_dir, const char *out_dir, const char *sub, const report_group *g,
                         bs_error *err);
/* Writes OUTPUT_DIR/group.html atomically; subjects: those with a report. */
int report_write_group(const char *out_dir, const report_group *g, const bs_strlist *subjects, bs_error *err);

/* The hooks of `brainstage bids`: print one line per failure and return
 * the number of failures.  subjects: "sub-X" names (duplicates allowed). */
int bs_report_participant_level(const char *fmriprep_dir, const char *out_dir, const bs_strlist *subjects,
                                int quiet);
int bs_report_group_level(const char *fmriprep_dir, const char *out_dir, const char *participants,
                          const char *label, int quiet);

/* ---- shared by the report sources ---- */

/* Every file matching the glob pattern, sorted (none: empty list). */
void report_glob(const char *pattern, bs_strlist *out);

#endif
