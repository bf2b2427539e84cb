//! The acceptance suite of proglog-rs.
//!
//! This package holds no code of its own: its tests are the Gherkin scenarios
//! in `features/` (run by `tests/acceptance.rs` with cucumber) and the book's
//! include checker (`tests/book_includes.rs`).
