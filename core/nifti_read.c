/* nifti_read.c - streaming NIfTI-1/NIfTI-2 reader (volume at a time).
 *
 * nifticlib (NIfTI-2 API, which reads both versions) parses the header; the
 * voxel stream is read through its znz layer (plain or gzip), one volume per
 * call, so memory stays O(one volume).  Before handing a file to nifticlib we
 * sniff sizeof_hdr and the magic ourselves: nifticlib only says "failed" (and
 * prints to stderr), while our errors must name the file and the field. */
#include "brainstage/nifti.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nifti2_io.h>

struct bs_nifti_reader {
    char *path;
    char *data_path;        /* .nii itself, or the .img of a pair */
    int64_t data_offset;    /* vox_offset */
    int gz;
    bs_nifti_header hdr;
    int nbyper;
    int swap;               /* file byte order differs from ours */
    size_t vol_bytes;
    znzFile fp;             /* NULL until first read / after an error */
    int64_t next_vol;       /* volume the stream is positioned at */
    void *raw;              /* scratch for non-native data (NULL for native f32) */
};

static const char *datatype_name(int dt)
{
    const char *s = nifti_datatype_string(dt);
    return s ? s : "unknown";
}

/* Datatypes we convert to float32. */
static int datatype_supported(int dt)
{
    switch (dt) {
    case NIFTI_TYPE_UINT8: case NIFTI_TYPE_INT8:
    case NIFTI_TYPE_INT16: case NIFTI_TYPE_UINT16:
    case NIFTI_TYPE_INT32: case NIFTI_TYPE_UINT32:
    case NIFTI_TYPE_INT64: case NIFTI_TYPE_UINT64:
    case NIFTI_TYPE_FLOAT32: case NIFTI_TYPE_FLOAT64:
        return 1;
    default:
        return 0;
    }
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void describe_bytes(const unsigned char *b, size_t n, char *out, size_t out_size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < out_size; i++) {
        if (b[i] >= 32 && b[i] < 127 && b[i] != '"' && b[i] != '\\')
            out[o++] = (char)b[i];
        else
            o += (size_t)snprintf(out + o, out_size - o, "\\x%02x", b[i]);
    }
    out[o < out_size ? o : out_size - 1] = '\0';
}

/* n bytes of a header field into t in native order (reversed when the
 * file's byte order differs from ours). */
static void native_bytes(const unsigned char *b, int n, int swap, unsigned char *t)
{
    for (int i = 0; i < n; i++)
        t[i] = b[swap ? n - 1 - i : i];
}

/* A 2-, 4- or 8-byte signed integer field. */
static int64_t read_int(const unsigned char *b, int n, int swap)
{
    unsigned char t[8];
    native_bytes(b, n, swap, t);
    int16_t v2;
    int32_t v4;
    int64_t v8;
    if (n == 2)
        return memcpy(&v2, t, 2), v2;
    if (n == 4)
        return memcpy(&v4, t, 4), v4;
    return memcpy(&v8, t, 8), v8;
}

static int32_t read_i32(const unsigned char *b, int swap) { return (int32_t)read_int(b, 4, swap); }

/* A float32 (n = 4) or float64 (n = 8) field. */
static double read_real(const unsigned char *b, int n, int swap)
{
    unsigned char t[8];
    native_bytes(b, n, swap, t);
    float f;
    double d;
    if (n == 4)
        return memcpy(&f, t, 4), f;
    return memcpy(&d, t, 8), d;
}

/* dim and pixdim straight from the file, before nifticlib sees it:
 * nifticlib 3.0.1 trusts a NIfTI-2 dim[0] and overruns a stack array when
 * it exceeds 7 (found by fuzz/fuzz_nifti.c), prints to stderr for a bad
 * NIfTI-1 dim, and passes NaN or negative voxel sizes and TRs through.
 * pixdim[1..3] only matter for a qform-only affine (nifticlib would then
 * quietly use 1 mm), so negative ones are refused only there. */
