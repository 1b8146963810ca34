/* head_stage.c - `head` stage: applies a trained head (bs_head_save) or a
 * fine-tuned BrainMass model (bs_finetune_save) and emits predictions.
 *
 * Input for a feature head: an embedding [N, D] (BrainMass/BrainMAE), or a
 * connectivity matrix [R, R] / batch [N, R, R], which is vectorised (upper
 * triangle without the diagonal, the FC baseline) first.  Input for a
 * fine-tuned model: the FC matrix [R, R] or batch [N, R, R] itself (the
 * model holds its encoder).  Output: prediction [N, C] (class
 * probabilities or SVM decision values; labels = class names) or [N, 1]
 * for a ridge head; attribute "predicted" holds the predicted class names
 * (or values), comma-separated.  Training happens at group level
 * (`brainstage evaluate`); see docs/heads.md. */
#include "brainstage/brainmass_finetune.h"
#include "brainstage/eval.h"
#include "brainstage/heads.h"
#include "brainstage/plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct config {
    const char *model;
} config;

static const bs_param_desc params[] = {
    {"model", BS_PARAM_PATH, NULL, 1, 0, NULL,
     "trained head or fine-tuned BrainMass model (.safetensors from `brainstage evaluate --save-model`)",
     offsetof(config, model)},
};
static const bs_port_desc inputs[] = {
    {"input", BS_PORT_ANY, 0, "embedding [N, D], matrix [R, R] or matrix batch [N, R, R]"}};
static const bs_port_desc outputs[] = {{"output", BS_PORT_PREDICTION, 0, "scores [N, classes] or value [N, 1]"}};

/* One of the two model kinds. */
typedef struct stage {
    bs_head *head;
    bs_finetune *ft;
} stage;

static void destroy(void *self)
{
    stage *st = self;
    if (!st)
        return;
    bs_head_free(st->head);
    bs_finetune_free(st->ft);
    free(st);
}

static void *create(const void *cfg, const bs_host *host, bs_error *err)
{
    (void)host;
    const config *c = cfg;
    stage *st = calloc(1, sizeof *st);
    if (!st) {
        bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
        return NULL;
    }
    int is_ft = bs_finetune_is_model_file(c->model, err);
    if (is_ft > 0)
        st->ft = bs_finetune_load(c->model, err);
    else if (is_ft == 0)
        st->head = bs_head_load(c->model, err);
    if (!st->head && !st->ft) {
        destroy(st);
        bs_error_prefix(err, "head: ");
        return NULL;
    }
    return st;
}

/* Rows and feature length the input gives, or an error for other shapes. */
static int input_geometry(const bs_head *h, bs_port_kind kind, int ndim, const int64_t *shape, int64_t *n,
                          int64_t *d, int *vectorise, bs_error *err)
{
    *vectorise = 0;
    if ((kind == BS_PORT_MATRIX && ndim == 2) || (kind == BS_PORT_MATRIX_BATCH && ndim == 3)) {
        int64_t r = shape[ndim - 1];
        if (shape[ndim - 2] != r)
            return bs_error_set(err, BS_ERR_DATA, "head: matrix input must be square, got %lld x %lld",
                                (long long)shape[ndim - 2], (long long)r);
        *n = ndim == 3 ? shape[0] : 1;
        *d = bs_fc_vector_length(r);
        *vectorise = 1;
    } else if (ndim == 2 && kind != BS_PORT_TIMESERIES) {
        *n = shape[0];
        *d = shape[1];
    } else if (ndim == 1) {
        *n = 1;
        *d = shape[0];
    } else {
        return bs_error_set(err, BS_ERR_DATA, "head: input %s with %d dims: expected an embedding [N, D] or a "
                            "connectivity matrix", bs_port_kind_name(kind), ndim);
    }
    if (*d >= 0 && *d != h->d)
        return bs_error_set(err, BS_ERR_DATA, "head: the model expects %lld features, the input gives %lld%s",
                            (long long)h->d, (long long)*d, *vectorise ? " (vectorised matrix upper triangle)" : "");
    return BS_OK;
}

