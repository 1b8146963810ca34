/* safetensors.c - strict safetensors reader (file via mmap, or memory image).
 *
 * Everything a file claims is checked before any tensor byte is touched:
 * header length against the cap and the file size, JSON validity (jansson
 * also rejects invalid UTF-8 and duplicate keys), the exact key set of every
 * entry, dtypes, shapes, overflow-checked byte counts, and that the tensors
 * tile the data section exactly (no gap, no overlap, nothing out of bounds). */
#include "brainstage/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int64_t bs_st__convert_f32(bs_st_dtype dtype, const unsigned char *src, size_t n, float *out);

struct bs_safetensors {
    char *name;               /* for messages */
    const unsigned char *image;
    size_t size;
    int mapped;               /* munmap (1) or free (0) the image */
    uint64_t data_start;      /* 8 + header length */
    uint64_t data_size;
    int count;
    bs_st_info *infos;        /* sorted by data offset */
    const bs_st_info **by_name; /* into infos, sorted by name */
    int n_meta;
    char **meta_keys, **meta_values; /* sorted by key */
};

void bs_st_close(bs_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->count; i++)
        free((char *)st->infos[i].name);
    for (int i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->infos);
    free(st->by_name);
    if (st->image) {
        if (st->mapped)
            munmap((void *)st->image, st->size);
        else
            free((void *)st->image);
    }
    free(st->name);
    free(st);
}

static int cmp_offsets(const void *a, const void *b)
{
    const bs_st_info *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((*(const bs_st_info *const *)a)->name, (*(const bs_st_info *const *)b)->name);
}

/* Reads a non-negative JSON integer; 0 on failure. */
static int get_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int parse_metadata(bs_safetensors *st, json_t *meta, bs_error *err)
{
    if (!json_is_object(meta))
        return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__: expected an object of strings", st->name);
    size_t n = json_object_size(meta);
    st->meta_keys = calloc(n ? n : 1, sizeof(char *));
    st->meta_values = calloc(n ? n : 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_values)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory reading __metadata__", st->name);
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val))
            return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ key '%s': expected a string value",
                                st->name, key);
        /* Keep the entry sorted by key (insertion sort; metadata is small). */
        int pos = st->n_meta;
        while (pos > 0 && strcmp(st->meta_keys[pos - 1], key) > 0)
            pos--;
        char *k = strdup(key), *v = strdup(json_string_value(val));
        if (!k || !v) {
            free(k);
            free(v);
            return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory reading __metadata__", st->name);
        }
        memmove(st->meta_keys + pos + 1, st->meta_keys + pos, (size_t)(st->n_meta - pos) * sizeof(char *));
        memmove(st->meta_values + pos + 1, st->meta_values + pos, (size_t)(st->n_meta - pos) * sizeof(char *));
        st->meta_keys[pos] = k;
        st->meta_values[pos] = v;
        st->n_meta++;
    }
    return BS_OK;
}

static int parse_entry(bs_safetensors *st, const char *key, json_t *entry, bs_st_info *info, bs_error *err)
{
    if (!json_is_object(entry))
        return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': expected an object with dtype, shape, data_offsets",
                            st->name, key);
    const char *field;
    json_t *v;
    json_object_foreach(entry, field, v) {
        if (strcmp(field, "dtype") && strcmp(field, "shape") && strcmp(field, "data_offsets"))
            return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': unknown field '%s'", st->name, key, field);
    }
    json_t *dtype = json_object_get(entry, "dtype");
    json_t *shape = json_object_get(entry, "shape");
    json_t *offsets = json_object_get(entry, "data_offsets");
    if (!dtype || !shape || !offsets)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': missing field '%s'", st->name, key,
                            !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    if (!json_is_string(dtype))
        return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': dtype: expected a string", st->name, key);
    int dt = bs_st_dtype_parse(json_string_value(dtype));
    if (dt < 0) {
        static const char *const known_unsupported[] = {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2", "C64"};
        for (size_t i = 0; i < sizeof known_unsupported / sizeof *known_unsupported; i++)
            if (strcmp(json_string_value(dtype), known_unsupported[i]) == 0)
                return bs_error_set(err, BS_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s is not supported",
                                    st->name, key, known_unsupported[i]);
        return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.40s'", st->name, key,
                            json_string_value(dtype));
    }
    info->dtype = (bs_st_dtype)dt;
    if (!json_is_array(shape))
        return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': shape: expected an array of integers",
                            st->name, key);
    size_t ndim = json_array_size(shape);
    if (ndim > BS_TENSOR_MAX_DIMS)
        return bs_error_set(err, BS_ERR_UNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most %d supported)",
                            st->name, key, ndim, BS_TENSOR_MAX_DIMS);
    info->ndim = (int)ndim;
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t d = 0; d < ndim; d++) {
        uint64_t n;
        if (!get_u64(json_array_get(shape, d), &n))
            return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': shape[%zu]: expected a non-negative integer",
                                st->name, key, d);
        info->shape[d] = (int64_t)n;
        if (n != 0 && numel > UINT64_MAX / n)
            overflow = 1;
        else
            numel *= n;
    }
    if (!json_is_array(offsets) || json_array_size(offsets) != 2 ||
        !get_u64(json_array_get(offsets, 0), &info->begin) || !get_u64(json_array_get(offsets, 1), &info->end))
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets: expected [begin, end] non-negative integers",
                            st->name, key);
    if (info->begin > info->end)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu]: begin after end",
                            st->name, key, (unsigned long long)info->begin, (unsigned long long)info->end);
    if (info->end > st->data_size)
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] out of bounds (data section has %llu bytes)",
                            st->name, key, (unsigned long long)info->begin, (unsigned long long)info->end,
                            (unsigned long long)st->data_size);
    size_t dsize = bs_st_dtype_size(info->dtype);
    if (overflow || (numel != 0 && numel > UINT64_MAX / dsize) || numel * dsize != info->end - info->begin) {
        if (overflow || (numel != 0 && numel > UINT64_MAX / dsize))
            return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': shape element count overflows", st->name, key);
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: tensor '%s': %llu bytes at data_offsets but shape and dtype %s need %llu",
                            st->name, key, (unsigned long long)(info->end - info->begin),
                            bs_st_dtype_name(info->dtype), (unsigned long long)(numel * dsize));
    }
    return BS_OK;
}

