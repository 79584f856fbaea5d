//! `fgform emulator`: serve the local FunctionGraph API until Ctrl-C or SIGTERM. On an
//! address other hosts can reach, it warns while the public default credentials are in use.

use anyhow::Context as _;

use crate::cli::EmulatorArgs;
use crate::emulator::{self, ChaosRule, Config, Quotas};
use crate::error::{ExitStatus, Hint};

/// Turns the flags into a [`Config`].
pub fn config(args: &EmulatorArgs) -> anyhow::Result<Config> {
    let mut quotas = Quotas::default();
    for q in &args.quota {
        quotas.set(q).map_err(anyhow::Error::msg).context("invalid --quota")?;
    }
    let chaos = args
        .chaos
        .iter()
        .map(|spec| ChaosRule::parse(spec).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()
        .context("invalid --chaos")?;
    Ok(Config {
        listen: args.listen,
        data: args.data.clone(),
        access_key: args.ak.clone(),
        secret_key: args.sk.clone(),
        project_id: args
            .project_id
            .first()
            .cloned()
            .unwrap_or_else(|| crate::api::local::PROJECT_ID.into()),
        extra_project_ids: args.project_id.iter().skip(1).cloned().collect(),
        region: args.region.clone(),
        no_auth: args.no_auth,
        chaos,
        quotas,
        fsync: args.fsync,
        iam_password: args.iam_password.clone(),
        obs_endpoint: args.obs_endpoint.clone(),
        seed: args.seed,
        rate_limit: args.rate_limit,
        max_instances: args.max_instances,
        ..Config::default()
    })
}

/// The warning for an emulator reachable from other hosts while it still accepts the
/// credentials printed in the README (`None` on loopback, or with all of them replaced).
pub fn public_credentials_warning(config: &Config) -> Option<String> {
    use crate::api::local;
    if config.listen.ip().is_loopback() {
        return None;
    }
    let mut public = Vec::new();
    if config.access_key == local::ACCESS_KEY || config.secret_key == local::SECRET_KEY {
        public.push("the AK/SK (set your own with --ak/--sk or FGFORM_EMULATOR_AK/FGFORM_EMULATOR_SK)");
    }
    if config.iam_password == local::IAM_PASSWORD {
        public.push("the IAM password (set your own with --iam-password or FGFORM_EMULATOR_IAM_PASSWORD)");
    }
    if public.is_empty() && !config.no_auth {
        return None;
    }
    let mut text = format!(
        "warning: listening on {}, which other hosts can reach",
        config.listen.ip()
    );
    if config.no_auth {
        text.push_str(", with --no-auth: anyone who can connect can read and change everything");
    }
    if !public.is_empty() {
        text.push_str(&format!(
            ", and the default credentials are public (printed in fgform's README): {}",
            public.join("; ")
        ));
    }
    text.push_str(". The control plane /_emulator/* has no credentials at all.");
    Some(text)
}

/// Serves the emulator until interrupted.
pub fn run(args: EmulatorArgs) -> anyhow::Result<ExitStatus> {
    let config = config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start tokio")?;
    runtime.block_on(async move {
        let listen = config.listen;
        let handle = emulator::start(config.clone())
            .await
            .with_context(|| format!("cannot start the emulator on {listen}"))
            .context(Hint(
                "pick another port with --listen 127.0.0.1:0, or stop the other emulator".into(),
            ))?;
        eprintln!("fgform emulator listening on {}", handle.url());
        if let Some(warning) = public_credentials_warning(&config) {
            eprintln!("{warning}");
        }
        eprintln!(
            "  project {}  region {}  access key {}  data {}",
            config.project_ids().collect::<Vec<_>>().join(","),
            config.region,
            config.access_key,
            config
                .data
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_else(|| "(memory only)".into())
        );
        if let Some(rate) = config.rate_limit {
            eprintln!("  throttled to {rate} API requests per second per project (429 APIGW.0308 beyond)");
        }
        if let Some(endpoint) = &config.obs_endpoint {
            eprintln!("  code_url objects fetched from {endpoint}");
        }
        // A line on stdout that scripts can wait for.
        crate::outln!("{}", handle.url());
        wait_for_signal().await;
        eprintln!("fgform emulator: shutting down");
        handle.shutdown().await;
        Ok(ExitStatus::Success)
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::cli::{Cli, Command};
    use crate::emulator::Config;

    /// The emulator's config from command line `args`.
    fn config_of(args: &[&str]) -> Config {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Emulator(args) = cli.command else {
            panic!("not the emulator")
        };
        super::config(&args).unwrap()
    }

    fn seed_of(args: &[&str]) -> Option<u64> {
        config_of(args).seed
    }

    fn rate_limit_of(args: &[&str]) -> Option<f64> {
        config_of(args).rate_limit
    }

    #[test]
    fn max_instances_flag_reaches_the_config() {
        let max = |args: &[&str]| config_of(args).max_instances;
        assert_eq!(max(&["fgform", "emulator"]), crate::emulator::MAX_INSTANCES);
        assert_eq!(max(&["fgform", "emulator", "--max-instances", "4"]), 4);
        for bad in ["0", "-1", "many"] {
            assert!(
                Cli::try_parse_from(["fgform", "emulator", "--max-instances", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn rate_limit_flag_reaches_the_config() {
        assert_eq!(rate_limit_of(&["fgform", "emulator"]), None);
        assert_eq!(
            rate_limit_of(&["fgform", "emulator", "--rate-limit", "200"]),
            Some(200.0)
        );
        assert_eq!(rate_limit_of(&["fgform", "emulator", "--rate-limit", "0.5"]), Some(0.5));
        for bad in ["0", "-3", "inf", "NaN", "fast"] {
            assert!(
                Cli::try_parse_from(["fgform", "emulator", "--rate-limit", bad]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn seed_flag_reaches_the_config() {
        assert_eq!(seed_of(&["fgform", "emulator", "--seed", "42"]), Some(42));
        assert!(Cli::try_parse_from(["fgform", "emulator", "--seed", "-1"]).is_err());
    }
}
