/* core/brainmass/bm_checkpoint.c - BrainMass checkpoints in safetensors:
 * every tensor under its reference state_dict name, AdamW moments under
 * "optimizer.exp_avg(_sq).<name>", and config + step + seed + RNG state as
 * strings in __metadata__.  Writes are atomic (the safetensors writer). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "brainstage/log.h"
#include "brainstage/safetensors.h"
#include "bm_internal.h"

#define FORMAT_TAG "brainstage.brainmass.v1"

static float *entry_data(const bs_brainmass *m, const bm_entry *e)
{
    switch (e->kind) {
    case BM_KIND_PARAM: return m->params + e->offset;
    case BM_KIND_TARGET: return m->target + e->offset;
    case BM_KIND_BN_MEAN: return e->bn->mean;
    case BM_KIND_BN_VAR: return e->bn->var;
    default: return NULL;
    }
}

static int meta_int(bs_st_writer *w, const char *key, long long v, bs_error *err)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    return bs_st_writer_set_metadata(w, key, buf, err);
}

static int meta_double(bs_st_writer *w, const char *key, double v, bs_error *err)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return bs_st_writer_set_metadata(w, key, buf, err);
}

int bs_brainmass_save(const bs_brainmass *m, const char *path, bs_error *err)
{
    const bs_brainmass_config *c = &m->cfg;
    bs_st_writer *w = bs_st_writer_new();
    char *names = NULL, *hex = NULL;
    int rc = BS_OK;
    if (!w)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    /* optimizer names live in one block so their strings outlive the writer calls */
    size_t nlen = 128 + 32;
    names = calloc((size_t)m->n_entries * 2, nlen);
    if (!names) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < m->n_entries && !rc; i++) {
        const bm_entry *e = &m->entries[i];
        if (e->kind == BM_KIND_BN_COUNT) {
            rc = bs_st_writer_add(w, e->name, BS_ST_I64, 0, e->shape, &e->bn->count, err);
            continue;
        }
        rc = bs_st_writer_add(w, e->name, BS_ST_F32, e->ndim, e->shape, entry_data(m, e), err);
        if (!rc && e->kind == BM_KIND_PARAM && m->step > 0) {
            char *n1 = names + (size_t)2 * i * nlen, *n2 = n1 + nlen;
            snprintf(n1, nlen, "optimizer.exp_avg.%s", e->name);
            snprintf(n2, nlen, "optimizer.exp_avg_sq.%s", e->name);
            rc = bs_st_writer_add(w, n1, BS_ST_F32, e->ndim, e->shape, m->adam_m + e->offset, err);
            if (!rc)
                rc = bs_st_writer_add(w, n2, BS_ST_F32, e->ndim, e->shape, m->adam_v + e->offset, err);
        }
    }
    size_t rs = bs_rng_state_size(m->rng);
    hex = malloc(2 * rs + 1);
    if (!rc && !hex)
        rc = bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    if (!rc) {
        const unsigned char *st = bs_rng_state(m->rng);
        for (size_t i = 0; i < rs; i++)
            snprintf(hex + 2 * i, 3, "%02x", st[i]);
        rc = bs_st_writer_set_metadata(w, "format", FORMAT_TAG, err);
    }
    if (!rc) rc = meta_int(w, "rois", c->rois, err);
    if (!rc) rc = meta_int(w, "depth", c->depth, err);
    if (!rc) rc = meta_int(w, "heads", c->heads, err);
    if (!rc) rc = meta_int(w, "ffn", c->ffn, err);
    if (!rc) rc = meta_int(w, "feature_dim", c->feature_dim, err);
    if (!rc) rc = meta_int(w, "reduce_dim", c->reduce_dim, err);
    if (!rc) rc = meta_int(w, "mrm_mask", c->mrm_mask, err);
    if (!rc) rc = meta_int(w, "nce_mask", c->nce_mask, err);
    if (!rc) rc = meta_int(w, "train_extras", c->train_extras, err);
    if (!rc) rc = meta_double(w, "dropout", c->dropout, err);
    if (!rc) rc = meta_double(w, "momentum", c->momentum, err);
    if (!rc) rc = meta_double(w, "w_byol", c->w_byol, err);
    if (!rc) rc = meta_double(w, "w_nce", c->w_nce, err);
    if (!rc) rc = meta_double(w, "w_mse", c->w_mse, err);
    if (!rc) rc = meta_double(w, "ln_eps", c->ln_eps, err);
    if (!rc) rc = meta_double(w, "bn_eps", c->bn_eps, err);
    if (!rc) rc = meta_double(w, "bn_momentum", c->bn_momentum, err);
    if (!rc) rc = meta_double(w, "leaky_slope", c->leaky_slope, err);
    if (!rc) rc = meta_int(w, "step", (long long)m->step, err);
    if (!rc) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRIu64, m->seed);
        rc = bs_st_writer_set_metadata(w, "seed", buf, err);
    }
    if (!rc) rc = bs_st_writer_set_metadata(w, "rng_state", hex, err);
    if (!rc) rc = bs_st_writer_write(w, path, err);
