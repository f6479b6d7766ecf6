//! The emulator over real HTTP on 127.0.0.1: tokens, paths, import rules, delete, tenants,
//! persistence, faults, concurrency and conformance to the vendor spec.

mod auth;
mod conformance;
mod faults;
mod import;
mod operate;

use poolsync::emulator::{Emulator, EmulatorConfig};
use poolsync::model::TenantDump;
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(crate) const CLIENT: &str = "ops";
pub(crate) const SECRET: &str = "s3cret-of-ops";

/// The example tenant `acme`.
pub(crate) fn seed() -> TenantDump {
    poolsync::load::read_dump(&crate::support::root().join("examples/tenant.json")).unwrap()
}

/// The example tenant as JSON.
pub(crate) fn seed_json() -> Value {
    serde_json::to_value(seed()).unwrap()
}

/// `acme` seeded from the example, with client `ops` holding the default scopes.
pub(crate) fn config() -> EmulatorConfig {
    EmulatorConfig::new()
        .tenant("acme", seed())
        .client(CLIENT, SECRET, &[])
}

pub(crate) async fn start(config: EmulatorConfig) -> Emulator {
    Emulator::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Starts `config`, with a client of tenant `acme` and a token of `ops` holding every scope.
pub(crate) async fn acme(config: EmulatorConfig) -> (Emulator, Api, String) {
    let emulator = start(config).await;
    let api = Api::new(&emulator.url(), "acme");
    let token = api.token().await;
    (emulator, api, token)
}

/// A client of one emulator and tenant.
pub(crate) struct Api {
    pub http: reqwest::Client,
    pub url: String,
    pub tenant: String,
}

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub(crate) async fn read(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The `error` message of an error body.
    pub(crate) fn message(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
}

impl Api {
    pub(crate) fn new(url: &str, tenant: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            url: url.to_string(),
            tenant: tenant.to_string(),
        }
    }

    pub(crate) fn token_url(&self) -> String {
        format!("{}/{}/system/oauth2/token", self.url, self.tenant)
    }

    pub(crate) fn legacy_url(&self) -> String {
        format!(
            "{}/api/identity/system/{}/configuration",
            self.url, self.tenant
        )
    }

    pub(crate) fn current_url(&self) -> String {
        format!("{}/api/identity/{}/configuration", self.url, self.tenant)
    }

    /// Asks for a token with the secret in the form.
    pub(crate) async fn token_answer(
        &self,
        client: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> Answer {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", secret),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(self.token_url())
            .form(&form)
            .send()
            .await
            .unwrap();
        Answer::read(response).await
    }

    /// A token of `ops` with the given scope (all of its scopes when `None`).
    pub(crate) async fn token_with(&self, scope: Option<&str>) -> String {
        let answer = self.token_answer(CLIENT, SECRET, scope).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        answer.body["access_token"].as_str().unwrap().to_string()
    }

    pub(crate) async fn token(&self) -> String {
        self.token_with(None).await
    }

    pub(crate) async fn export_at(&self, url: &str, token: &str) -> Answer {
        let response = self.http.get(url).bearer_auth(token).send().await.unwrap();
        let answer = Answer::read(response).await;
        if answer.status == StatusCode::OK {
            // Every export any test sees must conform to the vendor spec.
            let problems = crate::support::spec::check_tenant_dump(&answer.body);
            assert!(
                problems.is_empty(),
                "export breaks the vendor spec: {problems:#?}"
            );
        }
        answer
    }

    /// Exports on the legacy path and expects success.
    pub(crate) async fn export(&self, token: &str) -> Value {
        let answer = self.export_at(&self.legacy_url(), token).await;
        assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
        answer.body
    }

    pub(crate) async fn import_at(
        &self,
        url: &str,
        token: &str,
        mode: Option<&str>,
        body: &Value,
    ) -> Answer {
        let mut request = self.http.put(url).bearer_auth(token).json(body);
        if let Some(mode) = mode {
            request = request.query(&[("mode", mode)]);
        }
        Answer::read(request.send().await.unwrap()).await
    }

    /// Imports on the legacy path.
    pub(crate) async fn import(&self, token: &str, mode: Option<&str>, body: &Value) -> Answer {
        self.import_at(&self.legacy_url(), token, mode, body).await
    }

    pub(crate) async fn delete_user(&self, token: &str, pool: &str, user: &str) -> Answer {
        let url = format!(
            "{}/api/identity/{}/system/pools/{pool}/users/{user}",
            self.url, self.tenant
        );
        Answer::read(
            self.http
                .delete(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }
}

/// The records of `section` in `dump` whose `field` is `value`.
pub(crate) fn records<'d>(
    dump: &'d Value,
    section: &str,
    field: &str,
    value: &str,
) -> Vec<&'d Value> {
    dump[section]
        .as_array()
        .map(|records| {
            records
                .iter()
                .filter(|record| record[field] == value)
                .collect()
        })
        .unwrap_or_default()
}

/// A complete new user of pool `customers` of the example: the user and one e-mail identifier,
/// address and password credential, as an import body.
pub(crate) fn new_user(user_id: &str, email: &str) -> Value {
    let pool = customers_pool();
    let now = "2025-06-01T12:00:00Z";
    json!({
        "users": [{"id": user_id, "tenant_id": "acme", "user_pool_id": pool, "status": "active",
            "payload": {"given_name": "New"}, "created_at": now, "updated_at": now}],
        "user_identifiers": [{"id": format!("{user_id}-email"), "tenant_id": "acme",
            "user_pool_id": pool, "user_id": user_id, "type": "email", "identifier": email,
            "identifier_lc": email.to_lowercase(), "created_at": now, "updated_at": now}],
        "user_verifiable_addresses": [{"id": format!("{user_id}-address"), "tenant_id": "acme",
            "user_pool_id": pool, "user_id": user_id, "type": "email", "address": email,
            "address_lc": email.to_lowercase(), "status": "active", "verified": false,
            "created_at": now, "updated_at": now}],
        "user_credentials": [{"id": format!("{user_id}-password"), "tenant_id": "acme",
            "user_pool_id": pool, "user_id": user_id, "type": "password",
            "payload": {"hashed_password": {"value": "$2a$10$abcdefghijklmnopqrstuv"}},
            "state": "valid", "created_at": now, "updated_at": now}]
    })
}

/// Joins import bodies into one, section by section.
pub(crate) fn merge(bodies: &[Value]) -> Value {
    let mut merged = serde_json::Map::new();
    for body in bodies {
        for (section, records) in body.as_object().unwrap() {
            let target = merged.entry(section.clone()).or_insert_with(|| json!([]));
            target
                .as_array_mut()
                .unwrap()
                .extend(records.as_array().unwrap().iter().cloned());
        }
    }
    Value::Object(merged)
}

/// Id of pool `customers` of the example.
pub(crate) fn customers_pool() -> String {
    seed().pools[0].id.clone().unwrap()
}

/// Id of the example's first user (Alice, pool `customers`).
pub(crate) fn alice() -> String {
    seed().users[0].id.clone().unwrap()
}
