//! `fgform invoke` and `fgform logs`: run one of the stack's functions through the API it is
//! deployed to (the embedded emulator, `--endpoint`, or the cloud), and read the function
//! logs an fgform emulator keeps. The function is the one the state recorded for the address.

use std::io::Read as _;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::json;

use crate::cli::{InvokeArgs, LogsArgs};
use crate::error::{ExitStatus, Hint};
use crate::model::Address;
use crate::session::{no_state, Endpoint, Session};

/// `fgform invoke`.
pub fn run(args: InvokeArgs) -> anyhow::Result<ExitStatus> {
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let (name, urn) = function_urn(&session, &args.address)?;
    let urn = match &args.qualifier {
        Some(q) => format!("{urn}:{q}"),
        None => urn,
    };
    let event = event(args.data.as_deref())?;
    let timeout = Duration::from_secs(session.desired.functions.get(&name).map_or(900, |f| f.timeout.into()));
    session.block_on(async {
        let connection = session.connect().await?;
        let client = &connection.client;
        let outcome = if args.asynchronous {
            let id = client.invoke_async(&urn, &event).await;
            // The embedded emulator stops with this command: it runs the queued invocation
            // (its retries and destinations) to the end first.
            let ended = match (&id, &session.endpoint) {
                (Ok(id), Endpoint::Embedded(_)) => Some(wait_for_async(client, &urn, id).await),
                _ => None,
            };
            connection.close().await;
            let id = id.with_context(|| format!("invoking function.{name} asynchronously failed"))?;
            let ended = ended.transpose()?;
            if args.json {
                crate::outln!("{}", json!({ "request_id": id, "record": ended }));
            } else {
                crate::outln!("{id}");
            }
            match ended {
                Some(record) if record.status != "SUCCESS" => {
                    eprintln!(
                        "error: function.{name}'s async invocation {id} ended {}: {}",
                        record.status, record.error_message
                    );
                    ExitStatus::Error
                }
                _ => ExitStatus::Success,
            }
        } else {
            let invoked = client.invoke(&urn, &event, args.log, timeout).await;
            connection.close().await;
            let invoked = invoked.with_context(|| format!("invoking function.{name} failed"))?;
            print_invoked(&name, &invoked, &args)
        };
        Ok(outcome)
    })
}

/// Polls the async invocation's record until it ends.
async fn wait_for_async(
    client: &crate::client::Client,
    urn: &str,
    id: &str,
) -> anyhow::Result<crate::client::invoke::AsyncInvocation> {
    eprintln!("The embedded emulator stops with this command: waiting for the invocation {id} to end.");
    loop {
        if let Some(record) = client.async_invocation(urn, id).await? {
            if record.ended() {
                return Ok(record);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn print_invoked(name: &str, invoked: &crate::client::invoke::Invoked, args: &InvokeArgs) -> ExitStatus {
    if args.json {
        crate::outln!(
            "{:#}",
            json!({
                "request_id": invoked.request_id,
                "result": invoked.result,
                "failed": invoked.failed,
                "error_code": invoked.error_code,
                "log": invoked.log,
                "summary": invoked.summary,
            })
        );
    } else {
        if let Some(log) = &invoked.log {
            eprint!("{log}");
        }
        crate::outln!("{}", invoked.result);
    }
    if !invoked.failed {
        return ExitStatus::Success;
    }
    let error: serde_json::Value = serde_json::from_str(&invoked.result).unwrap_or_default();
    let text = |key: &str| error.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    eprintln!(
        "error: function.{name} failed (request {}, X-Func-Err-Code {}): {}: {}",
        invoked.request_id,
        invoked.error_code,
        text("errorType"),
        text("errorMessage")
    );
    ExitStatus::Error
}

/// `fgform logs`.
pub fn logs(args: LogsArgs) -> anyhow::Result<ExitStatus> {
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let (name, urn) = function_urn(&session, &args.address)?;
    let logs = session.block_on(async {
        let connection = session.connect().await?;
        let logs = connection.client.emulator_logs(&urn, args.limit).await;
        connection.abandon();
        Ok(logs?)
    })?;
    let Some(logs) = logs else {
        bail!(
            anyhow!("`fgform logs` reads the function logs an fgform emulator keeps, and this target is not one")
                .context(Hint(format!(
                    "in the cloud, function.{name}'s logs are in LTS (Log Tank Service): see its log_group_id and log_stream_id"
                )))
        );
    };
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&logs)?);
    } else if logs.is_empty() {
        eprintln!("function.{name} has no invocation logs yet (the emulator keeps the last 1000 invocations' logs)");
    } else {
        for record in &logs {
            crate::out!("{}", record.log);
        }
    }
    Ok(ExitStatus::Success)
}

/// The manifest name and the recorded URN of the function `address` names (`function.NAME`
/// or `NAME`).
fn function_urn(session: &Session, address: &str) -> anyhow::Result<(String, String)> {
    let name = match address.parse::<Address>() {
        Ok(Address::Function(name)) => name,
        Ok(other) => bail!(anyhow!("`{other}` is not a function").context(Hint("name one as `function.NAME`".into()))),
        Err(_) if !address.contains('.') => address.to_string(),
        Err(e) => bail!(anyhow!(e).context(Hint("name the function as `function.NAME`".into()))),
    };
    if !session.desired.functions.contains_key(&name) {
        let known: Vec<String> = session
            .desired
            .functions
            .keys()
            .map(|n| format!("function.{n}"))
            .collect();
        bail!(anyhow!("the stack has no function `{name}`").context(Hint(format!(
            "its functions: {}",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))));
    }
    let state = session.load_checked()?;
    let recorded = state
        .as_ref()
        .and_then(|s| s.resources.get(&format!("function.{name}")));
    match recorded {
        Some(record) => Ok((name, record.id.clone())),
        None => {
            let what = match &state {
                None => format!("{} `{}`", no_state(&session.location), session.state_shown),
                Some(_) => format!("function.{name} is not in the state `{}`", session.state_shown),
            };
            bail!(anyhow!(what).context(Hint(format!("deploy it first: `fgform apply{}`", session.rerun_args()))))
        }
    }
}

/// The event `--data` gives: JSON text, `@FILE`, or `@-` (stdin); `{}` without it. It must
/// be JSON, checked before any call.
fn event(data: Option<&str>) -> anyhow::Result<Vec<u8>> {
    let text = match data {
        None => return Ok(b"{}".to_vec()),
        Some("@-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the event from stdin")?;
            text
        }
        Some(path) if path.starts_with('@') => std::fs::read_to_string(&path[1..])
            .with_context(|| format!("cannot read the event file `{}`", &path[1..]))?,
        Some(text) => text.to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| anyhow!("the event is not JSON: {e}"))
        .context(Hint(
            "pass a JSON value, e.g. --data '{\"name\":\"world\"}', or --data @event.json".into(),
        ))?;
    Ok(text.into_bytes())
}
