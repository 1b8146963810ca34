/* atlas_stage.c - the parts of the atlas-label/-prob/-grid stages they share:
 * finding the brain mask, and turning a parcellation plus a streamed BOLD
 * run into a timeseries bs_data with ROI names, coverage and TR. */
#include "brainstage/atlas.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/data.h"
#include "brainstage/log.h"

static char *replace_suffix(const char *path, const char *old, const char *new_part)
{
    const char *at = strstr(path, old);
    if (!at)
        return NULL;
    /* The suffix must be followed only by the NIfTI extension. */
    const char *rest = at + strlen(old);
    if (strcmp(rest, ".nii") != 0 && strcmp(rest, ".nii.gz") != 0)
        return NULL;
    size_t head = (size_t)(at - path);
    char *o = malloc(head + strlen(new_part) + strlen(rest) + 1);
    if (!o)
        return NULL;
    memcpy(o, path, head);
    strcpy(o + head, new_part);
    strcat(o, rest);
    return o;
}

char *bs_atlas_bold_mask_path(const char *bold_path)
{
    char *m = replace_suffix(bold_path, "_desc-preproc_bold", "_desc-brain_mask");
    return m ? m : replace_suffix(bold_path, "_bold", "_desc-brain_mask");
}

int bs_atlas_load_mask(const char *param, const char *bold_path, const bs_nifti_header *bold, uint8_t **mask,
                       bs_error *err)
{
    *mask = NULL;
    if (!param || !*param || strcmp(param, "none") == 0)
        return BS_OK;
    if (strcmp(param, "auto") == 0) {
        char *path = bs_atlas_bold_mask_path(bold_path);
        if (!path || access(path, R_OK) != 0) {
            int rc = bs_error_set(err, BS_ERR_IO, "mask=auto: %s: no fMRIPrep brain mask %s next to the BOLD file "
                                  "(give mask=PATH, or mask=none to use every voxel)", bold_path,
                                  path ? path : "(name is not *_bold.nii[.gz])");
            free(path);
            return rc;
        }
        *mask = bs_mask_load(path, bold, bold_path, err);
        free(path);
        return *mask ? BS_OK : err->code;
    }
    *mask = bs_mask_load(param, bold, bold_path, err);
    return *mask ? BS_OK : (err ? err->code : BS_ERR_IO);
}

int bs_atlas_naming_check(const bs_atlas_naming *naming, bs_error *err)
{
    if (naming->label && *naming->label && bs_atlas_label_check(naming->label, "atlas_name", err))
        return BS_ERR_USAGE;
    if (naming->entity && strcmp(naming->entity, "atlas") != 0 && strcmp(naming->entity, "seg") != 0)
        return bs_error_set(err, BS_ERR_USAGE, "naming '%s': expected atlas or seg", naming->entity);
    return BS_OK;
}

/* Sets atlas, atlas_entity and atlas_file on the stage's output. */
static int set_naming(bs_data *d, const bs_parcellation *p, const bs_atlas_naming *naming, bs_error *err)
{
    const char *label = naming && naming->label && *naming->label ? naming->label : p->atlas_name;
    const char *entity = naming && naming->entity ? naming->entity : "atlas";
    size_t len = strlen(entity) + strlen(label) + 2;
    char *pair = malloc(len);
    if (!pair)
        return bs_error_set(err, BS_ERR_NOMEM, "out of memory");
    snprintf(pair, len, "%s-%s", entity, label);
    int rc = bs_data_set_attr(d, "atlas", label, err);
    if (!rc)
        rc = bs_data_set_attr(d, "atlas_entity", pair, err);
    if (!rc && naming && naming->source)
        rc = bs_data_set_attr(d, "atlas_file", naming->source, err);
    free(pair);
    return rc;
}

int bs_atlas_stage_output(const bs_data *bold, const bs_parcellation *p, double min_coverage, int prefetch,
                          const bs_atlas_naming *naming, bs_data **out, bs_error *err)
{
    *out = NULL;
    if (naming && bs_atlas_naming_check(naming, err))
        return err->code;
    bs_parcellate_stats st;
    bs_tensor *ts = bs_parcellate(bold->volume, p, min_coverage, prefetch, &st, err);
    if (!ts)
        return err ? err->code : BS_ERR_INTERNAL;
    bs_data *d = bs_data_new(BS_PORT_TIMESERIES, ts, err);
    if (!d)
        return err ? err->code : BS_ERR_NOMEM;
    int rc = bs_data_copy_meta(d, bold, err);
    if (!rc)
        rc = bs_data_set_labels(d, p->n_rois, (const char *const *)p->names, err);
    if (!rc)
        rc = bs_data_set_coverage(d, p->n_rois, p->coverage, err);
    if (!rc)
        rc = set_naming(d, p, naming, err);
    if (!rc) { /* recorded so reports can draw the threshold (docs/reports.md) */
        char threshold[32];
        snprintf(threshold, sizeof threshold, "%.6g", min_coverage);
        rc = bs_data_set_attr(d, "min_coverage", threshold, err);
    }
    if (rc) {
        bs_data_free(d);
        return rc;
    }
    d->tr = bold->tr;
    *out = d;
    return BS_OK;
}
