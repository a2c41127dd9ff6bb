// SPDX-License-Identifier: GPL-2.0
/*
 * Key rate model of a simulated link: decoy-state BB84 with the GLLP
 * formula in the asymptotic limit (H.-K. Lo, X. Ma, K. Chen, "Decoy State
 * Quantum Key Distribution", PRL 94, 230504 (2005)).
 *
 *   eta   = eta_det * 10^(-alpha * L / 10)        overall transmittance
 *   Y0    = 2 * p_dark                            (two detectors)
 *   Q_mu  = Y0 + 1 - e^(-eta * mu)                signal gain
 *   E_mu  = (e0 * Y0 + e_d * (1 - e^(-eta * mu))) / Q_mu,  e0 = 1/2
 *   Y1    = Y0 + eta,  Q1 = Y1 * mu * e^(-mu)     single-photon yield, gain
 *   e1    = (e0 * Y0 + e_d * eta) / Y1            single-photon error rate
 *   R     = q * (Q1 * (1 - H2(e1)) - f * Q_mu * H2(E_mu))  per pulse,
 *           q = 1/2 (BB84 sifting), f = 1.16 (error correction)
 *   SKR   = max(R, 0) * rep_rate,  QBER = E_mu
 *
 * No floating point in the kernel: every quantity is an unsigned fixed
 * point number with FP_SHIFT fraction bits.  All values stay below 2^16,
 * and products go through 128-bit intermediates (mul_u64_u64_shr).  Run
 * only when a parameter changes, so clarity beats speed here.
 */
#include <linux/bitops.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include "sim.h"

#define FP_SHIFT	48
#define FP_ONE		(1ULL << FP_SHIFT)
#define FP_LN2		0xb17217f7d1cfULL	/* ln 2 */
#define FP_LN10		0x24d763776aaa3ULL	/* ln 10 */
#define FP_EC_EFF	0x128f5c28f5c29ULL	/* f = 1.16 */

/* Losses beyond 400 dB leave no photon worth counting: eta = 0. */
#define LOSS_MAX_UDB	(400ULL * 1000000)

static u64 fp_mul(u64 a, u64 b)
{
	return mul_u64_u64_shr(a, b, FP_SHIFT);
}

/* a / b for a <= b * 2^15, the only case the model needs. */
static u64 fp_div(u64 a, u64 b)
{
	return b ? mul_u64_u64_div_u64(a, FP_ONE, b) : 0;
}

static u64 fp_from_ratio(u64 num, u64 den)
{
	return mul_u64_u64_div_u64(num, FP_ONE, den);
}

/*
 * e^(-x), x >= 0: x = k ln 2 + r with 0 <= r < ln 2, so e^(-x) =
 * 2^(-k) e^(-r), and the Taylor series of e^(-r) converges fast.
 */
static u64 fp_exp_neg(u64 x)
{
	u64 k = div64_u64(x, FP_LN2);
	u64 r, term = FP_ONE, sum = FP_ONE;
	unsigned int n;

	if (k >= FP_SHIFT)
		return 0;
	r = x - k * FP_LN2;
	for (n = 1; term; n++) {
		term = div_u64(fp_mul(term, r), n);
		if (n & 1)
			sum -= term;
		else
			sum += term;
	}
	return sum >> k;
}

/*
 * -log2(x) for 0 < x <= 1: x = 2^(-e) m with 1 <= m < 2, then the bits of
 * log2(m) by repeated squaring (m^2 >= 2 means the next bit is 1).
 */
static u64 fp_neg_log2(u64 x)
{
	int e = FP_SHIFT - (fls64(x) - 1);
	u64 m = x << e;
	u64 log2_m = 0;
	int bit;

	for (bit = FP_SHIFT - 1; bit >= 0; bit--) {
		m = fp_mul(m, m);
		if (m >= 2 * FP_ONE) {
			m >>= 1;
			log2_m |= 1ULL << bit;
		}
	}
	return (u64)e * FP_ONE - log2_m;
}

/* Binary entropy H2(p) = -p log2 p - (1 - p) log2 (1 - p), 0 <= p <= 1. */
static u64 fp_h2(u64 p)
{
	u64 q;

	if (p == 0 || p >= FP_ONE)
		return 0;
	q = FP_ONE - p;
	return fp_mul(p, fp_neg_log2(p)) + fp_mul(q, fp_neg_log2(q));
}

/* Overall transmittance: channel loss alpha * L in dB, then the detector. */
static u64 transmittance(const struct qkd_sim_physics *phys)
{
	/* mdB/km * m = 10^-6 dB */
	u64 loss_udb = phys->atten_mdb_per_km * phys->fiber_m;
	u64 channel;

	if (loss_udb > LOSS_MAX_UDB)
		return 0;
	/* 10^(-dB/10) = e^(-dB ln10 / 10) */
	channel = fp_exp_neg(mul_u64_u64_div_u64(loss_udb, FP_LN10,
						 10ULL * 1000000));
	return fp_mul(channel, fp_from_ratio(phys->det_eff_ppm, 1000000));
}

void qkd_sim_physics_eval(const struct qkd_sim_physics *phys,
			  struct qkd_sim_model *model)
{
	u64 eta = transmittance(phys);
	u64 y0 = min(2 * fp_from_ratio(phys->dark_count_ppb, 1000000000),
		     FP_ONE);
	u64 mu = fp_from_ratio(phys->mu_milli, 1000);
	u64 e_d = fp_from_ratio(phys->misalign_ppm, 1000000);
	u64 clicks = FP_ONE - fp_exp_neg(fp_mul(eta, mu));
	u64 q_mu = y0 + clicks;
	u64 e_mu = fp_div(y0 / 2 + fp_mul(e_d, clicks), q_mu);
	u64 y1 = y0 + eta;
	u64 q1 = fp_mul(fp_mul(y1, mu), fp_exp_neg(mu));
	u64 e1 = y1 ? fp_div(y0 / 2 + fp_mul(e_d, eta), y1) : FP_ONE / 2;
	u64 h2_e1 = fp_h2(e1);
	u64 gain = h2_e1 < FP_ONE ? fp_mul(q1, FP_ONE - h2_e1) : 0;
	u64 cost = fp_mul(fp_mul(FP_EC_EFF, q_mu), fp_h2(e_mu));
	u64 rate = gain > cost ? (gain - cost) / 2 : 0;

	model->skr_bps = mul_u64_u64_shr(rate, phys->rep_rate_hz, FP_SHIFT);
	model->qber_ppm = min_t(u64, mul_u64_u64_shr(e_mu, 1000000, FP_SHIFT),
				QKD_SIM_QBER_PPM_MAX);
}
