//! PKCE (RFC 7636) with S256 only: plain would hand the verifier to anyone who sees the
//! authorization request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Checks the `code_challenge` / `code_challenge_method` pair of an authorization request.
pub fn validate_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<(), &'static str> {
    let challenge = challenge.ok_or("code_challenge is required (PKCE with S256)")?;
    match method {
        Some("S256") => {}
        None => {
            return Err(
                "code_challenge_method must be S256; an absent method means plain, which is not allowed",
            );
        }
        Some(_) => return Err("code_challenge_method must be S256"),
    }
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err("code_challenge must be the 43-character base64url SHA-256 of the verifier");
    }
    Ok(())
}

/// The S256 challenge of `verifier`: what a client sends for it (RFC 7636 4.2).
pub fn challenge_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` (43–128 unreserved characters) hashes to `challenge` under S256.
pub fn verify(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = challenge_s256(verifier);
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc_7636_appendix_b_vector_verifies() {
        assert!(verify(VERIFIER, CHALLENGE));
        assert!(!verify(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            CHALLENGE
        ));
    }

    #[test]
    fn verifiers_outside_the_grammar_fail() {
        assert!(!verify("short", CHALLENGE));
        assert!(!verify(&"a".repeat(129), CHALLENGE));
    }

    #[test]
    fn only_s256_challenges_are_accepted() {
        assert!(validate_challenge(Some(CHALLENGE), Some("S256")).is_ok());
        assert!(validate_challenge(Some(CHALLENGE), None).is_err());
        assert!(validate_challenge(Some(CHALLENGE), Some("plain")).is_err());
        assert!(validate_challenge(None, Some("S256")).is_err());
        assert!(validate_challenge(Some("too-short"), Some("S256")).is_err());
    }
}
