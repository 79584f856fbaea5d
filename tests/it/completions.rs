//! `fgform completions SHELL` loads into the real shells and completes fgform's subcommands;
//! `fgform man` is a roff page naming every subcommand; `--version` names the commit.

use std::path::Path;
use std::process::Output;

use clap::CommandFactory as _;

use crate::context::{assert_exit, fgform_command, scrubbed_command};
use crate::servers::shells;

/// `shell ARGS` with the scrubbed environment and the `fgform` under test first on PATH.
fn in_shell(shell: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Output {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_fgform")).parent().unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(std::env::split_paths(&path))).unwrap();
    scrubbed_command(shell).args(args).env("PATH", path).output().unwrap()
}

/// The stdout of a run that exits 0 with nothing on stderr.
#[track_caller]
fn stdout(out: &Output) -> String {
    let transcript = assert_exit(out, 0);
    assert!(out.stderr.is_empty(), "{transcript}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fgform(args: &[&str]) -> String {
    stdout(&fgform_command().args(args).output().unwrap())
}

/// Every subcommand's name, nested ones (`state mv`) included as their last word.
fn subcommand_names() -> Vec<String> {
    fn walk(cmd: &clap::Command, names: &mut Vec<String>) {
        for sub in cmd.get_subcommands() {
            names.push(sub.get_name().to_string());
            walk(sub, names);
        }
    }
    let mut names = Vec::new();
    walk(&fgform::cli::Cli::command(), &mut names);
    names
}

#[test]
fn the_bash_script_loads_and_completes_subcommands_and_flags() {
    let out = in_shell(
        "bash",
        &[
            "--norc",
            "-c",
            "source <(fgform completions bash) && complete -p fgform",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.starts_with("complete ") && text.contains(" -F _fgform ") && text.ends_with(" fgform\n"),
        "{text}"
    );

    // What bash shows for `fgform pl<TAB>` and `fgform plan --o<TAB>`.
    let complete = |words: &str| {
        let script = format!(
            "source <(fgform completions bash) || exit 1; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _fgform fgform \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        stdout(&in_shell("bash", &["--norc", "-c", &script]))
    };
    let plan = complete("fgform pl");
    assert!(plan.lines().any(|l| l == "plan"), "{plan}");
    let out_flag = complete("fgform plan --o");
    assert!(out_flag.lines().any(|l| l == "--out"), "{out_flag}");
}

#[test]
fn the_fish_script_loads_and_completes_plan() {
    let fish = shells::fish();
    let out = in_shell(
        &fish,
        &[
            "--no-config",
            "-c",
            "source (fgform completions fish | psub); or exit 1; complete -C'fgform pl'; complete -C'fgform plan --o'",
        ],
    );
    let text = stdout(&out);
    assert!(
        text.lines().any(|l| l.starts_with("plan\t")),
        "no `plan` completion: {text}"
    );
    // `-out` is rewritten to `--out` before parsing, so completion offers `--out`, and its
    // description says Terraform's `-out FILE` works too.
    let out_flag = text
        .lines()
        .find(|l| l.starts_with("--out\t"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(out_flag.contains("`-out FILE` works too"), "{out_flag}");
}

#[test]
fn zsh_and_powershell_scripts_name_every_subcommand() {
    let zsh = fgform(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef fgform\n"), "{zsh}");
    let powershell = fgform(&["completions", "powershell"]);
    assert!(
        powershell.contains("Register-ArgumentCompleter -Native -CommandName 'fgform'"),
        "{powershell}"
    );
    for name in subcommand_names() {
        assert!(zsh.contains(&format!("'{name}:")), "zsh misses {name}");
        assert!(powershell.contains(&format!("'{name}'")), "powershell misses {name}");
    }
}

#[test]
fn the_man_page_is_roff_and_names_every_subcommand() {
    let page = fgform(&["man"]);
    // After the two lines that define the quote string, the title.
    let first = page
        .lines()
        .find(|l| !l.starts_with(".ie ") && !l.starts_with(".el "))
        .unwrap();
    assert!(first.starts_with(".TH fgform 1 "), "{page}");
    for sub in fgform::cli::Cli::command().get_subcommands() {
        assert!(
            page.contains(&format!("fgform\\-{}", sub.get_name().replace('-', "\\-"))),
            "{} missing",
            sub.get_name()
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    fgform(&["man", "--dir", dir_arg]);
    for page in [
        "fgform.1",
        "fgform-plan.1",
        "fgform-state-mv.1",
        "fgform-rollout-promote.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH "), "{page}: {text}");
    }
}

/// `fgform X.Y.Z (COMMIT)`: 12 hex digits of the commit built (`-dirty` when the work tree had
/// changes), or "unknown commit" outside git without `FGFORM_COMMIT`.
#[test]
fn version_names_a_twelve_digit_commit_or_unknown() {
    let version = fgform(&["--version"]);
    let pattern = regex::Regex::new(&format!(
        r"^fgform {} \(([0-9a-f]{{12}}(-dirty)?|unknown commit)\)\n$",
        regex::escape(env!("CARGO_PKG_VERSION"))
    ))
    .unwrap();
    let commit = pattern.captures(&version).unwrap_or_else(|| panic!("{version:?}"))[1].to_string();
    if option_env!("FGFORM_COMMIT").is_none() {
        let head = std::process::Command::new("git")
            .args(["rev-parse", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output();
        match head {
            Ok(head) if head.status.success() => {
                assert!(
                    String::from_utf8_lossy(&head.stdout).starts_with(&commit[..12]),
                    "{version}"
                );
            }
            _ => assert_eq!(commit, "unknown commit"),
        }
    }
}
