/* init.c - process-wide settings libbrainstage applies when it is loaded. */
#include <gsl/gsl_errno.h>

/* GSL's default error handler calls abort(); every GSL call in brainstage
 * checks the returned status and reports a bs_error instead, so the handler
 * must never fire.  Switched off once, when the library is loaded. */
__attribute__((constructor)) static void bs_library_init(void)
{
    gsl_set_error_handler_off();
}
