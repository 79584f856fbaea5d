//! The client against the in-process emulator: signing parity, token auth, every route
//! family, retries, adoption of creates whose answer was lost, and redacted debug logs.

use std::time::Duration;

use fgform::api::local;
use fgform::api::types::{
    AliasRequest, AsyncInvokeConfigRequest, CreateDependencyVersionRequest, CreateFunctionRequest,
    CreateTriggerRequest, FuncCode, PublishVersionRequest, Tag, UpdateFunctionCodeRequest, UpdateFunctionConfigRequest,
    UpdateTriggerRequest, WorkflowDefinition,
};
use fgform::client::{
    AkSk, ApiError, Client, ClientBuilder, Credentials, PasswordAuth, ProjectScope, RetryPolicy, Secret,
};
use fgform::emulator::{ChaosRule, Config};
use serde_json::json;

use crate::support::{b64, default_zip, zip_of, Emu};

/// A client for `emu` with AK/SK, millisecond backoff and no rate limit.
pub fn client_for(emu: &Emu) -> Client {
    builder_for(emu).build().unwrap()
}

pub fn builder_for(emu: &Emu) -> ClientBuilder {
    ClientBuilder::new()
        .endpoint(emu.handle.url())
        .region(local::REGION)
        .project_id(emu.project.clone())
        .credentials(Credentials::AkSk(AkSk::new(emu.ak.clone(), emu.sk.clone())))
        .retry_policy(RetryPolicy::fast())
        .requests_per_second(None)
}

/// A create body with a one-file zip whose content depends on `variant`.
pub fn function_request(name: &str, variant: u32) -> CreateFunctionRequest {
    let zip = if variant == 0 {
        default_zip()
    } else {
        zip_of(
            "index.py",
            format!("def handler(e, c):\n    return {variant}\n").as_bytes(),
        )
    };
    CreateFunctionRequest {
        func_name: name.into(),
        package: "default".into(),
        runtime: "Python3.9".into(),
        handler: "index.handler".into(),
        memory_size: 128,
        timeout: 30,
        code_type: "zip".into(),
        code_filename: Some("index.zip".into()),
        func_code: Some(FuncCode {
            file: Some(b64(&zip)),
            link: None,
        }),
        ..Default::default()
    }
}

pub fn timer(name: &str, schedule: &str) -> CreateTriggerRequest {
    CreateTriggerRequest {
        trigger_type_code: "TIMER".into(),
        trigger_status: Some("ACTIVE".into()),
        event_type_code: None,
        event_data: json!({"name": name, "schedule_type": "Rate", "schedule": schedule})
            .as_object()
            .unwrap()
            .clone(),
    }
}

fn workflow(name: &str) -> WorkflowDefinition {
    WorkflowDefinition {
        name: name.into(),
        start: "done".into(),
        states: vec![json!({"id": "done", "name": "done", "type": "End", "end": true})],
        constants: json!({}),
        ..Default::default()
    }
}

async fn add_chaos(emu: &Emu, spec: &str) {
    let rule = ChaosRule::parse(spec).unwrap();
    let r = emu
        .admin("POST", "/chaos", Some(serde_json::to_value(rule).unwrap()))
        .await;
    assert!(r.get("error").is_none(), "{r}");
}

async fn count_ops(emu: &Emu, op: &str) -> usize {
    emu.operations().await.iter().filter(|o| *o == op).count()
}

use crate::signing_vectors::vectors;

