//! Ory Kratos: identities as the admin API returns them with credentials included (one JSON
//! object, an array, or NDJSON).
//!
//! Login identifiers come from the credentials (`password`, `code`, `webauthn`, `passkey`), told
//! apart by shape (an e-mail address, an E.164 number, else a user name), and from the usual
//! traits (`email`, `phone`, `username`); `verifiable_addresses` say which are verified.
//! `credentials.password.config.hashed_password` is hash text (bcrypt, `$argon2id$`,
//! `$pbkdf2-sha…$`, `{SSHA…}`...). OIDC credentials are federated identities (their tokens are
//! left out); TOTP, lookup secrets and WebAuthn keys are secrets, left out and counted.

use super::user::{Contact, Federated, Fields, Lost, SourceUser, objects};
use super::{Collect, Layout, Position, Records, begin};
use crate::model::Object;
use crate::validate::is_email;
use serde_json::Value;
use std::collections::HashMap;

/// Ory Kratos.
pub(super) const KRATOS: Records = Records {
    name: "kratos",
    expects: "Ory Kratos identities as JSON (`id`, `traits`, `credentials`)",
    layout: Layout::Json,
    containers: &["identities"],
    read_user,
};

fn read_user(object: Object, lost: Vec<Lost>, out: &mut dyn Collect, position: Position) {
    let Some((mut fields, mut user)) = begin(object, lost, "id", out, position) else {
        return;
    };
    user.inactive = fields.id("state").as_deref() == Some("inactive");

    // Verification is recorded per address; identifiers look it up.
    let mut verified: HashMap<String, bool> = HashMap::new();
    let addresses = objects(fields.take("verifiable_addresses"));
    for address in &addresses {
        if let Some(Value::String(value)) = address.get("value") {
            let is_verified = address.get("verified") == Some(&Value::Bool(true));
            let entry = verified.entry(value.to_lowercase()).or_default();
            *entry |= is_verified;
        }
    }
    let add = |user: &mut SourceUser, field: &'static str, value: String| {
        let is_verified = verified.get(&value.to_lowercase()).copied();
        if is_email(value.trim()) {
            user.emails.push(Contact::new(field, value, is_verified));
        } else if value.trim_start().starts_with('+') {
            user.phones.push(Contact::new(field, value, is_verified));
        } else {
            user.usernames.push(Contact::new(field, value, None));
        }
    };

    if let Some(Value::Object(credentials)) = fields.take("credentials") {
        for (kind, credential) in credentials {
            let Value::Object(credential) = credential else {
                continue;
            };
            let mut credential = Fields::new(credential);
            let identifiers = super::user::text_list(credential.take("identifiers"));
            let config = match credential.take("config") {
                Some(Value::Object(config)) => config,
                _ => Object::new(),
            };
            let mut config = Fields::new(config);
            match kind.as_str() {
                "password" => {
                    user.password_login = true;
                    for identifier in identifiers {
                        add(&mut user, "credentials.password.identifiers", identifier);
                    }
                    let hash = config.text("hashed_password", &mut user);
                    user.hash_text(hash, None);
                    config.secret("password", &mut user);
                }
                "code" | "webauthn" | "passkey" => {
                    for identifier in identifiers {
                        add(&mut user, "credentials.code.identifiers", identifier);
                    }
                    if kind != "code" {
                        user.secret(format!("credentials.{kind}"));
                    }
                }
                "oidc" | "saml" => {
                    for provider in objects(config.take("providers")) {
                        let mut provider = Fields::new(provider);
                        if let Some(name) = provider.id("provider") {
                            user.federated.push(Federated {
                                provider: name,
                                subject: provider.id("subject"),
                                connection: None,
                            });
                        }
                        for token in [
                            "initial_id_token",
                            "initial_access_token",
                            "initial_refresh_token",
                        ] {
                            provider.secret(token, &mut user);
                        }
                    }
                }
                _ => user.secret(format!("credentials.{kind}")),
            }
        }
    }

    if let Some(Value::Object(traits)) = fields.take("traits") {
        let mut traits = Fields::new(traits);
        if let Some(email) = traits.text("email", &mut user) {
            add(&mut user, "traits.email", email);
        }
        for key in ["phone", "phone_number"] {
            if let Some(phone) = traits.text(key, &mut user) {
                add(&mut user, "traits.phone", phone);
            }
        }
        if let Some(username) = traits.text("username", &mut user) {
            user.usernames
                .push(Contact::new("traits.username", username, None));
        }
        match traits.take("name") {
            Some(Value::Object(mut name)) => {
                for (claim, keys) in [
                    ("given_name", ["first", "given"]),
                    ("family_name", ["last", "family"]),
                ] {
                    let value = keys.iter().find_map(|key| name.remove(*key));
                    user.claim(claim, value);
                }
            }
            other => user.claim("name", other),
        }
        for (claim, key) in [
            ("given_name", "first_name"),
            ("family_name", "last_name"),
            ("given_name", "given_name"),
            ("family_name", "family_name"),
            ("picture", "picture"),
            ("locale", "locale"),
        ] {
            let value = traits.take(key);
            if !user.profile.contains_key(claim) {
                user.claim(claim, value);
            }
        }
        let rest = traits.rest();
        if !rest.is_empty() {
            user.extra.insert("traits".into(), Value::Object(rest));
        }
    }
    for address in addresses {
        let mut address = Fields::new(address);
        let via = address.id("via");
        if let Some(value) = address.id("value") {
            match via.as_deref() {
                Some("sms") => add(&mut user, "verifiable_addresses", value),
                _ if is_email(value.trim()) => add(&mut user, "verifiable_addresses", value),
                _ => {}
            }
        }
    }
    out.user(position, user.with_rest(fields));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::testing::read;
    use crate::password::PasswordInput;

    #[test]
    fn identifiers_come_from_credentials_and_traits_with_verification_from_addresses() {
        let collected = read(
            &KRATOS,
            r#"{"id": "5ff66179-c240-4703-b0d8-494592cefff5", "state": "active",
                "credentials": {
                  "password": {"identifiers": ["ann@example.com", "ann"],
                               "config": {"hashed_password": "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"}},
                  "oidc": {"config": {"providers": [{"provider": "github", "subject": "42",
                                                      "initial_access_token": "gho_x"}]}},
                  "totp": {"config": {"totp_url": "otpauth://totp/x?secret=JBSWY3DP"}}
                },
                "traits": {"email": "Ann@Example.com", "name": {"first": "Ann", "last": "Lee"}, "plan": "pro"},
                "verifiable_addresses": [{"value": "ann@example.com", "verified": true, "via": "email"}],
                "metadata_public": {"tier": 2}}"#,
        );
        let user = &collected.users[0];
        assert!(
            matches!(&user.password, Some(PasswordInput::Text { text, .. }) if text.starts_with("$argon2id$"))
        );
        let emails: Vec<_> = user
            .emails
            .iter()
            .map(|c| (c.value.as_str(), c.verified))
            .collect();
        assert_eq!(
            emails,
            [
                ("ann@example.com", Some(true)),
                ("Ann@Example.com", Some(true)),
                ("ann@example.com", Some(true))
            ]
        );
        assert_eq!(user.usernames[0].value, "ann");
        assert_eq!(user.profile["given_name"], "Ann");
        assert_eq!(user.federated[0].subject.as_deref(), Some("42"));
        let mut secrets = user.secrets.clone();
        secrets.sort();
        assert_eq!(secrets, ["credentials.totp", "initial_access_token"]);
        assert_eq!(user.extra["traits"], serde_json::json!({"plan": "pro"}));
        assert_eq!(
            user.extra["metadata_public"],
            serde_json::json!({"tier": 2})
        );
    }
}
