//! Large code through OBS: a function or dependency package too large for a base64 upload
//! goes to the stack's code bucket under a content-addressed key and is sent as
//! `code_type: obs` / `depend_type: obs`; the emulator, given `--obs-endpoint`, fetches it
//! from the S3 endpoint (SeaweedFS here) and reports its real SHA-512, so the next plan is
//! clean. Without a bucket, such a package is refused before any call.

use std::path::Path;

use fgform::api::types::CreateFunctionRequest;
use fgform::client::{AkSk, Client, ClientBuilder, Credentials, RetryPolicy};
use fgform::codestore::{object_for, parse_bucket, CodeStore, Uploaded};
use fgform::emulator::{self, Config, EmulatorHandle};
use futures::TryStreamExt as _;
use object_store::ObjectStore as _;
use rand::RngCore as _;
use sha2::Digest as _;

use crate::context::{assert_exit, fgform_command, transcript, TestContext};
use crate::servers::seaweedfs::{bucket, endpoint};

/// Over the 9 MiB inline limit (and the gateway's ~8.9 MiB of base64 room).
const BIG: usize = 9 * 1024 * 1024 + 512 * 1024;

/// A code folder of `index.py` and `size` random (incompressible) bytes.
fn big_code(dir: &Path, size: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("index.py"), crate::context::HANDLER).unwrap();
    let mut bytes = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut bytes);
    std::fs::write(dir.join("blob.bin"), bytes).unwrap();
}

/// The zip fgform makes of `dir`: its bytes.
fn zip_of(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    fgform::package::package_dir(dir, &[], &mut bytes).unwrap();
    bytes
}

fn sha512(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(bytes))
}

async fn emulator_with_obs(obs_endpoint: &str) -> EmulatorHandle {
    emulator::start(Config {
        obs_endpoint: Some(obs_endpoint.to_string()),
        ..Config::default()
    })
    .await
    .unwrap()
}

fn client_of(emu: &EmulatorHandle) -> Client {
    ClientBuilder::new()
        .endpoint(emu.url())
        .region(emu.config().region.clone())
        .project_id(emu.config().project_id.clone())
        .credentials(Credentials::AkSk(AkSk::new(
            fgform::api::local::ACCESS_KEY,
            fgform::api::local::SECRET_KEY,
        )))
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap()
}

/// `fgform ARGS DIR --endpoint EMU --state STATE` with the emulator's credentials.
async fn fgform(emu: &EmulatorHandle, dir: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::from(fgform_command());
    cmd.args(args)
        .arg(dir)
        .arg("--endpoint")
        .arg(emu.url())
        .arg("--state")
        .arg(state)
        .env("HUAWEICLOUD_SDK_AK", fgform::api::local::ACCESS_KEY)
        .env("HUAWEICLOUD_SDK_SK", fgform::api::local::SECRET_KEY)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    cmd.output().await.unwrap()
}

/// A stack named `stack` of one dependency (`source: ./dep`) and one function using it
/// (`code: ./code`), both named after the stack; its code bucket `code_bucket`.
fn write_stack(dir: &Path, stack: &str, code_bucket: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    let bucket_line = code_bucket.map(|b| format!("  code_bucket: {b}\n")).unwrap_or_default();
    let yaml = format!(
        "stack: {stack}\nprovider:\n  region: {}\n  project_id: {}\n{bucket_line}\
         dependencies:\n  {stack}-dep:\n    runtime: Python3.9\n    source: ./dep\n\
         functions:\n  {stack}:\n    runtime: Python3.9\n    handler: index.handler\n    memory: 128\n    timeout: 10\n    code: ./code\n    dependencies: [{stack}-dep]\n",
        fgform::api::local::REGION,
        fgform::api::local::PROJECT_ID,
    );
    std::fs::write(dir.join("stack.yaml"), yaml).unwrap();
}

fn object_store_of(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_skip_signature(true)
        .build()
        .unwrap()
}

