/* tests/test_brainmass_golden.c - C side of the BrainMass golden test.
 *
 * Driven by tests/brainmass_golden.py:
 *   test_brainmass_golden WEIGHTS INPUTS OUT CKPT
 * loads torch-exported weights, computes the eval embedding/projection, the
 * first step's losses and every gradient with the masks the test supplies,
 * then runs the remaining training steps, and writes all of it to OUT
 * (safetensors) for the Python side to compare.  It also saves a checkpoint
 * to CKPT, reloads it and checks the reload is bit-identical, and checks that
 * resuming from a mid-run checkpoint reproduces the uninterrupted run.
 *   test_brainmass_golden embed WEIGHTS INPUTS OUT
 * loads WEIGHTS for inference (e.g. a converted .pth) and writes the eval
 * embedding of INPUTS' "fc" [N,R,R] to OUT (tests/brainmass_convert.py).
 *   test_brainmass_golden plugin WEIGHTS INPUTS OUTDIR
 * runs INPUTS' "fc" through the `brainmass` stage plugin (attention=heads,
 * then attention=mean) and every output through the `safetensors` sink
 * plugin, as a pipeline would, into OUTDIR/{embedding,tokens,attention_heads,
 * attention_mean}.safetensors (tests/brainmass_interp.py). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "brainstage/brainmass.h"
#include "brainstage/plugin.h"
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

/* Compares every tensor of two models exactly. */
static int models_equal(const bs_brainmass *a, const bs_brainmass *b)
{
    int n = bs_brainmass_tensor_count(a);
    if (n != bs_brainmass_tensor_count(b))
        return 0;
    for (int i = 0; i < n; i++) {
        bs_brainmass_tensor ta, tb;
        bs_brainmass_tensor_get(a, i, &ta);
        if (bs_brainmass_tensor_find(b, ta.name, &tb))
            return 0;
        if (ta.count) {
            if (*ta.count != *tb.count)
                return 0;
            continue;
        }
        size_t ne = 1;
        for (int d = 0; d < ta.ndim; d++)
            ne *= (size_t)ta.shape[d];
        if (memcmp(ta.data, tb.data, ne * sizeof(float))) {
            fprintf(stderr, "differs: %s\n", ta.name);
            return 0;
        }
    }
    return 1;
}

static int embed_only(const char *weights, const char *inputs, const char *outp)
{
    bs_error e = {0};
    bs_safetensors *in = bs_st_open(inputs, &e);
    bs_tensor *fc = in ? bs_st_read_tensor(in, "fc", &e) : NULL;
    if (!fc)
        return fail("read fc", &e);
    bs_brainmass *m = bs_brainmass_load(weights, BS_BRAINMASS_LOAD_INFERENCE, &e);
    if (!m)
        return fail("load", &e);
    int64_t n = fc->shape[0], E = bs_brainmass_embed_dim(m);
    float *emb = calloc((size_t)(n * E), sizeof(float));
    if (bs_brainmass_embed(m, fc->data, n, emb, &e))
        return fail("embed", &e);
    bs_st_writer *w = bs_st_writer_new();
    int64_t shape[2] = {n, E};
    if (bs_st_writer_add(w, "embed", BS_ST_F32, 2, shape, emb, &e) || bs_st_writer_write(w, outp, &e))
        return fail("write", &e);
    bs_st_writer_free(w);
    free(emb);
    bs_brainmass_free(m);
    bs_tensor_free(fc);
    bs_st_close(in);
    return 0;
}

static const bs_plugin *open_plugin(const char *module, void **handle)
{
    const char *dir = getenv("BRAINSTAGE_PLUGIN_PATH");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.so", dir ? dir : "plugins/.libs", module);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*handle) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return NULL;
    }
    bs_plugin_entry_fn entry = (bs_plugin_entry_fn)dlsym(*handle, "bs_plugin_entry");
    return entry ? entry(0) : NULL;
}

/* The safetensors sink writes one stage output to dir/name.safetensors. */
static int sink(const bs_plugin *sp, const bs_data *d, const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir, name);
    struct { const char *path, *name; } cfg = {path, "data"};
    bs_host host = {sizeof host, 1, 1, 1, "sink"};
    bs_error e = {0};
    void *self = sp->create(&cfg, &host, &e);
    bs_data *in[1] = {(bs_data *)d};
    int rc = !self || sp->process(self, in, NULL, &e) || sp->finalize(self, &e);
    if (self)
        sp->destroy(self);
    if (rc)
        return fail(name, &e);
    return 0;
}

