//! The book's include checker: every `{{#include}}` in `book/src` must resolve.
//!
//! The book never pastes code. It includes it from the chapter crates, by
//! anchor (`{{#include ../../chapters/chapter-01/src/log.rs:append_batch}}`
//! shows the lines between `// ANCHOR: append_batch` and
//! `// ANCHOR_END: append_batch`), so that what a reader sees is code that
//! compiles and passes its tests. But mdBook is forgiving in exactly the way
//! that would let the book drift: an include of a missing file prints an error
//! and the build still succeeds, and an anchor that is not in the file (or has
//! no end) is silently taken as "nothing" or "everything to the end of the
//! file", as is a line range past the end of the file. Rename a file or delete
//! an anchor comment, and a code block in the book quietly empties.
//!
//! So this test reads every Markdown file under `book/src`, finds each
//! `{{#include path}}`, `{{#include path:anchor}}`, `{{#include path:N:M}}`,
//! `{{#rustdoc_include ...}}` and `{{#playground path}}` the way mdBook's
//! link preprocessor does (escaped `\{{#include}}` is text, not an include),
//! resolves the path relative to the page, and fails with a list of every
//! include that does not resolve: a missing file, an anchor without both its
//! `ANCHOR: name` and `ANCHOR_END: name` lines (or with nothing between them),
//! or a line range outside the file.
//!
//! A second check holds the pages to the rules for listings (book/CONTRIBUTING.md),
//! so that a reader can follow a page and trust what it shows:
//!
//! - **Every listing is captioned.** A fenced block that includes a file is
//!   preceded by `<span class="caption">Listing N-M: ...</span>`, where `N`
//!   is the chapter (from the page's name, `chapter-NN.md`), `M` counts the
//!   page's listings from 1, and the text names each included file, in
//!   backticks, relative to the repository root.
//! - **No Rust listing is a wall.** A `rust` block shows at most
//!   [`MAX_RUST_LISTING_LINES`] lines; a longer function is split with more
//!   anchors, and the prose walks through each part.
//! - **Output cannot drift.** A block of output (`text`, no language, and
//!   the lines of a `console` session that are not `$ ` commands) is either
//!   included from `CRATE/tests/output/NAME.txt`, a file that a test in
//!   `CRATE/tests/` names and compares with what the code really prints
//!   (`tests/support/book_output.rs`), or is marked as illustrative in its
//!   info string (`text,illustrative`), which the book's stylesheet shows
//!   the reader. A hand-drawn diagram is `text,diagram`.
//!
//! Pages listed in [`NOT_YET_CONVERTED`] are exempt from the second check.
//!
//! The checker's own tests, below the book tests, build small books in
//! temporary directories and show that each kind of problem is reported.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::fs;
use std::path::{Component, Path, PathBuf};

// The shared rules for output files: where they live, what names them.
#[path = "support/book_output.rs"]
mod book_output;

/// The book's sources, relative to the repository root.
const BOOK_SRC: &str = "book/src";

// The book

/// Every include in the book resolves to a file that exists and to the lines
/// (anchor or range) it names.
#[test]
fn every_include_in_the_book_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = check_book(&root.join(BOOK_SRC));
    assert!(
        report.problems.is_empty(),
        "{} broken include(s) in {BOOK_SRC}:\n{}",
        report.problems.len(),
        report.describe(root),
    );
    // A check of nothing passes: make sure the book was really found.
    assert!(
        report.includes > 0,
        "found no includes under {BOOK_SRC}: has the book moved?"
    );
}

/// Every listing in the book has a numbered caption naming its file, no
/// Rust listing is a wall, and every block of output is included from a
/// file a test checks, or marked as illustrative.
#[test]
fn every_listing_is_captioned_and_every_output_is_checked() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let report = check_listings(&root.join(BOOK_SRC), root);
    assert!(
        report.problems.is_empty(),
        "{} problem(s) with the listings in {BOOK_SRC}:\n{}",
        report.problems.len(),
        report.describe(root),
    );
    assert!(
        report.pages > 0,
        "found no pages to check under {BOOK_SRC}: has the book moved?"
    );
}

/// The pages exempt from the listing rules exist: an exemption for a page
/// that was renamed or removed would silently exempt nothing.
#[test]
fn exempt_pages_exist() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(BOOK_SRC);
    for page in NOT_YET_CONVERTED {
        assert!(
            src.join(page).is_file(),
            "{page} is exempt but not in {BOOK_SRC}"
        );
    }
}

// The checker

/// What checking a book found.
#[derive(Debug, Default)]
struct Report {
    /// How many include directives (or, for the listing rules, how many
    /// listings) were checked.
    includes: usize,
    /// How many pages the listing rules were applied to.
    pages: usize,
    /// Every one that does not resolve, and every page that could not be read.
    problems: Vec<Problem>,
}

impl Report {
    /// One line per problem, with paths relative to `root` where possible.
    fn describe(&self, root: &Path) -> String {
        self.problems
            .iter()
            .map(|problem| format!("  - {}\n", problem.render(root)))
            .collect()
    }
}

/// One include that does not resolve (or one page that could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    /// The Markdown page.
    page: PathBuf,
    /// The 1-based line of the page where the directive starts (0: the page
    /// itself could not be read).
    line: usize,
    /// The directive as written, or empty for a page that could not be read.
    directive: String,
    /// What is wrong, in a sentence.
    message: String,
}

impl Problem {
    /// The problem in one line, `page:line: directive: message`, with paths
    /// shown relative to `root`.
    fn render(&self, root: &Path) -> String {
        let page = self.page.strip_prefix(root).unwrap_or(&self.page).display();
        let message = self.message.replace(&format!("{}/", root.display()), "");
        if self.directive.is_empty() {
            format!("{page}: {message}")
        } else {
            format!("{page}:{}: {}: {message}", self.line, self.directive)
        }
    }
}

