/* brainstage/fileio.h - atomic output files.
 *
 * Every output goes to a temporary file next to its final name and is
 * renamed into place only when complete, so a failed or killed run never
 * leaves a truncated file under the final name. */
#ifndef BRAINSTAGE_FILEIO_H
#define BRAINSTAGE_FILEIO_H

#include <stdio.h>
#include "brainstage/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bs_atomic_file {
    FILE *fp;           /* write here */
    char *final_path;
    char *temp_path;
} bs_atomic_file;

/* Creates "<dir>/.tmp.XXXXXX.<name>" (mode 0666 less the umask). */
int bs_atomic_open(bs_atomic_file *f, const char *final_path, bs_error *err);
/* Flushes, fsyncs, closes and renames into place; on any failure removes
 * the temporary and reports which step failed (e.g. disk full). */
int bs_atomic_commit(bs_atomic_file *f, bs_error *err);
/* Closes and removes the temporary; safe to call after commit or twice. */
void bs_atomic_abort(bs_atomic_file *f);

/* Creates a temp path in the same folder as final_path for writers that
 * need a path instead of a FILE (e.g. nifticlib).  Caller frees. */
char *bs_temp_path_for(const char *final_path, bs_error *err);
/* rename(temp, final) with an error naming final. */
int bs_rename_into_place(const char *temp_path, const char *final_path, bs_error *err);

/* An output that a pipeline sink prepares during process() and moves into
 * place in finalize(), so outputs appear only when the whole run succeeded. */
typedef struct bs_pending_file {
    char *final_path;
    char *temp_path;
} bs_pending_file;

/* Creates the parent folders and reserves a temporary next to final_path. */
int bs_pending_prepare(bs_pending_file *f, const char *final_path, bs_error *err);
int bs_pending_commit(bs_pending_file *f, bs_error *err);
/* Removes the temporary (if any) and frees; safe after commit. */
void bs_pending_discard(bs_pending_file *f);

/* mkdir -p. */
int bs_mkdirs(const char *path, bs_error *err);

#ifdef __cplusplus
}
#endif
#endif
