//! One integration-test binary (as cargo and uv do): each module is a behaviour area.

mod context;
mod servers;
mod support;

mod ci_kit;
mod client;
mod code_obs;
mod drift;
mod emulator_async;
mod emulator_basics;
mod emulator_chaos;
mod emulator_dependencies;
mod emulator_functions;
mod emulator_hardening;
mod emulator_persistence;
mod emulator_robustness;
mod emulator_snapshot;
mod emulator_tags_quotas;
mod emulator_triggers;
mod emulator_versions;
mod emulator_workflows;
mod environment;
mod import;
mod locking;
mod pipeline;
mod plan_markdown;
mod reconcile;
mod remote_state;
mod safety;
mod secrets;
mod signing_vectors;
mod state_commands;
mod state_contract;
mod state_postgres;
mod state_s3;
mod state_versions;
