/* brainstage/simulate_internal.h - pieces shared by core/simulate*.c (not
 * installed): the 2 mm MNI grid with its atlas and tissue classes, and the
 * per-subject generative model. */
#ifndef BRAINSTAGE_SIMULATE_INTERNAL_H
#define BRAINSTAGE_SIMULATE_INTERNAL_H

#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/rng.h"
#include "brainstage/simulate.h"

/* FSL's MNI152 2 mm grid size, RAS+ axes (x from -90 mm, y from -126 mm,
 * z from -72 mm, 2 mm steps). */
#define BS_SIM_NX 91
#define BS_SIM_NY 109
#define BS_SIM_NZ 91

enum { BS_TISSUE_NONE = 0, BS_TISSUE_GM = 1, BS_TISSUE_WM = 2, BS_TISSUE_CSF = 3 };

typedef struct bs_sim_space {
    double affine[4][4];
    int64_t nvox;           /* NX*NY*NZ */
    int32_t *label;         /* per voxel: ROI index + 1, 0 = none */
    uint8_t *tissue;        /* per voxel: BS_TISSUE_* */
    float *baseline;        /* per voxel: mean intensity (0 outside the brain) */
    float *gain;            /* per voxel: loading of the ROI signal */
    int64_t n_brain;
    int64_t *brain;         /* indices of brain voxels, ascending */
    int n_rois;
    char **roi_names;       /* n_rois */
    int *network;           /* n_rois: latent network of each ROI */
    uint8_t *planted;       /* n_rois: 1 when the ROI takes part in the planted group difference */
    int64_t *roi_voxels;    /* n_rois: voxel counts */
} bs_sim_space;

/* Builds the grid, brain mask, tissues and atlas (from c->atlas_path,
 * resampled by nearest neighbour through the affines, or procedural). */
int bs_sim_space_build(const bs_sim_config *c, bs_sim_space *s, bs_error *err);
void bs_sim_space_free(bs_sim_space *s);

/* One subject's signals, all n_volumes long. */
typedef struct bs_sim_subject {
    int index;                 /* 0-based */
    int patient;               /* group label */
    int64_t T;
    int R;
    float *roi_signal;         /* T x R noise-free ROI BOLD (ground truth) */
    float *roi_observed;       /* T x R roi_signal + ROI-specific noise (what the voxels carry) */
    double *truth;             /* R x R true correlation of roi_signal */
    double *motion;            /* T x 6: trans_x,y,z (mm), rot_x,y,z (rad) */
    double *fd;                /* T: framewise displacement, fd[0] = 0 */
    double *physio;            /* T: global physiological fluctuation (unit variance) */
    double *artefact;          /* T: motion artefact (signal units) */
    double *drift;             /* T: scanner drift (signal units) */
    uint64_t noise_seed;       /* seed of the voxel-noise stream */
} bs_sim_subject;

int bs_sim_subject_generate(const bs_sim_config *c, const bs_sim_space *s, int index, bs_sim_subject *subj,
                            bs_error *err);
void bs_sim_subject_free(bs_sim_subject *subj);

/* Canonical double-gamma HRF (SPM: peak 6 s, undershoot 16 s, ratio 1/6)
 * sampled at t = 0, tr, 2tr, ... up to 32 s; returns the number of taps
 * written to h (at most max_taps), normalised to sum 1. */
int bs_sim_hrf(double tr, double *h, int max_taps);

/* a_comp_cor-style components: vox is column-major T x n_vox (each voxel's
 * series contiguous; detrended in place); out gets T x n_comp, row-major. */
int bs_sim_compcor(double *vox, int64_t T, int64_t n_vox, int n_comp, double *out, bs_error *err);

#endif
