/* tests/test_brainmass.c - BrainMass checks that need no Python: checkpoint
 * round trip for inference, bad input (NaN FC, mismatched tensor shapes,
 * ROI-count mismatch, corrupted file, bad masks), determinism for a seed,
 * the pretraining driver (loss log, periodic checkpoints, exact resume) and
 * the `brainmass` stage plugin. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "brainstage/brainmass.h"
#include "brainstage/nn.h"
#include "brainstage/plugin.h"
#include "brainstage/rng.h"
#include "brainstage/safetensors.h"

static int failures;
#define CHECK(cond, ...)                                        \
    do {                                                        \
        if (!(cond)) {                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                       \
            fputc('\n', stderr);                                \
            failures++;                                         \
        }                                                       \
    } while (0)

static char tmpdir[256];

static const char *tmp(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *o = fopen(path, "wb");
    if (o) {
        if (fwrite(buf, 1, len, o) != len)
            fprintf(stderr, "short write to %s\n", path);
        fclose(o);
    }
}

static void small_config(bs_brainmass_config *c)
{
    bs_brainmass_config_small(c, 12);
    c->ffn = 24;
    c->feature_dim = 16;
    c->mrm_mask = 3;
    c->nce_mask = 4;
}

static void random_fc(float *x, int n, int R, uint64_t seed)
{
    bs_rng *rng = bs_rng_new(seed);
    for (int s = 0; s < n; s++)
        for (int i = 0; i < R; i++)
            for (int j = 0; j <= i; j++) {
                float v = i == j ? 1.0f : (float)bs_rng_gaussian(rng, 0.3);
                x[((size_t)s * R + i) * R + j] = v;
                x[((size_t)s * R + j) * R + i] = v;
            }
    bs_rng_free(rng);
}

/* Writes every tensor of m, replacing `bad_name` by a tensor of shape bad_shape. */
static int write_tampered(const bs_brainmass *m, const char *path, const char *bad_name, int bad_ndim,
                          const int64_t *bad_shape, const char *meta_rois)
{
    bs_error e = {0};
    bs_st_writer *w = bs_st_writer_new();
    static float junk[4096];
    for (int i = 0; i < bs_brainmass_tensor_count(m); i++) {
        bs_brainmass_tensor t;
        bs_brainmass_tensor_get(m, i, &t);
        if (bad_name && !strcmp(t.name, bad_name))
            bs_st_writer_add(w, t.name, BS_ST_F32, bad_ndim, bad_shape, junk, &e);
        else if (t.count)
            bs_st_writer_add(w, t.name, BS_ST_I64, 0, t.shape, t.count, &e);
        else
            bs_st_writer_add(w, t.name, BS_ST_F32, t.ndim, t.shape, t.data, &e);
    }
    bs_st_writer_set_metadata(w, "heads", "2", &e);
    if (meta_rois)
        bs_st_writer_set_metadata(w, "rois", meta_rois, &e);
    int rc = bs_st_writer_write(w, path, &e);
    bs_st_writer_free(w);
    if (rc)
        fprintf(stderr, "write_tampered: %s\n", e.message);
    return rc;
}

