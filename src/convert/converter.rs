//! The one converter: a neutral [`SourceUser`] → the records of one user of a desired
//! `TenantDump` (`users`, `user_identifiers`, `user_verifiable_addresses`, `user_credentials`).
//!
//! Pure: a function of the user and the options. Ids are deterministic, so converting the same
//! export again gives the same bytes: a source id that is a UUID stays the user id, any other
//! becomes a UUIDv5 of `<platform>:<source id>` in [`USER_ID_NAMESPACE`]; sub-records take
//! [`crate::normalize::derived_id`], the id the diff and import give a sub-record without one, so
//! a converted file plans exactly like the same file without sub-record ids. Passwords go through
//! the hash reader ([`crate::password::read()`]); secrets never reach `payload` or `metadata`.

use super::user::{Contact, Federated, Lost, SourceUser};
use crate::migrate::{CredentialPolicy, EXPIRED_AT, MUST_BE_RESET};
use crate::model::{
    Object, SecretValue, User, UserCredential, UserIdentifier, UserVerifiableAddress,
};
use crate::normalize::derived_id;
use crate::password::{self, Uncarried};
use crate::validate::{MAX_ID_LENGTH, is_e164, is_email};
use serde_json::{Value, json};
use uuid::Uuid;

/// The namespace of the UUIDv5 user ids given to source ids that are not UUIDs: the id of
/// source user `S` of platform `P` is `uuidv5(USER_ID_NAMESPACE, "P:S")`, such as
/// `uuidv5(…, "auth0:auth0|64db9dba7f18450dc250234")`.
pub const USER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x3c5d_7a0e_91b4_4f62_8e1d_0b6a_f2c4_95e7);

/// The user id of a source user: its id when that is a UUID (written in lower case), else the
/// UUIDv5 of `<platform>:<source id>` in [`USER_ID_NAMESPACE`].
pub fn user_id(platform: &str, source_id: &str) -> String {
    match Uuid::try_parse(source_id) {
        Ok(uuid) if source_id.len() == 36 => uuid.hyphenated().to_string(),
        _ => Uuid::new_v5(
            &USER_ID_NAMESPACE,
            format!("{platform}:{source_id}").as_bytes(),
        )
        .hyphenated()
        .to_string(),
    }
}

/// What the converter needs besides the user.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The source platform's name (`auth0`, `keycloak`...).
    pub platform: &'a str,
    /// The pool every user goes into.
    pub pool: &'a str,
    /// What happens to passwords.
    pub credentials: CredentialPolicy,
    /// Leave the source's other fields out of `metadata`.
    pub drop_extra: bool,
}

/// What became of a user's password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordOutcome {
    /// Carried as a `password` credential with this method.
    Carried(&'static str),
    /// The source has a hash the service cannot verify: no credential.
    NotCarried(Uncarried),
    /// The source has no password for the user.
    None,
    /// `--credentials drop`.
    Dropped,
}

