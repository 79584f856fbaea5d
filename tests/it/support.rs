//! Shared test support: an in-process emulator on `127.0.0.1:0` and a tiny signed HTTP
//! caller built on `fgform::api::signing` (the same signer the client uses).
#![allow(dead_code)]

use std::path::Path;

use fgform::api::{local, signing};
use fgform::emulator::{self, Config, EmulatorHandle};
use serde_json::{json, Value};

/// Signs and sends requests to an emulator at `addr`.
pub struct Caller {
    pub addr: std::net::SocketAddr,
    pub project: String,
    pub ak: String,
    pub sk: String,
    http: reqwest::Client,
}

/// A caller for an emulator started elsewhere (another process) with the default credentials.
pub type RemoteEmu = Caller;

/// A started emulator plus the credentials tests sign with.
pub struct Emu {
    pub handle: EmulatorHandle,
    caller: Caller,
}

impl std::ops::Deref for Emu {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    /// `error_code` of an error body ("" when absent).
    pub fn code(&self) -> &str {
        self.body.get("error_code").and_then(Value::as_str).unwrap_or("")
    }
}

impl Emu {
    pub async fn start() -> Emu {
        Emu::with(Config::default()).await
    }

    pub async fn with(config: Config) -> Emu {
        let handle = emulator::start(config).await.expect("emulator starts");
        let caller = Caller {
            addr: handle.addr(),
            project: handle.config().project_id.clone(),
            ak: handle.config().access_key.clone(),
            sk: handle.config().secret_key.clone(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        Emu { handle, caller }
    }

    /// Starts on a data directory.
    pub async fn on(dir: &Path) -> Emu {
        Emu::with(Config {
            data: Some(dir.to_path_buf()),
            ..Config::default()
        })
        .await
    }
}

impl Caller {
    /// A caller with the emulator's default credentials.
    pub fn new(addr: std::net::SocketAddr) -> Caller {
        Caller {
            addr,
            project: local::PROJECT_ID.into(),
            ak: local::ACCESS_KEY.into(),
            sk: local::SECRET_KEY.into(),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `/v2/{project}` + `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/v2/{}{}", self.project, rest)
    }

    /// A signed call; `path` is the raw path (already encoded), `query` decoded pairs.
    pub async fn call(&self, method: &str, path: &str, query: &[(&str, &str)], body: Option<&Value>) -> Reply {
        self.call_raw(
            method,
            path,
            query,
            body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default(),
            &self.sk,
        )
        .await
    }

    /// The headers of a request signed with `sk` right now.
    fn signed_headers(
        &self,
        method: &str,
        path: &str,
        pairs: &[(String, String)],
        body: &[u8],
        sk: &str,
    ) -> Vec<(String, String)> {
        let host = self.addr.to_string();
        let date = chrono::Utc::now().format(signing::DATE_FORMAT).to_string();
        signing::sign(
            signing::OutgoingRequest {
                method,
                raw_path: path,
                query: pairs,
                headers: vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("X-Project-Id".into(), self.project.clone()),
                ],
                body,
                host: &host,
            },
            &self.ak,
            sk,
            &date,
        )
    }

    /// A signed call with raw body bytes and a chosen secret key.
    pub async fn call_raw(&self, method: &str, path: &str, query: &[(&str, &str)], body: Vec<u8>, sk: &str) -> Reply {
        let pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let headers = self.signed_headers(method, path, &pairs, &body, sk);
        self.send(method, path, &pairs, headers, body).await
    }

    /// Sends exactly these headers (no signing).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        pairs: &[(String, String)],
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Reply {
        self.try_send(method, path, pairs, headers, body)
            .await
            .expect("request reaches the emulator")
    }

    /// A signed call that may fail at the transport level (a chaos `drop`).
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply, reqwest::Error> {
        let pairs: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let body = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let headers = self.signed_headers(method, path, &pairs, &body, &self.sk);
        self.try_send(method, path, &pairs, headers, body).await
    }

    /// GET `/v2/{project}` + `rest` with query pairs.
    pub async fn get_q(&self, rest: &str, query: &[(&str, &str)]) -> Reply {
        self.call("GET", &self.path(rest), query, None).await
    }

    /// DELETE with a JSON body.
    pub async fn delete_with(&self, rest: &str, body: Value) -> Reply {
        self.call("DELETE", &self.path(rest), &[], Some(&body)).await
    }

    /// The raw request log entries.
    pub async fn log(&self) -> Vec<Value> {
        self.admin("GET", "/requests", None).await["requests"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn try_send(
        &self,
        method: &str,
        path: &str,
        pairs: &[(String, String)],
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Result<Reply, reqwest::Error> {
        let query = signing::canonical_query_pairs(pairs);
        let url = if query.is_empty() {
            format!("{}{path}", self.url())
        } else {
            format!("{}{path}?{query}", self.url())
        };
        let mut req = self.http.request(method.parse().unwrap(), url).body(body);
        for (k, v) in headers {
            if !k.eq_ignore_ascii_case("host") {
                req = req.header(k, v);
            }
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            body,
            text,
        })
    }

    pub async fn get(&self, rest: &str) -> Reply {
        self.call("GET", &self.path(rest), &[], None).await
    }
    pub async fn post(&self, rest: &str, body: Value) -> Reply {
        self.call("POST", &self.path(rest), &[], Some(&body)).await
    }
    pub async fn put(&self, rest: &str, body: Value) -> Reply {
        self.call("PUT", &self.path(rest), &[], Some(&body)).await
    }
    pub async fn delete(&self, rest: &str) -> Reply {
        self.call("DELETE", &self.path(rest), &[], None).await
    }

    /// An admin call (`/_emulator/...`, unsigned; JSON content type, as state-changing
    /// calls require).
    pub async fn admin(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}/_emulator{rest}", self.url()))
            .header("content-type", "application/json");
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    /// The operations the emulator logged, in order (e.g. `["CreateFunction", ...]`).
    pub async fn operations(&self) -> Vec<String> {
        let log = self.admin("GET", "/requests", None).await;
        log["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["operation"].as_str().unwrap().to_string())
            .collect()
    }

    /// Creates a function with a small zip; returns the create response.
    pub async fn create_function(&self, name: &str) -> Reply {
        let r = self.post("/fgs/functions", function_body(name)).await;
        assert_eq!(r.status, 200, "create {name}: {}", r.text);
        r
    }

    /// The `:latest` URN of a function, percent-encoded for a path.
    pub fn urn(&self, name: &str) -> String {
        encode(&format!(
            "urn:fss:{}:{}:function:default:{name}:latest",
            local::REGION,
            self.project
        ))
    }

    /// The unqualified URN, percent-encoded.
    pub fn base_urn(&self, name: &str) -> String {
        encode(&format!(
            "urn:fss:{}:{}:function:default:{name}",
            local::REGION,
            self.project
        ))
    }
}

/// Percent-encodes a path parameter the way the SDK does (no safe characters).
pub fn encode(s: &str) -> String {
    signing::encode(s)
}

/// A client of the emulator at `url` with its default credentials and no retries.
pub fn local_client(url: &str, region: &str, project: &str) -> fgform::client::Client {
    use fgform::client::{AkSk, ClientBuilder, Credentials, RetryPolicy};
    ClientBuilder::new()
        .endpoint(url)
        .region(region)
        .project_id(project)
        .credentials(Credentials::AkSk(AkSk::new(local::ACCESS_KEY, local::SECRET_KEY)))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

/// Replaces what differs from run to run: server-made ids and timestamps, and UUIDs anywhere.
pub fn scrub(value: Value) -> Value {
    use serde_json::Value;
    const VOLATILE: &[&str] = &[
        "func_id",
        "resource_id",
        "last_modified",
        "image_name",
        "created_time",
        "updated_time",
        "last_updated_time",
        "trigger_id",
        "id",
        "dep_id",
        "domain_id",
        "created_by",
    ];
    let uuid = regex::Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    fn walk(v: Value, uuid: &regex::Regex) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.into_iter()
                    .map(|(k, v)| {
                        let v = if VOLATILE.contains(&k.as_str()) && !v.is_null() {
                            Value::String("[redacted]".into())
                        } else {
                            walk(v, uuid)
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.into_iter().map(|v| walk(v, uuid)).collect()),
            Value::String(s) => Value::String(uuid.replace_all(&s, "[uuid]").into_owned()),
            other => other,
        }
    }
    walk(value, &uuid)
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A zip holding one file.
pub fn zip_of(name: &str, content: &[u8]) -> Vec<u8> {
    zip_files(&[(name, content)])
}

/// A zip holding `files` (name, content), in order.
pub fn zip_files<C: AsRef<[u8]>>(files: &[(&str, C)]) -> Vec<u8> {
    use std::io::Write;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        out.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        out.write_all(content.as_ref()).unwrap();
    }
    out.finish().unwrap().into_inner()
}

/// The address an `fgform emulator` child prints as its first line of stdout.
pub fn emulator_addr(child: &mut std::process::Child) -> std::net::SocketAddr {
    use std::io::BufRead as _;
    let mut url = String::new();
    std::io::BufReader::new(child.stdout.take().expect("the emulator's stdout is piped"))
        .read_line(&mut url)
        .unwrap();
    url.trim()
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|_| panic!("the emulator printed `{url}`"))
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn sha512_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha512::digest(bytes))
}

/// The default code zip of [`function_body`].
pub fn default_zip() -> Vec<u8> {
    zip_of("index.py", b"def handler(event, context):\n    return event\n")
}

/// A valid create body.
pub fn function_body(name: &str) -> Value {
    json!({
        "func_name": name, "package": "default", "runtime": "Python3.9", "handler": "index.handler",
        "memory_size": 128, "timeout": 30, "code_type": "zip", "code_filename": "index.zip",
        "func_code": { "file": b64(&default_zip()) },
    })
}

/// Replaces the state lineage in ownership tag values (`shop@<uuid>`, random per state) with
/// `@[lineage]`, so plan snapshots stay stable.
pub fn scrub_lineage(text: &str) -> String {
    let lineage = regex::Regex::new(r"@[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    lineage.replace_all(text, "@[lineage]").into_owned()
}

/// [`scrub_lineage`] over every string of a JSON value.
pub fn scrub_lineage_json(value: Value) -> Value {
    serde_json::from_str(&scrub_lineage(&value.to_string())).unwrap()
}

/// Creates function `name` (Python, the default zip) through `client`, tagged
/// `fgform-stack: owner` (untagged when `None`); returns its unqualified URN.
pub async fn create_function(client: &fgform::client::Client, name: &str, owner: Option<&str>) -> String {
    let body: fgform::api::types::CreateFunctionRequest = serde_json::from_value(function_body(name)).unwrap();
    let created = client.create_function(&body).await.unwrap();
    let urn = created.func_urn.trim_end_matches(":latest").to_string();
    if let Some(owner) = owner {
        let tag = fgform::api::types::Tag {
            key: fgform::model::limits::OWNERSHIP_TAG_KEY.into(),
            value: owner.into(),
        };
        client.add_function_tags(&urn, &[tag]).await.unwrap();
    }
    urn
}

/// The names of the functions live in the client's project, sorted.
pub async fn function_names(client: &fgform::client::Client) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_functions()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.func_name)
        .collect();
    names.sort();
    names
}

/// `fgform ARGS` as a child process in `cwd` with the scrubbed environment of
/// [`crate::context::fgform_command`], stdin from /dev/null, no colour: (exit code, stdout,
/// stderr).
pub fn fgform_in(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = crate::context::fgform_command()
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `fgform emulator --listen 127.0.0.1:0 --data DATA` as a child process with the
/// scrubbed environment (stderr discarded); returns it and the URL it printed.
pub fn spawn_emulator(data: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = crate::context::fgform_command()
        .args(["emulator", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line.trim().to_string())
}
