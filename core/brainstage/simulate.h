/* brainstage/simulate.h - an fMRIPrep-shaped synthetic dataset with known
 * ground truth (`brainstage simulate`).
 *
 * For each subject the simulator writes, under out_dir:
 *   sub-XX/func/sub-XX_task-rest_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.nii.gz
 *   sub-XX/func/sub-XX_task-rest_space-MNI152NLin2009cAsym_res-2_desc-preproc_bold.json
 *   sub-XX/func/sub-XX_task-rest_space-MNI152NLin2009cAsym_res-2_desc-brain_mask.nii.gz
 *   sub-XX/func/sub-XX_task-rest_desc-confounds_timeseries.tsv
 *   sub-XX/func/sub-XX_task-rest_desc-groundtruth_timeseries.tsv  (ROI signals)
 *   sub-XX/func/sub-XX_task-rest_desc-groundtruth_relmat.tsv      (true coupling)
 * and dataset_description.json (DatasetType derivative), participants.tsv
 * (participant_id, group) and the atlas used, as
 *   atlas/atlas-<Name>_space-MNI152NLin2009cAsym_res-2_dseg.nii.gz + _dseg.tsv
 * (index, name, network).  The generative model is in docs/simulate.md. */
#ifndef BRAINSTAGE_SIMULATE_H
#define BRAINSTAGE_SIMULATE_H

#include <stdint.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_sim_config {
    const char *out_dir;      /* required; created if missing */
    int n_subjects;           /* default 20 */
    int n_volumes;            /* default 150 */
    double tr;                /* seconds, default 2.0 */
    uint64_t seed;            /* default 1 */
    int n_networks;           /* latent networks (blocks of ROIs), default 7 */
    double within_coupling;   /* true correlation of two ROIs in one network, default 0.4 */
    double effect_size;       /* added correlation between planted ROIs in group "patient", default 0.3 */
    double roi_noise;         /* ROI-specific noise sd relative to the unit-variance signal, default 0.3 */
    double voxel_noise;       /* voxel noise sd in units of the signal amplitude, default 2.0 */
    double motion_scale;      /* multiplies head motion (and its artefacts), default 1.0 */
    int n_dummy;              /* non-steady-state volumes at the start (flagged in the confounds), default 0 */
    const char *atlas_path;   /* integer label image in MNI space (any grid, e.g. mricron's aal.nii.gz);
                                 NULL = procedural grid atlas */
    const char *atlas_name;   /* BIDS atlas- entity, default "AAL" with atlas_path, "Grid" without */
    int grid_mm;              /* procedural atlas parcel edge in mm, default 20 */
    int float32;              /* 1: BOLD as float32; 0 (default): int16 (half the bytes, 4x faster gzip) */
    int threads;              /* subjects simulated in parallel (<= 0: OpenMP default) */
} bs_sim_config;

void bs_sim_config_init(bs_sim_config *c);

/* Writes the whole dataset; files appear atomically.  Deterministic for a
 * given config (including seed), whatever the thread count. */
int bs_simulate_dataset(const bs_sim_config *c, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
