//! Hostile input: stub, being written.
