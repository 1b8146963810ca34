/* brainstage/atlas.h - atlases, parcellations on the BOLD grid, and the
 * streaming ROI reducer behind the atlas-label/-prob/-grid stages.
 *
 * Flow: resolve an atlas (short name through a descriptor, or a path) ->
 * build a bs_parcellation on the BOLD grid (atlas resampled ONCE through both
 * world affines; optional brain mask; per-ROI coverage) -> bs_parcellate()
 * streams the BOLD run one volume at a time and returns T x R ROI means.
 * Memory: one or two BOLD volumes plus the parcellation (docs/atlases.md). */
#ifndef BRAINSTAGE_ATLAS_H
#define BRAINSTAGE_ATLAS_H

#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/nifti.h"
#include "brainstage/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- catalog ---------------------------------------------------------- */

typedef struct bs_atlas_spec {
    char *name;       /* short name ("aal") or the file stem of a path */
    char *bids_name;  /* value for the BIDS atlas- entity ("AAL") */
    char *image;      /* NIfTI path */
    char *labels;     /* label table (.tsv with index,name) or NULL */
    char *type;       /* "label" or "prob" */
    char *space;      /* free text from the descriptor, or NULL */
    char *descriptor; /* descriptor file used, or NULL for a direct path */
} bs_atlas_spec;

/* Folders searched for <name>.atlas descriptors, colon-separated:
 * $BRAINSTAGE_ATLAS_PATH, $BRAINSTAGE_DATA_DIR/atlases, the installed
 * $(pkgdatadir)/atlases.  Static storage. */
const char *bs_atlas_search_path(void);
/* name_or_path: a short name resolved through descriptors, a descriptor
 * file (*.atlas), or a NIfTI path.  labels (may be NULL/"") overrides the
 * descriptor's table.  Unknown names list the available ones. */
int bs_atlas_resolve(const char *name_or_path, const char *labels, bs_atlas_spec *out, bs_error *err);
void bs_atlas_spec_free(bs_atlas_spec *spec);
/* BIDS atlas label for a NIfTI path: the file's atlas- (or legacy seg-)
 * entity when it has one ("tpl-X_atlas-Schaefer400_dseg.nii.gz" ->
 * "Schaefer400"), else the file name without extension and without
 * non-alphanumeric characters ("my_atlas-v2.nii.gz" -> "myatlasv2"), else
 * "custom".  malloc'd; NULL when out of memory. */
char *bs_atlas_label_from_path(const char *path);
/* BS_OK when label is a valid BIDS label (non-empty, letters and digits);
 * else a usage error naming `what` (e.g. "atlas_name") and the value. */
int bs_atlas_label_check(const char *label, const char *what, bs_error *err);
/* Short names of every descriptor found (caller frees each and the array). */
int bs_atlas_list(char ***names, int *n, bs_error *err);

/* BIDS _dseg.tsv-style table: columns "index" and "name" (others ignored). */
typedef struct bs_atlas_labels {
    int n;
    int64_t *index;
    char **name;
} bs_atlas_labels;

bs_atlas_labels *bs_atlas_labels_read(const char *path, bs_error *err);
void bs_atlas_labels_free(bs_atlas_labels *l);

/* ---- resampling (core/resample.c) -------------------------------------- */

/* 4x4 map from target voxel (i,j,k,1) to source voxel coordinates:
 * inverse(source_affine) * target_affine.  Fails for a singular affine. */
int bs_voxel_map(const double source_affine[4][4], const double target_affine[4][4],
                 double map[4][4], const char *source_name, bs_error *err);
/* Nearest-neighbour labels of a source volume (float, integral values) on the
 * target grid: out[target nvox] (0 outside the source).  Rounding is
 * floor(c + 0.5) per axis. */
void bs_resample_nearest(const float *src, const int64_t src_dim[3], const double map[4][4],
                         const int64_t dst_dim[3], float *out);
/* Trilinear sample with zero outside the source (a neighbour beyond the
 * edge contributes 0). */
void bs_resample_trilinear(const float *src, const int64_t src_dim[3], const double map[4][4],
                           const int64_t dst_dim[3], float *out);

/* ---- parcellation on the BOLD grid --------------------------------------- */

typedef struct bs_parcellation {
    int64_t nvox;       /* BOLD voxels per volume */
    int n_rois;
    char **names;       /* n_rois */
    int64_t *index;     /* label value (label atlases), map number (prob), 1.. (grid) */
    int64_t n_entries;  /* (voxel, roi, weight) triples inside the mask, sorted by voxel */
    int64_t *voxel;
    int32_t *roi;
    float *weight;      /* NULL = every weight 1 */
    double *coverage;   /* n_rois: weight inside the mask / weight on the grid; 0 if none */
    int64_t *n_voxels;  /* n_rois: voxels used (inside the mask) */
    char *atlas_name;   /* for messages and the BIDS atlas- entity */
} bs_parcellation;