static int parse_header(bs_safetensors *st, bs_error *err)
{
    if (st->size < 8)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length",
                            st->name, st->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | st->image[i];
    if (hlen > BS_ST_MAX_HEADER)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: header length %llu exceeds the %u-byte limit", st->name,
                            (unsigned long long)hlen, (unsigned)BS_ST_MAX_HEADER);
    if (hlen > st->size - 8)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: header length %llu runs past the end of the file (%zu bytes)",
                            st->name, (unsigned long long)hlen, st->size);
    if (hlen < 2 || st->image[8] != '{')
        return bs_error_set(err, BS_ERR_FORMAT, "%s: header must be a JSON object starting with '{'", st->name);
    st->data_start = 8 + hlen;
    st->data_size = st->size - st->data_start;

    json_error_t jerr;
    json_t *root = json_loadb((const char *)st->image + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: header JSON invalid at byte %d: %s", st->name,
                            jerr.position, jerr.text);
    int rc = BS_OK;
    if (!json_is_object(root)) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: header must be a JSON object", st->name);
        goto done;
    }
    size_t n = json_object_size(root);
    st->infos = calloc(n ? n : 1, sizeof *st->infos);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    if (!st->infos || !st->by_name) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for %zu header entries", st->name, n);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((rc = parse_metadata(st, val, err)) != BS_OK)
                goto done;
            continue;
        }
        bs_st_info *info = &st->infos[st->count];
        if ((rc = parse_entry(st, key, val, info, err)) != BS_OK)
            goto done;
        if (!(info->name = strdup(key))) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", st->name);
            goto done;
        }
        st->count++;
    }
    /* The tensors must tile the data section exactly, in offset order. */
    qsort(st->infos, (size_t)st->count, sizeof *st->infos, cmp_offsets);
    uint64_t cursor = 0;
    for (int i = 0; i < st->count; i++) {
        const bs_st_info *info = &st->infos[i];
        if (info->begin != cursor) {
            rc = bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': data_offsets begin %llu %s (expected %llu)",
                              st->name, info->name, (unsigned long long)info->begin,
                              info->begin < cursor ? "overlaps the previous tensor" : "leaves a gap",
                              (unsigned long long)cursor);
            goto done;
        }
        cursor = info->end;
    }
    if (cursor != st->data_size) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: data section has %llu bytes but the tensors cover %llu",
                          st->name, (unsigned long long)st->data_size, (unsigned long long)cursor);
        goto done;
    }
    for (int i = 0; i < st->count; i++)
        st->by_name[i] = &st->infos[i];
    qsort(st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_names);
done:
    json_decref(root);
    return rc;
}

static bs_safetensors *new_handle(const char *name, bs_error *err)
{
    bs_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->name = strdup(name ? name : "<memory>"))) {
        free(st);
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", name ? name : "<memory>");
        return NULL;
    }
    return st;
}

bs_safetensors *bs_st_open_memory(const void *bytes, size_t size, const char *name, bs_error *err)
{
    bs_safetensors *st = new_handle(name, err);
    if (!st)
        return NULL;
    unsigned char *copy = malloc(size ? size : 1);
    if (!copy) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory for a %zu-byte image", st->name, size);
        bs_st_close(st);
        return NULL;
    }
    if (size)
        memcpy(copy, bytes, size);
    st->image = copy;
    st->size = size;
    if (parse_header(st, err) != BS_OK) {
        bs_st_close(st);
        return NULL;
    }
    return st;
}

