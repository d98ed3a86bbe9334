//! A Docker-free local platform (placeholder until its issue lands).