/// An include directive found in a page.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Include {
    /// The 1-based line of the page where it starts.
    line: usize,
    /// The directive as written, braces and all.
    directive: String,
    /// The file, as written: relative to the page's directory.
    path: String,
    /// Which lines of the file it takes.
    part: Part,
}

/// The part of a file an include takes, as mdBook reads `path:...`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// `path`, `path:` or `path::`: the whole file.
    Whole,
    /// `path:name`: the lines between `ANCHOR: name` and `ANCHOR_END: name`.
    Anchor(String),
    /// `path:N` (line N), `path:N:M` (lines N to M), `path:N:` (N to the
    /// end), `path::M` (the start to M). Line numbers start at 1 and both
    /// ends are included.
    Lines {
        first: Option<usize>,
        last: Option<usize>,
    },
}

/// Checks every Markdown page under `src` (recursively).
fn check_book(src: &Path) -> Report {
    let mut report = Report::default();
    let mut pages = Vec::new();
    if let Err(message) = markdown_files(src, &mut pages) {
        report.problems.push(Problem {
            page: src.to_path_buf(),
            line: 0,
            directive: String::new(),
            message,
        });
    }
    pages.sort();
    for page in pages {
        match fs::read_to_string(&page) {
            Ok(markdown) => {
                let (includes, problems) = check_page(&page, &markdown);
                report.includes += includes;
                report.problems.extend(problems);
            }
            Err(error) => report.problems.push(Problem {
                page,
                line: 0,
                directive: String::new(),
                message: format!("cannot read the page: {error}"),
            }),
        }
    }
    report
}

/// Checks the includes of one page; returns how many there were and what is
/// wrong with them.
fn check_page(page: &Path, markdown: &str) -> (usize, Vec<Problem>) {
    let base = page.parent().unwrap_or(Path::new(""));
    let includes = find_includes(markdown);
    let problems = includes
        .iter()
        .filter_map(|include| {
            check_include(base, include).err().map(|message| Problem {
                page: page.to_path_buf(),
                line: include.line,
                directive: include.directive.clone(),
                message,
            })
        })
        .collect();
    (includes.len(), problems)
}

/// Checks that one include resolves, relative to the page's directory `base`.
fn check_include(base: &Path, include: &Include) -> Result<(), String> {
    let target = normalize(&base.join(&include.path));
    let source = fs::read_to_string(&target)
        .map_err(|error| format!("cannot read {}: {error}", target.display()))?;
    let checked = match &include.part {
        Part::Whole => Ok(()),
        Part::Anchor(name) => check_anchor(&source, name),
        Part::Lines { first, last } => check_lines(&source, *first, *last),
    };
    checked.map_err(|problem| format!("in {}: {problem}", target.display()))
}

/// Checks that `source` has `ANCHOR: name`, then `ANCHOR_END: name`, with at
/// least one line between them, as mdBook's `take_anchored_lines` reads them.
fn check_anchor(source: &str, name: &str) -> Result<(), String> {
    let lines: Vec<&str> = source.lines().collect();
    let Some(start) = lines
        .iter()
        .position(|line| anchor_name(line, "ANCHOR:") == Some(name))
    else {
        return Err(format!(
            "anchor `{name}` not found: no `ANCHOR: {name}` line (an anchor needs both `ANCHOR: {name}` and `ANCHOR_END: {name}` lines)"
        ));
    };
    let Some(length) = lines[start + 1..]
        .iter()
        .position(|line| anchor_name(line, "ANCHOR_END:") == Some(name))
    else {
        return Err(format!(
            "anchor `{name}` has no end: no `ANCHOR_END: {name}` line after `ANCHOR: {name}` (line {})",
            start + 1
        ));
    };
    // mdBook drops the marker lines of other anchors nested inside this one.
    let shown = lines[start + 1..start + 1 + length]
        .iter()
        .filter(|line| {
            anchor_name(line, "ANCHOR:").is_none() && anchor_name(line, "ANCHOR_END:").is_none()
        })
        .count();
    if shown == 0 {
        return Err(format!(
            "anchor `{name}` is empty: nothing between lines {} and {}",
            start + 1,
            start + 2 + length
        ));
    }
    Ok(())
}

/// The anchor a line names after `marker` (`ANCHOR:` or `ANCHOR_END:`),
/// anywhere in the line: mdBook's `MARKER\s*([\w_-]+)`.
fn anchor_name<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.match_indices(marker).find_map(|(at, _)| {
        let rest = line[at + marker.len()..].trim_start();
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        (end > 0).then(|| &rest[..end])
    })
}

/// Checks that lines `first..=last` (1-based; `None` for an open end) are in
/// a file of `source` and are not an empty range.
fn check_lines(source: &str, first: Option<usize>, last: Option<usize>) -> Result<(), String> {
    let count = source.lines().count();
    let range = match (first, last) {
        (Some(first), Some(last)) if first == last => format!("line {first}"),
        (Some(first), Some(last)) => format!("lines {first} to {last}"),
        (Some(first), None) => format!("lines {first} to the end"),
        (None, Some(last)) => format!("lines 1 to {last}"),
        (None, None) => return Ok(()),
    };
    if first == Some(0) || last == Some(0) {
        return Err(format!("{range}: line numbers start at 1"));
    }
    if let Some(first) = first
        && first > count
    {
        return Err(format!(
            "{range}: starts past the end of the file, which has {count} lines"
        ));
    }
    if let Some(last) = last
        && last > count
    {
        return Err(format!(
            "{range}: ends past the end of the file, which has {count} lines"
        ));
    }
    if let (Some(first), Some(last)) = (first, last)
        && last < first
    {
        return Err(format!("{range}: the range is empty"));
    }
    Ok(())
}

