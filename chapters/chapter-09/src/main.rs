//! `proglog`: the commit log server, a cluster of one or of many, and its
//! client. All of it is in the library ([`chapter_09::main`]), so that
//! tests run exactly this.

fn main() -> std::process::ExitCode {
    chapter_09::main()
}
