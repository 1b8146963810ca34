/* simulate.c - writes the fMRIPrep-shaped synthetic derivatives folder.
 *
 * Voxel model, per volume t and brain voxel v of tissue k (docs/simulate.md):
 *   y_v(t) = base_v * dummy(t)
 *          + A * ( p_k physio(t) + m_k artefact(t) + drift(t) + g_v x_r(t) )
 *          + A * voxel_noise * n_v(t)
 * with A = 10 (1.25 % of grey-matter baseline 800), x_r the observed ROI
 * signal of the voxel's parcel (grey matter only), g_v in [0.7, 1.3] a fixed
 * voxel loading, (p, m) = (1, 1) grey, (0.5, 0.8) white, (2, 1.5) CSF, and
 * n_v unit-variance noise.  Voxel noise is the only bulk random draw
 * (V x T values), so it comes from a fast xoshiro256** stream per subject
 * (seeded from the subject's bs_rng stream) mapped to an Irwin-Hall(4)
 * approximate Gaussian; every model-level draw uses bs_rng.  A constant
 * "skull" shell surrounds the brain, outside the brain mask, so the BOLD is
 * not skull-stripped (as fMRIPrep's) and consumers must apply the mask.
 * Confounds (global_signal, csf, white_matter, dvars, a_comp_cor_XX) are
 * computed from the very values written. */
#include "brainstage/simulate.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nifti1.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "config.h"
#include "brainstage/fileio.h"
#include "brainstage/log.h"
#include "brainstage/nifti.h"
#include "brainstage/simulate_internal.h"
#include "brainstage/tensor.h"
#include "brainstage/tsv.h"

#define SIGNAL_AMPLITUDE 10.0
#define N_COMPCOR 6
#define SPACE_ENTITY "space-MNI152NLin2009cAsym_res-2"

void bs_sim_config_init(bs_sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->n_subjects = 20;
    c->n_volumes = 150;
    c->tr = 2.0;
    c->seed = 1;
    c->n_networks = 7;
    c->within_coupling = 0.4;
    c->effect_size = 0.3;
    c->roi_noise = 0.3;
    c->voxel_noise = 2.0;
    c->motion_scale = 1.0;
    c->n_dummy = 0;
    c->grid_mm = 20;
    c->float32 = 0;
    c->threads = 0;
}

/* ---- fast voxel noise ---------------------------------------------------- */

typedef struct xoshiro {
    uint64_t s[4];
} xoshiro;

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(xoshiro *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

static void xoshiro_seed(xoshiro *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = seed = bs_splitmix64(seed + 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1));
}

/* Sum of four 16-bit uniforms, centred and scaled to unit variance. */
static float noise_sample(xoshiro *g)
{
    uint64_t r = xoshiro_next(g);
    uint32_t sum = (uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) + (uint32_t)((r >> 32) & 0xffff) +
                   (uint32_t)(r >> 48);
    return (float)(((double)sum / 65536.0 - 2.0) * 1.7320508075688772);
}

/* ---- small writers ------------------------------------------------------- */

static int write_json(const char *path, json_t *obj, bs_error *err)
{
    if (!obj)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory building JSON", path);
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, path, err);
    if (!rc) {
        if (json_dumpf(obj, f.fp, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f.fp) == EOF) {
            bs_atomic_abort(&f);
            rc = bs_error_set(err, BS_ERR_IO, "%s: write failed", path);
        } else {
            rc = bs_atomic_commit(&f, err);
        }
    }
    json_decref(obj);
    return rc;
}

