/* fuzz_json.c - BIDS JSON sidecars (RepetitionTime through jansson) and the
 * BIDS file-name parsers on arbitrary bytes.
 *
 * The bytes are written to a sidecar file and read back with
 * bs_bids_read_tr: invalid JSON, a non-object, a non-numeric, negative or
 * non-finite RepetitionTime must fail with one line and never report a TR
 * that is not a positive finite number.  The same bytes, cut at the first
 * NUL, also serve as a file name for the entity and sidecar-path helpers
 * (every output name is derived from them). */
#include "fuzz_common.h"

#include <math.h>

#include "brainstage/bids.h"

static void names(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    free(bs_bids_sidecar_path(s));
    static const char *const keys[] = {"sub", "ses", "task", "run", "space", "desc", ""};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        free(bs_bids_entity(s, keys[i]));
    char *prefix = bs_bids_entities(s);
    if (prefix && strlen(prefix) > strlen(s))
        abort(); /* the prefix is a subset of the name */
    free(prefix);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    if (!path)
        path = fuzz_path("sub-01_task-rest_bold.json");
    names(data, size);
    fuzz_write(path, data, size);
    bs_error err = {0};
    double tr = -1;
    int found = -1;
    int rc = bs_bids_read_tr(path, &tr, &found, &err);
    fuzz_check_error(rc, &err);
    if (rc == BS_OK && found && !(tr > 0 && isfinite(tr)))
        abort();
    if (rc == BS_OK && found != 0 && found != 1)
        abort();
    return 0;
}
