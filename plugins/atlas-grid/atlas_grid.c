/* atlas_grid.c - `atlas-grid` stage: streamed BOLD -> mean time series of
 * procedural cubic parcels (size mm, aligned to world coordinate 0) inside
 * a brain mask; coverage = cube voxels in the mask / cube voxels in the field
 * of view; cubes under min_coverage are NaN columns (docs/atlases.md). */
#include "brainstage/atlas.h"
#include "brainstage/log.h"
#include "brainstage/plugin.h"

#include <stdlib.h>

typedef struct config {
    double size;
    const char *mask;
    double min_coverage;
    int prefetch;
    const char *atlas_name;
    const char *naming;
} config;

static const bs_param_desc params[] = {
    {"size", BS_PARAM_DOUBLE, "10", 0.5, 1000, NULL, "cube edge in mm", offsetof(config, size)},
    {"mask", BS_PARAM_STRING, "auto", 1, 0, NULL,
     "brain mask on the BOLD grid: auto (fMRIPrep desc-brain_mask next to the BOLD), none or a path",
     offsetof(config, mask)},
    {"min_coverage", BS_PARAM_DOUBLE, "0.5", 0, 1, NULL,
     "cubes with a smaller fraction of their voxels inside the mask are NaN columns", offsetof(config, min_coverage)},
    {"atlas_name", BS_PARAM_STRING, "", 1, 0, NULL,
     "BIDS label for {atlas} in output names (letters, digits); empty: grid<size>", offsetof(config, atlas_name)},
    {"naming", BS_PARAM_ENUM, "atlas", 1, 0, "atlas|seg",
     "entity in {atlas_entity}: atlas-<label> (XCP-D 26.x) or seg-<label> (older XCP-D)", offsetof(config, naming)},
    {"prefetch", BS_PARAM_BOOL, "yes", 1, 0, NULL, "decompress the next volume in a second thread",
     offsetof(config, prefetch)},
};
static const bs_port_desc inputs[] = {{"input", BS_PORT_VOLUME4D, 0, "BOLD run (streamed)"}};
static const bs_port_desc outputs[] = {{"output", BS_PORT_TIMESERIES, 0, "T x R cube means with coverage"}};

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
        return bs_error_set(err, BS_ERR_DATA, "atlas-grid: input must be a streamed BOLD run (volume4d)");
    const char *bold_path = bs_nifti_reader_path(bold->volume);
    const bs_nifti_header *h = bs_nifti_reader_header(bold->volume);
    uint8_t *mask = NULL;
    int rc = bs_atlas_load_mask(c->mask, bold_path, h, &mask, err);
    if (rc)
        return rc;
    if (!mask)
        bs_log(BS_LOG_WARN, "atlas-grid: no mask: every voxel of %s's field of view is parcellated", bold_path);
    bs_atlas_naming naming = {c->atlas_name, c->naming, NULL};
    bs_parcellation *p = bs_parcellation_grid(h, bold_path, c->size, mask, err);
    rc = p ? bs_atlas_stage_output(bold, p, c->min_coverage, c->prefetch, &naming, &out[0], err) : (int)err->code;
    bs_parcellation_free(p);
    free(mask);
    return rc;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "atlas-grid", .version = "1.0",
    .summary = "mean time series of cubic parcels of a given size inside a brain mask",
    .inputs = inputs, .n_inputs = 1, .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .process = process, .destroy = free,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