/// Finds the include directives in a page the way mdBook's link preprocessor
/// does: `{{` `\s*` `#type` `\s+` `args` `}}`, where `args` holds no `}` and
/// its first word is the path, unless escaped as `\{{#...}}` (to the last
/// `}}` on that line).
fn find_includes(markdown: &str) -> Vec<Include> {
    let bytes = markdown.as_bytes();
    let mut includes = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        if let Some(end) = escaped_end(markdown, at) {
            at = end;
            continue;
        }
        let Some((end, kind, args)) = directive_at(markdown, at) else {
            at += 1;
            continue;
        };
        let path_and_part = args.split_whitespace().next();
        if let (Some(path_and_part), "include" | "rustdoc_include" | "playground" | "playpen") =
            (path_and_part, kind)
        {
            let (path, part) = match kind {
                // `playground` takes the whole file; what follows are attributes.
                "playground" | "playpen" => (path_and_part, Part::Whole),
                _ => split_part(path_and_part),
            };
            includes.push(Include {
                line: 1 + markdown[..at].matches('\n').count(),
                directive: markdown[at..end].to_string(),
                path: path.to_string(),
                part,
            });
        }
        at = end;
    }
    includes
}

/// If an escaped directive `\{{#...}}` starts at `at`, where it ends.
fn escaped_end(markdown: &str, at: usize) -> Option<usize> {
    let rest = markdown.get(at..)?;
    if !rest.starts_with("\\{{#") {
        return None;
    }
    let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
    let close = line.get(4..)?.rfind("}}")?;
    Some(at + 4 + close + 2)
}

/// If a directive `{{ #kind args}}` starts at `at`: where it ends, its kind
/// and its arguments.
fn directive_at(markdown: &str, at: usize) -> Option<(usize, &str, &str)> {
    let bytes = markdown.as_bytes();
    if !markdown.get(at..)?.starts_with("{{") {
        return None;
    }
    let mut i = at + 2;
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if bytes.get(i) != Some(&b'#') {
        return None;
    }
    let kind_start = i + 1;
    i = kind_start;
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        i += 1;
    }
    let kind_end = i;
    while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    if kind_end == kind_start || i == kind_end {
        return None;
    }
    // `\s+([^}]+)\}\}`: arguments up to the first `}`, which must be `}}`.
    // (Arguments of only whitespace name no file, so they are no include.)
    let args_start = i;
    let close = args_start + markdown.get(args_start..)?.find('}')?;
    if close == args_start || !markdown.get(close..)?.starts_with("}}") {
        return None;
    }
    Some((
        close + 2,
        &markdown[kind_start..kind_end],
        &markdown[args_start..close],
    ))
}

/// Splits `path:...` into the path and the part, as mdBook's
/// `parse_range_or_anchor` does.
fn split_part(path_and_part: &str) -> (&str, Part) {
    let Some((path, spec)) = path_and_part.split_once(':') else {
        return (path_and_part, Part::Whole);
    };
    let mut pieces = spec.splitn(3, ':');
    let first = match pieces.next().unwrap_or("") {
        "" => None,
        text => match text.parse::<usize>() {
            Ok(n) => Some(n),
            Err(_) => return (path, Part::Anchor(text.to_string())),
        },
    };
    let part = match (first, pieces.next().map(str::parse::<usize>)) {
        (Some(first), Some(Ok(last))) => Part::Lines {
            first: Some(first),
            last: Some(last),
        },
        (Some(first), Some(Err(_))) => Part::Lines {
            first: Some(first),
            last: None,
        },
        (Some(first), None) => Part::Lines {
            first: Some(first),
            last: Some(first),
        },
        (None, Some(Ok(last))) => Part::Lines {
            first: None,
            last: Some(last),
        },
        (None, None | Some(Err(_))) => Part::Whole,
    };
    (path, part)
}

/// Collects the `.md` files under `dir`, recursively.
fn markdown_files(dir: &Path, pages: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = fs::read_dir(dir)
        .map_err(|error| format!("cannot list the directory {}: {error}", dir.display()))?;
    for entry in entries {
        let path = entry
            .map_err(|error| format!("cannot list the directory {}: {error}", dir.display()))?
            .path();
        if path.is_dir() {
            markdown_files(&path, pages)?;
        } else if path.extension().is_some_and(|extension| extension == "md") {
            pages.push(path);
        }
    }
    Ok(())
}

/// Removes `.` and `..` from a path without touching the file system, so a
/// message names `chapters/chapter-01/src/log.rs`, not
/// `book/src/../../chapters/...`.
fn normalize(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !normal.pop() {
                    normal.push("..");
                }
            }
            other => normal.push(other),
        }
    }
    normal
}

// The listings and the output they show

/// Pages that do not follow the listing rules yet. Every page does today
/// (chapter 1's was the last, converted in issue 11); a page being written
/// may be listed here for a while. Remove a page from here once it is
/// converted; the test `exempt_pages_exist` fails if one of them is gone.
const NOT_YET_CONVERTED: &[&str] = &[];

/// The most lines a listing of Rust may show: a longer one is split with
/// more anchors, so that prose can walk through each part.
const MAX_RUST_LISTING_LINES: usize = 40;

/// The word in a fence's info string that marks its output as illustrative:
/// ```` ```text,illustrative ````. The book's stylesheet labels such blocks
/// for the reader (`book/listings.css`).
const ILLUSTRATIVE: &str = "illustrative";

