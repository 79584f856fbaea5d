//! Client overhead per call against the in-process emulator, next to the official Python
//! SDK (`../shared/bench/sdk_baseline.py read`) against the same emulator in the same run.
//!
//!     cargo bench --bench client                 # N = 200 functions
//!     FGFORM_BENCH_N=1000 cargo bench --bench client
//!
//! The "read" mix is what a no-op plan must do (and what `sdk_baseline.py read` does):
//! list every function (400 a page), then per function show its config, list its
//! triggers and show its async-invoke config. The client runs with its rate limiter off
//! and no chaos, so the numbers are client + emulator cost. The SDK column needs a
//! Python with `huaweicloudsdkfunctiongraph` importable: `FGFORM_SDK_PYTHON` (default
//! `python3`); without it the column is skipped with a note.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fgform::api::local;
use fgform::api::types::{AsyncInvokeConfigRequest, CreateFunctionRequest, CreateTriggerRequest, FuncCode};
use fgform::client::{AkSk, Client, ClientBuilder, Credentials, RetryPolicy};
use fgform::emulator::{self, Config, Quotas};
use serde_json::json;

fn code_zip(i: usize) -> String {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        z.start_file("index.py", zip::write::SimpleFileOptions::default())
            .unwrap();
        write!(z, "def handler(event, context):\n    return {i}\n").unwrap();
        z.finish().unwrap();
    }
    base64::engine::general_purpose::STANDARD.encode(buf.into_inner())
}

async fn seed(client: &Client, n: usize, parallelism: usize) {
    let client = client.clone();
    run_parallel(parallelism, n, move |i| {
        let c = client.clone();
        async move {
            let f = c
                .create_function(&CreateFunctionRequest {
                    func_name: format!("bench-{i:05}"),
                    package: "default".into(),
                    runtime: "Python3.9".into(),
                    handler: "index.handler".into(),
                    memory_size: 256,
                    timeout: 30,
                    code_type: "zip".into(),
                    code_filename: Some("index.zip".into()),
                    func_code: Some(FuncCode {
                        file: Some(code_zip(i)),
                        link: None,
                    }),
                    user_data: Some(json!({ "INDEX": i.to_string() }).to_string()),
                    ..Default::default()
                })
                .await
                .expect("seed create");
            c.create_trigger(
                &f.func_urn,
                &CreateTriggerRequest {
                    trigger_type_code: "TIMER".into(),
                    trigger_status: Some("ACTIVE".into()),
                    event_type_code: None,
                    event_data: json!({"name": "tick", "schedule_type": "Rate", "schedule": "1d"})
                        .as_object()
                        .unwrap()
                        .clone(),
                },
            )
            .await
            .expect("seed trigger");
            c.put_async_config(
                &f.func_urn,
                &AsyncInvokeConfigRequest {
                    max_async_event_age_in_seconds: Some(3600),
                    max_async_retry_attempts: Some(1),
                    ..Default::default()
                },
            )
            .await
            .expect("seed async config");
            0
        }
    })
    .await;
}

