//! File backend (being built).
