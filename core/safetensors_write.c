/* safetensors_write.c - safetensors writers: collect-then-write and streaming.
 *
 * Both produce the same layout: 8-byte little-endian header length, a
 * compact JSON header (keys sorted) padded with spaces to a multiple of 8
 * bytes so every tensor starts 8-byte aligned when the file is mapped, then
 * the tensors packed without gaps.  Output always goes through a temporary
 * file renamed into place on success (fileio.h). */
#include "brainstage/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/fileio.h"

/* One declared tensor; shared by both writers. */
typedef struct st_entry {
    char *name;
    bs_st_dtype dtype;
    int ndim;
    int64_t shape[BS_TENSOR_MAX_DIMS];
    uint64_t nbytes;
    const void *data; /* collecting writer only (borrowed) */
} st_entry;

typedef struct st_list {
    st_entry *e;
    int n, cap;
    char **meta_keys, **meta_values;
    int n_meta, cap_meta;
} st_list;

static void list_free(st_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->e[i].name);
    for (int i = 0; i < l->n_meta; i++) {
        free(l->meta_keys[i]);
        free(l->meta_values[i]);
    }
    free(l->e);
    free(l->meta_keys);
    free(l->meta_values);
    memset(l, 0, sizeof *l);
}

static int list_add(st_list *l, const char *name, bs_st_dtype dtype, int ndim, const int64_t *shape,
                    const void *data, bs_error *err)
{
    if (!name || !*name)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: empty tensor name");
    if (strcmp(name, "__metadata__") == 0)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: '__metadata__' is reserved as a tensor name");
    if (bs_st_dtype_size(dtype) == 0)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: tensor '%s': invalid dtype %d", name, (int)dtype);
    if (ndim < 0 || ndim > BS_TENSOR_MAX_DIMS || (ndim > 0 && !shape))
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: tensor '%s': %d dimensions (0..%d allowed)", name,
                            ndim, BS_TENSOR_MAX_DIMS);
    uint64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: tensor '%s': negative dimension %lld", name,
                                (long long)shape[d]);
        if (shape[d] != 0 && numel > (uint64_t)INT64_MAX / (uint64_t)shape[d])
            return bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: tensor '%s': element count overflows", name);
        numel *= (uint64_t)shape[d];
    }
    size_t dsize = bs_st_dtype_size(dtype);
    if (numel > (uint64_t)INT64_MAX / dsize)
        return bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: tensor '%s': byte count overflows", name);
    json_t *probe = json_string(name); /* jansson validates UTF-8 */
    if (!probe)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: tensor name is not valid UTF-8");
    json_decref(probe);
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0)
            return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: duplicate tensor name '%s'", name);
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 16;
        st_entry *e = realloc(l->e, (size_t)cap * sizeof *e);
        if (!e)
            return bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: out of memory");
        l->e = e;
        l->cap = cap;
    }
    st_entry *e = &l->e[l->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: out of memory");
    e->dtype = dtype;
    e->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        e->shape[d] = shape[d];
    e->nbytes = numel * dsize;
    e->data = data;
    l->n++;
    return BS_OK;
}

static int list_set_meta(st_list *l, const char *key, const char *value, bs_error *err)
{
    if (!key || !value)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: metadata key and value must not be NULL");
    json_t *probe_k = json_string(key), *probe_v = json_string(value);
    int valid = probe_k && probe_v;
    json_decref(probe_k);
    json_decref(probe_v);
    if (!valid)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: metadata '%.60s' is not valid UTF-8", key);
    char *v = strdup(value);
    if (!v)
        return bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: out of memory");
    for (int i = 0; i < l->n_meta; i++)
        if (strcmp(l->meta_keys[i], key) == 0) {
            free(l->meta_values[i]);
            l->meta_values[i] = v;
            return BS_OK;
        }
    if (l->n_meta == l->cap_meta) {
        int cap = l->cap_meta ? 2 * l->cap_meta : 8;
        char **k = realloc(l->meta_keys, (size_t)cap * sizeof *k);
        if (k)
            l->meta_keys = k;
        char **vv = k ? realloc(l->meta_values, (size_t)cap * sizeof *vv) : NULL;
        if (!k || !vv) {
            free(v);
            return bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: out of memory");
        }
        l->meta_values = vv;
        l->cap_meta = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: out of memory");
    }
    l->meta_keys[l->n_meta] = k;
    l->meta_values[l->n_meta] = v;
    l->n_meta++;
    return BS_OK;
}

/* Builds the padded header for the entries in their current order (offsets
 * assigned consecutively).  Returns a malloc'd buffer of *len bytes. */
