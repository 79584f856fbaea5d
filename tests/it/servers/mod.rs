//! Real servers the remote-state tests need, started by the test harness itself on first
//! use (one of each per test binary, on free loopback ports) and stopped when the test
//! process ends: a throwaway PostgreSQL 15 cluster ([`postgres`]) and SeaweedFS's S3 API
//! ([`seaweedfs`]). A server that cannot start fails the test that asked for it, loudly.
//! The same goes for the shells the completion tests load scripts into ([`shells`]).

pub mod postgres;
pub mod seaweedfs;
pub mod shells;
