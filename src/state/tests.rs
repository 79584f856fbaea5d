use std::collections::BTreeSet;
use std::io::Write as _;

use super::journal::JournalLine;
use super::*;

fn sample() -> State {
    let mut s = State::new("shop", None);
    s.resources.insert(
        "function.thumbnail".into(),
        ResourceState {
            kind: "function".into(),
            id: "urn:fss:r:p:function:default:thumbnail".into(),
            attributes: BTreeMap::from([("memory_size".into(), serde_json::json!(256))]).into(),
            private: BTreeMap::from([("digest".into(), serde_json::json!("ab"))]).into(),
        },
    );
    s
}

#[test]
fn save_then_load_round_trips_and_bumps_serial() {
    let dir = tempfile::tempdir().unwrap();
    let path = default_path(dir.path(), "shop", Some("prod"));
    assert!(path.ends_with("state/shop-prod.json"));
    assert_eq!(load(&path).unwrap(), None);
    let mut s = sample();
    save(&path, &mut s).unwrap();
    assert_eq!(s.serial, 1);
    assert_eq!(load(&path).unwrap().unwrap(), s);
    assert!(!backup_path(&path).exists());
    save(&path, &mut s).unwrap();
    let backup = load(&backup_path(&path)).unwrap().unwrap();
    assert_eq!((backup.serial, load(&path).unwrap().unwrap().serial), (1, 2));
    // No temp files are left behind.
    let names: Vec<_> = fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let mut names: Vec<String> = names.into_iter().map(|n| n.to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(
        names,
        ["shop-prod.json", "shop-prod.json.backup", "shop-prod.json.history"]
    );
}

#[test]
fn other_format_versions_and_garbage_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    fs::write(
        &path,
        r#"{"format_version": 99, "lineage": "x", "serial": 1, "stack": "s"}"#,
    )
    .unwrap();
    assert!(matches!(
        load(&path),
        Err(StateError::UnsupportedVersion {
            found: 99,
            supported: 1,
            ..
        })
    ));
    fs::write(&path, "{ torn").unwrap();
    assert!(matches!(load(&path), Err(StateError::Parse { .. })));
}

#[test]
fn journal_lines_replay_on_load_until_a_whole_save_supersedes_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut s = sample();
    save(&path, &mut s).unwrap();
    let mut live = s.clone();
    live.resources.insert(
        "function.other".into(),
        ResourceState {
            kind: "function".into(),
            id: "urn:x".into(),
            attributes: Default::default(),
            private: Default::default(),
        },
    );
    live.resources.remove("function.thumbnail");
    let changed: BTreeSet<String> = ["function.other".to_string(), "function.thumbnail".to_string()].into();
    append_journal(&path, &live, &changed, &BTreeSet::new()).unwrap();
    // A torn line after it is ignored.
    let mut f = fs::OpenOptions::new().append(true).open(journal_path(&path)).unwrap();
    f.write_all(b"{\"lineage\": \"x").unwrap();
    let mut loaded = load(&path).unwrap().unwrap();
    assert_eq!(loaded.resources.keys().collect::<Vec<_>>(), ["function.other"]);
    // A whole save supersedes the journal and removes it.
    save(&path, &mut loaded).unwrap();
    assert!(!journal_path(&path).exists());
    let again = load(&path).unwrap().unwrap();
    assert_eq!(again.resources.keys().collect::<Vec<_>>(), ["function.other"]);
}