void bs_parcellation_free(bs_parcellation *p);

/* Loads a 3D mask (value > 0 = brain) that must lie on the BOLD grid (same
 * dims, affine within 1e-3 mm).  Returns nvox bytes. */
uint8_t *bs_mask_load(const char *path, const bs_nifti_header *bold, const char *bold_name,
                      bs_error *err);

/* Integer label atlas (3D).  ROIs: the table's rows (in table order) plus
 * any label present in the image but missing from the table (named by its
 * number, with a warning); without a table the image's nonzero labels in
 * increasing order.  Errors: no nonzero label; non-integral or negative
 * values; no overlap with the BOLD field of view. */
bs_parcellation *bs_parcellation_labels(const bs_nifti_header *bold, const char *bold_name,
                                        const bs_atlas_spec *atlas, const uint8_t *mask,
                                        bs_error *err);
/* Probabilistic atlas (4D, one map per ROI, weights >= 0; weights <=
 * threshold are dropped).  Names from the table's rows in order (row i =
 * map i), else "1".."R". */
bs_parcellation *bs_parcellation_prob(const bs_nifti_header *bold, const char *bold_name,
                                      const bs_atlas_spec *atlas, const uint8_t *mask,
                                      double threshold, bs_error *err);
/* Cubes of size_mm aligned to world coordinate 0, over the voxels of the
 * mask (every voxel when mask is NULL).  A cube is an ROI when at least one
 * of its voxels is in the mask; coverage = its voxels in the mask / its
 * voxels in the field of view. */
bs_parcellation *bs_parcellation_grid(const bs_nifti_header *bold, const char *bold_name,
                                      double size_mm, const uint8_t *mask, bs_error *err);

/* ---- streaming reduction ---------------------------------------------------- */

typedef struct bs_parcellate_stats {
    int64_t volumes;
    int64_t nan_values;      /* NaN voxel values skipped */
    int64_t nan_volumes;     /* volumes with at least one */
    int n_low_coverage;      /* ROIs set to NaN for coverage < min_coverage */
} bs_parcellate_stats;

/* Reads every volume of bold in order and returns [T, R] weighted ROI means
 * (sum w*x / sum w over the ROI's voxels, double accumulation).  NaN voxel
 * values are skipped (not counted in the denominator); an ROI whose voxels
 * are all NaN at a time point gets NaN there.  ROIs with coverage <
 * min_coverage are NaN columns.  prefetch: decompress in a second thread
 * while this one reduces.  Warnings (low coverage, NaNs) go to bs_log. */
bs_tensor *bs_parcellate(bs_nifti_reader *bold, const bs_parcellation *p, double min_coverage,
                         int prefetch, bs_parcellate_stats *stats, bs_error *err);

/* ---- helpers shared by the atlas stages (core/atlas_stage.c) -------------- */

struct bs_data;

/* fMRIPrep's brain mask for a BOLD path: "_desc-preproc_bold.nii[.gz]" (or
 * "_bold.nii[.gz]") -> "_desc-brain_mask.nii[.gz]".  NULL if the name does
 * not look like a BIDS BOLD file.  Caller frees. */
char *bs_atlas_bold_mask_path(const char *bold_path);
/* mask parameter: "" or "none" (no mask), "auto" (the fMRIPrep mask next to
 * the BOLD file; an error if it is missing), or a path.  *mask = NULL when
 * none. */
int bs_atlas_load_mask(const char *param, const char *bold_path, const bs_nifti_header *bold,
                       uint8_t **mask, bs_error *err);
/* How the atlas stages name their output (parameters atlas_name, naming). */
typedef struct bs_atlas_naming {
    const char *label;   /* atlas_name: BIDS label overriding the atlas's own; NULL or "" = keep */
    const char *entity;  /* naming: "atlas" (current XCP-D) or "seg" (older XCP-D); NULL = "atlas" */
    const char *source;  /* the atlas image, recorded as attribute atlas_file; NULL for none */
} bs_atlas_naming;

/* Checks the naming parameters (at stage creation, before any data). */
int bs_atlas_naming_check(const bs_atlas_naming *naming, bs_error *err);
/* Streams the volume4d input through p and wraps the T x R result as a
 * timeseries bs_data: TR and attributes copied from the input, ROI names,
 * coverage, and attributes "atlas" (the BIDS label: naming->label if set,
 * else p->atlas_name), "atlas_entity" ("atlas-<label>" or "seg-<label>",
 * for output file names) and "atlas_file" (naming->source, if any). */
int bs_atlas_stage_output(const struct bs_data *bold, const bs_parcellation *p, double min_coverage,
                          int prefetch, const bs_atlas_naming *naming, struct bs_data **out, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
