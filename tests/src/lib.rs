//! Test harness: real OVN/OVS daemons in a private temp dir per test.
