//! Firebase Authentication: the JSON file of `firebase auth:export --format=json`
//! (`{"users": [{"localId", "email", "passwordHash", "salt", "providerUserInfo", …}]}`).
//!
//! Firebase hashes passwords with its own modified scrypt, keyed by the project's signer key:
//! the service has no `HashConfig` for it, so no Firebase password is ever carried (the report
//! counts them). Phone numbers are verified (Firebase only stores one after a verified sign-in).

use super::user::{Contact, Federated, Fields, SourceUser, objects, unwrap_json};
use super::{Collect, Position, Source, missing_id, read_json_users};
use crate::model::Object;
use crate::password::PasswordInput;
use std::io::{self, BufRead};

/// Firebase Authentication.
pub(super) struct Firebase;

const EXPECTS: &str = "a `firebase auth:export` JSON file (`users` with `localId`)";

impl Source for Firebase {
    fn name(&self) -> &'static str {
        "firebase"
    }

    fn expects(&self) -> &'static str {
        EXPECTS
    }

    fn read(&self, input: &mut dyn BufRead, out: &mut dyn Collect) -> io::Result<()> {
        read_json_users(input, &["users"], out, &mut |object, out, position| {
            read_user(object, out, position)
        })
    }
}

fn read_user(object: Object, out: &mut dyn Collect, position: Position) {
    let mut fields = Fields::new(object);
    let Some(id) = fields.id("localId") else {
        return missing_id(out, position, "localId");
    };
    let mut user = SourceUser::new(id);
    let email_verified = fields.flag("emailVerified", &mut user);
    if let Some(email) = fields.text("email", &mut user) {
        user.emails
            .push(Contact::new("email", email, email_verified));
    }
    if let Some(phone) = fields.text("phoneNumber", &mut user) {
        user.phones
            .push(Contact::new("phoneNumber", phone, Some(true)));
    }
    let name = fields.take("displayName");
    user.claim("name", name);
    let picture = fields.take("photoUrl");
    user.claim("picture", picture);
    user.inactive = fields.flag("disabled", &mut user) == Some(true);
    // The hash and its salt mean nothing without the project's signer key.
    if fields.take("passwordHash").is_some() {
        user.password = Some(PasswordInput::FirebaseScrypt);
        user.password_login = true;
    }
    fields.take("salt");
    for provider in objects(fields.take("providerUserInfo")) {
        let mut provider = Fields::new(provider);
        match provider.id("providerId").as_deref() {
            Some("password") => user.password_login = true,
            Some("phone") | None => {}
            Some(other) => user.federated.push(Federated {
                provider: other.to_string(),
                subject: provider.id("rawId"),
                connection: None,
            }),
        }
    }
    if let Some(custom) = fields.take("customAttributes") {
        user.extra
            .insert("customAttributes".into(), unwrap_json(custom));
    }
    let rest = fields.rest();
    user.extra.extend(rest);
    out.user(position, user);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::testing::read;

    #[test]
    fn users_hashes_providers_and_custom_claims() {
        let collected = read(
            &Firebase,
            r#"{"users": [
              {"localId": "a1", "email": "ann@example.com", "emailVerified": true,
               "passwordHash": "UkVEQUNURUQ9PT0=", "salt": "c2FsdA==", "displayName": "Ann",
               "disabled": true, "customAttributes": "{\"admin\": true}",
               "providerUserInfo": [{"providerId": "password", "rawId": "ann@example.com"},
                                    {"providerId": "google.com", "rawId": "1234"}]},
              {"localId": "a2", "phoneNumber": "+12125550100", "providerUserInfo": []},
              {"email": "no-id@example.com"}
            ]}"#,
        );
        let [ann, phone] = &collected.users[..] else {
            panic!("{collected:?}")
        };
        assert_eq!(ann.password, Some(PasswordInput::FirebaseScrypt));
        assert!(ann.inactive && ann.password_login);
        assert_eq!(ann.profile["name"], "Ann");
        assert_eq!(ann.federated[0].provider, "google.com");
        assert_eq!(
            ann.extra["customAttributes"],
            serde_json::json!({"admin": true})
        );
        assert!(!ann.extra.contains_key("salt"));
        assert_eq!(phone.phones[0].verified, Some(true));
        assert_eq!(collected.notes.len(), 1);
        assert!(collected.notes[0].starts_with("record 3: `localId`: missing"));
    }
}
