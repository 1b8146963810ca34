/* main.c - the brainstage command line: option parsing and command dispatch. */
#include "config.h"
#include "cli.h"

#include "brainstage/blas.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *to)
{
    fputs("usage: brainstage [--threads N] [--seed N] [--quiet] [--verbose] COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  run PIPELINE [var=value ...]    run a pipeline file (or a shipped pipeline by name)\n"
          "  check PIPELINE [var=value ...]  validate a pipeline without running it\n"
          "  plugins                         list stage types and where they come from\n"
          "  plugin NAME                     describe a stage type: ports and parameters\n"
          "  simulate OUT_DIR [options]      write an fMRIPrep-shaped synthetic dataset\n"
          "  pretrain brainmass|brainmae --inputs ... --out CKPT   group-level self-supervised pretraining\n"
          "  embed brainmass|brainmae --weights CKPT --inputs ... --out TSV   one embedding per subject\n"
          "  evaluate --features TSV|--fc-inputs ... --participants TSV --out PREFIX   cross-validated heads\n"
          "  bids FMRIPREP_DIR OUTPUT_DIR participant|group --pipeline NAME   BIDS-App entry point\n"
          "\n"
          "options:\n"
          "  --threads N   worker threads for BLAS and OpenMP (default: all cores)\n"
          "  --seed N      run seed for every random draw (default 42)\n"
          "  --quiet       no progress bars and no informational messages\n"
          "  --verbose     debug messages\n"
          "  --version     print the version (with the BLAS kernels and OpenMP wait policy) and exit\n"
          "  --print-blas-coretype  print the OpenBLAS kernel family in use and exit\n"
          "  --help        print this help and exit\n"
          "\n"
          "Exit status: 0 success, 2 usage, 3 I/O, 4 malformed input, 5 unsupported input,\n"
          "6 pipeline error, 7 plugin error, 8 numerical error, 9 out of memory, 10 inconsistent\n"
          "inputs, 1 internal error. See brainstage(1).\n",
          to);
}

/* valgrind runs its client with its preload libraries in LD_PRELOAD; there
 * exec("/proc/self/exe") would start valgrind's own tool binary, which
 * refuses to run directly.  A memcheck run wants the same process anyway. */
static int under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD");
    return preload && strstr(preload, "vgpreload") != NULL;
}

/* OpenBLAS fixes its kernels, and libgomp its wait policy, when they are
 * loaded, before main runs; both are set only through the environment.  So
 * when either default is a bad one, this program runs itself again with:
 *  - OPENBLAS_CORETYPE, when OpenBLAS fell back to generic kernels that this
 *    CPU outgrows (see brainstage/blas.h);
 *  - OMP_WAIT_POLICY=PASSIVE, when unset: libgomp's default spin-waiting
 *    made BrainMass pretraining 5-12x slower on a 2-core machine that other
 *    processes also use, and passive waiting was as fast or faster on an idle
 *    one (docs/brainmass.md, docs/brainmae.md).
 * A variable the user set is never changed; BRAINSTAGE_BLAS_AUTO=0 keeps
 * OpenBLAS's own choice.  Only returns when there is nothing to do, under
 * valgrind, or when exec failed (the run then goes on with the defaults). */
static void reexec_with_runtime_env(char **argv, int verbose)
{
    if (under_valgrind())
        return;
    const char *opt = getenv("BRAINSTAGE_BLAS_AUTO");
    const char *better = opt && !strcmp(opt, "0") ? NULL : bs_blas_better_coretype();
    const char *wait = getenv("OMP_WAIT_POLICY");
    int set_wait = !wait || !*wait;
    if (!better && !set_wait)
        return;
    if (verbose && better)
        fprintf(stderr, "brainstage: debug: OpenBLAS chose generic '%s' kernels on this CPU; running again with "
                        "OPENBLAS_CORETYPE=%s (BRAINSTAGE_BLAS_AUTO=0 turns this off)\n",
                bs_blas_corename(), better);
    if ((better && setenv("OPENBLAS_CORETYPE", better, 1) != 0) ||
        (set_wait && setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0))
        return;
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with what was loaded */
    if (better)
        unsetenv("OPENBLAS_CORETYPE");
    if (set_wait)
        unsetenv("OMP_WAIT_POLICY");
}

static int parse_count(const char *opt, const char *text, long long min, long long *out)
{
    char *end;
    long long v = strtoll(text ? text : "", &end, 10);
    if (!text || end == text || *end || v < min) {
        fprintf(stderr, "brainstage: %s needs an integer >= %lld, got '%s'\n", opt, min, text ? text : "");
        return BS_ERR_USAGE;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    bs_cli cli = {.threads = 0, .seed = 42, .quiet = 0, .verbose = 0};
    /* Past a file-size limit (ulimit -f) a write must fail with EFBIG, which
     * the atomic writers report and clean up, instead of SIGXFSZ killing us
     * with temporaries left behind. */
    signal(SIGXFSZ, SIG_IGN);
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        long long v;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            reexec_with_runtime_env(argv, 0);
            const char *wait = getenv("OMP_WAIT_POLICY");
            printf("brainstage %s (plugin ABI %u.%u, OpenBLAS kernels %s, OMP_WAIT_POLICY %s)\n", PACKAGE_VERSION,
                   BS_PLUGIN_ABI_MAJOR, BS_PLUGIN_ABI_MINOR, bs_blas_corename(), wait && *wait ? wait : "unset");
            return 0;
        } else if (!strcmp(a, "--print-blas-coretype")) {
            reexec_with_runtime_env(argv, 0);
            puts(bs_blas_corename());
            return 0;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            cli.quiet = 1;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            cli.verbose = 1;
        } else if (!strcmp(a, "--threads") || !strcmp(a, "-j")) {
            if (parse_count(a, i + 1 < argc ? argv[i + 1] : NULL, 1, &v))
                return BS_ERR_USAGE;
            cli.threads = (int)v;
            i++;
        } else if (!strcmp(a, "--seed")) {
            if (parse_count(a, i + 1 < argc ? argv[i + 1] : NULL, 0, &v))
                return BS_ERR_USAGE;
            cli.seed = (uint64_t)v;
            i++;
        } else {
            fprintf(stderr, "brainstage: unknown option '%s' (see brainstage --help)\n", a);
            return BS_ERR_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return BS_ERR_USAGE;
    }
    reexec_with_runtime_env(argv, cli.verbose);
    bs_cli_setup(&cli);
    const char *cmd = argv[i];
    int nargs = argc - i - 1;
    char **args = argv + i + 1;
    for (const bs_cli_command *c = bs_cli_commands; c->name; c++)
        if (!strcmp(c->name, cmd))
            return c->run(&cli, nargs, args);
    fprintf(stderr, "brainstage: unknown command '%s' (see brainstage --help)\n", cmd);
    return BS_ERR_USAGE;
}