static int check_dims(const unsigned char *buf, int version, int swap, const char *path, bs_error *err)
{
    const int iw = version == 1 ? 2 : 8, fw = version == 1 ? 4 : 8;
    const unsigned char *dim = buf + (version == 1 ? 40 : 16), *pixdim = buf + (version == 1 ? 76 : 104);
    int64_t ndim = read_int(dim, iw, swap);
    if (ndim < 1 || ndim > 7)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: dim[0]: expected 1..7, found %lld", path, (long long)ndim);
    for (int i = 1; i <= ndim; i++) {
        int64_t d = read_int(dim + i * iw, iw, swap);
        if (d < 1)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: dim[%d]: expected >= 1, found %lld", path, i, (long long)d);
    }
    int sform_code = version == 1 ? (int)read_int(buf + 254, 2, swap) : (int)read_int(buf + 348, 4, swap);
    for (int i = 1; i <= ndim && i <= 4; i++) {
        double p = read_real(pixdim + i * fw, fw, swap);
        if (!isfinite(p))
            return bs_error_set(err, BS_ERR_FORMAT, "%s: pixdim[%d]: expected a finite %s, found %g", path, i,
                                i == 4 ? "repetition time" : "voxel size", p);
        if (p < 0 && (i == 4 || sform_code <= 0))
            return bs_error_set(err, BS_ERR_FORMAT, "%s: pixdim[%d]: expected a %s >= 0, found %g", path, i,
                                i == 4 ? "repetition time" : "voxel size", p);
    }
    return BS_OK;
}

/* pixdim[4] as stored on disk (float32 at byte 92 in NIfTI-1, float64 at
 * byte 136 in NIfTI-2).  nifticlib replaces a 0 there by 1, which would turn
 * a missing TR into a silent 1 s. */
static double raw_pixdim4(const unsigned char *buf, int version, int swap)
{
    unsigned char t[8];
    size_t n = version == 1 ? 4 : 8;
    memcpy(t, buf + (version == 1 ? 92 : 136), n);
    if (swap)
        for (size_t i = 0; i < n / 2; i++) {
            unsigned char c = t[i];
            t[i] = t[n - 1 - i];
            t[n - 1 - i] = c;
        }
    if (version == 1) {
        float f;
        memcpy(&f, t, 4);
        return f;
    }
    double d;
    memcpy(&d, t, 8);
    return d;
}

/* Reads the first bytes of the header file and checks sizeof_hdr and magic,
 * so that malformed files get a precise message; *pixdim4 = raw pixdim[4]. */
static int sniff_header(const char *path, int *version, double *pixdim4, bs_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return bs_error_set(err, BS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return bs_error_set(err, BS_ERR_IO, "%s: is a directory, expected a NIfTI file", path);
    znzFile fp = znzopen(path, "rb", nifti_is_gzfile(path));
    if (znz_isnull(fp))
        return bs_error_set(err, BS_ERR_IO, "%s: cannot open: %s", path,
                            errno ? strerror(errno) : "unknown error");
    unsigned char buf[540];
    size_t got = 0;
    while (got < sizeof buf) {
        size_t n = znzread(buf + got, 1, sizeof buf - got, fp);
        if (n == 0)
            break;
        got += n;
    }
    znzclose(fp);
    if (got < 348)
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: header: file holds %zu bytes, a NIfTI header needs at least 348 "
                            "(empty, truncated or not a NIfTI file)", path, got);
    int32_t size_native = read_i32(buf, 0), size_swapped = read_i32(buf, 1);
    int32_t size = (size_native == 348 || size_native == 540) ? size_native
                 : (size_swapped == 348 || size_swapped == 540) ? size_swapped : 0;
    if (size == 0)
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: sizeof_hdr: expected 348 (NIfTI-1) or 540 (NIfTI-2), found %d "
                            "(not a NIfTI file)", path, size_native);
    char found[64];
    int swap = size != size_native;
    *version = size == 348 ? 1 : 2;
    *pixdim4 = raw_pixdim4(buf, *version, size != size_native);
    if (size == 348) {
        const unsigned char *m = buf + 344;
        if (!(memcmp(m, "n+1", 4) == 0 || memcmp(m, "ni1", 4) == 0)) {
            describe_bytes(m, 4, found, sizeof found);
            return bs_error_set(err, BS_ERR_FORMAT,
                                "%s: magic: expected \"n+1\" or \"ni1\" (NIfTI-1), found \"%s\" "
                                "(ANALYZE 7.5 and other formats are not supported)", path, found);
        }
    } else {
        const unsigned char *m = buf + 4;
        if (got < 540 || !(memcmp(m, "n+2\0\r\n\032\n", 8) == 0 ||
                           memcmp(m, "ni2\0\r\n\032\n", 8) == 0)) {
            if (got < 540)
                return bs_error_set(err, BS_ERR_FORMAT,
                                    "%s: header: file holds %zu bytes, a NIfTI-2 header needs 540",
                                    path, got);
            describe_bytes(m, 8, found, sizeof found);
            return bs_error_set(err, BS_ERR_FORMAT,
                                "%s: magic: expected \"n+2\\0\\r\\n\\x1a\\n\" (NIfTI-2), found \"%s\"",
                                path, found);
        }
    }
    return check_dims(buf, *version, swap, path, err);
}

