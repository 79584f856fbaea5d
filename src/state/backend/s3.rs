//! S3 backend (being built).
