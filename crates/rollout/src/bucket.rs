//! Sticky bucketing, compatible with Unleash's gradual rollout and variant assignment.

use std::io::{Cursor, Read};

/// Seed of Unleash's variant normalisation (multi-arm splits).
pub const VARIANT_SEED: u32 = 86_028_157;

/// The user id used when a state has no `user_id` attribute (the guide's behaviour).
pub const DEFAULT_USER: &str = "default";

/// murmur3 x86 32-bit of the UTF-8 bytes of `"{group}:{user}"`.
#[must_use]
pub fn hash(group: &str, user: &str, seed: u32) -> u32 {
    // Ids are hashed as UTF-8 bytes, as Unleash's Rust engine does. Short keys are assembled on
    // the stack so that hashing allocates nothing; long ones are streamed in pieces.
    let len = group.len() + 1 + user.len();
    let mut buf = [0u8; 256];
    let result = if len <= buf.len() {
        buf[..group.len()].copy_from_slice(group.as_bytes());
        buf[group.len()] = b':';
        buf[group.len() + 1..len].copy_from_slice(user.as_bytes());
        murmur3::murmur3_32(&mut Cursor::new(&buf[..len]), seed)
    } else {
        let mut reader = group.as_bytes().chain(&b":"[..]).chain(user.as_bytes());
        murmur3::murmur3_32(&mut reader, seed)
    };
    // Reading from memory cannot fail.
    result.unwrap_or(0)
}

/// `hash(group, user, seed) % modulus + 1`: Unleash's normalisation, in `1..=modulus`
/// (a modulus of 0 is read as 1).
#[must_use]
pub fn normalized(group: &str, user: &str, seed: u32, modulus: u32) -> u32 {
    hash(group, user, seed) % modulus.max(1) + 1
}

/// The user's gradual-rollout bucket, in `1..=100`.
#[must_use]
pub fn bucket(group: &str, user: &str) -> u32 {
    normalized(group, user, 0, 100)
}

/// Whether the user is inside a rollout of `percent` (0 to 100): `bucket ≤ percent`. Raising the
/// percentage only adds users; 0 includes nobody, 100 everybody.
#[must_use]
pub fn in_rollout(group: &str, user: &str, percent: u32) -> bool {
    percent > 0 && bucket(group, user) <= percent
}

/// The index of the weighted variant (arm) the user falls in, Unleash's way: normalise with
/// [`VARIANT_SEED`] and the total weight, then take the first variant whose running weight
/// reaches it. `None` when every weight is 0.
#[must_use]
pub fn variant(group: &str, user: &str, weights: &[u32]) -> Option<usize> {
    variant_with_seed(group, user, weights, VARIANT_SEED)
}

/// [`variant`] with another seed. Seed 0 is the normalisation Unleash clients used for variants
/// before the dedicated variant seed (the client specification's `08-variants` cases).
#[must_use]
pub fn variant_with_seed(group: &str, user: &str, weights: &[u32], seed: u32) -> Option<usize> {
    let total: u32 = weights.iter().fold(0u32, |a, w| a.saturating_add(*w));
    if total == 0 {
        return None;
    }
    let target = normalized(group, user, seed, total);
    let mut running = 0u32;
    weights.iter().position(|w| {
        running = running.saturating_add(*w);
        running >= target
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_hash_like_short_ones() {
        let long = "u".repeat(1_000);
        let mut joined = String::from("group:");
        joined.push_str(&long);
        let direct = murmur3::murmur3_32(&mut Cursor::new(joined.as_bytes()), 0).unwrap_or(1);
        assert_eq!(hash("group", &long, 0), direct);
    }

    #[test]
    fn known_murmur3_values() {
        // Reference values of murmur3 x86 32 (seed 0): "" → 0, "a" → 0x3c2569b2.
        assert_eq!(
            murmur3::murmur3_32(&mut Cursor::new(b""), 0).unwrap_or(1),
            0
        );
        assert_eq!(
            murmur3::murmur3_32(&mut Cursor::new(b"a"), 0).unwrap_or(1),
            0x3c25_69b2
        );
    }

    #[test]
    fn zero_weights_assign_nothing() {
        assert_eq!(variant("g", "u", &[0, 0]), None);
        assert_eq!(variant("g", "u", &[]), None);
        assert_eq!(variant("g", "u", &[0, 5]), Some(1));
    }
}
