//! The CLI's client for a running server: `rulehost plugin …`,
//! `rulehost decide`, `rulehost events send` and `rulehost touches tail`.

use std::time::Duration;

use serde_json::Value;

/// Where the server is and who we are.
#[derive(Debug, Clone)]
pub struct Client {
    server: String,
    tenant: String,
    key: String,
    agent: ureq::Agent,
}

/// A response: its status and JSON body (or the error the server sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON (`null` if empty, a string if not JSON).
    pub body: Value,
}

impl Reply {
    /// Whether the status is 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Client {
    /// A client for `tenant` on `server` (e.g. `http://127.0.0.1:8080`).
    pub fn new(server: &str, tenant: &str, key: &str) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self {
            server: server.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            key: key.to_owned(),
            agent,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/tenants/{}{path}", self.server, self.tenant)
    }

    fn finish(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, String> {
        let mut response = result.map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the response: {e}"))?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply { status, body })
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.key)
    }

    /// POSTs an NDJSON body.
    pub fn post_ndjson(&self, path: &str, body: String) -> Result<Reply, String> {
        Self::finish(
            self.agent
                .post(&self.url(path))
                .header("Authorization", &self.auth())
                .header("Content-Type", "application/x-ndjson")
                .send(body),
        )
    }

    /// Uploads a component.
    pub fn push(&self, wasm: &[u8], name: Option<&str>, version: Option<&str>) -> Result<Reply, String> {
        let mut request = self
            .agent
            .post(&self.url("/plugins"))
            .header("Authorization", &self.auth())
            .header("Content-Type", "application/wasm");
        if let Some(name) = name {
            request = request.query("name", name);
        }
        if let Some(version) = version {
            request = request.query("version", version);
        }
        Self::finish(request.send(wasm))
    }

    /// Lists plugin versions (one page).
    pub fn list(&self, after: Option<&str>) -> Result<Reply, String> {
        let mut request = self
            .agent
            .get(&self.url("/plugins"))
            .header("Authorization", &self.auth());
        if let Some(after) = after {
            request = request.query("after", after);
        }
        Self::finish(request.call())
    }

    /// Activates a version in a slot.
    pub fn activate(&self, slot: &str, name: &str, version: &str) -> Result<Reply, String> {
        let body = serde_json::json!({"name": name, "version": version});
        Self::finish(
            self.agent
                .post(&self.url(&format!("/pipeline/{slot}/activate")))
                .header("Authorization", &self.auth())
                .send_json(body),
        )
    }

    /// Rolls a slot back.
    pub fn rollback(&self, slot: &str) -> Result<Reply, String> {
        Self::finish(
            self.agent
                .post(&self.url(&format!("/pipeline/{slot}/rollback")))
                .header("Authorization", &self.auth())
                .send_empty(),
        )
    }

    /// GETs a path under the tenant (`/config`, `/pipeline`, …).
    pub fn get(&self, path: &str) -> Result<Reply, String> {
        Self::finish(
            self.agent
                .get(&self.url(path))
                .header("Authorization", &self.auth())
                .call(),
        )
    }

    /// GETs a path under the tenant that answers with bytes (a component).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, String> {
        let mut response = self
            .agent
            .get(&self.url(path))
            .header("Authorization", &self.auth())
            .call()
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let body = response.body_mut();
        if !(200..300).contains(&status) {
            let text = body.read_to_string().unwrap_or_default();
            return Err(format!("GET {path}: {status} {text}"));
        }
        body.with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| format!("reading {path}: {e}"))
    }

    /// Asks for a decision; `request` is a decide request (`{"profile": …}`).
    pub fn decide(&self, request: &Value) -> Result<Reply, String> {
        self.post("/decide", request)
    }

    /// PUTs JSON to a path under the tenant.
    pub fn put(&self, path: &str, body: &Value) -> Result<Reply, String> {
        Self::finish(
            self.agent
                .put(&self.url(path))
                .header("Authorization", &self.auth())
                .send_json(body),
        )
    }

    /// DELETEs a path under the tenant.
    pub fn delete(&self, path: &str) -> Result<Reply, String> {
        Self::finish(
            self.agent
                .delete(&self.url(path))
                .header("Authorization", &self.auth())
                .call(),
        )
    }

    /// POSTs JSON to a path under the tenant.
    pub fn post(&self, path: &str, body: &Value) -> Result<Reply, String> {
        Self::finish(
            self.agent
                .post(&self.url(path))
                .header("Authorization", &self.auth())
                .send_json(body),
        )
    }
}
