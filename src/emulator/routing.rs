//! Which version an invocation through an alias runs. Unseeded, each draw is random; with
//! `--seed` (`Config::seed`), every (function URN, alias) has its own generator seeded from
//! (seed, URN, alias), so the versions one alias picks depend only on the seed and the order
//! of the invocations through it, not on other aliases' traffic or on timing.

use std::collections::HashMap;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// The draws of alias routing.
pub(crate) struct Routing {
    seed: Option<u64>,
    /// One generator per (function URN, alias), made on its first draw.
    generators: Mutex<HashMap<(String, String), StdRng>>,
}

impl Routing {
    pub fn new(seed: Option<u64>) -> Self {
        Routing {
            seed,
            generators: Mutex::default(),
        }
    }

    /// A whole percentage in `0..100` for the next invocation through `alias` of `urn`.
    pub fn percent(&self, urn: &str, alias: &str) -> i64 {
        let Some(seed) = self.seed else {
            return rand::thread_rng().gen_range(0..100);
        };
        let mut generators = self.generators.lock();
        generators
            .entry((urn.to_string(), alias.to_string()))
            .or_insert_with(|| StdRng::from_seed(derive(seed, urn, alias)))
            .gen_range(0..100)
    }

    /// Starts every seeded sequence over (`/_emulator/reset`).
    pub fn reset(&self) {
        self.generators.lock().clear();
    }
}

/// The generator seed of one alias: SHA-256 over the seed and the length-prefixed URN and
/// alias (so `("a:b", "c")` and `("a", "b:c")` differ).
fn derive(seed: u64, urn: &str, alias: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(seed.to_le_bytes());
    for part in [urn, alias] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(r: &Routing, urn: &str, alias: &str, n: usize) -> Vec<i64> {
        (0..n).map(|_| r.percent(urn, alias)).collect()
    }

    #[test]
    fn seeded_sequences_depend_on_seed_urn_and_alias_only() {
        let a = Routing::new(Some(7));
        let b = Routing::new(Some(7));
        // Interleaving another alias's draws does not shift this alias's sequence.
        let first = draws(&a, "urn:f", "prod", 50);
        let _ = draws(&b, "urn:f", "beta", 13);
        assert_eq!(draws(&b, "urn:f", "prod", 50), first);
        assert_ne!(draws(&Routing::new(Some(8)), "urn:f", "prod", 50), first);
        assert_ne!(draws(&Routing::new(Some(7)), "urn:g", "prod", 50), first);
        assert_ne!(derive(7, "a:b", "c"), derive(7, "a", "b:c"));
        assert!(first.iter().all(|p| (0..100).contains(p)));
        a.reset();
        assert_eq!(draws(&a, "urn:f", "prod", 50), first, "reset starts over");
    }

    #[test]
    fn unseeded_draws_are_random() {
        let r = Routing::new(None);
        // 50 equal draws in a row from two independent sequences: about 1 in 10^100.
        assert_ne!(draws(&r, "urn:f", "prod", 50), draws(&r, "urn:f", "prod", 50));
    }
}
