/* test_atlas_catalog.c - atlas descriptors, label tables and mask naming:
 * short names resolve through $BRAINSTAGE_DATA_DIR/atlases, user folders on
 * $BRAINSTAGE_ATLAS_PATH come first, malformed descriptors and tables fail
 * with messages naming file and line/row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/atlas.h"

static int failures = 0;

#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (!(cond)) {                                          \
            failures++;                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                       \
            fprintf(stderr, "\n");                              \
        }                                                       \
    } while (0)

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static void expect_error(const char *desc_text, const char *needle, const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.atlas", dir);
    write_file(path, desc_text);
    bs_atlas_spec s;
    bs_error err = {0};
    int rc = bs_atlas_resolve(path, NULL, &s, &err);
    CHECK(rc == BS_ERR_FORMAT && strstr(err.message, needle) && strstr(err.message, path),
          "descriptor %s: expected a format error with '%s', got %d '%s'", desc_text, needle, rc, err.message);
    if (!rc)
        bs_atlas_spec_free(&s);
}

int main(void)
{
    const char *srcdir = getenv("top_srcdir");
    if (!srcdir || !getenv("BRAINSTAGE_DATA_DIR")) {
        fprintf(stderr, "run through make check (needs top_srcdir and BRAINSTAGE_DATA_DIR)\n");
        return 1;
    }
    bs_error err = {0};
    bs_atlas_spec s;

    /* Shipped descriptors. */
    CHECK(bs_atlas_resolve("AAL", NULL, &s, &err) == BS_OK, "aal: %s", err.message);
    CHECK(s.image && strcmp(s.image, "/usr/share/mricron/templates/aal.nii.gz") == 0, "aal image %s", s.image);
    CHECK(s.labels && strstr(s.labels, "atlases/aal_dseg.tsv"), "aal labels %s", s.labels);
    CHECK(strcmp(s.bids_name, "AAL") == 0 && strcmp(s.type, "label") == 0, "aal bids/type");
    bs_atlas_labels *l = bs_atlas_labels_read(s.labels, &err);
    CHECK(l && l->n == 116 && l->index[0] == 1 && strcmp(l->name[0], "Precentral_L") == 0 &&
          strcmp(l->name[115], "Vermis_10") == 0, "aal table: %s", l ? "wrong rows" : err.message);
    bs_atlas_labels_free(l);
    bs_atlas_spec_free(&s);

    char **names = NULL;
    int n = 0;
    CHECK(bs_atlas_list(&names, &n, &err) == BS_OK && n >= 6, "list: %d", n);
    const char *want[] = {"aal", "aicha", "brodmann", "harvardoxford", "jhu", "jhu2mm"};
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int found = 0;
        for (int i = 0; i < n; i++)
            found |= strcmp(names[i], want[w]) == 0;
        CHECK(found, "atlas %s not listed", want[w]);
        CHECK(bs_atlas_resolve(want[w], NULL, &s, &err) == BS_OK, "%s: %s", want[w], err.message);
        bs_atlas_labels *t = s.labels ? bs_atlas_labels_read(s.labels, &err) : NULL;
        CHECK(t && t->n > 0, "%s labels: %s", want[w], err.message);
        CHECK(access(s.image, R_OK) == 0, "%s: image %s missing (mricron-data installed?)", want[w], s.image);
        bs_atlas_labels_free(t);
        bs_atlas_spec_free(&s);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);

    /* Unknown names list the known ones. */
    CHECK(bs_atlas_resolve("nosuch", NULL, &s, &err) == BS_ERR_USAGE && strstr(err.message, "known: aal"),
          "unknown: %s", err.message);

    /* A path is used as is; labels= overrides. */
    CHECK(bs_atlas_resolve("/x/my-atlas_v2.nii.gz", "/x/t.tsv", &s, &err) == BS_OK, "path: %s", err.message);
    CHECK(strcmp(s.name, "my-atlas_v2") == 0 && strcmp(s.bids_name, "myatlasv2") == 0 &&
          strcmp(s.labels, "/x/t.tsv") == 0, "path spec %s %s %s", s.name, s.bids_name, s.labels);
    bs_atlas_spec_free(&s);

    /* User folder first on the search path; relative paths from the descriptor's folder. */
    char dir[] = "/tmp/bs_atlas_cat_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[512];
    snprintf(path, sizeof path, "%s/aal.atlas", dir);
    write_file(path, "# shadows the shipped one\nimage = mine.nii.gz\nlabels=mine.tsv\ntype = prob\n");
    setenv("BRAINSTAGE_ATLAS_PATH", dir, 1);
    CHECK(bs_atlas_resolve("aal", NULL, &s, &err) == BS_OK, "user aal: %s", err.message);
    char expect_img[600];
    snprintf(expect_img, sizeof expect_img, "%s/mine.nii.gz", dir);
    CHECK(strcmp(s.image, expect_img) == 0 && strcmp(s.type, "prob") == 0 && strcmp(s.name, "aal") == 0,
          "user aal image %s type %s", s.image, s.type);
    bs_atlas_spec_free(&s);
    unsetenv("BRAINSTAGE_ATLAS_PATH");
    remove(path);

    expect_error("image = x.nii\ncolour = red\n", "unknown key 'colour'", dir);
    expect_error("image = x.nii\ntype = fuzzy\n", "type: expected label or prob", dir);
    expect_error("labels = x.tsv\n", "missing key 'image'", dir);
    expect_error("image x.nii\n", ":1: expected key = value", dir);
    expect_error("image = x.nii\nbids_name = My-Atlas\n", "bids_name 'My-Atlas': a BIDS atlas label", dir);

    /* BIDS labels for atlas=PATH: the atlas-/seg- entity, else the stem's letters and digits. */
    static const char *const from_path[][2] = {
        {"/a/tpl-MNI152NLin6Asym_atlas-Schaefer400_res-2_dseg.nii.gz", "Schaefer400"},
        {"/a/sub-01_space-MNI_seg-Gordon_dseg.nii", "Gordon"},
        {"/a/atlas-4S156Parcels_dseg.nii.gz", "4S156Parcels"},
        {"/a/atlas-4S_156_dseg.nii.gz", "atlas4S156dseg"},
        {"/a/my_atlas-v2.nii.gz", "myatlasv2"},
        {"/a/___.nii.gz", "custom"},
    };
    for (size_t k = 0; k < sizeof from_path / sizeof from_path[0]; k++) {
        char *label = bs_atlas_label_from_path(from_path[k][0]);
        CHECK(label && strcmp(label, from_path[k][1]) == 0, "label of %s: %s, want %s", from_path[k][0],
              label ? label : "(null)", from_path[k][1]);
        free(label);
    }
    CHECK(bs_atlas_resolve("/x/tpl-MNI_atlas-Tian_dseg.nii.gz", NULL, &s, &err) == BS_OK &&
              strcmp(s.bids_name, "Tian") == 0, "path with atlas- entity: %s", s.bids_name);
    bs_atlas_spec_free(&s);
    CHECK(bs_atlas_label_check("Schaefer400", "atlas_name", &err) == BS_OK, "valid label rejected");
    CHECK(bs_atlas_label_check("my_atlas", "atlas_name", &err) == BS_ERR_USAGE &&
              strstr(err.message, "atlas_name 'my_atlas'"), "bad label: %s", err.message);
    CHECK(bs_atlas_label_check("", "atlas_name", &err) == BS_ERR_USAGE, "empty label accepted");
    bs_atlas_naming naming = {"", "legacy", NULL};
    CHECK(bs_atlas_naming_check(&naming, &err) == BS_ERR_USAGE && strstr(err.message, "naming 'legacy'"),
          "naming: %s", err.message);

    /* Label tables. */
    snprintf(path, sizeof path, "%s/t.tsv", dir);
    write_file(path, "index\tname\tcolor\n0\tBackground\t0\n3\tThree\tred\n1\tOne\tblue\n");
    l = bs_atlas_labels_read(path, &err);
    CHECK(l && l->n == 2 && l->index[0] == 3 && strcmp(l->name[1], "One") == 0, "table: %s", err.message);
    bs_atlas_labels_free(l);
    write_file(path, "idx\tname\n1\tA\n");
    CHECK(!bs_atlas_labels_read(path, &err) && strstr(err.message, "'index' and 'name'"), "no index: %s", err.message);
    write_file(path, "index\tname\n1\tA\n1\tB\n");
    CHECK(!bs_atlas_labels_read(path, &err) && strstr(err.message, "row 3: index 1 appears twice"), "dup: %s",
          err.message);
    write_file(path, "index\tname\nx1\tA\n");
    CHECK(!bs_atlas_labels_read(path, &err) && strstr(err.message, "row 2, column 'index'"), "bad index: %s",
          err.message);
    remove(path);
    rmdir(dir);

    /* fMRIPrep mask names. */
    char *m = bs_atlas_bold_mask_path("/d/sub-1_task-rest_space-MNI_res-2_desc-preproc_bold.nii.gz");
    CHECK(m && strcmp(m, "/d/sub-1_task-rest_space-MNI_res-2_desc-brain_mask.nii.gz") == 0, "mask %s", m);
    free(m);
    m = bs_atlas_bold_mask_path("/d/sub-1_task-rest_bold.nii");
    CHECK(m && strcmp(m, "/d/sub-1_task-rest_desc-brain_mask.nii") == 0, "mask %s", m);
    free(m);
    CHECK(bs_atlas_bold_mask_path("/d/functional.nii.gz") == NULL, "non-BIDS name gives NULL");

    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        printf("atlas catalog: all checks passed\n");
    return failures ? 1 : 0;
}
