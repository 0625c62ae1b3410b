//! deltakube dataflows: controllers as incremental differential dataflows (engine arrives with issue 3).
