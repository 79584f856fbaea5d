//! `fgform state pull | push FILE | migrate --to LOCATION | history | show --serial N | check
//! LOCATION`: moving a state between machines and locations, and its kept versions. Each
//! works on every location (file, PostgreSQL, S3, OBS); writes are conditional and under the
//! state's lock.

use std::path::Path;

use anyhow::{anyhow, bail, Context as _};

use super::state::{open, Named};
use crate::cli::{StackArgs, TargetArgs};
use crate::error::{ExitStatus, Hint};
use crate::session::{check_state_identity, lock, state_codec, state_location};
use crate::state::backend::{Document, Written};
use crate::state::crypto::Codec;
use crate::state::location::{self, Location};
use crate::state::{State, StateStore};

fn read_current(named: &Named) -> anyhow::Result<State> {
    let state = named
        .store
        .load()?
        .with_context(|| format!("no state at `{}`", named.shown))?;
    if let Some(desired) = &named.desired {
        check_state_identity(&state, desired, &named.shown)?;
    }
    Ok(state)
}

/// `fgform state pull`.
pub fn pull(target: &TargetArgs) -> anyhow::Result<ExitStatus> {
    let Some(named) = open(target)? else {
        return Ok(ExitStatus::Error);
    };
    let state = read_current(&named)?;
    crate::outln!("{}", serde_json::to_string_pretty(&state)?);
    Ok(ExitStatus::Success)
}

/// `fgform state push FILE`.
pub fn push(target: &TargetArgs, file: &Path, force: bool) -> anyhow::Result<ExitStatus> {
    let Some(named) = open(target)? else {
        return Ok(ExitStatus::Error);
    };
    let bytes = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let mut pushed = named
        .store
        .decode(&bytes)
        .with_context(|| format!("`{}` is not a state this fgform can read", file.display()))?;
    if let Some(desired) = &named.desired {
        check_state_identity(&pushed, desired, &file.display().to_string())?;
    }
    let held = lock(target, &named.store, &named.shown, "state push")?;
    let current = named.store.load()?;
    if let Some(current) = &current {
        let refuse = |why: String| -> anyhow::Error {
            anyhow!("refusing to push `{}` to `{}`: {why}", file.display(), named.shown).context(Hint(
                "pull the current state (`fgform state pull`) and compare; pass --force to push anyway".into(),
            ))
        };
        if !force && current.lineage != pushed.lineage {
            return Err(refuse(format!(
                "it is another state (lineage {}, the stored one is {})",
                pushed.lineage, current.lineage
            )));
        }
        if !force && pushed.serial < current.serial {
            return Err(refuse(format!(
                "its serial {} is older than the stored state's {}",
                pushed.serial, current.serial
            )));
        }
        if !force && pushed.serial == current.serial && pushed.resources != current.resources {
            return Err(refuse(format!(
                "it has the stored state's serial {} but other contents",
                current.serial
            )));
        }
        pushed.serial = pushed.serial.max(current.serial);
    }
    pushed.pending.clear();
    named.store.save(&mut pushed)?;
    held.release();
    crate::outln!(
        "Pushed `{}` to `{}` (serial {}).",
        file.display(),
        named.shown,
        pushed.serial
    );
    Ok(ExitStatus::Success)
}

/// `fgform state history`.
pub fn history(target: &TargetArgs) -> anyhow::Result<ExitStatus> {
    let Some(named) = open(target)? else {
        return Ok(ExitStatus::Error);
    };
    let entries = named.store.backend().history()?;
    if entries.is_empty() {
        bail!(anyhow!("no state at `{}`", named.shown));
    }
    crate::outln!("{:>7}  {:<20}  {:<30}  operation", "serial", "written", "by");
    for entry in entries {
        let Written { who, operation, at } = entry.written;
        crate::outln!("{:>7}  {at:<20}  {who:<30}  {operation}", entry.serial);
    }
    Ok(ExitStatus::Success)
}

/// The version `serial` of the state.
pub(super) fn version(named: &Named, serial: u64) -> anyhow::Result<State> {
    let bytes = named
        .store
        .backend()
        .read_serial(serial)?
        .with_context(|| format!("the state at `{}` keeps no version {serial}", named.shown))
        .map_err(|e| e.context(Hint("`fgform state history` lists the versions kept".into())))?;
    Ok(named.store.decode(&bytes)?)
}

