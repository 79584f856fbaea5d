//! Reconciler benchmark (issue 5; not a test): a generated stack of N functions, each with a
//! timer trigger and an async config, applied and re-planned with the release `fgform`
//! against a `fgform emulator` child process, next to the official Python SDK doing the
//! same work (`../shared/bench/sdk_baseline.py seed` and `read`, 10 threads).
//!
//!     cargo bench --bench reconcile -- [--functions 1000] [--rss-functions 10000] [--threads 10]
//!
//! `--rss-functions 0` skips the large run. The SDK runs need a Python that imports
//! `huaweicloudsdkfunctiongraph`: `FGFORM_SDK_PYTHON` (default `python3`; the dev box has
//! `/opt/sdkvenv/bin/python`); the script is `FGFORM_SDK_BASELINE` (default
//! `../shared/bench/sdk_baseline.py` next to the package). Without them the SDK rows say why.
//!
//! Goals: no-op plan and in-sync `drift` ≤ 0.25× the SDK read, the plan's requests ≤ 1.05×
//! the floor, zero writes;
//! apply ≤ 0.5× the SDK seed; peak RSS while planning 10,000 functions ≤ 200 MB.
//!
//! The floor is what any refresh of this stack must send: ceil(N/400) list pages plus the
//! three per-function reads the SDK baseline also does (config, triggers, async config).
//! Peak RSS is the fgform process's VmHWM, polled every 5 ms while it runs.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fgform::api::local;

struct Args {
    functions: usize,
    rss_functions: usize,
    threads: usize,
}

