//! What `apply` and `destroy` tell as they run, through one [`Sink`]: the human lines on
//! stdout (with a live `[done/total]` status line on a terminal) or, with `--json`, one JSON
//! object per line, as Terraform's `-json` (docs/json-output.md,
//! docs/apply-json.schema.json). Events name resources, actions and ids and carry error
//! text, never an attribute value, so nothing secret can reach them. Errors and warnings go
//! to stderr as ever, from their callers; the JSON sink repeats them as `diagnostic` lines.

use std::io::IsTerminal as _;
use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::apply::Report;
use crate::manifest::diagnostic::Diagnostic as ManifestDiagnostic;
use crate::model::Address;
use crate::plan::{Action, Plan};

/// `ui` of the `version` event: bumped when an event changes incompatibly.
pub const UI_VERSION: &str = "1.0";

/// What a run tells, in the order it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// The plan about to be applied, by `apply` or `destroy` (see [`operation`]). JSON tells
    /// a plan that does nothing as a `change_summary` of zeros (the text plan says it).
    Plan { plan: &'a Plan, operation: &'static str },
    /// The changes start running (`total` of them).
    Applying { total: usize },
    /// From the applier: a change started, went on, completed or failed.
    Report(Report),
    /// How the run ended, with the line that says so.
    Summary(Summary),
    /// An error or warning.
    Diagnostic(Diagnostic),
    /// The stack's outputs after a successful apply, in both forms.
    Outputs(crate::ops::outputs::AfterApply),
}

/// The end of a run: what it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// `apply` or `destroy`.
    pub operation: &'static str,
    pub add: usize,
    pub change: usize,
    pub destroy: usize,
    /// The text form's summary line, e.g. `Apply complete! Resources: 1 added, …`.
    pub message: String,
}

impl Summary {
    /// Nothing done by `operation`, and `message` says why.
    pub fn nothing(operation: &'static str, message: String) -> Self {
        Summary {
            operation,
            add: 0,
            change: 0,
            destroy: 0,
            message,
        }
    }
}

/// `apply` or `destroy`.
pub fn operation(destroy: bool) -> &'static str {
    if destroy {
        "destroy"
    } else {
        "apply"
    }
}

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// An error or warning, as Terraform's `-json` diagnostics hold one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The `error:` (or `warning:`) line.
    pub summary: String,
    /// The `Caused by:` lines, or where in the manifests, one per line.
    pub detail: Option<String>,
    pub address: Option<String>,
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error as `error::render` prints it: its causes the detail, its hints the hint.
    pub fn error(error: &anyhow::Error) -> Self {
        let parts = crate::error::parts(error);
        Diagnostic {
            severity: Severity::Error,
            summary: parts.error,
            detail: lines(parts.causes),
            address: None,
            hint: lines(parts.hints),
        }
    }

    /// A warning that stands alone.
    pub fn warning(summary: String, address: Option<&Address>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            summary,
            detail: None,
            address: address.map(Address::to_string),
            hint: None,
        }
    }

    /// A problem the manifests have: its place is the detail.
    pub fn manifest(d: &ManifestDiagnostic) -> Self {
        let summary = match d.path.as_str() {
            "" => d.message.clone(),
            path => format!("{path}: {}", d.message),
        };
        let mut detail: Vec<String> = d.location.iter().map(|l| format!("at {l}")).collect();
        detail.extend(d.related.iter().map(|(what, l)| format!("{what} {l}")));
        Diagnostic {
            severity: Severity::Error,
            summary,
            detail: lines(detail),
            address: d.address.as_ref().map(Address::to_string),
            hint: d.hint.clone(),
        }
    }
}

