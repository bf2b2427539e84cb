//! Step definitions, one file per chapter.

mod chapter_01;
