//! Amazon Cognito: the JSON of `aws cognito-idp list-users` (`{"Users": [{"Username",
//! "Attributes": [{"Name", "Value"}], "Enabled", "UserStatus", …}]}`, one page per file) or of
//! `admin-get-user` (`UserAttributes`).
//!
//! The source id is the `sub` attribute. `Username` becomes a `uid` identifier unless it is the
//! e-mail address or the `sub` itself (pools that sign in by e-mail name users by their `sub`).
//! Cognito exports no password hashes: every user must set a new password. The `identities`
//! attribute (JSON inside a string) lists federated sign-ins.

use super::user::{Contact, Federated, Fields, Lost, SourceUser, objects, parse_flag, unwrap_json};
use super::{Collect, Layout, Position, Records, missing_id};
use crate::model::Object;
use serde_json::Value;

/// Amazon Cognito.
pub(super) const COGNITO: Records = Records {
    name: "cognito",
    expects: "the JSON of `aws cognito-idp list-users` (`Users` with `Attributes`)",
    layout: Layout::Json,
    containers: &["Users"],
    read_user,
};

/// Standard attributes that are OIDC claims.
const CLAIMS: &[&str] = &[
    "given_name",
    "family_name",
    "middle_name",
    "name",
    "nickname",
    "preferred_username",
    "picture",
    "profile",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
];

fn read_user(object: Object, lost: Vec<Lost>, out: &mut dyn Collect, position: Position) {
    let mut fields = Fields::new(object);
    let mut attributes = Object::new();
    for key in ["Attributes", "UserAttributes"] {
        for attribute in objects(fields.take(key)) {
            if let (Some(Value::String(name)), Some(value)) =
                (attribute.get("Name"), attribute.get("Value"))
            {
                attributes.insert(name.clone(), value.clone());
            }
        }
    }
    let mut attributes = Fields::new(attributes);
    let Some(id) = attributes.id("sub") else {
        return missing_id(out, position, "Attributes.sub");
    };
    let mut user = SourceUser::new(id.clone());
    user.lost = lost;
    let email_verified = attributes.flag("email_verified", &mut user);
    let email = attributes.text("email", &mut user);
    if let Some(email) = &email {
        user.emails
            .push(Contact::new("email", email.clone(), email_verified));
    }
    let phone_verified = attributes.flag("phone_number_verified", &mut user);
    if let Some(phone) = attributes.text("phone_number", &mut user) {
        user.phones
            .push(Contact::new("phone_number", phone, phone_verified));
    }
    if let Some(username) = fields.text("Username", &mut user) {
        let is_email = email
            .as_deref()
            .is_some_and(|email| email.eq_ignore_ascii_case(&username));
        if !is_email && !username.eq_ignore_ascii_case(&id) {
            user.usernames
                .push(Contact::new("Username", username, None));
        }
    }
    for claim in CLAIMS {
        let value = attributes.take(claim);
        user.claim(claim, value);
    }
    if let Some(identities) = attributes.take("identities").map(unwrap_json) {
        for identity in objects(Some(identities)) {
            let mut identity = Fields::new(identity);
            if let Some(provider) = identity.id("providerName") {
                user.federated.push(Federated {
                    provider,
                    subject: identity.id("userId"),
                    connection: identity.id("providerType"),
                });
            }
        }
    }
    match fields.take("Enabled") {
        Some(Value::Bool(enabled)) => user.inactive = !enabled,
        Some(Value::String(text)) => user.inactive = parse_flag(&text) == Some(false),
        _ => {}
    }
    // Cognito never exports a hash, but a user it confirmed has signed up with a password
    // unless it only ever signed in through another provider.
    let status = fields.id("UserStatus");
    user.password_login = !matches!(status.as_deref(), Some("EXTERNAL_PROVIDER") | None);
    if let Some(status) = status {
        user.extra
            .insert("UserStatus".into(), Value::String(status));
    }
    let rest = attributes.rest();
    if !rest.is_empty() {
        user.extra.insert("attributes".into(), Value::Object(rest));
    }
    out.user(position, user.with_rest(fields));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::testing::read;

    #[test]
    fn attributes_username_and_identities() {
        let collected = read(
            &COGNITO,
            r#"{"Users": [
                {"Username": "ann", "Enabled": true, "UserStatus": "CONFIRMED",
                 "Attributes": [{"Name": "sub", "Value": "0c5e8f04-25a1-4c6f-9d3b-1f2a3b4c5d6e"},
                                {"Name": "email", "Value": "ann@example.com"},
                                {"Name": "email_verified", "Value": "true"},
                                {"Name": "given_name", "Value": "Ann"},
                                {"Name": "custom:tier", "Value": "gold"}]},
                {"Username": "google_123", "Enabled": false, "UserStatus": "EXTERNAL_PROVIDER",
                 "Attributes": [{"Name": "sub", "Value": "b1"},
                                {"Name": "email", "Value": "bob@example.com"},
                                {"Name": "identities", "Value": "[{\"userId\":\"123\",\"providerName\":\"Google\",\"providerType\":\"Google\"}]"}]},
                {"Username": "x", "Attributes": []}
              ], "PaginationToken": "abc"}"#,
        );
        let [ann, bob] = &collected.users[..] else {
            panic!("{collected:?}")
        };
        assert_eq!(ann.id, "0c5e8f04-25a1-4c6f-9d3b-1f2a3b4c5d6e");
        assert_eq!(ann.emails[0].verified, Some(true));
        assert_eq!(ann.usernames[0].value, "ann");
        assert_eq!(
            ann.extra["attributes"],
            serde_json::json!({"custom:tier": "gold"})
        );
        assert!(ann.password_login);
        assert!(bob.inactive && !bob.password_login);
        assert_eq!(bob.federated[0].subject.as_deref(), Some("123"));
        assert_eq!(bob.usernames[0].value, "google_123");
        assert!(
            collected.notes[0].starts_with("record 3: `Attributes.sub`: missing"),
            "{:?}",
            collected.notes
        );
    }
}
