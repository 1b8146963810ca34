/* eval_run.c - bs_eval_run: features + participants.tsv -> evaluation
 * reports (and optionally a head trained on everyone), the group-level
 * step the CLI runs. */
#include "brainstage/eval.h"
#include "brainstage/fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *join(const char *prefix, const char *suffix)
{
    size_t n = strlen(prefix) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s%s", prefix, suffix);
    return s;
}

int bs_eval_run(const bs_eval_run_options *o, bs_eval_result *res, bs_error *err)
{
    if (!o->features || !o->participants || !o->column)
        return bs_error_set(err, BS_ERR_USAGE, "evaluate: features, participants.tsv and a label column are required");
    bs_features f;
    bs_labels l;
    bs_eval_result local;
    bs_eval_result *r = res ? res : &local;
    memset(r, 0, sizeof *r);
    memset(&l, 0, sizeof l);
    char *tsv = NULL, *json = NULL, *pred = NULL;
    int rc = bs_features_read(o->features, &f, err);
    if (rc != BS_OK)
        return rc;
    bs_label_kind kind = o->label_kind;
    if (kind == BS_LABELS_AUTO)
        kind = o->eval.head.kind == BS_HEAD_RIDGE ? BS_LABELS_CONTINUOUS : BS_LABELS_CLASSES;
    rc = bs_labels_from_participants(o->participants, o->column, kind, (const char *const *)f.ids, f.n, &l, err);
    if (rc != BS_OK)
        goto done;
    rc = bs_evaluate(&o->eval, f.X, f.n, f.d, &l, r, err);
    if (rc != BS_OK)
        goto done;
    if (o->out_prefix) {
        tsv = join(o->out_prefix, "_metrics.tsv");
        json = join(o->out_prefix, "_metrics.json");
        pred = r->oof_scores ? join(o->out_prefix, "_predictions.tsv") : NULL;
        if (!tsv || !json || (r->oof_scores && !pred)) {
            rc = bs_error_set(err, BS_ERR_NOMEM, "evaluate: out of memory");
            goto done;
        }
    }
    /* Fit the all-subjects head before writing anything, so a failure
     * leaves no report behind either. */
    bs_head *h = NULL;
    if (o->save_head) {
        h = l.y ? bs_head_fit_classifier(&o->eval.head, f.X, f.n, f.d, l.y, l.n_classes,
                                         (const char *const *)l.class_names, err)
                : bs_head_fit_regressor(&o->eval.head, f.X, f.n, f.d, l.target, err);
        if (!h) {
            rc = bs_error_prefix(err, "evaluate: final head: ");
            goto done;
        }
    }
    /* The head goes to a temporary name first and is renamed in only
     * after the reports were committed: one failure leaves nothing. */
    char *head_tmp = NULL;
    if (h) {
        head_tmp = bs_temp_path_for(o->save_head, err);
        rc = head_tmp ? bs_head_save(h, head_tmp, err) : (int)err->code;
    }
    if (rc == BS_OK && o->out_prefix)
        rc = bs_eval_write_all(r, &o->eval, &l, (const char *const *)f.ids, tsv, json, pred, err);
    if (rc == BS_OK && head_tmp)
        rc = bs_rename_into_place(head_tmp, o->save_head, err);
    if (rc != BS_OK && head_tmp)
        unlink(head_tmp);
    free(head_tmp);
    bs_head_free(h);
done:
    free(tsv);
    free(json);
    free(pred);
    bs_labels_free(&l);
    bs_features_free(&f);
    if (rc != BS_OK || !res)
        bs_eval_result_free(r);
    return rc;
}
