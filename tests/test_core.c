/* test_core.c - tensors, errors, RNG streams, TSV, atomic files, BIDS names,
 * data attributes. */
#include "brainstage/bids.h"
#include "brainstage/blas.h"
#include "brainstage/data.h"
#include "brainstage/fileio.h"
#include "brainstage/rng.h"
#include "brainstage/tsv.h"
#include "testutil.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/bs-core-XXXXXX";

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    CHECK(fp != NULL);
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d)))
        n += de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."));
    if (d)
        closedir(d);
    return n;
}

static void test_tensor_and_errors(void)
{
    bs_error err;
    bs_tensor *t = bs_tensor_new_3d(2, 3, 4, &err);
    CHECK(t && bs_tensor_numel(t) == 24 && ((uintptr_t)t->data % 64) == 0);
    CHECK(t->data[23] == 0.0f);
    bs_tensor *c = bs_tensor_clone(t, &err);
    CHECK(c && c->shape[2] == 4);
    bs_tensor_free(c);
    bs_tensor_free(t);
    int64_t huge[2] = {INT64_MAX / 2, 4};
    CHECK(bs_tensor_new(2, huge, &err) == NULL && err.code == BS_ERR_NOMEM);
    int64_t neg[1] = {-1};
    CHECK(bs_tensor_new(1, neg, &err) == NULL);
    CHECK(bs_error_set(&err, BS_ERR_IO, "a\nb") == BS_ERR_IO);
    CHECK(!strcmp(err.message, "a b")); /* one line */
    bs_error_prefix(&err, "ctx %d: ", 1);
    CHECK(!strcmp(err.message, "ctx 1: a b"));
    CHECK(!strcmp(bs_status_name(BS_ERR_PIPELINE), "pipeline"));
}

static void test_rng(void)
{
    bs_rng *a = bs_rng_new(42), *b = bs_rng_new(42), *c = bs_rng_derive(42, 1), *d = bs_rng_derive(42, 2);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        double x = bs_rng_uniform(a), y = bs_rng_uniform(b);
        same &= x == y;
        differ |= bs_rng_uniform(c) != bs_rng_uniform(d);
        CHECK(x >= 0 && x < 1);
    }
    CHECK(same && differ);
    /* state save/restore reproduces the stream exactly */
    size_t n = bs_rng_state_size(a);
    void *saved = malloc(n);
    memcpy(saved, bs_rng_state(a), n);
    double first = bs_rng_gaussian(a, 1.0);
    CHECK(bs_rng_set_state(a, saved, n) == 0);
    CHECK(bs_rng_gaussian(a, 1.0) == first);
    free(saved);
    int32_t idx[10];
    for (int i = 0; i < 10; i++)
        idx[i] = i;
    bs_rng_partial_shuffle(a, idx, 10, 4);
    int seen[10] = {0};
    for (int i = 0; i < 10; i++)
        seen[idx[i]]++;
    for (int i = 0; i < 10; i++)
        CHECK(seen[i] == 1);
    CHECK(bs_rng_uniform_int(a, 1) == 0);
    bs_rng_free(a);
    bs_rng_free(b);
    bs_rng_free(c);
    bs_rng_free(d);
}

