//! Harness for the end-to-end tests in `tests/`: finds the running local stack and calls it the
//! way a partner or an administrator would (HTTP API, the chanctl binary, S3).
//!
//! The stack is the one described by `TRIBUTARY_STACK_FILE` (set by `make test-e2e`, which starts
//! a stack for the run), else `.local/stack.json` (written by `make up`). Without either, every
//! test fails saying how to start one: end-to-end tests never skip.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

pub struct Stack {
    pub state: Value,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Stack {
    pub fn load() -> Self {
        let path = std::env::var_os("TRIBUTARY_STACK_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| tributary::testing::workspace_root().join(".local/stack.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "no running local stack ({}: {e}): run `make test-e2e`, or start one with `make up`",
                path.display()
            )
        });
        Self {
            state: serde_json::from_str(&text).expect("the stack file is JSON"),
        }
    }

    fn text(&self, pointer: &str) -> &str {
        self.state
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("the stack file has no {pointer}"))
    }

    pub fn api_url(&self) -> &str {
        self.text("/api_url")
    }

    pub fn aws_endpoint(&self) -> &str {
        self.text("/aws_endpoint")
    }

    /// The physical name (or queue URL) of a template resource.
    pub fn resource(&self, logical_id: &str) -> &str {
        self.text(&format!("/resources/{logical_id}"))
    }

    pub fn demo(&self) -> &Value {
        self.state
            .get("demo")
            .filter(|d| !d.is_null())
            .expect("the stack was started without demo data")
    }

    /// Calls the API; `api_key` goes in `Authorization: Bearer`.
    pub fn request(&self, method: &str, path: &str, api_key: Option<&str>) -> Reply {
        self.send(method, path, api_key, None)
    }

    /// Calls the API with a JSON body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        api_key: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let bearer = api_key.map(|key| format!("Bearer {key}"));
        let mut headers = Vec::new();
        if let Some(bearer) = &bearer {
            headers.push(("authorization", bearer.as_str()));
        }
        let body = body.map(Value::to_string);
        self.send_raw(method, path, &headers, body.as_deref())
    }

    /// Calls the API with exactly these headers and body (a JSON body, if any).
    pub fn send_raw(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let uri = format!("{}{path}", self.api_url());
        let mut request = ureq::http::Request::builder().method(method).uri(&uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let sent = match body {
            Some(body) => agent.run(
                request
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .expect("a valid request"),
            ),
            None => agent.run(request.body(()).expect("a valid request")),
        };
        let mut response = sent.unwrap_or_else(|e| panic!("{method} {uri}: {e}"));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let text = response.body_mut().read_to_string().expect("a text body");
        Reply {
            status: response.status().as_u16(),
            content_type,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        }
    }

    /// The demo key of a role (the first one issued for it).
    pub fn demo_key(&self, role: &str) -> String {
        self.demo()["keys"]
            .as_array()
            .expect("demo keys")
            .iter()
            .find(|k| k["role"] == role)
            .unwrap_or_else(|| panic!("no demo key for {role}"))["api_key"]
            .as_str()
            .expect("a key")
            .to_string()
    }

    /// The demo key of the `index`-th demo partner.
    pub fn partner_key(&self, index: usize) -> (String, String) {
        let partner = self.demo()["partners"][index]["id"]
            .as_str()
            .expect("a partner")
            .to_string();
        let key = self.demo()["keys"]
            .as_array()
            .expect("demo keys")
            .iter()
            .find(|k| k["principal"] == partner.as_str())
            .expect("a demo key for the partner")["api_key"]
            .as_str()
            .expect("a key")
            .to_string();
        (partner, key)
    }

    /// Polls `GET path` until `done` holds for the reply, or fails after `seconds`.
    pub fn wait_for(
        &self,
        path: &str,
        api_key: &str,
        seconds: u64,
        done: impl Fn(&Reply) -> bool,
    ) -> Reply {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        loop {
            let reply = self.request("GET", path, Some(api_key));
            if done(&reply) {
                return reply;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "GET {path} never got there; last: {} {:?}",
                reply.status,
                reply.body
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }

    /// Puts a file into the drop bucket, as a distributor does.
    pub async fn drop_file(&self, key: &str, body: Vec<u8>) {
        let config = tributary::testing::sdk_config_for(self.aws_endpoint()).await;
        tributary::aws::s3(&config)
            .put_object()
            .bucket(self.resource("DropBucket"))
            .key(key)
            .body(body.into())
            .send()
            .await
            .expect("put into the drop bucket");
    }

    /// Runs the admin tool against this stack and returns its JSON output.
    pub fn chanctl(&self, args: &[&str]) -> Value {
        let binary = tributary::testing::workspace_root().join("target/debug/chanctl");
        let output = Command::new(&binary)
            .arg("--json")
            .arg("--endpoint-url")
            .arg(self.aws_endpoint())
            .arg("--table")
            .arg(self.resource("Table"))
            .args(args)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        assert!(
            output.status.success(),
            "chanctl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("chanctl --json prints JSON")
    }
}

/// PUTs `body` to a presigned upload (`{method, url, headers}` as the API answers it) with the
/// headers it was signed with; returns the status.
pub fn upload(upload: &Value, body: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = ureq::http::Request::builder()
        .method(upload["method"].as_str().expect("a method"))
        .uri(upload["url"].as_str().expect("a url"));
    for header in upload["headers"].as_array().expect("headers") {
        request = request.header(
            header[0].as_str().expect("a name"),
            header[1].as_str().expect("a value"),
        );
    }
    let response = agent
        .run(request.body(body.to_vec()).expect("a valid request"))
        .expect("the presigned upload");
    response.status().as_u16()
}