/// One converted user: its records and what the report needs to know.
#[derive(Clone, Debug)]
pub struct Converted {
    /// The source's id.
    pub source_id: String,
    /// The `users` record.
    pub user: User,
    /// Its `user_identifiers` records.
    pub identifiers: Vec<UserIdentifier>,
    /// Its `user_verifiable_addresses` records.
    pub addresses: Vec<UserVerifiableAddress>,
    /// Its `user_credentials` records (a password, or none).
    pub credentials: Vec<UserCredential>,
    /// What became of its password.
    pub password: PasswordOutcome,
    /// Values kept in metadata because they could not go where they belong.
    pub lost: Vec<Lost>,
    /// Secret fields left out (never carried).
    pub secrets: Vec<String>,
    /// No password, but sign-ins through other identity providers only.
    pub social_only: bool,
    /// `(type, lower-cased value)` of each identifier, for the check across users.
    pub claims: Vec<(&'static str, String)>,
}

/// Converts one source user.
pub fn convert_user(source: SourceUser, context: &Context<'_>) -> Converted {
    let SourceUser {
        id: source_id,
        inactive,
        emails,
        phones,
        usernames,
        profile,
        metadata: direct_metadata,
        mut extra,
        mut lost,
        federated,
        password_login,
        password,
        mut secrets,
    } = source;
    let user_id = user_id(context.platform, &source_id);
    let mut records = SubRecords {
        user_id: &user_id,
        identifiers: Vec::new(),
        addresses: Vec::new(),
        claims: Vec::new(),
        lost: &mut lost,
    };
    // A password hash in a contact field (columns out of place) is a secret, not a contact.
    let mut contacts = |contacts: Vec<Contact>| -> Vec<Contact> {
        contacts
            .into_iter()
            .filter(|contact| {
                let hash = is_secret_text(&contact.value);
                if hash {
                    secrets.push(contact.field.to_string());
                }
                !hash
            })
            .collect()
    };
    let (emails, phones, usernames) = (contacts(emails), contacts(phones), contacts(usernames));
    for contact in emails {
        let value = contact.value.trim().to_string();
        if is_email(&value) && value.len() <= MAX_ID_LENGTH && !value.chars().any(char::is_control)
        {
            records.add("email", value, Some(contact.verified));
        } else {
            records.lose(contact, "not an e-mail address");
        }
    }
    for contact in phones {
        match e164(&contact.value) {
            Some(number) => records.add("mobile", number, Some(contact.verified)),
            None => records.lose(contact, "not an E.164 phone number (like `+14155550100`)"),
        }
    }
    for contact in usernames {
        let value = contact.value.trim().to_string();
        if value.is_empty() || value.len() > MAX_ID_LENGTH || value.chars().any(char::is_control) {
            records.lose(contact, "not a usable user name");
        } else {
            records.add("uid", value, None);
        }
    }
    let SubRecords {
        identifiers,
        addresses,
        claims,
        ..
    } = records;

    let (credentials, password_outcome) = credential(password, &user_id, context);
    let social_only =
        password_outcome == PasswordOutcome::None && !federated.is_empty() && !password_login;

    let mut profile = profile;
    strip_secrets(&mut profile, "", &mut secrets);
    strip_lost(&mut lost, &mut secrets);
    let mut metadata = direct_metadata;
    strip_secrets(&mut metadata, "", &mut secrets);
    metadata.insert(
        "source".into(),
        json!({"platform": context.platform, "id": source_id}),
    );
    if !federated.is_empty() {
        let mut federated = federated_json(&federated);
        strip_value(&mut federated, "federated_identities", &mut secrets);
        metadata.insert("federated_identities".into(), federated);
    }
    if context.drop_extra {
        extra.clear();
    }
    strip_secrets(&mut extra, "", &mut secrets);
    for item in &lost {
        if item.value.is_null() {
            continue;
        }
        match extra.get_mut(&item.field) {
            Some(Value::Array(values)) => values.push(item.value.clone()),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, item.value.clone()]);
            }
            None => {
                extra.insert(item.field.clone(), item.value.clone());
            }
        }
    }
    if !extra.is_empty() {
        metadata.insert(context.platform.to_string(), Value::Object(extra));
    }

    let user = User {
        id: Some(user_id.clone()),
        user_pool_id: Some(context.pool.to_string()),
        status: Some(if inactive { "inactive" } else { "active" }.into()),
        payload: (!profile.is_empty()).then_some(profile),
        metadata: Some(metadata),
        ..User::default()
    };
    Converted {
        source_id,
        user,
        identifiers,
        addresses,
        credentials,
        password: password_outcome,
        lost,
        secrets,
        social_only,
        claims,
    }
}

/// The identifiers and addresses of one user, each natural key once.
struct SubRecords<'a> {
    user_id: &'a str,
    identifiers: Vec<UserIdentifier>,
    addresses: Vec<UserVerifiableAddress>,
    claims: Vec<(&'static str, String)>,
    lost: &'a mut Vec<Lost>,
}

