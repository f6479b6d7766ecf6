//! Clerk: the dashboard's CSV export (it may open with `#` comment lines; list cells such as
//! `verified_email_addresses` are `|`-separated) or the JSON export.
//!
//! `password_digest` with `password_hasher` is the hash (Clerk's own name of the algorithm goes
//! to the hash reader with it). `totp_secret` and `backup_codes` are secrets, left out and
//! counted. The JSON export's `email_addresses` may be plain text, which says nothing of
//! verification: such addresses are imported unverified unless listed as verified elsewhere.

use super::user::{Contact, Lost, text_list, unwrap_json};
use super::{Collect, Layout, Position, Records, begin};
use crate::model::Object;
use serde_json::Value;

/// Clerk.
pub(super) const CLERK: Records = Records {
    name: "clerk",
    expects: "a Clerk export, CSV or JSON (`id`, `primary_email_address`, `password_digest`)",
    layout: Layout::JsonOrCsv,
    containers: &["users", "data"],
    read_user,
};

/// An address of a list: text, or Clerk API's `{"email_address"|"phone_number", "verification":
/// {"status"}}` objects.
fn addresses(value: Option<Value>, key: &str) -> Vec<(String, Option<bool>)> {
    match value {
        Some(Value::Array(items)) if items.iter().any(Value::is_object) => items
            .into_iter()
            .filter_map(|item| {
                let address = item.get(key)?.as_str()?.to_string();
                let status = item.pointer("/verification/status").and_then(Value::as_str);
                Some((address, status.map(|status| status == "verified")))
            })
            .collect(),
        other => text_list(other)
            .into_iter()
            .map(|address| (address, None))
            .collect(),
    }
}

fn read_user(object: Object, lost: Vec<Lost>, out: &mut dyn Collect, position: Position) {
    let Some((mut fields, mut user)) = begin(object, lost, "id", out, position) else {
        return;
    };
    if let Some(email) = fields.text("primary_email_address", &mut user) {
        user.emails
            .push(Contact::new("primary_email_address", email, None));
    }
    for (field, verified) in [
        ("verified_email_addresses", Some(true)),
        ("unverified_email_addresses", Some(false)),
        ("email_addresses", None),
    ] {
        for (email, status) in addresses(fields.take(field), "email_address") {
            user.emails
                .push(Contact::new(field, email, status.or(verified)));
        }
    }
    if let Some(phone) = fields.text("primary_phone_number", &mut user) {
        user.phones
            .push(Contact::new("primary_phone_number", phone, None));
    }
    for (field, verified) in [
        ("verified_phone_numbers", Some(true)),
        ("unverified_phone_numbers", Some(false)),
        ("phone_numbers", None),
    ] {
        for (phone, status) in addresses(fields.take(field), "phone_number") {
            user.phones
                .push(Contact::new(field, phone, status.or(verified)));
        }
    }
    if let Some(username) = fields.text("username", &mut user) {
        user.usernames
            .push(Contact::new("username", username, None));
    }
    for (claim, key) in [
        ("given_name", "first_name"),
        ("family_name", "last_name"),
        ("picture", "image_url"),
    ] {
        let value = fields.take(key);
        user.claim(claim, value);
    }
    let digest = fields.text("password_digest", &mut user);
    let hasher = fields.text("password_hasher", &mut user);
    user.hash_text(digest, hasher);
    user.password_login = user.password.is_some();
    fields.secret("totp_secret", &mut user);
    fields.secret("backup_codes", &mut user);
    user.inactive = fields.flag("banned", &mut user) == Some(true)
        || fields.flag("locked", &mut user) == Some(true);
    for key in ["public_metadata", "private_metadata", "unsafe_metadata"] {
        if let Some(value) = fields.take(key) {
            user.extra.insert(key.into(), unwrap_json(value));
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
    fn the_csv_export_with_its_comment_line_and_lists() {
        let collected = read(
            &CLERK,
            "# Password for users with passwords: x\n\
             id,first_name,username,primary_email_address,verified_email_addresses,unverified_email_addresses,totp_secret,password_digest,password_hasher\n\
             user_1,Ann,ann,a@x.io,a@x.io|b@x.io,c@x.io,JBSWY3DP,$2b$10$abc,bcrypt\n",
        );
        assert!(collected.notes.is_empty(), "{:?}", collected.notes);
        let user = &collected.users[0];
        let emails: Vec<_> = user
            .emails
            .iter()
            .map(|c| (c.value.as_str(), c.verified))
            .collect();
        assert_eq!(
            emails,
            [
                ("a@x.io", None),
                ("a@x.io", Some(true)),
                ("b@x.io", Some(true)),
                ("c@x.io", Some(false))
            ]
        );
        assert_eq!(
            user.password,
            Some(PasswordInput::Text {
                text: "$2b$10$abc".into(),
                hasher: Some("bcrypt".into())
            })
        );
        assert_eq!(user.secrets, ["totp_secret"]);
        assert_eq!(user.profile["given_name"], "Ann");
    }

    #[test]
    fn the_json_export_and_api_objects() {
        let collected = read(
            &CLERK,
            r#"[{"id": "user_2", "email_addresses": ["a@x.io"], "password_digest": null,
                 "phone_numbers": [{"phone_number": "+12125550100", "verification": {"status": "verified"}}],
                 "public_metadata": {"plan": "pro"}, "backup_codes": ["1", "2"], "banned": true}]"#,
        );
        let user = &collected.users[0];
        assert_eq!(user.emails[0].verified, None);
        assert_eq!(user.phones[0].verified, Some(true));
        assert_eq!(user.password, None);
        assert!(user.inactive);
        assert_eq!(user.secrets, ["backup_codes"]);
        assert_eq!(
            user.extra["public_metadata"],
            serde_json::json!({"plan": "pro"})
        );
    }
}
