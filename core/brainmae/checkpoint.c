/* core/brainmae/checkpoint.c - BrainMAE safetensors checkpoints: weights
 * under their PyTorch-style names, optionally the AdamW moments
 * ("optimizer.exp_avg.NAME", "optimizer.exp_avg_sq.NAME"), and in
 * __metadata__ the config, step and epoch so training resumes exactly. */
#include "checkpoint.h"
#include "model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/safetensors.h"

#define FORMAT_TAG "brainstage-brainmae-1"

static void config_string(const bs_brainmae_config *c, char *buf, size_t n)
{
    snprintf(buf, n,
             "n_rois=%d seg_len=%d n_segments=%d d_model=%d d_key=%d d_ffn=%d n_heads=%d "
             "encoder=%s n_encoder=%d n_temporal=%d n_decoder=%d self_loops=%d w_masked=%.9g "
             "w_unmasked=%.9g window_s=%.9g dropout=%.9g",
             c->n_rois, c->seg_len, c->n_segments, c->d_model, c->d_key, c->d_ffn, c->n_heads,
             c->encoder == BS_BRAINMAE_AG ? "ag" : "sg", c->n_encoder, c->n_temporal,
             c->n_decoder, c->self_loops, c->w_masked, c->w_unmasked, c->window_s, c->dropout);
}

static int parse_config(const char *s, bs_brainmae_config *c, const char *path, bs_error *err)
{
    bs_brainmae_config_default(c, 0, 0, 0);
    c->dropout = 0; /* files written before dropout existed trained without it */
    int seen = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        char key[64], val[64];
        int used = 0;
        if (sscanf(s, "%63[^=]=%63s%n", key, val, &used) != 2)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__.config: cannot parse '%s'",
                                path, s);
        s += used;
        double v = atof(val);
        if (!(v >= -2147483647.0 && v <= 2147483647.0)) /* (int)v would be undefined */
            return bs_error_set(err, BS_ERR_FORMAT, "%s: __metadata__.config: %s=%s is out of range", path,
                                key, val);
        seen++;
        if (!strcmp(key, "n_rois")) c->n_rois = (int)v;
        else if (!strcmp(key, "seg_len")) c->seg_len = (int)v;
        else if (!strcmp(key, "n_segments")) c->n_segments = (int)v;
        else if (!strcmp(key, "d_model")) c->d_model = (int)v;
        else if (!strcmp(key, "d_key")) c->d_key = (int)v;
        else if (!strcmp(key, "d_ffn")) c->d_ffn = (int)v;
        else if (!strcmp(key, "n_heads")) c->n_heads = (int)v;
        else if (!strcmp(key, "encoder")) c->encoder = strcmp(val, "ag") ? BS_BRAINMAE_SG : BS_BRAINMAE_AG;
        else if (!strcmp(key, "n_encoder")) c->n_encoder = (int)v;
        else if (!strcmp(key, "n_temporal")) c->n_temporal = (int)v;
        else if (!strcmp(key, "n_decoder")) c->n_decoder = (int)v;
        else if (!strcmp(key, "self_loops")) c->self_loops = (int)v;
        else if (!strcmp(key, "w_masked")) c->w_masked = (float)v;
        else if (!strcmp(key, "w_unmasked")) c->w_unmasked = (float)v;
        else if (!strcmp(key, "window_s")) c->window_s = (float)v;
        else if (!strcmp(key, "dropout")) c->dropout = (float)v;
        else seen--; /* unknown keys from newer writers are ignored */
    }
    if (seen < 11)
        return bs_error_set(err, BS_ERR_FORMAT,
                            "%s: __metadata__.config: expected the BrainMAE config keys, found %d",
                            path, seen);
    if (bs_brainmae_config_validate(c, err)) return bs_error_prefix(err, "%s: ", path);
    return BS_OK;
}

int mae_checkpoint_save(const bs_brainmae *m, const char *path, int with_optimizer, int epoch,
                       bs_error *err)
{
    bs_st_writer *w = bs_st_writer_new();
    if (!w) return bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    char cfg[1024], num[64];
    /* names for the optimizer tensors must outlive the writer */
    char **names = calloc((size_t)m->n_par * 2, sizeof(char *));
    int rc = names ? BS_OK : bs_error_set(err, BS_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; rc == BS_OK && i < m->n_par; i++) {
        const bs_brainmae_param *p = &m->par[i];
        rc = bs_st_writer_add(w, p->name, BS_ST_F32, p->ndim, p->shape, m->params + p->offset, err);
        if (rc || !with_optimizer) continue;
        size_t len = strlen(p->name) + 32;
        names[2 * i] = malloc(len);
        names[2 * i + 1] = malloc(len);
        snprintf(names[2 * i], len, "optimizer.exp_avg.%s", p->name);
        snprintf(names[2 * i + 1], len, "optimizer.exp_avg_sq.%s", p->name);
        rc = bs_st_writer_add(w, names[2 * i], BS_ST_F32, p->ndim, p->shape,
                              m->adam_m + p->offset, err);
        if (!rc)
            rc = bs_st_writer_add(w, names[2 * i + 1], BS_ST_F32, p->ndim, p->shape,
                                  m->adam_v + p->offset, err);
    }
    config_string(&m->cfg, cfg, sizeof cfg);
    if (!rc) rc = bs_st_writer_set_metadata(w, "format", FORMAT_TAG, err);
    if (!rc) rc = bs_st_writer_set_metadata(w, "config", cfg, err);
    snprintf(num, sizeof num, "%lld", (long long)m->step);
    if (!rc) rc = bs_st_writer_set_metadata(w, "step", num, err);
    snprintf(num, sizeof num, "%d", epoch);
    if (!rc) rc = bs_st_writer_set_metadata(w, "epoch", num, err);
    if (!rc) rc = bs_st_writer_set_metadata(w, "optimizer", with_optimizer ? "adamw" : "none", err);
    if (!rc) rc = bs_st_writer_write(w, path, err);
    bs_st_writer_free(w);
    if (names)
        for (int i = 0; i < 2 * m->n_par; i++) free(names[i]);
    free(names);
    return rc;
}

