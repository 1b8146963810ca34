/* tests/test_brainmae_golden.c - driver for tests/brainmae_golden.py: loads
 * a tiny BrainMAE config, weights, inputs and masks written by the Python
 * side, runs forward, backward and N AdamW steps, and writes every output
 * for comparison with PyTorch.  Not a test on its own (needs the fixture).
 *
 * usage: test_brainmae_golden FIXTURE.txt FIXTURE.bin OUT.bin
 * FIXTURE.txt: "key value" config lines, then "tensor NAME NUMEL" lines in
 * the order the float32 data sits in FIXTURE.bin.  With "dropout P" > 0
 * every forward is a training forward whose masks come from
 * nn_seed_mix(seed, step, 0) (step 0 = the checked pass, 1.. = AdamW steps),
 * which the Python side reproduces. */
#include "brainstage/brainmae.h"
#include "brainstage/nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *msg)
{
    fprintf(stderr, "test_brainmae_golden: %s\n", msg);
    return 1;
}

/* Forward (training mode when the config drops) and backward of step `step`. */
static int pass(bs_brainmae *m, int B, const float *x, const uint8_t *mask, const uint8_t *valid,
                uint64_t seed, int step, float *loss, bs_error *err)
{
    int rc = bs_brainmae_get_config(m)->dropout > 0
                 ? bs_brainmae_forward_train(m, B, x, mask, valid,
                                             nn_seed_mix(seed, (uint64_t)step, 0), loss, err)
                 : bs_brainmae_forward(m, B, x, mask, valid, loss, err);
    return rc ? rc : bs_brainmae_backward(m, err);
}