async fn keys(endpoint: &str, bucket: &str) -> Vec<String> {
    let store = object_store_of(endpoint, bucket);
    let mut keys: Vec<String> = store
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn large_code_goes_through_the_bucket_and_replans_clean() {
    let s3 = endpoint();
    let bucket = bucket("code-obs");
    let emu = emulator_with_obs(&s3).await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stack");
    write_stack(&dir, "big", Some(&format!("s3://{bucket}/stacks?endpoint={s3}")));
    big_code(&dir.join("code"), BIG);
    big_code(&dir.join("dep"), BIG);
    let (code_zip, dep_zip) = (zip_of(&dir.join("code")), zip_of(&dir.join("dep")));
    assert!(code_zip.len() as u64 > fgform::api::limits::INLINE_CODE_MAX_BYTES);
    let state = tmp.path().join("state.json");

    let out = fgform(&emu, &dir, &state, &["apply", "--auto-approve"]).await;
    assert_exit(&out, 0);

    // The function's code is the uploaded object: the emulator fetched it and hashed it.
    let client = client_of(&emu);
    let functions = client.list_all_functions().await.unwrap();
    let [function] = functions.as_slice() else {
        panic!("one function: {functions:?}")
    };
    assert_eq!(function.code_type, "obs");
    assert_eq!(function.digest, sha512(&code_zip), "the zip's real SHA-512");
    assert_eq!(function.code_size as usize, code_zip.len());
    let code_bucket = parse_bucket(
        &format!("s3://{bucket}/stacks?endpoint={s3}"),
        None,
        &Default::default(),
    )
    .unwrap();
    let code_object = object_for(&code_bucket, &code_zip);
    assert_eq!(function.code_url, code_object.url);
    let dep_object = object_for(&code_bucket, &dep_zip);
    let mut want = vec![code_object.key.clone(), dep_object.key.clone()];
    want.sort();
    assert_eq!(
        keys(&s3, &bucket).await,
        want,
        "one object per package, content-addressed"
    );
    let dep = client
        .find_dependency("big-dep")
        .await
        .unwrap()
        .expect("the dependency");
    assert_eq!(
        dep.etag,
        hex::encode(md5::Md5::digest(&dep_zip)),
        "the fetched package's MD5"
    );
    assert_eq!(dep.size as usize, dep_zip.len());

    // Converged: a second plan has nothing to do.
    let out = fgform(&emu, &dir, &state, &["plan", "--detailed-exitcode"]).await;
    let text = assert_exit(&out, 0);
    assert!(text.contains("No changes"), "{text}");

    // Drift compares the recorded digest with the live one, not the URL.
    let out = fgform(&emu, &dir, &state, &["drift"]).await;
    assert_exit(&out, 0);

    // New code: a code update through the bucket, and clean again.
    big_code(&dir.join("code"), BIG);
    let new_zip = zip_of(&dir.join("code"));
    let out = fgform(&emu, &dir, &state, &["apply", "--auto-approve"]).await;
    let text = assert_exit(&out, 0);
    assert!(text.contains("function.big will be updated in-place"), "{text}");
    let live = client.list_all_functions().await.unwrap();
    assert_eq!(live[0].digest, sha512(&new_zip));
    assert_eq!(live[0].code_url, object_for(&code_bucket, &new_zip).url);
    let out = fgform(&emu, &dir, &state, &["plan", "--detailed-exitcode"]).await;
    assert_exit(&out, 0);
    let code_object = object_for(&code_bucket, &new_zip);
    want.push(code_object.key.clone());
    want.sort();
    assert_eq!(keys(&s3, &bucket).await, want, "the new package beside the old");

    // Another stack with the same code: the packages are in the bucket already.
    let other = tmp.path().join("other");
    write_stack(&other, "big2", Some(&format!("s3://{bucket}/stacks?endpoint={s3}")));
    crate::support::copy_dir(&dir.join("code"), &other.join("code"));
    crate::support::copy_dir(&dir.join("dep"), &other.join("dep"));
    let before = object_store_of(&s3, &bucket)
        .head(&code_object.key.as_str().into())
        .await
        .unwrap();
    let out = fgform(
        &emu,
        &other,
        &tmp.path().join("other.json"),
        &["apply", "--auto-approve"],
    )
    .await;
    assert_exit(&out, 0);
    assert_eq!(keys(&s3, &bucket).await, want, "no second copy");
    let after = object_store_of(&s3, &bucket)
        .head(&code_object.key.as_str().into())
        .await
        .unwrap();
    assert_eq!((before.e_tag, before.last_modified), (after.e_tag, after.last_modified));
}

#[tokio::test]
async fn an_identical_upload_is_skipped_and_a_broken_one_replaced() {
    let s3 = endpoint();
    let bucket = bucket("code-skip");
    let code_bucket = parse_bucket(&format!("s3://{bucket}/p?endpoint={s3}"), None, &Default::default()).unwrap();
    let store = CodeStore::connect(&code_bucket).unwrap();
    let bytes = bytes::Bytes::from_static(b"PK\x05\x06 not much of a zip, but content all the same");
    let (object, how) = store.upload(bytes.clone()).await.unwrap();
    assert_eq!(how, Uploaded::Sent);
    assert_eq!(object, object_for(&code_bucket, &bytes));
    assert!(
        object.key.starts_with("p/code/") && object.key.ends_with(".zip"),
        "{}",
        object.key
    );
    let (again, how) = store.upload(bytes.clone()).await.unwrap();
    assert_eq!(
        (again, how),
        (object.clone(), Uploaded::Present),
        "HEAD found it: not sent again"
    );
    assert_eq!(keys(&s3, &bucket).await, vec![object.key.clone()]);

    // A truncated object at the key (an interrupted upload elsewhere) is replaced.
    let raw = object_store_of(&s3, &bucket);
    let path: object_store::path::Path = object.key.as_str().into();
    raw.put(&path, bytes.slice(..4).into()).await.unwrap();
    let (_, how) = store.upload(bytes.clone()).await.unwrap();
    assert_eq!(how, Uploaded::Sent);
    let got = raw.get(&path).await.unwrap().bytes().await.unwrap();
    assert_eq!(got, bytes);
}

#[tokio::test]
async fn over_the_limit_without_a_bucket_is_refused_before_any_call() {
    let h = TestContext::new().await;
    let dir = h.root.join("stack");
    write_stack(&dir, "big", None);
    big_code(&dir.join("code"), BIG);
    big_code(&dir.join("dep"), 1024);
    let state = h.root.join("state.json");
    let out = fgform(&h.emu, &dir, &state, &["apply", "--auto-approve"]).await;
    let text = transcript(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("function.big"), "{text}");
    assert!(stderr.contains("9.5 MiB"), "names the size: {text}");
    assert!(stderr.contains("over the 9.0 MiB"), "names the limit: {text}");
    assert!(
        stderr.contains("hint: ") && stderr.contains("set `provider.code_bucket: obs://BUCKET/PREFIX`"),
        "{text}"
    );
    assert_eq!(h.writes(), 0, "no write reached the API: {:?}", h.new_writes());
    assert!(
        !state.exists()
            || fgform::state::load(&state)
                .unwrap()
                .is_none_or(|s| s.resources.is_empty())
    );
    // `validate` says the same, at the file and line of `code:`.
    let out = fgform_command().args(["validate"]).arg(&dir).output().unwrap();
    let text = transcript(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("stack.yaml:"), "{text}");
    assert!(text.contains("provider.code_bucket"), "{text}");
}

/// A create of function `name` whose code is the object at `url`.
fn obs_create(name: &str, url: &str) -> CreateFunctionRequest {
    CreateFunctionRequest {
        func_name: name.into(),
        package: "default".into(),
        runtime: "Python3.9".into(),
        handler: "index.handler".into(),
        memory_size: 128,
        timeout: 10,
        code_type: "obs".into(),
        code_url: Some(url.into()),
        ..CreateFunctionRequest::default()
    }
}

#[tokio::test]
async fn the_emulator_fetches_code_urls_from_its_obs_endpoint() {
    let s3 = endpoint();
    let bucket = bucket("code-fetch");
    let emu = emulator_with_obs(&s3).await;
    let client = client_of(&emu);
    let zip = zip_of(&{
        let tmp = tempfile::tempdir().unwrap().keep();
        std::fs::write(tmp.join("index.py"), crate::context::HANDLER).unwrap();
        tmp
    });
    let raw = object_store_of(&s3, &bucket);
    raw.put(&"pkgs/fn.zip".into(), zip.clone().into()).await.unwrap();

    // The virtual-hosted OBS spelling maps onto the endpoint.
    let region = fgform::api::local::REGION;
    let url = format!("https://{bucket}.obs.{region}.myhuaweicloud.com/pkgs/fn.zip");
    let created = client.create_function(&obs_create("fetched", &url)).await.unwrap();
    assert_eq!(created.digest, sha512(&zip));
    assert_eq!(created.code_size as usize, zip.len());

    // A missing object: the API's answer for a bad code_url, naming it.
    let missing = format!("{s3}/{bucket}/pkgs/missing.zip");
    let err = client
        .create_function(&obs_create("missing", &missing))
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(400), Some("FSS.1010")), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(client.list_all_functions().await.unwrap().len() == 1);

    // An endpoint that cannot be reached: the same error, quickly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let emu = emulator_with_obs(&dead).await;
    let client = client_of(&emu);
    let started = std::time::Instant::now();
    let err = client
        .create_function(&obs_create("unreachable", &format!("{dead}/{bucket}/pkgs/fn.zip")))
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(400), Some("FSS.1010")), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn without_an_obs_endpoint_the_digest_is_the_urls() {
    let h = TestContext::new().await;
    let url = "https://deploy.obs.local-1.myhuaweicloud.com/pkgs/fn.zip";
    let created = h.client.create_function(&obs_create("linked", url)).await.unwrap();
    assert_eq!(created.digest, sha512(url.as_bytes()));
}
