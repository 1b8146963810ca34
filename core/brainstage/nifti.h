/* brainstage/nifti.h - NIfTI-1/NIfTI-2 input and output through nifticlib.
 *
 * Reading converts every supported datatype to float32 and applies
 * scl_slope/scl_inter ourselves (nifticlib leaves them to the caller): a
 * slope of 0 or a non-finite slope/intercept means "no scaling".  The
 * voxel-to-world affine is sto_xyz when sform_code > 0, else qto_xyz.
 *
 * Voxel order: x fastest, then y, then z (file order).  A volume buffer has
 * nx*ny*nz floats; index = x + nx*(y + ny*z). */
#ifndef BRAINSTAGE_NIFTI_H
#define BRAINSTAGE_NIFTI_H

#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_nifti_header {
    int version;          /* 1 or 2 */
    int ndim;             /* dim[0] */
    int64_t dim[8];       /* dim[1..7] meaningful; 1 where absent */
    double pixdim[8];
    int datatype;         /* NIFTI_TYPE_* code as stored */
    double scl_slope;     /* as stored */
    double scl_inter;
    int sform_code, qform_code;
    double affine[4][4];  /* voxel (i,j,k,1) -> world mm */
    int xyz_units, time_units; /* NIFTI_UNITS_* codes */
    double tr;            /* seconds (pixdim[4] converted from time units); 0 = unknown */
    int64_t nvox;         /* voxels per 3D volume: dim1*dim2*dim3 */
    int64_t nvol;         /* volumes: product of dim4..dim7 (1 for 3D) */
} bs_nifti_header;

typedef struct bs_nifti_reader bs_nifti_reader;

/* Opens a .nii/.nii.gz (or .hdr/.img) and validates the header.  Errors name
 * the file and the field (e.g. "x.nii.gz: datatype 128 (RGB24) is not
 * supported").  Does not read voxel data. */
bs_nifti_reader *bs_nifti_open(const char *path, bs_error *err);
const bs_nifti_header *bs_nifti_reader_header(const bs_nifti_reader *r);
const char *bs_nifti_reader_path(const bs_nifti_reader *r);
/* Reads volume t (0-based) into out[nvox] as scaled float32.  Sequential
 * reads stream (no seeking back); asking for an earlier volume reopens. A
 * truncated file yields BS_ERR_FORMAT naming the volume. */
int bs_nifti_read_volume(bs_nifti_reader *r, int64_t t, float *out, bs_error *err);
void bs_nifti_close(bs_nifti_reader *r);

/* The scaling that reads apply: returns 1 and sets slope/inter when the
 * header asks for scaling, else 0 with slope 1 and inter 0 (slope 0, a
 * non-finite slope or intercept, or exactly 1/0). */
int bs_nifti_scaling(const bs_nifti_header *h, double *slope, double *inter);

/* Whole image in memory (atlases, masks): tensor shape [nvol, nz, ny, nx]
 * for 4D, [nz, ny, nx] for 3D.  hdr may be NULL. */
bs_tensor *bs_nifti_read_image(const char *path, bs_nifti_header *hdr, bs_error *err);

/* Writes a NIfTI-1 image from a [nz,ny,nx] or [nt,nz,ny,nx] tensor with the
 * given affine (stored as sform and qform, code 1 = scanner or 4 = MNI) and
 * TR (0 for 3D).  datatype: NIFTI_TYPE_FLOAT32, _INT16 or _UINT8 (values are
 * rounded and range-checked for integer types). Gzipped when the path ends
 * in .gz.  Atomic: written to a temporary file, then renamed. */
int bs_nifti_write(const char *path, const bs_tensor *image, const double affine[4][4],
                   int xform_code, double tr, int datatype, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
