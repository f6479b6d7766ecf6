//! Keycloak: a realm export (`users[]` among the realm's settings), a `<realm>-users-N.json`
//! file of a split export, or the admin API's array of users.
//!
//! A `password` credential's `secretData` and `credentialData` are JSON inside strings; the old
//! export's `hashedSaltedValue`, `salt`, `hashIterations` and `algorithm` fields are read too.
//! Other credentials (OTP, WebAuthn) hold secrets and are left out. Service accounts (users with
//! `serviceAccountClientId`) are clients, not people: they are left out and counted.

use super::user::{Contact, Federated, Fields, Lost, SourceUser, objects, unwrap_json};
use super::{Collect, Layout, Position, Records, begin};
use crate::model::Object;
use crate::password::{KeycloakHash, PasswordInput};
use serde_json::Value;

/// Keycloak.
pub(super) const KEYCLOAK: Records = Records {
    name: "keycloak",
    expects: "a Keycloak realm export (`users` with `id`, `username`, `credentials`)",
    layout: Layout::Json,
    containers: &["users"],
    read_user,
};

fn read_user(object: Object, lost: Vec<Lost>, out: &mut dyn Collect, position: Position) {
    let Some((mut fields, mut user)) = begin(object, lost, "id", out, position) else {
        return;
    };
    if fields.has("serviceAccountClientId") {
        return out.left_out(
            position,
            &user.id,
            "a Keycloak client's service account, not a person",
        );
    }
    if let Some(username) = fields.text("username", &mut user) {
        user.usernames
            .push(Contact::new("username", username, None));
    }
    let email_verified = fields.flag("emailVerified", &mut user);
    if let Some(email) = fields.text("email", &mut user) {
        user.emails
            .push(Contact::new("email", email, email_verified));
    }
    let first_name = fields.take("firstName");
    user.claim("given_name", first_name);
    let last_name = fields.take("lastName");
    user.claim("family_name", last_name);
    user.inactive = fields.flag("enabled", &mut user) == Some(false);

    if let Some(Value::Object(mut attributes)) = fields.take("attributes") {
        // Attributes are lists of text; the profile takes the first value.
        let mut first = |key: &str| match attributes.remove(key) {
            Some(Value::Array(mut values)) if !values.is_empty() => Some(values.swap_remove(0)),
            Some(Value::Array(_)) | None => None,
            Some(other) => Some(other),
        };
        for claim in [
            "locale",
            "picture",
            "zoneinfo",
            "birthdate",
            "gender",
            "website",
            "nickname",
            "middle_name",
        ] {
            let value = first(claim);
            user.claim(claim, value);
        }
        let phone_verified = ["phoneNumberVerified", "phone_number_verified"]
            .into_iter()
            .find_map(&mut first)
            .and_then(|value| match value {
                Value::Bool(flag) => Some(flag),
                Value::String(text) => super::user::parse_flag(&text),
                _ => None,
            });
        for key in ["phoneNumber", "phone_number", "mobile"] {
            if let Some(Value::String(phone)) = first(key) {
                user.phones.push(Contact::new(
                    "attributes.phoneNumber",
                    phone,
                    phone_verified,
                ));
            }
        }
        if !attributes.is_empty() {
            user.extra
                .insert("attributes".into(), Value::Object(attributes));
        }
    }

    for credential in objects(fields.take("credentials")) {
        read_credential(credential, &mut user);
    }
    for identity in objects(fields.take("federatedIdentities")) {
        let mut identity = Fields::new(identity);
        if let Some(provider) = identity.id("identityProvider") {
            user.federated.push(Federated {
                provider,
                subject: identity.id("userId"),
                connection: None,
            });
        }
    }
    out.user(position, user.with_rest(fields));
}

