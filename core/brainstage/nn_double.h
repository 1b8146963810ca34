/* brainstage/nn_double.h - double-precision twins of the nn ops.
 *
 * Same semantics as the float ops in brainstage/nn.h (read the comments
 * there), compiled from the same source with the element type double.
 * They exist for finite-difference gradient checks; models use float.
 * Hyper-parameters stay float and attention masks stay float.
 * Included by brainstage/nn.h (it needs the types declared there). */
#ifndef BRAINSTAGE_NN_DOUBLE_H
#define BRAINSTAGE_NN_DOUBLE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void nn_linear_forward_d(double *y, const double *x, const double *w, const double *b, int N,
    int in, int out);
void nn_linear_backward_d(double *dx, double *dw, double *db, const double *dy, const double *x,
    const double *w, int N, int in, int out);
void nn_linear_forward_ld_d(double *y, const double *x, const double *w, int ldw, const double *b,
    int N, int in, int out, int accumulate);
void nn_bmm_nt_forward_d(double *c, const double *a, const double *bt, int batch, int M, int Nc,
    int K);
void nn_bmm_nt_backward_d(double *da, double *dbt, const double *dc, const double *a,
    const double *bt, int batch, int M, int Nc, int K);
void nn_layernorm_forward_d(double *y, double *mean, double *rstd, const double *x,
    const double *w, const double *b, int N, int C, float eps);
void nn_layernorm_backward_d(double *dx, double *dw, double *db, const double *dy,
    const double *x, const double *mean, const double *rstd, const double *w, int N, int C);
void nn_add_layernorm_forward_d(double *y, double *s, double *mean, double *rstd, const double *a,
    const double *r, const double *w, const double *b, int N, int C, float eps);
void nn_batchnorm_forward_train_d(double *y, double *mean, double *rstd, double *running_mean,
    double *running_var, const double *x, const double *w, const double *b, int N, int C,
    float eps, float momentum);
void nn_batchnorm_forward_eval_d(double *y, const double *x, const double *w, const double *b,
    const double *running_mean, const double *running_var, int N, int C, float eps);
void nn_batchnorm_backward_d(double *dx, double *dw, double *db, const double *dy,
    const double *x, const double *mean, const double *rstd, const double *w, int N, int C);
void nn_batchnorm_backward_eval_d(double *dx, double *dw, double *db, const double *dy,
    const double *x, const double *w, const double *running_mean, const double *running_var,
    int N, int C, float eps);
void nn_relu_forward_d(double *y, const double *x, size_t n);
void nn_relu_backward_d(double *dx, const double *dy, const double *x, size_t n);
void nn_leaky_relu_forward_d(double *y, const double *x, size_t n, float slope);
void nn_leaky_relu_backward_d(double *dx, const double *dy, const double *x, size_t n,
    float slope);
void nn_gelu_forward_d(double *y, const double *x, size_t n, nn_gelu_kind kind);
void nn_gelu_backward_d(double *dx, const double *dy, const double *x, size_t n,
    nn_gelu_kind kind);
void nn_dropout_forward_d(double *y, uint8_t *mask, const double *x, size_t n, float p,
    uint64_t seed);
void nn_dropout_backward_d(double *dx, const double *dy, const uint8_t *mask, size_t n,
    float p);
void nn_relu_dropout_forward_d(double *y, const double *x, size_t n, float p, uint64_t seed);
void nn_relu_dropout_backward_d(double *dx, const double *dy, const double *y, size_t n,
    float p);
void nn_add_forward_d(double *y, const double *a, const double *b, size_t n);
void nn_add_backward_d(double *da, double *db, const double *dy, size_t n);
void nn_add_bcast_forward_d(double *y, const double *x, const double *row, int B, size_t n);
void nn_add_bcast_backward_d(double *dx, double *drow, const double *dy, int B, size_t n);
void nn_accumulate_d(double *dst, const double *src, size_t n);
void nn_softmax_forward_d(double *y, const double *x, int N, int C);
void nn_softmax_backward_d(double *dx, const double *dy, const double *y, int N, int C);
void nn_log_softmax_forward_d(double *y, const double *x, int N, int C);
void nn_log_softmax_backward_d(double *dx, const double *dy, const double *y, int N, int C);
void nn_attention_forward_d(double *out, double *att, uint8_t *drop, const double *q,
    const double *k, const double *v, const nn_attn_dims *d);
void nn_attention_backward_d(double *dq, double *dk, double *dv, const double *dout,
    const double *att, const uint8_t *drop, const double *q, const double *k, const double *v,
    const nn_attn_dims *d);
void nn_attention_average_heads_d(double *avg, const double *att, int B, int H, int Tq, int Tk);
void nn_mha_forward_d(double *y, double *qkv, double *ctx, double *att, uint8_t *drop,
    const double *x, const double *in_w, const double *in_b, const double *out_w,
    const double *out_b, int B, int T, int C, int H, const nn_mha_opts *opt);
void nn_mha_backward_d(double *dx, double *din_w, double *din_b, double *dout_w, double *dout_b,
    double *dqkv, double *dctx, const double *dy, const double *x, const double *qkv,
    const double *ctx, const double *att, const uint8_t *drop, const double *in_w,
    const double *out_w, int B, int T, int C, int H, const nn_mha_opts *opt);
void nn_mask_token_forward_d(double *y, const double *x, const double *token,
    const uint8_t *mask, int N, int C);
void nn_mask_token_backward_d(double *dx, double *dtoken, const double *dy, const uint8_t *mask,
    int N, int C);
void nn_prepend_tokens_forward_d(double *y, const double *x, const double *tokens, int B, int T,
    int K, int C);
void nn_prepend_tokens_backward_d(double *dx, double *dtokens, const double *dy, int B, int T,
    int K, int C);
void nn_gather_rows_forward_d(double *y, const double *x, const int32_t *rows, int M, int C);
void nn_gather_rows_backward_d(double *dx, const double *dy, const int32_t *rows, int M, int C);
void nn_mean_tokens_forward_d(double *y, const double *x, int B, int T, int C);
void nn_mean_tokens_backward_d(double *dx, const double *dy, int B, int T, int C);
void nn_sinusoid_table_d(double *table, int T, int C, double base);
double nn_mse_forward_d(const double *pred, const double *target, const double *weight,
    size_t n, double scale);
void nn_mse_backward_d(double *dpred, double *dtarget, const double *pred, const double *target,
    const double *weight, size_t n, double scale, double dloss);
void nn_cosine_forward_d(double *cos, const double *a, const double *b, int N, int D,
    float eps);
void nn_cosine_backward_d(double *da, double *db, const double *dcos, const double *a,
    const double *b, int N, int D, float eps);
double nn_byol_loss_forward_d(double *cos, const double *p, const double *z, int N, int D);
void nn_byol_loss_backward_d(double *dp, double *dz, const double *p, const double *z, int N,
    int D, double dloss);
double nn_cross_entropy_forward_d(double *probs, const double *logits, const int32_t *targets,
    int N, int C);
void nn_cross_entropy_backward_d(double *dlogits, const double *probs, const int32_t *targets,
    int N, int C, double dloss);
int nn_argmax_correct_d(const double *logits, const int32_t *targets, int N, int C);

#ifdef __cplusplus
}
#endif
#endif