#[test]
fn client_builds_the_vector_request_byte_for_byte() {
    let v = vectors()
        .into_iter()
        .find(|v| v["name"] == "client_list_functions")
        .unwrap();
    let i = &v["inputs"];
    let client = ClientBuilder::new()
        .endpoint(format!("http://{}", i["host"].as_str().unwrap()))
        .region("cn-north-4")
        .project_id(i["project_id"].as_str().unwrap())
        .credentials(Credentials::AkSk(AkSk::new(
            i["ak"].as_str().unwrap(),
            i["sk"].as_str().unwrap(),
        )))
        .user_agent(i["headers"]["User-Agent"].as_str().unwrap())
        .build()
        .unwrap();
    let query: Vec<(String, String)> = i["query_params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
        .collect();
    let headers = client.signed_headers(
        "GET",
        i["resource_path"].as_str().unwrap(),
        &query,
        b"",
        i["date"].as_str().unwrap(),
    );
    let auth = headers.iter().find(|(k, _)| k == "Authorization").unwrap();
    assert_eq!(auth.1, v["outputs"]["authorization"].as_str().unwrap());
    for (name, value) in v["outputs"]["headers_sent"].as_object().unwrap() {
        let ours = headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
        assert_eq!(ours.map(|(_, v)| v.as_str()), value.as_str(), "{name}");
    }
}

#[tokio::test]
async fn wrong_secret_gets_401_apigw_0301_right_one_works() {
    let emu = Emu::start().await;
    let bad = builder_for(&emu)
        .credentials(Credentials::AkSk(AkSk::new(emu.ak.clone(), "not-the-secret")))
        .build()
        .unwrap();
    let err = bad.list_functions(0, 10, None, None).await.unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(401), Some("APIGW.0301")), "{err}");
    assert!(err.request_id().is_some_and(|r| r.len() == 32), "{err}");
    assert!(err.to_string().contains("verify aksk signature fail"), "{err}");
    let good = client_for(&emu);
    assert_eq!(good.list_functions(0, 10, None, None).await.unwrap().count, Some(0));
    // Temporary credentials: the security token is sent and signed like any header.
    let sts = builder_for(&emu)
        .credentials(Credentials::AkSk(
            AkSk::new(emu.ak.clone(), emu.sk.clone()).with_security_token("sts-token"),
        ))
        .build()
        .unwrap();
    sts.list_functions(0, 10, None, None).await.unwrap();
}

#[tokio::test]
async fn api_error_names_method_path_status_code_message_and_request_id() {
    let emu = Emu::start().await;
    let client = client_for(&emu);
    let err = client.show_function_config("nope").await.unwrap_err();
    let text = err.to_string();
    let rid = err.request_id().unwrap().to_string();
    assert!(
        text.starts_with(&format!(
            "GET /v2/{}/fgs/functions/nope/config returned HTTP 404 FSS.1051: ",
            emu.project
        )),
        "{text}"
    );
    assert!(text.ends_with(&format!("(request id {rid})")), "{text}");
    assert_eq!(client.show_function_config_opt("nope").await.unwrap(), None);
}

