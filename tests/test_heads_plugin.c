/* test_heads_plugin.c - the `head` stage plugin, loaded like the host loads
 * it: applies a saved head to an embedding and to FC matrices (vectorised
 * upper triangle), applies a fine-tuned BrainMass model to FC matrices, and
 * fails with one-line errors on a feature-count or ROI-count mismatch and on
 * a missing model file. */
#include "brainstage/brainmass_finetune.h"
#include "brainstage/eval.h"
#include "brainstage/heads.h"
#include "brainstage/params.h"
#include "brainstage/plugin.h"
#include "brainstage/registry.h"
#include "brainstage/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failures;
#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                   \
            printf(__VA_ARGS__);                                                                           \
            printf("\n");                                                                                  \
            failures++;                                                                                    \
        }                                                                                                  \
    } while (0)

enum { R = 5, D = R * (R - 1) / 2, N = 40 };

static void *make_stage(const bs_plugin *p, const char *model, bs_config **cfg, bs_error *err)
{
    *cfg = bs_config_new(p, err);
    if (!*cfg || bs_config_set(*cfg, "model", model, err) || bs_config_check_required(*cfg, err))
        return NULL;
    bs_host host = {sizeof(bs_host), 1, 42, 1, "clf"};
    return p->create(bs_config_data(*cfg), &host, err);
}

