//! `fgform emulator`.

use crate::cli::EmulatorArgs;
use crate::error::ExitStatus;

/// Serves the emulator until interrupted.
pub fn run(_args: EmulatorArgs) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("the emulator is being built")
}
