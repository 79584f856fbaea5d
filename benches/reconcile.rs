//! Reconciler benchmark (issues 5 and 16; not a test): a generated stack of N functions,
//! each with a timer trigger and an async config, applied and re-planned with the release
//! `fgform` against a `fgform emulator` child process that delays every request by a cloud
//! round trip (`--chaos latency=30ms`), next to the official Python SDK doing the same work
//! against an emulator started the same way (`../shared/bench/sdk_baseline.py seed` and
//! `read`, 10 threads).
//!
//!     cargo bench --bench reconcile -- [--functions 1000] [--scale-functions 10000]
//!         [--state-functions 50000] [--threads 10] [--latency-ms 30] [--parallelism N]
//!
//! `--scale-functions 0` skips the large run, `--state-functions 0` the state load. The SDK
//! runs need a Python that imports `huaweicloudsdkfunctiongraph`: `FGFORM_SDK_PYTHON`
//! (default `python3`; the dev box has `/opt/sdkvenv/bin/python`); the script is
//! `FGFORM_SDK_BASELINE` (default `../shared/bench/sdk_baseline.py` next to the package).
//! Without them the SDK rows say why.
//!
//! Goals (issue 16): with 30 ms on every request, a no-op plan ≤ 0.15× the SDK read and an
//! apply ≤ 0.2× the SDK seed; ≤ 2.05 requests per function in a no-op plan, zero writes; at
//! 10,000 functions a no-op plan peaks at ≤ 100 MB RSS and an apply at ≤ 150 MB; a state of
//! 50,000 functions (with their triggers and async configs) loads in ≤ 1 s.
//!
//! Peak RSS is the fgform process's VmHWM, polled every 5 ms while it runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fgform::api::local;

mod common;
use common::{machine, verdict, write_stack, Emulator};

struct Args {
    functions: usize,
    scale_functions: usize,
    state_functions: usize,
    threads: usize,
    latency_ms: usize,
    /// fgform's `--parallelism`; `None`: its default.
    parallelism: Option<usize>,
}

