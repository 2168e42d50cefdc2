//! The simulator's own seeded generator (xoshiro256**, seeded through splitmix64) and the samplers
//! it needs. Written here so that a seed reproduces a run bit for bit on every platform and no
//! `rand` version bump can change the benchmark.

/// xoshiro256** (Blackman & Vigna).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

/// splitmix64 step: used to expand one seed into the 256-bit state (and to derive sub-seeds).
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng {
            s,
            spare_normal: None,
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform on the open interval (0, 1) (53 random bits, never 0 or 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Box-Muller, the second value kept for the next call).
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let r = (-2.0 * self.uniform().ln()).sqrt();
        let th = 2.0 * std::f64::consts::PI * self.uniform();
        self.spare_normal = Some(r * th.sin());
        r * th.cos()
    }

    /// Lognormal with the given median and log-sd.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Gamma(shape, 1): Marsaglia-Tsang for shape >= 1, boosted by U^(1/shape) below 1.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b) as G_a / (G_a + G_b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        x / (x + y)
    }

    /// Poisson(lambda) in O(1): Knuth's product method below 10, Hormann's transformed rejection
    /// with squeeze (PTRS, 1993; the constants numpy uses) above. Used by the count-only streams
    /// of the power grid, whose runs span days of simulated traffic.
    pub fn poisson_fast(&mut self, lambda: f64) -> u64 {
        if lambda < 10.0 {
            return self.poisson(lambda);
        }
        let slam = lambda.sqrt();
        let loglam = lambda.ln();
        let b = 0.931 + 2.53 * slam;
        let a = -0.059 + 0.02483 * b;
        let invalpha = 1.1239 + 1.1328 / (b - 3.4);
        let vr = 0.9277 - 3.6224 / (b - 2.0);
        loop {
            let u = self.uniform() - 0.5;
            let v = self.uniform();
            let us = 0.5 - u.abs();
            let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
            if us >= 0.07 && v <= vr {
                return k as u64;
            }
            if k < 0.0 || (us < 0.013 && v > us) {
                continue;
            }
            if v.ln() + invalpha.ln() - (a / (us * us) + b).ln()
                <= -lambda + k * loglam - crate::core::stats::special::ln_gamma(k + 1.0)
            {
                return k as u64;
            }
        }
    }

    /// Poisson(lambda): Knuth's product method on chunks of at most 30 (exact, O(lambda)).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        let mut left = lambda.max(0.0);
        let mut k = 0u64;
        while left > 0.0 {
            let l = left.min(30.0);
            left -= l;
            let limit = (-l).exp();
            let mut p = self.uniform();
            while p > limit {
                k += 1;
                p *= self.uniform();
            }
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_the_reference_sequence() {
        // Reference: a python3 transcription of the reference xoshiro256starstar.c, state {1, 2, 3, 4}
        // (first outputs 11520, 0, 1509978240, 1215971899390074240).
        let mut r = Rng {
            s: [1, 2, 3, 4],
            spare_normal: None,
        };
        assert_eq!(r.next_u64(), 11520);
        assert_eq!(r.next_u64(), 0);
        assert_eq!(r.next_u64(), 1_509_978_240);
        assert_eq!(r.next_u64(), 1_215_971_899_390_074_240);
    }

    fn mean_var(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (
            m,
            xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0),
        )
    }

    #[test]
    fn samplers_have_the_right_moments() {
        let mut r = Rng::new(7);
        let n = 200_000;
        // Beta(2,5): mean 2/7, variance 10/(49*8)
        let (m, v) = mean_var(&(0..n).map(|_| r.beta(2.0, 5.0)).collect::<Vec<_>>());
        assert!((m - 2.0 / 7.0).abs() < 0.002, "{m}");
        assert!((v - 10.0 / 392.0).abs() < 0.0005, "{v}");
        // Poisson(2000) and Poisson(3.5): mean = variance = lambda
        let (m, v) = mean_var(
            &(0..20_000)
                .map(|_| r.poisson(2000.0) as f64)
                .collect::<Vec<_>>(),
        );
        assert!(
            (m - 2000.0).abs() < 1.5 && (v / 2000.0 - 1.0).abs() < 0.05,
            "{m} {v}"
        );
        let (m, v) = mean_var(
            &(0..20_000)
                .map(|_| r.poisson_fast(2000.0) as f64)
                .collect::<Vec<_>>(),
        );
        assert!(
            (m - 2000.0).abs() < 1.5 && (v / 2000.0 - 1.0).abs() < 0.05,
            "{m} {v}"
        );
        // PTRS just above its switch point: P(X = 12) for Poisson(12.5) = exp(-12.5) 12.5^12 / 12! = 0.113215 (python3 math)
        let hits = (0..n).filter(|_| r.poisson_fast(12.5) == 12).count() as f64 / n as f64;
        assert!((hits - 0.113_215).abs() < 0.003, "{hits}");
        let (m, v) = mean_var(&(0..n).map(|_| r.poisson(3.5) as f64).collect::<Vec<_>>());
        assert!((m - 3.5).abs() < 0.02 && (v - 3.5).abs() < 0.05, "{m} {v}");
        // lognormal median 0.12, sigma 0.5: median of samples
        let mut xs: Vec<f64> = (0..n).map(|_| r.lognormal(0.12, 0.5)).collect();
        xs.sort_by(f64::total_cmp);
        assert!((xs[n / 2] - 0.12).abs() < 0.002);
        // normal: mean 0, variance 1
        let (m, v) = mean_var(&(0..n).map(|_| r.normal()).collect::<Vec<_>>());
        assert!(m.abs() < 0.01 && (v - 1.0).abs() < 0.01);
    }
}
