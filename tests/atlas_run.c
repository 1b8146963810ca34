/* atlas_run.c - test helper: runs one atlas stage plugin module (dlopen +
 * bs_plugin_entry, like the host's loader) on a BOLD file and prints the
 * result for the Python golden tests.
 *
 * usage: atlas_run MODULE.so BOLD.nii[.gz] key=value...
 * stdout: "tr <s>", "atlas <name>", "labels\t<n1>\t<n2>...",
 *         "coverage\t<c1>...", then one line per volume (tab-separated,
 *         %.9g, "nan").  Warnings from bs_log go to stderr as
 *         "warning: ...".  On failure: "error <name> <code>: <message>" on
 *         stderr and exit status = the bs_status code. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brainstage/nifti.h"
#include "brainstage/plugin.h"

static void log_to_stderr(bs_log_level level, const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "%s: %s\n", level >= BS_LOG_WARN ? "warning" : "info", message);
}

static int fail(const bs_error *err)
{
    fprintf(stderr, "error %s %d: %s\n", bs_status_name(err->code), err->code, err->message);
    return err->code ? err->code : 1;
}

/* Minimal config filler for the parameter types the atlas stages use. */
static int set_param(const bs_param_desc *d, const char *text, unsigned char *cfg)
{
    void *field = cfg + d->offset;
    switch (d->type) {
    case BS_PARAM_STRING: case BS_PARAM_PATH: case BS_PARAM_ENUM:
        *(const char **)field = text;
        return 0;
    case BS_PARAM_DOUBLE:
        *(double *)field = strtod(text, NULL);
        return 0;
    case BS_PARAM_INT:
        *(int64_t *)field = strtoll(text, NULL, 10);
        return 0;
    case BS_PARAM_BOOL:
        *(int *)field = strcmp(text, "yes") == 0 || strcmp(text, "true") == 0 || strcmp(text, "1") == 0;
        return 0;
    default:
        return -1;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: atlas_run MODULE.so BOLD key=value...\n");
        return 2;
    }
    bs_log_set_handler(log_to_stderr, NULL);
    void *mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!mod) {
        fprintf(stderr, "error: dlopen %s: %s\n", argv[1], dlerror());
        return 7;
    }
    bs_plugin_entry_fn entry = (bs_plugin_entry_fn)dlsym(mod, BS_PLUGIN_ENTRY_SYMBOL);
    const bs_plugin *pl = entry ? entry(0) : NULL;
    if (!pl || pl->abi_major != BS_PLUGIN_ABI_MAJOR) {
        fprintf(stderr, "error: %s: no usable bs_plugin_entry\n", argv[1]);
        return 7;
    }
    unsigned char *cfg = calloc(1, pl->config_size);
    for (uint32_t i = 0; i < pl->n_params; i++)
        if (pl->params[i].default_value)
            set_param(&pl->params[i], pl->params[i].default_value, cfg);
    for (int a = 3; a < argc; a++) {
        char *eq = strchr(argv[a], '=');
        int found = 0;
        if (eq) {
            *eq = '\0';
            for (uint32_t i = 0; i < pl->n_params && !found; i++)
                if (strcmp(pl->params[i].name, argv[a]) == 0)
                    found = set_param(&pl->params[i], eq + 1, cfg) == 0;
        }
        if (!found) {
            fprintf(stderr, "error: %s: unknown parameter '%s'\n", pl->name, argv[a]);
            return 2;
        }
    }
    bs_error err = {0};
    bs_host host = {.struct_size = sizeof host, .threads = 2, .seed = 1, .quiet = 1, .stage_name = "test"};
    void *self = pl->create(cfg, &host, &err);
    bs_data *in = NULL;
    bs_data *out[1] = {NULL};
    int rc = self ? BS_OK : err.code;
    if (!rc) {
        bs_nifti_reader *r = bs_nifti_open(argv[2], &err);
        in = r ? bs_data_new_volume(r, bs_nifti_reader_header(r)->tr, &err) : NULL;
        rc = in ? BS_OK : err.code;
    }
    if (!rc) {
        bs_data *const inputs[1] = {in};
        rc = pl->process(self, inputs, out, &err);
    }
    if (rc) {
        /* Clean up on failure too, so LeakSanitizer checks the library's error paths. */
        bs_data_free(in);
        if (self && pl->destroy)
            pl->destroy(self);
        free(cfg);
        dlclose(mod);
        return fail(&err);
    }
    const bs_tensor *t = out[0]->tensor;
    printf("tr %.17g\natlas %s\nlabels", out[0]->tr, bs_data_get_attr(out[0], "atlas"));
    for (int i = 0; i < out[0]->n_labels; i++)
        printf("\t%s", out[0]->labels[i]);
    printf("\ncoverage");
    for (int i = 0; i < out[0]->n_labels; i++)
        printf("\t%.17g", out[0]->coverage ? out[0]->coverage[i] : NAN);
    printf("\n");
    for (int64_t row = 0; row < t->shape[0]; row++) {
        for (int64_t c = 0; c < t->shape[1]; c++)
            printf("%s%.9g", c ? "\t" : "", (double)t->data[row * t->shape[1] + c]);
        printf("\n");
    }
    bs_data_free(out[0]);
    bs_data_free(in);
    if (pl->destroy)
        pl->destroy(self);
    free(cfg);
    dlclose(mod);
    return 0;
}