/// The word in a fence's info string that marks a text block as a diagram:
/// drawn by hand, not output of a program.
const DIAGRAM: &str = "diagram";

/// Languages whose blocks hold output (no language at all counts too).
const OUTPUT_LANGUAGES: &[&str] = &["", "text", "txt", "output", "log", "plain", "plaintext"];

/// Languages whose blocks are a terminal session: `$ ` lines are commands,
/// every other line is output. (`sh`, `bash` and `shell` blocks are scripts
/// unless one of their lines starts with `$ `.)
const SESSION_LANGUAGES: &[&str] = &["console", "shell-session"];
const SCRIPT_LANGUAGES: &[&str] = &["sh", "bash", "shell"];

/// A fenced code block of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fence {
    /// The 1-based line of the opening fence.
    line: usize,
    /// The info string: `rust,ignore`, `text,illustrative`, ...
    info: String,
    /// The lines between the fences, as written.
    body: Vec<String>,
}

impl Fence {
    /// The language: the info string's first word, lower case.
    fn language(&self) -> String {
        self.words().first().cloned().unwrap_or_default()
    }

    /// Whether the info string carries `word` after the language.
    fn has(&self, word: &str) -> bool {
        self.words().iter().skip(1).any(|w| w == word)
    }

    fn words(&self) -> Vec<String> {
        self.info
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|word| !word.is_empty())
            .map(str::to_lowercase)
            .collect()
    }
}

/// The fenced code blocks of a page (```` ``` ```` or `~~~`, indented or
/// not, as in list items); an unclosed fence runs to the end of the page.
fn find_fences(markdown: &str) -> Vec<Fence> {
    let mut fences = Vec::new();
    let mut open: Option<(char, usize, Fence)> = None;
    for (number, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |c| trimmed.chars().take_while(|x| *x == c).count());
        match &mut open {
            None => {
                if let Some(c) = marker
                    && run >= 3
                {
                    let info = trimmed[run..].trim().to_string();
                    let fence = Fence {
                        line: number + 1,
                        info,
                        body: Vec::new(),
                    };
                    open = Some((c, run, fence));
                }
            }
            Some((c, length, fence)) => {
                if marker == Some(*c) && run >= *length && trimmed[run..].trim().is_empty() {
                    let (_, _, fence) = open.take().unwrap_or_else(|| unreachable!());
                    fences.push(fence);
                } else {
                    fence.body.push(line.to_string());
                }
            }
        }
    }
    if let Some((_, _, fence)) = open {
        fences.push(fence);
    }
    fences
}

/// The chapter number of a page named `chapter-NN.md`.
fn chapter_number(page: &Path) -> Option<u32> {
    page.file_stem()?
        .to_str()?
        .strip_prefix("chapter-")?
        .parse()
        .ok()
}

/// A caption line, `<span class="caption">Listing N-M: ...</span>`: its
/// numbers and its text.
fn caption(line: &str) -> Option<(u32, u32, &str)> {
    let text = line
        .trim()
        .strip_prefix("<span class=\"caption\">Listing ")?
        .strip_suffix("</span>")?;
    let (numbers, _) = text.split_once(':')?;
    let (chapter, listing) = numbers.split_once('-')?;
    Some((chapter.parse().ok()?, listing.parse().ok()?, text))
}

/// Checks the listings of every converted page under `src` (see the
/// module's documentation): captions, output that is checked or marked, and
/// the length of Rust listings. Paths in captions are relative to `root`.
fn check_listings(src: &Path, root: &Path) -> Report {
    check_listings_except(src, root, NOT_YET_CONVERTED)
}

/// [`check_listings`], exempting the pages named in `exempt`.
fn check_listings_except(src: &Path, root: &Path, exempt: &[&str]) -> Report {
    let mut report = Report::default();
    let mut pages = Vec::new();
    if let Err(message) = markdown_files(src, &mut pages) {
        report.problems.push(Problem {
            page: src.to_path_buf(),
            line: 0,
            directive: String::new(),
            message,
        });
    }
    pages.sort();
    for page in pages {
        let exempt = page
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| exempt.contains(&name));
        if exempt {
            continue;
        }
        match fs::read_to_string(&page) {
            Ok(markdown) => {
                let (listings, problems) = check_page_listings(&page, &markdown, root);
                report.pages += 1;
                report.includes += listings;
                report.problems.extend(problems);
            }
            Err(error) => report.problems.push(Problem {
                page,
                line: 0,
                directive: String::new(),
                message: format!("cannot read the page: {error}"),
            }),
        }
    }
    report
}

