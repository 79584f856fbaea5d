//! Stack directory → validated [`Desired`].
//!
//! 1. read every `*.yaml`/`*.yml` of the directory (not recursive, sorted by name); a name
//!    with a stage before the extension (`api.prod.yaml`) is an overlay for that stage;
//! 2. parse each into a spanned tree ([`yaml`]) and merge the base files: mappings merge key
//!    by key, and a key defined twice is an error naming both places;
//! 3. with `--stage S`, check that the stack declares `S` ([`stages`]: its `stages:` list, or
//!    else its overlays), then merge the `*.S.yaml` overlays on top: mappings merge,
//!    everything else (lists included) replaces, and `null` removes a key;
//! 4. convert to the model ([`validate`]), interpolating `${…}` ([`interpolate`]) and checking
//!    every offline-checkable constraint; all problems are collected, none stops the others.

pub mod diagnostic;
pub mod interpolate;
pub mod schema;
pub mod stages;
pub mod validate;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Location};

use crate::model::Desired;
use yaml::{Entry, Kind, Node, Span};

/// Why a stack could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("failed to read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no *.yaml or *.yml files in `{}`", dir.display())]
    NoFiles { dir: PathBuf },
    #[error("{} problem{} in the stack at `{}`", diagnostics.len(), if diagnostics.len() == 1 { "" } else { "s" }, dir.display())]
    Invalid { dir: PathBuf, diagnostics: Vec<Diagnostic> },
}

/// How to load a stack.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--stage`: merge `*.<stage>.yaml` overlays.
    pub stage: Option<String>,
    /// `--var NAME=VALUE`, in order (later wins).
    pub vars: Vec<(String, String)>,
    /// `--var-file FILE`, in order (later wins; `--var` beats them all).
    pub var_files: Vec<PathBuf>,
    /// The environment `${env:…}` sees.
    pub env: BTreeMap<String, String>,
    /// Check that local `code`/`source` paths exist (off for in-memory tests).
    pub check_paths: bool,
    /// With `check_paths`, also package (into a sink) or measure every local `code`/`source`
    /// and refuse one the API would refuse as a base64 upload (`validate`; plan and apply
    /// check the packages they build instead of building them twice).
    pub check_upload_sizes: bool,
    /// The code bucket when the stack names no `provider.code_bucket`: the bucket of the
    /// state's S3/OBS location (`crate::codestore::from_location`), for the command to fill.
    pub code_bucket: Option<crate::model::CodeBucket>,
}

impl LoadOptions {
    /// Options seeing the process environment and checking paths.
    pub fn from_process_env() -> Self {
        LoadOptions {
            env: std::env::vars().collect(),
            check_paths: true,
            ..Default::default()
        }
    }
}

/// One manifest file: the path shown in messages and its text.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Loads and validates the stack in `dir`.
pub fn load_dir(dir: &Path, options: &LoadOptions) -> Result<Desired, ManifestError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ManifestError::Io { path, source }
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !(name.ends_with(".yaml") || name.ends_with(".yml")) {
            continue;
        }
        if entry.file_type().map_err(io(&entry.path()))?.is_file() {
            names.push(name);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(ManifestError::NoFiles { dir: dir.into() });
    }
    let read = |path: PathBuf| -> Result<Source, ManifestError> {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let text = String::from_utf8(bytes).map_err(|e| ManifestError::Io {
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()),
        })?;
        Ok(Source { path, text })
    };
    let sources = names
        .into_iter()
        .map(|n| read(tidy_path(&dir.join(n))))
        .collect::<Result<Vec<_>, _>>()?;
    let var_files = options
        .var_files
        .iter()
        .map(|p| read(p.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    load_sources(dir, sources, var_files, options)
}

/// `path` without its `.` components, so messages say `hello`, not `././hello`, and
/// `stack.yaml`, not `./stack.yaml` (`.` itself stays `.`).
pub fn tidy_path(path: &Path) -> PathBuf {
    let tidy: PathBuf = path
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    if tidy.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        tidy
    }
}

