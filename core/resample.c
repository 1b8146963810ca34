/* resample.c - mapping one voxel grid onto another through world affines.
 *
 * Atlases are resampled to the BOLD grid once: for every BOLD voxel we take
 * the world point of its centre and look up the atlas there (nearest
 * neighbour for labels, trilinear for probabilities).  The voxel-to-voxel
 * map is affine, so each row of voxels is a start point plus a constant
 * step. */
#include "brainstage/atlas.h"

#include <math.h>
#include <string.h>

#include <nifti2_io.h>

int bs_voxel_map(const double source_affine[4][4], const double target_affine[4][4],
                 double map[4][4], const char *source_name, bs_error *err)
{
    nifti_dmat44 a;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            a.m[r][c] = source_affine[r][c];
    double det = a.m[0][0] * (a.m[1][1] * a.m[2][2] - a.m[1][2] * a.m[2][1]) -
                 a.m[0][1] * (a.m[1][0] * a.m[2][2] - a.m[1][2] * a.m[2][0]) +
                 a.m[0][2] * (a.m[1][0] * a.m[2][1] - a.m[1][1] * a.m[2][0]);
    if (!isfinite(det) || fabs(det) < 1e-12)
        return bs_error_set(err, BS_ERR_DATA, "%s: affine is singular (determinant %g)",
                            source_name ? source_name : "atlas", det);
    nifti_dmat44 inv = nifti_dmat44_inverse(a);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            double s = 0;
            for (int k = 0; k < 4; k++)
                s += inv.m[r][k] * target_affine[k][c];
            map[r][c] = s;
        }
    return BS_OK;
}

void bs_resample_nearest(const float *src, const int64_t src_dim[3], const double map[4][4],
                         const int64_t dst_dim[3], float *out)
{
    const int64_t sx = src_dim[0], sy = src_dim[1], sz = src_dim[2];
    for (int64_t k = 0; k < dst_dim[2]; k++)
        for (int64_t j = 0; j < dst_dim[1]; j++) {
            float *row = out + dst_dim[0] * (j + dst_dim[1] * k);
            for (int64_t i = 0; i < dst_dim[0]; i++) {
                /* Same expression order as the Python reference (row dot
                 * (i,j,k) + offset) so rounding agrees at near-ties. */
                double c[3];
                for (int a = 0; a < 3; a++)
                    c[a] = map[a][0] * (double)i + map[a][1] * (double)j + map[a][2] * (double)k + map[a][3];
                double fx = floor(c[0] + 0.5), fy = floor(c[1] + 0.5), fz = floor(c[2] + 0.5);
                if (fx < 0 || fy < 0 || fz < 0 || fx >= (double)sx || fy >= (double)sy || fz >= (double)sz) {
                    row[i] = 0.0f;
                    continue;
                }
                row[i] = src[(int64_t)fx + sx * ((int64_t)fy + sy * (int64_t)fz)];
            }
        }
}

static inline double at(const float *src, const int64_t d[3], int64_t x, int64_t y, int64_t z)
{
    if (x < 0 || y < 0 || z < 0 || x >= d[0] || y >= d[1] || z >= d[2])
        return 0.0;
    return src[x + d[0] * (y + d[1] * z)];
}

void bs_resample_trilinear(const float *src, const int64_t src_dim[3], const double map[4][4],
                           const int64_t dst_dim[3], float *out)
{
    for (int64_t k = 0; k < dst_dim[2]; k++)
        for (int64_t j = 0; j < dst_dim[1]; j++) {
            float *row = out + dst_dim[0] * (j + dst_dim[1] * k);
            for (int64_t i = 0; i < dst_dim[0]; i++) {
                double c[3];
                for (int a = 0; a < 3; a++)
                    c[a] = map[a][0] * (double)i + map[a][1] * (double)j + map[a][2] * (double)k + map[a][3];
                if (c[0] <= -1 || c[1] <= -1 || c[2] <= -1 || c[0] >= (double)src_dim[0] ||
                    c[1] >= (double)src_dim[1] || c[2] >= (double)src_dim[2]) {
                    row[i] = 0.0f;
                    continue;
                }
                double x0 = floor(c[0]), y0 = floor(c[1]), z0 = floor(c[2]);
                double fx = c[0] - x0, fy = c[1] - y0, fz = c[2] - z0;
                int64_t x = (int64_t)x0, y = (int64_t)y0, z = (int64_t)z0;
                double v = 0;
                for (int dz = 0; dz < 2; dz++)
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            double w = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy) * (dz ? fz : 1 - fz);
                            if (w != 0)
                                v += w * at(src, src_dim, x + dx, y + dy, z + dz);
                        }
                row[i] = (float)v;
            }
        }
}
