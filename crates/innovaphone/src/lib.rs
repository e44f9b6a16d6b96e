//! innovaphone App Platform protocols (work in progress).
