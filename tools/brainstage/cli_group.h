/* cli_group.h - the group-level commands (pretrain, embed, evaluate, bids)
 * and the helpers they share: finding ROI time-series files, reading them,
 * naming subjects and writing feature tables. */
#ifndef BRAINSTAGE_CLI_GROUP_H
#define BRAINSTAGE_CLI_GROUP_H

#include "cli.h"

#include <stdint.h>

int bs_cmd_pretrain(const bs_cli *cli, int argc, char **argv);
int bs_cmd_embed(const bs_cli *cli, int argc, char **argv);
int bs_cmd_evaluate(const bs_cli *cli, int argc, char **argv);
int bs_cmd_bids(const bs_cli *cli, int argc, char **argv);

/* A list of owned strings. */
typedef struct bs_strlist {
    int n, cap;
    char **items;
} bs_strlist;

int bs_strlist_push(bs_strlist *l, const char *s);
void bs_strlist_sort(bs_strlist *l);
void bs_strlist_free(bs_strlist *l);

/* File names the group commands take as ROI time series by default.
 * fMRIPrep's own confounds and the simulator's ground truth also end in
 * "_timeseries.tsv" and are always excluded. */
#define BS_GROUP_TS_SUFFIX "_timeseries.tsv"

/* Expands one --inputs argument into out (sorted, de-duplicated by the
 * caller): an existing file is taken as is; a folder is searched
 * recursively for names ending in `suffix` (where the suffix names the
 * atlas as _atlas-<A>_ it also matches older XCP-D's _seg-<A>_, and the
 * other way round); anything else is a glob(3) pattern.  Error when
 * nothing matches. */
int bs_group_expand_inputs(const char *arg, const char *suffix, bs_strlist *out, bs_error *err);
/* Sorts and removes duplicates. */
void bs_group_unique(bs_strlist *l);

/* An ROI time series read from a TSV (header = ROI names, rows = volumes;
 * "n/a" -> NaN). */
typedef struct bs_group_series {
    char *path;
    char *participant;   /* "sub-XX" from the file name */
    int64_t T;
    int R;
    float *ts;           /* T x R */
    double tr;           /* from the JSON sidecar, the --tr option, or 0 */
    char **roi_names;    /* R column names, as in the header */
} bs_group_series;

/* Reads every path; all files must have the same ROI columns (names, in
 * the same order), so that column c is the same region in every run.  tr_default
 * (> 0) is used where a file has no sidecar with RepetitionTime. */
int bs_group_read_series(const bs_strlist *paths, double tr_default, bs_group_series **out, int *n_out,
                         bs_error *err);
void bs_group_series_free(bs_group_series *s, int n);

/* "sub-XX" of a path (malloc'd) or NULL. */
char *bs_group_participant(const char *path);

/* Writes features (n x d) with a first column participant_id, atomically. */
int bs_group_write_features(const char *path, int64_t n, int64_t d, const float *X,
                            const char *const *ids, const char *prefix, bs_error *err);

/* Creates the folder that will hold path (mkdir -p of its parent). */
int bs_group_mkparent(const char *path, bs_error *err);

/* Option parsing helpers: print a one-line usage error and return BS_ERR_USAGE. */
int bs_group_opt_int(const char *cmd, const char *opt, const char *text, long long min, long long max,
                     long long *out);
int bs_group_opt_double(const char *cmd, const char *opt, const char *text, double min, double max,
                        double *out);

#endif
