//! Adaptive-rate benchmark (issue 16; not a test): a no-op `fgform plan` of N functions
//! (each with a timer trigger and an async config) against a `fgform emulator
//! --rate-limit 200` child, the gateway's throttling, with the client's loopback default (no
//! cap: unlimited until the first 429, then AIMD).
//!
//!     cargo bench --bench throttle -- [--functions 1000] [--limit 200] [--parallelism 10,64]
//!
//! The stack is applied once with the throttle off (a first emulator on the data directory),
//! then the emulator is started again on the same directory with `--rate-limit`, and each
//! plan runs against that. Ideal = requests / limit, the time the gateway needs to let that
//! many requests through at its rate (its one-second burst makes slightly less possible).
//! Goals: the plan takes <= 1.25x the ideal, and < 5% of its requests are answered 429.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use fgform::api::local;

mod common;
use common::{machine, verdict, write_stack, Emulator};

struct Args {
    functions: usize,
    limit: f64,
    parallelism: Vec<usize>,
}

fn args() -> Args {
    let mut a = Args {
        functions: 1000,
        limit: 200.0,
        parallelism: vec![10, 64],
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = argv.get(i + 1).cloned().unwrap_or_default();
        match argv[i].as_str() {
            "--functions" => a.functions = value.parse().expect("--functions N"),
            "--limit" => a.limit = value.parse().expect("--limit REQ/S"),
            "--parallelism" => {
                a.parallelism = value
                    .split(',')
                    .map(|p| p.trim().parse().expect("--parallelism N[,N…]"))
                    .collect();
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// `(requests, answered 429, writes)` in `emu`'s request log.
fn counts(emu: &Emulator) -> (usize, usize, usize) {
    let entries = emu.requests();
    let throttled = entries.iter().filter(|e| e["status"] == 429).count();
    let writes = entries.iter().filter(|e| e["method"] != "GET").count();
    (entries.len(), throttled, writes)
}

/// Runs `fgform <verb> STACK --endpoint URL --state …` with extra flags; `(seconds, exit
/// code, stderr)`.
fn fgform(verb: &[&str], stack: &Path, url: &str, extra: &[String]) -> (f64, Option<i32>, String) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_fgform"))
        .args(verb)
        .arg(stack)
        .arg("--endpoint")
        .arg(url)
        .arg("--state")
        .arg(stack.join("state.json"))
        .args(extra)
        .env("HUAWEICLOUD_SDK_AK", local::ACCESS_KEY)
        .env("HUAWEICLOUD_SDK_SK", local::SECRET_KEY)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", local::PROJECT_ID)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run fgform");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (start.elapsed().as_secs_f64(), out.status.code(), stderr)
}

fn main() {
    let a = args();
    let n = a.functions;
    let tmp = tempfile::tempdir().unwrap();
    let stack = tmp.path().join("stack");
    let data = tmp.path().join("emu");
    write_stack(&stack, n);

    // Seed with the throttle off, then restart on the same data with it on.
    let emu = Emulator::start(&data, &[]);
    eprintln!("fgform apply of {n} functions (no throttle) against {} ...", emu.url);
    let (seconds, code, stderr) = fgform(&["apply", "--auto-approve"], &stack, &emu.url, &[]);
    assert_eq!(code, Some(0), "apply failed:\n{stderr}");
    eprintln!("  applied in {seconds:.1} s");
    emu.stop();
    let emu = Emulator::start(&data, &["--rate-limit".to_string(), a.limit.to_string()]);

    let mut rows = Vec::new();
    for &parallelism in &a.parallelism {
        // A full bucket for every run: more than one second of quiet.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        emu.clear_log();
        eprintln!("fgform plan --parallelism {parallelism} at {} req/s ...", a.limit);
        let extra = vec![
            "--detailed-exitcode".to_string(),
            "--parallelism".into(),
            parallelism.to_string(),
        ];
        let (seconds, code, stderr) = fgform(&["plan"], &stack, &emu.url, &extra);
        assert_eq!(
            code,
            Some(0),
            "plan --detailed-exitcode (expected no changes) failed:\n{stderr}"
        );
        let (requests, throttled, writes) = counts(&emu);
        assert_eq!(writes, 0, "a no-op plan wrote");
        rows.push((parallelism, requests, throttled, seconds));
    }

    println!();
    println!(
        "fgform throttle benchmark, {} UTC, {}: no-op `fgform plan --detailed-exitcode` of {n} functions \
         (timer + async config each) against `fgform emulator --rate-limit {}`; client with the loopback \
         default (no cap, AIMD from the first 429)",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        machine(),
        a.limit
    );
    println!();
    println!(
        "| --parallelism | requests | 429s | seconds | ideal = requests / {} | ratio | <= 1.25x | < 5% 429 |",
        a.limit
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (parallelism, requests, throttled, seconds) in rows {
        let ideal = requests as f64 / a.limit;
        let ratio = seconds / ideal;
        let share = throttled as f64 / requests as f64;
        println!(
            "| {parallelism} | {requests} | {throttled} ({:.1}%) | {seconds:.2} | {ideal:.2} s | {ratio:.2}x | {} | {} |",
            share * 100.0,
            verdict(ratio <= 1.25),
            verdict(share < 0.05)
        );
    }
}
