//! Deterministic permutations for the batch loader, from a tiny self-contained generator
//! (splitmix64), so that a loader position saved today replays the same order after any
//! dependency upgrade.

/// splitmix64: one step of the generator; also a good 64-bit mixing function.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mixes several words into one seed (order matters).
pub fn mix_seed(words: &[u64]) -> u64 {
    let mut state = 0x6c6c_632d_7472_6169; // "llc-trai"
    let mut out = 0;
    for &w in words {
        state ^= w;
        out = splitmix64(&mut state);
    }
    out
}

/// A uniformly shuffled permutation of `0..n` (Fisher-Yates) determined by `seed`.
pub fn permutation(n: usize, seed: u64) -> Vec<u64> {
    let mut p: Vec<u64> = (0..n as u64).collect();
    let mut state = seed;
    for i in (1..n).rev() {
        // Multiply-shift maps a 64-bit draw onto 0..=i; the bias is below 2^-40 here.
        let j = ((splitmix64(&mut state) as u128 * (i as u128 + 1)) >> 64) as usize;
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_permutation_and_depends_on_seed() {
        let a = permutation(100, 1);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, permutation(100, 2));
        assert_eq!(a, permutation(100, 1));
        assert_ne!(a, sorted);
    }

    #[test]
    fn splitmix_known_values() {
        // Reference values of splitmix64 seeded with 0 (Vigna's published generator).
        let mut s = 0u64;
        assert_eq!(splitmix64(&mut s), 0xe220_a839_7b1d_cdaf);
        assert_eq!(splitmix64(&mut s), 0x6e78_9e6a_a1b9_65f4);
    }
}
