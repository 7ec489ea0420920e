//! Session ids: what they may contain, and the seed each one gets.

use crate::Error;

/// The longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Checks a session id: 1 to 128 bytes of ASCII letters, digits and `_ - . : @`, not starting
/// with `.`. The alphabet is safe in URLs, file names and Redis keys as it stands.
///
/// # Errors
///
/// [`Error::InvalidId`] saying what is wrong.
pub fn validate_id(id: &str) -> Result<(), Error> {
    let invalid = |reason: &str| {
        Err(Error::InvalidId {
            id: id.chars().take(MAX_ID_LEN).collect(),
            reason: reason.to_owned(),
        })
    };
    if id.is_empty() {
        return invalid("it is empty");
    }
    if id.len() > MAX_ID_LEN {
        return invalid(&format!(
            "it is {} bytes long; the limit is {MAX_ID_LEN}",
            id.len()
        ));
    }
    if id.starts_with('.') {
        return invalid("it starts with `.`");
    }
    if let Some(c) = id.chars().find(|c| !allowed(*c)) {
        return invalid(&format!(
            "it contains {c:?}; use ASCII letters, digits and `_ - . : @`"
        ));
    }
    Ok(())
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@')
}

/// FNV-1a: a stable hash of the id, the same on every machine and version (std's hasher is
/// seeded per process, so it cannot name a shard on disk or a seed in a snapshot).
pub(crate) fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The generator seed of a session: the config's seed for `primary` (so that it decides as a
/// single loop would), a mix of the seed and the id's hash for every other session.
pub(crate) fn session_seed(seed: u64, id: &str, primary: &str) -> u64 {
    if id == primary {
        return seed;
    }
    // SplitMix64's finaliser, so that ids differing in one byte get unrelated streams.
    let mut z = seed ^ id_hash(id);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_documented_alphabet() {
        for ok in [
            "default",
            "user:42",
            "a@b.c",
            "A-Z_09",
            &"x".repeat(MAX_ID_LEN),
        ] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "..",
            "a/b",
            "a b",
            "é",
            "a\0",
            &"x".repeat(MAX_ID_LEN + 1),
        ] {
            assert!(
                matches!(validate_id(bad), Err(Error::InvalidId { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn seeds_are_stable_and_distinct() {
        assert_eq!(session_seed(7, "default", "default"), 7);
        assert_ne!(
            session_seed(7, "a", "default"),
            session_seed(7, "b", "default")
        );
        assert_eq!(
            session_seed(7, "a", "default"),
            session_seed(7, "a", "default")
        );
        // Fixed across versions: a session created anew decides the same way on every build.
        assert_eq!(session_seed(7, "a", "default"), 0x0c55_6c99_7d01_e47b);
        assert_eq!(
            session_seed(0, "conversation-17", "default"),
            0xd7a2_ff72_0334_6d60
        );
        // The hash is fixed: files and snapshots name it across versions.
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(id_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