int main(int argc, char **argv)
{
    if (argc != 4) return die("usage: FIXTURE.txt FIXTURE.bin OUT.bin");
    FILE *ft = fopen(argv[1], "r"), *fb = fopen(argv[2], "rb"), *fo = fopen(argv[3], "wb");
    if (!ft || !fb || !fo) return die("cannot open files");
    bs_brainmae_config cfg;
    bs_brainmae_config_default(&cfg, 2, 1, 1);
    cfg.dropout = 0;
    int B = 0, steps = 0;
    uint64_t seed = 0;
    float lr = 1e-3f, wd = 0.0f;
    char key[256];
    long long numel;
    bs_error err = {0};
    bs_brainmae *m = NULL;
    float *x = NULL, *valid_f = NULL, *mask_f = NULL;
    while (fscanf(ft, "%255s", key) == 1) {
        if (strcmp(key, "tensor") == 0) {
            char name[256];
            if (fscanf(ft, "%255s %lld", name, &numel) != 2) return die("bad tensor line");
            float *buf = malloc(sizeof(float) * (size_t)numel);
            if (fread(buf, sizeof(float), (size_t)numel, fb) != (size_t)numel) return die("short bin");
            if (!m) {
                m = bs_brainmae_new(&cfg, 1, &err);
                if (!m) return die(err.message);
            }
            const bs_brainmae_param *p = bs_brainmae_param_find(m, name);
            if (p) {
                if ((long long)p->numel != numel) return die(name);
                memcpy(bs_brainmae_params(m) + p->offset, buf, sizeof(float) * (size_t)numel);
                free(buf);
            } else if (strcmp(name, "X") == 0) x = buf;
            else if (strcmp(name, "V") == 0) valid_f = buf;
            else if (strcmp(name, "M") == 0) mask_f = buf;
            else return die(name);
            continue;
        }
        double v;
        if (fscanf(ft, "%lf", &v) != 1) return die("bad config line");
        if (!strcmp(key, "R")) cfg.n_rois = (int)v;
        else if (!strcmp(key, "tau")) cfg.seg_len = (int)v;
        else if (!strcmp(key, "S")) cfg.n_segments = (int)v;
        else if (!strcmp(key, "d")) cfg.d_model = (int)v;
        else if (!strcmp(key, "dk")) cfg.d_key = (int)v;
        else if (!strcmp(key, "ffn")) cfg.d_ffn = (int)v;
        else if (!strcmp(key, "heads")) cfg.n_heads = (int)v;
        else if (!strcmp(key, "ag")) cfg.encoder = (int)v ? BS_BRAINMAE_AG : BS_BRAINMAE_SG;
        else if (!strcmp(key, "n_encoder")) cfg.n_encoder = (int)v;
        else if (!strcmp(key, "n_temporal")) cfg.n_temporal = (int)v;
        else if (!strcmp(key, "n_decoder")) cfg.n_decoder = (int)v;
        else if (!strcmp(key, "self_loops")) cfg.self_loops = (int)v;
        else if (!strcmp(key, "dropout")) cfg.dropout = (float)v;
        else if (!strcmp(key, "seed")) seed = (uint64_t)v;
        else if (!strcmp(key, "B")) B = (int)v;
        else if (!strcmp(key, "steps")) steps = (int)v;
        else if (!strcmp(key, "lr")) lr = (float)v;
        else if (!strcmp(key, "wd")) wd = (float)v;
        else return die(key);
    }
    if (!m || !x || !valid_f || !mask_f) return die("fixture incomplete");
    const bs_brainmae_config *c = bs_brainmae_get_config(m);
    const size_t per = (size_t)B * c->n_segments * c->n_rois;
    uint8_t *valid = malloc((size_t)B * c->n_rois), *mask = malloc(per * (steps + 1));
    for (size_t i = 0; i < (size_t)B * c->n_rois; i++) valid[i] = valid_f[i] != 0;
    for (size_t i = 0; i < per * (steps + 1); i++) mask[i] = mask_f[i] != 0;
    /* invalid ROIs arrive as NaN, as they would from a low-coverage parcel */
    const size_t seg = (size_t)c->n_rois * c->seg_len;
    for (int b = 0; b < B; b++)
        for (int s = 0; s < c->n_segments; s++)
            for (int r = 0; r < c->n_rois; r++)
                if (!valid[b * c->n_rois + r])
                    for (int t = 0; t < c->seg_len; t++)
                        x[((size_t)b * c->n_segments + s) * seg + (size_t)r * c->seg_len + t] = NAN;

    float loss;
    bs_brainmae_zero_grad(m);
    if (pass(m, B, x, mask, valid, seed, 0, &loss, &err)) return die(err.message);
    fwrite(&loss, sizeof(float), 1, fo);
    fwrite(bs_brainmae_recon(m), sizeof(float), per * c->seg_len, fo);
    fwrite(bs_brainmae_cls(m), sizeof(float), (size_t)B * c->d_model, fo);
    fwrite(bs_brainmae_seg_embed(m), sizeof(float), (size_t)B * c->n_segments * c->d_model, fo);
    for (int i = 0; i < bs_brainmae_param_count(m); i++) {
        const bs_brainmae_param *p = bs_brainmae_param_info(m, i);
        fwrite(bs_brainmae_grads(m) + p->offset, sizeof(float), p->numel, fo);
    }
    float *alpha = malloc(sizeof(float) * (size_t)c->n_rois * c->n_rois);
    if (bs_brainmae_adjacency(m, 0, alpha, &err)) return die(err.message);
    fwrite(alpha, sizeof(float), (size_t)c->n_rois * c->n_rois, fo);
    float *seg_att = malloc(sizeof(float) * (size_t)B * c->n_segments);
    bs_brainmae_segment_attention(m, seg_att);
    fwrite(seg_att, sizeof(float), (size_t)B * c->n_segments, fo);
    free(seg_att);

    bs_adamw opt;
    bs_adamw_defaults(&opt);
    opt.lr = lr;
    opt.weight_decay = wd;
    for (int s = 0; s < steps; s++) {
        bs_brainmae_zero_grad(m);
        if (pass(m, B, x, mask + per * (s + 1), valid, seed, s + 1, &loss, &err))
            return die(err.message);
        bs_brainmae_adamw_step(m, &opt);
        fwrite(&loss, sizeof(float), 1, fo);
    }
    fclose(fo);
    fclose(ft);
    fclose(fb);
    free(alpha);
    free(x);
    free(valid_f);
    free(mask_f);
    free(valid);
    free(mask);
    bs_brainmae_free(m);
    return 0;
}
