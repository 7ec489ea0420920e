//! Sticky bucketing, compatible with Unleash's gradual rollout and variant assignment.

/// Seed of Unleash's variant normalisation (multi-arm splits).
pub const VARIANT_SEED: u32 = 86_028_157;

/// The user id used when a state has no `user_id` attribute (the guide's behaviour).
pub const DEFAULT_USER: &str = "default";

/// murmur3 x86 32-bit of the UTF-8 bytes of `"{group}:{user}"`.
#[must_use]
pub fn hash(group: &str, user: &str, seed: u32) -> u32 {
    // Ids are hashed as UTF-8 bytes, as Unleash's Rust engine does. Keys up to 256 bytes are
    // assembled on the stack so that hashing allocates nothing; longer ones are streamed.
    let len = group.len() + 1 + user.len();
    let mut buf = [0u8; 256];
    if len <= buf.len() {
        buf[..group.len()].copy_from_slice(group.as_bytes());
        buf[group.len()] = b':';
        buf[group.len() + 1..len].copy_from_slice(user.as_bytes());
        mur3::murmurhash3_x86_32(&buf[..len], seed)
    } else {
        let mut hasher = mur3::Hasher32::with_seed(seed);
        std::hash::Hasher::write(&mut hasher, group.as_bytes());
        std::hash::Hasher::write(&mut hasher, b":");
        std::hash::Hasher::write(&mut hasher, user.as_bytes());
        hasher.finish32()
    }
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
        for n in [200, 254, 255, 256, 1_000] {
            let long = "u".repeat(n);
            let joined = format!("group:{long}");
            assert_eq!(
                hash("group", &long, 0),
                mur3::murmurhash3_x86_32(joined.as_bytes(), 0),
                "{n}"
            );
        }
    }

    #[test]
    fn known_murmur3_values() {
        // Reference values of murmur3 x86 32: "" → 0 (seed 0), "a" → 0x3c2569b2,
        // "Hello, world!" with seed 1234 → 0xfaf6cdb3.
        assert_eq!(mur3::murmurhash3_x86_32(b"", 0), 0);
        assert_eq!(mur3::murmurhash3_x86_32(b"a", 0), 0x3c25_69b2);
        assert_eq!(
            mur3::murmurhash3_x86_32(b"Hello, world!", 1234),
            0xfaf6_cdb3
        );
    }

    #[test]
    fn zero_weights_assign_nothing() {
        assert_eq!(variant("g", "u", &[0, 0]), None);
        assert_eq!(variant("g", "u", &[]), None);
        assert_eq!(variant("g", "u", &[0, 5]), Some(1));
    }
}
