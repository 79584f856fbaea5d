//! Emulator benchmark (not a test): stores N functions (default 10,000) each carrying a
//! distinct ~1 MB code package in a `fgform emulator --data` child process, then measures
//! GET config throughput with `wrk` from another process and reports the emulator's peak
//! RSS (VmHWM) and restart (journal replay) time.
//!
//!     cargo bench --bench emulator -- [--functions 10000] [--code-kb 1024] [--seconds 10]
//!
//! Goals (issue 2): ≥ 10,000 req/s on a 2-core machine; peak RSS ≤ 200 MB.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use fgform::api::{local, signing};

struct Args {
    functions: usize,
    code_kb: usize,
    seconds: u64,
    connections: usize,
}

fn args() -> Args {
    let mut a = Args {
        functions: 10_000,
        code_kb: 1024,
        seconds: 10,
        connections: 64,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let next = || argv.get(i + 1).and_then(|v| v.parse().ok());
        match argv[i].as_str() {
            "--functions" => a.functions = next().expect("--functions N"),
            "--code-kb" => a.code_kb = next().expect("--code-kb N"),
            "--seconds" => a.seconds = next().map(|v: usize| v as u64).expect("--seconds N"),
            "--connections" => a.connections = next().expect("--connections N"),
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn start(data: &std::path::Path, port: u16) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fgform"))
        .args([
            "emulator",
            "--listen",
            &format!("127.0.0.1:{port}"),
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
    (child, line.trim().to_string())
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A stored (uncompressed) zip holding `size` pseudo-random bytes unique to `seed`.
fn code_zip(seed: u64, size: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(size);
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while data.len() < size {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(size);
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        z.start_file("blob.bin", opts).unwrap();
        z.write_all(&data).unwrap();
        z.finish().unwrap();
    }
    buf.into_inner()
}

async fn signed_post(http: &reqwest::Client, url: &str, path: &str, body: Vec<u8>) -> u16 {
    let host = url.trim_start_matches("http://").to_string();
    let date = chrono::Utc::now().format(signing::DATE_FORMAT).to_string();
    let headers = signing::sign(
        signing::OutgoingRequest {
            method: "POST",
            raw_path: path,
            query: &[],
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: &body,
            host: &host,
        },
        local::ACCESS_KEY,
        local::SECRET_KEY,
        &date,
    );
    let mut req = http.post(format!("{url}{path}")).body(body);
    for (k, v) in headers {
        if k != "Host" {
            req = req.header(k, v);
        }
    }
    req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

async fn seed(url: &str, n: usize, code_kb: usize) {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let path = format!("/v2/{}/fgs/functions", local::PROJECT_ID);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (http, url, path, next) = (http.clone(), url.to_string(), path.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let zip = code_zip(i as u64, code_kb * 1024);
                let body = serde_json::json!({
                    "func_name": format!("bench-{i:05}"), "package": "default", "runtime": "Python3.9",
                    "handler": "index.handler", "memory_size": 256, "timeout": 30, "code_type": "zip",
                    "code_filename": "index.zip",
                    "func_code": { "file": base64::engine::general_purpose::STANDARD.encode(&zip) },
                });
                let status = signed_post(&http, &url, &path, serde_json::to_vec(&body).unwrap()).await;
                assert_eq!(status, 200, "seeding bench-{i:05}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn token(url: &str) -> String {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "bench", "password": local::IAM_PASSWORD, "domain": {"name": "bench"}}}}}});
    let resp = http
        .post(format!("{url}/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    resp.headers()["x-subject-token"].to_str().unwrap().to_string()
}

/// CPU time (user + system) the process `pid` has used so far, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: Vec<f64> = rest.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    (ticks.get(11).unwrap_or(&0.0) + ticks.get(12).unwrap_or(&0.0)) / ticks_per_second
}

/// One wrk run against the emulator `pid`: requests per second, the non-2xx line, and the
/// emulator's CPU time per request in microseconds (steadier than req/s on a shared
/// machine: it does not count time the emulator spent waiting for a core).
fn wrk(url: &str, script: &std::path::Path, a: &Args, pid: u32) -> Option<(f64, String, f64)> {
    let cpu_before = cpu_seconds(pid);
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{}", a.connections),
            &format!("-d{}s", a.seconds),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .ok()?;
    let cpu = cpu_seconds(pid) - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let requests: f64 = text
        .lines()
        .find(|l| l.contains(" requests in "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let non2xx = text
        .lines()
        .find(|l| l.contains("Non-2xx"))
        .unwrap_or("")
        .trim()
        .to_string();
    Some((rps, non2xx, cpu * 1e6 / requests.max(1.0)))
}

fn main() {
    let a = args();
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (apt-get install wrk); it is the load tool this benchmark uses");
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (mut child, url) = start(dir.path(), port);
    let rt = tokio::runtime::Runtime::new().unwrap();
    eprintln!(
        "seeding {} functions with {} KB of distinct code each into {url} ...",
        a.functions, a.code_kb
    );
    let t = Instant::now();
    rt.block_on(seed(&url, a.functions, a.code_kb));
    let seed_secs = t.elapsed().as_secs_f64();
    let rss_after_seed = peak_rss_mb(child.id());

    let token = rt.block_on(token(&url));
    let lua = dir.path().join("config.lua");
    std::fs::write(
        &lua,
        format!(
            "wrk.headers[\"X-Auth-Token\"] = \"{token}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             local n = {n}\nmath.randomseed(42)\n\
             request = function()\n  local i = math.random(0, n - 1)\n  \
             return wrk.format(\"GET\", string.format(\"/v2/{project}/fgs/functions/urn%%3Afss%%3A{region}%%3A{project}%%3Afunction%%3Adefault%%3Abench-%05d%%3Alatest/config\", i))\nend\n",
            n = a.functions,
            project = local::PROJECT_ID,
            region = local::REGION,
        ),
    )
    .unwrap();
    let (token_rps, token_errors, token_cpu) = wrk(&url, &lua, &a, child.id()).expect("wrk ran");

    // The same read signed with AK/SK (one function: a signature covers one path and date).
    let path = format!(
        "/v2/{}/fgs/functions/{}/config",
        local::PROJECT_ID,
        signing::encode(&format!(
            "urn:fss:{}:{}:function:default:bench-00000:latest",
            local::REGION,
            local::PROJECT_ID
        ))
    );
    let date = chrono::Utc::now().format(signing::DATE_FORMAT).to_string();
    let headers = signing::sign(
        signing::OutgoingRequest {
            method: "GET",
            raw_path: &path,
            query: &[],
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: b"",
            host: url.trim_start_matches("http://"),
        },
        local::ACCESS_KEY,
        local::SECRET_KEY,
        &date,
    );
    let mut script = String::new();
    for (k, v) in headers.iter().filter(|(k, _)| k != "Host") {
        script.push_str(&format!("wrk.headers[\"{k}\"] = \"{v}\"\n"));
    }
    script.push_str(&format!("wrk.path = \"{path}\"\n"));
    let signed_lua = dir.path().join("signed.lua");
    std::fs::write(&signed_lua, script).unwrap();
    let (signed_rps, signed_errors, signed_cpu) = wrk(&url, &signed_lua, &a, child.id()).expect("wrk ran");
    let rss_peak = peak_rss_mb(child.id());
    let blob_bytes: u64 = std::fs::read_dir(dir.path().join("blobs"))
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    // Restart after kill -9: the journal is replayed.
    child.kill().unwrap();
    child.wait().unwrap();
    let t = Instant::now();
    let (mut child2, _) = start(dir.path(), port);
    let replay_secs = t.elapsed().as_secs_f64();
    let rss_restarted = peak_rss_mb(child2.id());
    child2.kill().unwrap();
    child2.wait().unwrap();

    println!();
    println!(
        "fgform emulator benchmark: {} functions x {} KB distinct code ({:.1} GB of blobs on disk)",
        a.functions,
        a.code_kb,
        blob_bytes as f64 / 1e9
    );
    println!("| measure | value | goal |");
    println!("|---|---|---|");
    println!(
        "| seeding (4 parallel signed creates) | {:.1} s ({:.0} creates/s) | |",
        seed_secs,
        a.functions as f64 / seed_secs
    );
    println!(
        "| GET config, token auth, random function, wrk -t2 -c{} {}s | {:.0} req/s {} | >= 10000 req/s |",
        a.connections, a.seconds, token_rps, token_errors
    );
    println!("| emulator CPU per GET config, token auth | {token_cpu:.1} µs | |");
    println!(
        "| GET config, AK/SK signed, wrk -t2 -c{} {}s | {:.0} req/s {} | >= 10000 req/s |",
        a.connections, a.seconds, signed_rps, signed_errors
    );
    println!("| emulator CPU per GET config, AK/SK signed | {signed_cpu:.1} µs | |");
    println!(
        "| emulator peak RSS after seeding | {:.1} MB | <= 200 MB |",
        rss_after_seed
    );
    println!("| emulator peak RSS after load | {:.1} MB | <= 200 MB |", rss_peak);
    println!(
        "| restart after kill -9 (journal replay) to first URL | {:.2} s, peak RSS {:.1} MB | |",
        replay_secs, rss_restarted
    );
}
