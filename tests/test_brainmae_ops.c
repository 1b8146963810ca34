/* tests/test_brainmae_ops.c - finite-difference gradient check (double
 * precision) of BrainMAE's region-aware graph attention op, and agreement of
 * its float build with the double build. */
#include "brainstage/brainmae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { R = 7, D = 5, DK = 3, NSEQ = 4 };

static double urand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65536.0 * 2.0 - 1.0;
}

/* loss = sum(W .* (alpha @ V)) with alpha from (E, Wq, Wk). */
static double loss_of(const double *E, const double *Wq, const double *Wk, const double *V,
                      const double *W, int self_loops)
{
    double q[R * DK], k[R * DK], alpha[R * R], out[NSEQ * R * D], scratch[2 * NSEQ * R * D];
    bs_region_adjacency_forward_f64(E, Wq, Wk, R, D, DK, self_loops, q, k, alpha);
    memset(out, 0, sizeof out);
    bs_region_aggregate_forward_f64(alpha, V, NSEQ, R, D, out, scratch);
    double s = 0;
    for (int i = 0; i < NSEQ * R * D; i++) s += W[i] * out[i];
    return s;
}

static int check(const char *what, double *x, int n, const double *grad, const double *E,
                 const double *Wq, const double *Wk, const double *V, const double *W,
                 int self_loops)
{
    const double h = 1e-6, atol = 1e-7, rtol = 1e-6;
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double keep = x[i];
        x[i] = keep + h;
        double lp = loss_of(E, Wq, Wk, V, W, self_loops);
        x[i] = keep - h;
        double lm = loss_of(E, Wq, Wk, V, W, self_loops);
        x[i] = keep;
        double fd = (lp - lm) / (2 * h), err = fabs(fd - grad[i]);
        if (err > worst) worst = err;
        if (err > atol + rtol * fabs(fd)) {
            fprintf(stderr, "%s[%d]: analytic %.10g, finite difference %.10g\n", what, i,
                    grad[i], fd);
            bad++;
        }
    }
    printf("%-3s self_loops=%d: max |analytic - fd| = %.3g (atol 1e-7 + rtol 1e-6)\n", what,
           self_loops, worst);
    return bad;
}

static int run(int self_loops)
{
    unsigned s = 12345u + (unsigned)self_loops;
    double E[R * D], Wq[DK * D], Wk[DK * D], V[NSEQ * R * D], W[NSEQ * R * D];
    for (int i = 0; i < R * D; i++) E[i] = urand(&s);
    for (int i = 0; i < DK * D; i++) Wq[i] = urand(&s);
    for (int i = 0; i < DK * D; i++) Wk[i] = urand(&s);
    for (int i = 0; i < NSEQ * R * D; i++) V[i] = urand(&s);
    for (int i = 0; i < NSEQ * R * D; i++) W[i] = urand(&s);

    double q[R * DK], k[R * DK], alpha[R * R];
    bs_region_adjacency_forward_f64(E, Wq, Wk, R, D, DK, self_loops, q, k, alpha);
    int bad = 0;
    for (int i = 0; i < R; i++) {
        double rs = 0;
        for (int j = 0; j < R; j++) rs += alpha[i * R + j];
        if (fabs(rs - 1) > 1e-12) bad++;
        if (!self_loops && alpha[i * R + i] != 0) {
            fprintf(stderr, "alpha diagonal %d not removed\n", i);
            bad++;
        }
    }
    double dalpha[R * R], dE[R * D], dWq[DK * D], dWk[DK * D], dV[NSEQ * R * D];
    double scratch[3 * NSEQ * R * D + R * R + 2 * R * DK];
    memset(dalpha, 0, sizeof dalpha);
    memset(dE, 0, sizeof dE);
    memset(dWq, 0, sizeof dWq);
    memset(dWk, 0, sizeof dWk);
    memset(dV, 0, sizeof dV);
    bs_region_aggregate_backward_f64(alpha, V, W, NSEQ, R, D, dV, dalpha, scratch);
    bs_region_adjacency_backward_f64(E, Wq, Wk, q, k, alpha, dalpha, R, D, DK, dE, dWq, dWk,
                                     scratch);
    bad += check("E", E, R * D, dE, E, Wq, Wk, V, W, self_loops);
    bad += check("Wq", Wq, DK * D, dWq, E, Wq, Wk, V, W, self_loops);
    bad += check("Wk", Wk, DK * D, dWk, E, Wq, Wk, V, W, self_loops);
    bad += check("V", V, NSEQ * R * D, dV, E, Wq, Wk, V, W, self_loops);

    /* float build agrees with the double build */
    float Ef[R * D], Wqf[DK * D], Wkf[DK * D], Vf[NSEQ * R * D], Wf[NSEQ * R * D];
    float qf[R * DK], kf[R * DK], af[R * R], of[NSEQ * R * D], sf[3 * NSEQ * R * D + R * R + 2 * R * DK];
    float daf[R * R], dEf[R * D], dWqf[DK * D], dWkf[DK * D], dVf[NSEQ * R * D];
    for (int i = 0; i < R * D; i++) Ef[i] = (float)E[i];
    for (int i = 0; i < DK * D; i++) { Wqf[i] = (float)Wq[i]; Wkf[i] = (float)Wk[i]; }
    for (int i = 0; i < NSEQ * R * D; i++) { Vf[i] = (float)V[i]; Wf[i] = (float)W[i]; }
    memset(of, 0, sizeof of);
    memset(daf, 0, sizeof daf);
    memset(dEf, 0, sizeof dEf);
    memset(dWqf, 0, sizeof dWqf);
    memset(dWkf, 0, sizeof dWkf);
    memset(dVf, 0, sizeof dVf);
    bs_region_adjacency_forward_f32(Ef, Wqf, Wkf, R, D, DK, self_loops, qf, kf, af);
    bs_region_aggregate_forward_f32(af, Vf, NSEQ, R, D, of, sf);
    bs_region_aggregate_backward_f32(af, Vf, Wf, NSEQ, R, D, dVf, daf, sf);
    bs_region_adjacency_backward_f32(Ef, Wqf, Wkf, qf, kf, af, daf, R, D, DK, dEf, dWqf, dWkf, sf);
    double worst = 0;
    for (int i = 0; i < R * R; i++) worst = fmax(worst, fabs(af[i] - alpha[i]));
    for (int i = 0; i < R * D; i++) worst = fmax(worst, fabs(dEf[i] - dE[i]) / (1 + fabs(dE[i])));
    for (int i = 0; i < DK * D; i++) worst = fmax(worst, fabs(dWqf[i] - dWq[i]) / (1 + fabs(dWq[i])));
    printf("float vs double: max rel diff %.3g (limit 1e-5)\n", worst);
    if (worst > 1e-5) bad++;
    return bad;
}

int main(void)
{
    int bad = run(0) + run(1);
    if (bad) fprintf(stderr, "%d gradient mismatches\n", bad);
    return bad ? 1 : 0;
}
