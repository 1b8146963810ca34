/* atlas_parcellation.c - building the voxel -> ROI assignment on the BOLD grid.
 *
 * Each builder resamples its atlas once onto the BOLD grid and keeps only a
 * sparse list of (voxel, roi, weight) entries inside the brain mask, sorted
 * by voxel so that the per-volume reduction walks each volume forward.
 * Coverage follows XCP-D: the part of a parcel (on the BOLD grid) that lies
 * inside the brain mask. */
#include "brainstage/atlas.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/log.h"

void bs_parcellation_free(bs_parcellation *p)
{
    if (!p)
        return;
    if (p->names)
        for (int i = 0; i < p->n_rois; i++)
            free(p->names[i]);
    free(p->names);
    free(p->index);
    free(p->voxel);
    free(p->roi);
    free(p->weight);
    free(p->coverage);
    free(p->n_voxels);
    free(p->atlas_name);
    free(p);
}

/* Allocates the per-ROI arrays of a parcellation with n_rois ROIs. */
static bs_parcellation *parcellation_new(int n_rois, int64_t nvox, const char *atlas_name, bs_error *err)
{
    bs_parcellation *p = calloc(1, sizeof *p);
    if (p) {
        p->nvox = nvox;
        p->n_rois = n_rois;
        p->names = calloc((size_t)n_rois + 1, sizeof *p->names);
        p->index = calloc((size_t)n_rois + 1, sizeof *p->index);
        p->coverage = calloc((size_t)n_rois + 1, sizeof *p->coverage);
        p->n_voxels = calloc((size_t)n_rois + 1, sizeof *p->n_voxels);
        p->atlas_name = strdup(atlas_name ? atlas_name : "atlas");
    }
    if (!p || !p->names || !p->index || !p->coverage || !p->n_voxels || !p->atlas_name) {
        bs_parcellation_free(p);
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for %d ROIs", atlas_name, n_rois);
        return NULL;
    }
    return p;
}

static int alloc_entries(bs_parcellation *p, int64_t n, int weighted, bs_error *err)
{
    p->n_entries = n;
    p->voxel = malloc((size_t)(n ? n : 1) * sizeof *p->voxel);
    p->roi = malloc((size_t)(n ? n : 1) * sizeof *p->roi);
    p->weight = weighted ? malloc((size_t)(n ? n : 1) * sizeof *p->weight) : NULL;
    if (!p->voxel || !p->roi || (weighted && !p->weight))
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for %lld voxel entries",
                            p->atlas_name, (long long)n);
    return BS_OK;
}

static int same_affine(const double a[4][4], const double b[4][4], double tol)
{
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            if (fabs(a[r][c] - b[r][c]) > tol)
                return 0;
    return 1;
}

uint8_t *bs_mask_load(const char *path, const bs_nifti_header *bold, const char *bold_name, bs_error *err)
{
    bs_nifti_header h;
    bs_tensor *t = bs_nifti_read_image(path, &h, err);
    if (!t)
        return NULL;
    if (h.nvol != 1 || h.dim[1] != bold->dim[1] || h.dim[2] != bold->dim[2] || h.dim[3] != bold->dim[3]) {
        bs_error_set(err, BS_ERR_DATA, "%s: mask grid %lldx%lldx%lld (x%lld volumes) differs from BOLD %s "
                     "%lldx%lldx%lld: expected a 3D mask on the BOLD grid",
                     path, (long long)h.dim[1], (long long)h.dim[2], (long long)h.dim[3], (long long)h.nvol,
                     bold_name, (long long)bold->dim[1], (long long)bold->dim[2], (long long)bold->dim[3]);
        bs_tensor_free(t);
        return NULL;
    }
    if (!same_affine(h.affine, bold->affine, 1e-3)) {
        bs_error_set(err, BS_ERR_DATA, "%s: mask affine differs from BOLD %s (origin %.3g,%.3g,%.3g vs "
                     "%.3g,%.3g,%.3g): expected the mask of this run", path, bold_name, h.affine[0][3],
                     h.affine[1][3], h.affine[2][3], bold->affine[0][3], bold->affine[1][3], bold->affine[2][3]);
        bs_tensor_free(t);
        return NULL;
    }
    uint8_t *m = malloc((size_t)h.nvox);
    if (!m) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        bs_tensor_free(t);
        return NULL;
    }
    int64_t n_in = 0;
    for (int64_t v = 0; v < h.nvox; v++) {
        m[v] = t->data[v] > 0; /* NaN counts as outside */
        n_in += m[v];
    }
    bs_tensor_free(t);
    if (n_in == 0) {
        free(m);
        bs_error_set(err, BS_ERR_DATA, "%s: mask is empty (no voxel > 0)", path);
        return NULL;
    }
    return m;
}

