/* fuzz_safetensors.c - the strict safetensors reader on arbitrary bytes, and
 * the loaders built on it (BrainMass and BrainMAE checkpoints, classifier
 * heads, feature matrices).
 *
 * The in-memory reader sees every input; an input it accepts must honour
 * its promises (every tensor's bytes inside the image, names findable,
 * conversion to float32 possible).  Accepted inputs are also written to a
 * scratch file for the path-based loaders, which parse __metadata__
 * (model configuration, optimizer state, class names, participant ids). */
#include "fuzz_common.h"

#include "brainstage/brainmae.h"
#include "brainstage/brainmass.h"
#include "brainstage/eval.h"
#include "brainstage/heads.h"
#include "brainstage/safetensors.h"

#define FUZZ_MAX_TENSOR_BYTES (4u << 20)

static void check_tensors(const bs_safetensors *st, size_t size)
{
    for (int i = 0; i < bs_st_count(st); i++) {
        const bs_st_info *info = bs_st_get(st, i);
        if (!info || info->end < info->begin || info->end > size || bs_st_find(st, info->name) != info)
            abort();
        int64_t numel = bs_shape_numel(info->ndim, info->shape);
        if (numel < 0 || (uint64_t)numel > FUZZ_MAX_TENSOR_BYTES / sizeof(float))
            continue;
        bs_error err = {0};
        bs_tensor *t = bs_st_read_tensor(st, info->name, &err);
        if (!t)
            fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        bs_tensor_free(t);
    }
    for (int i = 0; i < bs_st_metadata_count(st); i++) {
        const char *key = bs_st_metadata_key(st, i);
        if (!key || !bs_st_metadata(st, key))
            abort();
    }
}

static void loaders(const char *path)
{
    bs_error err = {0};
    for (int mode = BS_BRAINMASS_LOAD_INFERENCE; mode <= BS_BRAINMASS_LOAD_TRAINING; mode++) {
        bs_brainmass *m = bs_brainmass_load(path, mode, &err);
        if (!m)
            fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        bs_brainmass_free(m);
    }
    bs_brainmae *mae = bs_brainmae_load(path, &err);
    if (!mae)
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
    bs_brainmae_free(mae);
    bs_head *h = bs_head_load(path, &err);
    if (!h)
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
    bs_head_free(h);
    bs_features f = {0};
    int rc = bs_features_read(path, &f, &err);
    fuzz_check_error(rc, &err);
    if (rc == BS_OK)
        bs_features_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    if (!path)
        path = fuzz_path("model.safetensors");
    bs_error err = {0};
    bs_safetensors *st = bs_st_open_memory(data, size, "fuzz.safetensors", &err);
    if (!st) {
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        return 0;
    }
    check_tensors(st, size);
    bs_st_close(st);
    fuzz_write(path, data, size);
    loaders(path);
    return 0;
}