/// `fgform state migrate --to LOCATION`: copies every kept version, oldest first, then the
/// current state with its journal folded in, under the source's and the destination's locks.
/// The source is read with the stack's codec (a plaintext source is accepted: that is how a
/// state becomes encrypted); the copy is written with `to_codec` (default: the stack's). To
/// the same location it re-encodes the state in place, as a new version.
pub fn migrate(target: &TargetArgs, to: &str, to_codec: Option<Codec>) -> anyhow::Result<ExitStatus> {
    let Some(session) = crate::session::Session::open(target)? else {
        return Ok(ExitStatus::Error);
    };
    let desired = &session.desired;
    let codec = state_codec(desired.state.passphrase_env.as_deref())?;
    let to_codec = to_codec.unwrap_or_else(|| codec.clone());
    let source = StateStore::open(&session.location, codec)?.allowing_plaintext();
    let (destination, destination_shown) = state_location(Some(to), desired)?;
    let source_lock = lock(target, &source, &session.state_shown, "state migrate")?;
    let current = source
        .load()?
        .with_context(|| format!("no state at `{}` to migrate", session.state_shown))?;
    check_state_identity(&current, desired, &session.state_shown)?;
    if destination == session.location {
        // In place: the same store, written with the new codec, against the version just read.
        let in_place = StateStore::open(&destination, to_codec)?;
        let mut state = in_place.adopt(&source, current);
        in_place.save(&mut state)?;
        source_lock.release();
        crate::outln!(
            "Re-encoded the state at `{destination_shown}` in place ({}), as serial {}.",
            if in_place.encrypts() { "encrypted" } else { "plaintext" },
            state.serial
        );
        return Ok(ExitStatus::Success);
    }
    let destination_store = StateStore::open(&destination, to_codec)?;
    let destination_lock = lock(target, &destination_store, &destination_shown, "state migrate")?;
    if destination_store.backend().read()?.is_some() {
        bail!(
            anyhow!("there is a state at `{destination_shown}` already").context(Hint(
                "migrate only into an empty location; `fgform state pull` it first if you need it".into()
            ))
        );
    }
    let mut expected = None;
    let mut copied = 0usize;
    for entry in source.backend().history()? {
        if entry.serial >= current.serial {
            continue;
        }
        let Some(bytes) = source.backend().read_serial(entry.serial)? else {
            continue;
        };
        let old = source.decode(&bytes)?;
        expected = Some(write_version(&destination_store, &old, expected.as_ref())?);
        copied += 1;
    }
    write_version(&destination_store, &current, expected.as_ref())?;
    destination_lock.release();
    source_lock.release();
    crate::outln!(
        "Migrated the state (serial {}, {} older version(s)) from `{}` to `{destination_shown}`{}; the source is kept.",
        current.serial,
        copied,
        session.state_shown,
        if destination_store.encrypts() {
            ", encrypted"
        } else {
            ""
        }
    );
    crate::outln!("Point the stack at it: `state: {destination_shown}` in the manifests, FGFORM_STATE, or --state.");
    Ok(ExitStatus::Success)
}

/// Writes `state` as it is (its own serial) to `store`, after `expected`.
fn write_version(
    store: &StateStore,
    state: &State,
    expected: Option<&crate::state::backend::Version>,
) -> anyhow::Result<crate::state::backend::Version> {
    let bytes = store.encode(state)?;
    let written = state.written.clone().unwrap_or_else(|| Written::now("state migrate"));
    let document = Document {
        serial: state.serial,
        lineage: &state.lineage,
        bytes: &bytes,
        written: &written,
    };
    Ok(store.backend().write(&document, expected)?)
}

/// `fgform state check LOCATION`.
pub fn check(text: &str, stack: &StackArgs) -> anyhow::Result<ExitStatus> {
    let context = location::Context {
        stack: "fgform-check",
        stage: None,
        region: None,
        base: Path::new(""),
        env: None,
    };
    let parsed = match Location::parse(text, &context) {
        Ok(parsed) => parsed,
        // `obs://` needs the stack's region: read it from the manifests.
        Err(e) if text.starts_with("obs://") => {
            let desired = crate::session::load_stack(stack, false)?.map_err(|rendered| anyhow!(rendered))?;
            let region = desired.provider.as_ref().map(|p| p.region.clone());
            Location::parse(
                text,
                &location::Context {
                    region: region.as_deref(),
                    ..context
                },
            )
            .map_err(|_| anyhow!(e))?
        }
        Err(e) => return Err(e.into()),
    };
    let report = crate::state::backend::check(&parsed)?;
    crate::outln!("{report}");
    Ok(ExitStatus::Success)
}