static double time_unit_seconds(int units)
{
    switch (units) {
    case NIFTI_UNITS_SEC: return 1.0;
    case NIFTI_UNITS_MSEC: return 1e-3;
    case NIFTI_UNITS_USEC: return 1e-6;
    case NIFTI_UNITS_UNKNOWN: return 1.0; /* common in the wild; seconds is the only sane guess */
    default: return 0.0;                  /* Hz, ppm, rad/s: not a repetition time */
    }
}

static int fill_header(bs_nifti_header *h, const nifti_image *nim, const char *path, bs_error *err)
{
    memset(h, 0, sizeof *h);
    h->ndim = (int)nim->dim[0];
    if (h->ndim < 1 || h->ndim > 7)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: dim[0]: expected 1..7, found %d", path, h->ndim);
    h->dim[0] = h->ndim;
    for (int i = 1; i < 8; i++) {
        int64_t d = i <= h->ndim ? nim->dim[i] : 1;
        if (d < 1)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: dim[%d]: expected >= 1, found %lld",
                                path, i, (long long)d);
        h->dim[i] = d;
    }
    for (int i = 0; i < 8; i++)
        h->pixdim[i] = nim->pixdim[i];
    /* nifticlib zeroes pixdim[0]; on disk it is qfac, the handedness sign. */
    h->pixdim[0] = nim->qfac < 0 ? -1.0 : 1.0;
    h->datatype = nim->datatype;
    h->scl_slope = nim->scl_slope;
    h->scl_inter = nim->scl_inter;
    h->sform_code = nim->sform_code;
    h->qform_code = nim->qform_code;
    const nifti_dmat44 *m = nim->sform_code > 0 ? &nim->sto_xyz : &nim->qto_xyz;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            h->affine[r][c] = m->m[r][c];
    h->xyz_units = nim->xyz_units;
    h->time_units = nim->time_units;
    h->tr = h->ndim >= 4 ? h->pixdim[4] * time_unit_seconds(nim->time_units) : 0.0;
    if (!isfinite(h->tr) || h->tr < 0)
        h->tr = 0.0;
    int64_t nvox = 1, nvol = 1;
    for (int i = 1; i <= 3; i++) {
        if (nvox > INT64_MAX / h->dim[i])
            return bs_error_set(err, BS_ERR_FORMAT, "%s: dim: voxel count overflows", path);
        nvox *= h->dim[i];
    }
    for (int i = 4; i <= 7; i++) {
        if (nvol > INT64_MAX / h->dim[i])
            return bs_error_set(err, BS_ERR_FORMAT, "%s: dim: volume count overflows", path);
        nvol *= h->dim[i];
    }
    h->nvox = nvox;
    h->nvol = nvol;
    return BS_OK;
}

