//! # Chapter 9: the production cluster
//!
//! The one `proglog` binary: `proglog serve` is a server that is a cluster
//! of one (chapter 5's behaviour, by default) or one server of many
//! (chapters 6-8), and `proglog produce`, `consume`, `bench` and
//! `cluster status` are its client.
