/* core/brainmass/bm_pretrain.c - the BrainMass pretraining driver: pulls
 * pairs of pFC views from a caller's callback, runs optimizer steps with a
 * warm-up (+ optional cosine) schedule, logs losses to a TSV, reports
 * progress and writes atomic checkpoints (periodic and final) that a later
 * run resumes exactly (weights, AdamW moments, step, mask RNG). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "brainstage/fileio.h"
#include "brainstage/log.h"
#include "brainstage/nn.h"
#include "bm_internal.h"

void bs_brainmass_train_config_default(bs_brainmass_train_config *tc)
{
    memset(tc, 0, sizeof *tc);
    bs_brainmass_config_default(&tc->model);
    tc->batch = 64;
    tc->steps = 1000;
    tc->lr = 3e-4;
    tc->weight_decay = 5e-5;
    tc->warmup_steps = 100;
    tc->cosine = 0;
    tc->min_lr = 0.0;
    tc->clip = 1.0;
    tc->seed = 42;
    tc->checkpoint_every = 0;
}

static double schedule(const bs_brainmass_train_config *tc, int64_t step)
{
    if (tc->cosine)
        return nn_lr_warmup_cosine(step, tc->warmup_steps, tc->steps, (float)tc->lr, (float)tc->min_lr);
    return nn_lr_warmup_constant(step, tc->warmup_steps, (float)tc->lr);
}

/* Loss log lines kept in memory and rewritten atomically with each checkpoint. */
typedef struct loss_log {
    char **lines;
    size_t n, cap;
} loss_log;

static int log_push(loss_log *L, const char *line)
{
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 256;
        char **p = realloc(L->lines, cap * sizeof *p);
        if (!p)
            return -1;
        L->lines = p;
        L->cap = cap;
    }
    if (!(L->lines[L->n] = strdup(line)))
        return -1;
    L->n++;
    return 0;
}

static void log_free(loss_log *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->lines[i]);
    free(L->lines);
}

#define LOG_HEADER "step\tlr\ttotal\tbyol\tnce\tmse\tnce_acc\tseconds\n"

/* Keeps the rows of an earlier log up to `step` (resume). */
static void log_load(loss_log *L, const char *path, int64_t step)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    char buf[512];
    int first = 1;
    while (fgets(buf, sizeof buf, fp)) {
        if (first) {
            first = 0;
            continue;
        }
        long long s = strtoll(buf, NULL, 10);
        if (s >= 1 && s <= step)
            log_push(L, buf);
    }
    fclose(fp);
}

static int log_write(const loss_log *L, const char *path, bs_error *err)
{
    bs_atomic_file f;
    if (bs_atomic_open(&f, path, err))
        return err ? err->code : BS_ERR_IO;
    fputs(LOG_HEADER, f.fp);
    for (size_t i = 0; i < L->n; i++)
        fputs(L->lines[i], f.fp);
    return bs_atomic_commit(&f, err);
}

static int same_architecture(const bs_brainmass_config *a, const bs_brainmass_config *b, const char *path,
                             bs_error *err)
{
#define SAME(f)                                                                                 \
    if (a->f != b->f)                                                                           \
        return bs_error_set(err, BS_ERR_DATA, "%s: checkpoint has " #f "=%d, the run asks for %d", \
                            path, a->f, b->f);
    SAME(rois) SAME(depth) SAME(heads) SAME(ffn) SAME(feature_dim) SAME(reduce_dim)
#undef SAME
    return BS_OK;
}

/* The log goes first: a run killed between the two renames then has a log
 * that covers (at least) the checkpoint's step, and resume keeps exactly
 * the rows up to that step.  The other order could lose rows. */
static int save_all(bs_brainmass *m, const bs_brainmass_train_config *tc, const loss_log *L, bs_error *err)
{
    if (tc->loss_log && log_write(L, tc->loss_log, err))
        return err ? err->code : BS_ERR_IO;
    if (bs_brainmass_save(m, tc->checkpoint, err))
        return err ? err->code : BS_ERR_IO;
    return BS_OK;
}