impl SubRecords<'_> {
    /// An identifier, and an address when `verified` is given (e-mail and mobile).
    fn add(&mut self, kind: &'static str, value: String, verified: Option<Option<bool>>) {
        let value_lc = value.to_lowercase();
        if let Some(verified) = verified {
            let verified = verified.unwrap_or(false);
            let same = |address: &&mut UserVerifiableAddress| {
                address.kind.as_deref() == Some(kind)
                    && address.address.as_deref().map(str::to_lowercase).as_deref()
                        == Some(value_lc.as_str())
            };
            match self.addresses.iter_mut().find(same) {
                // The same address twice (a primary address also listed as verified): verified
                // if either says so.
                Some(address) => {
                    address.verified = Some(address.verified == Some(true) || verified)
                }
                None => self.addresses.push(UserVerifiableAddress {
                    id: Some(derived_id("address", self.user_id, kind, &value_lc)),
                    user_id: Some(self.user_id.to_string()),
                    kind: Some(kind.into()),
                    address: Some(value.clone()),
                    status: Some("active".into()),
                    verified: Some(verified),
                    ..UserVerifiableAddress::default()
                }),
            }
        }
        if self
            .claims
            .iter()
            .any(|(claimed, claimed_value)| *claimed == kind && *claimed_value == value_lc)
        {
            return;
        }
        self.identifiers.push(UserIdentifier {
            id: Some(derived_id("identifier", self.user_id, kind, &value_lc)),
            user_id: Some(self.user_id.to_string()),
            kind: Some(kind.into()),
            identifier: Some(value),
            ..UserIdentifier::default()
        });
        self.claims.push((kind, value_lc));
    }

    fn lose(&mut self, contact: Contact, why: &str) {
        self.lost.push(Lost {
            field: contact.field.to_string(),
            value: Value::String(contact.value),
            why: why.to_string(),
        });
    }
}

