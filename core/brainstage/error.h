/* brainstage/error.h - error objects returned by every fallible call.
 *
 * The library never prints and never exits: a failing function fills a
 * caller-owned bs_error and returns its non-zero status.  The CLI turns the
 * status into the process exit code (see docs/brainstage.1). */
#ifndef BRAINSTAGE_ERROR_H
#define BRAINSTAGE_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values double as process exit codes; keep them stable (documented). */
typedef enum bs_status {
    BS_OK = 0,
    BS_ERR_INTERNAL = 1,    /* a bug: an invariant did not hold */
    BS_ERR_USAGE = 2,       /* bad command line, parameter or argument */
    BS_ERR_IO = 3,          /* a file could not be opened, read or written */
    BS_ERR_FORMAT = 4,      /* an input file is malformed */
    BS_ERR_UNSUPPORTED = 5, /* well-formed input we do not handle */
    BS_ERR_PIPELINE = 6,    /* pipeline file: syntax, DAG, variables */
    BS_ERR_PLUGIN = 7,      /* plugin not found, bad symbol, ABI mismatch */
    BS_ERR_NUMERIC = 8,     /* NaN/Inf where data must be finite, singular system */
    BS_ERR_NOMEM = 9,       /* allocation failed or size overflow */
    BS_ERR_DATA = 10        /* inputs disagree (shapes, spaces, row counts) */
} bs_status;

#define BS_ERROR_MESSAGE_MAX 1024

typedef struct bs_error {
    bs_status code;
    char message[BS_ERROR_MESSAGE_MAX]; /* one line, no trailing newline */
} bs_error;

/* Records code and a printf-style message; returns code so callers can write
 * `return bs_error_set(err, BS_ERR_IO, "%s: cannot open", path);`.
 * err may be NULL (the status is still returned). */
int bs_error_set(bs_error *err, bs_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with context ("stage 'ts': ..."). */
int bs_error_prefix(bs_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void bs_error_clear(bs_error *err);

/* Short stable name of a status ("io", "format", ...). */
const char *bs_status_name(bs_status code);

#ifdef __cplusplus
}
#endif
#endif
