//! State encryption at rest (being built).
