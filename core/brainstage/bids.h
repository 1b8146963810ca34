/* brainstage/bids.h - BIDS file-name entities and JSON sidecars. */
#ifndef BRAINSTAGE_BIDS_H
#define BRAINSTAGE_BIDS_H

#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "…/sub-01_task-rest_desc-preproc_bold.nii.gz" -> "…/sub-01_task-rest_desc-preproc_bold.json".
 * malloc'd; NULL when path has no NIfTI extension. */
char *bs_bids_sidecar_path(const char *nifti_path);

/* Value of entity key ("sub", "task", "space", ...) in a BIDS file name,
 * malloc'd, or NULL when absent. */
char *bs_bids_entity(const char *path, const char *key);

/* The entity prefix that names outputs derived from path: every key-value
 * pair of the base name except desc (e.g. "sub-01_ses-1_task-rest_space-MNI152NLin2009cAsym_res-2").
 * malloc'd; NULL when the name has no sub- entity. */
char *bs_bids_entities(const char *path);

/* Reads RepetitionTime (seconds) from a BIDS JSON sidecar.  Returns BS_OK
 * and sets *found = 0 when the key is absent; errors name the file and the
 * field for invalid JSON or a non-positive/non-numeric value. */
int bs_bids_read_tr(const char *json_path, double *tr, int *found, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