/// The stage a manifest file name is an overlay for (`api.prod.yaml` → `prod`).
pub fn overlay_stage(file_name: &str) -> Option<&str> {
    let stem = file_name
        .strip_suffix(".yaml")
        .or_else(|| file_name.strip_suffix(".yml"))?;
    stem.rsplit_once('.').map(|(_, stage)| stage).filter(|s| !s.is_empty())
}

/// Where a span is, given the files a load reads (manifests, then var files).
fn locate(files: &[PathBuf], span: Span) -> Location {
    Location {
        file: files[span.file].clone(),
        line: span.line,
        column: span.column,
    }
}

/// Parses one file; a syntax error or a key defined twice becomes a diagnostic.
fn parse_source(files: &[PathBuf], index: usize, source: &Source, diagnostics: &mut Vec<Diagnostic>) -> Option<Node> {
    match yaml::parse(&source.text, index) {
        Ok(node) => node,
        Err(err) => {
            diagnostics.push(match err.duplicate {
                Some((path, first)) => {
                    let mut diagnostic = Diagnostic::new(path, "defined twice").at(Some(locate(files, err.span)));
                    diagnostic.related = Some(("first defined at".into(), locate(files, first)));
                    diagnostic
                }
                None => Diagnostic::new("", format!("invalid YAML: {}", err.message)).at(Some(locate(files, err.span))),
            });
            None
        }
    }
}

/// The base files merged, the selected stage's overlay files merged, and every overlay file
/// seen (for the stage checks).
struct Documents {
    base: Option<Node>,
    overlay: Option<Node>,
    overlays: Vec<stages::Overlay>,
}

