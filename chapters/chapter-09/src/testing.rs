//! Clusters of real `proglog` processes, for tests (feature `testing`).
