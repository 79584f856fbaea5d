//! Package + hash a ~200 MB tree of mixed files with fgform (all workers, and one), and with
//! `zip -X -r -q` followed by `sha512sum`, in the same run; print a markdown table of the
//! times, their ratio to zip + sha512sum, and whether the goal (<= 0.35x) is met, headed by
//! the machine (CPU model, cores) and the UTC date so it can be pasted as it is.
//!
//! `cargo bench --bench package` (env `FGFORM_BENCH_MB` changes the size, `FGFORM_BENCH_RUNS`
//! the repetitions; the median is reported). The tree lives in a temp dir removed at the end.

use std::fs;
use std::io::Write as _;
use std::num::NonZeroUsize;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: &[&str] = &[
    "def",
    "return",
    "import",
    "function",
    "const",
    "let",
    "value",
    "handler",
    "event",
    "context",
    "self",
    "None",
    "true",
    "false",
    "for",
    "in",
    "if",
    "else",
    "while",
    "class",
    "thumbnail",
    "bucket",
    "object",
    "key",
    "json",
    "logger",
    "info",
    "error",
    "=",
    "(",
    ")",
    "{",
    "}",
    ":",
    ",",
    ".",
    "0",
    "1",
    "42",
    "request",
    "response",
];

fn text(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    let mut column = 0;
    while out.len() < len {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        out.extend_from_slice(word.as_bytes());
        column += word.len() + 1;
        if column > 60 + rng.below(30) as usize {
            out.push(b'\n');
            column = 0;
            let indent = rng.below(4) as usize * 4;
            out.extend(std::iter::repeat_n(b' ', indent));
        } else {
            out.push(b' ');
        }
        if rng.below(50) == 0 {
            out.extend_from_slice(format!("{:x}", rng.next()).as_bytes());
        }
    }
    out.truncate(len);
    out
}

