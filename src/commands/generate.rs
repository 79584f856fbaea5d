//! `fgform generate --all | --function NAME… | --prefix P --out DIR`: a stack written from a
//! live project, with its state recorded, so `fgform plan DIR` right after plans no change.

use anyhow::{bail, Context as _};

use crate::cli::GenerateArgs;
use crate::client::{Client, ClientBuilder, EnvSettings};
use crate::error::{ExitStatus, Hint};
use crate::ops::generate::{generate, Request, Select};
use crate::ops::rerun::{display_path, shell_word, shown_location};
use crate::session::ENDPOINT_CREDENTIALS_HINT;

/// `fgform generate`.
pub fn run(args: GenerateArgs) -> anyhow::Result<ExitStatus> {
    if std::fs::read_dir(&args.out).is_ok_and(|mut entries| entries.next().is_some()) {
        bail!(anyhow::anyhow!("`{}` is not empty", display_path(&args.out))
            .context(Hint("generate writes a new stack: name a new folder with --out".into())));
    }
    let select = match (&args.prefix, args.function.is_empty()) {
        (Some(prefix), _) => Select::Prefix(prefix.clone()),
        (None, false) => Select::Functions(args.function.clone()),
        (None, true) => Select::All,
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let (client, provider) = connect(&args).await?;
        std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create `{}`", display_path(&args.out)))?;
        let request = Request {
            client: &client,
            select,
            out: args.out.clone(),
            stack: args.stack.clone(),
            stage: args.stage.clone(),
            provider,
            parallelism: args.parallelism,
        };
        let written = generate(request, args.state.as_deref()).await?;
        for note in &written.notes {
            crate::outln!("note: {note}");
        }
        if let Some(lineage) = &written.lineage_taken {
            eprintln!(
                "warning: the new state takes over lineage {lineage}, the state these functions are tagged for, so \
                 that it owns them as that state did. If that state still exists (another folder, a remote store), \
                 delete one of the two: both would manage the same functions."
            );
        }
        let g = &written.generated;
        crate::outln!(
            "Generated stack `{}` in {}: {} resource(s), recorded in the state {}.",
            written.stack,
            display_path(&args.out),
            written.recorded,
            written.state_shown
        );
        if !g.secrets.is_empty() {
            let vars: Vec<&str> = g.secrets.iter().map(|s| s.var.as_str()).collect();
            crate::outln!(
                "Secrets are placeholders: set {} to their values before planning (the API never returns them).",
                vars.join(", ")
            );
        }
        let mut rerun = String::new();
        if let Some(stage) = &written.stage {
            rerun.push_str(&format!(" --stage {stage}"));
        }
        if let Some(endpoint) = &args.endpoint {
            rerun.push_str(&format!(" --endpoint {}", shell_word(endpoint)));
        }
        if let Some(state) = &args.state {
            // As every suggested command shows a location: its password left out.
            rerun.push_str(&format!(" --state {}", shell_word(&shown_location(state))));
        }
        let dir = shell_word(&display_path(&args.out));
        match written.untagged {
            0 => crate::outln!("Run `fgform plan {dir}{rerun}`: it should plan no change."),
            n => crate::outln!(
                "Run `fgform plan {dir}{rerun}`: it plans one change per function no state owned ({n}), their \
                 ownership tag; once applied, plans are empty."
            ),
        }
        Ok(ExitStatus::Success)
    })
}

/// The client for the project to read, and the `provider:` the new stack names (`None` for
/// the emulator's own region and project, which a stack without a provider targets).
async fn connect(args: &GenerateArgs) -> anyhow::Result<(Client, Option<(String, String)>)> {
    // The flags first, then the environment the client reads anyway.
    let env = EnvSettings::from_process();
    let mut region = args.region.clone().or_else(|| env.region.clone());
    let mut project = args.project_id.clone().or_else(|| env.project_id.clone());
    if args.endpoint.is_none() && region.is_none() {
        bail!(
            anyhow::anyhow!("generate reads a live project, and none is named").context(Hint(
                "pass --endpoint URL (an `fgform emulator`) or --region REGION".into()
            ))
        );
    }
    let builder = || {
        let mut b = ClientBuilder::new().with_env(env.clone());
        if let Some(endpoint) = &args.endpoint {
            b = b.endpoint(endpoint);
        }
        b
    };
    if args.endpoint.is_some() && (region.is_none() || project.is_none()) {
        // An emulator tells its region and projects: ask it for what is not named.
        let probe = builder()
            .region(crate::api::local::REGION)
            .project_id(crate::api::local::PROJECT_ID)
            .build()
            .context("cannot reach the endpoint")
            .map_err(|e| e.context(Hint(ENDPOINT_CREDENTIALS_HINT.into())))?;
        if let Some((served, projects)) = probe.emulator_identity().await {
            region = region.or(Some(served));
            project = project.or_else(|| projects.into_iter().next());
        }
    }
    let mut b = builder();
    if let Some(region) = region {
        b = b.region(region);
    }
    if let Some(project) = project {
        b = b.project_id(project);
    }
    let client = b.build().context("cannot reach the project to read").map_err(|e| {
        e.context(Hint(
            "name it: --endpoint URL (an `fgform emulator`), or --region and credentials for the cloud \
             (HUAWEICLOUD_SDK_AK/_SK/_PROJECT_ID)"
                .into(),
        ))
    })?;
    let local = client.region() == crate::api::local::REGION && client.project_id() == crate::api::local::PROJECT_ID;
    let provider = (!local).then(|| (client.region().to_string(), client.project_id().to_string()));
    Ok((client, provider))
}