#[tokio::test]
async fn token_auth_against_the_emulator_iam_endpoint() {
    let emu = Emu::start().await;
    let client = ClientBuilder::new()
        .endpoint(emu.handle.url())
        .credentials(Credentials::Password(PasswordAuth {
            iam_endpoint: emu.handle.url(),
            user: local::IAM_USER.into(),
            password: Secret::new(local::IAM_PASSWORD),
            domain: "fgform".into(),
            project: ProjectScope::Id(emu.project.clone()),
        }))
        .retry_policy(RetryPolicy::fast())
        .build()
        .unwrap();
    // IAM itself is retried like any call (the create was never sent, so no ambiguity).
    add_chaos(&emu, "status=503,op=KeystoneCreateUserTokenByPassword,times=1").await;
    let f = client.create_function(&function_request("tok", 0)).await.unwrap();
    assert_eq!(f.func_name, "tok");
    for _ in 0..5 {
        client.show_function_config(&f.func_urn).await.unwrap();
    }
    assert_eq!(client.stats().tokens_issued, 1, "the token is cached");
    assert_eq!(client.stats().adopted, 0);
    let ops = emu.operations().await;
    let count = |op: &str| ops.iter().filter(|o| *o == op).count();
    assert_eq!(count("KeystoneCreateUserTokenByPassword"), 2);
    assert_eq!(count("CreateFunction"), 1);

    // A token the service no longer knows (emulator reset) is replaced once, transparently.
    emu.admin("POST", "/reset", None).await;
    client.list_functions(0, 10, None, None).await.unwrap();
    assert_eq!(client.stats().tokens_issued, 2);

    // A wrong password is an error naming IAM, not a silent fallback.
    let bad = ClientBuilder::new()
        .endpoint(emu.handle.url())
        .project_id(emu.project.clone())
        .credentials(Credentials::Password(PasswordAuth {
            iam_endpoint: emu.handle.url(),
            user: local::IAM_USER.into(),
            password: Secret::new("wrong"),
            domain: "fgform".into(),
            project: ProjectScope::Name(local::REGION.into()),
        }))
        .build()
        .unwrap();
    let err = bad.list_functions(0, 1, None, None).await.unwrap_err();
    assert!(matches!(err, ApiError::Token { .. }), "{err}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(source.contains("401 APIGW.0301"), "{source}");
}

#[tokio::test]
async fn every_route_family_round_trips() {
    let emu = Emu::start().await;
    let c = client_for(&emu);

    // Functions, with marker paging over small pages.
    for i in 0..5 {
        c.create_function(&function_request(&format!("fn-{i}"), i))
            .await
            .unwrap();
    }
    let page = c.list_functions(0, 2, None, None).await.unwrap();
    assert_eq!(
        (page.functions.len(), page.next_marker, page.count),
        (2, Some(2), Some(5))
    );
    assert_eq!(c.list_all_functions().await.unwrap().len(), 5);
    let urn = c.function_urn(None, "fn-1");
    let cfg = c.show_function_config(&urn).await.unwrap();
    assert_eq!(
        cfg.digest,
        fgform::client::functions::code_digest(&function_request("x", 1).func_code.unwrap().file.unwrap()).unwrap()
    );
    let updated = c
        .update_function_config(
            &urn,
            &UpdateFunctionConfigRequest {
                func_name: "fn-1".into(),
                handler: "index.handler".into(),
                memory_size: 256,
                timeout: 60,
                user_data: Some(r#"{"K":"V"}"#.into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!((updated.memory_size, updated.timeout), (256, 60));
    let code = c
        .update_function_code(
            &urn,
            &UpdateFunctionCodeRequest {
                code_type: "zip".into(),
                code_filename: Some("index.zip".into()),
                func_code: FuncCode {
                    file: Some(b64(&zip_of("index.py", b"new"))),
                    link: None,
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_ne!(code.digest, cfg.digest);
    assert_eq!(c.show_function_code(&urn).await.unwrap().digest, code.digest);
    let mi = c.update_max_instances(&urn, 7).await.unwrap();
    assert_eq!(mi.strategy_config.unwrap().concurrency, Some(7));

    // Versions and aliases.
    let v1 = c
        .publish_version(
            &urn,
            &PublishVersionRequest {
                version: Some("v1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(v1.version, "v1");
    assert!(c
        .list_all_versions(&urn)
        .await
        .unwrap()
        .iter()
        .any(|v| v.version == "v1"));
    let alias = AliasRequest {
        name: Some("live".into()),
        version: "v1".into(),
        ..Default::default()
    };
    assert!(c
        .create_alias(&urn, &alias)
        .await
        .unwrap()
        .alias_urn
        .ends_with(":!live"));
    assert_eq!(c.list_aliases(&urn).await.unwrap().len(), 1);
    let moved = AliasRequest {
        version: "latest".into(),
        description: Some("head".into()),
        ..alias.clone()
    };
    assert_eq!(c.update_alias(&urn, "live", &moved).await.unwrap().version, "latest");
    c.delete_alias(&urn, "live").await.unwrap();
    assert!(c.list_aliases(&urn).await.unwrap().is_empty());

    // Async config (marker/limit + page_info).
    assert_eq!(c.show_async_config(&urn).await.unwrap(), None);
    let ac = c
        .put_async_config(
            &urn,
            &AsyncInvokeConfigRequest {
                max_async_event_age_in_seconds: Some(3600),
                max_async_retry_attempts: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ac.max_async_retry_attempts, Some(1));
    assert!(c.show_async_config(&urn).await.unwrap().is_some());
    assert_eq!(c.list_all_async_configs(&urn).await.unwrap().len(), 1);
    c.delete_async_config(&urn).await.unwrap();
    assert_eq!(c.show_async_config(&urn).await.unwrap(), None);

    // Triggers (bare arrays).
    let t = c.create_trigger(&urn, &timer("tick", "1d")).await.unwrap();
    assert_eq!(t.trigger_status, "ACTIVE");
    assert_eq!(c.list_triggers(&urn).await.unwrap().len(), 1);
    let t2 = c
        .update_trigger(
            &urn,
            "TIMER",
            &t.trigger_id,
            &UpdateTriggerRequest {
                trigger_status: Some("DISABLED".into()),
                event_data: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(t2.trigger_status, "DISABLED");
    assert_eq!(
        c.show_trigger(&urn, "TIMER", &t.trigger_id)
            .await
            .unwrap()
            .trigger_status,
        "DISABLED"
    );
    c.delete_trigger(&urn, "TIMER", &t.trigger_id).await.unwrap();
    assert_eq!(c.show_trigger_opt(&urn, "TIMER", &t.trigger_id).await.unwrap(), None);
    c.create_trigger(&urn, &timer("a", "1d")).await.unwrap();
    c.delete_all_triggers(&urn).await.unwrap();
    assert!(c.list_triggers(&urn).await.unwrap().is_empty());

    // Tags.
    let tags = vec![Tag {
        key: "team".into(),
        value: "core".into(),
    }];
    c.add_function_tags(&cfg.func_urn, &tags).await.unwrap();
    assert_eq!(c.list_function_tags(&cfg.func_urn).await.unwrap().tags, tags);
    c.remove_function_tags(&cfg.func_urn, &tags).await.unwrap();
    assert!(c.list_function_tags(&cfg.func_urn).await.unwrap().tags.is_empty());

    // Dependency versions.
    let dep = CreateDependencyVersionRequest {
        depend_type: "zip".into(),
        depend_file: Some(b64(&zip_of("lib.py", b"x = 1"))),
        runtime: "Python3.9".into(),
        name: "mylib".into(),
        ..Default::default()
    };
    let d1 = c.create_dependency_version(&dep).await.unwrap();
    assert_eq!(d1.version, 1);
    assert_eq!(
        Some(d1.etag.clone()),
        fgform::client::dependencies::package_etag(dep.depend_file.as_deref().unwrap())
    );
    let d2 = c
        .create_dependency_version(&CreateDependencyVersionRequest {
            depend_file: Some(b64(&zip_of("lib.py", b"x = 2"))),
            ..dep.clone()
        })
        .await
        .unwrap();
    assert_eq!(d2.version, 2);
    let pkg = c.find_dependency("mylib").await.unwrap().unwrap();
    assert_eq!(pkg.version, 2);
    assert_eq!(c.list_all_dependency_versions(&pkg.id).await.unwrap().len(), 2);
    assert_eq!(
        c.show_dependency_version(&pkg.id, 1).await.unwrap().unwrap().etag,
        d1.etag
    );
    c.delete_dependency_version(&pkg.id, 1).await.unwrap();
    assert_eq!(c.show_dependency_version(&pkg.id, 1).await.unwrap(), None);

    // Workflows (limit/offset).
    let w = c.create_workflow(&workflow("flow-a")).await.unwrap();
    c.create_workflow(&workflow("flow-b")).await.unwrap();
    assert_eq!(c.list_all_workflows(None).await.unwrap().len(), 2);
    assert_eq!(c.find_workflow("flow-a").await.unwrap().unwrap().id, w.id);
    let shown = c.show_workflow(&w.id).await.unwrap();
    assert_eq!(shown.definition.start, "done");
    let mut def = workflow("flow-a");
    def.description = Some("changed".into());
    c.update_workflow(&w.id, &def).await.unwrap();
    assert_eq!(
        c.show_workflow(&w.id).await.unwrap().definition.description.as_deref(),
        Some("changed")
    );
    let del = c.delete_workflows(std::slice::from_ref(&w.workflow_urn)).await.unwrap();
    assert_eq!(del.success, vec![w.workflow_urn.clone()]);
    assert_eq!(c.show_workflow_opt(&w.id).await.unwrap(), None);

    // Delete a function.
    c.delete_function(&urn).await.unwrap();
    assert_eq!(c.show_function_config_opt(&urn).await.unwrap(), None);
}

#[tokio::test]
async fn throttling_is_retried_honouring_retry_after_and_gives_up_at_the_budget() {
    let emu = Emu::start().await;
    let c = client_for(&emu);
    add_chaos(&emu, "status=429,op=ListFunctions,times=2,retry_after=0").await;
    c.list_functions(0, 1, None, None).await.unwrap();
    let s = c.stats();
    assert_eq!((s.throttled, s.retries), (2, 2));

    add_chaos(&emu, "status=503,op=ShowFunctionConfig").await;
    let few = builder_for(&emu)
        .retry_policy(RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::fast()
        })
        .build()
        .unwrap();
    let err = few.show_function_config("x").await.unwrap_err();
    assert!(matches!(err, ApiError::GaveUp { attempts: 3, .. }), "{err}");
    assert_eq!((err.status(), err.code()), (Some(503), Some("FSS.0503")));
    assert_eq!(count_ops(&emu, "ShowFunctionConfig").await, 3);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_deadline_gives_up_early() {
    let emu = Emu::start().await;
    add_chaos(&emu, "status=429,op=ListFunctions,retry_after=30").await;
    let c = builder_for(&emu)
        .retry_policy(RetryPolicy {
            max_retry_after: Duration::from_secs(60),
            deadline: Duration::from_secs(2),
            ..RetryPolicy::fast()
        })
        .build()
        .unwrap();
    let err = c.list_functions(0, 1, None, None).await.unwrap_err();
    assert!(matches!(err, ApiError::GaveUp { attempts: 1, .. }), "{err}");
}

async fn assert_one_function(emu: &Emu, c: &Client, name: &str) {
    let all = c.list_all_functions().await.unwrap();
    assert_eq!(all.iter().filter(|f| f.func_name == name).count(), 1);
    assert_eq!(
        count_ops(emu, "CreateFunction").await,
        1,
        "the create was not sent twice"
    );
}

#[tokio::test]
async fn a_create_answered_503_after_it_happened_is_adopted() {
    let emu = Emu::start().await;
    let c = client_for(&emu);
    add_chaos(&emu, "status=503,after,op=CreateFunction,times=1").await;
    let f = c.create_function(&function_request("lost-503", 0)).await.unwrap();
    assert_eq!(f.func_name, "lost-503");
    assert_eq!(c.stats().adopted, 1);
    assert_one_function(&emu, &c, "lost-503").await;
}

#[tokio::test]
async fn a_create_whose_connection_dropped_after_it_happened_is_adopted() {
    let emu = Emu::start().await;
    let c = client_for(&emu);
    add_chaos(&emu, "drop,after,op=CreateFunction,times=1").await;
    let f = c.create_function(&function_request("lost-drop", 0)).await.unwrap();
    assert_eq!(f.runtime, "Python3.9");
    assert_eq!(c.stats().adopted, 1);
    assert_one_function(&emu, &c, "lost-drop").await;
}

#[tokio::test]
async fn a_create_that_failed_before_happening_is_sent_again_after_a_lookup() {
    let emu = Emu::start().await;
    let c = client_for(&emu);
    add_chaos(&emu, "status=503,op=CreateFunction,times=1").await;
    c.create_function(&function_request("retried", 0)).await.unwrap();
    let ops = emu.operations().await;
    let creates: Vec<_> = ops
        .iter()
        .filter(|o| o.starts_with("CreateFunction") || o.starts_with("ShowFunctionConfig"))
        .collect();
    assert_eq!(creates, ["CreateFunction", "ShowFunctionConfig", "CreateFunction"]);
    assert_eq!(c.stats().adopted, 0);
}

#[tokio::test]
async fn a_409_after_a_lost_create_is_resolved_by_adoption() {
    let emu = Emu::start().await;
    let c = client_for(&emu);
    // The create happens but its answer is lost; the first lookup lags behind (404, as an
    // eventually consistent read would), so the create is sent again and meets 409.
    add_chaos(&emu, "status=503,after,op=CreateFunction,times=1").await;
    add_chaos(&emu, "status=404,code=FSS.1051,op=ShowFunctionConfig,times=1").await;
    let f = c.create_function(&function_request("lagging", 0)).await.unwrap();
    assert_eq!(f.func_name, "lagging");
    assert_eq!(c.stats().adopted, 1);
    let log = emu.handle.requests();
    let creates: Vec<(u16, Option<String>)> = log
        .iter()
        .filter(|e| e.operation == "CreateFunction")
        .map(|e| (e.status, e.error_code.clone()))
        .collect();
    assert_eq!(
        creates,
        [(503, Some("FSS.0503".into())), (409, Some("FSS.1061".into()))]
    );
    let all = c.list_all_functions().await.unwrap();
    assert_eq!(all.iter().filter(|f| f.func_name == "lagging").count(), 1);
}

#[tokio::test]
async fn an_ambiguous_create_that_finds_a_different_function_is_a_conflict() {
    let emu = Emu::start().await;
    let c = client_for(&emu);
    c.create_function(&function_request("taken", 1)).await.unwrap();
    add_chaos(&emu, "status=503,op=CreateFunction,times=1").await;
    let err = c.create_function(&function_request("taken", 2)).await.unwrap_err();
    assert!(matches!(err, ApiError::Conflict { kind: "function", .. }), "{err}");
    assert!(err.to_string().contains("code digest"), "{err}");
    // Without ambiguity, an existing name is the service's own 409.
    let err = c.create_function(&function_request("taken", 2)).await.unwrap_err();
    assert_eq!(err.code(), Some("FSS.1061"), "{err}");
}

#[tokio::test]
async fn lost_trigger_dependency_and_workflow_creates_are_adopted() {
    let emu = Emu::start().await;
    let c = client_for(&emu);
    let f = c.create_function(&function_request("host", 0)).await.unwrap();
    add_chaos(&emu, "status=503,after,op=CreateFunctionTrigger,times=1").await;
    add_chaos(&emu, "drop,after,op=CreateDependencyVersion,times=1").await;
    add_chaos(&emu, "status=502,after,op=CreateWorkflow,times=1").await;
    let t = c.create_trigger(&f.func_urn, &timer("tick", "1d")).await.unwrap();
    assert_eq!(c.list_triggers(&f.func_urn).await.unwrap(), vec![t]);
    let dep = CreateDependencyVersionRequest {
        depend_type: "zip".into(),
        depend_file: Some(b64(&zip_of("lib.py", b"x = 1"))),
        runtime: "Python3.9".into(),
        name: "lib".into(),
        ..Default::default()
    };
    let d = c.create_dependency_version(&dep).await.unwrap();
    assert_eq!(d.version, 1);
    let pkg = c.find_dependency("lib").await.unwrap().unwrap();
    assert_eq!(c.list_all_dependency_versions(&pkg.id).await.unwrap().len(), 1);
    c.create_workflow(&workflow("flow")).await.unwrap();
    assert_eq!(c.list_all_workflows(None).await.unwrap().len(), 1);
    assert_eq!(c.stats().adopted, 3);
    for op in ["CreateFunctionTrigger", "CreateDependencyVersion", "CreateWorkflow"] {
        assert_eq!(count_ops(&emu, op).await, 1, "{op} sent once");
    }
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Buffer {
        self.clone()
    }
}

/// The process-wide debug log of `fgform::client`. A global subscriber (set once, by this
/// module only) rather than a scoped one: tracing caches per-callsite interest globally,
/// so a scoped subscriber can miss events when other tests hit the same callsites first.
fn client_debug_log() -> &'static Buffer {
    static LOG: std::sync::OnceLock<Buffer> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("fgform::client=debug"))
            .with_writer(buffer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other test sets a global subscriber");
        buffer
    })
}

#[tokio::test]
async fn debug_logs_show_requests_but_never_secrets() {
    let buffer = client_debug_log();
    let emu = Emu::start().await;
    let sk = emu.sk.clone();
    {
        let aksk = builder_for(&emu)
            .credentials(Credentials::AkSk(
                AkSk::new(emu.ak.clone(), emu.sk.clone()).with_security_token("STS-SECRET-TOKEN"),
            ))
            .build()
            .unwrap();
        let mut req = function_request("logged", 0);
        req.encrypted_user_data = Some(r#"{"DB_PASSWORD":"ENCRYPTED-VALUE"}"#.into());
        aksk.create_function(&req).await.unwrap();
        let token = builder_for(&emu)
            .credentials(Credentials::Password(PasswordAuth {
                iam_endpoint: emu.handle.url(),
                user: local::IAM_USER.into(),
                password: Secret::new(local::IAM_PASSWORD),
                domain: "fgform".into(),
                project: ProjectScope::Id(emu.project.clone()),
            }))
            .build()
            .unwrap();
        token.list_functions(0, 5, None, None).await.unwrap();
    }
    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let ours = format!("request POST {}/v2/{}/fgs/functions", emu.handle.url(), emu.project);
    assert!(logs.contains(&ours), "{logs}");
    assert!(logs.contains("response GET") && logs.contains("-> 200"), "{logs}");
    let zip_b64 = b64(&default_zip());
    for secret in [
        sk.as_str(),
        "STS-SECRET-TOKEN",
        "ENCRYPTED-VALUE",
        local::IAM_PASSWORD,
        "MIIemu",
        "Signature=",
        &zip_b64[..24],
    ] {
        assert!(!logs.contains(secret), "`{secret}` leaked into the debug log:\n{logs}");
    }
}

/// Final-state check helper for the chaos test.
fn expected_memory(i: u32) -> i64 {
    if i.is_multiple_of(3) {
        256
    } else {
        128
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_mixed_calls_under_chaos_end_in_the_right_state() {
    let emu = Emu::with(Config::default()).await;
    // The brief's mix, plus 5% of answers lost *after* the change was made, so creates
    // must be adopted (and deletes of already-deleted functions accepted).
    for rule in [
        "status=429,p=0.15,retry_after=0",
        "status=503,p=0.15",
        "latency=20ms,p=0.3",
        "status=503,after,p=0.05",
    ] {
        add_chaos(&emu, rule).await;
    }
    let client = builder_for(&emu)
        .retry_policy(RetryPolicy {
            max_attempts: 20,
            ..RetryPolicy::fast()
        })
        .requests_per_second(Some(2000.0))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    // 50 functions, 10 workers of 5 functions each. Per function: create, trigger, async
    // config, 3 reads, a config update for every third, then deletes for every fifth.
    let mut tasks = Vec::new();
    for w in 0..10u32 {
        let c = client.clone();
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            let bump = || calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for k in 0..5u32 {
                let i = w * 5 + k;
                let name = format!("chaos-{i:02}");
                let f = c.create_function(&function_request(&name, i)).await.unwrap();
                bump();
                c.create_trigger(&f.func_urn, &timer("tick", "1d")).await.unwrap();
                bump();
                c.put_async_config(
                    &f.func_urn,
                    &AsyncInvokeConfigRequest {
                        max_async_retry_attempts: Some(2),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
                bump();
                for _ in 0..2 {
                    c.show_function_config(&f.func_urn).await.unwrap();
                    c.list_triggers(&f.func_urn).await.unwrap();
                    c.show_async_config(&f.func_urn).await.unwrap().unwrap();
                    bump();
                    bump();
                    bump();
                }
                if expected_memory(i) == 256 {
                    c.update_function_config(
                        &f.func_urn,
                        &UpdateFunctionConfigRequest {
                            func_name: name.clone(),
                            handler: "index.handler".into(),
                            memory_size: 256,
                            timeout: 30,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                    bump();
                }
                c.list_functions(0, 10, Some(&name), None).await.unwrap();
                bump();
            }
            for k in 0..5u32 {
                let i = w * 5 + k;
                if i.is_multiple_of(5) {
                    c.delete_function(&c.function_urn(None, &format!("chaos-{i:02}")))
                        .await
                        .unwrap();
                    bump();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let stats = client.stats();
    let total_calls = calls.load(std::sync::atomic::Ordering::Relaxed);
    emu.admin("DELETE", "/chaos", None).await;
    // Verify through the list APIs with chaos off.
    let check = client_for(&emu);
    let all = check.list_all_functions().await.unwrap();
    let mut names: Vec<String> = all.iter().map(|f| f.func_name.clone()).collect();
    names.sort();
    let expected: Vec<String> = (0..50u32)
        .filter(|i| !i.is_multiple_of(5))
        .map(|i| format!("chaos-{i:02}"))
        .collect();
    assert_eq!(names, expected, "exactly the surviving functions, no duplicates");
    for f in &all {
        let i: u32 = f.func_name[6..].parse().unwrap();
        assert_eq!(f.memory_size, expected_memory(i), "{}", f.func_name);
        let triggers = check.list_triggers(&f.func_urn).await.unwrap();
        assert_eq!(triggers.len(), 1, "one trigger on {}", f.func_name);
        let ac = check.show_async_config(&f.func_urn).await.unwrap().unwrap();
        assert_eq!(ac.max_async_retry_attempts, Some(2));
    }
    let log = emu.handle.requests();
    // A create took effect when it answered 200, or when chaos replaced its answer after
    // the change was made.
    let effective = |op: &str| {
        log.iter()
            .filter(|e| e.operation == op)
            .filter(|e| e.status == 200 || e.status == 201 || e.chaos.as_deref().is_some_and(|c| c.ends_with(",after")))
            .count()
    };
    assert_eq!(
        effective("CreateFunction"),
        50,
        "each function was created exactly once"
    );
    assert_eq!(
        effective("CreateFunctionTrigger"),
        50,
        "each trigger was created exactly once"
    );
    let conflicts = log
        .iter()
        .filter(|e| e.error_code.as_deref() == Some("FSS.1061"))
        .count();
    eprintln!(
        "chaos run: {total_calls} client calls, {} HTTP attempts, {} retries ({} throttled, {} adopted, \
         {conflicts} FSS.1061) in {:.2}s",
        stats.attempts,
        stats.retries,
        stats.throttled,
        stats.adopted,
        elapsed.as_secs_f64()
    );
    assert!(total_calls >= 500, "{total_calls}");
    assert!(stats.retries > 0);
}
