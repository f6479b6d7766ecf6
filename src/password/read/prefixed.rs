//! Text that starts with an LDAP-style `{SCHEME}` (RFC 2307 and what directories added to it):
//! `{SSHA}`, `{SHA256}`, `{SMD5}`, … with the salt after the digest; `{CRYPT}` by what follows;
//! OpenLDAP's `{ARGON2}` and `{PBKDF2-SHA256}`; ForgeRock's `{PBKDF2-HMAC-SHA256}`.

use super::{
    SaltGiven, base64_phc, base64_standard, malformed, modular, number, pbkdf2, salted_digest,
    unsupported,
};
use crate::password::{Digest, Hash, Uncarried};

/// Reads `{SCHEME}rest`; the scheme's letter case does not matter.
pub(super) fn read_prefixed(text: &str) -> Result<Hash, Uncarried> {
    let Some((scheme, rest)) = text.strip_prefix('{').and_then(|text| text.split_once('}')) else {
        return Err(Uncarried::Unknown);
    };
    if scheme.len() > 24 {
        return Err(Uncarried::Unknown);
    }
    let scheme = scheme.to_ascii_uppercase();
    let digest = |function: Option<Digest>, salt: SaltGiven| {
        let algorithm = format!("{{{scheme}}}");
        let bytes = base64_standard(rest)
            .ok_or_else(|| malformed(&algorithm, "the value is not base64"))?;
        salted_digest(&algorithm, function, bytes, salt)
    };
    match scheme.as_str() {
        "SHA" | "SHA1" => digest(Some(Digest::Sha1), SaltGiven::None),
        "SHA256" => digest(Some(Digest::Sha256), SaltGiven::None),
        "SHA512" => digest(Some(Digest::Sha512), SaltGiven::None),
        "MD5" => digest(None, SaltGiven::None),
        "SSHA" | "SSHA1" => digest(Some(Digest::Sha1), SaltGiven::AfterDigest),
        "SSHA256" => digest(Some(Digest::Sha256), SaltGiven::AfterDigest),
        "SSHA512" => digest(Some(Digest::Sha512), SaltGiven::AfterDigest),
        "SMD5" => digest(None, SaltGiven::AfterDigest),
        "SHA224" | "SHA384" | "SSHA224" | "SSHA384" => Err(unsupported(scheme.to_lowercase())),
        "CRYPT" | "BCRYPT" => crypt(rest),
        "ARGON2" if rest.starts_with('$') => modular::read_modular(rest),
        "PBKDF2" | "PBKDF2-SHA1" | "PBKDF2-HMAC-SHA1" => pbkdf2_scheme(&scheme, Digest::Sha1, rest),
        "PBKDF2-SHA256" | "PBKDF2-HMAC-SHA256" => pbkdf2_scheme(&scheme, Digest::Sha256, rest),
        "PBKDF2-SHA512" | "PBKDF2-HMAC-SHA512" => pbkdf2_scheme(&scheme, Digest::Sha512, rest),
        "CLEARTEXT" | "CLEAR" | "PLAIN" => Err(unsupported("cleartext (not a hash)")),
        _ => Err(Uncarried::Unknown),
    }
}

/// `{CRYPT}` holds a crypt(3) string: bcrypt carries, the rest is named.
fn crypt(rest: &str) -> Result<Hash, Uncarried> {
    if rest.starts_with('$') {
        return match modular::read_modular(rest) {
            Err(Uncarried::Unknown) => Err(unsupported("crypt(3)")),
            other => other,
        };
    }
    if rest.starts_with('_') {
        return Err(unsupported("BSDi extended DES crypt"));
    }
    if rest.len() == 13 {
        return Err(unsupported("DES crypt"));
    }
    Err(unsupported("crypt(3)"))
}

