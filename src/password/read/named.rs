//! Hashes named by their text's first word (Django's `algorithm$…` forms) or by the source
//! (Clerk's `password_hasher` and the like), including bare hex or base64 digests.

use super::{
    SaltGiven, base64_standard, hex_bytes, malformed, modular, number, pbkdf2, prefixed, read_text,
    salted_digest, shown_name, unsupported,
};
use crate::password::{Digest, Hash, Uncarried};

/// Django's `algorithm$…` encodings (`django.contrib.auth.hashers`).
pub(super) fn read_django(text: &str) -> Result<Hash, Uncarried> {
    let Some((name, rest)) = text.split_once('$') else {
        return Err(Uncarried::Unknown);
    };
    match name {
        "pbkdf2_sha256" => django_pbkdf2("pbkdf2_sha256", Digest::Sha256, rest, Encoding::Base64),
        "pbkdf2_sha1" => django_pbkdf2("pbkdf2_sha1", Digest::Sha1, rest, Encoding::Base64),
        // `argon2$argon2id$v=19$…`: Django puts its name before the PHC string.
        "argon2" => modular::read_modular(&format!("${rest}")),
        // `bcrypt$$2b$…`: plain bcrypt after Django's name.
        "bcrypt" => expect_method("bcrypt", modular::read_modular(rest)),
        "bcrypt_sha256" => Err(unsupported("bcrypt_sha256 (Django)")),
        "scrypt" => Err(unsupported("scrypt")),
        "crypt" => Err(unsupported("crypt (Django)")),
        // `sha1$salt$hex` is H(salt ‖ password): only the unsalted form fits the contract.
        "sha1" | "md5" => match rest.split_once('$') {
            Some(("", digest)) => bare_digest(name, digest_function(name), digest),
            Some(_) => Err(unsupported(format!(
                "{name} (Django, salt before the password)"
            ))),
            None => Err(malformed(name, "not `salt$digest`")),
        },
        "unsalted_sha1" | "unsalted_md5" => match rest.strip_prefix('$') {
            Some(digest) => bare_digest(name, digest_function(&name[9..]), digest),
            None => Err(malformed(name, "not `$digest`")),
        },
        _ => Err(Uncarried::Unknown),
    }
}

/// Hash text with the source's name of its algorithm (Clerk's `password_hasher`, a generic
/// CSV's hasher column). The name decides how the text is read; text in a self-describing
/// form must then be of that algorithm.
pub(super) fn read_named(text: &str, hasher: &str) -> Result<Hash, Uncarried> {
    let name = hasher.to_ascii_lowercase();
    match name.as_str() {
        "bcrypt" => expect_method("bcrypt", read_text(text)),
        "argon2id" | "argon2" => expect_method("argon2", read_text(text)),
        "argon2i" | "argon2d" => Err(unsupported(name)),
        "md5" | "sha1" | "sha256" | "sha512" => {
            if text.starts_with('{') || text.starts_with('$') {
                expect_method(digest_method(&name), read_text(text))
            } else {
                bare_digest(&name, digest_function(&name), text)
            }
        }
        // Clerk: both salt and hash base64.
        "pbkdf2_sha256" => clerk_pbkdf2(&name, Digest::Sha256, text, Encoding::Base64),
        "pbkdf2_sha512" => clerk_pbkdf2(&name, Digest::Sha512, text, Encoding::Base64),
        // Django's form: the salt as it is, the hash base64 (sha256) or hex (Clerk's sha1).
        "pbkdf2_sha256_django" => match text.strip_prefix("pbkdf2_sha256$") {
            Some(rest) => django_pbkdf2(&name, Digest::Sha256, rest, Encoding::Base64),
            None => Err(malformed(&name, "not `pbkdf2_sha256$iterations$salt$hash`")),
        },
        "pbkdf2_sha1" => match text.strip_prefix("pbkdf2_sha1$") {
            Some(rest) => django_pbkdf2(&name, Digest::Sha1, rest, Encoding::Hex),
            None => Err(malformed(&name, "not `pbkdf2_sha1$iterations$salt$hash`")),
        },
        "ldap_ssha" => {
            if text.starts_with('{') {
                expect_method("sha", read_text(text))
            } else {
                prefixed::read_prefixed(&format!("{{SSHA}}{text}"))
            }
        }
        "md5_salted" | "sha256_salted" => Err(unsupported(format!(
            "{name} (Clerk; where the salt goes is not documented)"
        ))),
        "phpass" | "md5_phpass" => Err(unsupported("phpass")),
        "scrypt_firebase" => Err(unsupported("scrypt (Firebase)")),
        "scrypt_werkzeug" => Err(unsupported("scrypt (Werkzeug)")),
        "bcrypt_sha256_django" => Err(unsupported("bcrypt_sha256 (Django)")),
        "bcrypt_peppered" => Err(unsupported("bcrypt with a pepper")),
        "hmac_sha256_utf16_b64" => Err(unsupported("HMAC with a secret key")),
        "sha512_symfony" => Err(unsupported("sha512 (Symfony, iterated)")),
        "awscognito" => Err(unsupported("AWS Cognito (no hash is exported)")),
        "scrypt" => Err(unsupported("scrypt")),
        _ if name.contains("scrypt") => Err(unsupported(match shown_name(&name) {
            Some(name) => format!("scrypt ({name})"),
            None => "scrypt".into(),
        })),
        // A name poolsync does not know: the text may still say what it is.
        _ => read_text(text),
    }
}

