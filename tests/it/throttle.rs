//! Gateway throttling (`fgform emulator --rate-limit N`, `Config::rate_limit`) and the
//! client's adaptive rate against it.

use std::sync::Arc;

use fgform::api::local;
use fgform::client::{AkSk, ClientBuilder, Credentials, RetryPolicy};
use fgform::emulator::Config;

use crate::client::function_request;
use crate::support::Emu;

fn throttled_to(rate: f64) -> Config {
    Config {
        rate_limit: Some(rate),
        ..Config::default()
    }
}

#[tokio::test]
async fn an_empty_bucket_answers_429_apigw_0308_with_retry_after_and_is_logged() {
    // Half a request a second: the bucket holds one request, and refills in two seconds.
    let emu = Emu::with(throttled_to(0.5)).await;
    let first = emu.get("/fgs/functions").await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = emu.get("/fgs/functions").await;
    assert_eq!(second.status, 429, "{}", second.text);
    assert_eq!(second.code(), "APIGW.0308");
    assert_eq!(
        second.body["error_msg"],
        "The throttling threshold has been reached: policy user over ratelimit, limit:0.5, time:1 second"
    );
    // The gateway's error shape: the request id in the body too.
    let rid = second.headers["x-request-id"].to_str().unwrap();
    assert_eq!(second.body["request_id"], rid);
    // Whole seconds, rounded up: the next token is two seconds away.
    assert_eq!(second.headers["retry-after"], "2");
    // Throttled before authentication: a bad signature gets the same 429.
    let unsigned = emu
        .call_raw("GET", &emu.path("/fgs/functions"), &[], Vec::new(), "wrong-secret")
        .await;
    assert_eq!((unsigned.status, unsigned.code()), (429, "APIGW.0308"));
    // The control plane is not throttled, and the log records the 429s as answered.
    for _ in 0..5 {
        emu.admin("GET", "/health", None).await;
    }
    let log = emu.handle.requests();
    let statuses: Vec<(u16, Option<&str>)> = log.iter().map(|e| (e.status, e.error_code.as_deref())).collect();
    assert_eq!(
        statuses,
        [(200, None), (429, Some("APIGW.0308")), (429, Some("APIGW.0308"))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_reads_slow_down_to_the_gateway_limit_with_few_429s() {
    const LIMIT: f64 = 50.0;
    const TASKS: usize = 8;
    const READS_PER_TASK: usize = 50;
    let emu = Emu::with(throttled_to(LIMIT)).await;
    // No client cap, as against any loopback emulator: unlimited until the first 429. The
    // default retry policy, so `Retry-After` (1 s) is honoured as it is against the cloud.
    let client = ClientBuilder::new()
        .endpoint(emu.handle.url())
        .region(local::REGION)
        .project_id(emu.project.clone())
        .credentials(Credentials::AkSk(AkSk::new(emu.ak.clone(), emu.sk.clone())))
        .retry_policy(RetryPolicy::default())
        .requests_per_second(None)
        .build()
        .unwrap();
    let f = client.create_function(&function_request("reader", 0)).await.unwrap();
    assert_eq!(client.request_rate(), f64::INFINITY);
    let urn = Arc::new(f.func_urn);
    let tasks: Vec<_> = (0..TASKS)
        .map(|_| {
            let (client, urn) = (client.clone(), urn.clone());
            tokio::spawn(async move {
                for _ in 0..READS_PER_TASK {
                    client.show_function_config(&urn).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let log = emu.handle.requests();
    let throttled = log.iter().filter(|e| e.status == 429).count();
    assert!(log
        .iter()
        .filter(|e| e.status == 429)
        .all(|e| e.error_code.as_deref() == Some("APIGW.0308")));
    let answered = log.iter().filter(|e| e.status == 200).count();
    assert_eq!(answered, 1 + TASKS * READS_PER_TASK, "every read succeeded, once");
    let stats = client.stats();
    assert_eq!(stats.throttled, throttled as u64);
    assert_eq!(stats.attempts as usize, log.len());
    let share = throttled as f64 / log.len() as f64;
    eprintln!(
        "{} requests, {throttled} answered 429 ({:.1}%), client rate at the end {:.1}/s",
        log.len(),
        share * 100.0,
        client.request_rate()
    );
    // The client did meet the limit (else there would be no adapting to speak of) …
    assert!(throttled > 0);
    // The gateway's 429 states its limit: the rate never climbed back above 95% of it.
    let ceiling = LIMIT * fgform::client::retry::STATED_LIMIT_SHARE;
    assert!(client.request_rate() <= ceiling + 1e-9, "{}", client.request_rate());
    // … and then kept under it: 2% in a typical run (the first burst's 429s, about one per
    // task; after them the rate keeps under the limit their message states). A client that
    // only honoured `Retry-After`, with no rate cut, gets about one 429 per task per second
    // of the run, 8 for every 50 let through: 12-14% (estimated, by a simulation of this
    // run); one that ignored 429s altogether, far more.
    assert!(share < 0.08, "{throttled} of {} requests answered 429", log.len());
}