static void test_checkpoint_and_bad_input(void)
{
    bs_brainmass_config c;
    small_config(&c);
    bs_error e = {0};
    bs_brainmass *m = bs_brainmass_new(&c, 3, &e);
    CHECK(m, "new: %s", e.message);
    const int R = c.rois, E = bs_brainmass_embed_dim(m), N = 3;
    float fc[3 * 12 * 12], emb[3 * 96], emb2[3 * 96];
    random_fc(fc, N, R, 11);
    CHECK(E == 96, "embed dim %d", E);
    CHECK(!bs_brainmass_embed(m, fc, N, emb, &e), "embed: %s", e.message);

    /* round trip for inference */
    CHECK(!bs_brainmass_save(m, tmp("m.safetensors"), &e), "save: %s", e.message);
    bs_brainmass *back = bs_brainmass_load(tmp("m.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
    CHECK(back, "load: %s", e.message);
    if (back) {
        CHECK(!bs_brainmass_embed(back, fc, N, emb2, &e), "embed2: %s", e.message);
        CHECK(!memcmp(emb, emb2, sizeof emb), "reloaded embedding differs");
        bs_brainmass_free(back);
    }

    /* NaN in FC */
    float bad[3 * 12 * 12];
    memcpy(bad, fc, sizeof bad);
    bad[12 * 12 + 5] = NAN;
    bs_error_clear(&e);
    CHECK(bs_brainmass_embed(m, bad, N, emb2, &e) == BS_ERR_NUMERIC &&
              strstr(e.message, "matrix 1, row 0, column 5 is NaN"),
          "NaN input not rejected: %s", e.message);
    bad[12 * 12 + 5] = INFINITY;
    bs_error_clear(&e);
    CHECK(bs_brainmass_embed(m, bad, N, emb2, &e) == BS_ERR_NUMERIC && strstr(e.message, "is infinite"),
          "infinite input not rejected: %s", e.message);
    bad[12 * 12 + 5] = NAN;
    bs_error_clear(&e);
    CHECK(bs_brainmass_compute_grads(m, bad, fc, N, NULL, NULL, NULL, &e) == BS_ERR_NUMERIC,
          "NaN view not rejected: %s", e.message);

    /* bad masks */
    int32_t mrm[3 * 3] = {0, 1, 1, 0, 1, 2, 0, 1, 2}, nce[3 * 4] = {0};
    bs_error_clear(&e);
    CHECK(bs_brainmass_compute_grads(m, fc, fc, N, mrm, nce, NULL, &e) == BS_ERR_USAGE &&
              strstr(e.message, "masked twice"), "duplicate mask ROI not rejected: %s", e.message);
    bs_error_clear(&e);
    CHECK(bs_brainmass_compute_grads(m, fc, fc, 1, NULL, NULL, NULL, &e) == BS_ERR_USAGE,
          "batch of 1 not rejected");

    /* mismatched tensor shape */
    int64_t wrong[2] = {24, 13};
    CHECK(!write_tampered(m, tmp("bad_shape.safetensors"), "online_network.attention_list.1.linear1.weight",
                          2, wrong, NULL), "write tampered");
    bs_error_clear(&e);
    back = bs_brainmass_load(tmp("bad_shape.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
    CHECK(!back && e.code == BS_ERR_DATA && strstr(e.message, "attention_list.1.linear1.weight") &&
              strstr(e.message, "[24,13]"), "shape mismatch: %s", e.message);
    bs_brainmass_free(back);

    /* ROI count in metadata disagrees with the tensors */
    CHECK(!write_tampered(m, tmp("bad_rois.safetensors"), NULL, 0, NULL, "13"), "write tampered");
    bs_error_clear(&e);
    back = bs_brainmass_load(tmp("bad_rois.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
    CHECK(!back && strstr(e.message, "rois=13"), "ROI mismatch: %s", e.message);
    bs_brainmass_free(back);

    /* missing tensor */
    CHECK(!write_tampered(m, tmp("missing.safetensors"), "online_network.dim_reduction.0.bias", 1,
                          (int64_t[]){7}, NULL), "write tampered");
    bs_error_clear(&e);
    back = bs_brainmass_load(tmp("missing.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
    CHECK(!back && strstr(e.message, "dim_reduction.0.bias"), "bad readout bias: %s", e.message);
    bs_brainmass_free(back);

    /* NaN in a stored weight */
    {
        bs_brainmass_tensor t;
        bs_brainmass_tensor_find(m, "online_network.attention_list.0.linear2.weight", &t);
        float keep = t.data[7];
        t.data[7] = NAN;
        CHECK(!bs_brainmass_save(m, tmp("nan_w.safetensors"), &e), "save: %s", e.message);
        t.data[7] = keep;
        bs_error_clear(&e);
        back = bs_brainmass_load(tmp("nan_w.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
        CHECK(!back && e.code == BS_ERR_DATA && strstr(e.message, "attention_list.0.linear2.weight") &&
                  strstr(e.message, "element 7 is NaN"), "NaN weight: %s", e.message);
        bs_brainmass_free(back);
    }

    /* corrupted header JSON and a cut data section */
    {
        FILE *f = fopen(tmp("m.safetensors"), "rb");
        static unsigned char img[1 << 20];
        size_t len = f ? fread(img, 1, sizeof img, f) : 0;
        if (f)
            fclose(f);
        CHECK(len > 100 && len < sizeof img, "checkpoint size %zu", len);
        unsigned char *q = memchr(img + 8, '"', len - 8);
        if (q) {
            *q = '#';
            write_bytes(tmp("badjson.safetensors"), img, len);
            *q = '"';
        }
        bs_error_clear(&e);
        back = bs_brainmass_load(tmp("badjson.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
        CHECK(!back && e.code == BS_ERR_FORMAT && strstr(e.message, "badjson.safetensors") &&
                  strstr(e.message, "JSON"), "corrupted header: %s", e.message);
        bs_brainmass_free(back);
        write_bytes(tmp("cut.safetensors"), img, len - 64);
        bs_error_clear(&e);
        back = bs_brainmass_load(tmp("cut.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
        CHECK(!back && e.code == BS_ERR_FORMAT && strstr(e.message, "data section"), "cut data: %s", e.message);
        bs_brainmass_free(back);
        /* truncated inside the header */
        write_bytes(tmp("trunc.safetensors"), img, 1000);
    }
    bs_error_clear(&e);
    back = bs_brainmass_load(tmp("trunc.safetensors"), BS_BRAINMASS_LOAD_INFERENCE, &e);
    CHECK(!back && e.code != BS_OK, "truncated file accepted");
    if (!back)
        fprintf(stderr, "ok: truncated checkpoint -> %s\n", e.message);
    bs_brainmass_free(back);
    bs_brainmass_free(m);
}

static void test_determinism(void)
{
    bs_brainmass_config c;
    small_config(&c);
    bs_error e = {0};
    float v1[4 * 144], v2[4 * 144];
    random_fc(v1, 4, 12, 1);
    random_fc(v2, 4, 12, 2);
    bs_brainmass *a = bs_brainmass_new(&c, 9, &e), *b = bs_brainmass_new(&c, 9, &e);
    for (int s = 0; s < 3; s++) {
        bs_brainmass_losses la, lb;
        CHECK(!bs_brainmass_compute_grads(a, v1, v2, 4, NULL, NULL, &la, &e), "%s", e.message);
        CHECK(!bs_brainmass_compute_grads(b, v1, v2, 4, NULL, NULL, &lb, &e), "%s", e.message);
        CHECK(la.total == lb.total, "step %d: losses differ %g %g", s, la.total, lb.total);
        bs_brainmass_apply_update(a, 1e-3, 5e-5, 1.0);
        bs_brainmass_apply_update(b, 1e-3, 5e-5, 1.0);
    }
    /* eval mode splits samples in fixed chunks whatever the thread count:
     * embeddings are bit-identical for 1 and 2 threads (7 samples: a tail chunk) */
    {
        float fc[7 * 144], e1[7 * 96], e2[7 * 96];
        random_fc(fc, 7, 12, 5);
        int prev = nn_get_num_threads();
        nn_set_num_threads(1);
        CHECK(!bs_brainmass_embed(a, fc, 7, e1, &e), "%s", e.message);
        nn_set_num_threads(2);
        CHECK(!bs_brainmass_embed(a, fc, 7, e2, &e), "%s", e.message);
        nn_set_num_threads(prev);
        CHECK(!memcmp(e1, e2, sizeof e1), "embedding depends on the thread count");
    }
    bs_brainmass_tensor ta, tb;
    bs_brainmass_tensor_find(a, "online_network.attention_list.0.linear1.weight", &ta);
    bs_brainmass_tensor_find(b, "online_network.attention_list.0.linear1.weight", &tb);
    CHECK(!memcmp(ta.data, tb.data, sizeof(float) * (size_t)(ta.shape[0] * ta.shape[1])),
          "same seed, different weights");
    bs_brainmass_free(a);
    bs_brainmass_free(b);
}

static int provider(void *user, int64_t step, int batch, int rois, float *v1, float *v2, bs_error *err)
{
    (void)user;
    (void)err;
    random_fc(v1, batch, rois, 1000 + 2 * (uint64_t)step);
    random_fc(v2, batch, rois, 1001 + 2 * (uint64_t)step);
    return BS_OK;
}

static int count_lines(const char *path)
{
    FILE *fp = fopen(path, "r");
    int n = 0, ch;
    if (!fp)
        return -1;
    while ((ch = fgetc(fp)) != EOF)
        n += ch == '\n';
    fclose(fp);
    return n;
}

static void test_pretrain_resume(void)
{
    bs_brainmass_train_config tc;
    bs_brainmass_train_config_default(&tc);
    small_config(&tc.model);
    tc.batch = 4;
    tc.steps = 6;
    tc.lr = 1e-3;
    tc.warmup_steps = 2;
    tc.seed = 5;
    tc.checkpoint = tmp("full.safetensors");
    tc.loss_log = tmp("full.tsv");
    bs_error e = {0};
    CHECK(!bs_brainmass_pretrain(&tc, provider, NULL, &e), "pretrain: %s", e.message);
    CHECK(count_lines(tmp("full.tsv")) == 7, "loss log has %d lines", count_lines(tmp("full.tsv")));

    /* interrupted run: 4 steps (checkpoint every 2), then resume to 6 */
    tc.steps = 4;
    tc.checkpoint_every = 2;
    tc.checkpoint = tmp("part.safetensors");
    tc.loss_log = tmp("part.tsv");
    CHECK(!bs_brainmass_pretrain(&tc, provider, NULL, &e), "pretrain part: %s", e.message);
    tc.steps = 6;
    tc.resume = tmp("part.safetensors");
    CHECK(!bs_brainmass_pretrain(&tc, provider, NULL, &e), "resume: %s", e.message);
    CHECK(count_lines(tmp("part.tsv")) == 7, "resumed log has %d lines", count_lines(tmp("part.tsv")));
    bs_brainmass *full = bs_brainmass_load(tmp("full.safetensors"), BS_BRAINMASS_LOAD_TRAINING, &e);
    bs_brainmass *res = bs_brainmass_load(tmp("part.safetensors"), BS_BRAINMASS_LOAD_TRAINING, &e);
    CHECK(full && res, "reload: %s", e.message);
    if (full && res) {
        CHECK(bs_brainmass_step_count(res) == 6, "resumed step %lld", (long long)bs_brainmass_step_count(res));
        int same = 1;
        for (int i = 0; i < bs_brainmass_tensor_count(full); i++) {
            bs_brainmass_tensor a, b;
            bs_brainmass_tensor_get(full, i, &a);
            bs_brainmass_tensor_find(res, a.name, &b);
            if (a.count) {
                same &= *a.count == *b.count;
                continue;
            }
            size_t n = 1;
            for (int d = 0; d < a.ndim; d++)
                n *= (size_t)a.shape[d];
            if (memcmp(a.data, b.data, n * sizeof(float))) {
                fprintf(stderr, "differs after resume: %s\n", a.name);
                same = 0;
            }
        }
        CHECK(same, "resumed run differs from the uninterrupted run");
    }
    /* resume with a different architecture */
    tc.model.ffn = 32;
    tc.steps = 7;
    bs_error_clear(&e);
    CHECK(bs_brainmass_pretrain(&tc, provider, NULL, &e) == BS_ERR_DATA && strstr(e.message, "ffn=24"),
          "architecture mismatch on resume: %s", e.message);
    bs_brainmass_free(full);
    bs_brainmass_free(res);
}

static void test_plugin(void)
{
    const char *dir = getenv("BRAINSTAGE_PLUGIN_PATH");
    if (!dir) {
        fprintf(stderr, "note: BRAINSTAGE_PLUGIN_PATH unset, plugin not tested\n");
        return;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/brainmass.so", dir);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(h, "dlopen %s: %s", path, dlerror());
    if (!h)
        return;
    bs_plugin_entry_fn entry = (bs_plugin_entry_fn)dlsym(h, "bs_plugin_entry");
    const bs_plugin *p = entry ? entry(0) : NULL;
    CHECK(p && !strcmp(p->name, "brainmass"), "plugin descriptor");
    if (!p)
        return;
    CHECK(p->n_outputs == 3 && !strcmp(p->outputs[1].name, "tokens") && !strcmp(p->outputs[2].name, "attention"),
          "plugin outputs");
    struct { const char *weights, *attention; } cfg = {tmp("m.safetensors"), "none"};
    bs_host host = {sizeof host, 1, 1, 1, "bm"};
    bs_error e = {0};
    void *self = p->create(&cfg, &host, &e);
    CHECK(self, "create: %s", e.message);
    if (!self)
        return;
    bs_tensor *t = bs_tensor_new_3d(2, 12, 12, &e);
    random_fc(t->data, 2, 12, 11);
    bs_data *in = bs_data_new(BS_PORT_MATRIX_BATCH, t, &e), *out[3] = {0};
    bs_data_set_attr(in, "entities", "sub-01", &e);
    CHECK(!p->process(self, &in, out, &e), "process: %s", e.message);
    CHECK(out[0] && out[0]->tensor->shape[0] == 2 && out[0]->tensor->shape[1] == 96, "embedding shape");
    CHECK(out[0] && !strcmp(bs_data_get_attr(out[0], "entities"), "sub-01"), "attributes copied");
    CHECK(out[1] && out[1]->kind == BS_PORT_MATRIX_BATCH && out[1]->tensor->ndim == 3 &&
              out[1]->tensor->shape[0] == 2 && out[1]->tensor->shape[1] == 12, "tokens shape");
    CHECK(out[2] && out[2]->tensor->ndim == 3 && out[2]->tensor->shape[0] == 0 &&
              !strcmp(bs_data_get_attr(out[2], "layout"), "none"), "attention=none gives an empty batch");
    for (int i = 0; i < 3; i++)
        bs_data_free(out[i]), out[i] = NULL;
    /* NaN in the FC batch: a clear error and no outputs */
    in->tensor->data[144 + 13] = NAN;
    bs_error_clear(&e);
    CHECK(p->process(self, &in, out, &e) == BS_ERR_NUMERIC && strstr(e.message, "matrix 1, row 1, column 1 is NaN") &&
              !out[0] && !out[1] && !out[2], "NaN FC in plugin: %s", e.message);
    bs_data_free(in);
    /* wrong ROI count */
    in = bs_data_new(BS_PORT_MATRIX, bs_tensor_new_2d(10, 10, &e), &e);
    bs_error_clear(&e);
    CHECK(p->process(self, &in, out, &e) == BS_ERR_DATA && strstr(e.message, "12 ROIs") && !out[0],
          "ROI mismatch in plugin: %s", e.message);
    bs_data_free(in);
    p->destroy(self);
    /* a checkpoint for another ROI count / a corrupted one fail at create, naming the file */
    cfg.weights = tmp("bad_shape.safetensors");
    bs_error_clear(&e);
    CHECK(!p->create(&cfg, &host, &e) && strstr(e.message, "bad_shape.safetensors"), "plugin create: %s", e.message);
    dlclose(h);
}

int main(void)
{
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmpdir, sizeof tmpdir, "%s/test_brainmass.XXXXXX", base);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_checkpoint_and_bad_input();
    test_determinism();
    test_pretrain_resume();
    test_plugin();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) {
    }
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    else
        fprintf(stderr, "ok\n");
    return failures ? 1 : 0;
}