static void grid_dims(const bs_nifti_header *h, int64_t d[3])
{
    d[0] = h->dim[1];
    d[1] = h->dim[2];
    d[2] = h->dim[3];
}

static int no_overlap_error(const char *atlas, const char *bold_name, bs_error *err)
{
    return bs_error_set(err, BS_ERR_DATA,
                        "atlas %s and BOLD %s do not overlap: no atlas voxel falls inside the BOLD field of view "
                        "(different spaces? compare their affines)", atlas, bold_name);
}

/* Sets coverage = inside / total and logs nothing (bs_parcellate warns). */
static void set_coverage(bs_parcellation *p, const double *inside, const double *total)
{
    for (int r = 0; r < p->n_rois; r++)
        p->coverage[r] = total[r] > 0 ? inside[r] / total[r] : 0.0;
}

bs_parcellation *bs_parcellation_labels(const bs_nifti_header *bold, const char *bold_name,
                                        const bs_atlas_spec *atlas, const uint8_t *mask, bs_error *err)
{
    bs_nifti_header ah;
    bs_tensor *img = bs_nifti_read_image(atlas->image, &ah, err);
    if (!img)
        return NULL;
    bs_parcellation *p = NULL;
    bs_atlas_labels *table = NULL;
    int64_t *lut = NULL;
    float *res = NULL;
    double *inside = NULL, *total = NULL;
    unsigned char *present = NULL;

    if (ah.nvol != 1) {
        bs_error_set(err, BS_ERR_DATA, "%s: dim[4] = %lld: a label atlas is one 3D image (4D maps: use atlas-prob)",
                     atlas->image, (long long)ah.nvol);
        goto fail;
    }
    /* Labels must be non-negative integers; find the largest.  Values within
     * 1e-3 of an integer (float-stored or scaled label images) are rounded. */
    int64_t max_label = 0;
    for (int64_t v = 0; v < ah.nvox; v++) {
        float x = img->data[v];
        float xr = nearbyintf(x);
        if (fabsf(x - xr) <= 1e-3f)
            img->data[v] = x = xr;
        if (!(x >= 0) || x != xr || x > 1e7f) {
            bs_error_set(err, BS_ERR_DATA, "%s: voxel %lld holds %g: a label atlas needs integer labels 0..10000000 "
                         "(probability maps: use atlas-prob)", atlas->image, (long long)v, (double)x);
            goto fail;
        }
        if ((int64_t)x > max_label)
            max_label = (int64_t)x;
    }
    if (max_label == 0) {
        bs_error_set(err, BS_ERR_DATA, "%s: atlas has no labels (every voxel is 0)", atlas->image);
        goto fail;
    }
    present = calloc((size_t)max_label + 1, 1);
    lut = malloc(((size_t)max_label + 1) * sizeof *lut);
    if (!present || !lut) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", atlas->image);
        goto fail;
    }
    for (int64_t v = 0; v < ah.nvox; v++)
        present[(int64_t)img->data[v]] = 1;
    present[0] = 0;
    int64_t n_present = 0;
    for (int64_t l = 1; l <= max_label; l++)
        n_present += present[l];

    if (atlas->labels && !(table = bs_atlas_labels_read(atlas->labels, err)))
        goto fail;
    /* ROI order: table rows, then labels the table lacks (ascending). */
    int64_t n_rois = table ? table->n : 0, n_extra = 0;
    for (int64_t l = 0; l <= max_label; l++)
        lut[l] = -1;
    if (table)
        for (int i = 0; i < table->n; i++)
            if (table->index[i] <= max_label)
                lut[table->index[i]] = i;
    for (int64_t l = 1; l <= max_label; l++)
        if (present[l] && lut[l] < 0) {
            lut[l] = n_rois++;
            n_extra++;
        }
    if (n_rois > 1000000) {
        bs_error_set(err, BS_ERR_DATA, "%s: %lld labels: more than 1000000 ROIs", atlas->image, (long long)n_rois);
        goto fail;
    }
    if (table && n_extra)
        bs_log(BS_LOG_WARN, "%s: %lld label value(s) in the image are missing from %s; they are kept as ROIs named by their value",
               atlas->image, (long long)n_extra, atlas->labels);
    p = parcellation_new((int)n_rois, bold->nvox, atlas->bids_name ? atlas->bids_name : atlas->name, err);
    if (!p)
        goto fail;
    for (int64_t l = 1; l <= max_label; l++)
        if (lut[l] >= 0)
            p->index[lut[l]] = l;
    if (table)
        for (int i = 0; i < table->n; i++)
            p->index[i] = table->index[i];
    for (int r = 0; r < p->n_rois; r++) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)p->index[r]);
        p->names[r] = strdup(table && r < table->n ? table->name[r] : num);
        if (!p->names[r]) {
            bs_error_set(err, BS_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }

    /* Resample once: nearest neighbour through both world affines. */
    double map[4][4];
    if (bs_voxel_map(ah.affine, bold->affine, map, atlas->image, err))
        goto fail;
    int64_t sd[3], dd[3];
    sd[0] = ah.dim[1], sd[1] = ah.dim[2], sd[2] = ah.dim[3];
    grid_dims(bold, dd);
    res = bs_alloc_floats((size_t)bold->nvox);
    inside = calloc((size_t)p->n_rois + 1, sizeof *inside);
    total = calloc((size_t)p->n_rois + 1, sizeof *total);
    if (!res || !inside || !total) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", atlas->image);
        goto fail;
    }
    bs_resample_nearest(img->data, sd, map, dd, res);
    bs_tensor_free(img);
    img = NULL;

    int64_t n_entries = 0;
    double grand_total = 0;
    for (int64_t v = 0; v < bold->nvox; v++) {
        int64_t l = (int64_t)res[v];
        if (l <= 0 || lut[l] < 0)
            continue;
        total[lut[l]] += 1;
        grand_total += 1;
        if (!mask || mask[v]) {
            inside[lut[l]] += 1;
            n_entries++;
        }
    }
    if (grand_total == 0) {
        no_overlap_error(atlas->image, bold_name, err);
        goto fail;
    }
    if (alloc_entries(p, n_entries, 0, err))
        goto fail;
    int64_t e = 0;
    for (int64_t v = 0; v < bold->nvox; v++) {
        int64_t l = (int64_t)res[v];
        if (l <= 0 || lut[l] < 0 || (mask && !mask[v]))
            continue;
        p->voxel[e] = v;
        p->roi[e] = (int32_t)lut[l];
        p->n_voxels[lut[l]]++;
        e++;
    }
    set_coverage(p, inside, total);
    (void)n_present;
    bs_free(res);
    free(inside);
    free(total);
    free(lut);
    free(present);
    bs_atlas_labels_free(table);
    return p;