static char *build_header(const st_list *l, size_t *len, uint64_t *total_data, bs_error *err)
{
    json_t *root = json_object();
    uint64_t offset = 0;
    int ok = root != NULL;
    for (int i = 0; ok && i < l->n; i++) {
        const st_entry *e = &l->e[i];
        json_t *shape = json_array();
        ok = shape != NULL;
        for (int d = 0; ok && d < e->ndim; d++)
            ok = json_array_append_new(shape, json_integer((json_int_t)e->shape[d])) == 0;
        json_t *offsets = json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + e->nbytes));
        json_t *entry = json_pack("{s:s,s:o,s:o}", "dtype", bs_st_dtype_name(e->dtype), "shape", shape,
                                  "data_offsets", offsets);
        ok = ok && offsets && entry && json_object_set_new(root, e->name, entry) == 0;
        offset += e->nbytes;
    }
    if (ok && l->n_meta > 0) {
        json_t *meta = json_object();
        ok = meta != NULL;
        for (int i = 0; ok && i < l->n_meta; i++)
            ok = json_object_set_new(meta, l->meta_keys[i], json_string(l->meta_values[i])) == 0;
        ok = ok && json_object_set_new(root, "__metadata__", meta) == 0;
    }
    char *text = ok ? json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!text) {
        bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: cannot build the JSON header");
        return NULL;
    }
    size_t n = strlen(text);
    size_t padded = (n + 7) & ~(size_t)7; /* 8 + padded is a multiple of 8 */
    if (padded > BS_ST_MAX_HEADER) {
        free(text);
        bs_error_set(err, BS_ERR_USAGE, "safetensors writer: header of %zu bytes exceeds the %u-byte limit", padded,
                     (unsigned)BS_ST_MAX_HEADER);
        return NULL;
    }
    char *buf = malloc(8 + padded);
    if (!buf) {
        free(text);
        bs_error_set(err, BS_ERR_NOMEM, "safetensors writer: out of memory");
        return NULL;
    }
    uint64_t h = padded;
    for (int i = 0; i < 8; i++)
        buf[i] = (char)((h >> (8 * i)) & 0xff);
    memcpy(buf + 8, text, n);
    memset(buf + 8 + n, ' ', padded - n);
    free(text);
    *len = 8 + padded;
    *total_data = offset;
    return buf;
}

/* ---- collecting writer ---------------------------------------------------- */

struct bs_st_writer {
    st_list list;
};

bs_st_writer *bs_st_writer_new(void) { return calloc(1, sizeof(bs_st_writer)); }

void bs_st_writer_free(bs_st_writer *w)
{
    if (!w)
        return;
    list_free(&w->list);
    free(w);
}

int bs_st_writer_add(bs_st_writer *w, const char *name, bs_st_dtype dtype, int ndim, const int64_t *shape,
                     const void *data, bs_error *err)
{
    if (!w)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: NULL writer");
    int rc = list_add(&w->list, name, dtype, ndim, shape, data, err);
    if (rc == BS_OK && w->list.e[w->list.n - 1].nbytes > 0 && !data) {
        free(w->list.e[--w->list.n].name);
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: tensor '%s': NULL data", name);
    }
    return rc;
}

int bs_st_writer_add_f32(bs_st_writer *w, const char *name, const bs_tensor *t, bs_error *err)
{
    if (!t)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: tensor '%s': NULL tensor", name ? name : "");
    return bs_st_writer_add(w, name, BS_ST_F32, t->ndim, t->shape, t->data, err);
}

int bs_st_writer_set_metadata(bs_st_writer *w, const char *key, const char *value, bs_error *err)
{
    if (!w)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: NULL writer");
    return list_set_meta(&w->list, key, value, err);
}

/* Larger element sizes first, then by name: every tensor then starts at a
 * multiple of its own element size (sizes are powers of two), and the same
 * tensors always give the same bytes. */