bs_safetensors *bs_st_open(const char *path, bs_error *err)
{
    bs_safetensors *st = new_handle(path, err);
    if (!st)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        bs_error_set(err, BS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        bs_error_set(err, BS_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    st->size = (size_t)sb.st_size;
    if (st->size > 0) {
        /* Read-only shared mapping: checkpoints and pFC batches can be far
         * larger than RAM; pages are read only when a tensor is accessed. */
        void *m = mmap(NULL, st->size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            bs_error_set(err, BS_ERR_IO, "%s: cannot map %zu bytes: %s", path, st->size, strerror(errno));
            goto fail;
        }
        st->image = m;
        st->mapped = 1;
    }
    close(fd);
    fd = -1;
    if (parse_header(st, err) != BS_OK)
        goto fail;
    return st;
fail:
    if (fd >= 0)
        close(fd);
    bs_st_close(st);
    return NULL;
}

int bs_st_count(const bs_safetensors *st) { return st ? st->count : 0; }

const bs_st_info *bs_st_get(const bs_safetensors *st, int index)
{
    return (st && index >= 0 && index < st->count) ? &st->infos[index] : NULL;
}

const bs_st_info *bs_st_find(const bs_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    int lo = 0, hi = st->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const bs_st_info *info = st->by_name[mid];
        int c = strcmp(name, info->name);
        if (c == 0)
            return info;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *bs_st_metadata(const bs_safetensors *st, const char *key)
{
    if (!st || !key)
        return NULL;
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_keys[i], key) == 0)
            return st->meta_values[i];
    return NULL;
}

int bs_st_metadata_count(const bs_safetensors *st) { return st ? st->n_meta : 0; }

const char *bs_st_metadata_key(const bs_safetensors *st, int index)
{
    return (st && index >= 0 && index < st->n_meta) ? st->meta_keys[index] : NULL;
}

const char *bs_st_name(const bs_safetensors *st) { return st ? st->name : NULL; }

const void *bs_st_raw(const bs_safetensors *st, const bs_st_info *info)
{
    if (!st || !info)
        return NULL;
    return st->image + st->data_start + info->begin;
}

static int check_shape(const bs_safetensors *st, const bs_st_info *info, int expect_ndim,
                       const int64_t *expect_shape, bs_error *err)
{
    if (expect_ndim <= 0 || !expect_shape)
        return BS_OK;
    int ok = info->ndim == expect_ndim;
    for (int d = 0; ok && d < expect_ndim; d++)
        ok = info->shape[d] == expect_shape[d];
    if (ok)
        return BS_OK;
    char want[200] = "", got[200] = "";
    for (int d = 0; d < expect_ndim; d++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "," : "", (long long)expect_shape[d]);
    for (int d = 0; d < info->ndim; d++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? "," : "", (long long)info->shape[d]);
    return bs_error_set(err, BS_ERR_DATA, "%s: tensor '%s': shape [%s], expected [%s]", st->name, info->name, got,
                        want);
}

int bs_st_read_f32(const bs_safetensors *st, const char *name, float *out, int expect_ndim,
                   const int64_t *expect_shape, bs_error *err)
{
    const bs_st_info *info = bs_st_find(st, name);
    if (!info)
        return bs_error_set(err, BS_ERR_DATA, "%s: no tensor named '%s'", st ? st->name : "?", name ? name : "");
    int rc = check_shape(st, info, expect_ndim, expect_shape, err);
    if (rc != BS_OK)
        return rc;
    size_t n = (size_t)((info->end - info->begin) / bs_st_dtype_size(info->dtype));
    int64_t bad = bs_st__convert_f32(info->dtype, bs_st_raw(st, info), n, out);
    if (bad >= 0)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s': element %lld: BOOL byte is not 0 or 1", st->name,
                            info->name, (long long)bad);
    return BS_OK;
}

bs_tensor *bs_st_read_tensor(const bs_safetensors *st, const char *name, bs_error *err)
{
    const bs_st_info *info = bs_st_find(st, name);
    if (!info) {
        bs_error_set(err, BS_ERR_DATA, "%s: no tensor named '%s'", st ? st->name : "?", name ? name : "");
        return NULL;
    }
    if (bs_shape_numel(info->ndim, info->shape) < 0) {
        bs_error_set(err, BS_ERR_NOMEM, "%s: tensor '%s': too large for float32 in memory", st->name, name);
        return NULL;
    }
    bs_tensor *t = bs_tensor_new(info->ndim, info->shape, err);
    if (!t)
        return NULL;
    if (bs_st_read_f32(st, name, t->data, 0, NULL, err) != BS_OK) {
        bs_tensor_free(t);
        return NULL;
    }
    return t;
}
