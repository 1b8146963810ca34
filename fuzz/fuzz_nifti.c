/* fuzz_nifti.c - the NIfTI-1/NIfTI-2 reader (header through nifticlib, then
 * our streaming data path) on arbitrary bytes.
 *
 * The input is written to a scratch file named .nii.gz when it starts with
 * the gzip magic, else .nii, so both znz paths (plain and zlib) are reached.
 * After a successful open every volume is read (the header promises are
 * what is being tested: a truncated or lying file must fail cleanly, never
 * read out of bounds), then the whole-image reader runs on the same file. */
#include "fuzz_common.h"

#include <math.h>

#include "brainstage/nifti.h"
#include "brainstage/tensor.h"

/* Keep one execution fast: images whose volumes exceed this are read only
 * at their first and last volume (the reader's size checks run anyway). */
#define FUZZ_MAX_READ_BYTES (4u << 20)

static void read_volumes(bs_nifti_reader *r)
{
    const bs_nifti_header *h = bs_nifti_reader_header(r);
    bs_error err = {0};
    if (h->nvox <= 0 || h->nvol <= 0) {
        fprintf(stderr, "fuzz: open accepted nvox=%lld nvol=%lld\n", (long long)h->nvox, (long long)h->nvol);
        abort();
    }
    if ((uint64_t)h->nvox > FUZZ_MAX_READ_BYTES / sizeof(float))
        return;
    float *vol = malloc((size_t)h->nvox * sizeof(float));
    if (!vol)
        abort();
    int64_t budget = FUZZ_MAX_READ_BYTES / ((size_t)h->nvox * sizeof(float));
    int64_t first_skip = h->nvol > budget ? h->nvol - 1 : h->nvol;
    for (int64_t t = 0; t < h->nvol; t++) {
        if (t > 0 && t < first_skip)
            continue;
        int rc = bs_nifti_read_volume(r, t, vol, &err);
        fuzz_check_error(rc, &err);
        if (rc)
            break;
    }
    /* A backward request reopens the stream. */
    if (h->nvol > 1) {
        int rc = bs_nifti_read_volume(r, 0, vol, &err);
        fuzz_check_error(rc, &err);
    }
    free(vol);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *plain, *gz;
    if (!plain) {
        plain = fuzz_path("bold.nii");
        gz = fuzz_path("bold.nii.gz");
    }
    const char *path = size >= 2 && data[0] == 0x1f && data[1] == 0x8b ? gz : plain;
    fuzz_write(path, data, size);

    bs_error err = {0};
    bs_nifti_reader *r = bs_nifti_open(path, &err);
    if (!r) {
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        return 0;
    }
    read_volumes(r);
    const bs_nifti_header *h = bs_nifti_reader_header(r);
    const uint64_t max_floats = FUZZ_MAX_READ_BYTES / sizeof(float);
    int small = (uint64_t)h->nvox <= max_floats && (uint64_t)h->nvol <= max_floats / (uint64_t)h->nvox;
    bs_nifti_close(r);
    if (small) {
        bs_nifti_header hdr;
        bs_tensor *t = bs_nifti_read_image(path, &hdr, &err);
        if (!t)
            fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        bs_tensor_free(t);
    }
    return 0;
}
