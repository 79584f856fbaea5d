//! One integration-test binary (as cargo and uv do): each module is a behaviour area.

mod support;

mod client;
mod emulator_basics;
mod emulator_persistence;
mod signing_vectors;
