//! The pipeline kit in `examples/ci/`: every `fgform …` invocation in the two CI files and
//! the drift script must parse with this build's command line (so a CLI change breaks the
//! kit loudly, not in a user's pipeline), and `drift-cron.sh` is run against a fake fgform and
//! a local webhook.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser as _;
use fgform::cli::Cli;

fn kit(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ci").join(file)
}

/// One `fgform …` found in a file: where, and its arguments after `fgform`.
#[derive(Debug)]
struct Invocation {
    line: usize,
    args: Vec<String>,
}

/// What shell variables stand for when the test expands them.
fn variable(name: &str) -> &'static str {
    match name {
        "STACK_DIR" | "dir" => "stack",
        _ => "value",
    }
}

/// Whether a command may start right after `prefix` (line start, a YAML list item or
/// `run:`, or a shell operator or keyword), so prose like `name: fgform plan` is not taken.
fn command_position(prefix: &str) -> bool {
    let p = prefix.trim_end();
    let operators = regex::Regex::new(r"(^|\s)(-|run:|then|do|else|if|!|time|exec)$|(;|&&|\|\||\||\$\(|\()$").unwrap();
    p.is_empty() || operators.is_match(p)
}

/// Shell words from `rest` up to the end of the simple command (`;`, `|`, `&`, `)`, a
/// redirection, a comment), quotes removed and variables expanded; `"$@"` expands to nothing.
fn words(rest: &str) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let (mut out, mut i) = (Vec::new(), 0);
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return out;
        }
        let redirection = {
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            j < chars.len() && matches!(chars[j], '<' | '>')
        };
        if redirection || matches!(chars[i], ';' | '|' | '&' | ')' | '#') {
            return out;
        }
        let (mut word, mut quoted_at_all, mut only_args) = (String::new(), false, false);
        while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], ';' | '|' | '&' | ')' | '<' | '>') {
            match chars[i] {
                '\'' => {
                    quoted_at_all = true;
                    i += 1;
                    while i < chars.len() && chars[i] != '\'' {
                        word.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                }
                '"' => {
                    quoted_at_all = true;
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        if chars[i] == '$' {
                            let (value, next, args) = expand(&chars, i);
                            only_args |= args;
                            word.push_str(&value);
                            i = next;
                        } else {
                            word.push(chars[i]);
                            i += 1;
                        }
                    }
                    i += 1;
                }
                '$' => {
                    let (value, next, args) = expand(&chars, i);
                    only_args |= args;
                    word.push_str(&value);
                    i = next;
                }
                c => {
                    word.push(c);
                    i += 1;
                }
            }
        }
        if !(only_args && word.is_empty()) && (quoted_at_all || !word.is_empty()) {
            out.push(word);
        }
    }
}

/// Expands the `$NAME`, `${NAME}` or `$@` at `chars[i]`: (value, next index, was `$@`).
fn expand(chars: &[char], i: usize) -> (String, usize, bool) {
    let mut j = i + 1;
    if chars.get(j) == Some(&'@') {
        return (String::new(), j + 1, true);
    }
    let braced = chars.get(j) == Some(&'{');
    if braced {
        j += 1;
    }
    let start = j;
    while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
        j += 1;
    }
    let name: String = chars[start..j].iter().collect();
    if braced {
        j += 1;
    }
    (variable(&name).to_string(), j, false)
}

/// Every `fgform` (or `"$FGFORM"`) command in `text`, continuation lines joined.
fn invocations(text: &str) -> Vec<Invocation> {
    let command = regex::Regex::new(r#"(fgform|"\$FGFORM"|\$FGFORM|"\$\{FGFORM\}")(\s|$)"#).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let mut line = line.to_string();
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next),
                None => break,
            }
        }
        if line.trim_start().starts_with('#') {
            continue;
        }
        for m in command.captures_iter(&line) {
            let word = m.get(1).unwrap();
            if command_position(&line[..word.start()]) {
                out.push(Invocation {
                    line: n + 1,
                    args: words(&line[word.end()..]),
                });
            }
        }
    }
    out
}