static int plugin_run(const char *weights, const char *inputs, const char *dir)
{
    bs_error e = {0};
    bs_safetensors *st = bs_st_open(inputs, &e);
    bs_tensor *fc = st ? bs_st_read_tensor(st, "fc", &e) : NULL;
    if (!fc)
        return fail("read fc", &e);
    void *hm, *hs;
    const bs_plugin *bm = open_plugin("brainmass", &hm), *sk = open_plugin("safetensors", &hs);
    if (!bm || !sk)
        return fail("plugins", NULL);
    const int R = (int)fc->shape[1];
    char **labels = calloc((size_t)R, sizeof *labels);
    for (int i = 0; i < R; i++) {
        labels[i] = malloc(16);
        snprintf(labels[i], 16, "roi%d", i);
    }
    const char *modes[2] = {"heads", "mean"};
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        struct { const char *weights, *attention; } cfg = {weights, modes[k]};
        bs_host host = {sizeof host, 2, 1, 1, "bm"};
        void *self = bm->create(&cfg, &host, &e);
        if (!self)
            return fail("create brainmass stage", &e);
        bs_data *in = bs_data_new(BS_PORT_MATRIX_BATCH, bs_tensor_clone(fc, &e), &e), *out[3] = {0};
        if (!in || bs_data_set_labels(in, R, (const char *const *)labels, &e) ||
            bs_data_set_attr(in, "entities", "sub-01", &e))
            return fail("input data", &e);
        if (bm->process(self, &in, out, &e))
            return fail("brainmass stage", &e);
        if (k == 0)
            rc = sink(sk, out[0], dir, "embedding") || sink(sk, out[1], dir, "tokens") ||
                 sink(sk, out[2], dir, "attention_heads");
        else
            rc = sink(sk, out[2], dir, "attention_mean");
        for (int i = 0; i < 3; i++)
            bs_data_free(out[i]);
        bs_data_free(in);
        bm->destroy(self);
    }
    for (int i = 0; i < R; i++)
        free(labels[i]);
    free(labels);
    bs_tensor_free(fc);
    bs_st_close(st);
    dlclose(hm);
    dlclose(hs);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "embed"))
        return embed_only(argv[2], argv[3], argv[4]);
    if (argc == 5 && !strcmp(argv[1], "plugin"))
        return plugin_run(argv[2], argv[3], argv[4]);
    if (argc < 5) {
        fprintf(stderr, "usage: %s WEIGHTS INPUTS OUT CKPT\n", argv[0]);
        return 77;
    }
    bs_error e = {0};
    bs_safetensors *in = bs_st_open(argv[2], &e);
    if (!in)
        return fail("open inputs", &e);
    bs_tensor *v1 = bs_st_read_tensor(in, "view1", &e), *v2 = bs_st_read_tensor(in, "view2", &e);
    if (!v1 || !v2)
        return fail("read views", &e);
    const int steps = (int)v1->shape[0], B = (int)v1->shape[1], R = (int)v1->shape[2];
    const bs_st_info *mi = bs_st_find(in, "mrm_idx"), *ni = bs_st_find(in, "nce_idx");
    if (!mi || !ni)
        return fail("mask tensors missing", NULL);
    const int32_t *mrm = bs_st_raw(in, mi), *nce = bs_st_raw(in, ni);
    const int mk = (int)mi->shape[2], nk = (int)ni->shape[2];
    const double lr = meta_d(in, "lr"), wd = meta_d(in, "weight_decay"), clip = meta_d(in, "clip");
    const int resume_at = (int)meta_d(in, "resume_at");

    bs_brainmass *m = bs_brainmass_load(argv[1], BS_BRAINMASS_LOAD_TRAINING, &e);
    if (!m)
        return fail("load weights", &e);
    const bs_brainmass_config *c = bs_brainmass_get_config(m);
    if (c->rois != R || c->mrm_mask != mk || c->nce_mask != nk)
        return fail("config does not match inputs", NULL);
    const int E = bs_brainmass_embed_dim(m), F = c->feature_dim;
    const size_t vs = (size_t)B * R * R;

    bs_st_writer *w = bs_st_writer_new();
    float *emb = calloc((size_t)B * E, sizeof(float)), *proj = calloc((size_t)B * F, sizeof(float));
    if (bs_brainmass_embed(m, v1->data, B, emb, &e) || bs_brainmass_project(m, v1->data, B, proj, &e))
        return fail("embed", &e);
    int64_t es[2] = {B, E}, ps[2] = {B, F};
    bs_st_writer_add(w, "embed", BS_ST_F32, 2, es, emb, &e);
    bs_st_writer_add(w, "project", BS_ST_F32, 2, ps, proj, &e);

    float *losses = calloc((size_t)steps * 5, sizeof(float));
    int nt = bs_brainmass_tensor_count(m);
    float **grad_copy = calloc((size_t)nt, sizeof(float *));
    char **names = calloc((size_t)nt * 2, sizeof(char *));
    for (int s = 0; s < steps; s++) {
        if (s == resume_at && resume_at > 0 && bs_brainmass_save(m, argv[4], &e))
            return fail("save mid-run checkpoint", &e);
        bs_brainmass_losses L;
        if (bs_brainmass_compute_grads(m, v1->data + s * vs, v2->data + s * vs, B, mrm + (size_t)s * B * mk,
                                       nce + (size_t)s * B * nk, &L, &e))
            return fail("compute_grads", &e);
        float row[5] = {(float)L.total, (float)L.byol, (float)L.nce, (float)L.mse, (float)L.nce_acc};
        memcpy(losses + (size_t)s * 5, row, sizeof row);
        if (s == 0) {
            for (int i = 0; i < nt; i++) {
                bs_brainmass_tensor t;
                bs_brainmass_tensor_get(m, i, &t);
                if (!t.grad)
                    continue;
                size_t ne = 1;
                for (int d = 0; d < t.ndim; d++)
                    ne *= (size_t)t.shape[d];
                grad_copy[i] = malloc(ne * sizeof(float));
                memcpy(grad_copy[i], t.grad, ne * sizeof(float));
                names[i] = malloc(strlen(t.name) + 8);
                sprintf(names[i], "grad.%s", t.name);
                bs_st_writer_add(w, names[i], BS_ST_F32, t.ndim, t.shape, grad_copy[i], &e);
            }
        }
        bs_brainmass_apply_update(m, lr, wd, clip);
    }
    int64_t ls[2] = {steps, 5};
    bs_st_writer_add(w, "losses", BS_ST_F32, 2, ls, losses, &e);
    for (int i = 0; i < nt; i++) {
        bs_brainmass_tensor t;
        bs_brainmass_tensor_get(m, i, &t);
        names[nt + i] = malloc(strlen(t.name) + 8);
        sprintf(names[nt + i], "final.%s", t.name);
        if (t.count)
            bs_st_writer_add(w, names[nt + i], BS_ST_I64, 0, t.shape, t.count, &e);
        else
            bs_st_writer_add(w, names[nt + i], BS_ST_F32, t.ndim, t.shape, t.data, &e);
    }
    if (e.code)
        return fail("collect outputs", &e);

    /* resume: continue from the mid-run checkpoint and compare with the full run */
    if (resume_at > 0) {
        bs_brainmass *r = bs_brainmass_load(argv[4], BS_BRAINMASS_LOAD_TRAINING, &e);
        if (!r)
            return fail("load mid-run checkpoint", &e);
        if (bs_brainmass_step_count(r) != resume_at)
            return fail("resumed step count", NULL);
        for (int s = resume_at; s < steps; s++) {
            bs_brainmass_losses L;
            if (bs_brainmass_compute_grads(r, v1->data + s * vs, v2->data + s * vs, B,
                                           mrm + (size_t)s * B * mk, nce + (size_t)s * B * nk, &L, &e))
                return fail("resumed compute_grads", &e);
            if (fabs(L.total - losses[(size_t)s * 5]) > 1e-6 * (1 + fabs(L.total)))
                return fail("resumed loss differs", NULL);
            bs_brainmass_apply_update(r, lr, wd, clip);
        }
        if (!models_equal(m, r))
            return fail("resumed run differs from the uninterrupted run", NULL);
        bs_brainmass_free(r);
        fprintf(stderr, "ok: resume from step %d reproduces the run exactly\n", resume_at);
    }
    /* save / reload round trip */
    if (bs_brainmass_save(m, argv[4], &e))
        return fail("save", &e);
    bs_brainmass *back = bs_brainmass_load(argv[4], BS_BRAINMASS_LOAD_TRAINING, &e);
    if (!back)
        return fail("reload", &e);
    if (!models_equal(m, back) || bs_brainmass_step_count(back) != steps)
        return fail("reloaded checkpoint differs", NULL);
    fprintf(stderr, "ok: checkpoint round trip is exact\n");
    if (bs_st_writer_write(w, argv[3], &e))
        return fail("write outputs", &e);
    bs_st_writer_free(w);
    bs_brainmass_free(back);
    bs_brainmass_free(m);
    for (int i = 0; i < 2 * nt; i++)
        free(names[i]);
    for (int i = 0; i < nt; i++)
        free(grad_copy[i]);
    free(names);
    free(grad_copy);
    free(losses);
    free(emb);
    free(proj);
    bs_tensor_free(v1);
    bs_tensor_free(v2);
    bs_st_close(in);
    return 0;
}
