//! Packaging (placeholder until its issue lands).