/// How a hash (the derived key) is written.
#[derive(Clone, Copy)]
enum Encoding {
    Base64,
    Hex,
}

/// `iterations$salt$hash` with the salt as it is (its UTF-8 bytes).
fn django_pbkdf2(
    algorithm: &str,
    function: Digest,
    rest: &str,
    encoding: Encoding,
) -> Result<Hash, Uncarried> {
    let fields: Vec<&str> = rest.split('$').collect();
    let [iterations, salt, hash] = fields[..] else {
        return Err(malformed(algorithm, "not `iterations$salt$hash`"));
    };
    if salt.is_empty() {
        return Err(malformed(algorithm, "an empty salt"));
    }
    let key = decode(algorithm, hash, encoding)?;
    pbkdf2(
        algorithm,
        function,
        iterations_of(algorithm, iterations)?,
        salt.as_bytes().to_vec(),
        key,
    )
}

/// Clerk's `pbkdf2_sha256$iterations$salt$hash` with salt and hash base64.
fn clerk_pbkdf2(
    algorithm: &str,
    function: Digest,
    text: &str,
    encoding: Encoding,
) -> Result<Hash, Uncarried> {
    let fields: Vec<&str> = text.split('$').collect();
    let [name, iterations, salt, hash] = fields[..] else {
        return Err(malformed(algorithm, "not `name$iterations$salt$hash`"));
    };
    if !name.eq_ignore_ascii_case(algorithm) {
        return Err(malformed(algorithm, "the text names another algorithm"));
    }
    let salt =
        base64_standard(salt).ok_or_else(|| malformed(algorithm, "the salt is not base64"))?;
    let key = decode(algorithm, hash, encoding)?;
    pbkdf2(
        algorithm,
        function,
        iterations_of(algorithm, iterations)?,
        salt,
        key,
    )
}

fn iterations_of(algorithm: &str, text: &str) -> Result<Option<u64>, Uncarried> {
    match number(text) {
        Some(count) => Ok(Some(count)),
        None => Err(malformed(algorithm, "the iteration count is not a number")),
    }
}

fn decode(algorithm: &str, text: &str, encoding: Encoding) -> Result<Vec<u8>, Uncarried> {
    match encoding {
        Encoding::Base64 => {
            base64_standard(text).ok_or_else(|| malformed(algorithm, "the hash is not base64"))
        }
        Encoding::Hex => hex_bytes(text).ok_or_else(|| malformed(algorithm, "the hash is not hex")),
    }
}

/// `sha1` → SHA-1, …; `md5` → `None` (the contract's `md5` method).
fn digest_function(name: &str) -> Option<Digest> {
    Digest::from_name(name)
}

fn digest_method(name: &str) -> &'static str {
    if digest_function(name).is_some() {
        "sha"
    } else {
        "md5"
    }
}

/// An unsalted digest written as hex or as base64.
fn bare_digest(algorithm: &str, function: Option<Digest>, text: &str) -> Result<Hash, Uncarried> {
    let length = function.map_or(16, Digest::output_len);
    let bytes = if text.len() == 2 * length {
        hex_bytes(text)
    } else {
        base64_standard(text)
    };
    let bytes =
        bytes.ok_or_else(|| malformed(algorithm, "the digest is neither hex nor base64"))?;
    salted_digest(algorithm, function, bytes, SaltGiven::None)
}