/// Checks the fences of one page; returns how many listings (fences with an
/// include) it has, and what is wrong.
fn check_page_listings(page: &Path, markdown: &str, root: &Path) -> (usize, Vec<Problem>) {
    let base = page.parent().unwrap_or(Path::new(""));
    let lines: Vec<&str> = markdown.lines().collect();
    let chapter = chapter_number(page);
    let mut problems = Vec::new();
    let mut listings = 0;
    for fence in find_fences(markdown) {
        let mut problem = |message: String| {
            problems.push(Problem {
                page: page.to_path_buf(),
                line: fence.line,
                directive: format!("```{}", fence.info),
                message,
            })
        };
        let includes: Vec<(usize, Include)> = fence
            .body
            .iter()
            .enumerate()
            .flat_map(|(n, line)| find_includes(line).into_iter().map(move |i| (n, i)))
            .collect();
        let targets: Vec<PathBuf> = includes
            .iter()
            .map(|(_, include)| normalize(&base.join(&include.path)))
            .collect();

        // Every listing has a numbered caption naming its files.
        if !includes.is_empty() {
            listings += 1;
            let before = lines[..fence.line - 1]
                .iter()
                .rev()
                .find(|line| !line.trim().is_empty());
            match before.and_then(|line| caption(line)) {
                None => problem(format!(
                    "a listing without a caption: the line before it must be \
                     `<span class=\"caption\">Listing {}-{listings}: `FILE` ...</span>`",
                    chapter.map_or("N".to_string(), |n| n.to_string())
                )),
                Some((number, listing, text)) => {
                    if chapter.is_some_and(|chapter| chapter != number)
                        || listing != listings as u32
                    {
                        problem(format!(
                            "caption \"Listing {number}-{listing}\": expected Listing {}-{listings} \
                             (listings are numbered in order, from 1, by chapter)",
                            chapter.unwrap_or(number)
                        ));
                    }
                    for target in &targets {
                        let shown = target.strip_prefix(root).unwrap_or(target);
                        let named = format!("`{}`", shown.display());
                        if !text.contains(&named) {
                            problem(format!(
                                "the caption \"{text}\" does not name the file it shows, {named}"
                            ));
                        }
                    }
                }
            }
        }

        // A Rust listing is short enough to be walked through.
        if fence.language() == "rust" {
            let shown: usize = includes
                .iter()
                .zip(&targets)
                .filter_map(|((_, include), target)| shown_lines(target, &include.part))
                .sum();
            if shown > MAX_RUST_LISTING_LINES {
                problem(format!(
                    "a Rust listing of {shown} lines: split it with more anchors, at most \
                     {MAX_RUST_LISTING_LINES} lines each, and walk through each part"
                ));
            }
        }

        // Output is included from a checked file, or marked.
        if fence.has(ILLUSTRATIVE) || fence.has(DIAGRAM) {
            continue;
        }
        let language = fence.language();
        let session = SESSION_LANGUAGES.contains(&language.as_str())
            || (SCRIPT_LANGUAGES.contains(&language.as_str())
                && fence
                    .body
                    .iter()
                    .any(|line| line.trim_start().starts_with("$ ")));
        if !session && !OUTPUT_LANGUAGES.contains(&language.as_str()) {
            continue; // code, a script, a configuration file
        }
        let mut continued = false;
        let mut unchecked = 0;
        for (n, line) in fence.body.iter().enumerate() {
            let text = line.trim();
            let command = session && (continued || text.starts_with("$ ") || text == "$");
            continued = command && text.ends_with('\\');
            if text.is_empty() || command {
                continue;
            }
            let included: Vec<&PathBuf> = includes
                .iter()
                .zip(&targets)
                .filter(|((at, _), _)| *at == n)
                .map(|(_, target)| target)
                .collect();
            if included.is_empty() {
                unchecked += 1;
            }
            for target in included {
                if let Err(message) = check_output_file(target) {
                    problem(message);
                }
            }
        }
        if unchecked > 0 {
            problem(format!(
                "{unchecked} line(s) of output typed into the page: include the output from a \
                 file under a crate's `tests/output/` that a test compares with the real output \
                 (tests/support/book_output.rs), or mark the block `{language},{ILLUSTRATIVE}`"
            ));
        }
    }
    (listings, problems)
}

/// Checks that an included file of output is one a test checks: it is
/// `CRATE/tests/output/NAME.txt`, and a test file of `CRATE/tests/` names
/// it (`"NAME"`).
fn check_output_file(target: &Path) -> Result<(), String> {
    let not_checked = |why: &str| {
        format!(
            "{} is shown as output, but {why}: output comes from `CRATE/tests/output/NAME.txt`, \
             which a test in `CRATE/tests/` compares with what the code prints",
            target.display()
        )
    };
    let dir = target
        .parent()
        .ok_or_else(|| not_checked("it has no directory"))?;
    if !dir.ends_with(book_output::OUTPUT_DIR)
        || target.extension().and_then(|e| e.to_str()) != Some(book_output::OUTPUT_EXTENSION)
    {
        return Err(not_checked("it is not in a `tests/output/` directory"));
    }
    let name = target
        .file_stem()
        .and_then(|stem| stem.to_str())
        .ok_or_else(|| not_checked("its name is not text"))?;
    let tests = dir
        .parent()
        .ok_or_else(|| not_checked("it has no tests/ directory"))?;
    let quoted = format!("\"{name}\"");
    let named = fs::read_dir(tests)
        .map_err(|error| not_checked(&format!("{} cannot be listed: {error}", tests.display())))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .any(|path| fs::read_to_string(path).is_ok_and(|text| text.contains(&quoted)));
    if !named {
        return Err(not_checked(&format!(
            "no test in {} names it ({quoted})",
            tests.display()
        )));
    }
    Ok(())
}

/// How many lines an include shows (`None` if the file cannot be read).
fn shown_lines(target: &Path, part: &Part) -> Option<usize> {
    let source = fs::read_to_string(target).ok()?;
    let lines: Vec<&str> = source.lines().collect();
    let marker = |line: &&&str| {
        anchor_name(line, "ANCHOR:").is_some() || anchor_name(line, "ANCHOR_END:").is_some()
    };
    Some(match part {
        Part::Whole => lines.iter().filter(|line| !marker(line)).count(),
        Part::Anchor(name) => {
            let start = lines
                .iter()
                .position(|line| anchor_name(line, "ANCHOR:") == Some(name))?;
            let length = lines[start + 1..]
                .iter()
                .position(|line| anchor_name(line, "ANCHOR_END:") == Some(name))?;
            lines[start + 1..start + 1 + length]
                .iter()
                .filter(|line| !marker(line))
                .count()
        }
        Part::Lines { first, last } => {
            let first = first.unwrap_or(1);
            let last = last.unwrap_or(lines.len());
            (last + 1).saturating_sub(first)
        }
    })
}

// The checker's own tests

