/* bids.c - BIDS entities from file names and JSON sidecar fields. */
#include "brainstage/bids.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Length of the name without .nii / .nii.gz; 0 if neither. */
static size_t nifti_stem_len(const char *path)
{
    size_t len = strlen(path);
    if (len > 7 && strcmp(path + len - 7, ".nii.gz") == 0)
        return len - 7;
    if (len > 4 && strcmp(path + len - 4, ".nii") == 0)
        return len - 4;
    return 0;
}

char *bs_bids_sidecar_path(const char *nifti_path)
{
    size_t stem = nifti_stem_len(nifti_path);
    if (!stem)
        return NULL;
    char *out = malloc(stem + 6);
    if (out)
        snprintf(out, stem + 6, "%.*s.json", (int)stem, nifti_path);
    return out;
}

/* Calls fn for each "key-value" part of the base name (without extension). */
static char *scan_entities(const char *path, const char *want_key, int build_prefix)
{
    const char *base = base_name(path);
    const char *dot = strchr(base, '.');
    size_t n = dot ? (size_t)(dot - base) : strlen(base);
    char *name = strndup(base, n);
    char *prefix = calloc(1, n + 1);
    char *found = NULL;
    if (!name || !prefix) {
        free(name);
        free(prefix);
        return NULL;
    }
    int has_sub = 0;
    char *save = NULL;
    for (char *part = strtok_r(name, "_", &save); part; part = strtok_r(NULL, "_", &save)) {
        char *dash = strchr(part, '-');
        if (!dash)
            continue; /* the suffix (bold, mask, ...) */
        *dash = '\0';
        const char *key = part, *value = dash + 1;
        if (want_key && strcmp(key, want_key) == 0 && !found)
            found = strdup(value);
        if (strcmp(key, "sub") == 0)
            has_sub = 1;
        if (build_prefix && strcmp(key, "desc") != 0) {
            if (*prefix)
                strcat(prefix, "_");
            strcat(prefix, key);
            strcat(prefix, "-");
            strcat(prefix, value);
        }
    }
    free(name);
    if (!build_prefix) {
        free(prefix);
        return found;
    }
    free(found);
    if (!has_sub) {
        free(prefix);
        return NULL;
    }
    return prefix;
}

char *bs_bids_entity(const char *path, const char *key)
{
    return scan_entities(path, key, 0);
}

char *bs_bids_entities(const char *path)
{
    return scan_entities(path, NULL, 1);
}

int bs_bids_read_tr(const char *json_path, double *tr, int *found, bs_error *err)
{
    *found = 0;
    json_error_t jerr;
    json_t *root = json_load_file(json_path, 0, &jerr);
    if (!root && json_error_code(&jerr) == json_error_cannot_open_file)
        return bs_error_set(err, BS_ERR_IO, "%s: cannot open: %s", json_path, strerror(errno));
    if (!root)
        return bs_error_set(err, BS_ERR_FORMAT, "%s:%d: invalid JSON: %s", json_path, jerr.line, jerr.text);
    int rc = BS_OK;
    if (!json_is_object(root)) {
        rc = bs_error_set(err, BS_ERR_FORMAT, "%s: expected a JSON object at the top level", json_path);
    } else {
        json_t *v = json_object_get(root, "RepetitionTime");
        if (v) {
            double t = json_is_number(v) ? json_number_value(v) : NAN;
            if (!(t > 0) || !isfinite(t))
                rc = bs_error_set(err, BS_ERR_FORMAT, "%s: RepetitionTime must be a positive number of seconds", json_path);
            else {
                *tr = t;
                *found = 1;
            }
        }
    }
    json_decref(root);
    return rc;
}