/// A phone number in E.164, allowing the spaces, dashes, dots and parentheses people write
/// between digits: `+1 (415) 555-0100` is `+14155550100`. `None` when it is not one.
pub fn e164(value: &str) -> Option<String> {
    let trimmed = value.trim();
    let digits = trimmed.strip_prefix('+')?;
    let mut number = String::with_capacity(trimmed.len());
    number.push('+');
    for character in digits.chars() {
        match character {
            '0'..='9' => number.push(character),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    is_e164(&number).then_some(number)
}

fn credential(
    password: Option<password::PasswordInput>,
    user_id: &str,
    context: &Context<'_>,
) -> (Vec<UserCredential>, PasswordOutcome) {
    let Some(input) = password else {
        return (Vec::new(), PasswordOutcome::None);
    };
    if context.credentials == CredentialPolicy::Drop {
        return (Vec::new(), PasswordOutcome::Dropped);
    }
    match password::read(&input) {
        Ok(hash) => {
            let reset = context.credentials == CredentialPolicy::ForceReset;
            let record = UserCredential {
                id: Some(derived_id("credential", user_id, "password", "")),
                user_id: Some(user_id.to_string()),
                kind: Some("password".into()),
                payload: Some(SecretValue(hash.to_payload())),
                state: Some(if reset { MUST_BE_RESET } else { "valid" }.into()),
                expires_at: reset.then(|| EXPIRED_AT.to_string()),
                ..UserCredential::default()
            };
            (vec![record], PasswordOutcome::Carried(hash.config.method()))
        }
        Err(reason) => (Vec::new(), PasswordOutcome::NotCarried(reason)),
    }
}

fn federated_json(federated: &[Federated]) -> Value {
    serde_json::to_value(federated).unwrap_or(Value::Null)
}

/// Whether a field's name says it holds a secret: passwords, hashes, salts, secrets, tokens,
/// recovery and backup codes, private and API keys, TOTP seeds, credentials, cookies. The name is
/// compared by its letters and digits alone, in lower case, so `apiKey`, `api-key`,
/// `custom:api_key` and a name with control characters inside a word are alike. Such fields
/// never reach `payload` or `metadata`, whatever the source.
pub fn is_secret_name(name: &str) -> bool {
    let name: String = name
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    [
        "password",
        "passwd",
        "hash",
        "salt",
        "secret",
        "token",
        "recoverycode",
        "backupcode",
        "privatekey",
        "apikey",
        "accesskey",
        "totp",
        "credential",
        "cookie",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Whether text is a password hash in a form the hash reader knows, whether or not it can be
/// carried (modular crypt and PHC strings, LDAP-style schemes, Django's forms).
pub fn looks_like_hash(text: &str) -> bool {
    // Every form the reader knows has a `$` or starts with `{`: other text is not asked.
    let text = text.trim();
    (text.contains('$') || text.starts_with('{'))
        && !matches!(
            password::read(&password::PasswordInput::text(text)),
            Err(Uncarried::Unknown)
        )
}

/// Whether text is or holds a secret, whatever field holds it: a password hash
/// ([`looks_like_hash`]), a TOTP seed as an `otpauth://` URL, or a JSON Web Token (`eyJ…`
/// header, payload, signature), alone or as a word of longer text (`old hash: $2b$…`, a CSV
/// row that swallowed the next one).
pub fn is_secret_text(text: &str) -> bool {
    let text = text.trim();
    if is_secret_word(text) {
        return true;
    }
    // Words: what no secret of these forms has splits them, and a word may start with its
    // secret glued to other text (`hash:$2b$…`). Short ones (`$5`, `$HOME`) are no hash.
    let separator = |c: char| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '"' | '\'' | ',' | ';' | '(' | ')' | '<' | '>' | '[' | ']' | '|' | '\\'
            )
    };
    let secret_word = |word: &str| {
        let tail = word.find(['$', '{']).map_or("", |at| &word[at..]);
        [word, tail].into_iter().any(|word| {
            word.len() >= MIN_SECRET_WORD && word.len() < text.len() && is_secret_word(word)
        })
    };
    text.len() > MIN_SECRET_WORD && text.split(separator).any(secret_word)
}

/// The shortest word of longer text that is looked at as a possible secret.
const MIN_SECRET_WORD: usize = 20;

/// Whether a word is a secret by itself (see [`is_secret_text`]).
fn is_secret_word(text: &str) -> bool {
    let starts_with = |prefix: &str| {
        text.get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
    };
    starts_with("otpauth://") || is_jwt(text) || looks_like_hash(text)
}

/// Three base64url parts, the first a JSON object's encoding (`eyJ`).
fn is_jwt(text: &str) -> bool {
    let mut parts = text.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let base64url = |part: &str| {
        part.bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'='))
    };
    header.starts_with("eyJ")
        && payload.len() >= 2
        && [header, payload, signature].into_iter().all(base64url)
}

/// Removes fields whose names say they hold secrets, and text that is a secret
/// ([`is_secret_text`]), from an object and everything inside it, JSON written inside strings
/// included; `found` gets each removed field's path.
pub fn strip_secrets(object: &mut Object, path: &str, found: &mut Vec<String>) {
    object.retain(|key, value| {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        // A flag (`backup_codes_enabled`, `totp`) says whether a secret exists; it is none.
        let secret = match value {
            Value::Bool(_) | Value::Null => false,
            Value::String(text) => is_secret_name(key) || is_secret_text(text),
            _ => is_secret_name(key),
        };
        if secret {
            found.push(here);
            return false;
        }
        strip_value(value, &here, found);
        true
    });
}

/// Takes secrets out of values that could not go where they belong, before they are kept in
/// metadata or shown in the report: a value in a field whose name says it holds a secret, or
/// that is a password hash, is left out whole (and counted); secrets inside others are stripped.
fn strip_lost(lost: &mut Vec<Lost>, found: &mut Vec<String>) {
    lost.retain_mut(|item| {
        let secret = match &item.value {
            // Missing cells hold nothing.
            Value::Null => false,
            Value::String(text) => is_secret_name(&item.field) || is_secret_text(text),
            _ => is_secret_name(&item.field),
        };
        if secret {
            found.push(item.field.clone());
        } else {
            strip_value(&mut item.value, &item.field, found);
        }
        !secret
    });
}

