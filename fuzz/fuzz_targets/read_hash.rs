//! The hash reader on any input: it must never panic, and a hash it reads must survive the
//! trip through a credential payload (`Hash::to_payload` → `Hash::from_payload`) unchanged.
//!
//! The first byte picks the input's shape: hash text alone, hash text with a hasher name
//! (`name NUL text`), or a Keycloak credential (`algorithm NUL iterations NUL value NUL salt`
//! then `key=value` parameters, NUL-separated).
#![no_main]

use libfuzzer_sys::fuzz_target;
use poolsync::password::{Hash, KeycloakHash, PasswordInput, read};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut fields = text.split('\0');
    let input = match shape % 3 {
        0 => PasswordInput::text(text.as_ref()),
        1 => {
            let hasher = fields.next().unwrap_or_default().to_string();
            PasswordInput::Text {
                text: fields.collect::<Vec<_>>().join("\0"),
                hasher: Some(hasher),
            }
        }
        _ => {
            let algorithm = fields.next().unwrap_or_default().to_string();
            let iterations = fields.next().and_then(|field| field.parse().ok());
            let value = fields.next().unwrap_or_default().to_string();
            let salt = fields.next().unwrap_or_default().to_string();
            let parameters = fields
                .filter_map(|field| field.split_once('='))
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect();
            PasswordInput::Keycloak(KeycloakHash {
                algorithm,
                iterations,
                value,
                salt,
                parameters,
            })
        }
    };
    match read(&input) {
        Ok(hash) => {
            let payload = hash.to_payload();
            assert_eq!(Hash::from_payload(&payload), Ok(hash), "the payload reads back");
        }
        Err(reason) => {
            // Showing a reason never panics either.
            let _ = reason.to_string();
        }
    }
});
