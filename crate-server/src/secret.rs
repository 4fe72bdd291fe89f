//! Random identifiers and session secrets, from the operating system's CSPRNG (via `ring`).

use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// `bytes` random bytes as lowercase hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random source works");
    hex(&buf)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 16-hex-digit id (epochs, server ids): unique, not secret.
pub(crate) fn new_id() -> String {
    random_hex(8)
}

/// A session secret: 128 random bits as 32 hex digits, unguessable.
pub(crate) fn new_token() -> String {
    random_hex(16)
}

/// The scope a session token stands for: a SHA-256 digest (128 bits shown), so state
/// kept about a session (in memory or in Redis) never holds the token itself.
pub(crate) fn scope_of(token: &str) -> String {
    hex(&digest(&SHA256, token.as_bytes()).as_ref()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_and_scopes_are_stable_digests() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert_eq!(scope_of(&a), scope_of(&a));
        assert_ne!(scope_of(&a), scope_of(&b));
        assert!(!scope_of(&a).contains(&a));
    }
}