done:
    bs_st_writer_free(w);
    free(names);
    free(hex);
    return rc;
}

/* ---- loading ---- */

static int parse_ll(const char *s, long long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int meta_get_int(const bs_safetensors *st, const char *path, const char *key, int *out,
                        bs_error *err)
{
    const char *s = bs_st_metadata(st, key);
    long long v;
    if (!s)
        return 1; /* absent */
    if (parse_ll(s, &v) || v < -2147483647LL || v > 2147483647LL) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ %s=\"%s\": expected an integer", path, key, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int meta_get_double(const bs_safetensors *st, const char *path, const char *key, double *out,
                           bs_error *err)
{
    const char *s = bs_st_metadata(st, key);
    if (!s)
        return 1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ %s=\"%s\": expected a number", path, key, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Size of dimension `dim` of tensor `name`, or -1 if absent/too small. */
static int64_t dim_of(const bs_safetensors *st, const char *name, int dim)
{
    const bs_st_info *in = bs_st_find(st, name);
    if (!in || in->ndim <= dim)
        return -1;
    return in->shape[dim];
}

static int config_from_file(const bs_safetensors *st, const char *path, bs_brainmass_config *c,
                            bs_error *err)
{
    bs_brainmass_config_default(c);
    /* shapes first (a converted .pth has no metadata), metadata overrides */
    int64_t R = dim_of(st, "online_network.attention_list.0.norm1.weight", 0);
    if (R < 0)
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: tensor online_network.attention_list.0.norm1.weight missing: not a "
                            "BrainMass checkpoint", path);
    c->rois = (int)R;
    int depth = 0;
    char name[160];
    for (;;) {
        snprintf(name, sizeof name, "online_network.attention_list.%d.norm1.weight", depth);
        if (!bs_st_find(st, name))
            break;
        depth++;
    }
    c->depth = depth;
    int64_t v;
    if ((v = dim_of(st, "online_network.attention_list.0.linear1.weight", 0)) > 0)
        c->ffn = (int)v;
    if ((v = dim_of(st, "online_network.dim_reduction.0.weight", 0)) > 0)
        c->reduce_dim = (int)v;
    if ((v = dim_of(st, "online_network.g.net.3.weight", 0)) > 0)
        c->feature_dim = (int)v;
    if (c->mrm_mask > c->rois)
        c->mrm_mask = c->rois;
    if (c->nce_mask > c->rois)
        c->nce_mask = c->rois;
    int have_heads = 0;
    struct { const char *k; int *p; } ints[] = {
        {"rois", &c->rois}, {"depth", &c->depth}, {"heads", &c->heads}, {"ffn", &c->ffn},
        {"feature_dim", &c->feature_dim}, {"reduce_dim", &c->reduce_dim},
        {"mrm_mask", &c->mrm_mask}, {"nce_mask", &c->nce_mask}, {"train_extras", &c->train_extras}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int r = meta_get_int(st, path, ints[i].k, ints[i].p, err);
        if (r < 0)
            return err ? err->code : BS_ERR_FORMAT;
        if (r == 0 && ints[i].p == &c->heads)
            have_heads = 1;
    }
    struct { const char *k; double *p; } dbl[] = {
        {"dropout", &c->dropout}, {"momentum", &c->momentum}, {"w_byol", &c->w_byol},
        {"w_nce", &c->w_nce}, {"w_mse", &c->w_mse}, {"ln_eps", &c->ln_eps}, {"bn_eps", &c->bn_eps},
        {"bn_momentum", &c->bn_momentum}, {"leaky_slope", &c->leaky_slope}};
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++)
        if (meta_get_double(st, path, dbl[i].k, dbl[i].p, err) < 0)
            return err ? err->code : BS_ERR_FORMAT;
    if (!have_heads) {
        if (c->rois % 10)
            return bs_error_set(err, BS_ERR_FORMAT,
                                "%s: __metadata__ has no 'heads' and rois=%d is not a multiple of the "
                                "reference's 10 heads (pass --heads to tools/pth2safetensors.py)",
                                path, c->rois);
        c->heads = 10;
        bs_log(BS_LOG_WARN, "%s: no 'heads' in metadata; assuming the reference's 10", path);
    }
    if (c->rois != R)
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: __metadata__ rois=%d but online_network.attention_list.0.norm1.weight "
                            "has %lld ROIs", path, c->rois, (long long)R);
    /* The model is allocated from this config before its tensors are read:
     * sizes the metadata claims must be the ones the tensors have, or a
     * small file could ask for gigabytes (fuzz_safetensors). */
    if (c->depth != depth)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ depth=%d but the file has %d encoder layers",
                            path, c->depth, depth);
    struct { const char *key, *tensor; int meta; } dims[] = {
        {"ffn", "online_network.attention_list.0.linear1.weight", c->ffn},
        {"reduce_dim", "online_network.dim_reduction.0.weight", c->reduce_dim},
        {"feature_dim", "online_network.g.net.3.weight", c->feature_dim}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if ((v = dim_of(st, dims[i].tensor, 0)) > 0 && v != dims[i].meta)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ %s=%d but %s has %lld rows", path,
                                dims[i].key, dims[i].meta, dims[i].tensor, (long long)v);
    if (bs_brainmass_config_validate(c, err))
        return bs_error_prefix(err, "%s", path);
    return BS_OK;
}