/// A small book in a temporary directory: `src/` holding pages, beside a
/// `code/` directory holding files to include.
struct Book {
    dir: tempfile::TempDir,
}

// Test scaffolding: a temporary book that cannot be built is a failed test.
#[allow(clippy::expect_used)]
impl Book {
    fn new() -> Book {
        let book = Book {
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        book.file(
            "code/lib.rs",
            "fn before() {}\n\
             // ANCHOR: greet\n\
             fn greet() {}\n\
             // ANCHOR_END: greet\n\
             // ANCHOR: open\n\
             fn open() {}\n\
             // ANCHOR: empty\n\
             // ANCHOR_END: empty\n",
        );
        book
    }

    fn file(&self, path: &str, contents: &str) -> &Book {
        let path = self.dir.path().join(path);
        fs::create_dir_all(path.parent().expect("a parent directory"))
            .expect("creating a directory");
        fs::write(&path, contents).expect("writing a file");
        self
    }

    fn page(&self, name: &str, markdown: &str) -> &Book {
        self.file(&format!("src/{name}"), markdown)
    }

    fn check(&self) -> Report {
        check_book(&self.dir.path().join("src"))
    }

    /// The problems, one line each, paths relative to the book.
    fn problems(&self) -> Vec<String> {
        let report = self.check();
        report
            .problems
            .iter()
            .map(|problem| problem.render(self.dir.path()))
            .collect()
    }
}

/// Whole files, anchors, line ranges and rustdoc includes that exist pass.
#[test]
fn accepts_includes_that_resolve() {
    let book = Book::new();
    book.page(
        "page.md",
        "```rust,ignore\n\
         {{#include ../code/lib.rs}}\n\
         {{#include ../code/lib.rs:greet}}\n\
         {{#include ../code/lib.rs:2:4}}\n\
         {{#include ../code/lib.rs:3}}\n\
         {{#include ../code/lib.rs:5:}}\n\
         {{#include ../code/lib.rs::8}}\n\
         {{#rustdoc_include ../code/lib.rs:greet}}\n\
         {{ #include ../code/lib.rs }}\n\
         ```\n",
    );
    let report = book.check();
    assert_eq!(report.includes, 8);
    assert_eq!(book.problems(), Vec::<String>::new());
}

/// An include of a file that does not exist is reported with the page, the
/// line and the directive.
#[test]
fn reports_a_missing_file() {
    let book = Book::new();
    book.page(
        "page.md",
        "# A page\n\n```rust,ignore\n{{#include ../code/gone.rs:greet}}\n```\n",
    );
    let problems = book.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "src/page.md:4: {{#include ../code/gone.rs:greet}}: cannot read code/gone.rs: "
        ),
        "{}",
        problems[0]
    );
}

/// An anchor the file does not have is reported, naming the anchor.
#[test]
fn reports_a_missing_anchor() {
    let book = Book::new();
    book.page("page.md", "{{#include ../code/lib.rs:farewell}}\n");
    let problems = book.problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].ends_with(
            "in code/lib.rs: anchor `farewell` not found: no `ANCHOR: farewell` line \
             (an anchor needs both `ANCHOR: farewell` and `ANCHOR_END: farewell` lines)"
        ),
        "{}",
        problems[0]
    );
}

/// An anchor that starts but never ends (mdBook would take the rest of the
/// file) and an anchor with nothing in it are reported.
#[test]
fn reports_an_anchor_without_an_end_or_without_lines() {
    let book = Book::new();
    book.page(
        "page.md",
        "{{#include ../code/lib.rs:open}}\n{{#rustdoc_include ../code/lib.rs:empty}}\n",
    );
    let problems = book.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains(
            "anchor `open` has no end: no `ANCHOR_END: open` line after `ANCHOR: open` (line 5)"
        ),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains("anchor `empty` is empty"),
        "{}",
        problems[1]
    );
}

/// Line ranges past the end of the file, or empty, or from line 0 are
/// reported; the file has 8 lines.
#[test]
fn reports_a_line_range_beyond_the_file() {
    let book = Book::new();
    book.page(
        "page.md",
        "{{#include ../code/lib.rs:3:9}}\n\
         {{#include ../code/lib.rs:9}}\n\
         {{#include ../code/lib.rs:12:}}\n\
         {{#include ../code/lib.rs:5:4}}\n\
         {{#include ../code/lib.rs:0:2}}\n",
    );
    let problems = book.problems();
    let expected = [
        "src/page.md:1: {{#include ../code/lib.rs:3:9}}: in code/lib.rs: lines 3 to 9: ends past the end of the file, which has 8 lines",
        "src/page.md:2: {{#include ../code/lib.rs:9}}: in code/lib.rs: line 9: starts past the end of the file, which has 8 lines",
        "src/page.md:3: {{#include ../code/lib.rs:12:}}: in code/lib.rs: lines 12 to the end: starts past the end of the file, which has 8 lines",
        "src/page.md:4: {{#include ../code/lib.rs:5:4}}: in code/lib.rs: lines 5 to 4: the range is empty",
        "src/page.md:5: {{#include ../code/lib.rs:0:2}}: in code/lib.rs: lines 0 to 2: line numbers start at 1",
    ];
    assert_eq!(problems, expected);
}

/// Every problem in every page is reported, not just the first; pages in
/// subdirectories resolve paths from their own directory.
#[test]
fn reports_every_problem_in_every_page() {
    let book = Book::new();
    book.page(
        "a.md",
        "{{#include ../code/lib.rs:nope}}\n{{#include ../code/lib.rs:greet}}\n",
    )
    .page(
        "part/b.md",
        "{{#include ../../code/lib.rs:greet}}\n{{#include ../code/lib.rs}}\n",
    )
    .file("src/notes.txt", "{{#include nowhere.rs}}\n");
    let report = book.check();
    assert_eq!(report.includes, 4);
    let problems = book.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("src/a.md:1: "), "{}", problems[0]);
    assert!(
        problems[1].starts_with("src/part/b.md:2: "),
        "{}",
        problems[1]
    );
}

