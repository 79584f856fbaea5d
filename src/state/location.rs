//! Where a state lives, as one string: a path, `postgres://…`/`postgresql://…`,
//! `s3://bucket/prefix?endpoint=URL&region=R`, or `obs://bucket/prefix` (OBS through its S3
//! API at the region's endpoint). Under a remote location each stack and stage has its own
//! state, named `<stack>[-<stage>]`. Parsing does no I/O; [`Location`]'s `Display` never shows
//! a password.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A parsed state location.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A state file.
    File(PathBuf),
    Postgres(PostgresLocation),
    S3(S3Location),
}

/// The `sslmode` values a PostgreSQL location takes (libpq's, less `allow`).
pub const SSLMODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];

/// A PostgreSQL database holding states in schema `schema`, this one under `name`.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresLocation {
    pub user: String,
    /// From the URL, else `PGPASSWORD` (read when parsing).
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub database: String,
    /// `?schema=` (default `fgform`).
    pub schema: String,
    /// `?sslmode=`: `disable` (default for loopback), `prefer` (default otherwise),
    /// `require`, `verify-ca` or `verify-full`.
    pub sslmode: String,
    /// `?sslrootcert=PATH`: the CA certificates (PEM) the server's certificate must chain
    /// to, instead of the public web PKI's.
    pub sslrootcert: Option<PathBuf>,
    /// The state's name: `<stack>[-<stage>]`.
    pub name: String,
}

/// An S3-compatible bucket holding states under `prefix`, this one as `<prefix>/<name>.json`.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    /// `s3` or `obs`: how the user spelled it.
    pub scheme: String,
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
    /// `?endpoint=`; for `obs://`, `https://obs.<region>.myhuaweicloud.com` unless given.
    /// Requests are path-style when it is set.
    pub endpoint: Option<String>,
    pub region: String,
    /// The state's name: `<stack>[-<stage>]`.
    pub name: String,
}

impl S3Location {
    /// The object key of `suffix` under this state, e.g. `key(".json")`.
    pub fn key(&self, suffix: &str) -> String {
        if self.prefix.is_empty() {
            format!("{}{suffix}", self.name)
        } else {
            format!("{}/{}{suffix}", self.prefix, self.name)
        }
    }
}

/// What a location string cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid state location `{location}`: {reason}")]
pub struct LocationError {
    /// The location as given, its password replaced by `***`.
    pub location: String,
    pub reason: String,
}

/// What naming a state needs besides the string.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub stack: &'a str,
    pub stage: Option<&'a str>,
    /// The provider's region (for `obs://`), else `HW_REGION_NAME`.
    pub region: Option<&'a str>,
    /// Relative paths are relative to this directory.
    pub base: &'a Path,
    /// Environment lookups (`PGPASSWORD`, `HW_REGION_NAME`): the process environment in use,
    /// a map in tests.
    pub env: Option<&'a BTreeMap<String, String>>,
}

impl Context<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match self.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
        .filter(|v| !v.is_empty())
    }

    fn name(&self) -> String {
        match self.stage {
            Some(stage) => format!("{}-{stage}", self.stack),
            None => self.stack.to_string(),
        }
    }
}

/// Whether `text` names a remote location (a URL scheme fgform stores state at).
pub fn is_remote(text: &str) -> bool {
    ["postgres://", "postgresql://", "s3://", "obs://"]
        .iter()
        .any(|scheme| text.starts_with(scheme))
}

impl Location {
    /// Parses a location string; a path is taken relative to `context.base`.
    pub fn parse(text: &str, context: &Context<'_>) -> Result<Location, LocationError> {
        let error = |reason: String| LocationError {
            location: redact(text),
            reason,
        };
        if !is_remote(text) {
            if let Some((scheme, _)) = text.split_once("://") {
                return Err(error(format!(
                    "fgform keeps state in a file, `postgres://`, `s3://` or `obs://`, not `{scheme}://`"
                )));
            }
            if text.is_empty() {
                return Err(error("it is empty".into()));
            }
            return Ok(Location::File(context.base.join(text)));
        }
        let url = reqwest::Url::parse(text).map_err(|e| error(e.to_string()))?;
        let query: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        match url.scheme() {
            "postgres" | "postgresql" => postgres(&url, &query, context).map_err(error),
            scheme => s3(scheme, &url, &query, context).map_err(error),
        }
    }

