/* fuzz_common.h - helpers shared by the libFuzzer harnesses.
 *
 * Most brainstage readers take a path (nifticlib, jansson's json_load_file,
 * getline-based TSV reading), so a harness writes each input to a scratch
 * file whose name ends in the extension the reader expects.  The file lives
 * in /dev/shm when it exists (tmpfs: no disk traffic at 10^4 execs/s), else
 * in $TMPDIR or /tmp, and is removed when the process exits. */
#ifndef BRAINSTAGE_FUZZ_COMMON_H
#define BRAINSTAGE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "brainstage/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_SCRATCH 8

static char fuzz_scratch_dir[256];
static char *fuzz_scratch_paths[FUZZ_MAX_SCRATCH];
static int fuzz_scratch_count;

static void fuzz_cleanup(void)
{
    for (int i = 0; i < fuzz_scratch_count; i++) {
        unlink(fuzz_scratch_paths[i]);
        free(fuzz_scratch_paths[i]);
    }
    fuzz_scratch_count = 0;
    if (fuzz_scratch_dir[0])
        rmdir(fuzz_scratch_dir);
}

/* A private folder for this process's scratch files (created once). */
static const char *fuzz_dir(void)
{
    if (!fuzz_scratch_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(fuzz_scratch_dir, sizeof fuzz_scratch_dir, "%s/bs-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(fuzz_scratch_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_cleanup);
    }
    return fuzz_scratch_dir;
}

/* Path "<dir>/<name>", remembered for removal at exit.  Static per name:
 * call once per name and keep the pointer. */
static const char *fuzz_path(const char *name)
{
    if (fuzz_scratch_count == FUZZ_MAX_SCRATCH)
        abort();
    size_t n = strlen(fuzz_dir()) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/%s", fuzz_dir(), name);
    fuzz_scratch_paths[fuzz_scratch_count++] = p;
    return p;
}

/* Replaces the file at path with exactly these bytes. */
static void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror(path);
        abort();
    }
}

/* Every error a reader returns on bad input must be a documented status
 * with a one-line message: an empty or multi-line message, a status code
 * that does not match err->code, or BS_ERR_INTERNAL ("a bug") is reported
 * as a crash so libFuzzer saves the input. */
static void fuzz_check_error(int rc, const bs_error *err)
{
    if (rc == BS_OK)
        return;
    if (rc <= BS_ERR_INTERNAL || rc > BS_ERR_DATA || err->code != (bs_status)rc || !err->message[0] ||
        strchr(err->message, '\n')) {
        fprintf(stderr, "fuzz: bad error report: rc=%d code=%d message='%s'\n", rc, (int)err->code, err->message);
        abort();
    }
}

#endif
