//! A small deterministic random number generator (SplitMix64): same seed, same data, on
//! every machine, with no dependency.

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An index into a list of `len` items, favouring the first ones (Zipf-like, s = 1):
    /// word frequencies in real text look like this.
    pub fn zipf(&mut self, len: usize) -> usize {
        // Inverse of the continuous approximation of the harmonic CDF.
        let harmonic = (len as f64).ln() + 0.577;
        let target = self.unit() * harmonic;
        ((target - 0.577).exp().floor() as usize).min(len - 1)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut first = Rng::new(7);
        let mut second = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(first.next_u64(), second.next_u64());
        }
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert!(rng.unit() < 1.0);
            assert!(rng.zipf(10) < 10);
        }
    }
}
