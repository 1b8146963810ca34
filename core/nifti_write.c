/* nifti_write.c - atomic NIfTI-1 writer for float32/int16/uint8 images.
 *
 * We fill the 348-byte NIfTI-1 header ourselves and stream it plus the data
 * through nifticlib's znz layer (gzip when the final name ends in .gz) into a
 * temporary file next to the final name, checking every write (nifticlib's
 * own nifti_image_write reports no errors), then rename into place. */
#include "brainstage/nifti.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nifti2_io.h>

#include "brainstage/fileio.h"

static int ends_with_gz(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && strcmp(s + n - 3, ".gz") == 0;
}

static int fill_header(nifti_1_header *h, const char *path, const bs_tensor *image,
                       const double affine[4][4], int xform_code, double tr, int datatype,
                       bs_error *err)
{
    memset(h, 0, sizeof *h);
    h->sizeof_hdr = 348;
    int nd = image->ndim;
    if (nd != 3 && nd != 4)
        return bs_error_set(err, BS_ERR_USAGE, "%s: image tensor must be [nz,ny,nx] or [nt,nz,ny,nx], "
                            "got %d dimensions", path, nd);
    int64_t nx = image->shape[nd - 1], ny = image->shape[nd - 2], nz = image->shape[nd - 3];
    int64_t nt = nd == 4 ? image->shape[0] : 1;
    int64_t dims[4] = {nx, ny, nz, nt};
    for (int i = 0; i < 4; i++)
        if (dims[i] < 1 || dims[i] > 32767)
            return bs_error_set(err, BS_ERR_USAGE, "%s: dim[%d] = %lld does not fit NIfTI-1 (1..32767)",
                                path, i + 1, (long long)dims[i]);
    h->dim[0] = (short)(nd == 4 ? 4 : 3);
    for (int i = 0; i < 4; i++)
        h->dim[i + 1] = (short)dims[i];
    for (int i = 5; i < 8; i++)
        h->dim[i] = 1;
    switch (datatype) {
    case NIFTI_TYPE_FLOAT32: h->bitpix = 32; break;
    case NIFTI_TYPE_INT16: h->bitpix = 16; break;
    case NIFTI_TYPE_UINT8: h->bitpix = 8; break;
    default:
        return bs_error_set(err, BS_ERR_USAGE, "%s: datatype %d: writing supports float32 (16), "
                            "int16 (4) and uint8 (2)", path, datatype);
    }
    h->datatype = (short)datatype;
    if (xform_code < 1 || xform_code > 5)
        return bs_error_set(err, BS_ERR_USAGE, "%s: xform code %d: expected 1..5", path, xform_code);

    nifti_dmat44 m;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            if (!isfinite(affine[r][c]))
                return bs_error_set(err, BS_ERR_USAGE, "%s: affine[%d][%d] is not finite", path, r, c);
            m.m[r][c] = affine[r][c];
        }
    double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
    nifti_dmat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
    h->pixdim[0] = (float)(qfac < 0 ? -1.0 : 1.0);
    h->pixdim[1] = (float)dx;
    h->pixdim[2] = (float)dy;
    h->pixdim[3] = (float)dz;
    h->pixdim[4] = (float)(nd == 4 ? tr : 0.0);
    for (int i = 5; i < 8; i++)
        h->pixdim[i] = 1.0f;
    h->quatern_b = (float)qb;
    h->quatern_c = (float)qc;
    h->quatern_d = (float)qd;
    h->qoffset_x = (float)qx;
    h->qoffset_y = (float)qy;
    h->qoffset_z = (float)qz;
    for (int c = 0; c < 4; c++) {
        h->srow_x[c] = (float)affine[0][c];
        h->srow_y[c] = (float)affine[1][c];
        h->srow_z[c] = (float)affine[2][c];
    }
    h->qform_code = (short)xform_code;
    h->sform_code = (short)xform_code;
    h->xyzt_units = (char)(NIFTI_UNITS_MM | NIFTI_UNITS_SEC);
    h->vox_offset = 352.0f;
    h->scl_slope = 0.0f; /* no scaling */
    snprintf(h->descrip, sizeof h->descrip, "brainstage");
    memcpy(h->magic, "n+1", 4);
    return BS_OK;
}

/* Converts a chunk to the stored type; integer types are rounded and must
 * fit (a silent wrap would corrupt labels). */
static int pack_chunk(const float *src, int64_t n, int datatype, void *dst, int64_t first,
                      const char *path, bs_error *err)
{
    if (datatype == NIFTI_TYPE_FLOAT32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return BS_OK;
    }
    double lo = datatype == NIFTI_TYPE_INT16 ? -32768.0 : 0.0;
    double hi = datatype == NIFTI_TYPE_INT16 ? 32767.0 : 255.0;
    for (int64_t i = 0; i < n; i++) {
        double v = nearbyint((double)src[i]);
        if (!(v >= lo && v <= hi))
            return bs_error_set(err, BS_ERR_DATA, "%s: value %g at voxel %lld does not fit %s",
                                path, (double)src[i], (long long)(first + i),
                                datatype == NIFTI_TYPE_INT16 ? "int16" : "uint8");
        if (datatype == NIFTI_TYPE_INT16)
            ((int16_t *)dst)[i] = (int16_t)v;
        else
            ((uint8_t *)dst)[i] = (uint8_t)v;
    }
    return BS_OK;
}

static int write_all(znzFile fp, const void *buf, size_t n, const char *path, bs_error *err)
{
    if (n && znzwrite(buf, 1, n, fp) != n)
        return bs_error_set(err, BS_ERR_IO, "%s: write failed (disk full?): %s", path,
                            errno ? strerror(errno) : "unknown error");
    return BS_OK;
}

int bs_nifti_write(const char *path, const bs_tensor *image, const double affine[4][4],
                   int xform_code, double tr, int datatype, bs_error *err)
{
    nifti_1_header h;
    int rc = fill_header(&h, path, image, affine, xform_code, tr, datatype, err);
    if (rc)
        return rc;
    char *tmp = bs_temp_path_for(path, err);
    if (!tmp)
        return err ? err->code : BS_ERR_IO;
    znzFile fp = znzopen(tmp, "wb", ends_with_gz(path));
    if (znz_isnull(fp)) {
        rc = bs_error_set(err, BS_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp,
                          errno ? strerror(errno) : "unknown error");
        remove(tmp);
        free(tmp);
        return rc;
    }
    static const char no_extension[4] = {0, 0, 0, 0};
    rc = write_all(fp, &h, sizeof h, path, err);
    if (!rc)
        rc = write_all(fp, no_extension, sizeof no_extension, path, err);

    int64_t total = bs_tensor_numel(image);
    const int64_t chunk = 1 << 18;
    int bytes_per = h.bitpix / 8;
    void *buf = rc ? NULL : malloc((size_t)chunk * (size_t)bytes_per);
    if (!rc && !buf)
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t off = 0; !rc && off < total; off += chunk) {
        int64_t n = total - off < chunk ? total - off : chunk;
        rc = pack_chunk(image->data + off, n, datatype, buf, off, path, err);
        if (!rc)
            rc = write_all(fp, buf, (size_t)n * (size_t)bytes_per, path, err);
    }
    free(buf);
    /* gzclose flushes the compressor: its failure is a write failure. */
    if (znzclose(fp) != 0 && !rc)
        rc = bs_error_set(err, BS_ERR_IO, "%s: closing the temporary file failed (disk full?)", path);
    if (!rc)
        rc = bs_rename_into_place(tmp, path, err);
    if (rc)
        remove(tmp);
    free(tmp);
    return rc;
}
