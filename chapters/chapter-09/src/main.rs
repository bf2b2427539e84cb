//! `proglog`: the commit log server, a cluster of one or of many, and its
//! client. All of it is in the library, so that tests run exactly this.

fn main() {}