/// Runs `job(i)` for i in 0..n on `parallelism` tasks; returns the sum of what jobs return.
async fn run_parallel<F, Fut>(parallelism: usize, n: usize, job: F) -> usize
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = usize> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..parallelism)
        .map(|_| {
            let (job, next) = (job.clone(), next.clone());
            tokio::spawn(async move {
                let mut sum = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break sum;
                    }
                    sum += job(i).await;
                }
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

/// One "read" pass; returns (requests, seconds).
async fn read_pass(client: &Client, parallelism: usize) -> (usize, f64) {
    let start = Instant::now();
    let before = client.stats().attempts;
    let urns: Arc<Vec<String>> = Arc::new(
        client
            .list_all_functions()
            .await
            .expect("list")
            .into_iter()
            .filter(|f| f.func_name.starts_with("bench-"))
            .map(|f| f.func_urn)
            .collect(),
    );
    let c = client.clone();
    let u = urns.clone();
    run_parallel(parallelism, urns.len(), move |i| {
        let (c, u) = (c.clone(), u.clone());
        async move {
            let urn = &u[i];
            c.show_function_config(urn).await.expect("show config");
            c.list_triggers(urn).await.expect("list triggers");
            c.show_async_config(urn).await.expect("async config");
            3
        }
    })
    .await;
    let requests = (client.stats().attempts - before) as usize;
    (requests, start.elapsed().as_secs_f64())
}

struct SdkRun {
    requests: f64,
    seconds: f64,
    errors: f64,
}

async fn sdk_read(python: &str, url: &str, n: usize, threads: usize) -> Result<SdkRun, String> {
    let script = std::env::var("FGFORM_SDK_BASELINE")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/bench/sdk_baseline.py").to_string());
    let out = tokio::process::Command::new(python)
        .arg(&script)
        .args(["read", "--n", &n.to_string(), "--threads", &threads.to_string()])
        .args(["--endpoint", url, "--project-id", local::PROJECT_ID])
        .args(["--ak", local::ACCESS_KEY, "--sk", local::SECRET_KEY])
        .output()
        .await
        .map_err(|e| format!("cannot run {python}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| {
            format!(
                "no JSON line from sdk_baseline.py: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let num = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(SdkRun {
        requests: num("requests"),
        seconds: num("seconds"),
        errors: num("errors"),
    })
}

async fn sdk_available(python: &str) -> Result<(), String> {
    let out = tokio::process::Command::new(python)
        .args(["-c", "import huaweicloudsdkfunctiongraph"])
        .output()
        .await
        .map_err(|e| format!("cannot run `{python}`: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{python}` cannot import huaweicloudsdkfunctiongraph (set FGFORM_SDK_PYTHON, e.g. /opt/sdkvenv/bin/python)"
        ))
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let n: usize = std::env::var("FGFORM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let emu = emulator::start(Config {
            quotas: Quotas {
                functions: 2000,
                ..Default::default()
            },
            ..Config::default()
        })
        .await
        .expect("emulator starts");
        let url = emu.url();
        let client = ClientBuilder::new()
            .endpoint(url.clone())
            .region(local::REGION)
            .project_id(local::PROJECT_ID)
            .credentials(Credentials::AkSk(AkSk::new(local::ACCESS_KEY, local::SECRET_KEY)))
            .retry_policy(RetryPolicy::default())
            .requests_per_second(None)
            .build()
            .unwrap();
        let t = Instant::now();
        seed(&client, n, 10).await;
        eprintln!(
            "seeded {n} functions (+ TIMER trigger + async config) in {:.2}s",
            t.elapsed().as_secs_f64()
        );
        // Warm up connections and caches.
        read_pass(&client, 10).await;

        let python = std::env::var("FGFORM_SDK_PYTHON").unwrap_or_else(|_| "python3".into());
        let sdk = sdk_available(&python).await;
        println!();
        println!("read mix over {n} functions (list + per function: show config, list triggers, show async config)");
        println!(
            "{:<22} {:>11} {:>9} {:>9} {:>10} {:>16}",
            "", "parallelism", "requests", "seconds", "req/s", "fgform / SDK"
        );
        for parallelism in [1usize, 10] {
            let (requests, seconds) = read_pass(&client, parallelism).await;
            let ours = requests as f64 / seconds;
            let sdk_run = match &sdk {
                Ok(()) => Some(sdk_read(&python, &url, n, parallelism).await),
                Err(_) => None,
            };
            let ratio = match &sdk_run {
                Some(Ok(r)) if r.seconds > 0.0 => format!("{:.1}x", ours / (r.requests / r.seconds)),
                _ => "-".into(),
            };
            println!(
                "{:<22} {:>11} {:>9} {:>9.3} {:>10.0} {:>16}",
                "fgform client (Rust)", parallelism, requests, seconds, ours, ratio
            );
            match sdk_run {
                Some(Ok(r)) => println!(
                    "{:<22} {:>11} {:>9} {:>9.3} {:>10.0} {:>16}",
                    "python SDK 3.1.219",
                    parallelism,
                    r.requests,
                    r.seconds,
                    r.requests / r.seconds,
                    if r.errors > 0.0 {
                        format!("{} errors", r.errors)
                    } else {
                        String::new()
                    }
                ),
                Some(Err(e)) => println!("{:<22} {:>11} sdk_baseline.py failed: {e}", "python SDK", parallelism),
                None => {}
            }
        }
        if let Err(note) = sdk {
            println!("note: SDK column skipped: {note}");
        }
        let s = client.stats();
        println!(
            "client totals: {} HTTP requests, {} retries, {} throttled",
            s.attempts, s.retries, s.throttled
        );
        emu.shutdown().await;
    });
}
