/* tests/test_brainmae_plugin.c - the `brainmae` stage through the plugin
 * registry: a checkpoint from a 1-epoch pretraining, then process() on a
 * simulated run (output kinds and shapes, attention over windows, a
 * low-coverage ROI masked out),
 * and clear errors for a missing TR and a run shorter than one sample. */
#include "brainstage/brainmae.h"
#include "brainstage/plugin.h"
#include "brainstage/registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* must match plugins/brainmae/brainmae_stage.c */
typedef struct config {
    const char *weights;
    double window_s;
    double mask_ratio;
    int64_t seed;
    double min_coverage;
} config;

enum { R = 6 };
static int failures;
#define EXPECT(cond, ...)                                    \
    do {                                                     \
        if (!(cond)) {                                       \
            fprintf(stderr, "FAIL line %d: ", __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                    \
            fprintf(stderr, "\n");                           \
            failures++;                                      \
        }                                                    \
    } while (0)

static bs_data *run_input(int64_t T, double tr, bs_error *err)
{
    bs_brainmae_sim sim;
    bs_brainmae_sim_defaults(&sim, R, 2, T, tr > 0 ? tr : 2.0);
    bs_tensor *t = bs_tensor_new_2d(T, R, err);
    bs_brainmae_simulate(&sim, 0, t->data, NULL, err);
    bs_data *d = bs_data_new(BS_PORT_TIMESERIES, t, err);
    d->tr = tr;
    const char *labels[R] = {"a", "b", "c", "d", "e", "f"};
    double cov[R] = {1, 1, 0.2, 1, 1, 1};
    bs_data_set_labels(d, R, labels, err);
    bs_data_set_coverage(d, R, cov, err);
    bs_data_set_attr(d, "entities", "sub-01_task-rest", err);
    return d;
}

int main(void)
{
    bs_error err = {0};
    const char *path = getenv("BRAINSTAGE_PLUGIN_PATH");
    if (!path) {
        fprintf(stderr, "BRAINSTAGE_PLUGIN_PATH not set\n");
        return 77;
    }
    bs_registry *reg = bs_registry_new();
    bs_registry_scan(reg, path);
    const bs_plugin *p = bs_registry_find(reg, "brainmae");
    if (!p) {
        fprintf(stderr, "brainmae plugin not found in %s\n", path);
        return 1;
    }
    EXPECT(p->config_size == sizeof(config), "config size %zu", p->config_size);

    char ck[] = "/tmp/brainmae_plugin_XXXXXX";
    int fd = mkstemp(ck);
    close(fd);
    bs_brainmae_config cfg;
    bs_brainmae_config_default(&cfg, R, 5, 2);
    cfg.d_model = 8;
    cfg.d_key = 4;
    cfg.d_ffn = 16;
    cfg.n_heads = 2;
    cfg.window_s = 10;
    bs_brainmae *m = bs_brainmae_new(&cfg, 1, &err);
    EXPECT(bs_brainmae_save(m, ck, 0, &err) == BS_OK, "save: %s", err.message);
    bs_brainmae_free(m);

    config c = {ck, 10.0, 0.7, 3, 0.5};
    bs_host host = {sizeof(bs_host), 1, 42, 1, "mae"};
    void *self = p->create(&c, &host, &err);
    EXPECT(self != NULL, "create: %s", err.message);
    if (!self) return 1;

    bs_data *in = run_input(60, 2.0, &err), *out[6] = {0};
    EXPECT(p->n_outputs == 6, "%d output ports", (int)p->n_outputs);
    EXPECT(p->process(self, &in, out, &err) == BS_OK, "process: %s", err.message);
    if (out[0]) {
        EXPECT(out[0]->kind == BS_PORT_EMBEDDING && out[0]->tensor->shape[0] == 1 &&
                   out[0]->tensor->shape[1] == 8, "embedding shape");
        /* 60 volumes / 5 per window = 12 windows = 6 samples of 2 */
        EXPECT(out[1]->tensor->shape[0] == 12 && out[1]->tensor->shape[1] == 8, "windows shape");
        EXPECT(out[2]->kind == BS_PORT_TIMESERIES && out[2]->tensor->shape[0] == 60 &&
                   out[2]->tensor->shape[1] == R && out[2]->n_labels == R, "reconstruction shape");
        EXPECT(out[3]->kind == BS_PORT_MATRIX && out[3]->tensor->shape[0] == R, "adjacency");
        EXPECT(out[4]->tensor->shape[0] == R && out[4]->tensor->shape[1] == 8, "roi embedding");
        /* attention of each sample's CLS token over its 2 windows: in (0, 1), sum < 1 */
        EXPECT(out[5]->tensor->shape[0] == 12 && out[5]->tensor->shape[1] == 1,
               "window attention shape");
        for (int smp = 0; smp < 6; smp++) {
            const float a0 = out[5]->tensor->data[2 * smp], a1 = out[5]->tensor->data[2 * smp + 1];
            EXPECT(a0 > 0 && a1 > 0 && a0 + a1 < 1, "window attention %g %g", a0, a1);
        }
        EXPECT(out[0]->n_labels == 0 && bs_data_get_attr(out[0], "entities"), "embedding meta");
        const char *mse = bs_data_get_attr(out[2], "masked_mse");
        EXPECT(mse && isfinite(atof(mse)), "masked_mse attr");
        int finite = 1;
        for (int i = 0; i < 8; i++) finite &= isfinite(out[0]->tensor->data[i]);
        EXPECT(finite, "embedding finite with a low-coverage ROI");
    }
    for (int i = 0; i < 6; i++) bs_data_free(out[i]);
    bs_data_free(in);

    in = run_input(60, 0.0, &err);
    memset(out, 0, sizeof out);
    EXPECT(p->process(self, &in, out, &err) == BS_ERR_DATA && strstr(err.message, "TR"),
           "missing TR: %s", err.message);
    bs_data_free(in);
    in = run_input(8, 2.0, &err);
    EXPECT(p->process(self, &in, out, &err) == BS_ERR_DATA && strstr(err.message, "shorter"),
           "short run: %s", err.message);
    bs_data_free(in);
    in = run_input(60, 1.0, &err);
    EXPECT(p->process(self, &in, out, &err) == BS_ERR_DATA && strstr(err.message, "samples per"),
           "inconsistent TR: %s", err.message);
    printf("last error (TR 1.0 s): %s\n", err.message);
    bs_data_free(in);
    p->destroy(self);

    c.weights = "/nonexistent.safetensors";
    EXPECT(p->create(&c, &host, &err) == NULL && err.code == BS_ERR_IO, "missing weights: %s",
           err.message);
    unlink(ck);
    bs_registry_free(reg);
    return failures ? 1 : 0;
}