fn read_credential(credential: Object, user: &mut SourceUser) {
    let mut credential = Fields::new(credential);
    let kind = credential.id("type").unwrap_or_default();
    if kind != "password" || user.password.is_some() {
        user.secret(format!("credentials[{kind}]"));
        return;
    }
    user.password_login = true;
    // A realm import may give the password itself (`value`): never carried.
    if credential.has("value") {
        user.secret("credentials[password].value");
        return;
    }
    let secret = credential.take("secretData").map(unwrap_json);
    let data = credential.take("credentialData").map(unwrap_json);
    let mut hash = KeycloakHash::default();
    match (secret, data) {
        (Some(Value::Object(mut secret)), Some(Value::Object(mut data))) => {
            hash.value = text(secret.remove("value"));
            hash.salt = text(secret.remove("salt"));
            hash.algorithm = text(data.remove("algorithm"));
            hash.iterations = number(data.remove("hashIterations"));
            if let Some(Value::Object(parameters)) = data.remove("additionalParameters") {
                for (name, value) in parameters {
                    let value = match value {
                        Value::Array(mut values) if !values.is_empty() => values.swap_remove(0),
                        other => other,
                    };
                    hash.parameters.insert(name, text(Some(value)));
                }
            }
        }
        _ => {
            hash.value = text(credential.take("hashedSaltedValue"));
            hash.salt = text(credential.take("salt"));
            hash.algorithm = text(credential.take("algorithm"));
            hash.iterations = number(credential.take("hashIterations"));
        }
    }
    if !hash.value.trim().is_empty() {
        user.password = Some(PasswordInput::Keycloak(hash));
    }
}

fn text(value: Option<Value>) -> String {
    match value {
        Some(Value::String(text)) => text,
        Some(Value::Number(number)) => number.to_string(),
        _ => String::new(),
    }
}

fn number(value: Option<Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use crate::convert::testing::{Collected, read as read_with};

    fn read(value: Value) -> Collected {
        read_with(&KEYCLOAK, &value.to_string())
    }

    #[test]
    fn json_inside_strings_and_the_old_fields_give_the_same_hash() {
        let users = read(json!({"realm": "r", "users": [
            {"id": "u1", "credentials": [{"type": "password",
                "secretData": "{\"value\":\"dmFsdWU=\",\"salt\":\"c2FsdA==\"}",
                "credentialData": "{\"hashIterations\":27500,\"algorithm\":\"pbkdf2-sha256\",\"additionalParameters\":{\"hashLength\":[\"64\"]}}"}]},
            {"id": "u2", "credentials": [{"type": "password", "hashedSaltedValue": "dmFsdWU=",
                "salt": "c2FsdA==", "hashIterations": 27500, "algorithm": "pbkdf2-sha256"}]}
        ]}));
        let hashes: Vec<_> = users
            .users
            .iter()
            .map(|user| match &user.password {
                Some(PasswordInput::Keycloak(hash)) => hash.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(hashes[0].algorithm, "pbkdf2-sha256");
        assert_eq!(hashes[0].iterations, Some(27500));
        assert_eq!(hashes[0].parameters["hashLength"], "64");
        assert_eq!(
            (hashes[0].value.as_str(), hashes[0].salt.as_str()),
            ("dmFsdWU=", "c2FsdA==")
        );
        assert_eq!(hashes[1].value, hashes[0].value);
        assert_eq!(hashes[1].iterations, Some(27500));
    }

    #[test]
    fn service_accounts_are_left_out_and_otp_secrets_counted() {
        let users = read(json!([
            {"id": "s", "username": "service-account-x", "serviceAccountClientId": "x"},
            {"id": "u", "username": "ann", "enabled": false,
             "attributes": {"locale": ["de"], "department": ["fishing"]},
             "credentials": [{"type": "otp", "secretData": "{\"value\":\"JBSWY3DP\"}"}]}
        ]));
        assert_eq!(
            users.notes,
            ["record 1 `s` left out: a Keycloak client's service account, not a person"]
        );
        let user = &users.users[0];
        assert!(user.inactive);
        assert_eq!(user.profile["locale"], "de");
        assert_eq!(user.extra["attributes"], json!({"department": ["fishing"]}));
        assert_eq!(user.secrets, ["credentials[otp]"]);
        assert_eq!(user.password, None);
    }
}