fn lines(lines: Vec<String>) -> Option<String> {
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// The live status line of a text run on a terminal.
struct Live {
    started: Instant,
    finished: usize,
    total: usize,
}

/// Text or JSON.
enum Format {
    /// `live` on a terminal, once the changes start; `applying` once they did.
    Text {
        terminal: bool,
        applying: bool,
        live: Option<Live>,
    },
    Json,
}

/// Where a run's events go: rendered as text or JSON lines, written to stdout (or, in tests,
/// anywhere).
pub struct Sink {
    format: Format,
    out: Box<dyn FnMut(&str) + Send>,
}

impl Sink {
    /// The sink for `--json` (`json`) or text, on stdout. A JSON sink writes the `version`
    /// line at once, so it comes first.
    pub fn stdout(json: bool) -> Sink {
        let out = Box::new(|text: &str| crate::out!("{text}"));
        Sink::new(json, std::io::stdout().is_terminal(), out)
    }

    /// A sink writing to `out`; `terminal` asks for the text form's live status line.
    pub fn new(json: bool, terminal: bool, out: Box<dyn FnMut(&str) + Send>) -> Sink {
        let format = match json {
            true => Format::Json,
            false => Format::Text {
                terminal,
                applying: false,
                live: None,
            },
        };
        let mut sink = Sink { format, out };
        if json {
            let version = env!("CARGO_PKG_VERSION");
            let fields = json!({"fgform": version, "ui": UI_VERSION});
            sink.line("info", format!("fgform {version}"), "version", fields);
        }
        sink
    }

    /// Whether it writes JSON.
    pub fn is_json(&self) -> bool {
        matches!(self.format, Format::Json)
    }

    /// Tells `event`.
    pub fn emit(&mut self, event: Event<'_>) {
        match self.format {
            Format::Json => self.json(event),
            Format::Text { .. } => self.text(event),
        }
    }

    /// The text form: today's stdout lines; errors and warnings are the callers' (stderr).
    fn text(&mut self, event: Event<'_>) {
        let Format::Text {
            terminal,
            applying,
            live,
        } = &mut self.format
        else {
            return;
        };
        let line = match event {
            Event::Plan { plan, .. } => {
                let text = crate::plan::render::text(plan);
                (self.out)(&crate::printer::plan(&text, crate::printer::stdout_color()));
                return;
            }
            Event::Applying { total } => {
                *applying = true;
                *live = terminal.then(|| Live {
                    started: Instant::now(),
                    finished: 0,
                    total,
                });
                (self.out)("\n");
                return;
            }
            Event::Report(Report::Note { address, message, .. }) => format!("  {address}: {message}"),
            Event::Report(Report::Completed { address, action, .. }) => {
                if let Some(live) = live {
                    live.finished += 1;
                }
                format!("{address}: {}", done(action))
            }
            Event::Report(Report::Started { .. } | Report::Failed { .. }) | Event::Diagnostic(_) => return,
            Event::Outputs(told) => {
                for line in told.lines {
                    (self.out)(&format!("{line}\n"));
                }
                return;
            }
            Event::Summary(summary) => {
                if live.take().is_some() {
                    (self.out)("\r\x1b[2K");
                }
                let gap = if *applying { "\n" } else { "" };
                (self.out)(&format!("{gap}{}\n", summary.message));
                return;
            }
        };
        match live {
            Some(live) => {
                let elapsed = live.started.elapsed().as_secs_f64();
                let status = format!("[{}/{}] {elapsed:.1}s", live.finished, live.total);
                (self.out)(&format!("\r\x1b[2K{line}\n{status}"));
            }
            None => (self.out)(&format!("{line}\n")),
        }
    }

    /// The JSON form: one object per line.
    fn json(&mut self, event: Event<'_>) {
        match event {
            Event::Plan { plan, operation } => {
                for warning in &plan.warnings {
                    self.diagnostic(Diagnostic::warning(warning.clone(), None));
                }
                for c in &plan.changes {
                    let message = format!("{}: Plan to {}", c.address, action_name(c.action));
                    self.line("info", message, "planned_change", resource(&c.address, c.action));
                }
                if plan.is_empty() && plan.blocked.is_empty() && plan.unresolved.is_empty() {
                    let text = crate::plan::render::text(plan);
                    let said = text.lines().last().unwrap_or_default().to_string();
                    self.json(Event::Summary(Summary::nothing(operation, said)));
                }
            }
            Event::Applying { .. } => {}
            Event::Report(report) => self.report(report),
            Event::Summary(s) => {
                let fields = json!({"add": s.add, "change": s.change, "destroy": s.destroy, "operation": s.operation});
                self.line("info", s.message, "change_summary", fields);
            }
            Event::Diagnostic(d) => self.diagnostic(d),
            Event::Outputs(told) => {
                let count = told.values.as_object().map_or(0, |o| o.len());
                self.line(
                    "info",
                    format!("Outputs: {count}"),
                    "outputs",
                    json!({ "outputs": told.values }),
                );
            }
        }
    }

    fn report(&mut self, report: Report) {
        let (message, kind, fields) = match &report {
            Report::Started { address, action } => (
                format!("{address}: {}...", starting(*action)),
                "apply_start",
                resource(address, *action),
            ),
            Report::Note {
                address,
                action,
                message,
            } => {
                let mut fields = resource(address, *action);
                fields.insert("note".into(), message.clone().into());
                (format!("{address}: {message}"), "apply_progress", fields)
            }
            Report::Completed { address, action, id } => {
                let mut fields = resource(address, *action);
                fields.insert("id".into(), id.clone().into());
                (format!("{address}: {}", done(*action)), "apply_complete", fields)
            }
            Report::Failed { address, action, error } => {
                let mut fields = resource(address, *action);
                fields.insert("error".into(), error.clone().into());
                let message = format!("{address}: {} failed: {error}", action_name(*action));
                return self.line("error", message, "apply_errored", fields);
            }
        };
        self.line("info", message, kind, fields);
    }

    fn diagnostic(&mut self, d: Diagnostic) {
        let (level, severity, word) = match d.severity {
            Severity::Error => ("error", "error", "Error"),
            Severity::Warning => ("warn", "warning", "Warning"),
        };
        let message = format!("{word}: {}", d.summary);
        let fields = json!({"diagnostic": {
            "severity": severity,
            "summary": d.summary,
            "detail": d.detail,
            "address": d.address,
            "hint": d.hint,
        }});
        self.line(level, message, "diagnostic", fields);
    }

    /// Writes one event: the envelope (`@level`, `@message`, `@timestamp`, `type`), then `fields`.
    fn line(&mut self, level: &str, message: String, kind: &str, fields: impl Into<Value>) {
        let mut object = Map::new();
        object.insert("@level".into(), level.into());
        object.insert("@message".into(), message.into());
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        object.insert("@timestamp".into(), now.into());
        object.insert("type".into(), kind.into());
        if let Value::Object(fields) = fields.into() {
            object.extend(fields);
        }
        let text = Value::Object(object).to_string();
        (self.out)(&format!("{text}\n"));
    }
}

/// `address`, `kind` and `action`: what every resource event names.
fn resource(address: &Address, action: Action) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("address".into(), address.to_string().into());
    fields.insert("kind".into(), address.kind().into());
    fields.insert("action".into(), action_name(action).into());
    fields
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
    }
}