fn strip_value(value: &mut Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => strip_secrets(object, path, found),
        // JSON inside a string (`"{\"api_key\": …}"`) keeps its form, without its secrets.
        Value::String(text) => {
            if let Some(mut inner) = super::user::json_in_string(text) {
                let before = found.len();
                strip_value(&mut inner, path, found);
                if found.len() > before {
                    *text = inner.to_string();
                }
            }
        }
        Value::Array(items) => {
            let before = items.len();
            items.retain(|item| !matches!(item, Value::String(text) if is_secret_text(text)));
            if items.len() < before {
                found.push(format!("{path}[]"));
            }
            for item in items {
                strip_value(item, &format!("{path}[]"), found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordInput;

    const BCRYPT: &str = "$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy";

    fn context(credentials: CredentialPolicy) -> Context<'static> {
        Context {
            platform: "auth0",
            pool: "customers",
            credentials,
            drop_extra: false,
        }
    }

    #[test]
    fn uuid_ids_stay_and_others_become_uuidv5_of_platform_and_id() {
        assert_eq!(
            user_id("kratos", "5FF66179-C240-4703-B0D8-494592CEFFF5"),
            "5ff66179-c240-4703-b0d8-494592cefff5"
        );
        let derived = user_id("auth0", "auth0|abc");
        assert_eq!(
            derived,
            Uuid::new_v5(&USER_ID_NAMESPACE, b"auth0:auth0|abc").to_string()
        );
        assert_ne!(derived, user_id("clerk", "auth0|abc"));
        // Braced or simple UUID spellings are ids like any other.
        assert_ne!(
            user_id("x", "5ff66179c2404703b0d8494592cefff5"),
            "5ff66179-c240-4703-b0d8-494592cefff5"
        );
    }

    #[test]
    fn contacts_become_identifiers_and_addresses_once_each_and_bad_ones_are_lost() {
        let mut source = SourceUser::new("auth0|1");
        source.emails = vec![
            Contact::new("email", "Ann@Example.com", Some(false)),
            Contact::new("emails", "ann@example.com", Some(true)),
            Contact::new("email2", "admin@localhost", Some(true)),
        ];
        source.phones = vec![
            Contact::new("phone", "+1 (415) 555-0100", Some(true)),
            Contact::new("phone2", "2024-01-15 10:30:00", None),
        ];
        source.usernames = vec![Contact::new("username", "ann", None)];
        let converted = convert_user(source, &context(CredentialPolicy::Keep));
        let identifiers: Vec<_> = converted
            .identifiers
            .iter()
            .map(|i| {
                format!(
                    "{}:{}",
                    i.kind.as_deref().unwrap(),
                    i.identifier.as_deref().unwrap()
                )
            })
            .collect();
        assert_eq!(
            identifiers,
            ["email:Ann@Example.com", "mobile:+14155550100", "uid:ann"]
        );
        assert_eq!(converted.addresses.len(), 2);
        assert_eq!(converted.addresses[0].verified, Some(true));
        assert_eq!(converted.addresses[1].verified, Some(true));
        let lost: Vec<_> = converted.lost.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(lost, ["email2", "phone2"]);
        let metadata = converted.user.metadata.unwrap();
        assert_eq!(metadata["auth0"]["email2"], "admin@localhost");
        assert_eq!(
            metadata["source"],
            json!({"platform": "auth0", "id": "auth0|1"})
        );
        // Sub-record ids are the ones the diff would derive.
        let user_id = converted.user.id.unwrap();
        assert_eq!(
            converted.identifiers[0].id.as_deref(),
            Some(derived_id("identifier", &user_id, "email", "ann@example.com").as_str())
        );
    }

    #[test]
    fn passwords_follow_the_credential_policy() {
        let with_hash = || {
            let mut source = SourceUser::new("u1");
            source.password = Some(PasswordInput::text(BCRYPT));
            source
        };
        let kept = convert_user(with_hash(), &context(CredentialPolicy::Keep));
        assert_eq!(kept.password, PasswordOutcome::Carried("bcrypt"));
        assert_eq!(kept.credentials[0].state.as_deref(), Some("valid"));
        assert_eq!(kept.credentials[0].expires_at, None);
        let reset = convert_user(with_hash(), &context(CredentialPolicy::ForceReset));
        assert_eq!(reset.credentials[0].state.as_deref(), Some(MUST_BE_RESET));
        assert_eq!(reset.credentials[0].expires_at.as_deref(), Some(EXPIRED_AT));
        let dropped = convert_user(with_hash(), &context(CredentialPolicy::Drop));
        assert!(dropped.credentials.is_empty());
        assert_eq!(dropped.password, PasswordOutcome::Dropped);

        let mut firebase = SourceUser::new("u2");
        firebase.password = Some(PasswordInput::FirebaseScrypt);
        let not_carried = convert_user(firebase, &context(CredentialPolicy::Keep));
        assert!(not_carried.credentials.is_empty());
        assert!(matches!(
            not_carried.password,
            PasswordOutcome::NotCarried(_)
        ));
    }

    /// Found by the `convert_sources` fuzz target: a hash in a CSV's `family_name` column went to
    /// the payload.
    #[test]
    fn a_hash_in_a_profile_field_never_reaches_the_payload() {
        let mut source = SourceUser::new("u1");
        source.claim("given_name", Some(json!("Ann")));
        source.claim(
            "family_name",
            Some(json!("{SSHA}abcdefghijklmnopqrstuvwxyz00")),
        );
        source.claim("nickname", Some(json!(BCRYPT)));
        let converted = convert_user(source, &context(CredentialPolicy::Keep));
        assert_eq!(
            Value::Object(converted.user.payload.unwrap()),
            json!({"given_name": "Ann"})
        );
        let mut secrets = converted.secrets.clone();
        secrets.sort();
        assert_eq!(secrets, ["family_name", "nickname"]);
    }

    #[test]
    fn secrets_in_fields_that_could_not_be_used_are_left_out_not_kept() {
        let mut source = SourceUser::new("u1");
        source.emails = vec![Contact::new("email", BCRYPT, Some(true))];
        source.usernames = vec![Contact::new(
            "username",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            None,
        )];
        source.phones = vec![Contact::new("phone", "not a phone", None)];
        source.lost = vec![
            Lost {
                field: "passwordHash".into(),
                value: json!({"value": "x"}),
                why: "not text".into(),
            },
            Lost {
                field: "column 9".into(),
                value: json!(["kept", BCRYPT]),
                why: "beyond the header's 8 columns".into(),
            },
            Lost {
                field: "token, email".into(),
                value: Value::Null,
                why: "the row has 1 of the header's 3 columns".into(),
            },
        ];
        let converted = convert_user(source, &context(CredentialPolicy::Keep));
        let lost: Vec<_> = converted.lost.iter().map(|l| l.field.as_str()).collect();
        assert_eq!(lost, ["column 9", "token, email", "phone"]);
        assert_eq!(converted.lost[0].value, json!(["kept"]));
        let metadata = Value::Object(converted.user.metadata.unwrap());
        assert_eq!(
            metadata["auth0"],
            json!({"column 9": ["kept"], "phone": "not a phone"})
        );
        let mut secrets = converted.secrets.clone();
        secrets.sort();
        assert_eq!(secrets, ["column 9[]", "email", "passwordHash", "username"]);
        assert!(converted.identifiers.is_empty());
    }

    #[test]
    fn secret_names_are_compared_without_case_or_separators_and_secret_text_anywhere() {
        for name in [
            "apiKey",
            "custom:api_token",
            "sharedSecretKey",
            "totp",
            "private-key",
            "sessionCookie",
            "credentials",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in ["email", "given_name", "locale", "plan", "created_at", "mfa"] {
            assert!(!is_secret_name(name), "{name}");
        }
        for text in [
            BCRYPT,
            "otpauth://totp/acme:ann?secret=JBSWY3DP",
            "OTPAUTH://TOTP/x",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
        ] {
            assert!(is_secret_text(text), "{text}");
        }
        for text in [
            "ann@example.com",
            "eyJ.x",
            "a.b.c",
            "https://example.com/a.png",
            "price: $5 or US$ 20, see $HOME/bin and {name}",
        ] {
            assert!(!is_secret_text(text), "{text}");
        }
        // Found by the `convert_sources` fuzz target: a broken CSV quote made one cell of the
        // rest of the file, with the next row's hash inside; and a header's `token` with
        // control characters inside.
        assert!(is_secret_text(&format!(
            "[{{\"factor_type\": \"totp\"}}\"_password,email\n3f25,ann@example.com,{BCRYPT},2024-01-15"
        )));
        assert!(is_secret_text(
            "scan otpauth://totp/acme?secret=JBSWY3DP to enrol"
        ));
        assert!(is_secret_name("confirmation_tok\u{c}\u{c}en"));
        assert!(is_secret_text(&format!(
            "ann@exam\u{1}\u{0}\u{13}{BCRYPT},2024-01-15"
        )));
        assert!(is_secret_text(&format!("old hash:{BCRYPT}")));
        // JSON inside a string keeps its form, without its secrets.
        let mut object: Object = serde_json::from_value(json!({
            "config": "{\"apiKey\": \"k\", \"theme\": \"dark\"}",
            "plain": "{not json"
        }))
        .unwrap();
        let mut found = Vec::new();
        strip_secrets(&mut object, "", &mut found);
        assert_eq!(found, ["config.apiKey"]);
        assert_eq!(object["config"], "{\"theme\":\"dark\"}");
        assert_eq!(object["plain"], "{not json");
    }

    #[test]
    fn secrets_never_reach_metadata() {
        let mut source = SourceUser::new("u1");
        source.extra = serde_json::from_value(json!({
            "app_metadata": {"plan": "pro", "api_token": "t0k3n", "old": "$2a$10$abcdefghijklmnopqrstuv"},
            "recovery_codes": ["a", "b"],
            "ldap": "{SSHA}abcdefgh",
            "logins_count": 3
        }))
        .unwrap();
        let converted = convert_user(source, &context(CredentialPolicy::Keep));
        let metadata = Value::Object(converted.user.metadata.unwrap());
        assert_eq!(
            metadata["auth0"],
            json!({"app_metadata": {"plan": "pro"}, "logins_count": 3})
        );
        let mut secrets = converted.secrets.clone();
        secrets.sort();
        assert_eq!(
            secrets,
            [
                "app_metadata.api_token",
                "app_metadata.old",
                "ldap",
                "recovery_codes"
            ]
        );
    }

    #[test]
    fn ordinary_text_with_dollars_or_braces_is_no_hash() {
        for text in ["price: $5", "{\"a\": 1}", "US$ 20", "$HOME/bin", "{name}"] {
            assert!(!looks_like_hash(text), "{text}");
        }
        for text in [
            BCRYPT,
            "{SSHA}abcdefghijklmnopqrstuvwxyz01",
            "$P$BabcdefghijklmnopqrstuvwxyzABCD",
        ] {
            assert!(looks_like_hash(text), "{text}");
        }
    }

    #[test]
    fn social_only_users_have_no_password_and_only_federated_identities() {
        let mut source = SourceUser::new("google-oauth2|1");
        source.federated = vec![Federated {
            provider: "google-oauth2".into(),
            subject: Some("1".into()),
            connection: None,
        }];
        let converted = convert_user(source.clone(), &context(CredentialPolicy::Keep));
        assert!(converted.social_only);
        assert_eq!(
            converted.user.metadata.unwrap()["federated_identities"],
            json!([{"provider": "google-oauth2", "subject": "1"}])
        );
        source.password_login = true;
        assert!(!convert_user(source, &context(CredentialPolicy::Keep)).social_only);
    }

    #[test]
    fn phone_numbers_are_read_as_e164() {
        assert_eq!(e164("+45 20 12 34 56").as_deref(), Some("+4520123456"));
        assert_eq!(e164("4520123456"), None);
        assert_eq!(e164("+45 2012 x34"), None);
    }
}
