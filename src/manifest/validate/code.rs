//! Code locations (`code:`, `source:`): local folders and archives, `obs://` objects, their
//! `exclude` globs and upload sizes; and `dependencies.<name>`.

use std::path::PathBuf;

use super::{get, join, Checker, Entries};
use crate::api::rules::is_valid_dependency_name;
use crate::manifest::schema;
use crate::manifest::yaml::{Entry, Node, Span};
use crate::model::{Address, ArchiveKind, CodeBucket, CodeSource, DependencySpec};
use crate::package::ZipAt;

impl Checker<'_> {
    /// `code:` / `source:` → a code source; `jar` says whether `.jar` files are allowed.
    pub(super) fn code_source(&mut self, fields: Entries<'_>, key: &str, path: &str, jar: bool) -> Option<CodeSource> {
        let node = get(fields, key)?;
        let key_path = join(path, key);
        let text = self.string(node, &key_path)?;
        let exclude: Vec<String> = match get(fields, "exclude") {
            Some(n) => self
                .string_list(n, &join(path, "exclude"))
                .into_iter()
                .map(|(s, _)| s)
                .collect(),
            None => Vec::new(),
        };
        if let Some(rest) = text.strip_prefix("obs://") {
            let Some((bucket, object)) = rest.split_once('/').filter(|(b, k)| !b.is_empty() && !k.is_empty()) else {
                self.error(
                    node.span,
                    &key_path,
                    format!("`{text}` is not an OBS location"),
                    Some("write `obs://bucket/path/to/code.zip`".into()),
                );
                return None;
            };
            self.no_exclude(fields, path, "an OBS object");
            return Some(CodeSource::Obs {
                bucket: bucket.into(),
                key: object.into(),
            });
        }
        if text.contains("://") {
            self.error(
                node.span,
                &key_path,
                format!("`{text}`: only local paths and `obs://` are supported"),
                None,
            );
            return None;
        }
        let path_buf = PathBuf::from(&text);
        let resolved = if path_buf.is_absolute() {
            path_buf.clone()
        } else {
            crate::manifest::tidy_path(&self.dir.join(&path_buf))
        };
        let lower = text.to_ascii_lowercase();
        let archive = if lower.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else if lower.ends_with(".jar") {
            Some(ArchiveKind::Jar)
        } else {
            None
        };
        if archive == Some(ArchiveKind::Jar) && !jar {
            self.error(
                node.span,
                &key_path,
                "a dependency must be a folder, a `.zip` file or `obs://`",
                None,
            );
            return None;
        }
        if self.options.check_paths {
            match (std::fs::metadata(&resolved), archive) {
                (Err(_), _) => {
                    self.error(
                        node.span,
                        &key_path,
                        format!("`{}` does not exist", resolved.display()),
                        Some("paths are relative to the stack directory".into()),
                    );
                    return None;
                }
                (Ok(meta), Some(_)) if !meta.is_file() => {
                    self.error(
                        node.span,
                        &key_path,
                        format!("`{}` is not a file", resolved.display()),
                        None,
                    );
                    return None;
                }
                (Ok(meta), None) if !meta.is_dir() => {
                    self.error(
                        node.span,
                        &key_path,
                        format!("`{}` is neither a folder nor a `.zip`/`.jar` file", resolved.display()),
                        None,
                    );
                    return None;
                }
                _ => {}
            }
        }
        let source = match archive {
            Some(kind) => {
                self.no_exclude(fields, path, "a pre-built archive");
                CodeSource::Archive { path: resolved, kind }
            }
            None => {
                for pattern in &exclude {
                    if let Err(err) = ignore::gitignore::GitignoreBuilder::new("/").add_line(None, pattern) {
                        let span = get(fields, "exclude").map(|n| n.span).unwrap_or_default();
                        self.error(
                            span,
                            &join(path, "exclude"),
                            format!("`{pattern}` is not a valid glob: {err}"),
                            None,
                        );
                    }
                }
                CodeSource::Directory {
                    path: resolved,
                    exclude,
                }
            }
        };
        if self.options.check_paths && self.options.check_upload_sizes {
            self.check_upload_size(&source, node.span, &key_path);
        }
        Some(source)
    }

    /// `provider.code_bucket`: a bucket location spelled as state locations are
    /// (`obs://bucket/prefix`, `s3://bucket/prefix?endpoint=URL&region=R`).
    pub(super) fn code_bucket(&mut self, node: &Node, region: &str) -> Option<CodeBucket> {
        let text = self.string(node, "provider.code_bucket")?;
        match crate::codestore::parse_bucket(&text, Some(region), &self.options.env) {
            Ok(bucket) => Some(bucket),
            Err(reason) => {
                self.error(
                    node.span,
                    "provider.code_bucket",
                    reason,
                    Some("write `obs://BUCKET/PREFIX` or `s3://BUCKET/PREFIX?endpoint=URL&region=R`".into()),
                );
                None
            }
        }
    }

    /// Packages (into a sink) or measures a local source and refuses what the API would.
    /// With a code bucket, a package over the inline limit is uploaded there instead.
    fn check_upload_size(&mut self, source: &CodeSource, span: Span, path: &str) {
        let Some(address) = self.address.clone() else {
            return;
        };
        let size = match crate::package::upload_size(source) {
            Ok(Some(size)) => size,
            Ok(None) => return,
            Err(err) => {
                let mut message = format!("cannot be packaged: {err}");
                let mut cause = std::error::Error::source(&err);
                while let Some(inner) = cause {
                    message.push_str(&format!(": {inner}"));
                    cause = inner.source();
                }
                self.error(span, path, message, None);
                return;
            }
        };
        if self.code_bucket.is_some() || self.options.code_bucket.is_some() {
            return;
        }
        let mut args = self.dir.display().to_string();
        if let Some(stage) = &self.options.stage {
            args.push_str(&format!(" --stage {stage}"));
        }
        if !(self.options.vars.is_empty() && self.options.var_files.is_empty()) {
            // Not repeated here: a value may be a secret, and hints end up in CI logs.
            args.push_str(" --var …");
        }
        let zip = ZipAt::Package {
            args: &args,
            stack_dir: self.dir,
        };
        if let Err(err) = crate::package::check_upload(&address, source, size, zip) {
            self.error(span, path, err.message, Some(err.hint));
        }
    }

    fn no_exclude(&mut self, fields: Entries<'_>, path: &str, what: &str) {
        if let Some(node) = get(fields, "exclude") {
            self.error(
                node.span,
                &join(path, "exclude"),
                format!("`exclude` only applies to folders, not to {what}"),
                None,
            );
        }
    }

    pub(super) fn dependency(&mut self, entry: &Entry) -> Option<DependencySpec> {
        let name = &entry.key;
        let path = join("dependencies", name);
        self.address = Some(Address::Dependency(name.clone()));
        if !is_valid_dependency_name(name) {
            self.error(
                entry.key_span,
                &path,
                format!("`{name}` is not a valid dependency name"),
                Some("1–96 characters of letters, digits, `_`, `.` and `-`, starting with a letter and ending with a letter or digit".into()),
            );
        }
        let fields = self.object(&entry.value, &path, schema::DEPENDENCY, false)?;
        let runtime = self.runtime(fields, &path);
        let source = self.code_source(fields, "source", &path, false);
        let description = self.description(fields, &path);
        self.address = None;
        Some(DependencySpec {
            name: name.clone(),
            runtime: runtime?,
            source: source?,
            description,
        })
    }
}