static char *join_path(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

/* bs_nifti_write gzips at zlib's default level 6; on noisy voxel data
 * level 1 is about four times faster for files ~10 % larger, which keeps a
 * 20-subject dataset well under a minute.  So the BOLD series is written
 * uncompressed by bs_nifti_write to a hidden temporary .nii, gzipped here at
 * level 1 to another temporary, and renamed into place (atomic). */
static int write_nifti_fast_gz(const char *final_path, const bs_tensor *img, const double affine[4][4], double tr,
                               int datatype, bs_error *err)
{
    size_t n = strlen(final_path);
    char *raw = malloc(n + 16);
    if (!raw)
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    /* "<dir>/.<name>.raw.nii": bs_nifti_write chooses no compression for .nii. */
    const char *slash = strrchr(final_path, '/');
    size_t dir_len = slash ? (size_t)(slash - final_path) + 1 : 0;
    snprintf(raw, n + 16, "%.*s.%s.raw.nii", (int)dir_len, final_path, final_path + dir_len);
    int rc = bs_nifti_write(raw, img, affine, 4, tr, datatype, err);
    if (rc) {
        free(raw);
        return rc;
    }
    char *tmp = bs_temp_path_for(final_path, err);
    FILE *in = fopen(raw, "rb");
    gzFile out = tmp ? gzopen(tmp, "wb1") : NULL;
    if (!tmp || !in || !out) {
        rc = err && err->code && !tmp ? (int)err->code
                                      : bs_error_set(err, BS_ERR_IO, "%s: cannot create a temporary file", final_path);
    } else {
        char *buf = malloc(1 << 20);
        size_t got;
        if (!buf)
            rc = bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
        while (!rc && (got = fread(buf, 1, 1 << 20, in)) > 0)
            if (gzwrite(out, buf, (unsigned)got) != (int)got)
                rc = bs_error_set(err, BS_ERR_IO, "%s: write failed (disk full?)", final_path);
        if (!rc && ferror(in))
            rc = bs_error_set(err, BS_ERR_IO, "%s: reading the temporary file back failed", final_path);
        free(buf);
    }
    if (out && gzclose(out) != Z_OK && !rc)
        rc = bs_error_set(err, BS_ERR_IO, "%s: closing the compressed file failed (disk full?)", final_path);
    if (in)
        fclose(in);
    remove(raw);
    if (!rc)
        rc = bs_rename_into_place(tmp, final_path, err);
    if (rc && tmp)
        remove(tmp);
    free(tmp);
    free(raw);
    return rc;
}

/* ---- per-subject output ---------------------------------------------------- */

typedef struct shared {
    const bs_sim_config *c;
    const bs_sim_space *space;
    const bs_tensor *mask;    /* 1 brain, 2 skull shell, 0 elsewhere */
    const int64_t *skull;     /* indices of skull-shell voxels */
    int64_t n_skull;
    int id_width;
} shared;

/* Confound columns in fMRIPrep's naming. */
static int write_confounds(const char *path, const bs_sim_subject *subj, const double *gs, const double *csf,
                           const double *wm, const double *dvars, const double *compcor, int n_dummy,
                           bs_error *err)
{
    static const char *const motion_names[6] = {"trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"};
    const int64_t T = subj->T;
    const int n_cols = 3 * 4 + 2 + N_COMPCOR + 6 * 4 + n_dummy;
    char **names = calloc((size_t)n_cols, sizeof(char *));
    float *values = bs_alloc_floats((size_t)T * (size_t)n_cols);
    int rc = BS_OK;
    if (!names || !values) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    int col = 0;
    char buf[64];
#define NAME(...) (snprintf(buf, sizeof buf, __VA_ARGS__), names[col] = strdup(buf))
    /* base, _derivative1, _power2, _derivative1_power2 of a series. */
    const double *bases[3] = {gs, csf, wm};
    static const char *const base_names[3] = {"global_signal", "csf", "white_matter"};
    for (int b = 0; b < 9; b++) {
        const char *bn = b < 3 ? base_names[b] : motion_names[b - 3];
        int j = b - 3;
        if (b == 3) {
            /* dvars, framewise_displacement, a_comp_cor between physio and motion, as fMRIPrep orders them */
            NAME("dvars");
            for (int64_t t = 0; t < T; t++)
                values[t * n_cols + col] = t ? (float)dvars[t] : NAN;
            col++;
            NAME("framewise_displacement");
            for (int64_t t = 0; t < T; t++)
                values[t * n_cols + col] = t ? (float)subj->fd[t] : NAN;
            col++;
            for (int k = 0; k < N_COMPCOR; k++) {
                NAME("a_comp_cor_%02d", k);
                for (int64_t t = 0; t < T; t++)
                    values[t * n_cols + col] = (float)compcor[t * N_COMPCOR + k];
                col++;
            }
        }
        for (int e = 0; e < 4; e++) {
            NAME("%s%s", bn, e == 0 ? "" : e == 1 ? "_derivative1" : e == 2 ? "_power2" : "_derivative1_power2");
            for (int64_t t = 0; t < T; t++) {
                double x = b < 3 ? bases[b][t] : subj->motion[t * 6 + j];
                double xp = t ? (b < 3 ? bases[b][t - 1] : subj->motion[(t - 1) * 6 + j]) : NAN;
                double v = e == 0 ? x : e == 1 ? x - xp : e == 2 ? x * x : (x - xp) * (x - xp);
                values[t * n_cols + col] = (float)v;
            }
            col++;
        }
    }
    for (int k = 0; k < n_dummy; k++) {
        NAME("non_steady_state_outlier_%02d", k);
        for (int64_t t = 0; t < T; t++)
            values[t * n_cols + col] = t == k ? 1.0f : 0.0f;
        col++;
    }
#undef NAME
    for (int i = 0; i < n_cols; i++)
        if (!names[i]) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
    rc = bs_tsv_write_matrix(path, T, n_cols, values, (const char *const *)names, NULL, NULL, err);
done:
    if (names)
        for (int i = 0; i < n_cols; i++)
            free(names[i]);
    free(names);
    bs_free(values);
    return rc;
}

/* bold: a reusable [T, nz, ny, nx] buffer whose voxels outside the brain and
 * the skull shell are 0 (every other voxel is overwritten here). */
static int simulate_subject(const shared *sh, int index, bs_tensor *bold, bs_error *err)
{
    const bs_sim_config *c = sh->c;
    const bs_sim_space *sp = sh->space;
    char sub[32], dir[64], name[256];
    snprintf(sub, sizeof sub, "sub-%0*d", sh->id_width, index + 1);
    snprintf(dir, sizeof dir, "%s/func", sub);
    char *func_dir = join_path(c->out_dir, dir);
    if (!func_dir)
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    int rc = bs_mkdirs(func_dir, err);
    if (rc) {
        free(func_dir);
        return rc;
    }
    bs_sim_subject subj;
    if ((rc = bs_sim_subject_generate(c, sp, index, &subj, err))) {
        free(func_dir);
        return rc;
    }
    const int64_t T = subj.T, nvox = sp->nvox;
    const int R = subj.R;
    double *gs = calloc((size_t)T, sizeof(double)), *csf = calloc((size_t)T, sizeof(double));
    double *wm = calloc((size_t)T, sizeof(double)), *dvars = calloc((size_t)T, sizeof(double));
    double *compcor = calloc((size_t)T * N_COMPCOR, sizeof(double));
    int64_t n_cc = 0, n_wm = 0, n_csf = 0;
    for (int64_t i = 0; i < sp->n_brain; i++) {
        uint8_t k = sp->tissue[sp->brain[i]];
        n_wm += k == BS_TISSUE_WM;
        n_csf += k == BS_TISSUE_CSF;
    }
    n_cc = (n_wm + n_csf + 2) / 3; /* every third WM/CSF voxel feeds CompCor */
    double *ccvox = malloc((size_t)(n_cc ? n_cc : 1) * (size_t)T * sizeof(double));
    char *path = NULL;
    if (!gs || !csf || !wm || !dvars || !compcor || !ccvox) {
        rc = err && err->code ? (int)err->code : bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory for %s", sub);
        goto done;
    }

    xoshiro g;
    xoshiro_seed(&g, subj.noise_seed);
    static const double physio_gain[4] = {0, 1.0, 0.5, 2.0}, artefact_gain[4] = {0, 1.0, 0.8, 1.5};
    const double A = SIGNAL_AMPLITUDE, sigma = SIGNAL_AMPLITUDE * c->voxel_noise;
    for (int64_t t = 0; t < T; t++) {
        float *vol = bold->data + t * nvox;
        double dummy = t < c->n_dummy ? 1.0 + 0.5 * exp(-(double)t / 1.5) : 1.0;
        double common[4];
        for (int k = 1; k < 4; k++)
            common[k] = A * (physio_gain[k] * subj.physio[t] + artefact_gain[k] * subj.artefact[t] + subj.drift[t]);
        double s_all = 0, s_wm = 0, s_csf = 0, s_dv = 0;
        int64_t cc = 0, wmcsf = 0;
        for (int64_t i = 0; i < sp->n_brain; i++) {
            int64_t v = sp->brain[i];
            int k = sp->tissue[v];
            double y = sp->baseline[v] * dummy + common[k] + sigma * noise_sample(&g);
            if (sp->label[v])
                y += A * sp->gain[v] * subj.roi_observed[t * R + sp->label[v] - 1];
            float yf = c->float32 ? (float)y : nearbyintf((float)y);
            vol[v] = yf;
            s_all += yf;
            if (k == BS_TISSUE_WM)
                s_wm += yf;
            if (k == BS_TISSUE_CSF)
                s_csf += yf;
            if (t > 0) {
                double d = (double)yf - (double)bold->data[(t - 1) * nvox + v];
                s_dv += d * d;
            }
            if (k == BS_TISSUE_WM || k == BS_TISSUE_CSF) {
                if (wmcsf++ % 3 == 0 && cc < n_cc)
                    ccvox[cc++ * T + t] = yf;
            }
        }
        gs[t] = s_all / (double)sp->n_brain;
        wm[t] = n_wm ? s_wm / (double)n_wm : 0.0;
        csf[t] = n_csf ? s_csf / (double)n_csf : 0.0;
        dvars[t] = sqrt(s_dv / (double)sp->n_brain);
    }
    /* The skull shell: a fixed intensity outside the brain mask. */
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < sh->n_skull; i++)
            bold->data[t * nvox + sh->skull[i]] = 400.0f;
    if ((rc = bs_sim_compcor(ccvox, T, n_cc, N_COMPCOR, compcor, err)))
        goto done;

    /* BOLD, mask, sidecar, confounds, ground truth. */
    snprintf(name, sizeof name, "%s_task-rest_" SPACE_ENTITY "_desc-preproc_bold.nii.gz", sub);
    if (!(path = join_path(func_dir, name))) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
        goto done;
    }
    if ((rc = write_nifti_fast_gz(path, bold, sp->affine, c->tr, c->float32 ? NIFTI_TYPE_FLOAT32 : NIFTI_TYPE_INT16,
                                  err)))
        goto done;
    free(path);
    snprintf(name, sizeof name, "%s_task-rest_" SPACE_ENTITY "_desc-preproc_bold.json", sub);
    path = join_path(func_dir, name);
    json_t *sidecar = json_pack("{s:f, s:s, s:b, s:s, s:I, s:i}", "RepetitionTime", c->tr, "TaskName", "rest",
                                "SkullStripped", 0, "GeneratedBy", "brainstage simulate", "Seed",
                                (json_int_t)c->seed, "NonSteadyStateVolumes", c->n_dummy);
    if (!path || (rc = write_json(path, sidecar, err)))
        goto done;
    free(path);

    /* Brain mask: 1 inside the brain, 0 elsewhere (skull included). */
    snprintf(name, sizeof name, "%s_task-rest_" SPACE_ENTITY "_desc-brain_mask.nii.gz", sub);
    path = join_path(func_dir, name);
    {
        int64_t mshape[3] = {BS_SIM_NZ, BS_SIM_NY, BS_SIM_NX};
        bs_tensor *m = bs_tensor_new(3, mshape, err);
        if (!path || !m) {
            bs_tensor_free(m);
            rc = err && err->code ? err->code : BS_ERR_NOMEM;
            goto done;
        }
        for (int64_t v = 0; v < nvox; v++)
            m->data[v] = sh->mask->data[v] == 1.0f ? 1.0f : 0.0f;
        rc = bs_nifti_write(path, m, sp->affine, 4, 0.0, NIFTI_TYPE_UINT8, err);
        bs_tensor_free(m);
        if (rc)
            goto done;
    }
    free(path);

    snprintf(name, sizeof name, "%s_task-rest_desc-confounds_timeseries.tsv", sub);
    path = join_path(func_dir, name);
    if (!path || (rc = write_confounds(path, &subj, gs, csf, wm, dvars, compcor, c->n_dummy, err)))
        goto done;
    free(path);

    snprintf(name, sizeof name, "%s_task-rest_desc-groundtruth_timeseries.tsv", sub);
    path = join_path(func_dir, name);
    if (!path || (rc = bs_tsv_write_matrix(path, T, R, subj.roi_signal, (const char *const *)sp->roi_names, NULL,
                                           NULL, err)))
        goto done;
    free(path);

    snprintf(name, sizeof name, "%s_task-rest_desc-groundtruth_relmat.tsv", sub);
    path = join_path(func_dir, name);
    {
        float *truth = bs_alloc_floats((size_t)R * (size_t)R);
        if (!path || !truth) {
            bs_free(truth);
            rc = bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
            goto done;
        }
        for (int64_t i = 0; i < (int64_t)R * R; i++)
            truth[i] = (float)subj.truth[i];
        rc = bs_tsv_write_matrix(path, R, R, truth, (const char *const *)sp->roi_names, "Node",
                                 (const char *const *)sp->roi_names, err);
        bs_free(truth);
    }