/// The text line's verb for a completed change.
fn done(action: Action) -> &'static str {
    match action {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "destroyed",
    }
}

/// Terraform's words for a change under way.
fn starting(action: Action) -> &'static str {
    match action {
        Action::Create => "Creating",
        Action::Update => "Modifying",
        Action::Replace => "Replacing",
        Action::Delete => "Destroying",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::error::Hint;
    use crate::plan::Change;

    /// A sink whose output is kept, and the output so far.
    fn capture(json: bool, terminal: bool) -> (Sink, Arc<Mutex<String>>) {
        let kept = Arc::new(Mutex::new(String::new()));
        let to = kept.clone();
        let sink = Sink::new(json, terminal, Box::new(move |s: &str| to.lock().unwrap().push_str(s)));
        (sink, kept)
    }

    fn function(name: &str) -> Address {
        Address::Function(name.into())
    }

    fn plan() -> Plan {
        let change = |address: Address, action| Change {
            address,
            action,
            calls: Vec::new(),
            changed: Vec::new(),
            before: None,
            after: None,
            rollout: None,
        };
        Plan {
            changes: vec![
                change(function("a"), Action::Create),
                change(function("b"), Action::Delete),
            ],
            warnings: vec!["something odd".into()],
            ..Plan::default()
        }
    }

    /// The run `apply` tells for [`plan`]: `a` created, `b` failed, a note on `a`.
    fn run(sink: &mut Sink) {
        let plan = plan();
        sink.emit(Event::Plan {
            plan: &plan,
            operation: "apply",
        });
        sink.emit(Event::Applying { total: 2 });
        let (a, b) = (function("a"), function("b"));
        let action = Action::Create;
        sink.emit(Event::Report(Report::Started {
            address: a.clone(),
            action,
        }));
        let message = "step 1/2: 10% of the traffic".to_string();
        sink.emit(Event::Report(Report::Note {
            address: a.clone(),
            action,
            message,
        }));
        let id = Some("urn:fss:x".to_string());
        sink.emit(Event::Report(Report::Completed { address: a, action, id }));
        let error = "function.b failed: 400 FSS.1051".to_string();
        sink.emit(Event::Report(Report::Failed {
            address: b,
            action: Action::Delete,
            error,
        }));
        let message = "1 of 2 changes completed; the state records them.".to_string();
        let summary = Summary {
            operation: "apply",
            add: 1,
            change: 0,
            destroy: 0,
            message,
        };
        sink.emit(Event::Summary(summary));
        let error = anyhow::anyhow!("disk full")
            .context("saving the state")
            .context(Hint("free space".into()));
        sink.emit(Event::Diagnostic(Diagnostic::error(&error)));
    }

    fn lines(kept: &Mutex<String>) -> Vec<Value> {
        let text = kept.lock().unwrap().clone();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn json_is_one_event_a_line_each_with_its_envelope() {
        let (mut sink, kept) = capture(true, false);
        assert!(sink.is_json());
        run(&mut sink);
        let lines = lines(&kept);
        let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "version",
                "diagnostic",
                "planned_change",
                "planned_change",
                "apply_start",
                "apply_progress",
                "apply_complete",
                "apply_errored",
                "change_summary",
                "diagnostic"
            ]
        );
        for line in &lines {
            let at = line["@timestamp"].as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{line}");
            assert!(line["@message"].is_string() && line["@level"].is_string(), "{line}");
        }
        assert_eq!(lines[0]["fgform"], env!("CARGO_PKG_VERSION"));
        assert_eq!(lines[1]["diagnostic"]["severity"], "warning");
        assert_eq!(lines[1]["@level"], "warn");
        assert_eq!(
            (
                lines[3]["address"].as_str(),
                lines[3]["kind"].as_str(),
                lines[3]["action"].as_str()
            ),
            (Some("function.b"), Some("function"), Some("delete"))
        );
        assert_eq!(lines[4]["@message"], "function.a: Creating...");
        assert_eq!(lines[5]["note"], "step 1/2: 10% of the traffic");
        assert_eq!(lines[5]["@message"], "function.a: step 1/2: 10% of the traffic");
        assert_eq!(
            (lines[6]["id"].as_str(), lines[6]["@message"].as_str()),
            (Some("urn:fss:x"), Some("function.a: created"))
        );
        assert_eq!(
            (lines[7]["@level"].as_str(), lines[7]["error"].as_str()),
            (Some("error"), Some("function.b failed: 400 FSS.1051"))
        );
        assert_eq!(
            (lines[8]["add"].as_u64(), lines[8]["operation"].as_str()),
            (Some(1), Some("apply"))
        );
        assert_eq!(
            lines[9]["diagnostic"],
            json!({"severity": "error", "summary": "saving the state", "detail": "disk full", "address": null, "hint": "free space"})
        );
    }

    #[test]
    fn json_tells_a_plan_that_does_nothing_as_a_summary_of_zeros() {
        let (mut sink, kept) = capture(true, false);
        let plan = Plan::default();
        sink.emit(Event::Plan {
            plan: &plan,
            operation: "destroy",
        });
        let lines = lines(&kept);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (
                lines[1]["type"].as_str(),
                lines[1]["@message"].as_str(),
                lines[1]["operation"].as_str()
            ),
            (
                Some("change_summary"),
                Some("No changes. The live resources match the manifests."),
                Some("destroy")
            )
        );
        assert_eq!(
            (
                lines[1]["add"].as_u64(),
                lines[1]["change"].as_u64(),
                lines[1]["destroy"].as_u64()
            ),
            (Some(0), Some(0), Some(0))
        );
    }

    #[test]
    fn text_is_the_lines_apply_always_printed() {
        let (mut sink, kept) = capture(false, false);
        assert!(!sink.is_json());
        run(&mut sink);
        let plan_text = crate::plan::render::text(&plan());
        assert_eq!(
            *kept.lock().unwrap(),
            format!(
                "{plan_text}\n  function.a: step 1/2: 10% of the traffic\nfunction.a: created\n\n\
                 1 of 2 changes completed; the state records them.\n"
            )
        );
        // A summary with nothing run before it has no blank line.
        let (mut sink, kept) = capture(false, false);
        sink.emit(Event::Summary(Summary::nothing(
            "destroy",
            "Nothing to destroy.".into(),
        )));
        assert_eq!(*kept.lock().unwrap(), "Nothing to destroy.\n");
    }

    #[test]
    fn text_on_a_terminal_keeps_a_status_line_and_clears_it_at_the_end() {
        let (mut sink, kept) = capture(false, true);
        run(&mut sink);
        let text = kept.lock().unwrap().clone();
        assert!(text.contains("\r\x1b[2Kfunction.a: created\n[1/2] "), "{text:?}");
        assert!(text.contains("\r\x1b[2K\n1 of 2 changes completed"), "{text:?}");
    }

    #[test]
    fn a_manifest_problem_keeps_its_place_as_the_detail() {
        use crate::manifest::diagnostic::Location;
        let place = |line| Location {
            file: "stack.yaml".into(),
            line,
            column: 3,
        };
        let mut d = ManifestDiagnostic::new("functions.f.memory", "300 is not a valid memory size")
            .at(Some(place(7)))
            .with_address(Some(function("f")))
            .with_hint(Some("use 256".into()));
        d.related = Some(("first defined at".into(), place(2)));
        assert_eq!(
            Diagnostic::manifest(&d),
            Diagnostic {
                severity: Severity::Error,
                summary: "functions.f.memory: 300 is not a valid memory size".into(),
                detail: Some("at stack.yaml:7:3\nfirst defined at stack.yaml:2:3".into()),
                address: Some("function.f".into()),
                hint: Some("use 256".into()),
            }
        );
    }
}
