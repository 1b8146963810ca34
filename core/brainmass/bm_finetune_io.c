/* core/brainmass/bm_finetune_io.c - fine-tuned BrainMass models as
 * safetensors.
 *
 * Tensors: the encoder layers under online_network.attention_list.*, the
 * readout under online_network.dim_reduction.0.* and the head as the
 * nn.Sequential classifier.net.{0,1,4,5,8} (BatchNorm running statistics
 * and num_batches_tracked included).  __metadata__: the BrainMass config
 * keys bs_brainmass_load understands (so the same file also serves
 * `brainstage embed` and the brainmass stage with the fine-tuned encoder)
 * and the head keys shared with bs_head_save (brainstage.head.kind =
 * "finetune", .format, .n_classes, .classes) plus finetune.* sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "brainstage/heads_internal.h"
#include "brainstage/safetensors.h"
#include "bm_finetune_internal.h"

#define KIND "finetune"

static int meta_num(bs_st_writer *w, const char *key, double v, bs_error *err)
{
    char buf[40];
    snprintf(buf, sizeof buf, "%.17g", v);
    return bs_st_writer_set_metadata(w, key, buf, err);
}

static float *entry_data(const bs_finetune *ft, const bm_ft_entry *e)
{
    return e->in_encoder ? ft->enc->params + e->offset : ft->head.data + e->offset;
}

int bs_finetune_save(const bs_finetune *ft, const char *path, bs_error *err)
{
    const bs_brainmass_config *c = &ft->enc->cfg;
    const bs_finetune_config *f = &ft->cfg;
    bs_st_writer *w = bs_st_writer_new();
    char *classes = NULL;
    if (!w)
        return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    int rc = BS_OK;
    for (int i = 0; i < ft->n_entries && !rc; i++) {
        const bm_ft_entry *e = &ft->entries[i];
        if (e->is_count)
            rc = bs_st_writer_add(w, e->name, BS_ST_I64, 0, e->shape, e->count, err);
        else
            rc = bs_st_writer_add(w, e->name, BS_ST_F32, e->ndim, e->shape, entry_data(ft, e), err);
    }
    struct { const char *k; double v; } meta[] = {
        {"rois", c->rois}, {"depth", c->depth}, {"heads", c->heads}, {"ffn", c->ffn},
        {"feature_dim", c->feature_dim}, {"reduce_dim", c->reduce_dim}, {"mrm_mask", c->mrm_mask},
        {"nce_mask", c->nce_mask}, {"train_extras", c->train_extras}, {"dropout", c->dropout},
        {"ln_eps", c->ln_eps}, {"bn_eps", c->bn_eps}, {"bn_momentum", c->bn_momentum},
        {"leaky_slope", c->leaky_slope}, {"brainstage.head.n_classes", ft->n_classes},
        {"finetune.hidden1", f->hidden1}, {"finetune.hidden2", f->hidden2},
        {"finetune.head_dropout", f->head_dropout}, {"finetune.leaky_slope", f->leaky_slope},
        {"finetune.bn_eps", f->bn_eps}, {"finetune.bn_momentum", f->bn_momentum},
        {"finetune.step", (double)ft->step}};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && !rc; i++)
        rc = meta_num(w, meta[i].k, meta[i].v, err);
    if (!rc)
        rc = bs_st_writer_set_metadata(w, "brainstage.head.kind", KIND, err);
    if (!rc)
        rc = bs_st_writer_set_metadata(w, "brainstage.head.format", "1", err);
    if (!rc && ft->class_names) {
        if (!(classes = bs_class_names_to_json((const char *const *)ft->class_names, ft->n_classes)))
            rc = bs_error_set(err, BS_ERR_FORMAT, "%s: class names are not valid UTF-8", path);
        else
            rc = bs_st_writer_set_metadata(w, "brainstage.head.classes", classes, err);
    }
    if (!rc)
        rc = bs_st_writer_write(w, path, err);
    free(classes);
    bs_st_writer_free(w);
    return rc;
}

int bs_finetune_is_model_file(const char *path, bs_error *err)
{
    bs_safetensors *st = bs_st_open(path, err);
    if (!st)
        return err && err->code ? -(int)err->code : -1;
    const char *k = bs_st_metadata(st, "brainstage.head.kind");
    int yes = k && !strcmp(k, KIND);
    bs_st_close(st);
    return yes;
}

/* A metadata number, required; error names the key. */
static int need_num(const bs_safetensors *st, const char *path, const char *key, double lo, double hi, double *out,
                    bs_error *err)
{
    const char *s = bs_st_metadata(st, key);
    char *end = NULL;
    double v = s ? strtod(s, &end) : NAN;
    if (!s || end == s || *end || !(v >= lo && v <= hi))
        return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__ %s=\"%s\": expected a number in %g..%g", path, key,
                            s ? s : "(missing)", lo, hi);
    *out = v;
    return BS_OK;
}