done:
    free(path);
    free(func_dir);
    free(gs);
    free(csf);
    free(wm);
    free(dvars);
    free(compcor);
    free(ccvox);
    bs_sim_subject_free(&subj);
    if (rc)
        bs_error_prefix(err, "simulate: %s: ", sub);
    return rc;
}

/* ---- dataset-level files ---------------------------------------------------- */

static int write_dataset_files(const bs_sim_config *c, const bs_sim_space *sp, int id_width, bs_error *err)
{
    char *path = join_path(c->out_dir, "dataset_description.json");
    json_t *desc = json_pack(
        "{s:s, s:s, s:s, s:[{s:s, s:s, s:s}], s:{s:i, s:i, s:f, s:I, s:i, s:f, s:f, s:f, s:f, s:f, s:i, s:s}}",
        "Name", "brainstage simulated fMRIPrep derivatives", "BIDSVersion", "1.9.0", "DatasetType", "derivative",
        "GeneratedBy", "Name", "brainstage simulate", "Version", PACKAGE_VERSION, "Description",
        "latent-network model, HRF-convolved, with motion confounds and a planted group difference (docs/simulate.md)",
        "SimulationParameters", "Subjects", c->n_subjects, "Volumes", c->n_volumes, "RepetitionTime", c->tr, "Seed",
        (json_int_t)c->seed, "Networks", c->n_networks, "WithinCoupling", c->within_coupling, "EffectSize",
        c->effect_size, "RoiNoise", c->roi_noise, "VoxelNoise", c->voxel_noise, "MotionScale", c->motion_scale,
        "DummyScans", c->n_dummy, "Atlas", c->atlas_name);
    int rc = path ? write_json(path, desc, err) : bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    free(path);
    if (rc)
        return rc;

    /* participants.tsv: alternating groups, like bs_sim_subject_generate. */
    path = join_path(c->out_dir, "participants.tsv");
    bs_atomic_file f;
    if (!path)
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    if ((rc = bs_atomic_open(&f, path, err))) {
        free(path);
        return rc;
    }
    fprintf(f.fp, "participant_id\tgroup\n");
    for (int i = 0; i < c->n_subjects; i++)
        fprintf(f.fp, "sub-%0*d\t%s\n", id_width, i + 1, i % 2 ? "patient" : "control");
    rc = bs_atomic_commit(&f, err);
    free(path);
    if (rc)
        return rc;

    /* The atlas on the BOLD grid, with a label table. */
    char *atlas_dir = join_path(c->out_dir, "atlas");
    if (!atlas_dir || (rc = bs_mkdirs(atlas_dir, err))) {
        free(atlas_dir);
        return rc ? rc : bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    }
    char name[256];
    snprintf(name, sizeof name, "atlas-%s_" SPACE_ENTITY "_dseg.nii.gz", c->atlas_name);
    path = join_path(atlas_dir, name);
    int64_t shape[3] = {BS_SIM_NZ, BS_SIM_NY, BS_SIM_NX};
    bs_tensor *lab = bs_tensor_new(3, shape, err);
    if (!path || !lab) {
        rc = err && err->code ? err->code : BS_ERR_NOMEM;
    } else {
        for (int64_t v = 0; v < sp->nvox; v++)
            lab->data[v] = (float)sp->label[v];
        rc = bs_nifti_write(path, lab, sp->affine, 4, 0.0, NIFTI_TYPE_INT16, err);
    }
    bs_tensor_free(lab);
    free(path);
    if (!rc) {
        snprintf(name, sizeof name, "atlas-%s_dseg.tsv", c->atlas_name);
        path = join_path(atlas_dir, name);
        if (!path || (rc = bs_atomic_open(&f, path, err))) {
            rc = rc ? rc : bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
        } else {
            fprintf(f.fp, "index\tname\tnetwork\tplanted\tvoxels\n");
            for (int r = 0; r < sp->n_rois; r++)
                fprintf(f.fp, "%d\t%s\t%d\t%d\t%lld\n", r + 1, sp->roi_names[r], sp->network[r], sp->planted[r],
                        (long long)sp->roi_voxels[r]);
            rc = bs_atomic_commit(&f, err);
        }
        free(path);
    }
    free(atlas_dir);
    return rc;
}

