/* brainstage/safetensors.h - safetensors reading (strict) and writing (atomic).
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the raw little-endian
 * byte buffer.  The reader rejects: header length over BS_ST_MAX_HEADER or
 * past the file end, invalid JSON, unknown dtypes, offsets out of bounds,
 * overlapping or non-contiguous tensors, size != numel * dtype size (with
 * overflow-checked arithmetic), duplicate names. */
#ifndef BRAINSTAGE_SAFETENSORS_H
#define BRAINSTAGE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "brainstage/error.h"
#include "brainstage/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BS_ST_MAX_HEADER (100u * 1024u * 1024u)

typedef enum bs_st_dtype {
    BS_ST_F32 = 0, BS_ST_F64, BS_ST_F16, BS_ST_BF16,
    BS_ST_I64, BS_ST_I32, BS_ST_I16, BS_ST_I8, BS_ST_U8, BS_ST_BOOL
} bs_st_dtype;

typedef struct bs_st_info {
    const char *name;
    bs_st_dtype dtype;
    int ndim;
    int64_t shape[BS_TENSOR_MAX_DIMS];
    uint64_t begin, end; /* byte offsets into the data buffer */
} bs_st_info;

typedef struct bs_safetensors bs_safetensors;

bs_safetensors *bs_st_open(const char *path, bs_error *err);
/* Same checks on an in-memory image of a file (used by the fuzzer); the
 * bytes are copied, so the caller may free them at once. */
bs_safetensors *bs_st_open_memory(const void *bytes, size_t size, const char *name, bs_error *err);
void bs_st_close(bs_safetensors *st);
int bs_st_count(const bs_safetensors *st);
const bs_st_info *bs_st_get(const bs_safetensors *st, int index);
const bs_st_info *bs_st_find(const bs_safetensors *st, const char *name);
/* NULL when absent. */
const char *bs_st_metadata(const bs_safetensors *st, const char *key);
/* Converts any float/int dtype to float32 into out[numel]. expect_ndim/expect_shape
 * (may be NULL/0 to skip) give an error naming the tensor on mismatch. */
int bs_st_read_f32(const bs_safetensors *st, const char *name, float *out,
                   int expect_ndim, const int64_t *expect_shape, bs_error *err);
/* New owned tensor with the stored shape, converted to float32. */
bs_tensor *bs_st_read_tensor(const bs_safetensors *st, const char *name, bs_error *err);
/* Raw bytes of a tensor (for exact-copy dtypes such as I64 or U8). */
const void *bs_st_raw(const bs_safetensors *st, const bs_st_info *info);

/* Dtype helpers: element size in bytes (0 when invalid), spec name ("F32"),
 * and parse (-1 when the name is not a supported dtype). */
size_t bs_st_dtype_size(bs_st_dtype dtype);
const char *bs_st_dtype_name(bs_st_dtype dtype);
int bs_st_dtype_parse(const char *name);
/* Number of __metadata__ entries and the i-th key/value (sorted by key). */
int bs_st_metadata_count(const bs_safetensors *st);
const char *bs_st_metadata_key(const bs_safetensors *st, int index);
/* Name given at open (path or memory name), for messages. */
const char *bs_st_name(const bs_safetensors *st);

/* Writer: collects tensors (data borrowed until write), writes atomically.
 * Tensors are laid out by element size (largest first), then name, packed
 * without gaps; the JSON header is padded with spaces so the data section
 * starts on an 8-byte boundary, hence every tensor is aligned to its element
 * size in a mapped file. */
typedef struct bs_st_writer bs_st_writer;
bs_st_writer *bs_st_writer_new(void);
int bs_st_writer_add(bs_st_writer *w, const char *name, bs_st_dtype dtype, int ndim,
                     const int64_t *shape, const void *data, bs_error *err);
int bs_st_writer_add_f32(bs_st_writer *w, const char *name, const bs_tensor *t, bs_error *err);
int bs_st_writer_set_metadata(bs_st_writer *w, const char *key, const char *value, bs_error *err);
int bs_st_writer_write(bs_st_writer *w, const char *path, bs_error *err);
void bs_st_writer_free(bs_st_writer *w);

/* Streaming writer for outputs too large for memory (e.g. a million pFC
 * matrices): declare every tensor with its final shape, begin() writes the
 * header to a temporary file next to `path`, append() adds raw little-endian
 * bytes in declaration order (chunks may span tensor boundaries), commit()
 * checks that exactly the declared byte count arrived, fsyncs and renames
 * into place.  free() without a successful commit removes the temporary, so
 * a failed or interrupted run never leaves a partial file under `path`. */
typedef struct bs_st_stream bs_st_stream;
bs_st_stream *bs_st_stream_new(void);
int bs_st_stream_declare(bs_st_stream *s, const char *name, bs_st_dtype dtype, int ndim,
                         const int64_t *shape, bs_error *err);
int bs_st_stream_set_metadata(bs_st_stream *s, const char *key, const char *value, bs_error *err);
int bs_st_stream_begin(bs_st_stream *s, const char *path, bs_error *err);
int bs_st_stream_append(bs_st_stream *s, const void *bytes, size_t n, bs_error *err);
/* Bytes still expected before commit() can succeed. */
uint64_t bs_st_stream_remaining(const bs_st_stream *s);
int bs_st_stream_commit(bs_st_stream *s, bs_error *err);
void bs_st_stream_free(bs_st_stream *s);

#ifdef __cplusplus
}
#endif
#endif
