//! Firebase Authentication: the JSON file of `firebase auth:export --format=json`
//! (`{"users": [{"localId", "email", "passwordHash", "salt", "providerUserInfo", …}]}`).
//!
//! Firebase hashes passwords with its own modified scrypt, keyed by the project's signer key:
//! the service has no `HashConfig` for it, so no Firebase password is ever carried (the report
//! counts them). Phone numbers are verified (Firebase only stores one after a verified sign-in).

use super::user::{Contact, Federated, Fields, Lost, objects, unwrap_json};
use super::{Collect, Layout, Position, Records, begin};
use crate::model::Object;
use crate::password::PasswordInput;

/// Firebase Authentication.
pub(super) const FIREBASE: Records = Records {
    name: "firebase",
    expects: "a `firebase auth:export` JSON file (`users` with `localId`)",
    layout: Layout::Json,
    containers: &["users"],
    read_user,
};

fn read_user(object: Object, lost: Vec<Lost>, out: &mut dyn Collect, position: Position) {
    let Some((mut fields, mut user)) = begin(object, lost, "localId", out, position) else {
        return;
    };
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
    out.user(position, user.with_rest(fields));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::testing::read;

    #[test]
    fn users_hashes_providers_and_custom_claims() {
        let collected = read(
            &FIREBASE,
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