/* Which tensors an inference load insists on: the encoder layers and readout. */
static int required_for_inference(const char *name)
{
    return !strncmp(name, "online_network.attention_list.", 30) ||
           !strncmp(name, "online_network.dim_reduction.", 29);
}

static int read_entry(bs_brainmass *m, const bs_safetensors *st, const char *path, const bm_entry *e,
                      bs_error *err)
{
    const bs_st_info *in = bs_st_find(st, e->name);
    if (e->kind == BM_KIND_BN_COUNT) {
        if (in->ndim > 1 || (in->ndim == 1 && in->shape[0] != 1))
            return bs_error_set(err, BS_ERR_FORMAT, "%s: %s: expected a scalar", path, e->name);
        if (in->dtype == BS_ST_I64) {
            const unsigned char *raw = bs_st_raw(st, in);
            int64_t v;
            memcpy(&v, raw, sizeof v);
            e->bn->count = v;
        } else {
            float f;
            if (bs_st_read_f32(st, e->name, &f, 0, NULL, err))
                return err ? err->code : BS_ERR_FORMAT;
            e->bn->count = (int64_t)f;
        }
        return BS_OK;
    }
    /* the reference keeps tokens as [1,1,R]; accept [R] or [1,R] too */
    int64_t numel = 1;
    for (int i = 0; i < in->ndim; i++)
        numel *= in->shape[i];
    int shape_ok = in->ndim == e->ndim;
    for (int i = 0; shape_ok && i < e->ndim; i++)
        shape_ok = in->shape[i] == e->shape[i];
    if (!shape_ok && !(e->ndim == 3 && e->shape[0] == 1 && e->shape[1] == 1 && numel == e->shape[2])) {
        char want[64], got[64];
        int p = 0;
        for (int i = 0; i < e->ndim; i++)
            p += snprintf(want + p, sizeof want - p, "%s%lld", i ? "," : "", (long long)e->shape[i]);
        want[p] = 0;
        p = 0;
        got[0] = 0;
        for (int i = 0; i < in->ndim && p < (int)sizeof got - 12; i++)
            p += snprintf(got + p, sizeof got - p, "%s%lld", i ? "," : "", (long long)in->shape[i]);
        return bs_error_set(err, BS_ERR_DATA,
                            "%s: tensor %s has shape [%s], the model (rois=%d) expects [%s]",
                            path, e->name, got, m->cfg.rois, want);
    }
    float *dst = entry_data(m, e);
    if (bs_st_read_f32(st, e->name, dst, 0, NULL, err))
        return err ? err->code : BS_ERR_FORMAT;
    /* a corrupted or diverged checkpoint must not turn into silent NaN outputs */
    for (size_t i = 0; i < e->numel; i++)
        if (!isfinite(dst[i]))
            return bs_error_set(err, BS_ERR_DATA, "%s: tensor %s: element %zu is %s; expected finite weights",
                                path, e->name, i, isnan(dst[i]) ? "NaN" : "infinite");
    return BS_OK;
}