static int check_config(const bs_sim_config *c, bs_error *err)
{
    if (!c->out_dir || !*c->out_dir)
        return bs_error_set(err, BS_ERR_USAGE, "simulate: an output folder is required");
    if (c->n_subjects < 1 || c->n_subjects > 100000)
        return bs_error_set(err, BS_ERR_USAGE, "simulate: subjects %d must be in 1..100000", c->n_subjects);
    if (c->n_volumes < 10 || c->n_volumes > 10000)
        return bs_error_set(err, BS_ERR_USAGE, "simulate: volumes %d must be in 10..10000", c->n_volumes);
    if (!(c->tr >= 0.1 && c->tr <= 10.0))
        return bs_error_set(err, BS_ERR_USAGE, "simulate: TR %g s must be in 0.1..10", c->tr);
    if (c->n_networks < 1)
        return bs_error_set(err, BS_ERR_USAGE, "simulate: networks %d must be >= 1", c->n_networks);
    if (!(c->within_coupling >= 0.0) || !(c->effect_size >= 0.0) || !(c->within_coupling + c->effect_size < 1.0))
        return bs_error_set(err, BS_ERR_USAGE,
                            "simulate: within_coupling %g and effect_size %g must be >= 0 with a sum below 1",
                            c->within_coupling, c->effect_size);
    if (!(c->roi_noise >= 0.0) || !(c->voxel_noise >= 0.0) || !(c->motion_scale >= 0.0))
        return bs_error_set(err, BS_ERR_USAGE, "simulate: noise and motion scales must be >= 0");
    if (c->n_dummy < 0 || c->n_dummy >= c->n_volumes / 2)
        return bs_error_set(err, BS_ERR_USAGE, "simulate: dummy scans %d must be in 0..%d", c->n_dummy,
                            c->n_volumes / 2 - 1);
    if (c->grid_mm < 4 || c->grid_mm > 80)
        return bs_error_set(err, BS_ERR_USAGE, "simulate: grid_mm %d must be in 4..80", c->grid_mm);
    return BS_OK;
}

