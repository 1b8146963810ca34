/* simulate_space.c - the simulator's 2 mm MNI grid: brain mask, tissue
 * classes, atlas parcels, baseline intensities.
 *
 * Grid: FSL's MNI152 2 mm grid (91 x 109 x 91), written with RAS+ axes
 * (affine diag(2,2,2), origin -90,-126,-72 mm).  fMRIPrep's own res-2 grid
 * for MNI152NLin2009cAsym is 97 x 115 x 97; the smaller grid keeps files
 * small and matches the common FSL template (docs/simulate.md).
 *
 * With an atlas image (e.g. mricron's 1 mm AAL) each grid voxel takes the
 * label of the atlas voxel nearest to its world position.  The brain is
 * the labelled voxels plus every voxel enclosed by labels along all three
 * axes; the enclosed unlabelled voxels are white matter, except a central
 * ellipsoid standing in for the ventricles (CSF).
 * Without an atlas the brain is an ellipsoid: an outer grey-matter shell cut
 * into cubes of grid_mm (the parcels), a white-matter shell and a CSF core. */
#include "brainstage/simulate_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/nifti.h"
#include "brainstage/tensor.h"

void bs_sim_space_free(bs_sim_space *s)
{
    if (!s)
        return;
    free(s->label);
    free(s->tissue);
    bs_free(s->baseline);
    bs_free(s->gain);
    free(s->brain);
    if (s->roi_names)
        for (int r = 0; r < s->n_rois; r++)
            free(s->roi_names[r]);
    free(s->roi_names);
    free(s->network);
    free(s->planted);
    free(s->roi_voxels);
    memset(s, 0, sizeof *s);
}

static void voxel_world(int i, int j, int k, double w[3])
{
    w[0] = -90.0 + 2.0 * i;
    w[1] = -126.0 + 2.0 * j;
    w[2] = -72.0 + 2.0 * k;
}

static int64_t vindex(int i, int j, int k) { return i + (int64_t)BS_SIM_NX * (j + (int64_t)BS_SIM_NY * k); }

/* Ventricles: a central ellipsoid (mm). */
static int in_ventricles(const double w[3])
{
    double dx = w[0] / 18.0, dy = (w[1] + 8.0) / 30.0, dz = (w[2] - 14.0) / 12.0;
    return dx * dx + dy * dy + dz * dz <= 1.0;
}