/* Rows of a fine-tuned model's input: FC matrices of the model's size. */
static int finetune_geometry(const bs_finetune *ft, bs_port_kind kind, int ndim, const int64_t *shape, int64_t *n,
                             bs_error *err)
{
    int R = bs_finetune_rois(ft);
    if (!((kind == BS_PORT_MATRIX && ndim == 2) || (kind == BS_PORT_MATRIX_BATCH && ndim == 3)))
        return bs_error_set(err, BS_ERR_DATA, "head: a fine-tuned BrainMass model takes FC matrices [R, R] or [N, R, R], "
                            "got %s with %d dims", bs_port_kind_name(kind), ndim);
    if ((shape[ndim - 1] >= 0 && shape[ndim - 1] != R) || (shape[ndim - 2] >= 0 && shape[ndim - 2] != R))
        return bs_error_set(err, BS_ERR_DATA, "head: the fine-tuned model has %d ROIs, the input is %lld x %lld", R,
                            (long long)shape[ndim - 2], (long long)shape[ndim - 1]);
    *n = ndim == 3 ? shape[0] : 1;
    return BS_OK;
}

static int negotiate(void *self, const bs_data_info *in, bs_data_info *out, bs_error *err)
{
    const stage *st = self;
    out[0].kind = BS_PORT_PREDICTION;
    out[0].ndim = 2;
    out[0].shape[0] = -1;
    out[0].shape[1] = st->ft ? bs_finetune_n_classes(st->ft) : bs_head_n_scores(st->head);
    int known = in[0].ndim > 0;
    for (int i = 0; i < in[0].ndim; i++)
        known &= in[0].shape[i] >= 0;
    if (!known)
        return BS_OK;
    int64_t n, d;
    int vec;
    int rc = st->ft ? finetune_geometry(st->ft, in[0].kind, in[0].ndim, in[0].shape, &n, err)
                    : input_geometry(st->head, in[0].kind, in[0].ndim, in[0].shape, &n, &d, &vec, err);
    if (rc == BS_OK)
        out[0].shape[0] = n;
    return rc;
}

/* Scores [n, ns] of the input: the fine-tuned model on FC matrices, or the
 * feature head on (vectorised) features. */
static int compute_scores(const stage *st, const bs_data *src, int64_t *n_out, int *ns_out, double **scores,
                          bs_error *err)
{
    const bs_tensor *x = src->tensor;
    int64_t n, d;
    int vec = 0, rc;
    *scores = NULL;
    if (st->ft)
        rc = finetune_geometry(st->ft, src->kind, x->ndim, x->shape, &n, err);
    else
        rc = input_geometry(st->head, src->kind, x->ndim, x->shape, &n, &d, &vec, err);
    if (rc)
        return rc;
    int ns = st->ft ? bs_finetune_n_classes(st->ft) : bs_head_n_scores(st->head);
    double *s = malloc(sizeof(double) * (size_t)(n * ns));
    float *tmp = vec ? bs_alloc_floats((size_t)(n * d)) : NULL;
    if (!s || (vec && !tmp)) {
        free(s);
        bs_free(tmp);
        return bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
    }
    if (st->ft) {
        rc = bs_finetune_predict_fc(st->ft, x->data, n, s, err);
    } else {
        if (vec)
            bs_fc_vectorize(x->data, n, x->shape[x->ndim - 1], tmp);
        rc = bs_head_scores(st->head, vec ? tmp : x->data, n, s, err);
    }
    bs_free(tmp);
    if (rc) {
        free(s);
        return rc;
    }
    *n_out = n;
    *ns_out = ns;
    *scores = s;
    return BS_OK;
}