bs_nifti_reader *bs_nifti_open(const char *path, bs_error *err)
{
    if (!path || !*path) {
        bs_error_set(err, BS_ERR_USAGE, "NIfTI path is empty");
        return NULL;
    }
    /* For an .img of a pair, sniff its .hdr. */
    char *sniff_path = NULL;
    if (ends_with(path, ".img") || ends_with(path, ".img.gz")) {
        sniff_path = nifti_findhdrname(path);
        if (!sniff_path) {
            bs_error_set(err, BS_ERR_IO, "%s: cannot find the matching .hdr file", path);
            return NULL;
        }
    }
    int version = 0;
    double pixdim4 = 0.0;
    int rc = sniff_header(sniff_path ? sniff_path : path, &version, &pixdim4, err);
    free(sniff_path);
    if (rc)
        return NULL;

    nifti_set_debug_level(0); /* the library never prints; we report failures ourselves */
    nifti_image *nim = nifti_image_read(path, 0);
    if (!nim) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: header: nifticlib rejected the header (inconsistent "
                     "dim, datatype or vox_offset, or missing .img)", path);
        return NULL;
    }
    bs_nifti_reader *r = calloc(1, sizeof *r);
    if (!r) {
        nifti_image_free(nim);
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->path = strdup(path);
    r->data_path = nim->iname ? strdup(nim->iname) : NULL;
    if (!r->path || !r->data_path) {
        nifti_image_free(nim);
        bs_nifti_close(r);
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    r->data_offset = nim->iname_offset;
    r->gz = nifti_is_gzfile(r->data_path);
    r->nbyper = nim->nbyper;
    if (!datatype_supported(nim->datatype)) {
        bs_error_set(err, BS_ERR_UNSUPPORTED,
                     "%s: datatype: %d (%s) is not supported (expected an integer or real type: "
                     "uint8, int8, int16, uint16, int32, uint32, int64, uint64, float32, float64)",
                     path, nim->datatype, datatype_name(nim->datatype));
        nifti_image_free(nim);
        bs_nifti_close(r);
        return NULL;
    }
    r->swap = nim->nbyper > 1 && nim->byteorder != nifti_short_order();
    if (fill_header(&r->hdr, nim, path, err)) {
        nifti_image_free(nim);
        bs_nifti_close(r);
        return NULL;
    }
    r->hdr.version = version;
    if (!(pixdim4 > 0.0) || !isfinite(pixdim4))
        r->hdr.tr = 0.0; /* unknown, not nifticlib's substitute 1 */
    nifti_image_free(nim);
    if (r->data_offset < 0) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: vox_offset: negative", path);
        bs_nifti_close(r);
        return NULL;
    }
    if (!bs_mul_size((size_t)r->hdr.nvox, (size_t)r->nbyper, &r->vol_bytes)) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: dim: volume size overflows", path);
        bs_nifti_close(r);
        return NULL;
    }
    /* What the header promises must fit in the file, checked before any
     * allocation: an uncompressed file shorter than that is truncated (say so
     * now rather than after minutes of streaming), and deflate inflates at
     * most 1032-fold, so a small .nii.gz whose header claims gigabytes is
     * refused instead of allocating a volume buffer for it (fuzz_nifti). */
    int64_t need;
    if (r->vol_bytes > (size_t)INT64_MAX ||
        __builtin_mul_overflow((int64_t)r->vol_bytes, r->hdr.nvol, &need) ||
        __builtin_add_overflow(need, r->data_offset, &need)) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: dim: image size overflows", path);
        bs_nifti_close(r);
        return NULL;
    }
    struct stat st;
    if (stat(r->data_path, &st) == 0) {
        if (!r->gz && (int64_t)st.st_size < need) {
            int64_t complete = ((int64_t)st.st_size - r->data_offset) / (int64_t)r->vol_bytes;
            if (complete < 0)
                complete = 0;
            bs_error_set(err, BS_ERR_FORMAT,
                         "%s: truncated: volume %lld (0-based) of %lld is incomplete (file has %lld bytes, "
                         "header needs %lld)", r->data_path, (long long)complete,
                         (long long)r->hdr.nvol, (long long)st.st_size, (long long)need);
            bs_nifti_close(r);
            return NULL;
        }
        if (r->gz && need / 1032 > (int64_t)st.st_size) {
            bs_error_set(err, BS_ERR_FORMAT,
                         "%s: truncated: the header needs %lld bytes, more than a %lld-byte gzip file can hold",
                         r->data_path, (long long)need, (long long)st.st_size);
            bs_nifti_close(r);
            return NULL;
        }
    }
    if (r->hdr.datatype != NIFTI_TYPE_FLOAT32 || r->swap) {
        r->raw = bs_alloc_aligned(r->vol_bytes);
        if (!r->raw) {
            bs_error_set(err, BS_ERR_NOMEM, "%s: cannot allocate %zu bytes for one volume",
                         path, r->vol_bytes);
            bs_nifti_close(r);
            return NULL;
        }
    }
    r->next_vol = -1;
    return r;
}