fn parse(args: &[String]) -> Result<Cli, clap::Error> {
    let argv = std::iter::once("fgform".to_string()).chain(args.iter().cloned());
    Cli::try_parse_from(fgform::cli::terraform_spellings(argv.map(Into::into)))
}

/// Checks one invocation parses as the binary would parse it.
fn check(file: &str, inv: &Invocation) {
    if let Err(e) = parse(&inv.args) {
        panic!(
            "{file}:{}: fgform {}\n  does not parse:\n{e}",
            inv.line,
            inv.args.join(" ")
        );
    }
}

#[test]
fn every_fgform_invocation_in_the_ci_kit_parses() {
    let expected: &[(&str, &[&str])] = &[
        ("github-actions.yml", &["plan", "plan", "apply"]),
        ("gitlab-ci.yml", &["plan", "plan", "apply"]),
        ("drift-cron.sh", &["drift"]),
    ];
    for (file, commands) in expected {
        let text = std::fs::read_to_string(kit(file)).unwrap();
        let found = invocations(&text);
        let names: Vec<&str> = found
            .iter()
            .map(|i| i.args.first().map_or("", String::as_str))
            .collect();
        assert_eq!(&names, commands, "{file}: {found:?}");
        for inv in &found {
            check(file, inv);
        }
        // `apply FILE` must reach the saved-plan path: a file, not a stack directory.
        for inv in found
            .iter()
            .filter(|i| i.args.first().map(String::as_str) == Some("apply"))
        {
            assert!(
                inv.args.iter().any(|a| a.ends_with(".plan")),
                "{file}:{}: the pipeline applies the reviewed saved plan",
                inv.line
            );
        }
    }
    // The PR plan is the one the comment is made from.
    for file in ["github-actions.yml", "gitlab-ci.yml"] {
        let text = std::fs::read_to_string(kit(file)).unwrap();
        let pr_plan = invocations(&text).remove(0).args.join(" ");
        assert_eq!(
            pr_plan, "plan stack --format markdown -out fgform.plan --detailed-exitcode",
            "{file}"
        );
    }
}

#[test]
fn the_invocation_finder_reads_shell_as_the_kit_writes_it() {
    let text = r#"
# fgform plan in a comment is not a command
- name: run fgform plan (prose)
  run: fgform plan "$STACK_DIR" --format markdown > plan.md || code=$?
  - fgform apply fgform.plan
code=0; "$FGFORM" drift --json "$dir" "$@" >"$work/out" 2>"$work/err" || code=$?
if fgform validate 'a b' \
  --var x=1; then :; fi
cargo install --locked fgform
"#;
    let found: Vec<Vec<String>> = invocations(text).into_iter().map(|i| i.args).collect();
    assert_eq!(
        found,
        vec![
            vec!["plan", "stack", "--format", "markdown"],
            vec!["apply", "fgform.plan"],
            vec!["drift", "--json", "stack"],
            vec!["validate", "a b", "--var", "x=1"],
        ]
    );
}

// ---- drift-cron.sh ----

