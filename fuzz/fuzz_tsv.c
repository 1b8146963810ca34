/* fuzz_tsv.c - every reader of tab-separated tables on arbitrary bytes:
 * the generic TSV reader and its numeric accessor, fMRIPrep confounds (36P,
 * aCompCor and a custom column list taken from the file's own header), BIDS
 * participants.tsv labels, feature tables and atlas label tables (_dseg.tsv).
 * The header names are reused as the columns asked for, so the fuzzer can
 * reach the value-parsing paths, not only "no such column". */
#include "fuzz_common.h"

#include "brainstage/atlas.h"
#include "brainstage/clean.h"
#include "brainstage/eval.h"
#include "brainstage/tsv.h"

#define MAX_IDS 8

static void generic(const char *path)
{
    bs_error err = {0};
    bs_tsv *t = bs_tsv_read(path, &err);
    if (!t) {
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        return;
    }
    double *col = malloc(sizeof(double) * (size_t)(t->n_rows ? t->n_rows : 1));
    if (!col)
        abort();
    for (int c = 0; c < t->n_cols; c++) {
        int rc = bs_tsv_column_double(t, t->header[c], col, &err);
        fuzz_check_error(rc, &err);
        if (bs_tsv_column(t, t->header[c]) < 0)
            abort(); /* a header name must be found */
    }
    if (t->n_rows > 0 && !bs_tsv_cell(t, t->n_rows - 1, t->n_cols - 1))
        abort();
    if (bs_tsv_cell(t, t->n_rows, 0) || bs_tsv_cell(t, 0, t->n_cols))
        abort(); /* out of range must be NULL */
    free(col);
    bs_tsv_free(t);
}

static void confounds(const char *path, const char *custom)
{
    static const bs_clean_strategy strategies[] = {BS_CLEAN_36P, BS_CLEAN_ACOMPCOR, BS_CLEAN_CUSTOM};
    for (size_t i = 0; i < sizeof strategies / sizeof *strategies; i++) {
        bs_error err = {0};
        bs_confounds *c = bs_confounds_load(path, strategies[i], custom, 3, &err);
        if (!c)
            fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        bs_confounds_free(c);
    }
}

static void participants(const char *path, const bs_tsv *t)
{
    /* ids: the first rows' participant_id cells, plus one that is absent */
    const char *ids[MAX_IDS + 1];
    int64_t n = 0;
    int id_col = bs_tsv_column(t, "participant_id");
    for (int64_t r = 0; id_col >= 0 && r < t->n_rows && n < MAX_IDS; r++)
        ids[n++] = bs_tsv_cell(t, r, id_col);
    const char *column = t->header[t->n_cols - 1];
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            ids[n++] = "sub-notlisted";
        for (int kind = BS_LABELS_AUTO; kind <= BS_LABELS_CONTINUOUS; kind++) {
            bs_error err = {0};
            bs_labels l;
            int rc = bs_labels_from_participants(path, column, (bs_label_kind)kind, ids, n, &l, &err);
            fuzz_check_error(rc, &err);
            if (rc == BS_OK)
                bs_labels_free(&l);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    if (!path)
        path = fuzz_path("table.tsv");
    fuzz_write(path, data, size);
    generic(path);

    bs_error err = {0};
    bs_tsv *t = bs_tsv_read(path, &err);
    if (!t)
        return 0;
    /* custom confound list: the first two header names */
    char custom[256];
    snprintf(custom, sizeof custom, "%.100s%s%.100s", t->header[0], t->n_cols > 1 ? "," : "",
             t->n_cols > 1 ? t->header[1] : "");
    confounds(path, custom);
    participants(path, t);
    bs_tsv_free(t);

    bs_features f = {0};
    int rc = bs_features_read(path, &f, &err);
    fuzz_check_error(rc, &err);
    if (rc == BS_OK)
        bs_features_free(&f);

    bs_atlas_labels *l = bs_atlas_labels_read(path, &err);
    if (!l)
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
    bs_atlas_labels_free(l);
    return 0;
}
