//! S3 state backend tests (being built).