int bs_brainmass_pretrain(const bs_brainmass_train_config *tc, bs_brainmass_batch_fn provider, void *user,
                          bs_error *err)
{
    if (!provider || !tc->checkpoint)
        return bs_error_set(err, BS_ERR_USAGE, "brainmass pretrain: a batch provider and a checkpoint path are required");
    if (tc->batch < 2 || tc->steps < 1 || !(tc->lr > 0) || tc->clip < 0 || tc->warmup_steps < 0 ||
        tc->checkpoint_every < 0)
        return bs_error_set(err, BS_ERR_USAGE,
                            "brainmass pretrain: batch=%d steps=%lld lr=%g clip=%g: expected batch >= 2, "
                            "steps >= 1, lr > 0, clip >= 0", tc->batch, (long long)tc->steps, tc->lr, tc->clip);
    if (bs_brainmass_config_validate(&tc->model, err))
        return err ? err->code : BS_ERR_USAGE;
    bs_brainmass *m = NULL;
    const char *from = tc->resume ? tc->resume : tc->init_weights;
    if (from) {
        if (!(m = bs_brainmass_load(from, BS_BRAINMASS_LOAD_TRAINING, err)))
            return err ? err->code : BS_ERR_IO;
        if (same_architecture(&m->cfg, &tc->model, from, err)) {
            bs_brainmass_free(m);
            return err ? err->code : BS_ERR_DATA;
        }
        /* the architecture is the file's; training hyper-parameters are the run's */
        m->cfg = tc->model;
        if (!tc->resume) {
            m->step = 0;
            m->seed = tc->seed;
            memset(m->adam_m, 0, m->n_params * sizeof(float));
            memset(m->adam_v, 0, m->n_params * sizeof(float));
            bs_rng_free(m->rng);
            m->rng = bs_rng_derive(tc->seed, 0x6d61736b);
        }
    } else if (!(m = bs_brainmass_new(&tc->model, tc->seed, err))) {
        return err ? err->code : BS_ERR_NOMEM;
    }
    const int B = tc->batch, R = m->cfg.rois;
    loss_log L = {0};
    if (tc->resume && tc->loss_log)
        log_load(&L, tc->loss_log, m->step);
    size_t nv = (size_t)B * R * R;
    float *v1 = malloc(nv * sizeof(float)), *v2 = malloc(nv * sizeof(float));
    int rc = BS_OK;
    if (!v1 || !v2) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "brainmass pretrain: out of memory for a batch of %d", B);
        goto done;
    }
    if (m->step >= tc->steps)
        bs_log(BS_LOG_INFO, "brainmass pretrain: checkpoint already at step %lld of %lld",
               (long long)m->step, (long long)tc->steps);
    bs_progress_begin("brainmass pretrain", tc->steps);
    bs_progress_update(m->step);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (m->step < tc->steps) {
        int64_t step = m->step;
        if ((rc = provider(user, step, B, R, v1, v2, err)))
            break;
        double lr = schedule(tc, step);
        bs_brainmass_losses loss;
        if ((rc = bs_brainmass_compute_grads(m, v1, v2, B, NULL, NULL, &loss, err)))
            break;
        bs_brainmass_apply_update(m, lr, tc->weight_decay, tc->clip);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double secs = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
        char line[320];
        snprintf(line, sizeof line, "%lld\t%.6g\t%.8g\t%.8g\t%.8g\t%.8g\t%.6g\t%.3f\n",
                 (long long)m->step, lr, loss.total, loss.byol, loss.nce, loss.mse, loss.nce_acc, secs);
        if (log_push(&L, line)) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "brainmass pretrain: out of memory for the loss log");
            break;
        }
        bs_progress_update(m->step);
        if (tc->checkpoint_every > 0 && m->step % tc->checkpoint_every == 0 && m->step < tc->steps &&
            (rc = save_all(m, tc, &L, err)))
            break;
    }
    bs_progress_end();
    if (!rc)
        rc = save_all(m, tc, &L, err);
done:
    free(v1);
    free(v2);
    log_free(&L);
    bs_brainmass_free(m);
    return rc;
}
