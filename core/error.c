/* error.c - error object helpers. */
#include "brainstage/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Messages must stay on one line: the CLI prints exactly one line per error. */
static void flatten_newlines(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

int bs_error_set(bs_error *err, bs_status code, const char *fmt, ...)
{
    if (!err)
        return (int)code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    flatten_newlines(err->message);
    return (int)code;
}

int bs_error_prefix(bs_error *err, const char *fmt, ...)
{
    if (!err)
        return BS_ERR_INTERNAL;
    char prefix[BS_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[BS_ERROR_MESSAGE_MAX];
    snprintf(joined, sizeof joined, "%s%s", prefix, err->message);
    memcpy(err->message, joined, sizeof joined);
    flatten_newlines(err->message);
    return (int)err->code;
}

void bs_error_clear(bs_error *err)
{
    if (err) {
        err->code = BS_OK;
        err->message[0] = '\0';
    }
}

const char *bs_status_name(bs_status code)
{
    switch (code) {
    case BS_OK: return "ok";
    case BS_ERR_INTERNAL: return "internal";
    case BS_ERR_USAGE: return "usage";
    case BS_ERR_IO: return "io";
    case BS_ERR_FORMAT: return "format";
    case BS_ERR_UNSUPPORTED: return "unsupported";
    case BS_ERR_PIPELINE: return "pipeline";
    case BS_ERR_PLUGIN: return "plugin";
    case BS_ERR_NUMERIC: return "numeric";
    case BS_ERR_NOMEM: return "nomem";
    case BS_ERR_DATA: return "data";
    }
    return "unknown";
}