    /// Whether the state is kept off this machine.
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::File(_))
    }

    /// The state file, for a file location.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            _ => None,
        }
    }
}

fn unknown_parameters(query: &BTreeMap<String, String>, known: &[&str]) -> Result<(), String> {
    match query.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown parameter `{k}` (known: {})", known.join(", "))),
        None => Ok(()),
    }
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

fn postgres(url: &reqwest::Url, query: &BTreeMap<String, String>, context: &Context<'_>) -> Result<Location, String> {
    unknown_parameters(query, &["schema", "sslmode", "sslrootcert"])?;
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or("it names no host")?;
    let database = url.path().trim_start_matches('/');
    if database.is_empty() || database.contains('/') {
        return Err("the path must be the database name, e.g. `postgres://fgform@db.example.com/fgform`".into());
    }
    if url.username().is_empty() {
        return Err("it names no user, e.g. `postgres://fgform@db.example.com/fgform`".into());
    }
    let schema = query.get("schema").cloned().unwrap_or_else(|| "fgform".into());
    if schema.is_empty() || !schema.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("schema `{schema}` must be letters, digits and `_`"));
    }
    let sslmode = query.get("sslmode").cloned().unwrap_or_else(|| {
        if crate::api::is_loopback(host) {
            "disable".into()
        } else {
            "prefer".into()
        }
    });
    if !SSLMODES.contains(&sslmode.as_str()) {
        return Err(format!("sslmode `{sslmode}` is not one of {}", SSLMODES.join(", ")));
    }
    let sslrootcert = query.get("sslrootcert").filter(|p| !p.is_empty()).map(PathBuf::from);
    if sslrootcert.is_some() && sslmode == "disable" {
        return Err("sslrootcert names CA certificates for TLS, but sslmode=disable turns TLS off".into());
    }
    Ok(Location::Postgres(PostgresLocation {
        user: decode(url.username()),
        password: url.password().map(decode).or_else(|| context.var("PGPASSWORD")),
        host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
        port: url.port().unwrap_or(5432),
        database: decode(database),
        schema,
        sslmode,
        sslrootcert,
        name: context.name(),
    }))
}

fn s3(
    scheme: &str,
    url: &reqwest::Url,
    query: &BTreeMap<String, String>,
    context: &Context<'_>,
) -> Result<Location, String> {
    unknown_parameters(query, &["endpoint", "region"])?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "credentials do not belong in the location: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or \
             HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK) instead, e.g. `{scheme}://bucket/prefix`"
        ));
    }
    let bucket = url.host_str().filter(|h| !h.is_empty()).ok_or("it names no bucket")?;
    let prefix = decode(url.path().trim_matches('/'));
    let region = query
        .get("region")
        .cloned()
        .or_else(|| context.region.map(str::to_string))
        .or_else(|| context.var("HW_REGION_NAME"))
        .or_else(|| context.var("AWS_REGION"));
    let endpoint = query.get("endpoint").cloned();
    if let Some(endpoint) = &endpoint {
        let parsed = reqwest::Url::parse(endpoint).map_err(|e| format!("endpoint `{endpoint}`: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("endpoint `{endpoint}` is not an http(s) URL"));
        }
    }
    let (endpoint, region) = match scheme {
        "obs" => {
            let region =
                region.ok_or("OBS needs a region: the stack's `provider.region`, `?region=R`, or HW_REGION_NAME")?;
            let endpoint = endpoint.unwrap_or_else(|| format!("https://obs.{region}.myhuaweicloud.com"));
            (Some(endpoint), region)
        }
        _ => (endpoint, region.unwrap_or_else(|| "us-east-1".into())),
    };
    Ok(Location::S3(S3Location {
        scheme: scheme.to_string(),
        bucket: bucket.to_string(),
        prefix,
        endpoint,
        region,
        name: context.name(),
    }))
}

/// `text` with a URL password replaced by `***`.
pub fn redact(text: &str) -> String {
    match reqwest::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_string(),
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(path) => write!(f, "{}", path.display()),
            Location::Postgres(pg) => write!(f, "{pg}"),
            Location::S3(s3) => write!(f, "{s3}"),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl fmt::Display for PostgresLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}?schema={} (state `{}`)",
            self.user, self.host, self.port, self.database, self.schema, self.name
        )
    }
}