int main(void)
{
    const char *path = getenv("BRAINSTAGE_PLUGIN_PATH");
    if (!path) {
        fprintf(stderr, "BRAINSTAGE_PLUGIN_PATH not set\n");
        return 77;
    }
    bs_registry *reg = bs_registry_new();
    bs_registry_scan(reg, path);
    const bs_plugin *p = bs_registry_find(reg, "head");
    if (!p) {
        printf("FAIL: head plugin not found in %s\n", path);
        return 1;
    }
    bs_error err = {0};

    /* Train on vectorised FC matrices of two groups differing in one edge. */
    bs_rng *rng = bs_rng_new(5);
    float *fc = calloc(N * R * R, sizeof(float)), X[N * D];
    int32_t y[N];
    for (int s = 0; s < N; s++) {
        y[s] = s % 2;
        for (int i = 0; i < R; i++)
            for (int j = i; j < R; j++) {
                float v = i == j ? 1.0f : (float)(0.3 * bs_rng_gaussian(rng, 1.0) + (i == 0 && j == 1 ? 0.8 * y[s] : 0));
                fc[s * R * R + i * R + j] = fc[s * R * R + j * R + i] = v;
            }
    }
    bs_fc_vectorize(fc, N, R, X);
    bs_head_params hp;
    bs_head_params_default(&hp, BS_HEAD_LOGREG);
    const char *names[2] = {"control", "patient"};
    bs_head *h = bs_head_fit_classifier(&hp, X, N, D, y, 2, names, &err);
    CHECK(h, "fit: %s", err.message);
    char model[] = "/tmp/bs-head-plugin-XXXXXX";
    int fd = mkstemp(model);
    close(fd);
    CHECK(bs_head_save(h, model, &err) == BS_OK, "save: %s", err.message);
    double ref[N * 2];
    bs_head_scores(h, X, N, ref, &err);

    bs_config *cfg = NULL;
    void *self = make_stage(p, model, &cfg, &err);
    CHECK(self, "create: %s", err.message);
    if (self) {
        /* 1. Embedding input [N, D]. */
        bs_tensor *t = bs_tensor_new_2d(N, D, &err);
        memcpy(t->data, X, sizeof X);
        bs_data *in = bs_data_new(BS_PORT_EMBEDDING, t, &err), *out = NULL;
        bs_data_set_attr(in, "entities", "group", &err);
        CHECK(p->process(self, &in, &out, &err) == BS_OK, "process embedding: %s", err.message);
        if (out) {
            double worst = 0;
            for (int i = 0; i < N * 2; i++)
                worst = fmax(worst, fabs(out->tensor->data[i] - ref[i]));
            CHECK(out->kind == BS_PORT_PREDICTION && out->tensor->shape[0] == N && out->tensor->shape[1] == 2 &&
                      worst <= 1e-7,
                  "embedding predictions differ from bs_head_scores by %.3g", worst);
            CHECK(out->n_labels == 2 && !strcmp(out->labels[1], "patient"), "class labels missing");
            const char *pred = bs_data_get_attr(out, "predicted");
            CHECK(pred && (strncmp(pred, "control", 7) == 0 || strncmp(pred, "patient", 7) == 0),
                  "predicted attribute '%s'", pred ? pred : "(none)");
            CHECK(bs_data_get_attr(out, "entities") != NULL, "attributes not carried over");
            printf("ok   head on an embedding [%d, %d]: scores within %.2g of bs_head_scores (float32 output)\n",
                   N, D, worst);
        }
        bs_data_free(in);
        bs_data_free(out);
        out = NULL;

        /* 2. One subject's FC matrix [R, R]. */
        bs_tensor *m = bs_tensor_new_2d(R, R, &err);
        memcpy(m->data, fc + 3 * R * R, sizeof(float) * R * R);
        in = bs_data_new(BS_PORT_MATRIX, m, &err);
        CHECK(p->process(self, &in, &out, &err) == BS_OK, "process matrix: %s", err.message);
        if (out) {
            CHECK(out->tensor->shape[0] == 1 && fabs(out->tensor->data[1] - ref[3 * 2 + 1]) <= 1e-7,
                  "matrix input not vectorised like the training features");
            printf("ok   head on one FC matrix [%d, %d]: predicted %s (p = %.3f)\n", R, R,
                   bs_data_get_attr(out, "predicted"), out->tensor->data[1]);
        }
        bs_data_free(in);
        bs_data_free(out);
        out = NULL;

        /* 3. Wrong feature count. */
        t = bs_tensor_new_2d(2, D + 1, &err);
        in = bs_data_new(BS_PORT_EMBEDDING, t, &err);
        int rc = p->process(self, &in, &out, &err);
        CHECK(rc == BS_ERR_DATA && out == NULL && !strchr(err.message, '\n'), "mismatch accepted");
        printf("ok   wrong feature count -> %s\n", err.message);
        bs_data_free(in);
        p->destroy(self);
    }
    bs_config_free(cfg);

    /* 4. Missing model file. */
    self = make_stage(p, "/nonexistent/head.safetensors", &cfg, &err);
    CHECK(self == NULL && err.code != BS_OK && strstr(err.message, "head.safetensors"), "missing model accepted");
    printf("ok   missing model -> %s\n", err.message);
    bs_config_free(cfg);

    /* 5. A fine-tuned BrainMass model (encoder + head) on FC matrices. */
    bs_brainmass_config arch;
    bs_brainmass_config_small(&arch, R);
    arch.ffn = 8;
    bs_finetune_config fcfg;
    bs_finetune_config_default(&fcfg);
    fcfg.hidden1 = 8;
    fcfg.hidden2 = 4;
    fcfg.epochs = 3;
    fcfg.augment = BS_FINETUNE_AUGMENT_NONE;
    bs_finetune *ft = bs_finetune_new(NULL, &arch, 2, names, &fcfg, &err);
    bs_finetune_data ftd;
    int64_t rows[N];
    for (int s = 0; s < N; s++)
        rows[s] = s;
    CHECK(ft && bs_finetune_data_from_fc(fc, N, R, &ftd, &err) == BS_OK &&
              bs_finetune_fit(ft, &ftd, rows, N, y, NULL, &err) == BS_OK && bs_finetune_save(ft, model, &err) == BS_OK,
          "fine-tune: %s", err.message);
    double fref[N * 2];
    CHECK(bs_finetune_predict_fc(ft, fc, N, fref, &err) == BS_OK, "predict: %s", err.message);
    self = make_stage(p, model, &cfg, &err);
    CHECK(self, "create with a fine-tuned model: %s", err.message);
    if (self) {
        bs_tensor *b = bs_tensor_new(3, (int64_t[]){N, R, R}, &err);
        memcpy(b->data, fc, sizeof(float) * N * R * R);
        bs_data *in = bs_data_new(BS_PORT_MATRIX_BATCH, b, &err), *out = NULL;
        CHECK(p->process(self, &in, &out, &err) == BS_OK, "process FC batch: %s", err.message);
        if (out) {
            double worst = 0;
            for (int i = 0; i < N * 2; i++)
                worst = fmax(worst, fabs(out->tensor->data[i] - fref[i]));
            CHECK(out->tensor->shape[0] == N && out->tensor->shape[1] == 2 && worst <= 1e-7 &&
                      !strcmp(bs_data_get_attr(out, "head"), "finetune") && out->n_labels == 2,
                  "fine-tuned predictions differ from bs_finetune_predict_fc by %.3g", worst);
            printf("ok   fine-tuned BrainMass on an FC batch [%d, %d, %d]: within %.2g of bs_finetune_predict_fc\n", N, R,
                   R, worst);
        }
        bs_data_free(in);
        bs_data_free(out);
        out = NULL;
        bs_tensor *w = bs_tensor_new_2d(R + 1, R + 1, &err);
        in = bs_data_new(BS_PORT_MATRIX, w, &err);
        int rc = p->process(self, &in, &out, &err);
        CHECK(rc == BS_ERR_DATA && out == NULL && strstr(err.message, "has 5 ROIs"), "ROI mismatch accepted");
        printf("ok   fine-tuned model, wrong ROI count -> %s\n", err.message);
        bs_data_free(in);
        p->destroy(self);
    }
    bs_config_free(cfg);
    bs_finetune_data_free(&ftd);
    bs_finetune_free(ft);

    unlink(model);
    bs_head_free(h);
    free(fc);
    bs_rng_free(rng);
    bs_registry_free(reg);
    if (failures)
        printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
