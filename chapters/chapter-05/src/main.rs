//! `proglog`: the commit log server, and its client. All of it is in the
//! library ([`chapter_05::main`]), so that tests can run exactly this.

fn main() -> std::process::ExitCode {
    chapter_05::main()
}
