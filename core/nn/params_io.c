/* nn/params_io.c - parameter tables <-> safetensors checkpoints, by name. */
#include <stdio.h>

#include "brainstage/log.h"
#include "brainstage/safetensors.h"
#include "nn/nn_internal.h"

static int full_name(char *out, size_t size, const char *prefix, const char *mid, const char *name,
                     bs_error *err)
{
    int n = snprintf(out, size, "%s%s%s", prefix ? prefix : "", mid, name);
    if (n < 0 || (size_t)n >= size)
        return bs_error_set(err, BS_ERR_USAGE, "nn checkpoint: tensor name '%s%s%s' too long",
                            prefix ? prefix : "", mid, name);
    return BS_OK;
}

int nn_params_write(nn_params *p, bs_st_writer *w, const char *prefix, bs_error *err)
{
    if (!p->data)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn checkpoint: table not allocated");
    /* INT64 tensors need converted storage that outlives this call. */
    size_t n64 = 0;
    for (int i = 0; i < p->count; i++)
        if (p->items[i].flags & NN_PARAM_INT64)
            n64 += p->items[i].numel;
    free(p->i64_scratch);
    p->i64_scratch = n64 ? malloc(sizeof(int64_t) * n64) : NULL;
    if (n64 && !p->i64_scratch)
        return bs_error_set(err, BS_ERR_NOMEM, "nn checkpoint: out of memory");
    size_t at = 0;
    char name[2 * NN_NAME_MAX];
    for (int i = 0; i < p->count; i++) {
        const nn_param *it = &p->items[i];
        int rc = full_name(name, sizeof name, prefix, "", it->name, err);
        if (rc)
            return rc;
        const float *src = p->data + it->offset;
        if (it->flags & NN_PARAM_INT64) {
            int64_t *dst = p->i64_scratch + at;
            for (size_t k = 0; k < it->numel; k++)
                dst[k] = (int64_t)llround((double)src[k]);
            at += it->numel;
            rc = bs_st_writer_add(w, name, BS_ST_I64, it->ndim, it->shape, dst, err);
        } else {
            rc = bs_st_writer_add(w, name, BS_ST_F32, it->ndim, it->shape, src, err);
        }
        if (rc)
            return rc;
    }
    return BS_OK;
}

static int trainable(const nn_param *it) { return !(it->flags & (NN_PARAM_BUFFER | NN_PARAM_FROZEN)); }

int nn_params_write_adam(nn_params *p, bs_st_writer *w, const char *prefix, bs_error *err)
{
    if (!p->data)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn checkpoint: table not allocated");
    char name[2 * NN_NAME_MAX];
    for (int i = 0; i < p->count; i++) {
        const nn_param *it = &p->items[i];
        if (!trainable(it))
            continue;
        int rc = full_name(name, sizeof name, prefix, "exp_avg.", it->name, err);
        if (!rc)
            rc = bs_st_writer_add(w, name, BS_ST_F32, it->ndim, it->shape, p->adam_m + it->offset, err);
        if (!rc)
            rc = full_name(name, sizeof name, prefix, "exp_avg_sq.", it->name, err);
        if (!rc)
            rc = bs_st_writer_add(w, name, BS_ST_F32, it->ndim, it->shape, p->adam_v + it->offset, err);
        if (rc)
            return rc;
    }
    return BS_OK;
}

/* Reads one tensor by name into dst; returns BS_OK, an error, or -1 when the
 * tensor is absent (no error set). */
static int read_one(const bs_safetensors *st, const char *name, const nn_param *it, float *dst,
                    bs_error *err)
{
    const bs_st_info *info = bs_st_find(st, name);
    if (!info)
        return -1;
    /* Accept [] and [1] interchangeably for scalars (both have one value). */
    if (it->numel == 1 && it->ndim <= 1 && info->ndim <= 1)
        return bs_st_read_f32(st, name, dst, 0, NULL, err);
    return bs_st_read_f32(st, name, dst, it->ndim, it->shape, err);
}

int nn_params_read(nn_params *p, const bs_safetensors *st, const char *prefix, int mode, bs_error *err)
{
    if (!p->data)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn checkpoint: table not allocated");
    char name[2 * NN_NAME_MAX];
    int missing = 0;
    for (int i = 0; i < p->count; i++) {
        const nn_param *it = &p->items[i];
        int rc = full_name(name, sizeof name, prefix, "", it->name, err);
        if (rc)
            return rc;
        rc = read_one(st, name, it, p->data + it->offset, err);
        if (rc == -1) {
            if (mode != NN_LOAD_ALLOW_MISSING)
                return bs_error_set(err, BS_ERR_FORMAT, "checkpoint: tensor '%s' missing", name);
            bs_log(BS_LOG_WARN, "checkpoint: tensor '%s' missing; keeping its initial values", name);
            missing++;
            continue;
        }
        if (rc)
            return rc;
    }
    if (missing)
        bs_log(BS_LOG_INFO, "checkpoint: %d tensor(s) kept their initial values", missing);
    return BS_OK;
}

int nn_params_read_adam(nn_params *p, const bs_safetensors *st, const char *prefix, bs_error *err)
{
    if (!p->data)
        return bs_error_set(err, BS_ERR_INTERNAL, "nn checkpoint: table not allocated");
    char name[2 * NN_NAME_MAX];
    for (int i = 0; i < p->count; i++) {
        const nn_param *it = &p->items[i];
        if (!trainable(it))
            continue;
        const char *mid[2] = {"exp_avg.", "exp_avg_sq."};
        float *dst[2] = {p->adam_m + it->offset, p->adam_v + it->offset};
        for (int k = 0; k < 2; k++) {
            int rc = full_name(name, sizeof name, prefix, mid[k], it->name, err);
            if (rc)
                return rc;
            rc = read_one(st, name, it, dst[k], err);
            if (rc == -1)
                return bs_error_set(err, BS_ERR_FORMAT, "checkpoint: optimizer tensor '%s' missing", name);
            if (rc)
                return rc;
        }
    }
    return BS_OK;
}
