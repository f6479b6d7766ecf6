//! Auth0: the user export (a JSON array, or NDJSON as the export job writes it) and the
//! password export Auth0 support sends on request (NDJSON of
//! `{"_id": {"$oid": "…"}, "passwordHash": "$2b$…", …}`), joined to users by id with or without
//! the `auth0|` prefix.
//!
//! A password-export line read as a user file is a user too (its `_id`, `email`,
//! `email_verified` and hash), so that file alone converts. Identities at other providers
//! (`google-oauth2`, `github`, enterprise connections) are federated identities; an `auth0`
//! identity means a database connection, whose password the user export never holds.

use super::user::{Contact, Federated, Fields, SourceUser, objects};
use super::{Collect, CollectPasswords, Source, missing_id, read_json_users};
use crate::model::Object;
use serde_json::Value;
use std::io::{self, BufRead};

/// Auth0.
pub(super) struct Auth0;

const EXPECTS: &str = "an Auth0 user export (a JSON array or NDJSON of users with `user_id`)";

/// Profile fields Auth0 holds under OIDC claim names.
const CLAIMS: &[&str] = &[
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "locale",
    "middle_name",
    "zoneinfo",
    "birthdate",
    "gender",
    "website",
];

impl Source for Auth0 {
    fn name(&self) -> &'static str {
        "auth0"
    }

    fn expects(&self) -> &'static str {
        EXPECTS
    }

    fn read(&self, input: &mut dyn BufRead, out: &mut dyn Collect) -> io::Result<()> {
        read_json_users(
            input,
            &["users"],
            out,
            &mut |object, out, position| match user(object) {
                Some(user) => out.user(position, user),
                None => missing_id(out, position, "user_id"),
            },
        )
    }

    fn read_passwords(
        &self,
        input: &mut dyn BufRead,
        out: &mut dyn CollectPasswords,
    ) -> Option<io::Result<()>> {
        Some(super::json::read_records(
            input,
            &[],
            &mut |event| match event {
                super::json::Event::Record(position, mut object) => {
                    let Some(id) = object_id(&mut object) else {
                        out.problem(
                            position,
                            Some("_id"),
                            "missing: a password line needs the user's `_id`".into(),
                        );
                        return;
                    };
                    let hash = match object.remove("passwordHash") {
                        Some(Value::String(hash)) if !hash.trim().is_empty() => Some(hash),
                        _ => None,
                    };
                    out.password(position, join_key(&id), hash);
                }
                super::json::Event::Problem(position, message) => {
                    out.problem(position, None, message);
                }
            },
        ))
    }

    fn password_key<'a>(&self, source_id: &'a str) -> &'a str {
        join_key(source_id)
    }
}

/// A user id without the database connection's `auth0|` prefix: the password export writes
/// it either way.
fn join_key(id: &str) -> &str {
    id.strip_prefix("auth0|").unwrap_or(id)
}

/// The `_id` of a password-export line: `{"$oid": "…"}` or text.
fn object_id(object: &mut Object) -> Option<String> {
    match object.remove("_id")? {
        Value::Object(mut id) => match id.remove("$oid")? {
            Value::String(text) if !text.trim().is_empty() => Some(text),
            _ => None,
        },
        Value::String(text) if !text.trim().is_empty() => Some(text),
        _ => None,
    }
}

fn user(mut object: Object) -> Option<SourceUser> {
    let oid = object_id(&mut object);
    let mut fields = Fields::new(object);
    let id = match oid {
        // A password-export line: its id is a database user's, whose user id has the prefix.
        Some(oid) if !oid.contains('|') => format!("auth0|{oid}"),
        Some(oid) => oid,
        None => fields.id("user_id")?,
    };
    let mut user = SourceUser::new(id);
    let email_verified = fields
        .flag("email_verified", &mut user)
        .or_else(|| fields.flag("emailVerified", &mut user));
    if let Some(email) = fields.text("email", &mut user) {
        user.emails
            .push(Contact::new("email", email, email_verified));
    }
    let phone_verified = fields.flag("phone_verified", &mut user);
    if let Some(phone) = fields.text("phone_number", &mut user) {
        user.phones
            .push(Contact::new("phone_number", phone, phone_verified));
    }
    if let Some(username) = fields.text("username", &mut user) {
        user.usernames
            .push(Contact::new("username", username, None));
    }
    for claim in CLAIMS {
        let value = fields.take(claim);
        user.claim(claim, value);
    }
    user.inactive = fields.flag("blocked", &mut user).unwrap_or(false);
    for identity in objects(fields.take("identities")) {
        let mut identity = Fields::new(identity);
        let provider = identity.id("provider").unwrap_or_default();
        if provider == "auth0" {
            user.password_login = true;
        } else if !provider.is_empty() {
            user.federated.push(Federated {
                provider,
                subject: identity.id("user_id"),
                connection: identity.id("connection"),
            });
        }
        // Identities of linked accounts can carry the provider's access and refresh tokens.
        for secret in ["access_token", "refresh_token", "access_token_secret"] {
            identity.secret(secret, &mut user);
        }
    }
    let hash = fields.text("passwordHash", &mut user);
    user.hash_text(hash, None);
    if user.password.is_some() {
        user.password_login = true;
    }
    user.extra = fields.rest();
    Some(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Object {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn a_user_export_record_becomes_a_neutral_user() {
        let user = user(object(json!({
            "user_id": "auth0|abc", "email": "ann@example.com", "email_verified": true,
            "phone_number": "+14155550100", "phone_verified": false, "username": "ann",
            "given_name": "Ann", "picture": "https://example.com/a.png", "blocked": true,
            "identities": [
                {"provider": "auth0", "user_id": "abc", "connection": "Username-Password-Authentication"},
                {"provider": "google-oauth2", "user_id": "123", "connection": "google-oauth2",
                 "access_token": "ya29.secret"}
            ],
            "app_metadata": {"plan": "pro"}, "logins_count": 3
        })))
        .unwrap();
        assert_eq!(user.id, "auth0|abc");
        assert_eq!(
            user.emails,
            [Contact::new("email", "ann@example.com", Some(true))]
        );
        assert_eq!(user.phones[0].verified, Some(false));
        assert_eq!(user.usernames[0].value, "ann");
        assert_eq!(user.profile["given_name"], "Ann");
        assert!(user.inactive);
        assert!(user.password_login);
        assert_eq!(user.federated.len(), 1);
        assert_eq!(user.secrets, ["access_token"]);
        assert_eq!(
            Value::Object(user.extra),
            json!({"app_metadata": {"plan": "pro"}, "logins_count": 3})
        );
    }

    #[test]
    fn a_password_export_line_is_a_database_user() {
        let user = user(object(json!({
            "_id": {"$oid": "64db"}, "email": "a@x.io", "emailVerified": false,
            "passwordHash": "$2b$10$abc"
        })))
        .unwrap();
        assert_eq!(user.id, "auth0|64db");
        assert_eq!(user.emails[0].verified, Some(false));
        assert!(user.password.is_some());
        assert!(user.extra.is_empty());
        assert_eq!(join_key("auth0|64db"), join_key("64db"));
    }
}