impl fmt::Debug for PostgresLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresLocation({self})")
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/{}", self.scheme, self.bucket, self.key(".json"))?;
        if let Some(endpoint) = &self.endpoint {
            write!(f, " (at {endpoint})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "S3Location({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Location, LocationError> {
        let env: BTreeMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Location::parse(
            text,
            &Context {
                stack: "shop",
                stage: Some("prod"),
                region: None,
                base: Path::new("/work"),
                env: Some(&env),
            },
        )
    }

    #[test]
    fn a_path_is_a_file_relative_to_the_base() {
        assert_eq!(
            parse("state/x.json", &[]).unwrap(),
            Location::File("/work/state/x.json".into())
        );
        assert_eq!(parse("/abs/x.json", &[]).unwrap(), Location::File("/abs/x.json".into()));
        assert!(parse("ftp://host/x", &[]).unwrap_err().reason.contains("not `ftp://`"));
    }

    #[test]
    fn postgres_urls_take_the_password_from_pgpassword_and_never_show_it() {
        let Location::Postgres(pg) = parse(
            "postgresql://ci@db.example.com:6543/states?schema=team_a",
            &[("PGPASSWORD", "pw")],
        )
        .unwrap() else {
            panic!("not postgres")
        };
        assert_eq!(
            (pg.user.as_str(), pg.host.as_str(), pg.port, pg.database.as_str()),
            ("ci", "db.example.com", 6543, "states")
        );
        assert_eq!(
            (pg.schema.as_str(), pg.sslmode.as_str(), pg.name.as_str()),
            ("team_a", "prefer", "shop-prod")
        );
        assert_eq!(pg.password.as_deref(), Some("pw"));
        let Location::Postgres(pg) = parse("postgres://ci:s3cr%2Ft@127.0.0.1/db", &[("PGPASSWORD", "pw")]).unwrap()
        else {
            panic!("not postgres")
        };
        assert_eq!(pg.password.as_deref(), Some("s3cr/t"));
        assert_eq!(pg.sslmode, "disable");
        assert!(!format!("{pg} {pg:?}").contains("s3cr"));
        let err = parse("postgres://ci:s3cret@127.0.0.1/db?sslmode=bogus", &[]).unwrap_err();
        assert!(!err.to_string().contains("s3cret"), "{err}");
        assert!(parse("postgres://127.0.0.1/db", &[])
            .unwrap_err()
            .reason
            .contains("no user"));
        assert!(parse("postgres://u@127.0.0.1/", &[])
            .unwrap_err()
            .reason
            .contains("database"));
        assert!(parse("postgres://u@127.0.0.1/db?schema=a;drop", &[]).is_err());
        assert!(parse("postgres://u@127.0.0.1/db?shema=a", &[])
            .unwrap_err()
            .reason
            .contains("unknown parameter `shema`"));
    }

    #[test]
    fn s3_and_obs_locations_name_one_object_per_stack_and_stage() {
        let Location::S3(s3) = parse("s3://states/team/a?endpoint=http://127.0.0.1:8333&region=eu-1", &[]).unwrap()
        else {
            panic!("not s3")
        };
        assert_eq!(s3.key(".json"), "team/a/shop-prod.json");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
        assert_eq!(s3.region, "eu-1");
        let Location::S3(obs) = parse("obs://states", &[("HW_REGION_NAME", "cn-north-4")]).unwrap() else {
            panic!("not obs")
        };
        assert_eq!(obs.key(".lock"), "shop-prod.lock");
        assert_eq!(
            obs.endpoint.as_deref(),
            Some("https://obs.cn-north-4.myhuaweicloud.com")
        );
        assert!(parse("obs://states/x", &[]).unwrap_err().reason.contains("region"));
        assert!(parse("s3://AKID:secret@states/x", &[])
            .unwrap_err()
            .reason
            .contains("AWS_ACCESS_KEY_ID"));
        assert!(!parse("s3://AKID:secret@states/x", &[])
            .unwrap_err()
            .to_string()
            .contains("secret@"));
        assert!(parse("s3://states/x?endpoint=ftp://h", &[]).is_err());
    }
}