/// Two layouts share these names: ForgeRock's (and OpenDJ's) `iterations:base64(key ‖ salt)`,
/// whose key is as long as the HMAC's digest, and OpenLDAP's `iterations$salt$hash` in the
/// adapted base64 of passlib.
fn pbkdf2_scheme(scheme: &str, function: Digest, rest: &str) -> Result<Hash, Uncarried> {
    let algorithm = format!("{{{scheme}}}");
    if let Some((iterations, blob)) = rest.split_once(':') {
        let iterations = number(iterations)
            .ok_or_else(|| malformed(&algorithm, "the iteration count is not a number"))?;
        let blob = base64_standard(blob)
            .ok_or_else(|| malformed(&algorithm, "the value is not base64"))?;
        let key_length = function.output_len();
        if blob.len() <= key_length {
            return Err(malformed(&algorithm, "no salt after the derived key"));
        }
        let (key, salt) = blob.split_at(key_length);
        return pbkdf2(
            &algorithm,
            function,
            Some(iterations),
            salt.to_vec(),
            key.to_vec(),
        );
    }
    let fields: Vec<&str> = rest.split('$').collect();
    let [iterations, salt, hash] = fields[..] else {
        return Err(malformed(
            &algorithm,
            "neither `iterations:value` nor `iterations$salt$hash`",
        ));
    };
    let iterations = number(iterations)
        .ok_or_else(|| malformed(&algorithm, "the iteration count is not a number"))?;
    let salt = base64_phc(salt).ok_or_else(|| malformed(&algorithm, "the salt is not base64"))?;
    let hash = base64_phc(hash).ok_or_else(|| malformed(&algorithm, "the hash is not base64"))?;
    pbkdf2(&algorithm, function, Some(iterations), salt, hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{HashConfig, PasswordInput, Salt, b64, read};

    fn text(text: &str) -> Result<Hash, Uncarried> {
        read(&PasswordInput::text(text))
    }

    #[test]
    fn salted_schemes_keep_the_salt_after_the_digest() {
        for (scheme, function, length) in [
            ("SSHA", Some(Digest::Sha1), 20),
            ("ssha256", Some(Digest::Sha256), 32),
            ("SSHA512", Some(Digest::Sha512), 64),
            ("SMD5", None, 16),
        ] {
            let mut bytes = vec![5u8; length];
            bytes.extend(b"salt!");
            // Written without padding: the contract's value is padded.
            let written = b64(&bytes).trim_end_matches('=').to_string();
            let hash = text(&format!("{{{scheme}}}{written}")).unwrap();
            assert_eq!(hash.value, b64(&bytes), "{scheme}");
            let salt = Salt::AfterDigest(5);
            let expected = match function {
                Some(function) => HashConfig::Sha { function, salt },
                None => HashConfig::Md5 { salt },
            };
            assert_eq!(hash.config, expected, "{scheme}");
            let unsalted = b64(&vec![5u8; length]);
            assert!(
                matches!(
                    text(&format!("{{{scheme}}}{unsalted}")),
                    Err(Uncarried::Malformed { .. })
                ),
                "{scheme} without salt"
            );
        }
    }

    #[test]
    fn unsalted_schemes_hold_the_digest_alone() {
        for (scheme, function, length) in [
            ("SHA", Some(Digest::Sha1), 20),
            ("SHA256", Some(Digest::Sha256), 32),
            ("sha512", Some(Digest::Sha512), 64),
            ("MD5", None, 16),
        ] {
            let digest = b64(&vec![6u8; length]);
            let hash = text(&format!("{{{scheme}}}{digest}")).unwrap();
            assert_eq!(hash.value, digest);
            let expected = match function {
                Some(function) => HashConfig::Sha {
                    function,
                    salt: Salt::None,
                },
                None => HashConfig::Md5 { salt: Salt::None },
            };
            assert_eq!(hash.config, expected);
            let longer = b64(&vec![6u8; length + 1]);
            assert!(text(&format!("{{{scheme}}}{longer}")).is_err());
        }
        assert!(matches!(
            text("{SHA}not base64!"),
            Err(Uncarried::Malformed { .. })
        ));
    }

    #[test]
    fn crypt_is_read_by_what_follows() {
        let bcrypt = "$2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        assert_eq!(text(&format!("{{CRYPT}}{bcrypt}")).unwrap().value, bcrypt);
        for (crypt, algorithm) in [
            ("{CRYPT}$1$salt$hash", "md5-crypt"),
            ("{crypt}$6$salt$hash", "sha512-crypt"),
            ("{CRYPT}abJnggxhB/yWI", "DES crypt"),
            ("{CRYPT}_J9..CCCCXBrJUJV154M", "BSDi extended DES crypt"),
            ("{CRYPT}$qq$x", "crypt(3)"),
        ] {
            assert_eq!(
                text(crypt),
                Err(Uncarried::Unsupported {
                    algorithm: algorithm.into()
                }),
                "{crypt}"
            );
        }
    }

    #[test]
    fn forgerock_pbkdf2_holds_key_then_salt() {
        let key: Vec<u8> = (0..32).collect();
        let salt = vec![0xAB; 16];
        let blob = [key.clone(), salt.clone()].concat();
        let hash = text(&format!("{{PBKDF2-HMAC-SHA256}}10:{}", b64(&blob))).unwrap();
        assert_eq!(hash.value, b64(&key));
        assert_eq!(
            hash.config,
            HashConfig::Pbkdf2 {
                function: Digest::Sha256,
                iterations: 10,
                key_length: 32,
                salt
            }
        );
        assert!(matches!(
            text(&format!("{{PBKDF2-HMAC-SHA256}}0:{}", b64(&blob))),
            Err(Uncarried::Malformed { .. })
        ));
        assert!(matches!(
            text(&format!("{{PBKDF2-HMAC-SHA512}}10:{}", b64(&blob))),
            Err(Uncarried::Malformed { .. })
        ));
    }

    #[test]
    fn openldap_pbkdf2_and_argon2() {
        let hash =
            text("{PBKDF2-SHA512}10000$zcPtzpsN1D/Cih5HqV5A3A$kBUcBrwsdkl1nF1C0DO/jA").unwrap();
        assert!(matches!(
            hash.config,
            HashConfig::Pbkdf2 {
                function: Digest::Sha512,
                iterations: 10000,
                key_length: 16,
                ..
            }
        ));
        let argon2 = "{ARGON2}$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        assert_eq!(text(argon2).unwrap().config.method(), "argon2");
    }

    #[test]
    fn other_schemes() {
        assert_eq!(
            text("{CLEARTEXT}hunter2"),
            Err(Uncarried::Unsupported {
                algorithm: "cleartext (not a hash)".into()
            })
        );
        assert_eq!(
            text("{SSHA384}AAAA"),
            Err(Uncarried::Unsupported {
                algorithm: "ssha384".into()
            })
        );
        for unknown in ["{}x", "{NS-MTA-MD5}x", "{SSHA", "{ARGON2}plain"] {
            assert_eq!(text(unknown), Err(Uncarried::Unknown), "{unknown}");
        }
    }
}
