//! Command-line syntax (clap derive). Parsing only: commands resolve and act.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A Terraform-style reconciler for Huawei Cloud FunctionGraph.
#[derive(Debug, Parser)]
#[command(name = "fgform", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a local FunctionGraph API that the official SDKs cannot tell from the cloud.
    Emulator(EmulatorArgs),
}

/// `fgform emulator`.
#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to listen on (port 0 picks a free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8686")]
    pub listen: SocketAddr,
    /// Keep state in this directory (journal, snapshot, code blobs); absent = memory only.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Access key accepted for AK/SK signatures.
    #[arg(long, env = "FGFORM_EMULATOR_AK", default_value = crate::api::local::ACCESS_KEY)]
    pub ak: String,
    /// Secret key for that access key.
    #[arg(long, env = "FGFORM_EMULATOR_SK", default_value = crate::api::local::SECRET_KEY, hide_env_values = true)]
    pub sk: String,
    /// Project id that IAM tokens are scoped to (any project id in a path is served, each
    /// isolated from the others).
    #[arg(long, default_value = crate::api::local::PROJECT_ID)]
    pub project_id: String,
    /// Region written into URNs.
    #[arg(long, default_value = crate::api::local::REGION)]
    pub region: String,
    /// Accept requests with no or bad credentials (debugging only; breaks parity).
    #[arg(long)]
    pub no_auth: bool,
    /// Fault rule, repeatable: `status=429,p=0.3[,method=POST][,path=/fgs/functions*][,retry_after=1]`,
    /// `latency=200ms[,p=1]`, `drop,p=0.1`. See README.
    #[arg(long = "chaos", value_name = "RULE")]
    pub chaos: Vec<String>,
    /// Quota override, repeatable: `fgs_func_num=10000`.
    #[arg(long = "quota", value_name = "TYPE=N")]
    pub quota: Vec<String>,
    /// fsync the journal before answering each mutation (survives power loss, not just a
    /// killed process).
    #[arg(long)]
    pub fsync: bool,
}
