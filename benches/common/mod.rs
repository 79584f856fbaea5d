//! What the benches that drive the release `fgform` against an emulator child share: the
//! emulator, the generated stack, the verdict and the machine line of their tables.

#![allow(dead_code)] // each bench uses its own part of this

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A `fgform emulator` child with its URL.
pub struct Emulator {
    child: Child,
    pub url: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Emulator {
    /// An emulator keeping its data in `data`, with further `flags` (`--chaos …`,
    /// `--rate-limit N`).
    pub fn start(data: &Path, flags: &[String]) -> Self {
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
            .args(flags)
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
        // A fresh connection per control request: one kept idle through a long run may have
        // been closed by the emulator by the time the log is read.
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        Emulator { child, url, http, rt }
    }

    /// Empties the request log.
    pub fn clear_log(&self) {
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

    /// The request log's entries.
    pub fn requests(&self) -> Vec<serde_json::Value> {
        let body: serde_json::Value = self.rt.block_on(async {
            let r = self
                .http
                .get(format!("{}/_emulator/requests", self.url))
                .send()
                .await
                .unwrap();
            r.json().await.unwrap()
        });
        body["requests"].as_array().cloned().unwrap_or_default()
    }

    /// Stops the child (a SIGKILL: every acknowledged change is already in its journal).
    pub fn stop(self) {}
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a stack of `n` functions, each with a timer trigger and an async config, sharing
/// one small code folder.
pub fn write_stack(dir: &Path, n: usize) {
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

/// A goal's verdict in a table.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

/// The machine, for the tables' headings: CPU model, cores, memory.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, m)| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!("{model}, {cores} cores, {mem_gb:.0} GB")
}