static int restore_rng(bs_brainmass *m, const char *path, const char *hex, bs_error *err)
{
    size_t rs = bs_rng_state_size(m->rng), n = strlen(hex);
    if (n != 2 * rs)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ rng_state: expected %zu hex digits, found %zu",
                            path, 2 * rs, n);
    unsigned char *buf = malloc(rs);
    if (!buf)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < rs; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            free(buf);
            return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ rng_state: bad hex", path);
        }
        buf[i] = (unsigned char)v;
    }
    int rc = bs_rng_set_state(m->rng, buf, rs);
    free(buf);
    if (rc)
        return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ rng_state rejected", path);
    return BS_OK;
}

bs_brainmass *bs_brainmass_load(const char *path, int load_mode, bs_error *err)
{
    bs_safetensors *st = bs_st_open(path, err);
    if (!st)
        return NULL;
    bs_brainmass_config cfg;
    bs_brainmass *m = NULL;
    if (config_from_file(st, path, &cfg, err))
        goto fail;
    long long seed = 0;
    const char *ss = bs_st_metadata(st, "seed");
    if (ss && parse_ll(ss, &seed)) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ seed=\"%s\": expected an integer", path, ss);
        goto fail;
    }
    if (!(m = bs_brainmass_new(&cfg, (uint64_t)seed, err)))
        goto fail;
    int have_target = 0;
    for (int i = 0; i < m->n_entries; i++) {
        const bm_entry *e = &m->entries[i];
        if (!bs_st_find(st, e->name)) {
            if (load_mode == BS_BRAINMASS_LOAD_INFERENCE && !required_for_inference(e->name))
                continue;
            if (load_mode == BS_BRAINMASS_LOAD_TRAINING && e->kind == BM_KIND_TARGET)
                continue; /* a converted online-only file: target starts as a copy */
            bs_error_set(err, BS_ERR_FORMAT, "%s: tensor %s missing (needed for %s)", path, e->name,
                         load_mode == BS_BRAINMASS_LOAD_INFERENCE ? "inference" : "training");
            goto fail;
        }
        if (read_entry(m, st, path, e, err))
            goto fail;
        if (e->kind == BM_KIND_TARGET)
            have_target = 1;
    }
    if (!have_target)
        memcpy(m->target, m->params, m->n_online * sizeof(float));
    if (load_mode == BS_BRAINMASS_LOAD_TRAINING) {
        long long step = 0;
        const char *s = bs_st_metadata(st, "step");
        if (s && (parse_ll(s, &step) || step < 0)) {
            bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ step=\"%s\": expected an integer >= 0", path, s);
            goto fail;
        }
        m->step = step;
        char name[200];
        for (int i = 0; i < m->n_entries && step > 0; i++) {
            const bm_entry *e = &m->entries[i];
            if (e->kind != BM_KIND_PARAM)
                continue;
            snprintf(name, sizeof name, "optimizer.exp_avg.%s", e->name);
            if (!bs_st_find(st, name)) {
                bs_log(BS_LOG_WARN, "%s: no optimizer state; AdamW restarts", path);
                m->step = 0;
                memset(m->adam_m, 0, m->n_params * sizeof(float));
                memset(m->adam_v, 0, m->n_params * sizeof(float));
                break;
            }
            if (bs_st_read_f32(st, name, m->adam_m + e->offset, e->ndim, e->shape, err))
                goto fail;
            snprintf(name, sizeof name, "optimizer.exp_avg_sq.%s", e->name);
            if (bs_st_read_f32(st, name, m->adam_v + e->offset, e->ndim, e->shape, err))
                goto fail;
        }
        const char *hex = bs_st_metadata(st, "rng_state");
        if (hex && restore_rng(m, path, hex, err))
            goto fail;
    }
    bs_st_close(st);
    return m;
fail:
    bs_brainmass_free(m);
    bs_st_close(st);
    return NULL;
}