const bs_nifti_header *bs_nifti_reader_header(const bs_nifti_reader *r) { return &r->hdr; }
const char *bs_nifti_reader_path(const bs_nifti_reader *r) { return r->path; }

static void stream_close(bs_nifti_reader *r)
{
    if (r->fp) {
        znzclose(r->fp);
        r->fp = NULL;
    }
    r->next_vol = -1;
}

/* Positions the stream at volume t; reopens for backward moves (a gzip
 * stream cannot seek back cheaply) and skips forward otherwise. */
static int stream_seek(bs_nifti_reader *r, int64_t t, bs_error *err)
{
    if (r->fp && t == r->next_vol)
        return BS_OK;
    if (r->fp && t < r->next_vol)
        stream_close(r);
    if (!r->fp) {
        r->fp = znzopen(r->data_path, "rb", r->gz);
        if (znz_isnull(r->fp)) {
            r->fp = NULL;
            return bs_error_set(err, BS_ERR_IO, "%s: cannot open: %s", r->data_path,
                                errno ? strerror(errno) : "unknown error");
        }
        r->next_vol = 0;
        if (znzseek(r->fp, (long)r->data_offset, SEEK_SET) < 0) {
            stream_close(r);
            return bs_error_set(err, BS_ERR_FORMAT, "%s: truncated: cannot reach vox_offset %lld",
                                r->data_path, (long long)r->data_offset);
        }
    }
    if (t != r->next_vol) {
        long pos = (long)(r->data_offset + t * (int64_t)r->vol_bytes);
        if (znzseek(r->fp, pos, SEEK_SET) < 0) {
            stream_close(r);
            return bs_error_set(err, BS_ERR_FORMAT, "%s: truncated: cannot reach volume %lld of %lld",
                                r->data_path, (long long)t, (long long)r->hdr.nvol);
        }
        r->next_vol = t;
    }
    return BS_OK;
}

/* Scaled conversion of n stored values to float32. */
#define CONVERT(type)                                                          \
    do {                                                                       \
        const type *src = (const type *)raw;                                   \
        if (scaled)                                                            \
            for (int64_t i = 0; i < n; i++)                                    \
                out[i] = (float)((double)src[i] * slope + inter);              \
        else                                                                   \
            for (int64_t i = 0; i < n; i++)                                    \
                out[i] = (float)src[i];                                        \
    } while (0)