/// Escaped directives and other helpers are text, not includes.
#[test]
fn ignores_escaped_includes_and_other_helpers() {
    let markdown = "Write `\\{{#include file.rs:anchor}}` to include.\n\
                    {{#title A title}}\n\
                    {{#include\n  real.rs:anchor   }}\n\
                    {{#playground example.rs editable}}\n";
    let includes = find_includes(markdown);
    assert_eq!(
        includes,
        vec![
            Include {
                line: 3,
                directive: "{{#include\n  real.rs:anchor   }}".to_string(),
                path: "real.rs".to_string(),
                part: Part::Anchor("anchor".to_string()),
            },
            Include {
                line: 5,
                directive: "{{#playground example.rs editable}}".to_string(),
                path: "example.rs".to_string(),
                part: Part::Whole,
            },
        ]
    );
}

/// `path:...` is read as mdBook reads it.
#[test]
fn reads_anchors_and_ranges_as_mdbook_does() {
    let lines = |first, last| Part::Lines { first, last };
    let cases = [
        ("f.rs", Part::Whole),
        ("f.rs:", Part::Whole),
        ("f.rs::", Part::Whole),
        ("f.rs:name", Part::Anchor("name".to_string())),
        ("f.rs:name:3", Part::Anchor("name".to_string())),
        ("f.rs:4", lines(Some(4), Some(4))),
        ("f.rs:4:7", lines(Some(4), Some(7))),
        ("f.rs:4:", lines(Some(4), None)),
        ("f.rs::7", lines(None, Some(7))),
    ];
    for (text, part) in cases {
        assert_eq!(split_part(text), ("f.rs", part), "{text}");
    }
}

/// Anchor markers are found anywhere in a line, as mdBook's regex finds them.
#[test]
fn finds_anchor_markers_in_any_comment_style() {
    assert_eq!(
        anchor_name("    // ANCHOR: append", "ANCHOR:"),
        Some("append")
    );
    assert_eq!(anchor_name("# ANCHOR:config", "ANCHOR:"), Some("config"));
    assert_eq!(
        anchor_name("<!-- ANCHOR_END: a-b_c -->", "ANCHOR_END:"),
        Some("a-b_c")
    );
    assert_eq!(anchor_name("// ANCHOR_END: append", "ANCHOR:"), None);
    assert_eq!(
        anchor_name("// ANCHOR: append_batch", "ANCHOR:"),
        Some("append_batch")
    );
}

// The listing rules' own tests

impl Book {
    /// The listing problems, one line each, paths relative to the book.
    fn listing_problems(&self) -> Vec<String> {
        check_listings(&self.dir.path().join("src"), self.dir.path())
            .problems
            .iter()
            .map(|problem| problem.render(self.dir.path()))
            .collect()
    }

    /// A crate `code/` with an output file `tests/output/NAME.txt` that the
    /// test `tests/out.rs` names.
    fn checked_output(&self, name: &str) -> &Book {
        self.file(&format!("code/tests/output/{name}.txt"), "some output\n")
            .file(
                "code/tests/out.rs",
                &format!("fn t() {{ assert_output(\"{name}\", \"some output\"); }}\n"),
            )
    }
}

/// Captioned listings, output included from checked files, command lines,
/// illustrative output, diagrams and pasted configuration all pass.
#[test]
fn accepts_captioned_listings_and_checked_output() {
    let book = Book::new();
    book.checked_output("greeting").page(
        "chapter-07.md",
        "# Seven\n\n\
         <span class=\"caption\">Listing 7-1: `code/lib.rs`, a greeting</span>\n\n\
         ```rust,ignore\n{{#include ../code/lib.rs:greet}}\n```\n\n\
         <span class=\"caption\">Listing 7-2: what `code/tests/output/greeting.txt` holds</span>\n\n\
         ```console\n$ cargo run \\\n    --release\n{{#include ../code/tests/output/greeting.txt}}\n```\n\n\
         ```console\n$ cargo test -p seven\n```\n\n\
         ```text,illustrative\n2026-01-01 a log line from one run\n```\n\n\
         ```text,diagram\nclient ──▶ server\n```\n\n\
         ```toml\nkey = \"value\"\n```\n\n\
         ```sh\nmake certs\n```\n",
    );
    assert_eq!(book.listing_problems(), Vec::<String>::new());
}

/// A listing without a caption, with a caption out of order, or with one
/// that does not name its file is reported.
#[test]
fn reports_listings_without_a_proper_caption() {
    let book = Book::new();
    book.page(
        "chapter-07.md",
        "```rust,ignore\n{{#include ../code/lib.rs:greet}}\n```\n\n\
         <span class=\"caption\">Listing 7-3: `code/lib.rs`</span>\n\n\
         ```rust,ignore\n{{#include ../code/lib.rs:greet}}\n```\n\n\
         <span class=\"caption\">Listing 6-3: the greeting</span>\n\n\
         ```rust,ignore\n{{#include ../code/lib.rs:greet}}\n```\n",
    );
    let problems = book.listing_problems();
    let expected = [
        "src/chapter-07.md:1: ```rust,ignore: a listing without a caption: the line before it must be `<span class=\"caption\">Listing 7-1: `FILE` ...</span>`",
        "src/chapter-07.md:7: ```rust,ignore: caption \"Listing 7-3\": expected Listing 7-2 (listings are numbered in order, from 1, by chapter)",
        "src/chapter-07.md:13: ```rust,ignore: caption \"Listing 6-3\": expected Listing 7-3 (listings are numbered in order, from 1, by chapter)",
        "src/chapter-07.md:13: ```rust,ignore: the caption \"6-3: the greeting\" does not name the file it shows, `code/lib.rs`",
    ];
    assert_eq!(problems, expected);
}