static void test_tsv(void)
{
    char path[512], out[512];
    bs_error err;
    snprintf(path, sizeof path, "%s/confounds.tsv", tmpdir);
    write_text(path, "trans_x\tframewise_displacement\tname\n0.1\tn/a\tx\n-2e-3\t0.25\ty\r\n");
    bs_tsv *t = bs_tsv_read(path, &err);
    CHECK_MSG(t != NULL, "%s", err.message);
    if (t) {
        CHECK(t->n_rows == 2 && t->n_cols == 3);
        double v[2];
        CHECK(bs_tsv_column_double(t, "framewise_displacement", v, &err) == 0);
        CHECK(isnan(v[0]) && v[1] == 0.25);
        CHECK(bs_tsv_column_double(t, "trans_x", v, &err) == 0 && v[1] == -2e-3);
        CHECK(bs_tsv_column_double(t, "name", v, &err) == BS_ERR_FORMAT);
        CHECK_CONTAINS(err.message, "row 2, column 'name': expected a number or n/a, found 'x'");
        CHECK(bs_tsv_column_double(t, "missing", v, &err) == BS_ERR_DATA);
        CHECK(!strcmp(bs_tsv_cell(t, 1, 2), "y"));
        bs_tsv_free(t);
    }
    write_text(path, "a\tb\n1\t2\n3\n");
    CHECK(bs_tsv_read(path, &err) == NULL);
    CHECK_CONTAINS(err.message, "row 3: expected 2 tab-separated columns, found 1");
    write_text(path, "");
    CHECK(bs_tsv_read(path, &err) == NULL && err.code == BS_ERR_FORMAT);
    CHECK(bs_tsv_read("/nonexistent.tsv", &err) == NULL && err.code == BS_ERR_IO);

    snprintf(out, sizeof out, "%s/m.tsv", tmpdir);
    float m[4] = {1.5f, NAN, -3.0f, 0.1f};
    const char *names[2] = {"r1", "r2"};
    CHECK(bs_tsv_write_matrix(out, 2, 2, m, names, "Node", names, &err) == 0);
    t = bs_tsv_read(out, &err);
    CHECK(t && t->n_cols == 3 && !strcmp(t->header[0], "Node") && !strcmp(bs_tsv_cell(t, 0, 2), "n/a"));
    CHECK(t && !strcmp(bs_tsv_cell(t, 1, 0), "r2") && (float)atof(bs_tsv_cell(t, 1, 2)) == 0.1f);
    bs_tsv_free(t);
}

static void test_atomic(void)
{
    char sub[512], final[512];
    bs_error err;
    snprintf(sub, sizeof sub, "%s/atomic", tmpdir);
    CHECK(bs_mkdirs(sub, &err) == 0);
    snprintf(final, sizeof final, "%s/out.nii.gz", sub);
    bs_atomic_file f;
    CHECK(bs_atomic_open(&f, final, &err) == 0);
    CHECK(strstr(f.temp_path, "out.nii.gz") != NULL); /* extension kept for writers */
    fputs("partial", f.fp);
    CHECK(access(final, F_OK) != 0); /* nothing under the final name yet */
    bs_atomic_abort(&f);
    CHECK(count_entries(sub) == 0);  /* and no temporary left behind */
    CHECK(bs_atomic_open(&f, final, &err) == 0);
    fputs("complete", f.fp);
    CHECK(bs_atomic_commit(&f, &err) == 0);
    CHECK(access(final, F_OK) == 0 && count_entries(sub) == 1);
    bs_pending_file pf;
    char deep[600];
    snprintf(deep, sizeof deep, "%s/a/b/c.tsv", sub);
    CHECK(bs_pending_prepare(&pf, deep, &err) == 0); /* creates folders */
    write_text(pf.temp_path, "x\n");
    CHECK(access(deep, F_OK) != 0);
    CHECK(bs_pending_commit(&pf, &err) == 0 && access(deep, F_OK) == 0);
    bs_pending_discard(&pf);
    CHECK(bs_pending_prepare(&pf, deep, &err) == 0);
    bs_pending_discard(&pf); /* a discarded output leaves the old file and no temp */
    char dir_ab[600];
    snprintf(dir_ab, sizeof dir_ab, "%s/a/b", sub);
    CHECK(count_entries(dir_ab) == 1);
    CHECK(bs_atomic_open(&f, "/nonexistent-dir/x.tsv", &err) == BS_ERR_IO);
    CHECK_CONTAINS(err.message, "/nonexistent-dir/x.tsv: cannot create a temporary file");
}