static void convert(int datatype, const void *raw, int64_t n, float *out, int scaled,
                    double slope, double inter)
{
    switch (datatype) {
    case NIFTI_TYPE_UINT8: CONVERT(uint8_t); break;
    case NIFTI_TYPE_INT8: CONVERT(int8_t); break;
    case NIFTI_TYPE_INT16: CONVERT(int16_t); break;
    case NIFTI_TYPE_UINT16: CONVERT(uint16_t); break;
    case NIFTI_TYPE_INT32: CONVERT(int32_t); break;
    case NIFTI_TYPE_UINT32: CONVERT(uint32_t); break;
    case NIFTI_TYPE_INT64: CONVERT(int64_t); break;
    case NIFTI_TYPE_UINT64: CONVERT(uint64_t); break;
    case NIFTI_TYPE_FLOAT64: CONVERT(double); break;
    case NIFTI_TYPE_FLOAT32: CONVERT(float); break;
    default: break; /* rejected at open */
    }
}

int bs_nifti_scaling(const bs_nifti_header *h, double *slope, double *inter)
{
    double s = h->scl_slope, b = h->scl_inter;
    if (s == 0.0 || !isfinite(s) || !isfinite(b) || (s == 1.0 && b == 0.0)) {
        *slope = 1.0;
        *inter = 0.0;
        return 0;
    }
    *slope = s;
    *inter = b;
    return 1;
}

int bs_nifti_read_volume(bs_nifti_reader *r, int64_t t, float *out, bs_error *err)
{
    if (t < 0 || t >= r->hdr.nvol)
        return bs_error_set(err, BS_ERR_USAGE, "%s: volume %lld requested, the image has %lld (0-based)",
                            r->path, (long long)t, (long long)r->hdr.nvol);
    int rc = stream_seek(r, t, err);
    if (rc)
        return rc;
    void *dst = r->raw ? r->raw : (void *)out;
    size_t got = 0;
    while (got < r->vol_bytes) {
        size_t n = znzread((char *)dst + got, 1, r->vol_bytes - got, r->fp);
        if (n == 0)
            break;
        got += n;
    }
    if (got < r->vol_bytes) {
        stream_close(r);
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: truncated: volume %lld (0-based) of %lld is incomplete (read %zu of %zu bytes%s)",
                            r->data_path, (long long)t, (long long)r->hdr.nvol, got, r->vol_bytes,
                            r->gz ? "; gzip stream ends early or is corrupt" : "");
    }
    r->next_vol = t + 1;
    if (r->swap)
        nifti_swap_Nbytes(r->hdr.nvox, r->nbyper, dst);
    double slope, inter;
    int scaled = bs_nifti_scaling(&r->hdr, &slope, &inter);
    if (r->raw)
        convert(r->hdr.datatype, r->raw, r->hdr.nvox, out, scaled, slope, inter);
    else if (scaled)
        convert(NIFTI_TYPE_FLOAT32, out, r->hdr.nvox, out, 1, slope, inter);
    return BS_OK;
}

void bs_nifti_close(bs_nifti_reader *r)
{
    if (!r)
        return;
    stream_close(r);
    bs_free(r->raw);
    free(r->data_path);
    free(r->path);
    free(r);
}

bs_tensor *bs_nifti_read_image(const char *path, bs_nifti_header *hdr, bs_error *err)
{
    bs_nifti_reader *r = bs_nifti_open(path, err);
    if (!r)
        return NULL;
    const bs_nifti_header *h = &r->hdr;
    int64_t shape[4] = {h->nvol, h->dim[3], h->dim[2], h->dim[1]};
    int is4d = h->nvol > 1 || h->ndim >= 4;
    bs_tensor *t = is4d ? bs_tensor_new(4, shape, err) : bs_tensor_new(3, shape + 1, err);
    if (!t) {
        bs_error_prefix(err, "%s", path);
        bs_nifti_close(r);
        return NULL;
    }
    for (int64_t v = 0; v < h->nvol; v++) {
        if (bs_nifti_read_volume(r, v, t->data + v * h->nvox, err)) {
            bs_tensor_free(t);
            bs_nifti_close(r);
            return NULL;
        }
    }
    if (hdr)
        *hdr = *h;
    bs_nifti_close(r);
    return t;
}