/// One HTTP request the webhook received.
#[derive(Debug)]
pub(crate) struct Request {
    pub line: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// A webhook on 127.0.0.1 that answers 200 to the first request, if one comes before `done`.
pub(crate) struct Webhook {
    pub url: String,
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Option<Request>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/hooks/fgform", listener.local_addr().unwrap());
        let done = Arc::new(AtomicBool::new(false));
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match listener.accept() {
                    Ok((stream, _)) => return Some(read_request(stream)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                            return None;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            }
        });
        Webhook { url, done, thread }
    }

    /// The request received (after the script finished), if any.
    pub fn finish(self) -> Option<Request> {
        self.done.store(true, Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn read_request(stream: std::net::TcpStream) -> Request {
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let length: usize = headers.get("content-length").map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut stream = stream;
    stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    Request {
        line: line.trim_end().to_string(),
        headers,
        body,
    }
}

const DRIFT_JSON: &str =
    r#"{"format_version":"1.0","stack":"shop","drift":[{"address":"function.a","changed":["memory_size"]}]}"#;

/// A stand-in for fgform: records its arguments, then behaves as `FAKE_MODE` says.
fn fake_fgform(dir: &Path) -> PathBuf {
    let path = dir.join("fake-fgform");
    let script = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$FAKE_ARGS\"\ncase \"$FAKE_MODE\" in\n  \
         drift) printf '%s\\n' '{DRIFT_JSON}'; exit 2 ;;\n  \
         clean) printf '%s\\n' '{{\"drift\":[]}}'; exit 0 ;;\n  \
         fail) printf 'error: cannot reach \"the API\"\\nhint: check\\tcredentials\\n' >&2; exit 1 ;;\nesac\nexit 99\n"
    );
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    args: Vec<String>,
}

fn drift_cron(tmp: &Path, mode: &str, webhook: Option<&str>) -> Run {
    let args_file = tmp.join(format!("args-{mode}"));
    let _ = std::fs::remove_file(&args_file);
    let mut cmd = crate::context::scrubbed_command("bash");
    cmd.arg(kit("drift-cron.sh"))
        .args(["stacks/shop", "--stage", "prod"])
        .env("FGFORM", fake_fgform(tmp))
        .env("FAKE_MODE", mode)
        .env("FAKE_ARGS", &args_file)
        .env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1")
        .stdin(Stdio::null());
    for proxy in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(proxy);
    }
    match webhook {
        Some(url) => cmd.env("FGFORM_DRIFT_WEBHOOK", url),
        None => cmd.env_remove("FGFORM_DRIFT_WEBHOOK"),
    };
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        args: std::fs::read_to_string(&args_file)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect(),
    }
}

#[test]
fn drift_cron_posts_drift_and_errors_and_keeps_quiet_when_in_sync() {
    let tmp = tempfile::tempdir().unwrap();

    // Drift: fgform's JSON, byte for byte, exit 2.
    let hook = Webhook::start();
    let run = drift_cron(tmp.path(), "drift", Some(&hook.url));
    let request = hook.finish().expect("drift is POSTed");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert_eq!(run.args, ["drift", "--json", "stacks/shop", "--stage", "prod"]);
    assert_eq!(request.line, "POST /hooks/fgform HTTP/1.1");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(request.headers["x-fgform-event"], "drift");
    assert_eq!(String::from_utf8(request.body).unwrap(), format!("{DRIFT_JSON}\n"));
    assert!(run.stdout.is_empty(), "{}", run.stdout);

    // In sync: nothing posted, nothing printed, exit 0.
    let hook = Webhook::start();
    let run = drift_cron(tmp.path(), "clean", Some(&hook.url));
    assert!(hook.finish().is_none(), "nothing is posted when in sync");
    assert_eq!((run.code, run.stdout.as_str(), run.stderr.as_str()), (0, "", ""));

    // fgform failed: an error event carrying its stderr, fgform's exit code.
    let hook = Webhook::start();
    let run = drift_cron(tmp.path(), "fail", Some(&hook.url));
    let request = hook.finish().expect("the error is POSTed");
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("error: cannot reach \"the API\""),
        "passed through: {}",
        run.stderr
    );
    assert_eq!(request.headers["x-fgform-event"], "error");
    assert_eq!(request.headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "event": "error",
            "stack_dir": "stacks/shop",
            "exit_code": 1,
            "message": "error: cannot reach \"the API\"\nhint: check\tcredentials",
        })
    );

    // Any other code is an error too, and fgform's code is kept.
    let hook = Webhook::start();
    let run = drift_cron(tmp.path(), "unknown-mode", Some(&hook.url));
    let request = hook.finish().expect("the error is POSTed");
    assert_eq!(run.code, 99);
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["message"], "fgform drift exited 99 without a message");
}

#[test]
fn drift_cron_keeps_fgforms_code_when_the_webhook_fails_and_needs_a_webhook() {
    let tmp = tempfile::tempdir().unwrap();
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", listener.local_addr().unwrap())
    };
    let run = drift_cron(tmp.path(), "drift", Some(&closed));
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("drift-cron: could not POST the drift report to the webhook"),
        "{}",
        run.stderr
    );

    let run = drift_cron(tmp.path(), "drift", None);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("set FGFORM_DRIFT_WEBHOOK"), "{}", run.stderr);
    assert!(run.args.is_empty(), "fgform did not run");
}
