/* nifti_dump.c - test helper: prints a NIfTI header as "key value" lines and
 * writes the voxels (float32, volume after volume) to a raw file, so Python
 * tests can compare brainstage's reader against nibabel.
 *
 * usage: nifti_dump FILE [RAW_OUT] [reverse]
 *        nifti_dump --write OUT DATATYPE [negative]  (writes a known 4x3x2x5 image;
 *        "negative" keeps negative values for uint8, which must fail)
 * "reverse" reads the volumes last to first (exercises the reopen path).
 * On failure prints "error <status-name> <code>: <message>" on stderr and
 * exits with the bs_status code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/nifti.h"

/* Values v = 0.5*i - 3 (i = flat index), affine with rotation/shear terms,
 * TR 1.5 s, MNI code 4; integer types get the rounded values. */
static int write_known(const char *path, int datatype, int keep_negative)
{
    bs_error err = {0};
    int64_t shape[4] = {5, 2, 3, 4};
    bs_tensor *t = bs_tensor_new(4, shape, &err);
    if (!t)
        return 3;
    for (int64_t i = 0; i < bs_tensor_numel(t); i++)
        t->data[i] = (float)(0.5 * (double)i - 3.0);
    if (datatype == 2 && !keep_negative) /* uint8: keep in range */
        for (int64_t i = 0; i < bs_tensor_numel(t); i++)
            t->data[i] = (float)i;
    const double affine[4][4] = {{-2, 0, 0, 90}, {0, 2, 0, -126}, {0, 0, 2, -72}, {0, 0, 0, 1}};
    int rc = bs_nifti_write(path, t, affine, 4, 1.5, datatype, &err);
    bs_tensor_free(t);
    if (rc)
        fprintf(stderr, "error %s %d: %s\n", bs_status_name(err.code), err.code, err.message);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: nifti_dump FILE [RAW_OUT] [reverse]\n");
        return 2;
    }
    bs_error err = {0};
    if (strcmp(argv[1], "--write") == 0 && argc >= 4)
        return write_known(argv[2], atoi(argv[3]), argc >= 5 && strcmp(argv[4], "negative") == 0);
    bs_nifti_reader *r = bs_nifti_open(argv[1], &err);
    if (!r) {
        fprintf(stderr, "error %s %d: %s\n", bs_status_name(err.code), err.code, err.message);
        return err.code;
    }
    const bs_nifti_header *h = bs_nifti_reader_header(r);
    printf("version %d\nndim %d\ndim", h->version, h->ndim);
    for (int i = 0; i < 8; i++)
        printf(" %lld", (long long)h->dim[i]);
    printf("\npixdim");
    for (int i = 0; i < 8; i++)
        printf(" %.17g", h->pixdim[i]);
    printf("\ndatatype %d\nscl_slope %.17g\nscl_inter %.17g\nsform_code %d\nqform_code %d\n",
           h->datatype, h->scl_slope, h->scl_inter, h->sform_code, h->qform_code);
    printf("affine");
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            printf(" %.17g", h->affine[i][j]);
    printf("\nxyz_units %d\ntime_units %d\ntr %.17g\nnvox %lld\nnvol %lld\n", h->xyz_units,
           h->time_units, h->tr, (long long)h->nvox, (long long)h->nvol);
    int status = 0;
    if (argc >= 3) {
        int reverse = argc >= 4 && strcmp(argv[3], "reverse") == 0;
        float *vol = bs_alloc_floats((size_t)h->nvox);
        FILE *out = fopen(argv[2], "wb");
        if (!vol || !out) {
            fprintf(stderr, "error: cannot allocate or open %s\n", argv[2]);
            return 3;
        }
        /* Volumes go to their own slot, so the file is in order either way. */
        for (int64_t k = 0; k < h->nvol; k++) {
            int64_t t = reverse ? h->nvol - 1 - k : k;
            if (bs_nifti_read_volume(r, t, vol, &err)) {
                fprintf(stderr, "error %s %d: %s\n", bs_status_name(err.code), err.code, err.message);
                status = err.code;
                break;
            }
            if (fseek(out, (long)(t * h->nvox * (int64_t)sizeof(float)), SEEK_SET) != 0 ||
                fwrite(vol, sizeof(float), (size_t)h->nvox, out) != (size_t)h->nvox) {
                fprintf(stderr, "error: writing %s failed\n", argv[2]);
                status = 3;
                break;
            }
        }
        fclose(out);
        bs_free(vol);
    }
    bs_nifti_close(r);
    return status;
}
