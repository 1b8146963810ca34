/* bad_abi.c - a module built for a future major ABI: the loader must refuse it. */
#include "brainstage/plugin.h"

#include <stdlib.h>

static void *create(const void *config, const bs_host *host, bs_error *err)
{
    (void)config;
    (void)host;
    (void)err;
    return malloc(1);
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    (void)self;
    (void)in;
    (void)out;
    (void)err;
    return 0;
}

static const bs_plugin plugin = {
    .abi_major = BS_PLUGIN_ABI_MAJOR + 1, .abi_minor = 0, .struct_size = sizeof(bs_plugin),
    .name = "test-future", .version = "9.0", .summary = "test: wrong ABI",
    .create = create, .process = process, .destroy = free,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
