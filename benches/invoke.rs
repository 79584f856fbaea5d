//! Invocation benchmark (issue 13; not a test): a trivial Python handler run by the emulator
//! (in-process, release build) over loopback, through fgform's client (AK/SK signed, v1
//! answers), next to the floors measured in the same run: starting `python3 -c pass` (the
//! interpreter itself, as the emulator runs it, not a launcher on PATH), and a
//! bare loopback HTTP round trip to the same emulator (`GET /_emulator/health`).
//!
//!     cargo bench --bench invoke -- [--warm 2000] [--seconds 5] [--cold 15]
//!
//! - warm: sequential invocations of one warm instance; p50 and p99 of the client's wall time.
//! - throughput: 8 tasks invoking as fast as they can for `--seconds` (the function's
//!   concurrency unlimited, so 8 warm instances serve them); invocations per second.
//! - cold: the first invocation of `--cold` new functions (unpack, start the interpreter, load
//!   the handler, answer); the median.
//!
//! Goals: warm p50 ≤ 3 ms, ≥ 500 invocations/s at concurrency 8, cold start ≤ 150 ms.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fgform::api::local;
use fgform::api::types::CreateFunctionRequest;
use fgform::client::{AkSk, Client, ClientBuilder, Credentials, RetryPolicy};
use fgform::emulator::{self, Config};
use serde_json::json;

struct Args {
    warm: usize,
    seconds: u64,
    cold: usize,
}

fn args() -> Args {
    let mut a = Args {
        warm: 2000,
        seconds: 5,
        cold: 15,
    };
    let argv: Vec<String> = std::env::args().collect();
    for pair in argv.windows(2) {
        let value = || pair[1].parse().unwrap_or_else(|_| panic!("{} needs a number", pair[0]));
        match pair[0].as_str() {
            "--warm" => a.warm = value() as usize,
            "--seconds" => a.seconds = value(),
            "--cold" => a.cold = value() as usize,
            _ => {}
        }
    }
    a
}

fn zip_b64(code: &str) -> String {
    use base64::Engine as _;
    use std::io::Write as _;
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("index.py", zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(code.as_bytes()).unwrap();
    base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap().into_inner())
}

async fn create(client: &Client, name: &str) -> String {
    let body: CreateFunctionRequest = serde_json::from_value(json!({
        "func_name": name, "package": "default", "runtime": "Python3.9", "handler": "index.handler",
        "memory_size": 128, "timeout": 30, "code_type": "zip", "code_filename": "index.zip",
        "func_code": { "file": zip_b64("def handler(event, context):\n    return {'ok': True}\n") },
    }))
    .unwrap();
    let created = client.create_function(&body).await.expect("create function");
    created.func_urn.trim_end_matches(":latest").to_string()
}

async fn invoke_ms(client: &Client, urn: &str) -> f64 {
    let t = Instant::now();
    let r = client
        .invoke(urn, b"{}", false, Duration::from_secs(30))
        .await
        .expect("invoke");
    assert!(!r.failed, "the handler failed: {}", r.result);
    t.elapsed().as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

/// The interpreter `python3` on PATH runs (PATH may hold a launcher, e.g. pyenv's shim,
/// which the emulator bypasses the same way).
fn python_itself() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Median of `<program> -c pass`.
fn python_start_ms(program: &str, n: usize) -> f64 {
    let runs: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let ok = std::process::Command::new(program)
                .args(["-c", "pass"])
                .status()
                .expect("python3");
            assert!(ok.success());
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    percentile(&sorted(runs), 0.5)
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let emu = emulator::start(Config::default()).await.expect("emulator starts");
        let client = ClientBuilder::new()
            .endpoint(emu.url())
            .region(local::REGION)
            .project_id(local::PROJECT_ID)
            .credentials(Credentials::AkSk(AkSk::new(local::ACCESS_KEY, local::SECRET_KEY)))
            .retry_policy(RetryPolicy::none())
            .requests_per_second(None)
            .build()
            .unwrap();

        // Floors.
        let itself = python_itself();
        let python = python_start_ms(&itself, 10);
        let launcher = python_start_ms("python3", 10);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let health = format!("{}/_emulator/health", emu.url());
        let mut bare = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            http.get(&health).send().await.unwrap().bytes().await.unwrap();
            bare.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let bare = sorted(bare);

        // Cold starts.
        let mut cold = Vec::new();
        for i in 0..a.cold {
            let urn = create(&client, &format!("cold{i}")).await;
            cold.push(invoke_ms(&client, &urn).await);
        }
        let cold = sorted(cold);

        // Warm, sequential.
        let urn = create(&client, "warm").await;
        invoke_ms(&client, &urn).await;
        let mut warm = Vec::with_capacity(a.warm);
        for _ in 0..a.warm {
            warm.push(invoke_ms(&client, &urn).await);
        }
        let warm = sorted(warm);

        // Throughput at concurrency 8 (after warming 8 instances).
        let done = Arc::new(AtomicUsize::new(0));
        let warmup: Vec<_> = (0..8).map(|_| invoke_ms(&client, &urn)).collect();
        futures::future::join_all(warmup).await;
        let deadline = Instant::now() + Duration::from_secs(a.seconds);
        let started = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (client, urn, done) = (client.clone(), urn.clone(), done.clone());
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        invoke_ms(&client, &urn).await;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();

        let goal = |ok: bool, text: &str| format!("{text}: {}", if ok { "met" } else { "**missed**" });
        println!();
        println!("fgform emulator invocations: a trivial Python handler (python3 on PATH), over loopback, fgform's client");
        println!();
        println!("| measure | value | goal |");
        println!("|---|---|---|");
        println!(
            "| warm invoke, sequential ({} calls) | p50 {:.2} ms, p99 {:.2} ms | {} |",
            a.warm,
            percentile(&warm, 0.5),
            percentile(&warm, 0.99),
            goal(percentile(&warm, 0.5) <= 3.0, "p50 <= 3 ms")
        );
        println!(
            "| warm invokes at concurrency 8 ({} s) | {:.0} /s | {} |",
            a.seconds,
            rate,
            goal(rate >= 500.0, ">= 500/s")
        );
        println!(
            "| cold start, first invoke of a new function ({} functions) | median {:.1} ms, max {:.1} ms | {} |",
            a.cold,
            percentile(&cold, 0.5),
            percentile(&cold, 1.0),
            goal(percentile(&cold, 0.5) <= 150.0, "<= 150 ms")
        );
        println!("| floor: `{itself} -c pass` | median {python:.1} ms | |");
        if launcher > python * 1.5 {
            println!("| (`python3 -c pass` through the PATH launcher, which the emulator bypasses) | median {launcher:.1} ms | |");
        }
        println!(
            "| floor: bare loopback round trip (`GET /_emulator/health`) | p50 {:.3} ms, p99 {:.3} ms | |",
            percentile(&bare, 0.5),
            percentile(&bare, 0.99)
        );
        emu.shutdown().await;
    });
}