/// Output typed into a page is reported: in a text block, in a block with
/// no language, and as the output lines of a console session or of a shell
/// block with prompts.
#[test]
fn reports_output_typed_into_the_page() {
    let book = Book::new();
    book.page(
        "chapter-07.md",
        "```text\nerror: something\n```\n\n\
         ```\nplain\n```\n\n\
         ```console\n$ proglog produce hello\n0\n```\n\n\
         ```sh\n$ ls\nCargo.toml\n```\n",
    );
    let problems = book.listing_problems();
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("src/chapter-07.md:1: ```text: 1 line(s) of output typed into the page"),
        "{}",
        problems[0]
    );
    assert!(problems[1].starts_with("src/chapter-07.md:5: ```: 1 line(s)"));
    assert!(
        problems[2].starts_with("src/chapter-07.md:9: ```console: 1 line(s)")
            && problems[2].ends_with("or mark the block `console,illustrative`"),
        "{}",
        problems[2]
    );
    assert!(problems[3].starts_with("src/chapter-07.md:14: ```sh: 1 line(s)"));
}

/// An included file shown as output must be a `tests/output/*.txt` file
/// that a test names; anything else is reported.
#[test]
fn reports_output_that_no_test_checks() {
    let book = Book::new();
    book.checked_output("named")
        .file("code/tests/output/orphan.txt", "nobody compares me\n")
        .page(
            "chapter-07.md",
            "<span class=\"caption\">Listing 7-1: `code/tests/output/orphan.txt`</span>\n\n\
             ```text\n{{#include ../code/tests/output/orphan.txt}}\n```\n\n\
             <span class=\"caption\">Listing 7-2: `code/lib.rs`</span>\n\n\
             ```text\n{{#include ../code/lib.rs}}\n```\n\n\
             <span class=\"caption\">Listing 7-3: `code/tests/output/named.txt`</span>\n\n\
             ```text\n{{#include ../code/tests/output/named.txt}}\nand a line typed by hand\n```\n",
        );
    let problems = book.listing_problems();
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].contains("code/tests/output/orphan.txt is shown as output, but no test in code/tests names it (\"orphan\")"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].contains(
            "code/lib.rs is shown as output, but it is not in a `tests/output/` directory"
        ),
        "{}",
        problems[1]
    );
    assert!(
        problems[2].contains("1 line(s) of output typed into the page"),
        "{}",
        problems[2]
    );
}

/// A Rust listing over the limit is reported, counting only the lines
/// mdBook shows; a long listing in another language is not.
#[test]
fn reports_a_rust_listing_that_is_a_wall() {
    let book = Book::new();
    let long: String = (0..MAX_RUST_LISTING_LINES + 1)
        .map(|n| format!("let x{n} = {n};\n"))
        .collect();
    book.file(
        "code/long.rs",
        &format!(
            "// ANCHOR: long\n// ANCHOR: inner\n{long}// ANCHOR_END: inner\n// ANCHOR_END: long\n"
        ),
    )
    .page(
        "chapter-07.md",
        "<span class=\"caption\">Listing 7-1: `code/long.rs`</span>\n\n\
         ```rust,ignore\n{{#include ../code/long.rs:long}}\n```\n\n\
         <span class=\"caption\">Listing 7-2: `code/long.rs`</span>\n\n\
         ```text,illustrative\n{{#include ../code/long.rs:long}}\n```\n",
    );
    assert_eq!(
        book.listing_problems(),
        [format!(
            "src/chapter-07.md:3: ```rust,ignore: a Rust listing of {} lines: split it with more anchors, at most {MAX_RUST_LISTING_LINES} lines each, and walk through each part",
            MAX_RUST_LISTING_LINES + 1
        )]
    );
}

/// Pages not yet converted are not held to the listing rules; the others are.
#[test]
fn skips_pages_not_yet_converted() {
    let book = Book::new();
    book.page("chapter-08.md", "```text\ntyped by hand\n```\n")
        .page("chapter-09.md", "```text\ntyped by hand\n```\n");
    let problems: Vec<String> = check_listings_except(
        &book.dir.path().join("src"),
        book.dir.path(),
        &["chapter-09.md"],
    )
    .problems
    .iter()
    .map(|problem| problem.render(book.dir.path()))
    .collect();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].starts_with("src/chapter-08.md:1: "),
        "{}",
        problems[0]
    );
}

/// Fences are found indented (in list items), with tildes, with longer
/// closing fences, and unclosed at the end of the page.
#[test]
fn finds_fences_as_markdown_does() {
    let markdown = "text\n\
                    \n   ```text\n   inside a list item\n   ```\n\
                    ~~~console\n$ ls\n~~~~\n\
                    ````rust,ignore\n```\nstill inside\n````\n\
                    ```sh\nunclosed\n";
    let fences = find_fences(markdown);
    let summary: Vec<(usize, &str, usize)> = fences
        .iter()
        .map(|fence| (fence.line, fence.info.as_str(), fence.body.len()))
        .collect();
    assert_eq!(
        summary,
        [
            (3, "text", 1),
            (6, "console", 1),
            (9, "rust,ignore", 2),
            (13, "sh", 1)
        ]
    );
    assert_eq!(fences[2].language(), "rust");
    assert!(fences[2].has("ignore"));
}
