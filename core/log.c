/* log.c - leveled logging and progress dispatch to application handlers. */
#include "brainstage/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bs_log_handler log_handler;
static void *log_user;
static bs_log_level log_min_level = BS_LOG_INFO;
static bs_progress_handler progress;

void bs_log_set_handler(bs_log_handler handler, void *user)
{
    log_handler = handler;
    log_user = user;
}

void bs_log_set_level(bs_log_level min_level) { log_min_level = min_level; }
bs_log_level bs_log_get_level(void) { return log_min_level; }

void bs_log(bs_log_level level, const char *fmt, ...)
{
    if (!log_handler || level < log_min_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_handler(level, msg, log_user);
}

void bs_progress_set_handler(const bs_progress_handler *handler)
{
    if (handler)
        progress = *handler;
    else
        memset(&progress, 0, sizeof progress);
}

void bs_progress_begin(const char *label, int64_t total)
{
    if (progress.begin)
        progress.begin(label, total, progress.user);
}

void bs_progress_update(int64_t done)
{
    if (progress.update)
        progress.update(done, progress.user);
}

void bs_progress_end(void)
{
    if (progress.end)
        progress.end(progress.user);
}