fn binary(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// ~45% source-like text in big files, ~30% incompressible binaries, ~25% many small files
/// (a third of them binary), a few executables, nested directories.
fn generate(root: &Path, total_mb: usize) -> (usize, u64) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let total = total_mb * 1024 * 1024;
    let (mut files, mut bytes) = (0usize, 0u64);
    let mut write = |path: String, data: Vec<u8>, exec: bool| {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::File::create(&path).unwrap().write_all(&data).unwrap();
        if exec {
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        files += 1;
        bytes += data.len() as u64;
    };
    let mut used = 0;
    let mut i = 0;
    while used < total * 45 / 100 {
        let len = 1_000_000 + rng.below(4_000_000) as usize;
        write(
            format!("src/module{:02}/big{i:03}.py", i % 17),
            text(&mut rng, len),
            false,
        );
        used += len;
        i += 1;
    }
    while used < total * 75 / 100 {
        let len = 500_000 + rng.below(5_000_000) as usize;
        write(format!("assets/blob{i:03}.bin"), binary(&mut rng, len), i % 9 == 0);
        used += len;
        i += 1;
    }
    while used < total {
        let len = 500 + rng.below(20_000) as usize;
        let data = if rng.below(3) == 0 {
            binary(&mut rng, len)
        } else {
            text(&mut rng, len)
        };
        write(format!("node_modules/pkg{:03}/lib/f{i:05}.js", i % 300), data, false);
        used += len;
        i += 1;
    }
    (files, bytes)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mb: usize = std::env::var("FGFORM_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let runs: usize = std::env::var("FGFORM_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let temp = tempfile::tempdir().expect("temp dir");
    let tree = temp.path().join("tree");
    let started = Instant::now();
    let (files, bytes) = generate(&tree, mb);
    eprintln!(
        "generated {files} files, {:.1} MiB in {:.1?}",
        bytes as f64 / 1048576.0,
        started.elapsed()
    );
    // Warm the page cache for both contenders alike.
    for entry in walkdir::WalkDir::new(&tree) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let _ = fs::read(entry.path()).unwrap();
        }
    }

    let ours_zip = temp.path().join("fgform.zip");
    let theirs_zip = temp.path().join("zip.zip");
    let workers = fgform::package::default_workers();
    let (mut ours, mut single, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let (mut ours_cpu, mut single_cpu, mut theirs_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let mut ours_digest = String::new();
    let mut ours_size = 0;
    // Interleaved, so that a noisy neighbour slows all three alike.
    for _ in 0..runs {
        for (count, times, cpu) in [
            (workers, &mut ours, &mut ours_cpu),
            (NonZeroUsize::MIN, &mut single, &mut single_cpu),
        ] {
            let (start, cpu_start) = (Instant::now(), cpu_time().0);
            let file = fs::File::create(&ours_zip).unwrap();
            let (_, artifact) = fgform::package::package_dir_with(&tree, &[], file, count).unwrap();
            times.push(start.elapsed());
            cpu.push(cpu_time().0 - cpu_start);
            if !ours_digest.is_empty() {
                assert_eq!(
                    ours_digest, artifact.digest,
                    "fgform's output changed between runs or worker counts"
                );
            }
            ours_digest = artifact.digest;
            ours_size = artifact.size;
        }

        let _ = fs::remove_file(&theirs_zip);
        let (start, cpu_start) = (Instant::now(), cpu_time().1);
        let status = Command::new("zip")
            .args(["-X", "-r", "-q"])
            .arg(&theirs_zip)
            .arg(".")
            .current_dir(&tree)
            .status();
        let status = status.expect("`zip` is installed");
        assert!(status.success());
        let output = Command::new("sha512sum")
            .arg(&theirs_zip)
            .output()
            .expect("`sha512sum` is installed");
        assert!(output.status.success());
        theirs.push(start.elapsed());
        theirs_cpu.push(cpu_time().1 - cpu_start);
    }
    let check = Command::new("sha512sum").arg(&ours_zip).output().unwrap();
    assert!(
        String::from_utf8_lossy(&check.stdout).starts_with(&ours_digest),
        "digest differs from sha512sum"
    );
    let theirs_size = fs::metadata(&theirs_zip).unwrap().len();
    let (ours, single, theirs) = (median(ours), median(single), median(theirs));
    let (ours_cpu, single_cpu, theirs_cpu) = (median(ours_cpu), median(single_cpu), median(theirs_cpu));
    let ratio = |time: Duration| time.as_secs_f64() / theirs.as_secs_f64();
    println!();
    println!(
        "package + SHA-512 of {files} files, {:.1} MiB; {}, {} cores; {}; median of {runs}",
        bytes as f64 / 1048576.0,
        cpu_model(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        utc_now(),
    );
    println!();
    println!("| tool | time | ratio to zip + sha512sum | CPU time (cores busy) | zip size |");
    println!("|---|---:|---:|---:|---:|");
    for (label, time, cpu, size) in [
        (
            format!("fgform package, {workers} workers (deflate 6, streaming SHA-512)"),
            ours,
            ours_cpu,
            ours_size,
        ),
        ("fgform package, 1 worker".to_string(), single, single_cpu, ours_size),
        ("zip -X -r -q + sha512sum".to_string(), theirs, theirs_cpu, theirs_size),
    ] {
        println!(
            "| {label} | {:.2} s | {:.2}x | {:.2} s ({:.2}) | {:.1} MiB |",
            time.as_secs_f64(),
            ratio(time),
            cpu.as_secs_f64(),
            cpu.as_secs_f64() / time.as_secs_f64(),
            size as f64 / 1048576.0
        );
    }
    println!();
    println!(
        "goal fgform ({workers} workers) <= {GOAL:.2}x of zip + sha512sum: {}",
        if ratio(ours) <= GOAL { "met" } else { "**missed**" }
    );
}

/// The issue's goal for fgform with all workers, as a fraction of `zip` + `sha512sum`.
const GOAL: f64 = 0.35;

/// CPU time (user + system) of this process's threads, and of its children waited for, from
/// /proc/self/stat (in USER_HZ = 1/100 s ticks). On a shared machine it tells a slow run
/// from one that got fewer cores than it asked for.
fn cpu_time() -> (Duration, Duration) {
    let stat = fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses: state is the first.
    let fields: Vec<u64> = stat[stat.rfind(')').expect("(comm)") + 2..]
        .split(' ')
        .skip(11)
        .take(4)
        .map(|field| field.parse().expect("a tick count"))
        .collect();
    let ticks = |n: u64| Duration::from_millis(n * 10);
    (ticks(fields[0] + fields[1]), ticks(fields[2] + fields[3]))
}

/// The CPU model from /proc/cpuinfo (`unknown CPU` where there is none).
fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

/// Now, as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}