fail:
    bs_tensor_free(img);
    bs_parcellation_free(p);
    bs_free(res);
    free(inside);
    free(total);
    free(lut);
    free(present);
    bs_atlas_labels_free(table);
    return NULL;
}

bs_parcellation *bs_parcellation_prob(const bs_nifti_header *bold, const char *bold_name,
                                      const bs_atlas_spec *atlas, const uint8_t *mask, double threshold,
                                      bs_error *err)
{
    bs_nifti_reader *r = bs_nifti_open(atlas->image, err);
    if (!r)
        return NULL;
    const bs_nifti_header *ah = bs_nifti_reader_header(r);
    bs_parcellation *p = NULL;
    bs_atlas_labels *table = NULL;
    float *src = NULL, *res = NULL;
    int64_t *vox = NULL;
    int32_t *roi = NULL;
    float *w = NULL;
    int64_t n = 0, cap = 0;
    double *inside = NULL, *total = NULL;

    if (ah->nvol > 100000) {
        bs_error_set(err, BS_ERR_DATA, "%s: %lld maps: too many for a probabilistic atlas", atlas->image,
                     (long long)ah->nvol);
        goto fail;
    }
    int n_maps = (int)ah->nvol;
    if (atlas->labels && !(table = bs_atlas_labels_read(atlas->labels, err)))
        goto fail;
    p = parcellation_new(n_maps, bold->nvox, atlas->bids_name ? atlas->bids_name : atlas->name, err);
    if (!p)
        goto fail;
    for (int m = 0; m < n_maps; m++) {
        p->index[m] = m + 1;
        const char *name = NULL;
        char num[32];
        snprintf(num, sizeof num, "%d", m + 1);
        if (table)
            for (int i = 0; i < table->n && !name; i++)
                if (table->index[i] == m + 1)
                    name = table->name[i];
        p->names[m] = strdup(name ? name : num);
        if (!p->names[m]) {
            bs_error_set(err, BS_ERR_NOMEM, "out of memory");
            goto fail;
        }
    }
    if (table && table->n != n_maps)
        bs_log(BS_LOG_WARN, "%s: %d rows for %d maps; maps without a row are named by their number",
               atlas->labels, table->n, n_maps);

    double map[4][4];
    if (bs_voxel_map(ah->affine, bold->affine, map, atlas->image, err))
        goto fail;
    int64_t sd[3] = {ah->dim[1], ah->dim[2], ah->dim[3]}, dd[3];
    grid_dims(bold, dd);
    src = bs_alloc_floats((size_t)ah->nvox);
    res = bs_alloc_floats((size_t)bold->nvox);
    inside = calloc((size_t)n_maps + 1, sizeof *inside);
    total = calloc((size_t)n_maps + 1, sizeof *total);
    if (!src || !res || !inside || !total) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", atlas->image);
        goto fail;
    }
    int any_weight = 0;
    double grand_total = 0;
    for (int m = 0; m < n_maps; m++) {
        if (bs_nifti_read_volume(r, m, src, err))
            goto fail;
        for (int64_t v = 0; v < ah->nvox; v++) {
            if (!(src[v] >= 0) || !isfinite(src[v])) {
                bs_error_set(err, BS_ERR_DATA, "%s: map %d, voxel %lld holds %g: weights must be finite and >= 0",
                             atlas->image, m + 1, (long long)v, (double)src[v]);
                goto fail;
            }
            any_weight |= src[v] > threshold;
        }
        bs_resample_trilinear(src, sd, map, dd, res);
        for (int64_t v = 0; v < bold->nvox; v++) {
            float x = res[v];
            if (!(x > threshold))
                continue;
            total[m] += x;
            grand_total += x;
            if (mask && !mask[v])
                continue;
            inside[m] += x;
            if (n == cap) {
                int64_t nc = cap ? 2 * cap : 65536;
                int64_t *nv = realloc(vox, (size_t)nc * sizeof *nv);
                if (nv)
                    vox = nv;
                int32_t *nr = realloc(roi, (size_t)nc * sizeof *nr);
                if (nr)
                    roi = nr;
                float *nw = realloc(w, (size_t)nc * sizeof *nw);
                if (nw)
                    w = nw;
                if (!nv || !nr || !nw) {
                    bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for %lld weights", atlas->image, (long long)nc);
                    goto fail;
                }
                cap = nc;
            }
            vox[n] = v;
            roi[n] = m;
            w[n] = x;
            n++;
            p->n_voxels[m]++;
        }
    }
    if (!any_weight) {
        bs_error_set(err, BS_ERR_DATA, "%s: atlas has no weights above %g (every map is empty)", atlas->image, threshold);
        goto fail;
    }
    if (grand_total == 0) {
        no_overlap_error(atlas->image, bold_name, err);
        goto fail;
    }
    /* Counting sort by voxel (stable: maps stay in order within a voxel). */
    if (alloc_entries(p, n, 1, err))
        goto fail;
    {
        int64_t *start = calloc((size_t)bold->nvox + 1, sizeof *start);
        if (!start) {
            bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", atlas->image);
            goto fail;
        }
        for (int64_t i = 0; i < n; i++)
            start[vox[i] + 1]++;
        for (int64_t v = 0; v < bold->nvox; v++)
            start[v + 1] += start[v];
        for (int64_t i = 0; i < n; i++) {
            int64_t at = start[vox[i]]++;
            p->voxel[at] = vox[i];
            p->roi[at] = roi[i];
            p->weight[at] = w[i];
        }
        free(start);
    }
    set_coverage(p, inside, total);
    bs_nifti_close(r);
    bs_free(src);
    bs_free(res);
    free(vox);
    free(roi);
    free(w);
    free(inside);
    free(total);
    bs_atlas_labels_free(table);
    return p;
