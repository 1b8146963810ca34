/* cli_common.c - handlers for logging and progress bars, shared helpers. */
#define _GNU_SOURCE 1 /* vasprintf */
#include "config.h"
#include "cli.h"

#include <cblas.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef BS_DATA_DIR
#define BS_DATA_DIR "/usr/local/share/brainstage"
#endif

static void log_to_stderr(bs_log_level level, const char *msg, void *user)
{
    (void)user;
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "brainstage: %s: %s\n", names[level], msg);
}

/* A one-line bar redrawn at most 10 times a second, only on a terminal. */
typedef struct bar {
    char label[64];
    int64_t total;
    struct timespec start, last;
    int active;
} bar;

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + 1e-9 * (double)(b->tv_nsec - a->tv_nsec);
}

static void bar_begin(const char *label, int64_t total, void *user)
{
    bar *b = user;
    snprintf(b->label, sizeof b->label, "%s", label ? label : "");
    b->total = total > 0 ? total : 1;
    clock_gettime(CLOCK_MONOTONIC, &b->start);
    b->last = b->start;
    b->active = 1;
}

static void bar_draw(bar *b, int64_t done)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double frac = (double)done / (double)b->total;
    if (frac > 1)
        frac = 1;
    int width = 30, fill = (int)(frac * width);
    double el = seconds_between(&b->start, &now);
    double eta = frac > 0 ? el * (1 - frac) / frac : 0;
    fprintf(stderr, "\r%-20.20s [%.*s%*s] %3d%% %6.1fs left ", b->label, fill,
            "##############################", width - fill, "", (int)(frac * 100), eta);
    fflush(stderr);
    b->last = now;
}

static void bar_update(int64_t done, void *user)
{
    bar *b = user;
    if (!b->active)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (seconds_between(&b->last, &now) >= 0.1 || done >= b->total)
        bar_draw(b, done);
}

static void bar_end(void *user)
{
    bar *b = user;
    if (!b->active)
        return;
    bar_draw(b, b->total);
    fputc('\n', stderr);
    b->active = 0;
}

void bs_cli_setup(const bs_cli *cli)
{
    static bar the_bar;
    bs_log_set_handler(log_to_stderr, NULL);
    bs_log_set_level(cli->quiet ? BS_LOG_WARN : cli->verbose ? BS_LOG_DEBUG : BS_LOG_INFO);
    if (!cli->quiet && isatty(STDERR_FILENO)) {
        bs_progress_handler h = {bar_begin, bar_update, bar_end, &the_bar};
        bs_progress_set_handler(&h);
    }
    if (cli->threads > 0) {
        openblas_set_num_threads(cli->threads);
#ifdef _OPENMP
        omp_set_num_threads(cli->threads);
#endif
    }
}

int bs_cli_fail(const bs_error *err)
{
    fprintf(stderr, "brainstage: error: %s\n", err->message[0] ? err->message : bs_status_name(err->code));
    return err->code ? (int)err->code : BS_ERR_INTERNAL;
}

bs_registry *bs_cli_registry(void)
{
    bs_registry *reg = bs_registry_new();
    if (reg)
        bs_registry_scan(reg, bs_registry_default_path());
    return reg;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

char *bs_cli_find_pipeline(const char *arg)
{
    if (is_file(arg) || strchr(arg, '/'))
        return strdup(arg);
    const char *env = getenv("BRAINSTAGE_DATA_DIR");
    const char *dirs[] = {env, BS_DATA_DIR};
    for (size_t k = 0; k < sizeof dirs / sizeof dirs[0]; k++) {
        if (!dirs[k] || !*dirs[k])
            continue;
        char path[4096];
        const char *ext = strstr(arg, ".pipeline") ? "" : ".pipeline";
        snprintf(path, sizeof path, "%s/pipelines/%s%s", dirs[k], arg, ext);
        if (is_file(path))
            return strdup(path);
    }
    return strdup(arg);
}

char *bs_cli_strf(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

char *bs_cli_filter_entities(const char *name, const char *const *drop, int keep_bare)
{
    char *out = calloc(strlen(name) + 1, 1);
    if (!out)
        return NULL;
    for (const char *p = name; *p;) {
        const char *e = strchr(p, '_');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        const char *dash = memchr(p, '-', len);
        int keep = dash ? 1 : keep_bare;
        for (int k = 0; dash && keep && drop[k]; k++)
            keep = !((size_t)(dash - p) == strlen(drop[k]) && !strncmp(p, drop[k], strlen(drop[k])));
        if (keep) {
            if (*out)
                strcat(out, "_");
            strncat(out, p, len);
        }
        p += len;
        if (*p == '_')
            p++;
    }
    return out;
}
