//! Keycloak's `password` credential: `credentialData.algorithm` and `hashIterations`,
//! `secretData.value` and `salt` (standard base64), and for argon2 the `additionalParameters`.

use super::{
    Argon2Costs, argon2, base64_standard, malformed, number, pbkdf2, shown_name, unsupported,
};
use crate::password::{Digest, Hash, KeycloakHash, Uncarried};

/// Reads a Keycloak credential: `pbkdf2` (HMAC-SHA1), `pbkdf2-sha256`, `pbkdf2-sha512` with any
/// key length, and `argon2` of `type` `id` and `version` `1.3`.
pub(super) fn read_keycloak(hash: &KeycloakHash) -> Result<Hash, Uncarried> {
    let algorithm = hash.algorithm.trim();
    let function = match algorithm {
        "pbkdf2" => Some(Digest::Sha1),
        "pbkdf2-sha256" => Some(Digest::Sha256),
        "pbkdf2-sha512" => Some(Digest::Sha512),
        "argon2" => None,
        other => {
            return Err(unsupported(match shown_name(other) {
                Some(name) => format!("Keycloak {name}"),
                None => "Keycloak (an unnamed algorithm)".into(),
            }));
        }
    };
    let label = format!("Keycloak {algorithm}");
    let value = base64_standard(hash.value.trim())
        .ok_or_else(|| malformed(&label, "the value is not base64"))?;
    let salt = base64_standard(hash.salt.trim())
        .ok_or_else(|| malformed(&label, "the salt is not base64"))?;
    match function {
        Some(function) => pbkdf2(&label, function, hash.iterations, salt, value),
        None => keycloak_argon2(&label, hash, salt, value),
    }
}

fn keycloak_argon2(
    label: &str,
    hash: &KeycloakHash,
    salt: Vec<u8>,
    value: Vec<u8>,
) -> Result<Hash, Uncarried> {
    let parameter = |name: &str| hash.parameters.get(name).map(|value| value.trim());
    match parameter("type") {
        Some("id") => {}
        Some("i") => return Err(unsupported("argon2i")),
        Some("d") => return Err(unsupported("argon2d")),
        Some(_) => return Err(malformed(label, "an unknown `type`")),
        None => return Err(malformed(label, "no `type`")),
    }
    match parameter("version") {
        Some("1.3") => {}
        Some("1.0") => return Err(unsupported("argon2id version 16")),
        Some(_) => return Err(malformed(label, "an unknown `version`")),
        None => return Err(malformed(label, "no `version`")),
    }
    let numeric = |name: &str| -> Result<u64, Uncarried> {
        let text = parameter(name).ok_or_else(|| malformed(label, format!("no `{name}`")))?;
        number(text).ok_or_else(|| malformed(label, format!("`{name}` is not a number")))
    };
    let hash_length = numeric("hashLength")?;
    if hash_length != value.len() as u64 {
        return Err(malformed(label, "`hashLength` is not the value's length"));
    }
    argon2(
        label,
        Argon2Costs {
            iterations: hash.iterations,
            memory_kib: Some(numeric("memory")?),
            parallelism: Some(numeric("parallelism")?),
        },
        salt,
        value,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{HashConfig, PasswordInput, b64, read};
    use std::collections::BTreeMap;

    fn keycloak(hash: KeycloakHash) -> Result<Hash, Uncarried> {
        read(&PasswordInput::Keycloak(hash))
    }

    fn pbkdf2_credential(algorithm: &str, key_length: usize) -> KeycloakHash {
        KeycloakHash {
            algorithm: algorithm.into(),
            iterations: Some(27500),
            value: b64(&vec![1; key_length]),
            salt: b64(&[2; 16]),
            parameters: BTreeMap::new(),
        }
    }

    fn argon2_credential() -> KeycloakHash {
        let parameters = [
            ("type", "id"),
            ("version", "1.3"),
            ("hashLength", "32"),
            ("memory", "7168"),
            ("parallelism", "1"),
        ];
        KeycloakHash {
            algorithm: "argon2".into(),
            iterations: Some(5),
            value: b64(&[3; 32]),
            salt: b64(&[4; 16]),
            parameters: parameters
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        }
    }

    #[test]
    fn pbkdf2_with_each_hmac_and_any_key_length() {
        for (algorithm, function) in [
            ("pbkdf2", Digest::Sha1),
            ("pbkdf2-sha256", Digest::Sha256),
            ("pbkdf2-sha512", Digest::Sha512),
        ] {
            for key_length in [20, 32, 64] {
                let hash = keycloak(pbkdf2_credential(algorithm, key_length)).unwrap();
                assert_eq!(hash.value, b64(&vec![1; key_length]));
                assert_eq!(
                    hash.config,
                    HashConfig::Pbkdf2 {
                        function,
                        iterations: 27500,
                        key_length: key_length as u32,
                        salt: vec![2; 16]
                    }
                );
            }
        }
    }

    #[test]
    fn broken_pbkdf2_credentials_are_malformed() {
        let mut no_iterations = pbkdf2_credential("pbkdf2-sha256", 32);
        no_iterations.iterations = None;
        let mut zero = pbkdf2_credential("pbkdf2-sha256", 32);
        zero.iterations = Some(0);
        let mut huge = pbkdf2_credential("pbkdf2-sha256", 32);
        huge.iterations = Some(u64::from(u32::MAX) + 1);
        let mut bad_salt = pbkdf2_credential("pbkdf2-sha256", 32);
        bad_salt.salt = "not base64!".into();
        let mut empty = pbkdf2_credential("pbkdf2-sha256", 32);
        empty.value = String::new();
        for credential in [no_iterations, zero, huge, bad_salt, empty] {
            assert!(matches!(
                keycloak(credential),
                Err(Uncarried::Malformed { .. })
            ));
        }
    }

    #[test]
    fn argon2id_version_1_3_carries() {
        let hash = keycloak(argon2_credential()).unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Argon2 {
                iterations: 5,
                memory_kib: 7168,
                parallelism: 1,
                key_length: 32,
                salt: vec![4; 16]
            }
        );
        assert_eq!(hash.value, b64(&[3; 32]));
    }

    #[test]
    fn other_argon2_types_and_versions_do_not() {
        let with = |key: &str, value: &str| {
            let mut credential = argon2_credential();
            credential.parameters.insert(key.into(), value.into());
            keycloak(credential)
        };
        assert_eq!(with("type", "i"), Err(unsupported("argon2i")));
        assert_eq!(with("type", "d"), Err(unsupported("argon2d")));
        assert_eq!(
            with("version", "1.0"),
            Err(unsupported("argon2id version 16"))
        );
        for (key, value) in [
            ("type", "x"),
            ("version", "2"),
            ("hashLength", "16"),
            ("memory", "lots"),
            ("parallelism", "0"),
            ("memory", "4"),
        ] {
            assert!(
                matches!(with(key, value), Err(Uncarried::Malformed { .. })),
                "{key}={value}"
            );
        }
        let mut missing = argon2_credential();
        missing.parameters.remove("memory");
        assert!(matches!(
            keycloak(missing),
            Err(Uncarried::Malformed { .. })
        ));
    }

    #[test]
    fn other_algorithms_are_named() {
        assert_eq!(
            keycloak(pbkdf2_credential("bcrypt", 32)),
            Err(unsupported("Keycloak bcrypt"))
        );
        assert_eq!(
            keycloak(pbkdf2_credential("", 32)),
            Err(unsupported("Keycloak (an unnamed algorithm)"))
        );
    }
}