/// The text read as a hash of `method`, or why it is not.
fn expect_method(method: &str, read: Result<Hash, Uncarried>) -> Result<Hash, Uncarried> {
    match read {
        Ok(hash) if hash.config.method() == method => Ok(hash),
        Ok(hash) => Err(malformed(
            method,
            format!("the text is a {} hash", hash.config.method()),
        )),
        Err(Uncarried::Unknown) => Err(malformed(method, format!("not a {method} hash"))),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::{HashConfig, PasswordInput, Salt, b64, read};

    fn text(text: &str) -> Result<Hash, Uncarried> {
        read(&PasswordInput::text(text))
    }

    fn named(text: &str, hasher: &str) -> Result<Hash, Uncarried> {
        read(&PasswordInput::Text {
            text: text.into(),
            hasher: Some(hasher.into()),
        })
    }

    // Django's form: iterations, the salt as text, standard base64 of the key.
    const DJANGO: &str =
        "pbkdf2_sha256$870000$OI7WLTDWhCuUjfmVYvVtQm$cIl98FQkTIr0fc61ZkvDpDYtw64OprmRmuinPjrgEgA=";

    #[test]
    fn django_pbkdf2_keeps_the_salt_as_text() {
        let hash = text(DJANGO).unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Pbkdf2 {
                function: Digest::Sha256,
                iterations: 870_000,
                key_length: 32,
                salt: b"OI7WLTDWhCuUjfmVYvVtQm".to_vec(),
            }
        );
        assert_eq!(hash.value, "cIl98FQkTIr0fc61ZkvDpDYtw64OprmRmuinPjrgEgA=");
        assert_eq!(named(DJANGO, "pbkdf2_sha256_django").unwrap(), hash);
        for broken in [
            DJANGO.replace("870000", "0"),
            DJANGO.replace("870000", "many"),
            DJANGO.replace("OI7WLTDWhCuUjfmVYvVtQm", ""),
            DJANGO.replace("cIl98", "c!l98"),
            DJANGO.replace("$cIl98", "$x$cIl98"),
        ] {
            assert!(
                matches!(text(&broken), Err(Uncarried::Malformed { .. })),
                "{broken}"
            );
        }
    }

    #[test]
    fn django_other_forms() {
        let argon2 =
            "argon2$argon2id$v=19$m=102400,t=2,p=8$c29tZXNhbHRzb21l$2pSz+SM8dI1JdXs8tcDS6A";
        assert!(matches!(
            text(argon2).unwrap().config,
            HashConfig::Argon2 {
                memory_kib: 102400,
                iterations: 2,
                parallelism: 8,
                key_length: 16,
                ..
            }
        ));
        let bcrypt = "$2b$12$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        assert_eq!(text(&format!("bcrypt${bcrypt}")).unwrap().value, bcrypt);
        assert_eq!(
            text("sha1$a1976$2ea6a4ebb5d0ac0b2a5a8a3bc2f7b8b6c1f4d6a1"),
            Err(unsupported("sha1 (Django, salt before the password)"))
        );
        let unsalted = text("unsalted_sha1$$5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8").unwrap();
        assert_eq!(
            unsalted.config,
            HashConfig::Sha {
                function: Digest::Sha1,
                salt: Salt::None
            }
        );
        assert_eq!(
            unsalted.value,
            b64(&hex::decode("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8").unwrap())
        );
        let md5 = text("md5$$5f4dcc3b5aa765d61d8327deb882cf99").unwrap();
        assert_eq!(md5.config, HashConfig::Md5 { salt: Salt::None });
        assert_eq!(
            text("bcrypt_sha256$$2b$12$abc"),
            Err(unsupported("bcrypt_sha256 (Django)"))
        );
        assert_eq!(text("nothing$here"), Err(Uncarried::Unknown));
    }

    #[test]
    fn bare_digests_with_a_hasher_name_are_re_encoded_as_base64() {
        let md5_hex = "5f4dcc3b5aa765d61d8327deb882cf99";
        let hash = named(md5_hex, "md5").unwrap();
        assert_eq!(hash.value, b64(&hex::decode(md5_hex).unwrap()));
        assert_eq!(hash.config, HashConfig::Md5 { salt: Salt::None });
        // Upper-case hex and base64 give the same hash.
        assert_eq!(named(&md5_hex.to_uppercase(), "MD5").unwrap(), hash);
        assert_eq!(named(&hash.value, "md5").unwrap(), hash);
        let sha256_hex = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
        let hash = named(sha256_hex, "sha256").unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Sha {
                function: Digest::Sha256,
                salt: Salt::None
            }
        );
        assert_eq!(hash.value, b64(&hex::decode(sha256_hex).unwrap()));
        assert!(matches!(
            named(md5_hex, "sha256"),
            Err(Uncarried::Malformed { .. })
        ));
        assert!(matches!(
            named("zz", "sha1"),
            Err(Uncarried::Malformed { .. })
        ));
        // A self-describing text must be of the named algorithm.
        assert!(named(&format!("{{SHA256}}{}", b64(&[1; 32])), "sha256").is_ok());
        assert!(matches!(
            named(&format!("{{MD5}}{}", b64(&[1; 16])), "sha256"),
            Err(Uncarried::Malformed { .. })
        ));
    }

    #[test]
    fn clerk_hasher_names() {
        let bcrypt = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";
        assert_eq!(named(bcrypt, "bcrypt").unwrap().value, bcrypt);
        assert!(matches!(
            named(DJANGO, "bcrypt"),
            Err(Uncarried::Malformed { .. })
        ));
        assert!(matches!(
            named("not a hash", "bcrypt"),
            Err(Uncarried::Malformed { .. })
        ));
        let argon2 = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
        assert!(named(argon2, "argon2id").is_ok());
        assert_eq!(
            named(&argon2.replace("argon2id", "argon2i"), "argon2i"),
            Err(unsupported("argon2i"))
        );
        // Clerk's pbkdf2_sha256: the salt is base64.
        let clerk = format!("pbkdf2_sha256$10000${}${}", b64(b"saltsalt"), b64(&[2; 32]));
        let hash = named(&clerk, "pbkdf2_sha256").unwrap();
        assert_eq!(
            hash.config,
            HashConfig::Pbkdf2 {
                function: Digest::Sha256,
                iterations: 10000,
                key_length: 32,
                salt: b"saltsalt".to_vec()
            }
        );
        let clerk512 = format!("pbkdf2_sha512$10000${}${}", b64(b"saltsalt"), b64(&[2; 64]));
        assert!(named(&clerk512, "pbkdf2_sha512").is_ok());
        assert!(matches!(
            named(&clerk512, "pbkdf2_sha256"),
            Err(Uncarried::Malformed { .. })
        ));
        // Clerk's pbkdf2_sha1: Django's form with a hex hash.
        let sha1 = format!("pbkdf2_sha1$1000$pepper${}", hex::encode([3u8; 20]));
        let hash = named(&sha1, "pbkdf2_sha1").unwrap();
        assert_eq!(hash.value, b64(&[3; 20]));
        assert!(matches!(
            hash.config,
            HashConfig::Pbkdf2 {
                function: Digest::Sha1,
                key_length: 20,
                ..
            }
        ));
        let ssha = b64(&[[4u8; 20].as_slice(), b"salt"].concat());
        assert_eq!(
            named(&ssha, "ldap_ssha").unwrap(),
            named(&format!("{{SSHA}}{ssha}"), "ldap_ssha").unwrap()
        );
        for (hasher, algorithm) in [
            ("scrypt_firebase", "scrypt (Firebase)"),
            ("scrypt_werkzeug", "scrypt (Werkzeug)"),
            ("md5_phpass", "phpass"),
            ("phpass", "phpass"),
            ("bcrypt_sha256_django", "bcrypt_sha256 (Django)"),
            ("bcrypt_peppered", "bcrypt with a pepper"),
            ("hmac_sha256_utf16_b64", "HMAC with a secret key"),
            ("sha512_symfony", "sha512 (Symfony, iterated)"),
            ("awscognito", "AWS Cognito (no hash is exported)"),
            ("scrypt", "scrypt"),
            ("stytch-scrypt", "scrypt (stytch-scrypt)"),
            (
                "sha256_salted",
                "sha256_salted (Clerk; where the salt goes is not documented)",
            ),
            (
                "md5_salted",
                "md5_salted (Clerk; where the salt goes is not documented)",
            ),
        ] {
            assert_eq!(
                named("anything", hasher),
                Err(unsupported(algorithm)),
                "{hasher}"
            );
        }
        // An unknown hasher name: the text decides.
        assert_eq!(named(bcrypt, "whatever").unwrap().value, bcrypt);
        assert_eq!(named("x", "whatever"), Err(Uncarried::Unknown));
    }
}