/* Head tensors, BatchNorm buffers and counts from the file (shapes checked). */
static int read_head(bs_finetune *ft, const bs_safetensors *st, const char *path, bs_error *err)
{
    for (int i = 0; i < ft->n_entries; i++) {
        const bm_ft_entry *e = &ft->entries[i];
        if (e->in_encoder || !strncmp(e->name, "online_network.", 15))
            continue; /* read by bs_brainmass_load */
        const bs_st_info *in = bs_st_find(st, e->name);
        if (!in)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor %s missing (not a complete fine-tuned model)", path,
                                e->name);
        if (e->is_count) {
            /* a scalar: shape [] (PyTorch), [1] accepted too */
            if (in->dtype != BS_ST_I64 || in->ndim > 1 || (in->ndim == 1 && in->shape[0] != 1))
                return bs_error_set(err, BS_ERR_FORMAT, "%s: %s: expected an I64 scalar", path, e->name);
            memcpy(e->count, bs_st_raw(st, in), sizeof(int64_t));
            continue;
        }
        if (bs_st_read_f32(st, e->name, ft->head.data + e->offset, e->ndim, e->shape, err))
            return err ? err->code : BS_ERR_FORMAT;
        if (bm_check_finite(ft->head.data + e->offset, e->numel, e->name, err))
            return bs_error_prefix(err, "%s: ", path);
    }
    return BS_OK;
}

bs_finetune *bs_finetune_load(const char *path, bs_error *err)
{
    bs_safetensors *st = bs_st_open(path, err);
    if (!st)
        return NULL;
    bs_finetune *ft = NULL;
    bs_brainmass *enc = NULL;
    char **names = NULL;
    int nc = 0;
    const char *kind = bs_st_metadata(st, "brainstage.head.kind");
    if (!kind || strcmp(kind, KIND)) {
        bs_error_set(err, BS_ERR_FORMAT, "%s: not a fine-tuned BrainMass model (metadata brainstage.head.kind is %s%s)",
                     path, kind ? kind : "missing", kind ? ", expected finetune" : "");
        goto done;
    }
    bs_finetune_config cfg;
    bs_finetune_config_default(&cfg);
    double v[7];
    if (need_num(st, path, "brainstage.head.n_classes", 2, 100000, &v[0], err) ||
        need_num(st, path, "finetune.hidden1", 1, 1 << 20, &v[1], err) ||
        need_num(st, path, "finetune.hidden2", 1, 1 << 20, &v[2], err) ||
        need_num(st, path, "finetune.head_dropout", 0, 0.999999, &v[3], err) ||
        need_num(st, path, "finetune.leaky_slope", 0, 1e6, &v[4], err) ||
        need_num(st, path, "finetune.bn_eps", 1e-30, 1, &v[5], err) ||
        need_num(st, path, "finetune.bn_momentum", 0, 1, &v[6], err))
        goto done;
    nc = (int)v[0];
    cfg.hidden1 = (int)v[1];
    cfg.hidden2 = (int)v[2];
    cfg.head_dropout = v[3];
    cfg.leaky_slope = v[4];
    cfg.bn_eps = v[5];
    cfg.bn_momentum = v[6];
    const char *classes = bs_st_metadata(st, "brainstage.head.classes");
    if (classes && bs_class_names_from_json(classes, nc, path, &names, err))
        goto done;
    if (!(enc = bs_brainmass_load(path, BS_BRAINMASS_LOAD_INFERENCE, err)))
        goto done;
    if (!(ft = bs_finetune_new(enc, NULL, nc, (const char *const *)names, &cfg, err)))
        goto done;
    if (read_head(ft, st, path, err)) {
        bs_finetune_free(ft);
        ft = NULL;
        goto done;
    }
    double step = 0;
    if (bs_st_metadata(st, "finetune.step") && need_num(st, path, "finetune.step", 0, 9e15, &step, err) == BS_OK)
        ft->step = (int64_t)step;
done:
    if (names)
        for (int c = 0; c < nc; c++)
            free(names[c]);
    free(names);
    bs_brainmass_free(enc);
    bs_st_close(st);
    return ft;
}
