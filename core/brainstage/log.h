/* brainstage/log.h - leveled logging and progress reporting.
 *
 * The library and plugins never write to stdout/stderr themselves; they call
 * bs_log / bs_progress_*, which forward to handlers the application installs
 * (the CLI prints to stderr and draws progress bars on a TTY).  With no
 * handler installed, messages are dropped. */
#ifndef BRAINSTAGE_LOG_H
#define BRAINSTAGE_LOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum bs_log_level {
    BS_LOG_DEBUG = 0,
    BS_LOG_INFO = 1,
    BS_LOG_WARN = 2,
    BS_LOG_ERROR = 3
} bs_log_level;

typedef void (*bs_log_handler)(bs_log_level level, const char *message, void *user);

void bs_log_set_handler(bs_log_handler handler, void *user);
void bs_log_set_level(bs_log_level min_level);
bs_log_level bs_log_get_level(void);
void bs_log(bs_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress of a long task: begin(total), update(done), end().
 * Handlers decide how (and whether) to draw. */
typedef struct bs_progress_handler {
    void (*begin)(const char *label, int64_t total, void *user);
    void (*update)(int64_t done, void *user);
    void (*end)(void *user);
    void *user;
} bs_progress_handler;

void bs_progress_set_handler(const bs_progress_handler *handler);
void bs_progress_begin(const char *label, int64_t total);
void bs_progress_update(int64_t done);
void bs_progress_end(void);

#ifdef __cplusplus
}
#endif
#endif
