/* fuzz_atlas.c - atlas descriptors (<name>.atlas, key = value lines, see
 * docs/atlases.md) on arbitrary bytes, resolved the way atlas=PATH.atlas
 * does: keys, the type check, relative image/labels paths joined to the
 * descriptor's folder, defaults derived from the file name. */
#include "fuzz_common.h"

#include "brainstage/atlas.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    if (!path)
        path = fuzz_path("fuzz-atlas.atlas");
    fuzz_write(path, data, size);
    bs_error err = {0};
    bs_atlas_spec spec;
    memset(&spec, 0, sizeof spec);
    int rc = bs_atlas_resolve(path, NULL, &spec, &err);
    fuzz_check_error(rc, &err);
    if (rc == BS_OK && (!spec.image || !spec.name || !spec.bids_name || !spec.type))
        abort();
    bs_atlas_spec_free(&spec);
    return 0;
}