static int process(void *self, bs_data *const *in, bs_data **out, bs_error *err)
{
    const stage *st = self;
    const bs_head *h = st->head;
    const bs_data *src = in[0];
    if (!src->tensor)
        return bs_error_set(err, BS_ERR_DATA, "head: input %s carries no tensor", bs_port_kind_name(src->kind));
    int64_t n = 0;
    int ns = 0;
    double *scores = NULL;
    int rc = compute_scores(st, src, &n, &ns, &scores, err);
    if (rc)
        return rc;
    const int n_classes = st->ft ? ns : h->n_classes;
    /* class names (NULL entries / array: unnamed) */
    const char **names = n_classes >= 2 ? calloc((size_t)n_classes, sizeof *names) : NULL;
    int named = 0;
    for (int c = 0; names && c < n_classes; c++) {
        names[c] = st->ft ? bs_finetune_class_name(st->ft, c) : h->class_names ? h->class_names[c] : NULL;
        named += names[c] != NULL;
    }
    bs_tensor *t = bs_tensor_new_2d(n, ns, err);
    bs_data *res = NULL;
    char *predicted = NULL;
    if (!t || (n_classes >= 2 && !names)) {
        rc = t ? bs_error_set(err, BS_ERR_NOMEM, "head: out of memory") : (int)err->code;
        goto done;
    }
    for (int64_t i = 0; i < n * ns; i++)
        t->data[i] = (float)scores[i];
    /* "predicted": class names (or values) of the rows, comma-separated. */
    size_t cap = (size_t)n * 32 + 1, len = 0;
    predicted = malloc(cap);
    if (!predicted) {
        rc = bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
        goto done;
    }
    predicted[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        char item[64];
        const double *s = scores + i * ns;
        if (n_classes >= 2) {
            int best = 0;
            for (int c = 1; c < ns; c++)
                if (s[c] > s[best])
                    best = c;
            if (names[best])
                snprintf(item, sizeof item, "%s", names[best]);
            else
                snprintf(item, sizeof item, "%d", best);
        } else {
            snprintf(item, sizeof item, "%.6g", s[0]);
        }
        size_t need = len + strlen(item) + 2;
        if (need > cap) {
            char *grown = realloc(predicted, cap = need * 2);
            if (!grown) {
                rc = bs_error_set(err, BS_ERR_NOMEM, "head: out of memory");
                goto done;
            }
            predicted = grown;
        }
        len += (size_t)sprintf(predicted + len, "%s%s", i ? "," : "", item);
    }
    res = bs_data_new(BS_PORT_PREDICTION, t, err);
    t = NULL;
    if (!res) {
        rc = err->code;
        goto done;
    }
    /* Copy TR and attributes (entities, provenance); labels are ours. */
    if ((rc = bs_data_copy_meta(res, src, err)) != BS_OK)
        goto done;
    if (n_classes >= 2 && named == n_classes) {
        if ((rc = bs_data_set_labels(res, n_classes, names, err)) != BS_OK)
            goto done;
    } else if (n_classes < 2) {
        const char *value = "value";
        if ((rc = bs_data_set_labels(res, ns, &value, err)) != BS_OK)
            goto done;
    }
    if ((rc = bs_data_set_attr(res, "head", st->ft ? "finetune" : bs_head_kind_name(h->kind), err)) != BS_OK ||
        (rc = bs_data_set_attr(res, "predicted", predicted, err)) != BS_OK)
        goto done;
    out[0] = res;
    res = NULL;
done:
    bs_data_free(res);
    bs_tensor_free(t);
    free(scores);
    free(predicted);
    free(names);
    return rc;
}

static const bs_plugin plugin = {
    BS_PLUGIN_HEADER,
    .name = "head",
    .version = "1.0",
    .summary = "apply a trained head to embeddings or vectorised FC, or a fine-tuned BrainMass model to FC",
    .inputs = inputs, .n_inputs = BS_COUNT_OF(inputs),
    .outputs = outputs, .n_outputs = BS_COUNT_OF(outputs),
    .params = params, .n_params = BS_COUNT_OF(params), .config_size = sizeof(config),
    .create = create, .negotiate = negotiate, .process = process, .destroy = destroy,
};

const bs_plugin *bs_plugin_entry(uint32_t index);
const bs_plugin *bs_plugin_entry(uint32_t index)
{
    return index == 0 ? &plugin : NULL;
}
