/* atlas_label.c - `atlas-label` stage: streamed BOLD -> ROI mean time series
 * over an integer label atlas (background 0), nearest-neighbour resampled
 * to the BOLD grid once; optional brain mask; per-ROI coverage; ROIs under
 * min_coverage become NaN columns with a warning (docs/atlases.md). */
#include "brainstage/atlas.h"
#include "brainstage/plugin.h"

#include <stdlib.h>

typedef struct config {
    const char *atlas;
    const char *labels;
    const char *mask;
    double min_coverage;
    int prefetch;
    const char *atlas_name;
    const char *naming;
} config;

static const bs_param_desc params[] = {
    {"atlas", BS_PARAM_STRING, NULL, 1, 0, NULL,
     "short name (aal, aicha, harvardoxford, brodmann, jhu) or a label NIfTI path", offsetof(config, atlas)},
    {"labels", BS_PARAM_STRING, "", 1, 0, NULL, "label table TSV (index, name); overrides the descriptor's",
     offsetof(config, labels)},
    {"mask", BS_PARAM_STRING, "none", 1, 0, NULL,
     "brain mask on the BOLD grid: none, auto (fMRIPrep desc-brain_mask next to the BOLD) or a path",
     offsetof(config, mask)},
    {"min_coverage", BS_PARAM_DOUBLE, "0.5", 0, 1, NULL,
     "ROIs with a smaller fraction of their voxels inside the mask are NaN columns", offsetof(config, min_coverage)},
    {"atlas_name", BS_PARAM_STRING, "", 1, 0, NULL,
     "BIDS label for {atlas} in output names (letters, digits); empty: the descriptor's, or from the file name", offsetof(config, atlas_name)},
    {"naming", BS_PARAM_ENUM, "atlas", 1, 0, "atlas|seg",
     "entity in {atlas_entity}: atlas-<label> (XCP-D 26.x) or seg-<label> (older XCP-D)", offsetof(config, naming)},
    {"prefetch", BS_PARAM_BOOL, "yes", 1, 0, NULL, "decompress the next volume in a second thread",
     offsetof(config, prefetch)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_VOLUME4D, 0, "BOLD run (streamed)"}};
static const bs_port_desc outputs[] = {{"output", BS_PORT_TIMESERIES, 0, "T x R ROI means with coverage"}};

static void *create(const void *cfg, const bs_host *host, bs_error *err)
{
    config *self = malloc(sizeof *self);
    if (!self) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *self = *(const config *)cfg;
    bs_atlas_naming naming = {self->atlas_name, self->naming, NULL};
    if (bs_atlas_naming_check(&naming, err)) {
        free(self);
        return NULL;
    }
    if (host && host->threads < 2)
        self->prefetch = 0;
    return self;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    const config *c = self;
    const bs_data *bold = in[0];
    if (!bold || !bold->volume)
        return bs_error_set(err, BS_ERR_DATA, "atlas-label: input must be a streamed BOLD run (volume4d)");
    const char *bold_path = bs_nifti_reader_path(bold->volume);
    const bs_nifti_header *h = bs_nifti_reader_header(bold->volume);
    bs_atlas_spec spec;
    int rc = bs_atlas_resolve(c->atlas, c->labels, &spec, err);
    if (rc)
        return rc;
    uint8_t *mask = NULL;
    bs_parcellation *p = NULL;
    bs_atlas_naming naming = {c->atlas_name, c->naming, spec.image};
    if (!(rc = bs_atlas_load_mask(c->mask, bold_path, h, &mask, err))) {
        p = bs_parcellation_labels(h, bold_path, &spec, mask, err);
        rc = p ? bs_atlas_stage_output(bold, p, c->min_coverage, c->prefetch, &naming, &out[0], err) : (int)err->code;
    }
    bs_parcellation_free(p);
    free(mask);
    bs_atlas_spec_free(&spec);
    return rc;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "atlas-label", .version = "1.0",
    .summary = "ROI mean time series over an integer label atlas (streamed, with coverage)",
    .inputs = inputs, .n_inputs = 1, .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .process = process, .destroy = free,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
