/* test_clean_acompcor.c - strategy aCompCorWMCSF (XCP-D's "acompcor") picks
 * 6 motion parameters + derivatives, the first acompcor_n retained WM and
 * CSF components by the Mask that fMRIPrep's confounds JSON gives each
 * CompCor column (in table order), and every cosine_XX column; tCompCor,
 * combined-mask and not-retained components are left out.  A missing JSON
 * or a tissue without components is a one-line error naming the JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/clean.h"
#include "brainstage/log.h"
#include "testutil.h"

static int warnings;

static void count_warnings(bs_log_level level, const char *message, void *user)
{
    (void)message;
    (void)user;
    warnings += level == BS_LOG_WARN;
}

/* Columns in fMRIPrep's order: motion (+derivatives), CompCor of every kind, cosines. */
static const char *const columns[] = {
    "trans_x", "trans_x_derivative1", "trans_y", "trans_y_derivative1", "trans_z", "trans_z_derivative1",
    "rot_x", "rot_x_derivative1", "rot_y", "rot_y_derivative1", "rot_z", "rot_z_derivative1",
    "t_comp_cor_00", "t_comp_cor_01",
    "a_comp_cor_00", "a_comp_cor_01", "a_comp_cor_02",                  /* CSF */
    "a_comp_cor_03", "a_comp_cor_04", "a_comp_cor_05", "a_comp_cor_06", /* WM; 05 not retained */
    "a_comp_cor_07", "a_comp_cor_08", "a_comp_cor_09",                  /* WM */
    "a_comp_cor_10", "a_comp_cor_11",                                   /* combined */
    "cosine00", "cosine01", "framewise_displacement",
};
#define NCOL ((int)(sizeof columns / sizeof columns[0]))

static void write_tsv(const char *path, int rows)
{
    FILE *f = fopen(path, "w");
    for (int c = 0; c < NCOL; c++)
        fprintf(f, "%s%c", columns[c], c + 1 < NCOL ? '\t' : '\n');
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < NCOL; c++) {
            int derivative = strstr(columns[c], "_derivative1") || !strcmp(columns[c], "framewise_displacement");
            if (r == 0 && derivative)
                fputs("n/a", f);
            else
                fprintf(f, "%.4f", 0.01 * ((r * 7 + c * 3) % 11) + 0.001 * c);
            fputc(c + 1 < NCOL ? '\t' : '\n', f);
        }
    fclose(f);
}

/* The JSON fMRIPrep writes next to the table; wm = 0 leaves out every WM entry. */
static void write_json(const char *path, int wm)
{
    FILE *f = fopen(path, "w");
    fputs("{\n", f);
    fputs("  \"t_comp_cor_00\": {\"Method\": \"tCompCor\", \"Retained\": true},\n", f);
    fputs("  \"t_comp_cor_01\": {\"Method\": \"tCompCor\", \"Retained\": true},\n", f);
    for (int k = 0; k <= 11; k++) {
        const char *mask = k <= 2 ? "CSF" : k <= 9 ? "WM" : "combined";
        if (!wm && !strcmp(mask, "WM"))
            continue;
        fprintf(f, "  \"a_comp_cor_%02d\": {\"Method\": \"aCompCor\", \"Mask\": \"%s\", \"Retained\": %s, "
                   "\"VarianceExplained\": 0.1},\n", k, mask, k == 5 ? "false" : "true");
    }
    fputs("  \"dropped_0\": {\"Method\": \"aCompCor\", \"Mask\": \"WM\", \"Retained\": false}\n}\n", f);
    fclose(f);
}

