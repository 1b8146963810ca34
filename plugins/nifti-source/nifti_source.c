/* nifti_source.c - `nifti-source` stage: a BOLD run as a streamed volume4d.
 *
 * Opens the image (header only), settles the TR (tr= parameter, else the
 * BIDS sidecar's RepetitionTime, else pixdim[4] with its time unit) and
 * hands downstream stages an open streaming reader, so no stage ever holds
 * the whole 4D image. */
#include "brainstage/bids.h"
#include "brainstage/nifti.h"
#include "brainstage/plugin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct config {
    const char *path;
    const char *sidecar;
    const char *source_uri;
    double tr;
    int require_4d;
} config;

static const bs_param_desc params[] = {
    {"path", BS_PARAM_PATH, NULL, 1, 0, NULL, "BOLD NIfTI-1/2 file (.nii or .nii.gz)", offsetof(config, path)},
    {"sidecar", BS_PARAM_STRING, "auto", 1, 0, NULL,
     "BIDS JSON with RepetitionTime: auto (next to the image, if present), none, or a path", offsetof(config, sidecar)},
    {"source_uri", BS_PARAM_STRING, "", 1, 0, NULL,
     "how output sidecars name this file in Sources (e.g. a BIDS URI bids:preprocessed:sub-01/func/...); "
     "empty: its path",
     offsetof(config, source_uri)},
    {"tr", BS_PARAM_DOUBLE, "0", 0, 1000, NULL, "repetition time in seconds; 0 = from sidecar or header", offsetof(config, tr)},
    {"require_4d", BS_PARAM_BOOL, "yes", 1, 0, NULL, "refuse 3D images (a single volume)", offsetof(config, require_4d)},
};
static const bs_port_desc outputs[] = {{"output", BS_PORT_VOLUME4D, 0, "streamed BOLD volumes"}};

static void *create(const void *cfg, const bs_host *host, bs_error *err)
{
    (void)host;
    config *self = malloc(sizeof *self);
    if (!self) {
        bs_error_set(err, BS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    *self = *(const config *)cfg;
    return self;
}

/* The TR from the sidecar named by the parameter; *found = 0 if none. */
static int sidecar_tr(const config *c, double *tr, int *found, bs_error *err)
{
    *found = 0;
    if (strcmp(c->sidecar, "none") == 0)
        return BS_OK;
    if (strcmp(c->sidecar, "auto") != 0)
        return bs_bids_read_tr(c->sidecar, tr, found, err);
    char *json = bs_bids_sidecar_path(c->path);
    int rc = BS_OK;
    if (json && access(json, R_OK) == 0)
        rc = bs_bids_read_tr(json, tr, found, err);
    free(json);
    return rc;
}

static int set_attrs(bs_data *d, const char *path, const char *source_uri, bs_error *err)
{
    int rc = bs_data_set_attr(d, "source", path, err);
    if (!rc && source_uri && *source_uri)
        rc = bs_data_set_attr(d, "source_uri", source_uri, err);
    /* Outputs are named from {entities}: the BIDS entities of the input, or
     * for a non-BIDS file its base name without extension. */
    char *entities = bs_bids_entities(path);
    if (!entities) {
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        size_t n = strcspn(base, ".");
        entities = strndup(base, n ? n : strlen(base));
    }
    if (!rc && entities)
        rc = bs_data_set_attr(d, "entities", entities, err);
    free(entities);
    char *space = bs_bids_entity(path, "space");
    if (!rc && space)
        rc = bs_data_set_attr(d, "space", space, err);
    free(space);
    return rc;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)in;
    const config *c = self;
    bs_nifti_reader *r = bs_nifti_open(c->path, err);
    if (!r)
        return err->code;
    const bs_nifti_header *h = bs_nifti_reader_header(r);
    if (c->require_4d && h->nvol < 2) {
        long long nvol = (long long)h->nvol; /* h lives in r */
        bs_nifti_close(r);
        return bs_error_set(err, BS_ERR_DATA, "%s: dim[4] = %lld: expected a 4D BOLD series with at least 2 volumes",
                            c->path, nvol);
    }
    double tr = c->tr, side = 0;
    int found = 0;
    int rc = sidecar_tr(c, &side, &found, err);
    if (rc) {
        bs_nifti_close(r);
        return rc;
    }
    if (tr <= 0)
        tr = found ? side : h->tr;
    if (found && h->tr > 0 && fabs(side - h->tr) > 1e-3 * side)
        bs_log(BS_LOG_WARN, "%s: header TR %.4g s differs from the sidecar's RepetitionTime %.4g s; using %.4g s",
               c->path, h->tr, side, tr);
    bs_data *d = bs_data_new_volume(r, tr, err);
    if (!d)
        return err->code;
    if ((rc = set_attrs(d, c->path, c->source_uri, err))) {
        bs_data_free(d);
        return rc;
    }
    out[0] = d;
    return BS_OK;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "nifti-source", .version = "1.0", .summary = "stream a 4D BOLD NIfTI run (TR from sidecar or header)",
    .outputs = outputs, .n_outputs = 1,
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .process = process, .destroy = free,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