fn args() -> Args {
    let mut a = Args {
        functions: 1000,
        rss_functions: 10_000,
        threads: 10,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = || argv.get(i + 1).and_then(|v| v.parse().ok());
        match argv[i].as_str() {
            "--functions" => a.functions = next().expect("--functions N"),
            "--rss-functions" => a.rss_functions = next().expect("--rss-functions N"),
            "--threads" => a.threads = next().expect("--threads N"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// A `fgform emulator` child with its URL.
struct Emulator {
    child: Child,
    url: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Emulator {
    fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fgform"))
            .args([
                "emulator",
                "--listen",
                "127.0.0.1:0",
                "--quota",
                "fgs_func_num=100000",
                "--data",
            ])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fgform emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().to_string();
        assert!(url.starts_with("http"), "emulator printed `{url}`");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Emulator { child, url, http, rt }
    }

    fn clear_log(&self) {
        let r = self
            .rt
            .block_on(
                self.http
                    .delete(format!("{}/_emulator/requests", self.url))
                    .header("content-type", "application/json")
                    .send(),
            )
            .unwrap();
        assert!(r.status().is_success());
    }

    /// `(requests, writes)` in the log, with a per-operation count.
    fn log(&self) -> (usize, usize, Vec<(String, usize)>) {
        let body: serde_json::Value = self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}/_emulator/requests", self.url))
                .send()
                .await
                .unwrap();
            r.json().await.unwrap()
        });
        let entries = body["requests"].as_array().cloned().unwrap_or_default();
        let mut ops = std::collections::BTreeMap::<String, usize>::new();
        let mut writes = 0;
        for e in &entries {
            *ops.entry(e["operation"].as_str().unwrap_or("?").to_string())
                .or_default() += 1;
            if e["method"].as_str() != Some("GET") {
                writes += 1;
            }
        }
        (entries.len(), writes, ops.into_iter().collect())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a stack of `n` functions sharing one small code folder.
fn write_stack(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("code")).unwrap();
    std::fs::write(
        dir.join("code/index.py"),
        "def handler(event, context):\n    return {\"ok\": True}\n",
    )
    .unwrap();
    std::fs::write(dir.join("stack.yaml"), "stack: bench\n").unwrap();
    // The manifest loader caps one YAML document's size: 500 functions a file (maps merge).
    for (part, start) in (0..n).step_by(500).enumerate() {
        let mut yaml = String::from("functions:\n");
        for i in start..n.min(start + 500) {
            yaml.push_str(&format!(
                "  fn-{i:05}:\n    runtime: Python3.9\n    handler: index.handler\n    memory: 128\n    timeout: 10\n    \
                 code: ./code\n    async:\n      max_event_age: 3600\n      max_retries: 2\n    triggers:\n      \
                 tick:\n        timer: {{ rate: 5m }}\n"
            ));
        }
        std::fs::write(dir.join(format!("functions-{part:03}.yaml")), yaml).unwrap();
    }
}

struct Run {
    seconds: f64,
    peak_rss_mb: f64,
    /// CPU time (user + system) of the fgform process, sampled every 5 ms up to its exit:
    /// steadier than wall time on a shared machine, which is mostly waiting on the API.
    cpu_seconds: f64,
    status: Option<i32>,
    stderr: String,
}

/// CPU time (user + system) the process `pid` has used so far, in seconds.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let ticks: Vec<f64> = rest.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    Some((ticks.get(11)? + ticks.get(12)?) / 100.0) // USER_HZ ticks
}

fn vm_hwm_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Runs `fgform <verb> …` against `url`, timing it and polling its peak RSS.
fn fgform(verb: &[&str], stack: &Path, url: &str) -> Run {
    let state = stack.join("state.json");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fgform"))
        .args(verb)
        .arg(stack)
        .arg("--endpoint")
        .arg(url)
        .arg("--state")
        .arg(&state)
        .env("HUAWEICLOUD_SDK_AK", local::ACCESS_KEY)
        .env("HUAWEICLOUD_SDK_SK", local::SECRET_KEY)
        .env("HUAWEICLOUD_SDK_PROJECT_ID", local::PROJECT_ID)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run fgform");
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (mut peak, mut cpu) = (0.0f64, 0.0f64);
    let status = loop {
        if let Some(hwm) = vm_hwm_mb(pid) {
            peak = peak.max(hwm);
        }
        if let Some(used) = cpu_seconds(pid) {
            cpu = cpu.max(used);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        seconds: start.elapsed().as_secs_f64(),
        peak_rss_mb: peak,
        cpu_seconds: cpu,
        status: status.code(),
        stderr: reader.join().unwrap(),
    }
}

#[derive(Default)]
struct SdkRun {
    seconds: f64,
    requests: u64,
    errors: u64,
}

fn sdk(mode: &str, url: &str, n: usize, threads: usize) -> Result<SdkRun, String> {
    let python = std::env::var("FGFORM_SDK_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = std::env::var("FGFORM_SDK_BASELINE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/sdk_baseline.py"));
    let out = Command::new(&python)
        .arg(&script)
        .arg(mode)
        .args(["--n", &n.to_string(), "--threads", &threads.to_string()])
        .args(["--endpoint", url, "--project-id", local::PROJECT_ID])
        .args(["--ak", local::ACCESS_KEY, "--sk", local::SECRET_KEY])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `{python}`: {e} (set FGFORM_SDK_PYTHON)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or_else(|| {
        format!(
            "`{python} {}` printed no result (exit {:?}; set FGFORM_SDK_PYTHON to a Python with \
             huaweicloudsdkfunctiongraph, e.g. /opt/sdkvenv/bin/python)",
            script.display(),
            out.status.code()
        )
    })?;
    let v: serde_json::Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    Ok(SdkRun {
        seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
        requests: v["requests"].as_u64().unwrap_or(0),
        errors: v["errors"].as_u64().unwrap_or(0),
    })
}

fn check(run: &Run, what: &str, ok: &[i32]) {
    if !run.status.is_some_and(|c| ok.contains(&c)) {
        // A panic unwinds, so the emulator children are killed by their `Drop`.
        panic!("{what} exited {:?}:\n{}", run.status, run.stderr);
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn main() {
    let a = args();
    let n = a.functions;
    let tmp = tempfile::tempdir().unwrap();

    // fgform: apply, then a no-op plan.
    let stack = tmp.path().join("stack");
    write_stack(&stack, n);
    let emu = Emulator::start(&tmp.path().join("emu"));
    eprintln!("fgform apply of {n} functions against {} ...", emu.url);
    let apply = fgform(&["apply", "--auto-approve"], &stack, &emu.url);
    check(&apply, "fgform apply", &[0]);
    let (apply_requests, apply_writes, _) = emu.log();
    emu.clear_log();
    eprintln!("fgform plan (no-op) ...");
    let plan = fgform(&["plan", "--detailed-exitcode"], &stack, &emu.url);
    check(&plan, "fgform plan --detailed-exitcode (expected no changes)", &[0]);
    let (plan_requests, plan_writes, plan_ops) = emu.log();
    emu.clear_log();
    eprintln!("fgform drift (in sync) ...");
    let drift = fgform(&["drift"], &stack, &emu.url);
    check(&drift, "fgform drift (expected in sync)", &[0]);
    let (drift_requests, drift_writes, drift_ops) = emu.log();
    drop(emu);

    // The SDK baseline against a fresh emulator.
    let emu = Emulator::start(&tmp.path().join("emu-sdk"));
    eprintln!("sdk_baseline.py seed/read --n {n} --threads {} ...", a.threads);
    let seed = sdk("seed", &emu.url, n, a.threads);
    let read = seed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|_| sdk("read", &emu.url, n, a.threads));
    drop(emu);

    let pages = n.div_ceil(400);
    let floor = pages + 3 * n;
    println!();
    println!(
        "fgform reconcile benchmark: {n} functions, each with a timer trigger and an async config; \
         fgform --parallelism 10, SDK --threads {}",
        a.threads
    );
    println!();
    println!("| measure | fgform | python SDK | ratio | goal |");
    println!("|---|---|---|---|---|");
    match &seed {
        Ok(s) => {
            let ratio = apply.seconds / s.seconds;
            println!(
                "| apply / seed | {:.2} s, {apply_requests} requests ({apply_writes} writes) | {:.2} s, {} requests, {} errors | {ratio:.2}x | <= 0.5x: {} |",
                apply.seconds, s.seconds, s.requests, s.errors, verdict(ratio <= 0.5)
            );
        }
        Err(e) => println!(
            "| apply / seed | {:.2} s, {apply_requests} requests | {e} | | <= 0.5x |",
            apply.seconds
        ),
    }
    match &read {
        Ok(r) => {
            let ratio = plan.seconds / r.seconds;
            println!(
                "| no-op plan / read | {:.2} s | {:.2} s, {} requests, {} errors | {ratio:.2}x | <= 0.25x: {} |",
                plan.seconds,
                r.seconds,
                r.requests,
                r.errors,
                verdict(ratio <= 0.25)
            );
        }
        Err(e) => println!("| no-op plan / read | {:.2} s | {e} | | <= 0.25x |", plan.seconds),
    }
    let req_ratio = plan_requests as f64 / floor as f64;
    println!(
        "| no-op plan requests / floor | {plan_requests} | floor {floor} = {pages} list pages + 3 x {n} | {req_ratio:.3}x | <= 1.05x: {} |",
        verdict(req_ratio <= 1.05)
    );
    println!(
        "| no-op plan writes | {plan_writes} | | | 0: {} |",
        verdict(plan_writes == 0)
    );
    match &read {
        Ok(r) => println!(
            "| drift (in sync) / read | {:.2} s, {drift_requests} requests, {drift_writes} writes | {:.2} s | {:.2}x | <= 0.25x: {} |",
            drift.seconds,
            r.seconds,
            drift.seconds / r.seconds,
            verdict(drift.seconds / r.seconds <= 0.25 && drift_writes == 0)
        ),
        Err(e) => println!("| drift (in sync) / read | {:.2} s | {e} | | <= 0.25x |", drift.seconds),
    }
    println!(
        "| fgform peak RSS, apply / plan / drift ({n}) | {:.1} MB / {:.1} MB / {:.1} MB | | | |",
        apply.peak_rss_mb, plan.peak_rss_mb, drift.peak_rss_mb
    );
    println!(
        "| fgform CPU (user + system), apply / plan / drift ({n}) | {:.2} s / {:.2} s / {:.2} s | | | |",
        apply.cpu_seconds, plan.cpu_seconds, drift.cpu_seconds
    );
    println!();
    let by_operation = |ops: &[(String, usize)]| {
        ops.iter()
            .map(|(op, c)| format!("{op} {c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("no-op plan requests by operation: {}", by_operation(&plan_ops));
    println!("drift requests by operation: {}", by_operation(&drift_ops));
    // Peak RSS of planning a large stack.
    let rss = (a.rss_functions > 0).then(|| {
        let big = tmp.path().join("big");
        write_stack(&big, a.rss_functions);
        let emu = Emulator::start(&tmp.path().join("emu-big"));
        eprintln!("fgform apply of {} functions ...", a.rss_functions);
        let apply = fgform(&["apply", "--auto-approve"], &big, &emu.url);
        check(&apply, "fgform apply (large stack)", &[0]);
        eprintln!("fgform plan of {} functions ...", a.rss_functions);
        let plan = fgform(&["plan", "--detailed-exitcode"], &big, &emu.url);
        check(&plan, "fgform plan --detailed-exitcode (large stack)", &[0]);
        (apply, plan)
    });

    if let Some((big_apply, big_plan)) = &rss {
        println!(
            "\n| measure | fgform | | | goal |\n|---|---|---|---|---|\n| fgform peak RSS, plan of {} functions | {:.1} MB ({:.2} s; apply {:.2} s, {:.1} MB) | | | <= 200 MB: {} |",
            a.rss_functions,
            big_plan.peak_rss_mb,
            big_plan.seconds,
            big_apply.seconds,
            big_apply.peak_rss_mb,
            verdict(big_plan.peak_rss_mb <= 200.0)
        );
    }
}
