//! PostgreSQL state backend tests (being built).
