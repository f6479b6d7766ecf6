//! The hash reader: a source's password ([`PasswordInput`]) → the contract's [`Hash`](struct@Hash), or the
//! reason it cannot be carried ([`Uncarried`]). Pure, total (never panics), and fuzzed.

use super::{Hash, HashConfig, PasswordInput, Uncarried};

/// Reads a source's password hash.
///
/// `Ok` only for a hash the service verifies as the contract describes; anything else is an
/// [`Uncarried`] reason that names the algorithm but never repeats the hash.
pub fn read(input: &PasswordInput) -> Result<Hash, Uncarried> {
    match input {
        PasswordInput::Text { text, .. } => read_text(text.trim()),
        PasswordInput::Keycloak(hash) => Err(Uncarried::Unsupported {
            algorithm: format!("Keycloak {}", hash.algorithm),
        }),
        PasswordInput::FirebaseScrypt => Err(Uncarried::Unsupported {
            algorithm: "scrypt (Firebase)".into(),
        }),
    }
}

fn read_text(text: &str) -> Result<Hash, Uncarried> {
    if let Some(rest) = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
    {
        return bcrypt(text, rest);
    }
    Err(Uncarried::Unknown)
}

/// `$2b$` `NN$` then 22 characters of salt and 31 of hash in bcrypt's base64 alphabet.
fn bcrypt(text: &str, rest: &str) -> Result<Hash, Uncarried> {
    let malformed = |why: &str| Uncarried::Malformed {
        algorithm: "bcrypt".into(),
        why: why.into(),
    };
    let (cost, tail) = rest
        .split_once('$')
        .ok_or_else(|| malformed("no `$` after the cost"))?;
    let cost: u32 = match cost.as_bytes() {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            u32::from((a - b'0') * 10 + (b - b'0'))
        }
        _ => return Err(malformed("the cost is not two digits")),
    };
    if !(4..=31).contains(&cost) {
        return Err(malformed("the cost is not between 04 and 31"));
    }
    if tail.len() != 53 {
        return Err(malformed("salt and hash are not 53 characters"));
    }
    if !tail
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'/')
    {
        return Err(malformed("a character outside bcrypt's alphabet"));
    }
    Ok(Hash {
        value: text.to_string(),
        config: HashConfig::Bcrypt { cost },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

    #[test]
    fn bcrypt_carries_its_text_and_cost() {
        let hash = read(&PasswordInput::text(BCRYPT)).unwrap();
        assert_eq!(hash.value, BCRYPT);
        assert_eq!(hash.config, HashConfig::Bcrypt { cost: 10 });
        assert_eq!(
            hash.to_payload(),
            serde_json::json!({"hashed_password": {"value": BCRYPT, "config": {"method": "bcrypt", "bcrypt": {"cost": 10}}}})
        );
    }

    #[test]
    fn broken_bcrypt_is_malformed_and_never_echoed() {
        let broken = &BCRYPT[..BCRYPT.len() - 1];
        let error = read(&PasswordInput::text(broken)).unwrap_err();
        assert!(matches!(error, Uncarried::Malformed { .. }));
        assert!(!error.to_string().contains(&broken[7..]));
    }

    #[test]
    fn firebase_scrypt_is_never_carried() {
        assert!(matches!(
            read(&PasswordInput::FirebaseScrypt),
            Err(Uncarried::Unsupported { .. })
        ));
    }

    #[test]
    fn debug_hides_the_hash() {
        let input = PasswordInput::text(BCRYPT);
        assert!(!format!("{input:?}").contains("N9qo8"));
        let hash = read(&input).unwrap();
        assert!(!format!("{hash:?}").contains("N9qo8"));
    }
}