static void test_bids(void)
{
    const char *bold = "/d/sub-01/func/sub-01_ses-2_task-rest_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz";
    char *s = bs_bids_sidecar_path(bold);
    CHECK(s && !strcmp(s, "/d/sub-01/func/sub-01_ses-2_task-rest_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.json"));
    free(s);
    s = bs_bids_entities(bold);
    CHECK(s && !strcmp(s, "sub-01_ses-2_task-rest_space-MNI152NLin2009cAsym_res-2"));
    free(s);
    s = bs_bids_entity(bold, "space");
    CHECK(s && !strcmp(s, "MNI152NLin2009cAsym"));
    free(s);
    CHECK(bs_bids_entity(bold, "run") == NULL);
    CHECK(bs_bids_entities("/x/functional.nii.gz") == NULL);
    CHECK(bs_bids_sidecar_path("x.tsv") == NULL);
    char json[512];
    bs_error err;
    double tr = 0;
    int found = 0;
    snprintf(json, sizeof json, "%s/bold.json", tmpdir);
    write_text(json, "{\"RepetitionTime\": 0.72, \"TaskName\": \"rest\"}");
    CHECK(bs_bids_read_tr(json, &tr, &found, &err) == 0 && found && tr == 0.72);
    write_text(json, "{\"TaskName\": \"rest\"}");
    CHECK(bs_bids_read_tr(json, &tr, &found, &err) == 0 && !found);
    write_text(json, "{\"RepetitionTime\": -1}");
    CHECK(bs_bids_read_tr(json, &tr, &found, &err) == BS_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "RepetitionTime must be a positive number");
    write_text(json, "{\"RepetitionTime\": ");
    CHECK(bs_bids_read_tr(json, &tr, &found, &err) == BS_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "invalid JSON");
}

static void test_data(void)
{
    bs_error err;
    bs_data *d = bs_data_new(BS_PORT_TIMESERIES, bs_tensor_new_2d(3, 2, &err), &err);
    CHECK(d != NULL);
    CHECK(bs_data_set_attr(d, "entities", "sub-01_task-rest", &err) == 0);
    CHECK(bs_data_set_attr(d, "atlas", "aal", &err) == 0);
    CHECK(bs_data_set_attr(d, "atlas", "AAL", &err) == 0);
    CHECK(d->n_attrs == 2 && !strcmp(bs_data_get_attr(d, "atlas"), "AAL"));
    char *p = bs_data_format(d, "/o/{entities}_atlas-{atlas}_{{x}.tsv", &err);
    CHECK(p && !strcmp(p, "/o/sub-01_task-rest_atlas-AAL_{x}.tsv"));
    free(p);
    CHECK(bs_data_format(d, "{nope}.tsv", &err) == NULL);
    CHECK_CONTAINS(err.message, "the data has no attribute {nope}");
    CHECK(bs_data_format(d, "{open", &err) == NULL);
    const char *labels[] = {"L", "R"};
    double cov[] = {1.0, 0.25};
    CHECK(bs_data_set_labels(d, 2, labels, &err) == 0 && bs_data_set_coverage(d, 2, cov, &err) == 0);
    bs_data *e = bs_data_new(BS_PORT_MATRIX, bs_tensor_new_2d(2, 2, &err), &err);
    d->tr = 2.5;
    CHECK(bs_data_copy_meta(e, d, &err) == 0);
    CHECK(e->tr == 2.5 && e->n_labels == 2 && e->coverage[1] == 0.25 && !strcmp(bs_data_get_attr(e, "atlas"), "AAL"));
    CHECK(bs_port_kind_parse("matrix_batch") == BS_PORT_MATRIX_BATCH && bs_port_kind_parse("x") == BS_PORT_NONE);
    bs_data_free(d);
    bs_data_free(e);
}

/* The automatic kernel choice never overrides the user's OPENBLAS_CORETYPE and
 * only names families OpenBLAS 0.3.21+ knows. */
static void test_blas_choice(void)
{
    const char *name = bs_blas_corename();
    CHECK(name && *name);
    char *saved = getenv("OPENBLAS_CORETYPE") ? strdup(getenv("OPENBLAS_CORETYPE")) : NULL;
    setenv("OPENBLAS_CORETYPE", "Prescott", 1);
    CHECK(bs_blas_better_coretype() == NULL);
    unsetenv("OPENBLAS_CORETYPE");
    const char *better = bs_blas_better_coretype();
    CHECK_MSG(!better || !strcmp(better, "Haswell") || !strcmp(better, "SkylakeX"), "%s", better);
    /* Once OpenBLAS runs the AVX2/AVX-512 kernels there is nothing to raise. */
    if (!strcmp(name, "SkylakeX") || !strcmp(name, "Haswell"))
        CHECK(better == NULL);
    if (saved)
        setenv("OPENBLAS_CORETYPE", saved, 1);
    free(saved);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_tensor_and_errors();
    test_rng();
    test_tsv();
    test_atomic();
    test_bids();
    test_data();
    test_blas_choice();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", tmpdir);
    return TEST_RESULT();
}