#[test]
fn intents_are_journaled_started_and_done_and_survive_whole_saves() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut s = sample();
    save(&path, &mut s).unwrap();
    let intent = |address: &str| Intent {
        address: address.into(),
        call: crate::api::Operation::CreateFunction,
        started: "2026-11-23T00:00:00.000Z".into(),
        lookup: serde_json::json!({"urn": "urn:x"}),
        record: None,
    };
    let mut live = s.clone();
    live.pending.insert("a".into(), intent("function.a"));
    live.pending.insert("b".into(), intent("function.b"));
    append_journal(&path, &live, &BTreeSet::new(), &["a".into(), "b".into()].into()).unwrap();
    live.pending.remove("a");
    append_journal(&path, &live, &BTreeSet::new(), &["a".into()].into()).unwrap();
    let mut loaded = load(&path).unwrap().unwrap();
    assert_eq!(
        loaded.pending.keys().collect::<Vec<_>>(),
        ["b"],
        "a started and done, b open"
    );
    assert_eq!(loaded.pending["b"], intent("function.b"));
    save(&path, &mut loaded).unwrap();
    assert_eq!(load(&path).unwrap().unwrap().pending.len(), 1, "kept by a whole save");
    // A state without intents does not mention them (older readers see no new key).
    loaded.pending.clear();
    save(&path, &mut loaded).unwrap();
    assert!(!fs::read_to_string(&path).unwrap().contains("pending"));
}

#[test]
fn intents_older_versions_wrote_still_load_and_are_rewritten_with_sdk_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut s = sample();
    save(&path, &mut s).unwrap();
    // A state file of an older fgform: intents named by its own call vocabulary.
    let mut doc: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    doc["pending"] = serde_json::json!({
        "a": {"address": "function.thumbnail.trigger.nightly", "call": "CreateTrigger", "started": "t"},
        "b": {"address": "function.thumbnail", "call": "UpdateFunctionTags", "started": "t"},
    });
    fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let mut loaded = load(&path).unwrap().unwrap();
    assert_eq!(loaded.pending["a"].call, crate::api::Operation::CreateFunctionTrigger);
    assert_eq!(loaded.pending["b"].call, crate::api::Operation::CreateTags);
    save(&path, &mut loaded).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"CreateFunctionTrigger\"") && !text.contains("\"CreateTrigger\""),
        "{text}"
    );
}

/// A saved sample state (the journal is the test's to write).
fn saved_sample() -> (tempfile::TempDir, PathBuf, State) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut s = sample();
    save(&path, &mut s).unwrap();
    (dir, path, s)
}

fn line_setting(state: &State, address: &str) -> Vec<u8> {
    let mut live = state.clone();
    live.resources.insert(
        address.into(),
        ResourceState {
            kind: "function".into(),
            id: format!("urn:{address}"),
            attributes: Default::default(),
            private: Default::default(),
        },
    );
    serde_json::to_vec(&JournalLine {
        lineage: live.lineage.clone(),
        base_serial: live.serial,
        set: BTreeMap::from([(address.to_string(), live.resources[address].clone())]),
        remove: vec![],
        intents: BTreeMap::new(),
        done: vec![],
    })
    .unwrap()
}

#[test]
fn a_damaged_journal_line_before_the_end_is_an_error_naming_the_file_and_line() {
    let (_dir, path, s) = saved_sample();
    let (a, b) = (line_setting(&s, "function.a"), line_setting(&s, "function.b"));
    fs::write(
        journal_path(&path),
        [&a[..], b"\n{\"lineage\": garbage\n", &b[..], b"\n"].concat(),
    )
    .unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, StateError::Journal { ref position, .. } if position.ends_with(" line 2")),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&journal_path(&path).display().to_string()) && text.contains("line 2"),
        "{text}"
    );
    // Damage on the last complete line with nothing after it is a torn append: tolerated.
    fs::write(journal_path(&path), [&a[..], b"\n{\"lineage\": garb\n\n"].concat()).unwrap();
    let loaded = load(&path).unwrap().unwrap();
    assert!(loaded.resources.contains_key("function.a"));
}

