/* tests/test_finetune_golden.c - C side of the fine-tuning golden test.
 *
 * Driven by tests/finetune_golden.py:
 *   test_finetune_golden WEIGHTS INPUTS OUT CKPT
 * loads the torch-exported model (bs_finetune_load), takes the optimiser
 * settings from INPUTS' metadata (lr, encoder_lr, weight_decay, freeze),
 * runs one training step per batch of INPUTS' "fc" [S, B, R, R] / "y" [S, B]
 * and writes to OUT: the first step's logits and every gradient, the loss
 * of every step, every tensor after training, the eval-mode probabilities of
 * "eval_fc" [M, R, R] and the embedding of eval_fc by the saved file loaded
 * as a plain BrainMass encoder (bs_brainmass_load).  It also checks that a
 * save/load round trip predicts bit-identically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "brainstage/brainmass_finetune.h"
#include "brainstage/safetensors.h"

static int fail(const char *what, const bs_error *e)
{
    fprintf(stderr, "FAIL %s: %s\n", what, e ? e->message : "");
    return 1;
}

static double meta_d(const bs_safetensors *st, const char *k)
{
    const char *s = bs_st_metadata(st, k);
    return s ? atof(s) : 0.0;
}

static size_t numel(const bs_finetune_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s WEIGHTS INPUTS OUT CKPT\n", argv[0]);
        return 77;
    }
    bs_error e = {0};
    bs_safetensors *in = bs_st_open(argv[2], &e);
    if (!in)
        return fail("open inputs", &e);
    bs_tensor *fc = bs_st_read_tensor(in, "fc", &e), *efc = fc ? bs_st_read_tensor(in, "eval_fc", &e) : NULL;
    const bs_st_info *yi = bs_st_find(in, "y");
    if (!fc || !efc || !yi)
        return fail("read inputs", &e);
    const int S = (int)fc->shape[0], B = (int)fc->shape[1], R = (int)fc->shape[2], M = (int)efc->shape[0];
    const int32_t *y = bs_st_raw(in, yi);

    bs_finetune *ft = bs_finetune_load(argv[1], &e);
    if (!ft)
        return fail("load", &e);
    bs_finetune_config cfg = *bs_finetune_get_config(ft);
    cfg.lr = meta_d(in, "lr");
    cfg.encoder_lr = meta_d(in, "encoder_lr");
    cfg.weight_decay = meta_d(in, "weight_decay");
    cfg.freeze_encoder = (int)meta_d(in, "freeze");
    if (bs_finetune_set_training(ft, &cfg, &e))
        return fail("settings", &e);
    if (bs_finetune_rois(ft) != R)
        return fail("ROI count of inputs", NULL);
    const int C = bs_finetune_n_classes(ft);
    const size_t vs = (size_t)B * R * R;

    bs_st_writer *w = bs_st_writer_new();
    float *logits0 = calloc((size_t)B * C, sizeof(float)), *losses = calloc((size_t)S, sizeof(float));
    int nt = bs_finetune_tensor_count(ft);
    float **copies = calloc((size_t)nt, sizeof(float *));
    char **names = calloc((size_t)nt * 2, sizeof(char *));
    for (int s = 0; s < S; s++) {
        double loss;
        if (bs_finetune_compute_grads(ft, fc->data + s * vs, y + (size_t)s * B, B, 1, &loss, s ? NULL : logits0, &e))
            return fail("compute_grads", &e);
        losses[s] = (float)loss;
        for (int i = 0; s == 0 && i < nt; i++) {
            bs_finetune_tensor t;
            bs_finetune_tensor_get(ft, i, &t);
            if (!t.grad)
                continue;
            copies[i] = malloc(numel(&t) * sizeof(float));
            memcpy(copies[i], t.grad, numel(&t) * sizeof(float));
            names[i] = malloc(strlen(t.name) + 8);
            sprintf(names[i], "grad.%s", t.name);
            bs_st_writer_add(w, names[i], BS_ST_F32, t.ndim, t.shape, copies[i], &e);
        }
        bs_finetune_apply_update(ft);
    }
    int64_t ls[1] = {S}, lg[2] = {B, C};
    bs_st_writer_add(w, "losses", BS_ST_F32, 1, ls, losses, &e);
    bs_st_writer_add(w, "logits0", BS_ST_F32, 2, lg, logits0, &e);
    for (int i = 0; i < nt; i++) {
        bs_finetune_tensor t;
        bs_finetune_tensor_get(ft, i, &t);
        names[nt + i] = malloc(strlen(t.name) + 8);
        sprintf(names[nt + i], "final.%s", t.name);
        if (t.count)
            bs_st_writer_add(w, names[nt + i], BS_ST_I64, 0, t.shape, t.count, &e);
        else
            bs_st_writer_add(w, names[nt + i], BS_ST_F32, t.ndim, t.shape, t.data, &e);
    }
    double *probs = calloc((size_t)M * C, sizeof(double)), *probs2 = calloc((size_t)M * C, sizeof(double));
    if (bs_finetune_predict_fc(ft, efc->data, M, probs, &e))
        return fail("predict", &e);
    int64_t ps[2] = {M, C};
    bs_st_writer_add(w, "eval_probs", BS_ST_F64, 2, ps, probs, &e);

    /* save / reload: identical predictions; the file is also a BrainMass encoder */
    if (bs_finetune_save(ft, argv[4], &e))
        return fail("save", &e);
    bs_finetune *back = bs_finetune_load(argv[4], &e);
    if (!back)
        return fail("reload", &e);
    if (bs_finetune_predict_fc(back, efc->data, M, probs2, &e))
        return fail("predict after reload", &e);
    if (memcmp(probs, probs2, sizeof(double) * (size_t)M * C))
        return fail("reloaded model predicts differently", NULL);
    fprintf(stderr, "ok: save/load round trip predicts bit-identically\n");
    bs_brainmass *enc = bs_brainmass_load(argv[4], BS_BRAINMASS_LOAD_INFERENCE, &e);
    if (!enc)
        return fail("load the fine-tuned file as a BrainMass encoder", &e);
    int E = bs_brainmass_embed_dim(enc);
    float *emb = calloc((size_t)M * E, sizeof(float));
    if (bs_brainmass_embed(enc, efc->data, M, emb, &e))
        return fail("embed", &e);
    int64_t es[2] = {M, E};
    bs_st_writer_add(w, "eval_embed", BS_ST_F32, 2, es, emb, &e);
    if (e.code)
        return fail("collect outputs", &e);
    if (bs_st_writer_write(w, argv[3], &e))
        return fail("write outputs", &e);

    bs_st_writer_free(w);
    bs_brainmass_free(enc);
    bs_finetune_free(back);
    bs_finetune_free(ft);
    for (int i = 0; i < 2 * nt; i++)
        free(names[i]);
    for (int i = 0; i < nt; i++)
        free(copies[i]);
    free(names), free(copies), free(logits0), free(losses), free(probs), free(probs2), free(emb);
    bs_tensor_free(fc);
    bs_tensor_free(efc);
    bs_st_close(in);
    return 0;
}
