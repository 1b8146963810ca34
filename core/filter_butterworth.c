/* filter_butterworth.c - digital Butterworth design as second-order sections.
 *
 * Analog prototype (poles on the unit circle in the left half plane),
 * frequency transform (low-, high- or band-pass) at pre-warped edges, then
 * the bilinear transform s -> z.  Pre-warping uses an internal sampling rate
 * of 2 on frequencies normalised to Nyquist, the same convention as
 * scipy.signal.butter, so both designs have the same transfer function.
 * Sections pair complex-conjugate poles; the zeros are all at z = +1
 * (high-pass part) and z = -1 (low-pass part), so section numerators are
 * fixed polynomials and the overall gain is set by normalising the response
 * to 1 at the pass-band reference frequency. */
#include "brainstage/clean.h"

#include <complex.h>
#include <math.h>

/* Product over sections of B(z)/A(z) at the complex point z. */
static double complex sos_response(const bs_sos_filter *f, double complex z)
{
    double complex h = 1.0;
    double complex zi = 1.0 / z, zi2 = zi * zi;
    for (int s = 0; s < f->n_sections; s++) {
        const double *c = f->sos[s];
        h *= (c[0] + c[1] * zi + c[2] * zi2) / (c[3] + c[4] * zi + c[5] * zi2);
    }
    return h;
}

/* Bilinear map with the internal sampling rate 2: z = (4 + s) / (4 - s). */
static double complex bilinear(double complex s) { return (4.0 + s) / (4.0 - s); }

static void set_section(bs_sos_filter *f, double complex r1, double complex r2, int first_order,
                        const double num[3])
{
    double *c = f->sos[f->n_sections++];
    c[0] = num[0];
    c[1] = num[1];
    c[2] = num[2];
    c[3] = 1.0;
    if (first_order) {
        c[4] = -creal(r1);
        c[5] = 0.0;
    } else {
        c[4] = -creal(r1 + r2);
        c[5] = creal(r1 * r2);
    }
}

int bs_butterworth_design(int order, double high_pass_hz, double low_pass_hz, double fs,
                          bs_sos_filter *f, bs_error *err)
{
    f->n_sections = 0;
    if (!(fs > 0.0) || !isfinite(fs))
        return bs_error_set(err, BS_ERR_USAGE, "butterworth: sampling rate %g Hz must be positive (is the TR known?)", fs);
    const double nyq = fs / 2.0;
    int hp = high_pass_hz > 0.0, lp = low_pass_hz > 0.0;
    if (!hp && !lp)
        return bs_error_set(err, BS_ERR_USAGE, "butterworth: no band edge given (both are 0)");
    if (hp && !(high_pass_hz < nyq))
        return bs_error_set(err, BS_ERR_USAGE, "butterworth: high-pass edge %g Hz must be below Nyquist %g Hz (TR %g s)",
                            high_pass_hz, nyq, 1.0 / fs);
    if (lp && !(low_pass_hz < nyq))
        return bs_error_set(err, BS_ERR_USAGE, "butterworth: low-pass edge %g Hz must be below Nyquist %g Hz (TR %g s)",
                            low_pass_hz, nyq, 1.0 / fs);
    if (hp && lp && !(high_pass_hz < low_pass_hz))
        return bs_error_set(err, BS_ERR_USAGE, "butterworth: band %g,%g Hz: the lower edge must be below the upper one",
                            high_pass_hz, low_pass_hz);
    int max_order = (hp && lp) ? BS_SOS_MAX : 2 * BS_SOS_MAX;
    if (order < 1 || order > max_order)
        return bs_error_set(err, BS_ERR_USAGE, "butterworth: order %d must be in 1..%d", order, max_order);

    /* Pre-warped analog edges (rad/s at internal fs = 2). */
    double w_hp = hp ? 4.0 * tan(M_PI * (high_pass_hz / nyq) / 2.0) : 0.0;
    double w_lp = lp ? 4.0 * tan(M_PI * (low_pass_hz / nyq) / 2.0) : 0.0;
    static const double num_lp2[3] = {1, 2, 1}, num_lp1[3] = {1, 1, 0};
    static const double num_hp2[3] = {1, -2, 1}, num_hp1[3] = {1, -1, 0};
    static const double num_bp[3] = {1, 0, -1};
    double complex zref;

    /* Prototype poles -exp(i*pi*m/(2N)), m = -N+1, -N+3, ..., N-1.  Take
     * m >= 0: m > 0 stands for a conjugate pair, m = 0 for the real pole. */
    for (int m = order - 1; m >= 0; m -= 2) {
        double complex p = -cexp(I * M_PI * m / (2.0 * order));
        int real_pole = (m == 0);
        if (hp && lp) {
            double wo = sqrt(w_hp * w_lp), bw = w_lp - w_hp;
            double complex plp = p * bw / 2.0;
            double complex root = csqrt(plp * plp - wo * wo);
            double complex q1 = bilinear(plp + root), q2 = bilinear(plp - root);
            if (real_pole) {
                set_section(f, q1, q2, 0, num_bp);
            } else {
                set_section(f, q1, conj(q1), 0, num_bp);
                set_section(f, q2, conj(q2), 0, num_bp);
            }
        } else if (lp) {
            double complex q = bilinear(w_lp * p);
            if (real_pole)
                set_section(f, q, q, 1, num_lp1);
            else
                set_section(f, q, conj(q), 0, num_lp2);
        } else {
            double complex q = bilinear(w_hp / p);
            if (real_pole)
                set_section(f, q, q, 1, num_hp1);
            else
                set_section(f, q, conj(q), 0, num_hp2);
        }
    }
    if (hp && lp) {
        /* Analog band-pass has gain 1 at the geometric centre wo; the
         * bilinear transform maps s = i*wo to z = exp(i*2*atan(wo/4)). */
        double wo = sqrt(w_hp * w_lp);
        zref = cexp(I * 2.0 * atan(wo / 4.0));
    } else if (lp) {
        zref = 1.0;
    } else {
        zref = -1.0;
    }
    double g = 1.0 / cabs(sos_response(f, zref));
    for (int k = 0; k < 3; k++)
        f->sos[0][k] *= g;
    return BS_OK;
}