int main(void)
{
    bs_log_set_handler(count_warnings, NULL);
    char dir[] = "/tmp/bs_acompcor.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char tsv[256], json[256];
    snprintf(tsv, sizeof tsv, "%s/sub-01_task-rest_desc-confounds_timeseries.tsv", dir);
    snprintf(json, sizeof json, "%s/sub-01_task-rest_desc-confounds_timeseries.json", dir);
    write_tsv(tsv, 40);
    bs_error err = {0};

    /* No JSON: the split strategy cannot know the tissue of a component. */
    bs_confounds *c = bs_confounds_load(tsv, BS_CLEAN_ACOMPCOR_WMCSF, NULL, 5, &err);
    CHECK_MSG(!c && err.code == BS_ERR_IO && strstr(err.message, json) && strstr(err.message, "Mask") &&
              !strchr(err.message, '\n'), "missing JSON: %s", err.message);
    printf("ok: missing JSON -> %s\n", err.message);

    write_json(json, 1);
    bs_clean_strategy s;
    CHECK_MSG(bs_clean_strategy_parse("acompcorwmcsf", &s, &err) == BS_OK && s == BS_CLEAN_ACOMPCOR_WMCSF,
          "parse: %s", err.message);
    warnings = 0;
    c = bs_confounds_load(tsv, BS_CLEAN_ACOMPCOR_WMCSF, NULL, 5, &err);
    static const char *const want[] = {
        "trans_x", "trans_x_derivative1", "trans_y", "trans_y_derivative1", "trans_z", "trans_z_derivative1",
        "rot_x", "rot_x_derivative1", "rot_y", "rot_y_derivative1", "rot_z", "rot_z_derivative1",
        "a_comp_cor_03", "a_comp_cor_04", "a_comp_cor_06", "a_comp_cor_07", "a_comp_cor_08", /* WM, 05 dropped */
        "a_comp_cor_00", "a_comp_cor_01", "a_comp_cor_02",                                   /* only 3 CSF */
        "cosine00", "cosine01",
    };
    int n_want = (int)(sizeof want / sizeof want[0]);
    CHECK_MSG(c && c->n_cols == n_want, "selected %d columns, want %d (%s)", c ? c->n_cols : -1, n_want, err.message);
    for (int i = 0; c && i < c->n_cols && i < n_want; i++)
        CHECK_MSG(!strcmp(c->names[i], want[i]), "column %d: %s, want %s", i, c->names[i], want[i]);
    CHECK_MSG(warnings == 1, "one warning for 3 < 5 CSF components, got %d", warnings);
    CHECK_MSG(c && c->n_rows == 40 && c->values[0 * c->n_cols + 1] == 0.0 && c->fd && c->fd[0] == 0.0,
          "first-row n/a -> 0");
    bs_confounds_free(c);
    printf("ok: aCompCorWMCSF selects 12 motion, 5 WM, 3 CSF, 2 cosine columns\n");

    /* acompcor_n per tissue. */
    c = bs_confounds_load(tsv, BS_CLEAN_ACOMPCOR_WMCSF, NULL, 2, &err);
    CHECK_MSG(c && c->n_cols == 12 + 2 + 2 + 2 && !strcmp(c->names[13], "a_comp_cor_04") &&
              !strcmp(c->names[15], "a_comp_cor_01"), "acompcor_n 2: %d columns (%s)", c ? c->n_cols : -1,
          err.message);
    bs_confounds_free(c);

    /* A tissue without components: error naming the JSON and the mask. */
    write_json(json, 0);
    c = bs_confounds_load(tsv, BS_CLEAN_ACOMPCOR_WMCSF, NULL, 5, &err);
    CHECK_MSG(!c && err.code == BS_ERR_FORMAT && strstr(err.message, "\"Mask\": \"WM\"") && strstr(err.message, json),
          "no WM: %s", err.message);
    printf("ok: no WM components -> %s\n", err.message);

    /* The plain strategy is unchanged: the first n a_comp_cor, no metadata. */
    c = bs_confounds_load(tsv, BS_CLEAN_ACOMPCOR, NULL, 5, &err);
    CHECK_MSG(c && c->n_cols == 17 && !strcmp(c->names[12], "a_comp_cor_00") && !strcmp(c->names[16], "a_comp_cor_04"),
          "aCompCor: %d columns (%s)", c ? c->n_cols : -1, err.message);
    bs_confounds_free(c);

    unlink(tsv);
    unlink(json);
    rmdir(dir);
    return TEST_RESULT();
}