int bs_simulate_dataset(const bs_sim_config *config, bs_error *err)
{
    bs_sim_config c = *config;
    if (!c.atlas_name || !*c.atlas_name)
        c.atlas_name = c.atlas_path && *c.atlas_path ? "AAL" : "Grid";
    int rc = check_config(&c, err);
    if (rc)
        return rc;
    if ((rc = bs_mkdirs(c.out_dir, err)))
        return rc;
    bs_sim_space sp;
    if ((rc = bs_sim_space_build(&c, &sp, err)))
        return rc;
    int id_width = 2;
    for (int n = c.n_subjects; n >= 100; n /= 10)
        id_width++;

    /* Brain (1) and skull shell (2) map, shared by every subject. */
    int64_t shape[3] = {BS_SIM_NZ, BS_SIM_NY, BS_SIM_NX};
    bs_tensor *mask = bs_tensor_new(3, shape, err);
    if (!mask) {
        bs_sim_space_free(&sp);
        return err && err->code ? err->code : BS_ERR_NOMEM;
    }
    for (int k = 0; k < BS_SIM_NZ; k++)
        for (int j = 0; j < BS_SIM_NY; j++)
            for (int i = 0; i < BS_SIM_NX; i++) {
                int64_t v = i + (int64_t)BS_SIM_NX * (j + (int64_t)BS_SIM_NY * k);
                double dx = (-90.0 + 2 * i) / 78.0, dy = (-126.0 + 2 * j + 17.0) / 98.0,
                       dz = (-72.0 + 2 * k - 12.0) / 74.0;
                double rho = dx * dx + dy * dy + dz * dz;
                mask->data[v] = sp.tissue[v] ? 1.0f : (rho <= 1.0 && rho >= 0.8 ? 2.0f : 0.0f);
            }
    int64_t n_skull = 0;
    for (int64_t v = 0; v < sp.nvox; v++)
        n_skull += mask->data[v] == 2.0f;
    int64_t *skull = malloc((size_t)(n_skull ? n_skull : 1) * sizeof(int64_t));
    if (!skull) {
        bs_tensor_free(mask);
        bs_sim_space_free(&sp);
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    }
    for (int64_t v = 0, i = 0; v < sp.nvox; v++)
        if (mask->data[v] == 2.0f)
            skull[i++] = v;
    bs_log(BS_LOG_INFO, "simulate: %d subjects x %d volumes, %d ROIs (%s), %lld brain voxels", c.n_subjects,
           c.n_volumes, sp.n_rois, c.atlas_name, (long long)sp.n_brain);

    shared sh = {&c, &sp, mask, skull, n_skull, id_width};
    bs_tensor **buffers = NULL;
    int *status = calloc((size_t)c.n_subjects, sizeof(int));
    bs_error *errs = calloc((size_t)c.n_subjects, sizeof(bs_error));
    if (!status || !errs) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
        goto done;
    }
    int threads = c.threads;
