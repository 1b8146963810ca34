/* fuzz_pipeline.c - pipeline files on arbitrary bytes: the parser (quoting,
 * continuations, ${var} / ${var:-default} / $$ substitution, positions)
 * and the linker (stage types, parameter parsing and ranges, edges, port
 * kinds, cycle detection), with the real stage descriptors registered.
 *
 * The plugins' sources are compiled into this harness with their entry
 * point renamed (fuzz.make: -Dbs_plugin_entry=fuzz_entry_<module>), so no
 * module is dlopen'ed and the linker sees the shipped parameter tables.
 * Nothing is created or run: linking touches no files. */
#include "fuzz_common.h"

#include "brainstage/pipeline.h"
#include "brainstage/registry.h"

#define ENTRIES(X) \
    X(nifti_source) X(atlas_grid) X(atlas_label) X(atlas_prob) X(clean) X(fc) X(pfc) \
    X(tsv) X(safetensors) X(brainmass) X(brainmae) X(head) X(test_plugin)

#define DECLARE(m) const bs_plugin *fuzz_entry_##m(uint32_t index);
ENTRIES(DECLARE)
#undef DECLARE

static bs_registry *registry(void)
{
    static bs_registry *reg;
    if (reg)
        return reg;
    reg = bs_registry_new();
    if (!reg)
        abort();
    static bs_plugin_entry_fn const entries[] = {
#define LIST(m) fuzz_entry_##m,
        ENTRIES(LIST)
#undef LIST
    };
    for (size_t e = 0; e < sizeof entries / sizeof *entries; e++)
        for (uint32_t i = 0;; i++) {
            const bs_plugin *p = entries[e](i);
            if (!p)
                break;
            bs_error err = {0};
            if (bs_registry_add(reg, p, "fuzz", &err)) {
                fprintf(stderr, "fuzz: %s\n", err.message);
                abort();
            }
        }
    return reg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const vars[] = {
        "bold=sub-01_task-rest_bold.nii.gz", "out=/nonexistent/out", "atlas=aal", "x=1", "empty=", "q=a b\"c",
    };
    const bs_registry *reg = registry();
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    bs_error err = {0};
    bs_pipeline *p = bs_pipeline_parse_string(text, "fuzz.pipeline", (int)(sizeof vars / sizeof *vars), vars, &err);
    free(text);
    if (!p) {
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
        return 0;
    }
    bs_graph *g = bs_graph_link(p, reg, &err);
    if (!g) {
        fuzz_check_error(err.code ? (int)err.code : BS_ERR_INTERNAL, &err);
    } else {
        int n = bs_graph_stage_count(g);
        for (int i = 0; i < n; i++)
            if (!bs_graph_stage_name(g, i))
                abort();
        bs_graph_free(g);
    }
    bs_pipeline_free(p);
    return 0;
}