int64_t bs_sosfiltfilt_padlen(const bs_sos_filter *f, bs_filter_padding padding, int64_t n)
{
    if (padding == BS_PAD_CONSTANT)
        return n > 0 ? n - 1 : 0;
    /* scipy: 3 * (2*nsec + 1 - min(#{b2 == 0}, #{a2 == 0})). */
    int nb = 0, na = 0;
    for (int s = 0; s < f->n_sections; s++) {
        nb += f->sos[s][2] == 0.0;
        na += f->sos[s][5] == 0.0;
    }
    return 3 * (2 * f->n_sections + 1 - (nb < na ? nb : na));
}

/* One pass through the cascade (direct form II transposed), starting from
 * the steady state of a constant input x0. */
static void sos_pass(const bs_sos_filter *f, double *x, int64_t n, double x0)
{
    double z[BS_SOS_MAX][2];
    double scale = x0;
    for (int s = 0; s < f->n_sections; s++) {
        const double *c = f->sos[s];
        double h = (c[0] + c[1] + c[2]) / (c[3] + c[4] + c[5]);
        z[s][0] = scale * (h - c[0]);
        z[s][1] = scale * (c[2] - c[5] * h);
        scale *= h;
    }
    for (int s = 0; s < f->n_sections; s++) {
        const double *c = f->sos[s];
        double z0 = z[s][0], z1 = z[s][1];
        for (int64_t t = 0; t < n; t++) {
            double in = x[t];
            double y = c[0] * in + z0;
            z0 = c[1] * in - c[4] * y + z1;
            z1 = c[2] * in - c[5] * y;
            x[t] = y;
        }
    }
}

int bs_sosfiltfilt(const bs_sos_filter *f, bs_filter_padding padding, double *x, int64_t n,
                   int64_t stride, double *work, bs_error *err)
{
    int64_t pad = bs_sosfiltfilt_padlen(f, padding, n);
    if (n <= pad)
        return bs_error_set(err, BS_ERR_DATA,
                            "band-pass: %lld volumes are too few for a filter with %d sections (need more than %lld)",
                            (long long)n, f->n_sections, (long long)pad);
    double *e = work;
    for (int64_t t = 0; t < n; t++)
        e[pad + t] = x[t * stride];
    double first = x[0], last = x[(n - 1) * stride];
    for (int64_t k = 1; k <= pad; k++) {
        if (padding == BS_PAD_ODD) {
            e[pad - k] = 2.0 * first - x[k * stride];
            e[pad + n - 1 + k] = 2.0 * last - x[(n - 1 - k) * stride];
        } else {
            e[pad - k] = first;
            e[pad + n - 1 + k] = last;
        }
    }
    int64_t m = n + 2 * pad;
    sos_pass(f, e, m, e[0]);
    /* Backward pass: reverse, filter, reverse. */
    for (int64_t i = 0, j = m - 1; i < j; i++, j--) {
        double tmp = e[i];
        e[i] = e[j];
        e[j] = tmp;
    }
    sos_pass(f, e, m, e[0]);
    for (int64_t t = 0; t < n; t++)
        x[t * stride] = e[m - 1 - pad - t];
    return BS_OK;
}
