//! Supabase (GoTrue): rows of `auth.users`, as JSON (an array or NDJSON) or CSV with a header.
//!
//! `raw_app_meta_data` and `raw_user_meta_data` are JSON inside strings; timestamps are
//! Postgres's (`2024-01-15 10:30:00.000000+00`) and only their presence matters
//! (`email_confirmed_at` set means verified). `encrypted_password` is bcrypt; an empty one is
//! no password. GoTrue keeps phone numbers without their `+`, which is put back. Tokens of
//! pending confirmations and recoveries are secrets and left out.

use super::user::{Contact, Federated, Lost, parse_flag, text_list, unwrap_json};
use super::{Collect, Layout, Position, Records, begin};
use crate::model::Object;
use serde_json::Value;

/// Supabase.
pub(super) const SUPABASE: Records = Records {
    name: "supabase",
    expects: "rows of Supabase's `auth.users` as JSON or CSV (with `id`, `email`, `encrypted_password`)",
    layout: Layout::JsonOrCsv,
    containers: &["users"],
    read_user,
};

/// GoTrue's token columns: secrets.
const TOKENS: &[&str] = &[
    "confirmation_token",
    "recovery_token",
    "email_change_token_new",
    "email_change_token_current",
    "phone_change_token",
    "reauthentication_token",
];

fn read_user(object: Object, lost: Vec<Lost>, out: &mut dyn Collect, position: Position) {
    let Some((mut fields, mut user)) = begin(object, lost, "id", out, position) else {
        return;
    };
    let email_confirmed = fields.take("email_confirmed_at").is_some();
    if let Some(email) = fields.text("email", &mut user) {
        user.emails
            .push(Contact::new("email", email, Some(email_confirmed)));
    }
    let phone_confirmed = fields.take("phone_confirmed_at").is_some();
    if let Some(phone) = fields.text("phone", &mut user) {
        let phone = if !phone.is_empty() && phone.bytes().all(|byte| byte.is_ascii_digit()) {
            format!("+{phone}")
        } else {
            phone
        };
        user.phones
            .push(Contact::new("phone", phone, Some(phone_confirmed)));
    }
    let hash = fields.text("encrypted_password", &mut user);
    user.hash_text(hash, None);
    for token in TOKENS {
        fields.secret(token, &mut user);
    }
    let given_name = fields.take("first_name");
    user.claim("given_name", given_name);
    let family_name = fields.take("last_name");
    user.claim("family_name", family_name);
    // A ban or a deletion is a timestamp; some exports write `false` for none.
    for key in ["banned_until", "deleted_at"] {
        match fields.take(key) {
            Some(Value::String(text)) => user.inactive |= parse_flag(&text).unwrap_or(true),
            Some(Value::Bool(flag)) => user.inactive |= flag,
            Some(_) => user.inactive = true,
            None => {}
        }
    }

    if let Some(app) = fields.take("raw_app_meta_data").map(unwrap_json) {
        if let Value::Object(app) = &app {
            let mut providers = text_list(app.get("providers").cloned());
            if let Some(Value::String(provider)) = app.get("provider") {
                if !providers.contains(provider) {
                    providers.push(provider.clone());
                }
            }
            for provider in providers {
                match provider.as_str() {
                    "email" => user.password_login = true,
                    "phone" | "anonymous" => {}
                    _ => user.federated.push(Federated {
                        provider,
                        subject: None,
                        connection: None,
                    }),
                }
            }
        }
        user.extra.insert("raw_app_meta_data".into(), app);
    }
    if let Some(profile) = fields.take("raw_user_meta_data").map(unwrap_json) {
        match profile {
            Value::Object(mut profile) => {
                for (claim, keys) in [
                    ("name", &["full_name", "name"][..]),
                    ("picture", &["avatar_url", "picture"]),
                    ("given_name", &["given_name"]),
                    ("family_name", &["family_name"]),
                    ("locale", &["locale"]),
                    ("nickname", &["nickname", "user_name", "preferred_username"]),
                ] {
                    if user.profile.contains_key(claim) {
                        continue;
                    }
                    let value = keys.iter().find_map(|key| profile.remove(*key));
                    user.claim(claim, value);
                }
                if !profile.is_empty() {
                    user.extra
                        .insert("raw_user_meta_data".into(), Value::Object(profile));
                }
            }
            other => {
                user.extra.insert("raw_user_meta_data".into(), other);
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

    const BCRYPT: &str = "$2b$10$U4C0ZY8OG8y41F9LusfKyu3HRMBL0rCZcKBVsXhgr.n8Ou6FPhzO2";

    #[test]
    fn csv_and_json_rows_read_alike() {
        let csv = format!(
            "id,email,encrypted_password,email_confirmed_at,raw_app_meta_data,raw_user_meta_data,phone,recovery_token\n\
             7c9e6679-7425-40de-944b-e07fc1f90ae7,ann@example.com,{BCRYPT},2024-01-15 10:30:00.000000+00,\
             \"{{\\\"\"provider\\\"\":\\\"\"email\\\"\",\\\"\"providers\\\"\":[\\\"\"email\\\"\",\\\"\"github\\\"\"]}}\",\
             \"{{\"\"full_name\"\":\"\"Ann Lee\"\",\"\"plan\"\":\"\"pro\"\"}}\",4915112345678,abc\n"
        );
        let json = serde_json::json!([{
            "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "email": "ann@example.com",
            "encrypted_password": BCRYPT, "email_confirmed_at": "2024-01-15 10:30:00.000000+00",
            "raw_app_meta_data": "{\"provider\":\"email\",\"providers\":[\"email\",\"github\"]}",
            "raw_user_meta_data": {"full_name": "Ann Lee", "plan": "pro"},
            "phone": "4915112345678", "recovery_token": "abc"
        }]);
        let from_csv = read(&SUPABASE, &csv);
        let from_json = read(&SUPABASE, &json.to_string());
        assert!(from_csv.notes.is_empty(), "{:?}", from_csv.notes);
        assert_eq!(from_csv.users, from_json.users);
        let user = &from_csv.users[0];
        assert_eq!(user.emails[0].verified, Some(true));
        assert_eq!(user.phones[0].value, "+4915112345678");
        assert_eq!(user.password, Some(PasswordInput::text(BCRYPT)));
        assert_eq!(user.profile["name"], "Ann Lee");
        assert_eq!(
            user.extra["raw_user_meta_data"],
            serde_json::json!({"plan": "pro"})
        );
        assert_eq!(user.federated[0].provider, "github");
        assert!(user.password_login);
        assert_eq!(user.secrets, ["recovery_token"]);
    }

    #[test]
    fn empty_hashes_and_deleted_users() {
        let collected = read(
            &SUPABASE,
            "id,email,encrypted_password,deleted_at\nu1,a@x.io,,2024-01-01 00:00:00+00\n",
        );
        assert_eq!(collected.users[0].password, None);
        assert!(collected.users[0].inactive);
    }
}