fail:
    bs_nifti_close(r);
    bs_parcellation_free(p);
    bs_free(src);
    bs_free(res);
    free(vox);
    free(roi);
    free(w);
    free(inside);
    free(total);
    bs_atlas_labels_free(table);
    return NULL;
}

bs_parcellation *bs_parcellation_grid(const bs_nifti_header *bold, const char *bold_name, double size_mm,
                                      const uint8_t *mask, bs_error *err)
{
    if (!(size_mm > 0) || !isfinite(size_mm))
        return bs_error_set(err, BS_ERR_USAGE, "atlas-grid: size %g mm: expected > 0", size_mm), NULL;
    const double (*A)[4] = bold->affine;
    int64_t d[3];
    grid_dims(bold, d);
    /* Cell of a voxel: floor(world / size) per axis. Find the range first. */
    int64_t lo[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, hi[3] = {INT64_MIN, INT64_MIN, INT64_MIN};
    for (int corner = 0; corner < 8; corner++) {
        double ijk[3] = {(corner & 1) ? (double)(d[0] - 1) : 0, (corner & 2) ? (double)(d[1] - 1) : 0,
                         (corner & 4) ? (double)(d[2] - 1) : 0};
        for (int a = 0; a < 3; a++) {
            double x = A[a][0] * ijk[0] + A[a][1] * ijk[1] + A[a][2] * ijk[2] + A[a][3];
            int64_t c = (int64_t)floor(x / size_mm);
            lo[a] = c < lo[a] ? c : lo[a];
            hi[a] = c > hi[a] ? c : hi[a];
        }
    }
    int64_t nc[3] = {hi[0] - lo[0] + 1, hi[1] - lo[1] + 1, hi[2] - lo[2] + 1};
    double n_cells_d = (double)nc[0] * (double)nc[1] * (double)nc[2];
    if (n_cells_d > 5e7)
        return bs_error_set(err, BS_ERR_USAGE, "atlas-grid: size %g mm gives %.0f cells over %s: too fine",
                            size_mm, n_cells_d, bold_name), NULL;
    int64_t n_cells = (int64_t)n_cells_d;
    int32_t *cell = malloc((size_t)bold->nvox * sizeof *cell);
    double *total = calloc((size_t)n_cells, sizeof *total), *inside = calloc((size_t)n_cells, sizeof *inside);
    int32_t *cell_roi = malloc((size_t)n_cells * sizeof *cell_roi);
    bs_parcellation *p = NULL;
    double *cov_in = NULL, *cov_total = NULL;
    if (!cell || !total || !inside || !cell_roi) {
        bs_error_set(err, BS_ERR_NOMEM, "atlas-grid: out of memory for %lld cells", (long long)n_cells);
        goto done;
    }
    for (int64_t k = 0, v = 0; k < d[2]; k++)
        for (int64_t j = 0; j < d[1]; j++)
            for (int64_t i = 0; i < d[0]; i++, v++) {
                int64_t c[3];
                for (int a = 0; a < 3; a++) {
                    double x = A[a][0] * (double)i + A[a][1] * (double)j + A[a][2] * (double)k + A[a][3];
                    c[a] = (int64_t)floor(x / size_mm) - lo[a];
                    if (c[a] < 0)
                        c[a] = 0; /* rounding at the range edge */
                    if (c[a] >= nc[a])
                        c[a] = nc[a] - 1;
                }
                int64_t id = c[0] + nc[0] * (c[1] + nc[1] * c[2]);
                cell[v] = (int32_t)id;
                total[id] += 1;
                if (!mask || mask[v])
                    inside[id] += 1;
            }
    int n_rois = 0;
    int64_t n_entries = 0;
    for (int64_t id = 0; id < n_cells; id++) {
        cell_roi[id] = inside[id] > 0 ? n_rois++ : -1;
        n_entries += (int64_t)inside[id];
    }
    char name[64]; /* a BIDS label: letters and digits only, so 2.5 mm -> grid2p5 */
    snprintf(name, sizeof name, "grid%g", size_mm);
    for (char *c = name; *c; c++)
        if (*c == '.')
            *c = 'p';
    p = parcellation_new(n_rois, bold->nvox, name, err);
    cov_in = calloc((size_t)n_rois + 1, sizeof *cov_in);
    cov_total = calloc((size_t)n_rois + 1, sizeof *cov_total);
    if (!p || !cov_in || !cov_total || alloc_entries(p, n_entries, 0, err)) {
        if (p && (!cov_in || !cov_total))
            bs_error_set(err, BS_ERR_NOMEM, "atlas-grid: out of memory");
        bs_parcellation_free(p);
        p = NULL;
        goto done;
    }
    for (int64_t id = 0; id < n_cells; id++) {
        int r = cell_roi[id];
        if (r < 0)
            continue;
        int64_t cx = id % nc[0] + lo[0], cy = (id / nc[0]) % nc[1] + lo[1], cz = id / (nc[0] * nc[1]) + lo[2];
        char nm[96];
        /* Cube centre in world mm: a stable, readable node name. */
        snprintf(nm, sizeof nm, "x%+g_y%+g_z%+g", ((double)cx + 0.5) * size_mm, ((double)cy + 0.5) * size_mm,
                 ((double)cz + 0.5) * size_mm);
        p->names[r] = strdup(nm);
        p->index[r] = r + 1;
        cov_in[r] = inside[id];
        cov_total[r] = total[id];
        if (!p->names[r]) {
            bs_error_set(err, BS_ERR_NOMEM, "atlas-grid: out of memory");
            bs_parcellation_free(p);
            p = NULL;
            goto done;
        }
    }
    int64_t e = 0;
    for (int64_t v = 0; v < bold->nvox; v++) {
        if (mask && !mask[v])
            continue;
        int r = cell_roi[cell[v]];
        p->voxel[e] = v;
        p->roi[e] = r;
        p->n_voxels[r]++;
        e++;
    }
    set_coverage(p, cov_in, cov_total);
done:
    free(cell);
    free(total);
    free(inside);
    free(cell_roi);
    free(cov_in);
    free(cov_total);
    return p;
}