static int cmp_entry_layout(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    size_t sx = bs_st_dtype_size(x->dtype), sy = bs_st_dtype_size(y->dtype);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

int bs_st_writer_write(bs_st_writer *w, const char *path, bs_error *err)
{
    if (!w || !path)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors writer: NULL writer or path");
    qsort(w->list.e, (size_t)w->list.n, sizeof *w->list.e, cmp_entry_layout);
    size_t hlen;
    uint64_t total;
    char *header = build_header(&w->list, &hlen, &total, err);
    if (!header)
        return err ? err->code : BS_ERR_NOMEM;
    bs_atomic_file f;
    int rc = bs_atomic_open(&f, path, err);
    if (rc != BS_OK) {
        free(header);
        return rc;
    }
    int ok = fwrite(header, 1, hlen, f.fp) == hlen;
    free(header);
    for (int i = 0; ok && i < w->list.n; i++) {
        const st_entry *e = &w->list.e[i];
        if (e->nbytes)
            ok = fwrite(e->data, 1, (size_t)e->nbytes, f.fp) == e->nbytes;
    }
    if (!ok) {
        int e = errno;
        bs_atomic_abort(&f);
        return bs_error_set(err, BS_ERR_IO, "%s: write failed: %s", path, strerror(e));
    }
    return bs_atomic_commit(&f, err);
}

/* ---- streaming writer ----------------------------------------------------- */

struct bs_st_stream {
    st_list list;
    bs_atomic_file file;
    int open;          /* begin() succeeded, not yet committed or aborted */
    int failed;        /* a write failed: only free() is allowed */
    uint64_t expected; /* total data bytes declared */
    uint64_t written;
    char *path;
};

bs_st_stream *bs_st_stream_new(void) { return calloc(1, sizeof(bs_st_stream)); }

void bs_st_stream_free(bs_st_stream *s)
{
    if (!s)
        return;
    if (s->open)
        bs_atomic_abort(&s->file);
    list_free(&s->list);
    free(s->path);
    free(s);
}

int bs_st_stream_declare(bs_st_stream *s, const char *name, bs_st_dtype dtype, int ndim, const int64_t *shape,
                         bs_error *err)
{
    if (!s)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors stream: NULL stream");
    if (s->open || s->failed)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors stream: tensor '%s' declared after begin()",
                            name ? name : "");
    return list_add(&s->list, name, dtype, ndim, shape, NULL, err);
}

int bs_st_stream_set_metadata(bs_st_stream *s, const char *key, const char *value, bs_error *err)
{
    if (!s)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors stream: NULL stream");
    if (s->open || s->failed)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors stream: metadata '%s' set after begin()",
                            key ? key : "");
    return list_set_meta(&s->list, key, value, err);
}

int bs_st_stream_begin(bs_st_stream *s, const char *path, bs_error *err)
{
    if (!s || !path)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors stream: NULL stream or path");
    if (s->open || s->failed)
        return bs_error_set(err, BS_ERR_USAGE, "%s: safetensors stream already begun", path);
    /* Data follow declaration order (the producer's order), not name order. */
    size_t hlen;
    char *header = build_header(&s->list, &hlen, &s->expected, err);
    if (!header)
        return err ? err->code : BS_ERR_NOMEM;
    if (!(s->path = strdup(path))) {
        free(header);
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    }
    int rc = bs_atomic_open(&s->file, path, err);
    if (rc != BS_OK) {
        free(header);
        s->failed = 1;
        return rc;
    }
    s->open = 1;
    int ok = fwrite(header, 1, hlen, s->file.fp) == hlen;
    free(header);
    if (!ok) {
        bs_atomic_abort(&s->file);
        s->open = 0;
        s->failed = 1;
        return bs_error_set(err, BS_ERR_IO, "%s: writing the header failed (disk full?)", path);
    }
    return BS_OK;
}

int bs_st_stream_append(bs_st_stream *s, const void *bytes, size_t n, bs_error *err)
{
    if (!s || !s->open)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors stream: append() without a successful begin()");
    if (n > s->expected - s->written)
        return bs_error_set(err, BS_ERR_USAGE,
                            "%s: appending %zu bytes would exceed the %llu declared (%llu already written)", s->path,
                            n, (unsigned long long)s->expected, (unsigned long long)s->written);
    if (n && fwrite(bytes, 1, n, s->file.fp) != n) {
        int e = errno;
        bs_atomic_abort(&s->file);
        s->open = 0;
        s->failed = 1;
        return bs_error_set(err, BS_ERR_IO, "%s: write failed after %llu data bytes: %s", s->path,
                            (unsigned long long)s->written, strerror(e));
    }
    s->written += n;
    return BS_OK;
}

uint64_t bs_st_stream_remaining(const bs_st_stream *s) { return s ? s->expected - s->written : 0; }

int bs_st_stream_commit(bs_st_stream *s, bs_error *err)
{
    if (!s || !s->open)
        return bs_error_set(err, BS_ERR_USAGE, "safetensors stream: commit() without a successful begin()");
    if (s->written != s->expected) {
        bs_atomic_abort(&s->file);
        s->open = 0;
        s->failed = 1;
        return bs_error_set(err, BS_ERR_DATA, "%s: only %llu of %llu declared data bytes were written; file discarded",
                            s->path, (unsigned long long)s->written, (unsigned long long)s->expected);
    }
    s->open = 0;
    int rc = bs_atomic_commit(&s->file, err);
    if (rc != BS_OK)
        s->failed = 1;
    return rc;
}