#[test]
fn a_journal_of_another_lineage_or_a_newer_serial_is_an_error() {
    let (_dir, path, saved) = saved_sample();
    let other = saved.clone().with_identity("another-lineage", saved.serial);
    fs::write(
        journal_path(&path),
        [line_setting(&other, "function.a"), b"\n".to_vec()].concat(),
    )
    .unwrap();
    let err = load(&path).unwrap_err();
    assert!(
        matches!(err, StateError::Journal { ref position, .. } if position.ends_with(" line 1")),
        "{err:?}"
    );
    assert!(err.to_string().contains("another-lineage"), "{err}");

    let newer = saved.clone().with_identity(&saved.lineage, saved.serial + 1);
    fs::write(
        journal_path(&path),
        [line_setting(&newer, "function.a"), b"\n".to_vec()].concat(),
    )
    .unwrap();
    let err = load(&path).unwrap_err();
    assert!(err.to_string().contains("replaced by an older copy"), "{err}");
}

#[test]
fn an_append_after_a_torn_last_line_is_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut s = sample();
    save(&path, &mut s).unwrap();
    let mut live = s.clone();
    live.resources.clear();
    append_journal(&path, &live, &["function.thumbnail".into()].into(), &BTreeSet::new()).unwrap();
    // Killed mid-append: half a line, no newline.
    let mut f = fs::OpenOptions::new().append(true).open(journal_path(&path)).unwrap();
    f.write_all(br#"{"lineage":"half a li"#).unwrap();
    assert!(load(&path).unwrap().unwrap().resources.is_empty());
    // The next run appends; its line must not be glued to the fragment.
    let mut next = live.clone();
    next.resources
        .insert("function.new".into(), s.resources["function.thumbnail"].clone());
    append_journal(&path, &next, &["function.new".into()].into(), &BTreeSet::new()).unwrap();
    let loaded = load(&path).unwrap().unwrap();
    assert_eq!(loaded.resources.keys().collect::<Vec<_>>(), ["function.new"]);
}

#[cfg(unix)]
#[test]
fn state_backup_and_journal_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    // A state file an older version left world-readable, with a journal to match.
    let mut s = sample();
    fs::write(&path, serde_json::to_vec(&s).unwrap()).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(journal_path(&path), b"").unwrap();
    fs::set_permissions(journal_path(&path), fs::Permissions::from_mode(0o644)).unwrap();
    append_journal(&path, &s, &BTreeSet::new(), &BTreeSet::new()).unwrap();
    assert_eq!(mode(&journal_path(&path)), 0o600, "journal");
    save(&path, &mut s).unwrap();
    assert_eq!(mode(&path), 0o600, "state");
    assert_eq!(mode(&backup_path(&path)), 0o600, "backup of a 0644 state");
    append_journal(&path, &s, &BTreeSet::new(), &BTreeSet::new()).unwrap();
    assert_eq!(mode(&journal_path(&path)), 0o600, "new journal");
    save(&path, &mut s).unwrap();
    assert_eq!((mode(&path), mode(&backup_path(&path))), (0o600, 0o600));
}

#[test]
fn journal_lines_for_another_serial_are_stale() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let mut s = sample();
    save(&path, &mut s).unwrap();
    let mut old = s.clone();
    old.serial = 0;
    old.resources.clear();
    append_journal(
        &path,
        &old,
        &["function.thumbnail".to_string()].into(),
        &BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(
        load(&path).unwrap().unwrap().resources.len(),
        1,
        "stale removal ignored"
    );
}

/// Resources are read into a map built in one pass: unordered keys come out sorted and a
/// repeated key keeps its last value, as inserting one by one did.
#[test]
fn resources_read_sorted_and_last_of_a_repeated_key_wins() {
    let text = r#"{"format_version": FV, "lineage": "l", "serial": 3, "stack": "shop", "resources": {
        "trigger.b.t": {"kind": "trigger", "id": "t-1"},
        "function.b": {"kind": "function", "id": "first"},
        "function.a": {"kind": "function", "id": "a"},
        "function.b": {"kind": "function", "id": "last"}
    }}"#
    .replace("FV", &FORMAT_VERSION.to_string());
    let state: State = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = state.resources.keys().map(String::as_str).collect();
    assert_eq!(keys, ["function.a", "function.b", "trigger.b.t"]);
    assert_eq!(state.resources["function.b"].id, "last");
}