fn args() -> Args {
    let mut a = Args {
        functions: 1000,
        scale_functions: 10_000,
        state_functions: 50_000,
        threads: 10,
        latency_ms: 30,
        parallelism: None,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = || argv.get(i + 1).and_then(|v| v.parse().ok());
        match argv[i].as_str() {
            "--functions" => a.functions = next().expect("--functions N"),
            "--scale-functions" | "--rss-functions" => a.scale_functions = next().expect("--scale-functions N"),
            "--state-functions" => a.state_functions = next().expect("--state-functions N"),
            "--threads" => a.threads = next().expect("--threads N"),
            "--latency-ms" => a.latency_ms = next().expect("--latency-ms MS"),
            "--parallelism" => a.parallelism = Some(next().expect("--parallelism N")),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
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

/// apply, no-op plan and drift of `big` functions: times, requests and peak RSS.
fn scale_table(tmp: &Path, big: usize, latency_ms: usize, flags: &[String]) {
    let emu = Emulator::start(&tmp.join("emu-big"), &latency_flags(latency_ms));
    let runs = apply_plan_drift(&tmp.join("big"), big, &emu, flags);
    drop(emu);
    println!();
    println!("| at {big} functions | time | requests | per function | peak RSS | goal |");
    println!("|---|---|---|---|---|---|");
    for ((run, (requests, _, _)), (what, goal)) in
        runs.iter()
            .zip([("apply", Some(150.0)), ("no-op plan", Some(100.0)), ("drift", None)])
    {
        let goal = goal.map_or(String::new(), |mb: f64| {
            format!("<= {mb:.0} MB: {}", verdict(run.peak_rss_mb <= mb))
        });
        println!(
            "| {what} | {:.2} s | {requests} | {:.3} | {:.1} MB | {goal} |",
            run.seconds,
            *requests as f64 / big as f64,
            run.peak_rss_mb
        );
    }
}

/// The load time of a state of `n` functions.
fn state_load_table(tmp: &Path, n: usize) {
    let path = tmp.join("big-state.json");
    eprintln!("writing a state of {n} functions ...");
    let bytes = write_big_state(&path, n);
    let (seconds, resources) = time_state_load(&path);
    println!();
    println!("| state load | size | resources | time (best of 3) | goal |");
    println!("|---|---|---|---|---|");
    println!(
        "| {n} functions | {:.1} MB | {resources} | {seconds:.3} s | <= 1 s: {} |",
        bytes as f64 / 1e6,
        verdict(seconds <= 1.0)
    );
}

/// The emulator flags that delay every request by `ms` (none for 0).
fn latency_flags(ms: usize) -> Vec<String> {
    if ms == 0 {
        return Vec::new();
    }
    vec!["--chaos".into(), format!("latency={ms}ms")]
}

/// `(requests, writes, per operation)` in `emu`'s request log.
fn log(emu: &Emulator) -> Sent {
    let entries = emu.requests();
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

/// What a run of fgform sent: `(requests, writes, per operation)`.
type Sent = (usize, usize, Vec<(String, usize)>);

/// apply, then a no-op plan, then an in-sync drift of a fresh stack of `n` functions, each
/// against `emu`, with the emulator's request log read after each.
fn apply_plan_drift(dir: &Path, n: usize, emu: &Emulator, flags: &[String]) -> [(Run, Sent); 3] {
    write_stack(dir, n);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let run = |verb: &[&str], what: &str, ok: &[i32]| {
        emu.clear_log();
        eprintln!("fgform {} of {n} functions ...", verb.join(" "));
        let run = fgform(&[verb, &flags].concat(), dir, &emu.url);
        check(&run, what, ok);
        let sent = log(emu);
        (run, sent)
    };
    let apply = run(&["apply", "--auto-approve"], "fgform apply", &[0]);
    let plan = run(
        &["plan", "--detailed-exitcode"],
        "fgform plan --detailed-exitcode (expected no changes)",
        &[0],
    );
    let drift = run(&["drift"], "fgform drift (expected in sync)", &[0]);
    [apply, plan, drift]
}

/// Operation counts as `Op n, Op n`.
fn by_operation(ops: &[(String, usize)]) -> String {
    ops.iter()
        .map(|(op, c)| format!("{op} {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A state of `n` functions, each with a timer trigger and an async config recorded as an
/// apply records them, written to `path`; returns the file's size in bytes.
fn write_big_state(path: &Path, n: usize) -> u64 {
    use fgform::state::{Attributes, ResourceState, State};
    let mut state = State::new("bench", None);
    let function = serde_json::json!({
        "runtime": "Python3.9", "handler": "index.handler", "memory_size": 128, "timeout": 10,
        "code_type": "inline", "code": "0c3f5a".repeat(21), "description": "", "user_data": {},
        "encrypted_user_data": null, "depend_version_list": [], "initializer_handler": null,
        "initializer_timeout": null, "xrole": null, "app_xrole": null, "func_vpc": null,
        "mount_config": null, "log_config": null, "concurrency": null, "max_instance_num": null,
        "gpu_memory": null, "ephemeral_storage": null, "tags": {"fgform:stack": "bench/main@0f3b"},
    });
    let private = |extra: serde_json::Value| {
        let mut map = std::collections::BTreeMap::new();
        map.insert("depends_on".to_string(), serde_json::json!(["dependency.shared"]));
        if let serde_json::Value::Object(o) = extra {
            map.extend(o);
        }
        Attributes::from_map(&map)
    };
    for i in 0..n {
        let name = format!("fn-{i:05}");
        let urn = format!("urn:fss:xx-local-1:0123456789abcdef:function:default:{name}");
        let mut attributes = function.clone();
        attributes["description"] = name.clone().into();
        state.resources.insert(
            format!("function.{name}"),
            ResourceState {
                kind: "function".into(),
                id: urn.clone(),
                attributes: Attributes::from_object(&attributes),
                private: private(serde_json::json!({
                    "func_id": format!("{i:08x}-0000-4000-8000-000000000000"),
                    "secrets_hmac": null,
                })),
            },
        );
        state.resources.insert(
            format!("function.{name}.trigger.tick"),
            ResourceState {
                kind: "trigger".into(),
                id: format!("{i:08x}-1111-4000-8000-000000000000"),
                attributes: Attributes::from_object(&serde_json::json!({
                    "trigger_type_code": "TIMER", "trigger_status": "ACTIVE",
                    "event_data": {"name": "tick", "schedule_type": "Rate", "schedule": "5m", "user_event": ""},
                })),
                private: private(serde_json::json!({})),
            },
        );
        state.resources.insert(
            format!("function.{name}.async"),
            ResourceState {
                kind: "async".into(),
                id: urn,
                attributes: Attributes::from_object(&serde_json::json!({
                    "max_async_event_age_in_seconds": 3600, "max_async_retry_attempts": 2,
                    "destination_config": {}, "enable_async_status_log": false,
                })),
                private: private(serde_json::json!({})),
            },
        );
    }
    fgform::state::save(path, &mut state).expect("write the big state");
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The best of three loads of the state at `path`, in seconds, and its resource count.
fn time_state_load(path: &Path) -> (f64, usize) {
    let mut best = f64::INFINITY;
    let mut count = 0;
    for _ in 0..3 {
        let start = Instant::now();
        let state = fgform::state::load(path).expect("load").expect("a state");
        best = best.min(start.elapsed().as_secs_f64());
        count = state.resources.len();
    }
    (best, count)
}

fn main() {
    let a = args();
    let n = a.functions;
    let tmp = tempfile::tempdir().unwrap();
    let flags: Vec<String> = a
        .parallelism
        .map(|p| vec!["--parallelism".to_string(), p.to_string()])
        .unwrap_or_default();
    let shown_parallelism = a.parallelism.map_or("its default".to_string(), |p| p.to_string());

    // fgform: apply, then a no-op plan, then drift.
    let emu = Emulator::start(&tmp.path().join("emu"), &latency_flags(a.latency_ms));
    let [(apply, (apply_requests, apply_writes, _)), (plan, (plan_requests, plan_writes, plan_ops)), (drift, (drift_requests, drift_writes, drift_ops))] =
        apply_plan_drift(&tmp.path().join("stack"), n, &emu, &flags);
    drop(emu);

    // The SDK baseline against a fresh emulator started the same way.
    let emu = Emulator::start(&tmp.path().join("emu-sdk"), &latency_flags(a.latency_ms));
    eprintln!("sdk_baseline.py seed/read --n {n} --threads {} ...", a.threads);
    let seed = sdk("seed", &emu.url, n, a.threads);
    let read = seed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|_| sdk("read", &emu.url, n, a.threads));
    drop(emu);

    let per_function = plan_requests as f64 / n as f64;
    println!();
    println!(
        "fgform reconcile benchmark, {} UTC, {}: {n} functions, each with a timer trigger and an \
         async config; {} ms emulator latency on every request; fgform --parallelism {shown_parallelism}, \
         SDK --threads {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        machine(),
        a.latency_ms,
        a.threads
    );
    println!();
    println!("| measure | fgform | python SDK | ratio | goal |");
    println!("|---|---|---|---|---|");
    match &seed {
        Ok(s) => {
            let ratio = apply.seconds / s.seconds;
            println!(
                "| apply / seed | {:.2} s, {apply_requests} requests ({apply_writes} writes) | {:.2} s, {} requests, {} errors | {ratio:.2}x | <= 0.2x: {} |",
                apply.seconds, s.seconds, s.requests, s.errors, verdict(ratio <= 0.2)
            );
        }
        Err(e) => println!(
            "| apply / seed | {:.2} s, {apply_requests} requests | {e} | | <= 0.2x |",
            apply.seconds
        ),
    }
    match &read {
        Ok(r) => {
            let ratio = plan.seconds / r.seconds;
            println!(
                "| no-op plan / read | {:.2} s, {plan_requests} requests | {:.2} s, {} requests, {} errors | {ratio:.2}x | <= 0.15x: {} |",
                plan.seconds,
                r.seconds,
                r.requests,
                r.errors,
                verdict(ratio <= 0.15)
            );
        }
        Err(e) => println!("| no-op plan / read | {:.2} s | {e} | | <= 0.15x |", plan.seconds),
    }
    println!(
        "| no-op plan requests per function | {per_function:.3} ({plan_requests} / {n}) | | | <= 2.05: {} |",
        verdict(per_function <= 2.05)
    );
    println!(
        "| no-op plan writes | {plan_writes} | | | 0: {} |",
        verdict(plan_writes == 0)
    );
    match &read {
        Ok(r) => println!(
            "| drift (in sync) / read | {:.2} s, {drift_requests} requests, {drift_writes} writes | {:.2} s | {:.2}x | |",
            drift.seconds,
            r.seconds,
            drift.seconds / r.seconds,
        ),
        Err(e) => println!("| drift (in sync) / read | {:.2} s | {e} | | |", drift.seconds),
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
    println!("no-op plan requests by operation: {}", by_operation(&plan_ops));
    println!("drift requests by operation: {}", by_operation(&drift_ops));

    if a.scale_functions > 0 {
        scale_table(tmp.path(), a.scale_functions, a.latency_ms, &flags);
    }
    if a.state_functions > 0 {
        state_load_table(tmp.path(), a.state_functions);
    }
}
