//! Terminal output conventions: colour only on a terminal and never with `NO_COLOR`
//! (<https://no-color.org>), plan symbols coloured the way Terraform colours them.

use std::io::IsTerminal;

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Whether stdout gets colour: a terminal, and `NO_COLOR` unset or empty.
pub fn stdout_color() -> bool {
    color_allowed(std::env::var_os("NO_COLOR").as_deref(), std::io::stdout().is_terminal())
}

/// Whether stderr gets colour (`--debug` logs, for one): the same rule as stdout.
pub fn stderr_color() -> bool {
    color_allowed(std::env::var_os("NO_COLOR").as_deref(), std::io::stderr().is_terminal())
}

fn color_allowed(no_color: Option<&std::ffi::OsStr>, terminal: bool) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Colours a rendered plan: `+` green, `~` yellow, `-` red, `-/+` red/green, the summary
/// line bold. Text without colour is returned unchanged when `color` is false.
pub fn plan(text: &str, color: bool) -> String {
    paint(text, color, &["Plan:", "No changes"])
}

/// Colours a drift report the way [`plan`] colours a plan, its summary line bold.
pub fn drift(text: &str, color: bool) -> String {
    paint(text, color, &["Drift:", "No drift"])
}

/// Symbols coloured, lines starting with one of `bold` in bold.
fn paint(text: &str, color: bool, bold: &[&str]) -> String {
    if !color {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let newline = &line[body.len()..];
        let trimmed = body.trim_start();
        let indent = &body[..body.len() - trimmed.len()];
        let painted = if let Some(rest) = trimmed.strip_prefix("-/+") {
            format!("{indent}{RED}-/{GREEN}+{RESET}{rest}")
        } else if let Some((sym, code)) = [("+", GREEN), ("~", YELLOW), ("-", RED)]
            .iter()
            .find(|(s, _)| trimmed.starts_with(s) && trimmed[1..].starts_with(' '))
        {
            format!("{indent}{code}{sym}{RESET}{}", &trimmed[1..])
        } else if bold.iter().any(|b| trimmed.starts_with(b)) {
            format!("{indent}{BOLD}{trimmed}{RESET}")
        } else {
            body.to_string()
        };
        out.push_str(&painted);
        out.push_str(newline);
    }
    out
}

/// Writes to stdout as `print!` does, except that a reader that went away (`fgform plan |
/// head`, `| grep -q`) is not an error: the rest of the output is dropped and the command
/// runs to its end, so an apply whose output nobody reads still finishes and records its
/// state. Any other write error is reported once on stderr.
pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    static CLOSED: AtomicBool = AtomicBool::new(false);
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if !CLOSED.swap(true, Ordering::Relaxed) && e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: writing to stdout failed, the rest of the output is dropped: {e}");
        }
    }
}

/// `print!` through [`write_stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::printer::write_stdout(format_args!($($arg)*)) };
}

/// `println!` through [`write_stdout`].
#[macro_export]
macro_rules! outln {
    () => { $crate::printer::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::printer::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(color_allowed(None, true));
        assert!(!color_allowed(None, false));
        assert!(!color_allowed(Some(std::ffi::OsStr::new("1")), true));
        assert!(color_allowed(Some(std::ffi::OsStr::new("")), true));
    }

    #[test]
    fn symbols_are_painted_and_nothing_else_changes() {
        let text = "  + function.a\n  ~ function.b {\n      - x = 1\n-/+ dependency.d {\n    }\n\nPlan: 1 to add, 1 to change, 1 to destroy.\n";
        assert_eq!(plan(text, false), text);
        let painted = plan(text, true);
        assert!(painted.contains("\x1b[32m+\x1b[0m function.a"));
        assert!(painted.contains("\x1b[33m~\x1b[0m function.b {"));
        assert!(painted.contains("      \x1b[31m-\x1b[0m x = 1"));
        assert!(painted.contains("\x1b[31m-/\x1b[32m+\x1b[0m dependency.d"));
        assert!(painted.contains("\x1b[1mPlan: 1 to add"));
        let stripped = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().replace_all(&painted, "");
        assert_eq!(stripped, text);
    }

    #[test]
    fn drift_reports_get_the_same_symbols_and_a_bold_summary() {
        let text = "  ~ function.a: memory_size 128 => 256\n  - function.b (urn): not found live\nDrift: 1 changed\n";
        assert_eq!(drift(text, false), text);
        let painted = drift(text, true);
        assert!(painted.contains("\x1b[33m~\x1b[0m function.a"));
        assert!(painted.contains("\x1b[31m-\x1b[0m function.b"));
        assert!(painted.contains("\x1b[1mDrift: 1 changed"));
        assert!(!plan(text, true).contains("\x1b[1mDrift"));
    }
}