#ifdef _OPENMP
    if (threads <= 0)
        threads = omp_get_max_threads();
#endif
    if (threads < 1)
        threads = 1;
    int64_t done_count = 0;
    if (threads > c.n_subjects)
        threads = c.n_subjects;
    /* One BOLD buffer per thread, reused across subjects: allocating and
     * zeroing T x 900k floats per subject costs more than filling it. */
    buffers = calloc((size_t)threads, sizeof *buffers);
    if (!buffers) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
        goto done;
    }
    bs_progress_begin("simulate", c.n_subjects);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int i = 0; i < c.n_subjects; i++) {
        int me = 0;
#ifdef _OPENMP
        me = omp_get_thread_num();
#endif
        if (!buffers[me]) {
            int64_t shape4[4] = {c.n_volumes, BS_SIM_NZ, BS_SIM_NY, BS_SIM_NX};
            buffers[me] = bs_tensor_new(4, shape4, &errs[i]);
        }
        status[i] = buffers[me] ? simulate_subject(&sh, i, buffers[me], &errs[i])
                                : (errs[i].code ? (int)errs[i].code : BS_ERR_NOMEM);
#pragma omp critical(bs_simulate_progress)
        bs_progress_update(++done_count);
    }
    bs_progress_end();
    for (int i = 0; i < c.n_subjects; i++)
        if (status[i]) {
            rc = status[i];
            if (err)
                *err = errs[i];
            goto done;
        }
    rc = write_dataset_files(&c, &sp, id_width, err);
done:
    if (buffers)
        for (int t = 0; t < threads; t++)
            bs_tensor_free(buffers[t]);
    free(buffers);
    free(skull);
    free(status);
    free(errs);
    bs_tensor_free(mask);
    bs_sim_space_free(&sp);
    return rc;
}