int bs_brainmae_save(const bs_brainmae *m, const char *path, int with_optimizer, bs_error *err)
{
    return mae_checkpoint_save(m, path, with_optimizer, 0, err);
}

/* The model is allocated from the config before its tensors are read, so
 * every size the config claims must be that of a tensor in the file: the
 * allocation is then bounded by the file itself (fuzz_safetensors). */
static int check_config_shapes(const bs_safetensors *st, const bs_brainmae_config *c, const char *path,
                               bs_error *err)
{
    char last[3][48];
    snprintf(last[0], sizeof last[0], "enc.%d.fc1.weight", c->n_encoder - 1);
    snprintf(last[1], sizeof last[1], "temporal.%d.fc1.weight", c->n_temporal - 1);
    snprintf(last[2], sizeof last[2], "decoder.%d.fc1.weight", c->n_decoder - 1);
    const struct { const char *name; int64_t a, b; } want[] = {
        {"roi_embed", c->n_rois, c->d_model},          {"in_proj.weight", c->d_model, c->seg_len},
        {"temporal_pos", (int64_t)c->n_segments + 1, c->d_model}, {"enc.0.wq.weight", c->d_key, c->d_model},
        {last[0], c->d_ffn, c->d_model},               {last[1], c->d_ffn, c->d_model},
        {last[2], c->d_ffn, c->d_model}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const bs_st_info *in = bs_st_find(st, want[i].name);
        if (!in || in->ndim != 2 || in->shape[0] != want[i].a || in->shape[1] != want[i].b)
            return bs_error_set(err, BS_ERR_FORMAT, "%s: tensor '%s' is missing or not [%lld, %lld] as "
                                "__metadata__.config says", path, want[i].name, (long long)want[i].a,
                                (long long)want[i].b);
    }
    return BS_OK;
}

int mae_checkpoint_read_config(const char *path, bs_brainmae_config *cfg, bs_error *err)
{
    bs_safetensors *st = bs_st_open(path, err);
    if (!st) return err ? err->code : BS_ERR_IO;
    const char *fmt = bs_st_metadata(st, "format"), *cs = bs_st_metadata(st, "config");
    int rc = BS_OK;
    if (!fmt || strcmp(fmt, FORMAT_TAG) != 0 || !cs)
        rc = bs_error_set(err, BS_ERR_FORMAT,
                          "%s: not a BrainMAE checkpoint (__metadata__.format must be '%s')", path,
                          FORMAT_TAG);
    else
        rc = parse_config(cs, cfg, path, err);
    if (rc == BS_OK)
        rc = check_config_shapes(st, cfg, path, err);
    bs_st_close(st);
    return rc;
}

int mae_checkpoint_load_into(bs_brainmae *m, const char *path, int with_optimizer, int *epoch,
                            bs_error *err)
{
    bs_brainmae_config c;
    if (mae_checkpoint_read_config(path, &c, err)) return err ? err->code : BS_ERR_FORMAT;
    char a[1024], b[1024];
    config_string(&c, a, sizeof a);
    config_string(&m->cfg, b, sizeof b);
    if (strcmp(a, b) != 0)
        return bs_error_set(err, BS_ERR_DATA, "%s: checkpoint config '%s' differs from '%s'", path,
                            a, b);
    bs_safetensors *st = bs_st_open(path, err);
    if (!st) return err ? err->code : BS_ERR_IO;
    int rc = BS_OK;
    const char *opt = bs_st_metadata(st, "optimizer");
    if (with_optimizer && (!opt || strcmp(opt, "adamw") != 0))
        rc = bs_error_set(err, BS_ERR_DATA,
                          "%s: holds no optimizer state; cannot resume training from it", path);
    char name[512];
    for (int i = 0; rc == BS_OK && i < m->n_par; i++) {
        const bs_brainmae_param *p = &m->par[i];
        rc = bs_st_read_f32(st, p->name, m->params + p->offset, p->ndim, p->shape, err);
        if (rc || !with_optimizer) continue;
        snprintf(name, sizeof name, "optimizer.exp_avg.%s", p->name);
        rc = bs_st_read_f32(st, name, m->adam_m + p->offset, p->ndim, p->shape, err);
        snprintf(name, sizeof name, "optimizer.exp_avg_sq.%s", p->name);
        if (!rc) rc = bs_st_read_f32(st, name, m->adam_v + p->offset, p->ndim, p->shape, err);
    }
    if (rc == BS_OK) {
        const char *s = bs_st_metadata(st, "step"), *e = bs_st_metadata(st, "epoch");
        m->step = with_optimizer && s ? atoll(s) : 0;
        if (epoch) *epoch = e ? atoi(e) : 0;
    }
    bs_st_close(st);
    return rc;
}

bs_brainmae *bs_brainmae_load(const char *path, bs_error *err)
{
    bs_brainmae_config c;
    if (mae_checkpoint_read_config(path, &c, err)) return NULL;
    bs_brainmae *m = bs_brainmae_new(&c, 0, err);
    if (!m) return NULL;
    if (mae_checkpoint_load_into(m, path, 0, NULL, err)) {
        bs_brainmae_free(m);
        return NULL;
    }
    return m;
}
