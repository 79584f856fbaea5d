//! Ctrl-C and SIGTERM for commands that change things.
//!
//! Before any change starts (refresh, planning, the prompt) an interrupt exits at once with
//! 130: nothing was changed. While changes run, the first interrupt stops new calls from
//! starting; the calls in flight finish, their results are saved and the command exits 130.
//! A second interrupt exits at once, with a warning: calls still in flight may complete
//! unrecorded, which the next run resolves from the intent journal. Either way the state
//! lock is released.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::state::backend::HeldLock;

/// The interrupt state a command shares with its signal listener.
#[derive(Clone)]
pub struct Interrupt {
    applying: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// The exit status of an interrupted command.
pub const EXIT_CODE: i32 = 130;

impl Interrupt {
    /// Listens for SIGINT and SIGTERM on the current tokio runtime. `lock` is released
    /// before an immediate exit.
    pub fn install(lock: Option<Arc<dyn HeldLock>>) -> Interrupt {
        let interrupt = Interrupt {
            applying: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let shared = interrupt.clone();
        tokio::spawn(async move {
            let exit_now = |message: &str| -> ! {
                eprintln!("{message}");
                if let Some(lock) = &lock {
                    lock.release();
                }
                std::process::exit(EXIT_CODE);
            };
            loop {
                let name = wait_for_signal().await;
                if !shared.applying.load(Ordering::SeqCst) {
                    exit_now(&format!("\n{name}: stopped before any change was made."));
                }
                if shared.stop.swap(true, Ordering::SeqCst) {
                    exit_now(&format!(
                        "\nwarning: second {name}: exiting at once. Calls still in flight may complete \
                         without being recorded; the next plan or apply resolves them from the intent journal."
                    ));
                }
                eprintln!(
                    "\n{name}: no new changes will start; waiting for the calls in flight to finish and \
                     saving the state. Interrupt again to exit at once."
                );
            }
        });
        interrupt
    }

    /// Changes are about to start: from now on an interrupt stops gracefully.
    pub fn start_applying(&self) {
        self.applying.store(true, Ordering::SeqCst);
    }

    /// Raised by the first interrupt while applying.
    pub fn stop_flag(&self) -> &AtomicBool {
        &self.stop
    }
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "Interrupt (Ctrl-C)",
        _ = term.recv() => "SIGTERM",
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Interrupt (Ctrl-C)",
        Err(_) => std::future::pending().await,
    }
}