/* Inverse of the 3x3 part and translation of a voxel->world affine. */
static int invert_affine(const double a[4][4], double inv[3][4])
{
    double m[3][3];
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++)
            m[r][c] = a[r][c];
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if (!(fabs(det) > 1e-12))
        return -1;
    double c[3][3];
    c[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / det;
    c[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / det;
    c[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / det;
    c[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / det;
    c[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / det;
    c[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / det;
    c[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / det;
    c[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / det;
    c[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / det;
    for (int r = 0; r < 3; r++) {
        for (int k = 0; k < 3; k++)
            inv[r][k] = c[r][k];
        inv[r][3] = -(c[r][0] * a[0][3] + c[r][1] * a[1][3] + c[r][2] * a[2][3]);
    }
    return 0;
}

/* Names from an mricron-style label table ("<index> <name> ...", the image
 * path with .nii.gz replaced by .nii.txt), when there is one. */
static char *label_name_from_table(const char *atlas_path, int value)
{
    char txt[4096];
    size_t n = strlen(atlas_path);
    if (n + 8 > sizeof txt)
        return NULL;
    memcpy(txt, atlas_path, n + 1);
    if (n > 3 && strcmp(txt + n - 3, ".gz") == 0)
        txt[n - 3] = '\0';
    strcat(txt, ".txt");
    FILE *f = fopen(txt, "r");
    if (!f)
        return NULL;
    char line[512], name[256];
    char *found = NULL;
    while (fgets(line, sizeof line, f)) {
        int idx;
        if (sscanf(line, "%d %255s", &idx, name) == 2 && idx == value) {
            found = strdup(name);
            break;
        }
    }
    fclose(f);
    return found;
}

static int labels_from_atlas(const bs_sim_config *c, bs_sim_space *s, int **values_out, bs_error *err)
{
    bs_nifti_header hdr;
    bs_tensor *img = bs_nifti_read_image(c->atlas_path, &hdr, err);
    if (!img)
        return err ? err->code : BS_ERR_IO;
    if (hdr.nvol != 1) {
        bs_tensor_free(img);
        return bs_error_set(err, BS_ERR_DATA, "%s: the atlas must be a 3D label image, found %lld volumes",
                            c->atlas_path, (long long)hdr.nvol);
    }
    double inv[3][4];
    if (invert_affine(hdr.affine, inv)) {
        bs_tensor_free(img);
        return bs_error_set(err, BS_ERR_FORMAT, "%s: the voxel-to-world affine is singular", c->atlas_path);
    }
    /* Raw label values first; compacted to ROI indices below. */
    int max_value = 0;
    for (int k = 0; k < BS_SIM_NZ; k++)
        for (int j = 0; j < BS_SIM_NY; j++)
            for (int i = 0; i < BS_SIM_NX; i++) {
                double w[3];
                voxel_world(i, j, k, w);
                long a[3];
                for (int r = 0; r < 3; r++)
                    a[r] = lround(inv[r][0] * w[0] + inv[r][1] * w[1] + inv[r][2] * w[2] + inv[r][3]);
                int v = 0;
                if (a[0] >= 0 && a[0] < hdr.dim[1] && a[1] >= 0 && a[1] < hdr.dim[2] && a[2] >= 0 &&
                    a[2] < hdr.dim[3]) {
                    float f = img->data[a[0] + hdr.dim[1] * (a[1] + hdr.dim[2] * a[2])];
                    if (f > 0.5f && f < 1e6f)
                        v = (int)lrintf(f);
                }
                s->label[vindex(i, j, k)] = v;
                if (v > max_value)
                    max_value = v;
            }
    bs_tensor_free(img);
    if (max_value == 0)
        return bs_error_set(err, BS_ERR_DATA, "%s: no labels fall inside the 2 mm MNI grid (is it in MNI space?)",
                            c->atlas_path);
    int *values = calloc((size_t)max_value + 1, sizeof(int));
    if (!values)
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    for (int64_t v = 0; v < s->nvox; v++)
        values[s->label[v]] = 1;
    *values_out = values;
    /* values[value] becomes ROI index + 1 in label order. */
    int n = 0;
    for (int v = 1; v <= max_value; v++)
        if (values[v])
            values[v] = ++n;
    for (int64_t v = 0; v < s->nvox; v++)
        s->label[v] = s->label[v] ? values[s->label[v]] : 0;
    s->n_rois = n;
    s->roi_names = calloc((size_t)n, sizeof(char *));
    if (!s->roi_names)
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    for (int v = 1; v <= max_value; v++)
        if (values[v]) {
            char *name = label_name_from_table(c->atlas_path, v);
            if (!name) {
                char buf[32];
                snprintf(buf, sizeof buf, "label_%d", v);
                name = strdup(buf);
            }
            s->roi_names[values[v] - 1] = name;
        }

    /* Brain: labelled, or enclosed by labels along x, y and z. */
    uint8_t *inside = calloc((size_t)s->nvox, 1);
    if (!inside)
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    for (int axis = 0; axis < 3; axis++) {
        int n0 = axis == 0 ? BS_SIM_NX : axis == 1 ? BS_SIM_NY : BS_SIM_NZ;
        int na = axis == 0 ? BS_SIM_NY : BS_SIM_NX, nb = axis == 2 ? BS_SIM_NY : BS_SIM_NZ;
        for (int a = 0; a < na; a++)
            for (int b = 0; b < nb; b++) {
                int lo = -1, hi = -1;
                for (int t = 0; t < n0; t++) {
                    int64_t v = axis == 0 ? vindex(t, a, b) : axis == 1 ? vindex(a, t, b) : vindex(a, b, t);
                    if (s->label[v]) {
                        if (lo < 0)
                            lo = t;
                        hi = t;
                    }
                }
                for (int t = lo < 0 ? n0 : lo; t <= hi; t++) {
                    int64_t v = axis == 0 ? vindex(t, a, b) : axis == 1 ? vindex(a, t, b) : vindex(a, b, t);
                    inside[v]++;
                }
            }
    }
    for (int k = 0; k < BS_SIM_NZ; k++)
        for (int j = 0; j < BS_SIM_NY; j++)
            for (int i = 0; i < BS_SIM_NX; i++) {
                int64_t v = vindex(i, j, k);
                double w[3];
                voxel_world(i, j, k, w);
                if (s->label[v])
                    s->tissue[v] = BS_TISSUE_GM;
                else if (inside[v] == 3)
                    s->tissue[v] = in_ventricles(w) ? BS_TISSUE_CSF : BS_TISSUE_WM;
            }
    free(inside);
    return BS_OK;
}

static int labels_procedural(const bs_sim_config *c, bs_sim_space *s, bs_error *err)
{
    const double cx = 0.0, cy = -17.0, cz = 12.0, ax = 68.0, ay = 86.0, az = 62.0;
    const int g = c->grid_mm;
    const int gx = 180 / g + 2, gy = 220 / g + 2, gz = 184 / g + 2;
    int64_t ncells = (int64_t)gx * gy * gz;
    int64_t *count = calloc((size_t)ncells, sizeof(int64_t));
    int *cell_roi = calloc((size_t)ncells, sizeof(int));
    if (!count || !cell_roi) {
        free(count);
        free(cell_roi);
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    }
    for (int k = 0; k < BS_SIM_NZ; k++)
        for (int j = 0; j < BS_SIM_NY; j++)
            for (int i = 0; i < BS_SIM_NX; i++) {
                double w[3];
                voxel_world(i, j, k, w);
                double dx = (w[0] - cx) / ax, dy = (w[1] - cy) / ay, dz = (w[2] - cz) / az;
                double rho = sqrt(dx * dx + dy * dy + dz * dz);
                int64_t v = vindex(i, j, k);
                if (rho > 1.0)
                    continue;
                if (rho < 0.3) {
                    s->tissue[v] = BS_TISSUE_CSF;
                } else if (rho < 0.7) {
                    s->tissue[v] = BS_TISSUE_WM;
                } else {
                    s->tissue[v] = BS_TISSUE_GM;
                    int64_t cell = (int)floor((w[0] + 90.0) / g) +
                                   (int64_t)gx * ((int)floor((w[1] + 126.0) / g) + (int64_t)gy * (int)floor((w[2] + 72.0) / g));
                    s->label[v] = (int32_t)(cell + 1); /* provisional: cell + 1 */
                    count[cell]++;
                }
            }
    /* Parcels: cells with at least a quarter of a full cube of grey matter. */
    int64_t min_vox = (int64_t)(g / 2) * (g / 2) * (g / 2) / 4;
    int n = 0;
    for (int64_t cell = 0; cell < ncells; cell++)
        cell_roi[cell] = count[cell] >= (min_vox > 8 ? min_vox : 8) ? ++n : 0;
    for (int64_t v = 0; v < s->nvox; v++)
        if (s->label[v])
            s->label[v] = cell_roi[s->label[v] - 1];
    s->n_rois = n;
    s->roi_names = calloc((size_t)(n ? n : 1), sizeof(char *));
    int rc = s->roi_names ? BS_OK : bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    for (int64_t cell = 0; !rc && cell < ncells; cell++) {
        if (!cell_roi[cell])
            continue;
        int ix = (int)(cell % gx), iy = (int)((cell / gx) % gy), iz = (int)(cell / ((int64_t)gx * gy));
        char buf[64];
        snprintf(buf, sizeof buf, "grid_x%+d_y%+d_z%+d", -90 + ix * g + g / 2, -126 + iy * g + g / 2,
                 -72 + iz * g + g / 2);
        if (!(s->roi_names[cell_roi[cell] - 1] = strdup(buf)))
            rc = bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    }
    free(count);
    free(cell_roi);
    if (!rc && n < 2)
        rc = bs_error_set(err, BS_ERR_USAGE, "simulate: grid_mm %d leaves %d parcels; use a smaller grid", g, n);
    return rc;
}

int bs_sim_space_build(const bs_sim_config *c, bs_sim_space *s, bs_error *err)
{
    memset(s, 0, sizeof *s);
    s->nvox = (int64_t)BS_SIM_NX * BS_SIM_NY * BS_SIM_NZ;
    double aff[4][4] = {{2, 0, 0, -90}, {0, 2, 0, -126}, {0, 0, 2, -72}, {0, 0, 0, 1}};
    memcpy(s->affine, aff, sizeof aff);
    s->label = calloc((size_t)s->nvox, sizeof(int32_t));
    s->tissue = calloc((size_t)s->nvox, 1);
    s->baseline = bs_alloc_floats((size_t)s->nvox);
    s->gain = bs_alloc_floats((size_t)s->nvox);
    if (!s->label || !s->tissue || !s->baseline || !s->gain) {
        bs_sim_space_free(s);
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    }
    int rc;
    int *values = NULL;
    if (c->atlas_path && *c->atlas_path)
        rc = labels_from_atlas(c, s, &values, err);
    else
        rc = labels_procedural(c, s, err);
    free(values);
    if (rc) {
        bs_sim_space_free(s);
        return rc;
    }

    s->network = calloc((size_t)s->n_rois, sizeof(int));
    s->planted = calloc((size_t)s->n_rois, 1);
    s->roi_voxels = calloc((size_t)s->n_rois, sizeof(int64_t));
    if (!s->network || !s->planted || !s->roi_voxels) {
        bs_sim_space_free(s);
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    }
    int K = c->n_networks < s->n_rois ? c->n_networks : s->n_rois;
    int per_net[2] = {0, 0}, seen[2] = {0, 0};
    for (int r = 0; r < s->n_rois; r++) {
        s->network[r] = (int)((int64_t)r * K / s->n_rois);
        if (s->network[r] < 2)
            per_net[s->network[r]]++;
    }
    /* Planted group difference: the first half of networks 0 and 1. */
    for (int r = 0; r < s->n_rois; r++) {
        int k = s->network[r];
        if (k < 2 && K >= 2 && seen[k]++ < (per_net[k] + 1) / 2)
            s->planted[r] = 1;
    }

    int64_t nb = 0;
    for (int64_t v = 0; v < s->nvox; v++)
        nb += s->tissue[v] != BS_TISSUE_NONE;
    s->brain = malloc((size_t)(nb ? nb : 1) * sizeof(int64_t));
    if (!s->brain) {
        bs_sim_space_free(s);
        return bs_error_set(err, BS_ERR_NOMEM, "simulate: out of memory");
    }
    s->n_brain = 0;
    for (int k = 0; k < BS_SIM_NZ; k++)
        for (int j = 0; j < BS_SIM_NY; j++)
            for (int i = 0; i < BS_SIM_NX; i++) {
                int64_t v = vindex(i, j, k);
                if (s->tissue[v] == BS_TISSUE_NONE)
                    continue;
                s->brain[s->n_brain++] = v;
                double w[3];
                voxel_world(i, j, k, w);
                static const float level[4] = {0.0f, 800.0f, 650.0f, 1100.0f};
                /* Smooth multiplicative bias field, as receive coils give. */
                double bias = 1.0 + 0.08 * sin(w[0] / 25.0) * cos(w[1] / 35.0) + 0.05 * w[2] / 80.0;
                s->baseline[v] = (float)(level[s->tissue[v]] * bias);
                if (s->label[v]) {
                    /* Fixed voxel loading in [0.7, 1.3] from a hash of the position. */
                    uint64_t h = bs_splitmix64((uint64_t)v * 0x9E3779B97F4A7C15ull);
                    s->gain[v] = (float)(0.7 + 0.6 * (double)(h >> 11) / 9007199254740992.0);
                    s->roi_voxels[s->label[v] - 1]++;
                }
            }
    return BS_OK;
}