fn documents(
    files: &[PathBuf],
    sources: &[Source],
    options: &LoadOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> Documents {
    let location = |span: Span| locate(files, span);
    let mut docs = Documents {
        base: None,
        overlay: None,
        overlays: Vec::new(),
    };
    for (index, source) in sources.iter().enumerate() {
        let name = source
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stage = overlay_stage(&name);
        if let Some(stage) = stage {
            docs.overlays.push(stages::Overlay {
                stage: stage.to_string(),
                name: name.clone(),
                file: index,
            });
            if options.stage.as_deref() != Some(stage) {
                continue;
            }
        }
        let Some(node) = parse_source(files, index, source, diagnostics) else {
            continue;
        };
        if node.as_map().is_none() {
            diagnostics.push(
                Diagnostic::new(
                    "",
                    format!("a manifest file must be a mapping of keys, found {}", node.describe()),
                )
                .at(Some(location(node.span))),
            );
            continue;
        }
        let target = if stage.is_some() {
            &mut docs.overlay
        } else {
            &mut docs.base
        };
        match target {
            None => *target = Some(node),
            Some(existing) => merge_strict(existing, node, "", 0, &location, diagnostics),
        }
    }
    docs
}

/// Variable values from var files (indexed after the `first` manifest files), then `--var`.
fn var_values(
    files: &[PathBuf],
    first: usize,
    var_files: &[Source],
    options: &LoadOptions,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, (String, Option<Location>)> {
    let mut values = BTreeMap::new();
    for (offset, source) in var_files.iter().enumerate() {
        let Some(node) = parse_source(files, first + offset, source, diagnostics) else {
            continue;
        };
        let Some(entries) = node.as_map() else {
            diagnostics.push(
                Diagnostic::new("", "a var file must be a mapping of variable names to values")
                    .at(Some(locate(files, node.span))),
            );
            continue;
        };
        for entry in entries {
            match &entry.value.kind {
                Kind::Scalar { text, .. } => {
                    values.insert(entry.key.clone(), (text.clone(), Some(locate(files, entry.key_span))));
                }
                _ => diagnostics.push(
                    Diagnostic::new(&entry.key, "a variable value must be a scalar")
                        .at(Some(locate(files, entry.value.span))),
                ),
            }
        }
    }
    for (name, value) in &options.vars {
        values.insert(name.clone(), (value.clone(), None));
    }
    values
}

/// Loads a stack from file contents (no file system access except path checks).
pub fn load_sources(
    dir: &Path,
    sources: Vec<Source>,
    var_files: Vec<Source>,
    options: &LoadOptions,
) -> Result<Desired, ManifestError> {
    let files: Vec<PathBuf> = sources.iter().chain(&var_files).map(|s| s.path.clone()).collect();
    let mut diagnostics = Vec::new();
    let location = |span: Span| locate(&files, span);
    let Documents {
        base,
        overlay,
        overlays,
    } = documents(&files, &sources, options, &mut diagnostics);
    let stages = stages::check(
        dir,
        base.as_ref(),
        overlay.as_ref(),
        &overlays,
        options.stage.as_deref(),
        &location,
        &mut diagnostics,
    );
    if !diagnostics.is_empty() {
        // After a syntax error, whatever else would be reported is mostly its echo.
        return Err(ManifestError::Invalid {
            dir: dir.into(),
            diagnostics,
        });
    }
    let mut root = base.unwrap_or(Node {
        kind: Kind::Map(Vec::new()),
        span: Span::default(),
    });
    if let Some(overlay) = overlay {
        merge_overlay(&mut root, overlay);
    }
    let var_values = var_values(&files, sources.len(), &var_files, options, &mut diagnostics);

    let desired = validate::Checker::new(dir, &files, options, &mut diagnostics)
        .with_stages(stages)
        .run(&root, var_values);
    match desired {
        Some(desired) if diagnostics.is_empty() => Ok(desired),
        _ => {
            diagnostics.sort_by(|a, b| a.location.cmp(&b.location).then_with(|| a.path.cmp(&b.path)));
            diagnostics.dedup();
            Err(ManifestError::Invalid {
                dir: dir.into(),
                diagnostics,
            })
        }
    }
}

/// Merges two base files: mappings merge; any other key defined twice is an error.
///
/// Only the document and its sections (`functions:`, `variables:`, …) merge; a resource such
/// as `functions.f` defined in two files is one error naming both places, not one per key.
fn merge_strict(
    into: &mut Node,
    from: Node,
    path: &str,
    depth: usize,
    location: &dyn Fn(Span) -> Location,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let (Kind::Map(into_entries), Kind::Map(from_entries)) = (&mut into.kind, from.kind) else {
        return;
    };
    for entry in from_entries {
        let key_path = if path.is_empty() {
            entry.key.clone()
        } else {
            format!("{path}.{}", entry.key)
        };
        match into_entries.iter_mut().find(|e| e.key == entry.key) {
            None => into_entries.push(entry),
            Some(existing) if depth == 0 && existing.value.as_map().is_some() && entry.value.as_map().is_some() => {
                merge_strict(
                    &mut existing.value,
                    entry.value,
                    &key_path,
                    depth + 1,
                    location,
                    diagnostics,
                );
            }
            Some(existing) => {
                let mut diagnostic = Diagnostic::new(key_path, "defined twice").at(Some(location(entry.key_span)));
                diagnostic.related = Some(("first defined at".into(), location(existing.key_span)));
                diagnostic.hint =
                    Some("keep one definition; stage-specific values belong in `*.<stage>.yaml` overlays".into());
                diagnostics.push(diagnostic);
            }
        }
    }
}

/// Applies a stage overlay: mappings merge, everything else replaces, `null` removes.
fn merge_overlay(into: &mut Node, from: Node) {
    match (&mut into.kind, from.kind) {
        (Kind::Map(into_entries), Kind::Map(from_entries)) => {
            for entry in from_entries {
                let position = into_entries.iter().position(|e| e.key == entry.key);
                match position {
                    Some(i) if entry.value.is_null() => {
                        into_entries.remove(i);
                    }
                    Some(i) => merge_overlay(&mut into_entries[i].value, entry.value),
                    None if entry.value.is_null() => {}
                    None => into_entries.push(Entry { ..entry }),
                }
            }
        }
        (_, kind) => {
            into.kind = kind;
            into.span = from.span;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> Node {
        yaml::parse(text, 0).unwrap().unwrap()
    }

    #[test]
    fn overlays_merge_maps_replace_lists_and_remove_nulls() {
        let mut base = node("a: {x: 1, y: [1, 2], z: keep}\nb: gone\n");
        merge_overlay(&mut base, node("a: {x: 2, y: [3]}\nb: null\nc: new\n"));
        assert_eq!(
            base.to_json(),
            serde_json::json!({"a": {"x": 2, "y": [3], "z": "keep"}, "c": "new"})
        );
    }

    #[test]
    fn paths_print_without_dot_components() {
        assert_eq!(tidy_path(Path::new("./././hello")), Path::new("hello"));
        assert_eq!(tidy_path(Path::new("./stack.yaml")), Path::new("stack.yaml"));
        assert_eq!(tidy_path(Path::new("a/./b")), Path::new("a/b"));
        assert_eq!(tidy_path(Path::new("/x/./y")), Path::new("/x/y"));
        assert_eq!(tidy_path(Path::new("./")), Path::new("."));
        assert_eq!(tidy_path(Path::new("../up")), Path::new("../up"));
    }

    fn load_one(text: &str) -> Result<Desired, ManifestError> {
        let source = Source {
            path: PathBuf::from("stack.yaml"),
            text: text.to_string(),
        };
        let options = LoadOptions {
            env: [("HW_PROJECT_ID".to_string(), "p1".to_string())].into(),
            ..LoadOptions::default()
        };
        load_sources(Path::new("."), vec![source], Vec::new(), &options)
    }

    const WORKFLOW: &str = "stack: s
provider: {region: r1, project_id: p1}
functions:
  f: {runtime: Python3.9, handler: index.handler, code: ./f}
workflows:
  wf:
    start: a
    states:
      - {id: a, type: Operation, actions: [{function: f, invoke_mode: MODE}], next: b}
      - {id: b, type: End}
";

    #[test]
    fn workflows_pass_the_apis_own_definition_check() {
        let desired = load_one(&WORKFLOW.replace("MODE", "sync")).expect("valid");
        assert_eq!(desired.workflows["wf"].start, "a");
        let Err(ManifestError::Invalid { diagnostics, .. }) = load_one(&WORKFLOW.replace("MODE", "async")) else {
            panic!("an async action is refused by the API");
        };
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].path, "workflows.wf.states");
        assert_eq!(
            diagnostics[0].message,
            "the API would refuse this workflow: state `a`: invoke_mode `async` is not supported (sync only)"
        );
        assert_eq!(diagnostics[0].location.as_ref().map(|l| l.line), Some(6));
    }

    #[test]
    fn app_names_follow_the_apis_package_rule() {
        let stack = "stack: s\nfunctions:\n  f: {runtime: Python3.9, handler: index.handler, code: ./f, app: APP}\n";
        assert_eq!(
            load_one(&stack.replace("APP", "shop_v2")).expect("valid").functions["f"].package,
            "shop_v2"
        );
        let Err(ManifestError::Invalid { diagnostics, .. }) = load_one(&stack.replace("APP", "my.shop")) else {
            panic!("a `.` is not allowed in a package name");
        };
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].path, "functions.f.app");
        assert_eq!(diagnostics[0].message, "`my.shop` is not a valid app name");
    }

    #[test]
    fn overlay_stage_reads_the_second_extension() {
        assert_eq!(overlay_stage("api.prod.yaml"), Some("prod"));
        assert_eq!(overlay_stage("api.yml"), None);
        assert_eq!(overlay_stage("api.dev.yml"), Some("dev"));
    }
}
